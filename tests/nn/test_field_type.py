"""FieldType: structure, checks, and the group action on grid feature maps (exact for grid symmetries)."""

import math

import pytest
import torch

from steertorch import gspaces
from steertorch.group._group import float64_default
from steertorch.nn import FieldType


def _type_2d(gs):
    reps = [gs.trivial_repr, gs.regular_repr] if gs.fibergroup.is_finite else [gs.trivial_repr]
    return FieldType(gs, reps + [gs.irreps()[-1]])


def test_structure():
    gs = gspaces.rot2dOnR2(8)
    a = FieldType(gs, [gs.trivial_repr, gs.regular_repr])
    b = FieldType(gs, [gs.irrep(1)] * 3)
    assert a.size == 9 and len(a) == 2 and a.fields_start == [0, 1] and a.fields_end == [1, 9]
    assert a.representation.size == 9
    c = a + b
    assert c.size == 15 and len(c) == 5 and c.fibergroup is gs.fibergroup and c.gspace == gs
    assert c == FieldType(gs, [gs.trivial_repr, gs.regular_repr] + [gs.irrep(1)] * 3)
    assert hash(c) == hash(FieldType(gs, list(c)))
    assert a != b and a != FieldType(gspaces.rot2dOnR2(4), [gspaces.rot2dOnR2(4).trivial_repr] * 9)


def test_errors():
    gs, hs = gspaces.rot2dOnR2(8), gspaces.rot2dOnR2(4)
    with pytest.raises(ValueError, match="C4.*C8|C8.*C4"):
        FieldType(gs, [gs.trivial_repr, hs.trivial_repr])
    with pytest.raises(ValueError, match="empty"):
        FieldType(gs, [])
    with pytest.raises(ValueError, match="GSpace"):
        FieldType(gs.fibergroup, [gs.trivial_repr])
    ft = FieldType(gs, [gs.regular_repr])
    with pytest.raises(ValueError, match="expected 8 channels, got 5"):
        ft.check(torch.zeros(1, 5, 3, 3))
    with pytest.raises(ValueError, match="2 spatial dimensions"):
        ft.check(torch.zeros(1, 8, 3, 3, 3))
    with pytest.raises(ValueError, match="different G-spaces"):
        ft + FieldType(hs, [hs.trivial_repr])
    with pytest.raises(ValueError):
        ft.transform(torch.zeros(1, 8, 3, 3), torch.tensor([1, 2]))
    with pytest.raises(ValueError):
        ft.transform(torch.zeros(1, 8, 3, 3), torch.tensor(9))


@pytest.mark.parametrize("gs", [gspaces.rot2dOnR2(4), gspaces.flipRot2dOnR2(4), gspaces.flip2dOnR2(0.0),
                                gspaces.flip2dOnR2()], ids=["C4", "D4", "flip0", "flip90"])
def test_transform_is_a_group_action_2d(gs):
    ft = _type_2d(gs)
    G = gs.fibergroup
    x = torch.randn(2, ft.size, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for g in G.elements():
        for h in G.elements():
            a = ft.transform(ft.transform(x, g), h)
            b = ft.transform(x, G.compose(h, g))
            assert (a - b).abs().max() < 1e-12
    assert torch.equal(ft.transform(x, G.identity()), x)


def test_transform_is_a_group_action_3d():
    gs = gspaces.fullOctaOnR3()
    ft = FieldType(gs, [gs.trivial_repr, gs.irrep(1), gs.irrep("T2u")])
    G = gs.fibergroup
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, ft.size, 4, 4, 4, dtype=torch.float64, generator=gen)
    gs_, hs_ = G.sample(12, generator=gen), G.sample(12, generator=gen)
    for g, h in zip(gs_, hs_):
        a = ft.transform(ft.transform(x, g), h)
        b = ft.transform(x, G.compose(h, g))
        assert (a - b).abs().max() < 1e-12


def test_rot90_exact():
    gs = gspaces.rot2dOnR2(4)
    ft = FieldType(gs, [gs.trivial_repr, gs.irrep(1)])
    x = torch.randn(3, 3, 6, 6, dtype=torch.float64)
    y = ft.transform(x, torch.tensor(1))
    assert torch.equal(y[:, 0], torch.rot90(x[:, 0], 1, dims=(1, 2)))
    # a vector field: the vectors rotate by +90 degrees too
    v = torch.rot90(x[:, 1:], 1, dims=(2, 3))
    assert torch.allclose(y[:, 1:], torch.stack([-v[:, 1], v[:, 0]], 1), atol=1e-15)
    # SO(2) at exactly 90 degrees takes the exact path as well
    so2 = gspaces.rot2dOnR2(-1)
    ft2 = FieldType(so2, [so2.trivial_repr])
    g = so2.fibergroup.element(torch.tensor(math.pi / 2, dtype=torch.float64))
    assert torch.equal(ft2.transform(x[:, :1], g), torch.rot90(x[:, :1], 1, dims=(2, 3)))


def test_rot90_moves_points_by_the_basespace_action():
    """A delta at offset p moves to M(g) p."""
    gs = gspaces.fullOctaOnR3()
    ft = FieldType(gs, [gs.trivial_repr])
    x = torch.zeros(1, 1, 5, 5, 5, dtype=torch.float64)
    p = torch.tensor([2.0, 1.0, -1.0], dtype=torch.float64)
    x[(0, 0, *[int(v) + 2 for v in p])] = 1.0
    for g in range(48):
        q = gs.basespace_action(torch.tensor(g)) @ p
        y = ft.transform(x, torch.tensor(g))
        assert float(y[(0, 0, *[int(v) + 2 for v in q.round()])]) == 1.0 and float(y.sum()) == 1.0


def test_fibers_and_restrict():
    gs = gspaces.flipRot2dOnR2(4)
    ft = FieldType(gs, [gs.regular_repr, gs.irrep(1, 1)])
    x = torch.randn(2, ft.size, 4, 4, dtype=torch.float64)
    g = torch.tensor(5)
    with float64_default():
        rho = ft.representation(g)
    assert torch.allclose(ft.transform_fibers(x, g), torch.einsum("ij,bjxy->bixy", rho, x), atol=1e-14)
    sub = ft.restrict("C4")
    assert sub.gspace.fibergroup.name == "C4" and sub.size == ft.size
    hs, include = gs.restrict("C4")
    for h in range(4):
        a = sub.transform(x, torch.tensor(h))
        b = ft.transform(x, include(torch.tensor(h)))
        assert (a - b).abs().max() < 1e-12


def test_float32():
    gs = gspaces.rot2dOnR2(8)
    ft = FieldType(gs, [gs.regular_repr])
    x = torch.randn(1, 8, 5, 5)
    y = ft.transform(x, torch.tensor(2))
    assert y.dtype == torch.float32
    assert torch.allclose(y, ft.transform(x.double(), torch.tensor(2)).float(), atol=1e-5)
    y = ft.transform(x, torch.tensor(1))  # 45 degrees: interpolation
    assert y.dtype == torch.float32 and torch.isfinite(y).all()


def test_interpolated_rotation_error_on_a_smooth_field():
    """Other angles interpolate: measured error on a smooth scalar field (documented in FieldType)."""
    gs = gspaces.rot2dOnR2(-1)
    ft = FieldType(gs, [gs.trivial_repr, gs.irrep(1)])
    n = 33
    c = torch.arange(n, dtype=torch.float64) - (n - 1) / 2
    p = torch.stack(torch.meshgrid(c, c, indexing="ij"), -1)

    def field(pts):  # a smooth blob (width 4 px) and a smooth vector field
        s = torch.exp(-((pts - torch.tensor([3.0, -2.0], dtype=torch.float64)) ** 2).sum(-1) / 32)
        return torch.stack([s, s * pts[..., 0] / 8, s * pts[..., 1] / 8], 0)[None]

    theta = torch.tensor(0.5, dtype=torch.float64)
    g = gs.fibergroup.element(theta).to(torch.float64)
    expected = field(p @ g)  # f(g^-1 p)
    expected[:, 1:] = torch.einsum("ij,bjxy->bixy", g, expected[:, 1:])
    err = (ft.transform(field(p), g) - expected).abs().max() / expected.abs().max()
    assert 1e-6 < err < 2e-2


def test_pickle_round_trip():
    import pickle

    for gs in (gspaces.flipRot2dOnR2(4), gspaces.rot3dOnR3(), gspaces.icoOnR3()):
        ft = FieldType(gs, [gs.trivial_repr, gs.irreps(2)[-1]] + ([gs.regular_repr] if gs.fibergroup.is_finite else []))
        ft2 = pickle.loads(pickle.dumps(ft))
        assert ft2 == ft and ft2.size == ft.size and ft2.gspace == gs
