"""o3.Linear: O(3) equivariance (improper elements included), e3nn conformance (biases, instructions,
per-sample weights), normalisation at init, gradients, torch.compile and bad input."""

import pytest
import torch
from _equivariance_helpers import check_irreps_equivariant, gen

from steertorch import o3
from steertorch.o3 import Irreps, Linear, load_e3nn_state_dict

CASES = {
    "mixed": ("4x0e + 2x1o + 0o + 3x2e + 1o", "3x0e + 2x1o + 2x0o + 2e + 1e"),  # 1e output has no input
    "repeated_blocks": ("2x0e + 1o + 3x0e + 2x1o", "1o + 4x0e + 3x1o + 0e"),
    "scalars": ("8x0e", "5x0e"),
}


def _linear(name, **kwargs):
    return Linear(*CASES[name], **kwargs)


# ----------------------------------------------------------------------------- equivariance
@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("biases", [False, True])
def test_equivariance(name, biases):
    torch.manual_seed(0)
    lin = _linear(name, biases=biases).double()
    if biases:
        with torch.no_grad():
            lin.bias.normal_()  # zero at init: make it count
    x = lin.irreps_in.randn(4, -1, generator=gen(1), dtype=torch.float64)
    assert check_irreps_equivariant(lin, [lin.irreps_in], lin.irreps_out, [x]) <= 1e-10


@pytest.mark.parametrize("name", list(CASES))
def test_equivariance_per_sample_weights(name):
    lin = _linear(name, shared_weights=False)
    assert not lin.internal_weights
    x = lin.irreps_in.randn(4, -1, generator=gen(1), dtype=torch.float64)
    w = torch.randn(4, lin.weight_numel, generator=gen(2), dtype=torch.float64)
    err = check_irreps_equivariant(lambda a, b: lin(a, b), [lin.irreps_in, None], lin.irreps_out, [x, w])
    assert err <= 1e-10


def test_equivariance_with_explicit_instructions():
    lin = Linear("2x0e + 2x1o + 1o", "3x1o + 0e", instructions=[(1, 0), (2, 0), (0, 1)]).double()
    x = lin.irreps_in.randn(4, -1, generator=gen(1), dtype=torch.float64)
    assert check_irreps_equivariant(lin, [lin.irreps_in], lin.irreps_out, [x]) <= 1e-10


def test_bias_only_on_scalars_and_outputs_without_input_are_zero():
    lin = Linear("2x1o", "2x0e + 1o + 1e", biases=True)
    assert lin.bias_numel == 2
    with torch.no_grad():
        lin.bias.copy_(torch.tensor([1.0, 2.0]))
        out = lin(torch.zeros(3, 6))
    torch.testing.assert_close(out, torch.tensor([[1.0, 2.0] + [0.0] * 6] * 3))


# ----------------------------------------------------------------------------- e3nn conformance
TOL = {torch.float32: 1e-6, torch.float64: 1e-12}


def _compare(ours, theirs, dtype, **kwargs):
    assert str(ours.irreps_in) == str(theirs.irreps_in) and str(ours.irreps_out) == str(theirs.irreps_out)
    assert ours.weight_numel == theirs.weight_numel
    x = ours.irreps_in.randn(10, -1, generator=gen(3), dtype=dtype)
    with torch.no_grad():
        out, ref = ours(x, **kwargs), theirs(x, **kwargs)
    assert out.dtype == dtype
    return float((out - ref).abs().max() / ref.abs().max().clamp_min(1))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("biases", [False, True])
def test_matches_e3nn(name, biases, dtype):
    e3o = pytest.importorskip("e3nn.o3")
    torch.manual_seed(0)
    theirs = e3o.Linear(*CASES[name], biases=biases).to(dtype)
    if biases:
        with torch.no_grad():
            theirs.bias.normal_()
    ours = load_e3nn_state_dict(_linear(name, biases=biases).to(dtype), theirs.state_dict())
    assert ours.bias_numel == theirs.bias.numel()
    assert _compare(ours, theirs, dtype) <= TOL[dtype]


@pytest.mark.parametrize("path_normalization", ["element", "path"])
def test_explicit_instructions_match_e3nn(path_normalization):
    e3o = pytest.importorskip("e3nn.o3")
    instr = [(1, 0), (2, 0), (0, 1), (3, 1)]
    args = ("2x0e + 2x1o + 1o + 3x0e", "3x1o + 0e")
    theirs = e3o.Linear(*args, instructions=instr, path_normalization=path_normalization).double()
    ours = load_e3nn_state_dict(Linear(*args, instructions=instr, path_normalization=path_normalization).double(),
                                theirs.state_dict())
    assert _compare(ours, theirs, torch.float64) <= 1e-12


def test_per_sample_weights_match_e3nn():
    e3o = pytest.importorskip("e3nn.o3")
    theirs = e3o.Linear(*CASES["mixed"], shared_weights=False)
    ours = _linear("mixed", shared_weights=False)
    w = torch.randn(10, ours.weight_numel, generator=gen(4), dtype=torch.float64)
    assert _compare(ours, theirs, torch.float64, weight=w) <= 1e-12


def test_state_dict_keys_differ_only_by_e3nn_buffers():
    e3o = pytest.importorskip("e3nn.o3")
    theirs, ours = e3o.Linear(*CASES["mixed"], biases=True), _linear("mixed", biases=True)
    result = ours.load_state_dict(theirs.state_dict(), strict=False)
    assert result.missing_keys == [] and result.unexpected_keys == ["output_mask"]
    assert set(ours.state_dict()) == {"weight", "bias"}


# ----------------------------------------------------------------------------- normalisation at init
@pytest.mark.parametrize("normalization", ["component", "norm"])
def test_output_has_unit_second_moment(normalization):
    torch.manual_seed(0)
    irreps_in, irreps_out = Irreps("32x0e + 16x1o + 8x2e + 16x0e"), Irreps("16x0e + 16x1o + 16x2e")
    lin = Linear(irreps_in, irreps_out)
    x = irreps_in.randn(2000, -1, normalization=normalization, generator=gen(1))
    with torch.no_grad():
        out = lin(x)
    for (_, ir), s in zip(irreps_out, irreps_out.slices()):
        m = float(out[:, s].pow(2).mean())
        expected = 1.0 if normalization == "component" else 1.0 / ir.dim  # "norm": per copy, not per component
        assert 0.8 * expected < m < 1.2 * expected, (ir, m)


# ----------------------------------------------------------------------------- gradients and compile
def test_double_backward_through_linear():
    torch.manual_seed(0)
    lin = Linear("0e + 1o + 2e", "2x0e + 2x1o + 2x2e", biases=True)  # energy: the invariant |output|^2
    pos = torch.randn(5, 3, generator=gen(1))
    pos[0] = 0.0  # a zero-length vector
    pos.requires_grad_(True)
    energy = lin(o3.spherical_harmonics("0e + 1o + 2e", pos, normalization="component")).pow(2).sum()
    forces = -torch.autograd.grad(energy, pos, create_graph=True)[0]
    assert torch.isfinite(forces).all()
    forces.pow(2).sum().backward()
    assert torch.isfinite(lin.weight.grad).all() and lin.weight.grad.abs().sum() > 0


def test_compile_fullgraph_matches_eager():
    # aot_eager: dynamo traces the whole forward (fullgraph=True fails on any graph break) without
    # inductor's C++ code generation, which takes tens of seconds on two cores
    torch.manual_seed(0)
    lin = Linear("4x0e + 2x1o + 2e", "3x0e + 2x1o + 1e", biases=True)
    x = torch.randn(5, 15)
    compiled = torch.compile(lin, fullgraph=True, backend="aot_eager")
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), lin(x), atol=1e-5, rtol=0)


# ----------------------------------------------------------------------------- bad input
def test_wrong_feature_size_raises():
    lin = Linear("2x0e + 1o", "0e")
    with pytest.raises(ValueError, match=r"2x0e\+1x1o.*last dim 5.*got shape \[3, 4\]"):
        lin(torch.randn(3, 4))


def test_instruction_between_different_irreps_raises():
    with pytest.raises(ValueError, match="only equal irreps"):
        Linear("0e + 1o", "1e", instructions=[(1, 0)])
    with pytest.raises(ValueError, match="only equal irreps"):
        Linear("0e + 1o", "1o", instructions=[(0, 0)])
    with pytest.raises(ValueError, match="out of range"):
        Linear("0e + 1o", "1o", instructions=[(2, 0)])


def test_bad_biases_and_weights_raise():
    with pytest.raises(ValueError, match="0e"):
        Linear("1o", "1o", biases=[True])
    with pytest.raises(ValueError, match="one bool per output block"):
        Linear("1o", "1o + 0e", biases=[True])
    lin = Linear("2x0e", "3x0e")
    with pytest.raises(ValueError, match=r"expected weight \[\.\.\., 6\], got \[5\]"):
        lin(torch.randn(2, 2), torch.randn(5))
    with pytest.raises(ValueError, match="no internal weights"):
        Linear("2x0e", "3x0e", shared_weights=False, internal_weights=False)(torch.randn(2, 2))
    with pytest.raises(ValueError, match="path_normalization"):
        Linear("2x0e", "3x0e", path_normalization="component")
