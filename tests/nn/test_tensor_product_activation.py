"""TensorProductActivation: exact O(3) equivariance (parity included), analytic values, unit second moment
at init, gradients (zero input, double backward), torch.compile and bad input."""

import math

import pytest
import torch
from _equivariance_helpers import act_on, assert_finite_gradients, float64, gen, o3_elements

from steertorch.nn import TensorProductActivation

CONFIGS = [
    ("4x0e + 2x1o + 1x2e", None, False),
    ("3x0e + 2x1o + 2x1e + 1x0o", "2x0e + 2x0o + 3x1o + 2x1e + 2x2e + 1x2o", False),
    ("2x0e + 3x1o", "4x0e + 1x1e + 2x2e", False),
    ("3x0e + 2x1o + 1x2e", None, True),
]


@pytest.mark.parametrize("config", range(len(CONFIGS)))
def test_equivariance_under_o3(config):
    irreps_in, irreps_out, residual = CONFIGS[config]
    torch.manual_seed(config)
    with float64():
        m = TensorProductActivation(irreps_in, irreps_out, residual=residual)
    g = o3_elements()
    x = m.irreps_in.randn(len(g), -1, dtype=torch.float64, generator=gen(config))
    with torch.no_grad():
        lhs = m(act_on(m.irreps_in, g, x))
        rhs = act_on(m.irreps_out, g, m(x))
    assert float(rhs.abs().max()) > 0.1
    assert float((lhs - rhs).abs().max()) <= 1e-10


def test_odd_inputs_square_to_even_outputs():
    # x -> -x leaves x (x) x unchanged: a pseudoscalar squared is a scalar, 1o x 1o has no 1o part
    with pytest.raises(ValueError, match="does not contain"):
        TensorProductActivation("2x0o", "1x0o")
    with float64():
        m = TensorProductActivation("2x0o + 1x1o", "3x0e + 1x1e + 1x2e")
    x = m.irreps_in.randn(3, -1, dtype=torch.float64, generator=gen())
    torch.testing.assert_close(m(-x), m(x), atol=1e-14, rtol=0)


def test_scalar_input_analytic_value():
    # one scalar: x (x) x = x^2 / sqrt(3) (unit second moment, E[x^4] = 3), then the 1x1 linear weight
    with float64():
        m = TensorProductActivation("0e")
    x = torch.linspace(-2, 2, 9, dtype=torch.float64)[:, None]
    expected = m.linear.weight.detach() * x**2 / math.sqrt(3)
    torch.testing.assert_close(m(x), expected, atol=1e-14, rtol=1e-14)
    with float64():
        r = TensorProductActivation("0e", residual=True)
    torch.testing.assert_close(r(x), (x + r.linear.weight.detach() * x**2 / math.sqrt(3)) / math.sqrt(2))


@pytest.mark.parametrize("residual", [False, True])
def test_unit_second_moment_at_init(residual):
    # averaged over 8 initialisations (0e outputs mix correlated squares, so one draw of weights varies)
    irreps = "8x0e + 8x1o + 4x2e"
    irreps_out = irreps if residual else "8x0e + 6x1o + 6x1e + 4x2e + 2x3o"
    with float64():
        m = TensorProductActivation(irreps, irreps_out, residual=residual)
    moments = []
    for seed in range(8):
        with torch.no_grad():
            m.linear.weight.copy_(torch.randn(m.linear.weight.shape, generator=gen(seed)))  # a fresh init
            y = m(m.irreps_in.randn(1000, -1, dtype=torch.float64, generator=gen(seed)))
        moments.append(torch.stack([y[:, s].pow(2).mean() for s in m.irreps_out.slices()]))
    moments = torch.stack(moments).mean(0)
    assert ((moments > 0.75) & (moments < 1.25)).all(), moments


def test_gradients_finite_at_zero_and_double_backward():
    with float64():
        m = TensorProductActivation("2x0e + 2x1o + 1x2e", "2x0e + 1x1o + 1x2e + 1x1e")
    x = torch.zeros(3, m.irreps_in.dim, dtype=torch.float64, requires_grad=True)
    assert_finite_gradients(m, x)
    x = m.irreps_in.randn(2, -1, dtype=torch.float64, generator=gen(), requires_grad=True)
    assert torch.autograd.gradgradcheck(m, (x,))
    m(x).pow(2).sum().backward()
    assert m.linear.weight.grad.abs().sum() > 0


def test_float32_and_compile_fullgraph_matches_eager():
    torch.manual_seed(0)
    m = TensorProductActivation("2x0e + 1x1o", "2x0e + 1x1o")
    x = torch.randn(5, m.irreps_in.dim, generator=gen())
    assert m(x).dtype == torch.float32 and m(x[0]).shape == (m.irreps_out.dim,)
    compiled = torch.compile(m, fullgraph=True, backend="aot_eager")
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), m(x), atol=1e-5, rtol=1e-5)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match=r"asks for 1o, which x \(x\) x does not contain.*contains 0e\+2e"):
        TensorProductActivation("1x1o", "1x0e + 1x1o")
    with pytest.raises(ValueError, match="non-empty"):
        TensorProductActivation("")
    with pytest.raises(ValueError, match="residual=True needs irreps_out == irreps_in"):
        TensorProductActivation("2x0e + 1o", "2x0e + 2e", residual=True)
    with pytest.raises(ValueError):
        TensorProductActivation("2x0e + 1q")
    m = TensorProductActivation("2x0e + 1o")
    with pytest.raises(ValueError, match=r"2x0e\+1x1o \(last dim 5\), got shape \[2, 4\]"):
        m(torch.randn(2, 4))
