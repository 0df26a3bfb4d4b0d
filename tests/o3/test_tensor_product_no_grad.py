"""The no-autograd forward of the fast "uvw" path (shared weights, CPU, no gradient needed): equal to the
differentiable path it replaces, in every block layout, in row chunks, in inference mode, and equivariant."""

import pytest
import torch
from _equivariance_helpers import check_irreps_equivariant, default_dtype, gen

import steertorch.o3._tensor_product_fused as fused
from steertorch import o3
from steertorch.o3._tensor_product_plan import forward_uvw_single

# (irreps_in1, irreps_in2, irreps_out): the benchmark's shapes, blocks small enough for broadcast products,
# groups of several paths (two scalar copies in irreps_in2), outputs no path reaches and inputs no path uses
CASES = [
    ("32x0e + 32x1o + 32x2e", "0e + 1o + 2e", "32x0e + 32x1o + 32x2e"),
    ("32x0e + 32x1o", "0e + 1o", "32x0e + 32x1o"),
    ("3x0e + 2x1o + 2e + 0o", "0e + 1o + 2e", "2x0e + 3x1o + 2x1e + 2e + 2o"),
    ("4x1o + 3x2e", "0e + 1o + 0e + 2e", "5x0e + 2x1o + 3x2e + 4x3o"),
    ("4x1o + 3x2e + 5x0e", "1o + 1e", "2x0e + 2x1o + 2x1e + 2x2o + 3x0o"),
    ("8x0e", "0e + 0e + 1o", "3x0e + 2x1o"),
]


def _pair(i1, i2, io, batch, seed=0):
    with default_dtype(torch.float64):
        tp = o3.FullyConnectedTensorProduct(i1, i2, io)
    g = gen(seed)
    x = tp.irreps_in1.randn(batch, -1, generator=g, dtype=torch.float64)
    y = tp.irreps_in2.randn(batch, -1, generator=g, dtype=torch.float64)
    return tp, x, y


def _reference(tp, x, y):
    return forward_uvw_single(x, y, tp.weight, tp.cg_fast, tp.w_perm_fast, tp._fast_groups, tp.irreps_in1,
                              tp.irreps_out, True)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_no_grad_forward_equals_the_differentiable_path(case):
    tp, x, y = _pair(*case, batch=37)
    assert tp._fused_plan is not None
    ref = _reference(tp, x, y)
    with torch.no_grad():
        out = tp(x, y)
    assert not out.requires_grad
    assert (out - ref).abs().max() < 1e-12
    with torch.inference_mode():
        assert (tp(x, y) - ref).abs().max() < 1e-12


def test_every_block_layout_is_exercised():
    """The cases above cover whole / strided-rows / copied groups, batched and broadcast products, scalar blocks."""
    seen = set()
    for case in CASES:
        tp, _, _ = _pair(*case, batch=1)
        for blk in tp._fused_plan.blocks:
            seen.add("scalar" if blk.dim == 1 else "small" if blk.small else "bmm")
            seen.update(grp.layout for grp in blk.groups)
    assert seen == {"scalar", "small", "bmm", "whole", "rows", "copy"}


def test_row_chunks_equal_one_pass(monkeypatch):
    tp, x, y = _pair(*CASES[0], batch=700)
    ref = _reference(tp, x, y)
    monkeypatch.setattr(fused, "SCRATCH_BYTES", 1)  # the smallest chunk: 256 rows, so 3 chunks (the last partial)
    assert tp._fused_plan.chunk(700, torch.float64) == 256
    with torch.no_grad():
        assert (tp(x, y) - ref).abs().max() < 1e-12


def test_scratch_made_in_inference_mode_is_reused_outside_it():
    tp, x, y = _pair(*CASES[2], batch=9)
    fused.release_scratch()
    with torch.inference_mode():
        a = tp(x, y)
    with torch.no_grad():
        b = tp(x, y)
    assert torch.equal(a, b)


def test_with_gradients_the_differentiable_path_runs():
    tp, x, y = _pair(*CASES[0], batch=5)
    x.requires_grad_(True)
    out = tp(x, y)
    assert out.grad_fn is not None
    assert torch.allclose(out, _reference(tp, x.detach(), y))


@pytest.mark.parametrize("case", CASES[:3], ids=[c[0] for c in CASES[:3]])
def test_no_grad_path_is_equivariant(case):
    tp, x, y = _pair(*case, batch=6)
    check_irreps_equivariant(lambda a, b: tp(a, b), [tp.irreps_in1, tp.irreps_in2], tp.irreps_out, [x, y])


def test_float32_no_grad_matches_float64():
    tp, x, y = _pair(*CASES[0], batch=64)
    ref = _reference(tp, x, y)
    tp32 = tp.float()
    with torch.no_grad():
        out = tp32(x.float(), y.float())
    assert (out.double() - ref).abs().max() < 1e-4 * ref.abs().max()
