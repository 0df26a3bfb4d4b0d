import pytest
import torch
from _equivariance_helpers import assert_finite_gradients, float64, gen
from torch import nn

from steertorch.gspaces import flipRot2dOnR2, octaOnR3, rot2dOnR2, rot3dOnR3
from steertorch.nn import (
    FieldType,
    GNormBatchNorm,
    IIDBatchNorm2d,
    IIDBatchNorm3d,
    InnerBatchNorm,
    NormBatchNorm,
)
from steertorch.nn._fields._conv import _invariant_basis
from steertorch.testing import field_equivariance_error, grid_symmetries

torch.set_num_threads(1)
F64 = torch.float64


def _quotient(gs):
    g = gs.fibergroup
    return g.quotient_representation(g.subgroup("C4")[0])


def _tensor(a, b):
    return a.tensor(b)


# (id, gspace, representations, spatial shape); permutation cases first
PERMUTATION_CASES = [
    ("C4", rot2dOnR2(4), lambda gs: [gs.regular_repr, gs.trivial_repr, gs.regular_repr], (6, 6)),
    ("D4", flipRot2dOnR2(4), lambda gs: [gs.regular_repr, gs.trivial_repr, _quotient(gs)], (5, 5)),
    ("C8", rot2dOnR2(8), lambda gs: [gs.regular_repr, gs.regular_repr], (6, 6)),
    ("O_on_R3", octaOnR3(), lambda gs: [gs.regular_repr, gs.trivial_repr], (4, 4, 4)),
    ("SO2-trivial", rot2dOnR2(-1), lambda gs: [gs.trivial_repr, gs.trivial_repr], (5, 5)),
    ("SO3-trivial", rot3dOnR3(), lambda gs: [gs.trivial_repr] * 3, (3, 3, 3)),
]
IRREP_CASES = [
    ("SO2", rot2dOnR2(-1), lambda gs: [gs.irrep(1), gs.irrep(0), gs.irrep(2), _tensor(gs.irrep(1), gs.irrep(1))],
     (6, 6)),
    ("O2", flipRot2dOnR2(-1), lambda gs: [gs.irrep(1, 1), gs.irrep(0, 0), gs.irrep(1, 0), gs.irrep(1, 2),
                                          _tensor(gs.irrep(1, 1), gs.irrep(1, 1))], (5, 5)),
    ("SO3", rot3dOnR3(), lambda gs: [gs.irrep(0), gs.irrep(1), gs.irrep(2), _tensor(gs.irrep(1), gs.irrep(1))],
     (4, 4, 4)),
]
ALL_CASES = PERMUTATION_CASES + IRREP_CASES


def _iid(ft, **kw):
    return (IIDBatchNorm2d if ft.gspace.dimensionality == 2 else IIDBatchNorm3d)(ft, **kw)


ANY_FIELD = {"NormBatchNorm": NormBatchNorm, "IIDBatchNorm": _iid, "GNormBatchNorm": GNormBatchNorm}


def _build(make, gs, reps, **kw):
    with float64():
        ft = FieldType(gs, reps(gs))
        bn = make(ft, momentum=0.3, **kw)
    g = gen(1)
    with torch.no_grad():  # non-trivial affine parameters
        bn.weight.copy_(torch.rand(bn.weight.shape, generator=g, dtype=F64) + 0.5)
        if bn.bias is not None:
            bn.bias.copy_(torch.randn(bn.bias.shape, generator=g, dtype=F64))
    return ft, bn


def _data(ft, spatial, seed, batch=3):
    g = gen(seed)
    shift = torch.randn(1, ft.size, *([1] * len(spatial)), generator=g, dtype=F64) * 2
    return torch.randn(batch, ft.size, *spatial, generator=g, dtype=F64) * 1.5 + shift


def _fibre_elements(gs):
    group = gs.fibergroup
    if group.is_finite:
        return list(group.elements())
    return list(group.sample(4, generator=gen(7), dtype=F64))


def _fibre_error(bn, x):
    ft = bn.in_type
    with torch.no_grad():
        y = bn(x).detach()
        return max(float((bn(ft.transform_fibers(x, g)) - ft.transform_fibers(y, g)).abs().max()) / float(y.abs().max())
                   for g in _fibre_elements(ft.gspace))


def _check_equivariant_train_and_eval(bn, spatial):
    ft = bn.in_type
    syms = grid_symmetries(ft.gspace)
    x = _data(ft, spatial, seed=2)
    bn.train()
    assert field_equivariance_error(bn, x, syms) <= 1e-10
    assert _fibre_error(bn, x) <= 1e-10
    with torch.no_grad():
        for s in range(3):
            bn(_data(ft, spatial, seed=10 + s))
    assert not torch.allclose(bn.running_var, torch.ones_like(bn.running_var))
    if bn.running_mean.numel():
        assert bn.running_mean.abs().max() > 1e-2
    bn.eval()
    assert field_equivariance_error(bn, x, syms) <= 1e-10
    assert _fibre_error(bn, x) <= 1e-10


@pytest.mark.parametrize("case", PERMUTATION_CASES, ids=lambda c: c[0])
def test_inner_batch_norm_equivariant(case):
    _, gs, reps, spatial = case
    _, bn = _build(InnerBatchNorm, gs, reps)
    _check_equivariant_train_and_eval(bn, spatial)


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c[0])
@pytest.mark.parametrize("name", list(ANY_FIELD))
def test_any_field_batch_norms_equivariant(case, name):
    _, gs, reps, spatial = case
    _, bn = _build(ANY_FIELD[name], gs, reps)
    _check_equivariant_train_and_eval(bn, spatial)


class _ChannelBatchNorm(nn.Module):
    """Negative control: torch's per-channel batch norm, with field types attached."""

    def __init__(self, ft):
        super().__init__()
        self.in_type = self.out_type = ft
        self.bn = nn.BatchNorm2d(ft.size, momentum=0.3, dtype=F64)

    def forward(self, x):
        return self.bn(x)


def test_the_equivariance_check_catches_per_channel_batch_norm():
    _, gs, reps, spatial = IRREP_CASES[0]
    ft = FieldType(gs, reps(gs))
    bn = _ChannelBatchNorm(ft)
    x = _data(ft, spatial, seed=2)
    with torch.no_grad():
        for s in range(3):
            bn(_data(ft, spatial, seed=10 + s))
    bn.eval()
    assert field_equivariance_error(bn, x, grid_symmetries(gs)) > 1e-2
    assert _fibre_error(bn, x) > 1e-2


def test_other_angles_measured():
    """Batch norm is pointwise: under a 45-degree turn (interpolated transform) the eval-mode module commutes with
    the transform wherever the rotated grid point stays inside the grid; the corners (filled with zeros by the
    transform) are off by the affine offset, and train mode also sees the statistics change."""
    gs = rot2dOnR2(8)
    with float64():
        ft = FieldType(gs, [gs.regular_repr] * 2)
        bn = InnerBatchNorm(ft)
    a = torch.arange(15, dtype=F64) - 7
    blob = torch.exp(-(a[:, None] ** 2 + a[None, :] ** 2) / (2 * 4.0**2))
    x = blob * (torch.randn(2, ft.size, 1, 1, generator=gen(3), dtype=F64) + 0.5)
    errs = {}
    for mode in (True, False):
        bn.train(mode)
        with torch.no_grad():
            lhs = bn(ft.transform(x, torch.tensor(1)))
            rhs = ft.transform(bn(x), torch.tensor(1))
        inside = (a[:, None] ** 2 + a[None, :] ** 2) <= 6.5 ** 2  # the inscribed disc
        errs[mode] = (float((lhs - rhs)[..., inside].abs().max() / rhs.abs().max()),
                      float((lhs - rhs).abs().max() / rhs.abs().max()))
    # measured (smooth blob, std 4 px): train 8.8e-3 on the disc, 0.13 on the whole grid; eval 1.8e-16 on the
    # disc, 2.8e-2 on the whole grid (the corners)
    assert errs[False][0] <= 1e-10
    assert errs[True][0] < 3e-2 and errs[False][1] > 1e-3


def test_inner_batch_norm_matches_torch_on_uniform_fields():
    """Regular fields of one size: InnerBatchNorm is torch's BatchNorm over [B, n_fields, size * H * W]."""
    gs = rot2dOnR2(8)
    with float64():
        ft = FieldType(gs, [gs.regular_repr] * 3)
        bn = InnerBatchNorm(ft, momentum=0.2, eps=1e-3)
    ref = nn.BatchNorm1d(3, momentum=0.2, eps=1e-3, dtype=F64)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([0.5, 1.0, 2.0]))
        bn.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
        ref.weight.copy_(bn.weight)
        ref.bias.copy_(bn.bias)
    for s in range(3):
        x = _data(ft, (5, 5), seed=s)
        torch.testing.assert_close(bn(x), ref(x.reshape(3, 3, -1)).reshape(x.shape), atol=1e-12, rtol=0)
    torch.testing.assert_close(bn.running_mean, ref.running_mean, atol=1e-12, rtol=0)
    torch.testing.assert_close(bn.running_var, ref.running_var, atol=1e-12, rtol=0)
    bn.eval()
    ref.eval()
    torch.testing.assert_close(bn(x), ref(x.reshape(3, 3, -1)).reshape(x.shape), atol=1e-12, rtol=0)


def test_inner_batch_norm_statistics_per_field():
    gs = flipRot2dOnR2(4)
    with float64():
        ft = FieldType(gs, [gs.regular_repr, gs.trivial_repr, _quotient(gs)])
        bn = InnerBatchNorm(ft, eps=0.0)
    x = _data(ft, (4, 4), seed=0) * torch.arange(1, ft.size + 1, dtype=F64).view(1, -1, 1, 1)
    y = bn(x).detach()
    for s, e in zip(ft.fields_start, ft.fields_end):
        field = y[:, s:e]
        assert abs(float(field.mean())) < 1e-12
        assert abs(float(field.var(unbiased=False)) - 1) < 1e-12
        # one mean and one scale shared by the field's channels: y = a x + b
        xf = x[:, s:e]
        a = (field - field.mean()).flatten() @ (xf - xf.mean()).flatten() / (xf - xf.mean()).pow(2).sum()
        torch.testing.assert_close(field, a * (xf - xf.mean()), atol=1e-12, rtol=0)


def test_inner_batch_norm_3d():
    gs = octaOnR3()
    with float64():
        ft = FieldType(gs, [gs.regular_repr])
        bn = InnerBatchNorm(ft, eps=0.0, momentum=1.0)
    x = _data(ft, (3, 3, 3), seed=0)
    y = bn(x).detach()
    assert abs(float(y.mean())) < 1e-12 and abs(float(y.var(unbiased=False)) - 1) < 1e-12
    n = x.numel()
    torch.testing.assert_close(bn.running_mean, x.mean().view(1), atol=1e-12, rtol=0)
    torch.testing.assert_close(bn.running_var, (x.var(unbiased=False) * n / (n - 1)).view(1), atol=1e-12, rtol=0)


def test_norm_batch_norm_statistics_and_running_stats():
    gs = rot2dOnR2(-1)
    with float64():
        ft = FieldType(gs, [gs.trivial_repr, gs.irrep(1), gs.irrep(2), gs.trivial_repr])
        bn = NormBatchNorm(ft, eps=0.0, momentum=0.25)
    x = _data(ft, (5, 5), seed=4)
    y = bn(x).detach()
    for i, (s, e) in enumerate(zip(ft.fields_start, ft.fields_end)):
        d = e - s
        if ft.representations[i].is_trivial():
            assert abs(float(y[:, s].mean())) < 1e-12 and abs(float(y[:, s].var(unbiased=False)) - 1) < 1e-12
            expected_var = float(x[:, s].var(unbiased=True))
            assert abs(float(bn.running_mean[0 if s == 0 else 1]) - 0.25 * float(x[:, s].mean())) < 1e-12
        else:
            assert abs(float(y[:, s:e].pow(2).sum(1).mean()) - d) < 1e-12  # E|v|^2 = dim
            # no centring: every vector keeps its direction, scaled by one factor per field
            ratio = y[:, s:e] / x[:, s:e]
            assert float(ratio.max() - ratio.min()) < 1e-12 and float(ratio.min()) > 0
            expected_var = float(x[:, s:e].pow(2).sum(1).mean()) / d
        assert abs(float(bn.running_var[i]) - (0.75 + 0.25 * expected_var)) < 1e-12


def _invariant_projector(ft):
    return torch.block_diag(*[_invariant_basis(r) for r in ft.representations])


def test_iid_batch_norm_statistics():
    gs = rot2dOnR2(-1)
    with float64():
        ft = FieldType(gs, [_tensor(gs.irrep(1), gs.irrep(1)), gs.irrep(1), gs.trivial_repr])
        bn = IIDBatchNorm2d(ft, eps=0.0, momentum=0.5)
    e = _invariant_projector(ft)
    assert e.shape == (7, 3)  # two invariant directions in 1 x 1, one trivial field
    x = _data(ft, (6, 6), seed=5)
    y = bn(x).detach()
    inv_y = torch.einsum("ck,bc...->bk...", e, y)
    assert float(inv_y.mean((0, 2, 3)).abs().max()) < 1e-12  # the invariant part is centred
    inv_x_mean = torch.einsum("ck,bc...->bk...", e, x).mean((0, 2, 3))
    torch.testing.assert_close(bn.running_mean, 0.5 * inv_x_mean, atol=1e-12, rtol=0)
    perp = torch.eye(7, dtype=F64) - e @ e.T
    for s, end in zip(ft.fields_start, ft.fields_end):
        assert abs(float(y[:, s:end].pow(2).sum(1).mean()) - (end - s)) < 1e-12  # E|u|^2 / d = 1
    # the non-invariant part is only scaled (one positive factor per field), never shifted
    yp = torch.einsum("ij,bj...->bi...", perp, y)[:, :6]
    xp = torch.einsum("ij,bj...->bi...", perp, x)[:, :6]
    for s, end in ((0, 4), (4, 6)):
        ratio = (yp[:, s:end] * xp[:, s:end]).sum() / xp[:, s:end].pow(2).sum()
        torch.testing.assert_close(yp[:, s:end], ratio * xp[:, s:end], atol=1e-12, rtol=0)
    # the irrep-1 field has no invariant part: IID and Norm batch norm agree on it
    with float64():
        norm = NormBatchNorm(FieldType(gs, [gs.irrep(1)]), eps=0.0)
    torch.testing.assert_close(y[:, 4:6], norm(x[:, 4:6]), atol=1e-12, rtol=0)


def test_iid_batch_norm_3d_regular_field():
    gs = octaOnR3()
    with float64():
        ft = FieldType(gs, [gs.regular_repr])
        bn = IIDBatchNorm3d(ft, eps=0.0)
    x = _data(ft, (3, 3, 3), seed=6)
    y = bn(x).detach()
    assert float(y.sum(1).mean().abs()) < 1e-12  # invariant direction of a regular field: the channel sum
    assert abs(float(y.pow(2).sum(1).mean()) - 24) < 1e-10


def test_gnorm_batch_norm_per_irrep_block():
    gs = flipRot2dOnR2(4)
    with float64():
        ft = FieldType(gs, [gs.regular_repr, gs.irrep(1, 1)])
        bn = GNormBatchNorm(ft, eps=0.0)
    rho = ft.representations[0]
    x = _data(ft, (5, 5), seed=8)
    y = bn(x).detach()
    z = torch.einsum("ji,bj...->bi...", rho.dense_change_of_basis(), y[:, :8])  # irrep coordinates
    c = 0
    for psi in rho.irreps:
        block = z[:, c:c + psi.size]
        assert abs(float(block.pow(2).sum(1).mean()) - psi.size) < 1e-10
        if psi.is_trivial():
            assert float(block.mean().abs()) < 1e-12
        c += psi.size
    assert abs(float(y[:, 8:].pow(2).sum(1).mean()) - 2) < 1e-12
    assert bn.weight.shape == (7,) and bn.bias.shape == (1,) and bn.running_mean.shape == (1,)


def test_track_running_stats_false_uses_batch_statistics():
    gs = rot2dOnR2(4)
    with float64():
        ft = FieldType(gs, [gs.regular_repr])
        bn = InnerBatchNorm(ft, track_running_stats=False).eval()
    assert bn.running_mean is None
    y = bn(_data(ft, (4, 4), seed=0)).detach()
    assert abs(float(y.mean())) < 1e-12


@pytest.mark.parametrize("make", [InnerBatchNorm, NormBatchNorm, IIDBatchNorm2d, GNormBatchNorm],
                         ids=lambda m: m.__name__)
def test_float32_and_dtype_conversion(make):
    gs = rot2dOnR2(4)
    ft = FieldType(gs, [gs.regular_repr, gs.trivial_repr] if make is InnerBatchNorm else
                   [gs.regular_repr, gs.irrep(1), gs.trivial_repr])
    bn = make(ft)
    x = _data(ft, (6, 6), seed=0).float()
    y = bn(x).detach()
    assert y.dtype == torch.float32 and torch.isfinite(y).all()
    assert field_equivariance_error(bn, x, grid_symmetries(gs)) < 1e-5
    bn.eval()
    assert field_equivariance_error(bn, x, grid_symmetries(gs)) < 1e-5
    # built in float32, converted: float64 equivariance is exact (the constant buffers are kept in float64)
    bn.double()
    assert bn.running_var.dtype == F64
    assert field_equivariance_error(bn, x.double(), grid_symmetries(gs)) <= 1e-10


@pytest.mark.parametrize("name", list(ANY_FIELD) + ["InnerBatchNorm"])
def test_finite_gradients(name):
    gs = rot2dOnR2(4)
    make = InnerBatchNorm if name == "InnerBatchNorm" else ANY_FIELD[name]
    reps = [gs.regular_repr, gs.trivial_repr] if name == "InnerBatchNorm" else [gs.irrep(1), gs.regular_repr]
    with float64():
        bn = make(FieldType(gs, reps))
    x = _data(bn.in_type, (3, 3), seed=0)
    x[:, :, 0, 0] = 0.0
    assert_finite_gradients(bn, x.requires_grad_())


def test_bad_input():
    gs = rot2dOnR2(4)
    ft = FieldType(gs, [gs.regular_repr, gs.trivial_repr])
    bn = InnerBatchNorm(ft)
    with pytest.raises(ValueError, match=r"InnerBatchNorm: expected input of type .*expected 5 channels, got 4"):
        bn(torch.randn(2, 4, 3, 3))
    with pytest.raises(ValueError, match="2 spatial dimensions"):
        bn(torch.randn(2, 5, 3, 3, 3))
    with pytest.raises(ValueError, match=r"field 1 \(.*\) .* permutation"):
        InnerBatchNorm(FieldType(gs, [gs.regular_repr, gs.irrep(1)]))
    so2 = rot2dOnR2(-1)
    with pytest.raises(ValueError, match="permutation"):
        InnerBatchNorm(FieldType(so2, [so2.irrep(1)]))
    with pytest.raises(ValueError, match="R\\^3"):
        IIDBatchNorm3d(ft)
    with pytest.raises(ValueError, match="R\\^2"):
        IIDBatchNorm2d(FieldType(rot3dOnR3(), [rot3dOnR3().irrep(1)]))
    with pytest.raises(ValueError, match="in_type must be a FieldType"):
        NormBatchNorm(gs.regular_repr)
    with pytest.raises(ValueError, match="eps"):
        NormBatchNorm(ft, eps=-1.0)
    with pytest.raises(ValueError, match="momentum"):
        GNormBatchNorm(ft, momentum=2.0)
    with pytest.raises(ValueError, match="more than one value"):
        NormBatchNorm(ft)(torch.randn(1, 5, 1, 1))
    NormBatchNorm(ft).eval()(torch.randn(1, 5, 1, 1))  # fine in eval mode
