"""The compact (per irrep-label pair) kernel-basis storage of ``R2Conv`` / ``R3Conv`` / ``FieldLinear``.

The kernel built from the block bases (one GEMM per label pair, then the changes of basis) must equal the dense
construction ``sum_k w_k * KernelBasis.sample(points)[k]`` (the rotated dense coefficients, an independent code
path) for the same weights, with the same weight order and initialisation; the convolution must stay exactly
equivariant under the grid's symmetries with the compact storage, and the storage rule must pick dense for small
representations and compact for the regular representations of the large 3D groups.
"""

from __future__ import annotations

import pytest
import torch

from steertorch.gspaces import flipRot2dOnR2, fullOctaOnR3, icoOnR3, octaOnR3, rot2dOnR2, rot3dOnR3
from steertorch.kernels import EscnnFrequencyCutoff, default_rings, escnn_ring_widths, grid_points, kernel_basis
from steertorch.nn import FieldLinear, FieldType, R2Conv, R3Conv
from steertorch.nn._fields._conv import _BasisExpansion
from steertorch.testing import field_equivariance_error, grid_symmetries

torch.set_num_threads(1)
F64 = torch.float64


def _basis_fn(gs, k: int):
    # the basis of R2Conv / R3Conv with default arguments (escnn's ring widths and band limit)
    radii = default_rings(k)[0]
    sigma, cutoff = escnn_ring_widths(radii), EscnnFrequencyCutoff(k, gs.dimensionality)

    def fn(rep_i, rep_o):
        return kernel_basis(gs, rep_i, rep_o, radii, sigma, frequency_cutoff=cutoff)

    return fn


def _reference(gs, rep_i, rep_o, k: int, w: torch.Tensor) -> torch.Tensor:
    """``[out, in, P]``: the dense construction for one pair of fields, straight from ``KernelBasis.sample``."""
    sampled = _basis_fn(gs, k)(rep_i, rep_o).sample(grid_points(k, gs.dimensionality, dtype=F64))
    norms = sampled.flatten(1).norm(dim=1)
    sampled = sampled[norms > 1e-6 * norms.max()]
    assert sampled.shape[0] == w.numel()
    return torch.einsum("k,koip->oip", w, sampled)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).detach().abs().max() / b.detach().abs().max())


# (icoOnR3 agrees as well, 2e-15, but its dense reference takes ~6 s to build)
CASES = [(octaOnR3(), 3), (fullOctaOnR3(), 3), (rot2dOnR2(8), 5), (flipRot2dOnR2(4), 3)]


@pytest.mark.parametrize("gs,k", CASES, ids=lambda v: getattr(v, "name", str(v)))
def test_compact_kernel_equals_dense_sample_one_pair(gs, k):
    # one regular -> regular pair: the compact kernel, the dense (precomputed) kernel and sum_k w_k sample_k agree
    torch.manual_seed(0)
    ft = FieldType(gs, [gs.regular_repr])
    points = grid_points(k, gs.dimensionality, dtype=F64)
    exps = {s: _BasisExpansion(ft, ft, points, _basis_fn(gs, k), 1, storage=s).double() for s in ("compact", "dense")}
    assert exps["compact"]._blocks[0].compact and not exps["dense"]._blocks[0].compact
    w = torch.randn(exps["dense"].n_weights, dtype=F64)
    ref = _reference(gs, gs.regular_repr, gs.regular_repr, k, w)
    for e in exps.values():
        with torch.no_grad():
            e.weights.copy_(w)
            assert _rel(e()[0], ref) <= 1e-12
    # same weight meaning, same initialisation
    assert torch.equal(exps["compact"].init_std(), exps["dense"].init_std())
    # the test can fail: permuting the weights changes the kernel
    with torch.no_grad():
        exps["compact"].weights.copy_(w.roll(1))
        assert _rel(exps["compact"]()[0], ref) > 1e-2


@pytest.mark.parametrize("gs,k", [(octaOnR3(), 3), (rot2dOnR2(4), 3), (rot3dOnR3(), 3)],
                         ids=lambda v: getattr(v, "name", str(v)))
def test_compact_equals_dense_mixed_fields_and_groups(gs, k):
    # several fields of several representations, interleaved, groups=2: the weight gather of the compact path
    torch.manual_seed(1)
    if gs.fibergroup.is_finite:
        reps_i = [gs.regular_repr, gs.trivial_repr, gs.irreps()[-1], gs.regular_repr]
        reps_o = [gs.irreps()[-1], gs.regular_repr, gs.regular_repr, gs.trivial_repr, gs.irreps()[2]]
    else:
        reps_i = [gs.irrep(1), gs.irrep(0), gs.irrep(2), gs.irrep(1)]
        reps_o = [gs.irrep(2), gs.irrep(1), gs.irrep(1), gs.irrep(0), gs.irrep(0)]
    it, ot = FieldType(gs, reps_i), FieldType(gs, reps_o)
    points = grid_points(k, gs.dimensionality, dtype=F64)
    dense = _BasisExpansion(it, ot, points, _basis_fn(gs, k), 1, storage="dense").double()
    compact = _BasisExpansion(it, ot, points, _basis_fn(gs, k), 1, storage="compact").double()
    w = torch.randn(dense.n_weights, dtype=F64)
    with torch.no_grad():
        dense.weights.copy_(w)
        compact.weights.copy_(w)
        kd, kc = dense(), compact()
    assert kd.shape == (1, ot.size, it.size, points.shape[0])
    assert _rel(kc, kd) <= 1e-12
    # every pair of fields gets a nonzero block (out field 1 <- in field 0)
    so, si = ot.fields_start[1], it.fields_start[0]
    assert kd[0, so:ot.fields_end[1], si:it.fields_end[0]].abs().max() > 0
    # groups=2 through R2Conv/R3Conv: compact forced vs auto agree through the public module
    two_i, two_o = FieldType(gs, reps_i * 2), FieldType(gs, reps_o * 2)
    cls = R3Conv if gs.dimensionality == 3 else R2Conv
    conv = cls(two_i, two_o, k, groups=2, padding=1).double()
    ref_w = conv.weights.detach().clone()
    forced = _BasisExpansion(FieldType(gs, reps_i), FieldType(gs, reps_o), points, _basis_fn(gs, k), 2,
                             storage="compact").double()
    with torch.no_grad():
        forced.weights.copy_(ref_w)
        assert _rel(forced(), conv.expansion()) <= 1e-12


def test_field_linear_compact_equals_dense():
    torch.manual_seed(2)
    gs = fullOctaOnR3()
    it = FieldType(gs, [gs.regular_repr, gs.trivial_repr, gs.regular_repr])
    ot = FieldType(gs, [gs.irreps()[3], gs.regular_repr])
    points = torch.zeros(1, 3, dtype=F64)

    def fn(rep_i, rep_o):
        return kernel_basis(gs, rep_i, rep_o, radii=[0.0], sigma=0.6)

    dense = _BasisExpansion(it, ot, points, fn, 1, storage="dense").double()
    compact = _BasisExpansion(it, ot, points, fn, 1, storage="compact").double()
    lin = FieldLinear(it, ot).double()
    with torch.no_grad():
        dense.weights.copy_(lin.weights)
        compact.weights.copy_(lin.weights)
        assert _rel(compact(), dense()) <= 1e-12
        assert _rel(dense()[0, :, :, 0], lin.matrix()[0]) <= 1e-12


@pytest.mark.parametrize("make", [octaOnR3, fullOctaOnR3], ids=["O", "Oh"])
def test_r3conv_regular_compact_equivariant_on_grid_symmetries(make):
    torch.manual_seed(3)
    gs = make()
    it = FieldType(gs, [gs.regular_repr, gs.trivial_repr, gs.regular_repr])
    ot = FieldType(gs, [gs.regular_repr, gs.regular_repr, gs.irreps()[-1]])
    conv = R3Conv(it, ot, 3, padding=1).double()
    assert any(b.compact for b in conv.expansion._blocks)  # the regular -> regular pair uses the block bases
    with torch.no_grad():
        conv.bias.normal_()
    x = torch.randn(1, it.size, 5, 5, 5, dtype=F64)
    elements = grid_symmetries(gs)
    assert len(elements) == gs.fibergroup.order
    assert field_equivariance_error(conv, x, elements) <= 1e-10
    # float32 weights and inputs use the float32 copies of the block bases / changes of basis
    conv32 = conv.float()
    y32 = conv32(x.float())
    assert y32.dtype == torch.float32
    assert _rel(y32.double(), conv.double()(x)) <= 1e-5


def test_storage_rule_and_memory():
    # dense for small representations (2D regular fields, irreps fields), compact for O / Oh / I regular fields
    small = [(rot2dOnR2(8), 5), (flipRot2dOnR2(4), 5)]
    for gs, k in small:
        ft = FieldType(gs, 4 * [gs.regular_repr])
        assert not any(b.compact for b in R2Conv(ft, ft, k).expansion._blocks)
    gs = rot3dOnR3()
    ft = FieldType(gs, [gs.irrep(lv) for lv in range(3)])
    assert not any(b.compact for b in R3Conv(ft, ft, 3).expansion._blocks)
    for make in (octaOnR3, fullOctaOnR3, icoOnR3):
        gs = make()
        ft = FieldType(gs, 2 * [gs.regular_repr])
        conv = R3Conv(ft, ft, 3)
        (b,) = conv.expansion._blocks
        assert b.compact
        dense_floats = b.dim * gs.regular_repr.size ** 2 * 27
        assert conv.expansion.basis_floats * 100 < dense_floats
    with pytest.raises(ValueError, match="storage"):
        _BasisExpansion(ft, ft, grid_points(3, 3, dtype=F64), _basis_fn(gs, 3), 1, storage="sparse")


def test_compact_gradients_and_init_moment():
    torch.manual_seed(4)
    gs = octaOnR3()
    ft = FieldType(gs, 2 * [gs.regular_repr])
    conv = R3Conv(ft, ft, 3, padding=1)
    assert conv.expansion._blocks[0].compact
    x = torch.randn(4, ft.size, 6, 6, 6)
    y = conv(x)
    # He-like init: unit second moment of the outputs for unit inputs (interior voxels)
    assert 0.6 < float(y.detach()[:, :, 1:-1, 1:-1, 1:-1].pow(2).mean()) < 1.6
    y.pow(2).sum().backward()
    g = conv.weights.grad
    assert torch.isfinite(g).all() and bool((g != 0).all())


@pytest.mark.parametrize("gs", [octaOnR3(), flipRot2dOnR2(4)], ids=lambda g: g.name)
def test_sample_blocks_rebuild_the_dense_basis(gs):
    # KernelBasis.sample_blocks + block_index + changes_of_basis give back KernelBasis.sample, kernel by kernel
    k = 3
    rep_i = gs.regular_repr
    rep_o = FieldType(gs, [gs.trivial_repr, gs.regular_repr]).representation
    basis = _basis_fn(gs, k)(rep_i, rep_o)
    pts = grid_points(k, gs.dimensionality, dtype=F64)
    dense = basis.sample(pts)
    blocks = basis.sample_blocks(pts)
    out_layout, q_out, in_layout, q_in = basis.changes_of_basis()
    assert [b.shape[0] for b in blocks] == basis.block_dims and basis.block_index.shape == (basis.dim, 4)

    def start(layout, label, copy):
        off = 0
        for lab, m, d in layout:
            if lab == label:
                return off + copy * d, d
            off += m * d
        raise AssertionError(label)

    rebuilt = torch.zeros_like(dense)
    for kk, (p, j, a, b) in enumerate(basis.block_index.tolist()):
        lo, li = basis.block_labels[p]
        (so, do), (si, di) = start(out_layout, lo, a), start(in_layout, li, b)
        rebuilt[kk, so:so + do, si:si + di] = blocks[p][j]
    qo = torch.eye(rep_o.size, dtype=F64) if q_out is None else q_out
    qi = torch.eye(rep_i.size, dtype=F64) if q_in is None else q_in
    rebuilt = torch.einsum("os,ksip,ti->kotp", qo, rebuilt, qi)
    assert _rel(rebuilt, dense) <= 1e-12
