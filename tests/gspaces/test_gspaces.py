"""G-spaces: factories, base-space action (a homomorphism into O(d)), restriction, representations."""

import math

import pytest
import torch

from steertorch import gspaces
from steertorch.group import Group, o2_group, so2_group
from steertorch.group._group import float64_default

FINITE_2D = {
    "C1": lambda: gspaces.trivialOnR2(),
    "C4": lambda: gspaces.rot2dOnR2(4),
    "C7": lambda: gspaces.rot2dOnR2(7),
    "D4": lambda: gspaces.flipRot2dOnR2(4),
    "D3axis": lambda: gspaces.flipRot2dOnR2(3, axis=0.4),
    "flip": lambda: gspaces.flip2dOnR2(),
}
FINITE_3D = {
    "O": gspaces.octaOnR3,
    "Oh": gspaces.fullOctaOnR3,
    "I": gspaces.icoOnR3,
    "Ih": gspaces.fullIcoOnR3,
    "T": gspaces.tetraOnR3,
    "Td": gspaces.fullTetraOnR3,
    "Th": gspaces.pyritoOnR3,
    "C5z": lambda: gspaces.cyclicOnR3(5),
    "D4z": lambda: gspaces.dihedralOnR3(4),
    "C3v": lambda: gspaces.conicalOnR3(3),
    "C4h": lambda: gspaces.cylindricalOnR3(4),
    "D3h": lambda: gspaces.fullCylindricalOnR3(3),
    "mir": gspaces.mirOnR3,
    "inv": gspaces.invOnR3,
    "C1_3d": gspaces.trivialOnR3,
}
CONTINUOUS = {
    "SO2": lambda: gspaces.rot2dOnR2(-1),
    "O2": lambda: gspaces.flipRot2dOnR2(-1),
    "O2axis": lambda: gspaces.flipRot2dOnR2(-1, axis=1.0),
    "SO3": gspaces.rot3dOnR3,
    "O3": gspaces.flipRot3dOnR3,
    "SO2z": lambda: gspaces.rot2dOnR3(-1),
    "O2z": lambda: gspaces.dihedralOnR3(-1),
    "O2zv": lambda: gspaces.conicalOnR3(-1),
    "Cinfh": lambda: gspaces.cylindricalOnR3(-1),
    "Dinfh": lambda: gspaces.fullCylindricalOnR3(-1),
}
FINITE = {**FINITE_2D, **FINITE_3D}
ALL = {**FINITE, **CONTINUOUS}


@pytest.fixture(params=list(ALL), ids=list(ALL))
def gspace(request):
    return ALL[request.param]()


def _elements(gs, n=8):
    G = gs.fibergroup
    if G.is_finite:
        return G.elements()
    return G.sample(n, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


def test_basespace_action_is_an_orthogonal_homomorphism(gspace):
    G = gspace.fibergroup
    g = _elements(gspace)
    m = gspace.basespace_action(g).to(torch.float64)
    d = gspace.dimensionality
    assert m.shape == (len(g), d, d)
    assert (m @ m.transpose(-1, -2) - torch.eye(d, dtype=torch.float64)).abs().max() < 1e-12
    a, b = g[:, None], g[None, :]
    if not G.is_finite:
        a, b = g[:, None].expand(-1, len(g), d, d), g[None].expand(len(g), -1, d, d)
    mab = gspace.basespace_action(G.compose(a, b)).to(torch.float64)
    assert (mab - m[:, None] @ m[None, :]).abs().max() < 1e-12
    e = G.identity(dtype=torch.float64)
    assert (gspace.basespace_action(e).to(torch.float64) - torch.eye(d, dtype=torch.float64)).abs().max() < 1e-12


def test_dimensionality_and_names(gspace):
    assert gspace.dimensionality == gspace.fibergroup.ambient_dim
    assert isinstance(gspace.name, str) and gspace.name
    assert gspace == gspace and hash(gspace) == hash(gspace)


def test_factories_groups():
    assert gspaces.rot2dOnR2(8).fibergroup.order == 8
    assert gspaces.rot2dOnR2().fibergroup == so2_group()
    assert gspaces.flipRot2dOnR2().fibergroup == o2_group()
    assert gspaces.flipRot2dOnR2(5).fibergroup.order == 10
    assert gspaces.rot3dOnR3().fibergroup.name == "SO(3)"
    assert gspaces.flipRot3dOnR3().fibergroup.name == "O(3)"
    assert [gspaces.octaOnR3().fibergroup.order, gspaces.fullOctaOnR3().fibergroup.order] == [24, 48]
    assert [gspaces.icoOnR3().fibergroup.order, gspaces.fullIcoOnR3().fibergroup.order] == [60, 120]
    assert gspaces.fullCylindricalOnR3(4).fibergroup.order == 16
    assert gspaces.rot2dOnR3(6) == gspaces.cyclicOnR3(6)
    # the dihedral group about z is a group of rotations, the cone group has a mirror
    dets_d = torch.linalg.det(gspaces.dihedralOnR3(3).basespace_action(torch.arange(6)))
    dets_c = torch.linalg.det(gspaces.conicalOnR3(3).basespace_action(torch.arange(6)))
    assert torch.allclose(dets_d, torch.ones(6, dtype=torch.float64))
    assert torch.allclose(dets_c.sort().values, torch.tensor([-1.0] * 3 + [1.0] * 3, dtype=torch.float64))
    m = gspaces.invOnR3().basespace_action(torch.tensor(1))
    assert torch.equal(m, -torch.eye(3, dtype=torch.float64))
    m = gspaces.mirOnR3().basespace_action(torch.tensor(1))
    assert torch.equal(m, torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64)))


def test_quarter_turn_is_exact():
    m = gspaces.rot2dOnR2(4).basespace_action(torch.tensor(1))
    assert torch.equal(m, torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=torch.float64))
    ms = gspaces.fullOctaOnR3().basespace_action(torch.arange(48))
    assert torch.equal(ms, ms.round())


@pytest.mark.parametrize("axis", [0.0, 0.4, math.pi / 2])
def test_flip_axis(axis):
    """The reflection fixes the line at angle ``axis`` and negates its normal."""
    for gs in (gspaces.flip2dOnR2(axis), gspaces.flipRot2dOnR2(4, axis=axis)):
        G = gs.fibergroup
        m = gs.basespace_action(G.elements())
        flips = m[torch.linalg.det(m) < 0]
        u = torch.tensor([math.cos(axis), math.sin(axis)], dtype=torch.float64)
        n = torch.tensor([-math.sin(axis), math.cos(axis)], dtype=torch.float64)
        fixes = [(f @ u - u).abs().max() < 1e-12 and (f @ n + n).abs().max() < 1e-12 for f in flips]
        assert any(fixes)


def test_representations():
    gs = gspaces.rot2dOnR2(6)
    assert gs.trivial_repr.size == 1 and gs.regular_repr.size == 6
    assert gs.irrep(2).size == 2
    assert [p.label for p in gs.irreps()] == [0, 1, 2, 3]
    so2 = gspaces.rot2dOnR2(-1, maximum_frequency=3)
    assert [p.label for p in so2.irreps()] == [0, 1, 2, 3]
    assert [p.label for p in so2.irreps(1)] == [0, 1]
    with pytest.raises(ValueError, match="not finite"):
        _ = so2.regular_repr


def test_basespace_repr_matches_action(gspace):
    g = _elements(gspace, 4)
    rho = gspace.basespace_repr
    assert rho.size == gspace.dimensionality
    with float64_default():
        a = rho(g).to(torch.float64)
    b = gspace.basespace_action(g).to(torch.float64)
    assert (a - b).abs().max() < 1e-10


@pytest.mark.parametrize("name,sub", [("D4", "C4"), ("C4", "C2"), ("D4", "D2"), ("O2", "D3"), ("O2axis", "C5"),
                                      ("Oh", "O"), ("SO3", "O"), ("SO2", "C8")])
def test_restrict_keeps_the_action(name, sub):
    gs = ALL[name]()
    hs, include = gs.restrict(sub)
    assert isinstance(hs, gspaces.GSpace) and isinstance(hs.fibergroup, Group)
    assert hs.fibergroup.name.startswith(sub)
    h = hs.fibergroup.elements()
    with float64_default():
        g = include(h)
    a = hs.basespace_action(h).to(torch.float64)
    b = gs.basespace_action(g).to(torch.float64)
    assert (a - b).abs().max() < 1e-10


def test_errors():
    with pytest.raises(ValueError, match="N must be"):
        gspaces.rot2dOnR2(0)
    with pytest.raises(ValueError, match="N must be"):
        gspaces.flipRot2dOnR2(2.5)
    with pytest.raises(ValueError, match="maximum_frequency"):
        gspaces.rot2dOnR2(-1, maximum_frequency=-2)
    with pytest.raises(ValueError, match="acts on R"):
        gspaces.GSpace(so2_group(), 3)
    with pytest.raises(ValueError, match="dimensionality"):
        gspaces.GSpace(so2_group(), 4)
    with pytest.raises(ValueError, match="orthogonal"):
        gspaces.GSpace(so2_group(), 2, frame=torch.ones(2, 2))
    with pytest.raises(ValueError, match="not a subgroup"):
        gspaces.rot2dOnR2(4).restrict("C3")
    with pytest.raises(ValueError, match="pass a band_limit"):
        gspaces.GSpace(so2_group(), 2).irreps()
