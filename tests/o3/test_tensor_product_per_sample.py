"""Per-sample weights on the fast "uvw" path (features x spherical harmonics, weights from a radial MLP): the
result, the gradients of x, y and the weights, and double backward equal the generic path (float64, 1e-12);
the product stays O(3)-equivariant."""

import copy

import pytest
import torch
from _equivariance_helpers import check_irreps_equivariant, default_dtype, gen

from steertorch import o3
from steertorch.o3 import FullyConnectedTensorProduct, Irreps, TensorProduct

torch.set_num_threads(1)

# scalar input blocks (mix channels first), batched-matmul and broadcast-product blocks, groups of several paths
IN1, SH, OUT = "5x0e + 20x1o + 9x2e + 3x3o", "0e + 1o + 2e + 3o", "7x0e + 4x1o + 30x2e + 2x3o + 3x1e"


def _fully_connected():
    with default_dtype(torch.float64):
        return FullyConnectedTensorProduct(IN1, SH, OUT, shared_weights=False)


def _with_unused_weights():
    """Custom instructions whose flat weight vector has gaps: a zero path weight, a path with an empty input."""
    with default_dtype(torch.float64):
        return TensorProduct("3x0e + 4x1o + 0x2e", "0e + 1o + 2e", "2x0e + 5x1o + 2x2e",
                             [(0, 0, 0, "uvw", True), (1, 1, 0, "uvw", True, 0.0), (1, 0, 1, "uvw", True),
                              (2, 1, 1, "uvw", True), (0, 1, 1, "uvw", True), (1, 2, 1, "uvw", True),
                              (1, 1, 2, "uvw", True)], shared_weights=False)


def _reference(tp):
    """The same module on the generic path (grouped by input pair, weights gathered per output)."""
    ref = copy.deepcopy(tp)
    ref._fast_groups = None
    return ref


def _inputs(tp, batch, seed):
    g = gen(seed)
    x = tp.irreps_in1.randn(batch, -1, generator=g, dtype=torch.float64)
    pos = torch.randn(batch, 3, generator=g, dtype=torch.float64)
    w = torch.randn(batch, tp.weight_numel, generator=g, dtype=torch.float64)
    return x, pos, w


def _sh(tp, pos):
    return o3.spherical_harmonics(tp.irreps_in2, pos, normalize=True)


@pytest.mark.parametrize("make", [_fully_connected, _with_unused_weights])
def test_per_sample_fast_path_equals_generic_with_gradients(make):
    tp = make()
    assert tp._fast_groups is not None and not tp.shared_weights
    assert any(g.d1 == 1 for g in tp._fast_groups) and any(g.n_paths > 1 for g in tp._fast_groups)
    ref = _reference(tp)
    x, pos, w = _inputs(tp, 11, 1)
    y = _sh(tp, pos)
    args = [t.clone().requires_grad_(True) for t in (x, y, w)]
    out, expected = tp(*args), ref(*args)
    assert out.abs().max() > 0.1
    assert (out - expected).abs().max() <= 1e-12
    grad_out = torch.randn(out.shape, generator=gen(2), dtype=torch.float64)
    grads = torch.autograd.grad(out, args, grad_out)
    expected_grads = torch.autograd.grad(expected, args, grad_out)
    for a, b in zip(grads, expected_grads):
        assert a.abs().max() > 0 and (a - b).abs().max() <= 1e-12


@pytest.mark.parametrize("make", [_fully_connected, _with_unused_weights])
def test_per_sample_double_backward_energy_forces_weights(make):
    """energy(x, sh(pos), w) -> forces = -dE/dpos -> loss -> d loss / d (x, w): equal to the generic path."""
    tp = make()
    ref = _reference(tp)
    x, pos, w = _inputs(tp, 7, 3)
    results = []
    for module in (tp, ref):
        xs, ps, ws = (t.clone().requires_grad_(True) for t in (x, pos, w))
        energy = module(xs, _sh(module, ps), ws).pow(2).sum()
        forces = -torch.autograd.grad(energy, ps, create_graph=True)[0]
        results.append((forces,) + torch.autograd.grad(forces.pow(2).sum(), [xs, ws]))
    for a, b in zip(*results):
        assert a.abs().max() > 0 and (a - b).abs().max() <= 1e-12 * max(1.0, float(b.detach().abs().max()))


def test_per_sample_gradgradcheck():
    with default_dtype(torch.float64):
        tp = FullyConnectedTensorProduct("2x0e + 3x1o", "0e + 1o + 2e", "2x0e + 2x1o + 1x2e", shared_weights=False)
    x, pos, w = _inputs(tp, 2, 4)
    args = (x.requires_grad_(), _sh(tp, pos).requires_grad_(), w.requires_grad_())
    assert torch.autograd.gradcheck(lambda a, b, c: tp(a, b, c), args, fast_mode=True)
    assert torch.autograd.gradgradcheck(lambda a, b, c: tp(a, b, c), args, fast_mode=True)


def test_per_sample_equivariant():
    tp = _fully_connected()
    x, pos, w = _inputs(tp, 5, 5)
    # the weights are invariant (None): they come from a radial MLP of edge lengths
    assert check_irreps_equivariant(tp, [tp.irreps_in1, tp.irreps_in2, None], tp.irreps_out,
                                    [x, _sh(tp, pos), w]) <= 1e-10


def test_per_sample_weights_of_wrong_shape_raise():
    tp = _fully_connected()
    x, pos, w = _inputs(tp, 3, 6)
    with pytest.raises(ValueError, match="weight"):
        tp(x, _sh(tp, pos), w[:, :-1])
    assert tp(x, _sh(tp, pos), w[:1]).shape == (3, Irreps(OUT).dim)  # one set of weights broadcast over samples
