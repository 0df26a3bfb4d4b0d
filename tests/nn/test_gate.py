"""Gate: e3nn's layout, parities and values, equivariance under O(3), normalisation, torch.compile."""

import pytest
import torch
from _equivariance_helpers import act_on, o3_elements

from steertorch import o3
from steertorch.nn import Gate

CONFIGS = [
    ("16x0e", [torch.relu], "8x0e", [torch.sigmoid], "4x1o + 4x2e"),
    ("16x0o", [torch.tanh], "32x0o", [torch.tanh], "16x1e + 16x1o"),
    ("4x0e + 2x0o", [torch.nn.functional.silu, torch.tanh], "2x0e + 2x0o", [torch.sigmoid, torch.tanh],
     "3x1o + 1x2e"),
    ("4x0e", [torch.tanh], "2x0e + 2x0o", [torch.tanh, torch.abs], "3x1o + 1x2e"),
    ("3x0e + 2x0e", [torch.relu, None], "", [], ""),
    ("", [], "2x0e", [None], "1x1e + 1x0o"),
]


def _copy_constants(ours, theirs):
    for mine, other in ((ours.act_scalars, theirs.act_scalars), (ours.act_gates, theirs.act_gates)):
        for a, b in zip(mine.acts, other.acts):
            if a is not None:
                a.cst, a._is_id = b.cst, b._is_id


@pytest.mark.parametrize("config", range(len(CONFIGS)))
def test_equivariance(config):
    gate = Gate(*CONFIGS[config])
    R = o3_elements(7)  # 7 rotations or rotoreflections, and -I
    x = gate.irreps_in.randn(len(R), -1, dtype=torch.float64, generator=torch.Generator().manual_seed(config))
    lhs = gate(act_on(gate.irreps_in, R, x))
    rhs = act_on(gate.irreps_out, R, gate(x))
    assert float((lhs - rhs).abs().max()) <= 1e-10


@pytest.mark.parametrize("config", range(len(CONFIGS)))
def test_matches_e3nn(config):
    e3nn_nn = pytest.importorskip("e3nn.nn")
    ours, theirs = Gate(*CONFIGS[config]), e3nn_nn.Gate(*CONFIGS[config])
    assert str(ours.irreps_in) == str(theirs.irreps_in)
    assert str(ours.irreps_out) == str(theirs.irreps_out)
    x = torch.randn(7, ours.irreps_in.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(config))
    torch.testing.assert_close(ours(x), theirs(x), rtol=5e-3, atol=1e-6)  # e3nn's constants are Monte-Carlo
    _copy_constants(ours, theirs)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-12, atol=1e-12)


def test_input_is_sorted_as_e3nn_and_gating_is_per_copy():
    gate = Gate("2x0e", [None], "1x0o + 1x0e", [None, None], "1x1e + 1x1o")
    # concatenation 2x0e + 1x0o + 1x0e + 1x1e + 1x1o, sorted: 1x0o + 3x0e + 1x1o + 1x1e
    assert gate.irreps_in == o3.Irreps("1x0o + 3x0e + 1x1o + 1x1e")
    assert gate.irreps_out == o3.Irreps("2x0e + 1x1o + 1x1o")
    x = torch.arange(1.0, 11.0, dtype=torch.float64)  # [g_odd | s0 s1 g_even | v_1o(3) | v_1e(3)]
    y = gate(x)
    torch.testing.assert_close(y[:2], x[1:3])
    torch.testing.assert_close(y[2:5], x[0] * x[7:10])  # the 1e copy is gated by the odd gate -> 1o
    torch.testing.assert_close(y[5:8], x[3] * x[4:7])  # the 1o copy by the even gate


def test_normalisation():
    gate = Gate("32x0e", [torch.nn.functional.silu], "16x0e", [torch.sigmoid], "8x1o + 8x2e")
    x = gate.irreps_in.randn(20_000, -1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = gate(x)
    second = y.pow(2).mean()
    assert 0.8 < float(second) < 1.2
    for sl in gate.irreps_out.slices():
        assert 0.8 < float(y[:, sl].pow(2).mean()) < 1.2


def test_bad_arguments():
    with pytest.raises(ValueError, match="8 copies, irreps_gates 4x0e has 4"):
        Gate("2x0e", [torch.relu], "4x0e", [torch.sigmoid], "8x1o")
    with pytest.raises(ValueError, match="irreps_gates must contain scalars"):
        Gate("2x0e", [torch.relu], "4x1o", [None], "4x1o")
    with pytest.raises(ValueError, match="irreps_scalars must contain scalars"):
        Gate("2x1e", [None], "4x0e", [torch.sigmoid], "4x1o")
    with pytest.raises(ValueError, match="neither"):
        Gate("2x0e", [torch.relu], "4x0o", [torch.sigmoid], "4x1o")
    gate = Gate("2x0e", [torch.relu], "1x0e", [torch.sigmoid], "1x1o")
    with pytest.raises(ValueError, match=r"3x0e\+1x1o \(last dim 6\), got shape \[2, 5\]"):
        gate(torch.randn(2, 5))


def test_batch_shapes_and_float32():
    gate = Gate("2x0e", [torch.relu], "2x0e", [torch.sigmoid], "1x1o + 1x2e")
    assert gate(torch.randn(3, 4, gate.irreps_in.dim)).shape == (3, 4, gate.irreps_out.dim)
    assert gate(torch.randn(gate.irreps_in.dim)).shape == (gate.irreps_out.dim,)


def test_torch_compile_matches_eager():
    # aot_eager: dynamo captures the whole forward (fullgraph=True fails on any graph break) and AOTAutograd
    # traces it, without inductor's C++ code generation (about 15 s on two cores with a cold cache)
    gate = Gate("4x0e", [torch.relu], "3x0e", [torch.sigmoid], "2x1o + 1x2e")
    x = torch.randn(5, gate.irreps_in.dim, generator=torch.Generator().manual_seed(0))
    compiled = torch.compile(gate, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(x), gate(x), rtol=1e-5, atol=1e-6)
