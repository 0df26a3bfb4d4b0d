"""e3nn's sphere and SO(3) grids in steertorch.o3 (``s2_grid(res_beta, res_alpha)``, ``spherical_harmonics_s2_grid``,
``rfft`` / ``irfft``, ``ToS2Grid`` / ``FromS2Grid``, ``SO3Grid``): e3nn 0.6's signatures, values and state dicts on
the same float64 inputs; the band-limit form ``s2_grid(L)`` keeps working."""

import copy
import math
import pickle

import pytest
import torch

from steertorch import o3

e3o3 = pytest.importorskip("e3nn.o3")

F64 = torch.float64


# e3nn builds its constants in the default dtype: float64 for exact reference values
pytestmark = pytest.mark.usefixtures("float64_default")


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _err(a, b):
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
    return float((a - b).abs().max()) if a.numel() else 0.0


GRIDS = [(3, (8, 9), "component"), (4, (10, 8), "norm"), (2, None, "integral"), (None, 12, "component"),
         (5, (12, 15), "norm"), (3, (8, 7), "integral")]


def test_s2_grid_both_forms():
    for got, want in zip(o3.s2_grid(5, 6), e3o3.s2_grid(5, 6)):
        assert _err(got, want) == 0
    b, a = o3.s2_grid(res_beta=4, res_alpha=3, dtype=torch.float32)
    assert b.dtype == a.dtype == torch.float32 and b.shape == (4,) and a.shape == (3,)
    x, w = o3.s2_grid(3)
    x2, w2 = o3.s2_grid(band_limit=3)
    assert x.shape == (4 * 7, 3) and torch.equal(x, x2) and torch.equal(w, w2)
    assert math.isclose(float(w.sum()), 4 * math.pi)
    with pytest.raises(ValueError):
        o3.s2_grid(3, band_limit=3)
    with pytest.raises(ValueError):
        o3.s2_grid(3, dtype=torch.float32)
    with pytest.raises(ValueError):
        o3.s2_grid(res_alpha=3)
    with pytest.raises(ValueError):
        o3.s2_grid(0, 3)


def test_spherical_harmonics_s2_grid():
    for got, want in zip(o3.spherical_harmonics_s2_grid(4, 10, 9), e3o3.spherical_harmonics_s2_grid(4, 10, 9)):
        assert _err(got, want) < 1e-14
    # the factors give the harmonics ("integral") at the grid points
    b, a, shb, sha = o3.spherical_harmonics_s2_grid(3, 6, 7)
    beta, alpha = torch.meshgrid(b, a, indexing="ij")
    y = o3.spherical_harmonics(range(4), o3.angles_to_xyz(alpha, beta), True, normalization="integral")
    l_of = torch.tensor([l for l in range(4) for _ in range(2 * l + 1)])
    m_of = torch.tensor([m for l in range(4) for m in range(-l, l + 1)])
    assert _err(shb[:, None, :] * sha[None, :, 3 + m_of], y) < 1e-13 and l_of.numel() == 16


def test_rfft_irfft():
    x = torch.randn(2, 3, 11, generator=_gen())
    assert _err(o3.rfft(x, 4), e3o3.rfft(x, 4)) < 1e-14
    c = torch.randn(2, 7, generator=_gen(1))
    assert _err(o3.irfft(c, 11), e3o3.irfft(c, 11)) < 1e-14
    sha = o3.spherical_harmonics_s2_grid(3, 2, 11)[3]
    assert _err(o3.irfft(c, 11), c @ sha.T) < 1e-13 and _err(o3.rfft(x, 3), x @ sha) < 1e-13
    with pytest.raises(ValueError):
        o3.irfft(c, 10)
    with pytest.raises(ValueError):
        o3.rfft(x, 6)


@pytest.mark.parametrize("lmax,res,normalization", GRIDS)
def test_to_from_s2grid_match_e3nn(lmax, res, normalization):
    ours, theirs = o3.ToS2Grid(lmax, res, normalization), e3o3.ToS2Grid(lmax, res, normalization)
    assert (ours.lmax, ours.res_beta, ours.res_alpha) == (theirs.lmax, theirs.res_beta, theirs.res_alpha)
    assert repr(ours) == repr(theirs)
    x = torch.randn(2, 3, (ours.lmax + 1) ** 2, generator=_gen())
    assert _err(ours(x), theirs(x)) < 1e-13
    assert _err(ours.grid, theirs.grid) < 1e-15
    sd = theirs.state_dict()
    assert set(ours.state_dict()) == set(sd)
    assert max(_err(v, sd[k]) for k, v in ours.state_dict().items()) < 1e-14

    ours, theirs = o3.FromS2Grid(res, lmax, normalization), e3o3.FromS2Grid(res, lmax, normalization)
    f = torch.randn(4, ours.res_beta, ours.res_alpha, generator=_gen(1))
    assert _err(ours(f), theirs(f)) < 1e-13
    sd = theirs.state_dict()
    assert set(ours.state_dict()) == set(sd)
    assert max(_err(v, sd[k]) for k, v in ours.state_dict().items()) < 1e-14
    ours.load_state_dict(sd)  # e3nn's checkpoints load


def test_normalization_tensor_and_lmax_in():
    n = torch.tensor([1.0, 2.0, 0.5, 3.0])
    x = torch.randn(5, 16, generator=_gen())
    assert _err(o3.ToS2Grid(3, (8, 9), n)(x), e3o3.ToS2Grid(3, (8, 9), n)(x)) < 1e-13
    f = torch.randn(8, 9, generator=_gen(1))
    ours, theirs = o3.FromS2Grid((8, 9), 3, "norm", lmax_in=5), e3o3.FromS2Grid((8, 9), 3, "norm", lmax_in=5)
    assert _err(ours(f), theirs(f)) < 1e-13
    with pytest.raises(ValueError):
        o3.ToS2Grid(3, (8, 9), "bad")
    with pytest.raises(ValueError):
        o3.ToS2Grid(3, (7, 9))  # res_beta must be even
    with pytest.raises(ValueError):
        o3.ToS2Grid(4, (8, 9))  # 8 beta points resolve l <= 3
    with pytest.raises(ValueError):
        o3.ToS2Grid(3, (8, 9))(torch.randn(2, 15))
    with pytest.raises(ValueError):
        o3.FromS2Grid((8, 9), 3)(torch.randn(2, 9, 8))


@pytest.mark.parametrize("normalization", ["component", "norm", "integral"])
def test_round_trip_and_norms(normalization):
    to, back = o3.ToS2Grid(4, (10, 11), normalization), o3.FromS2Grid((10, 11), 4, normalization)
    x = torch.randn(3, 25, generator=_gen())
    assert _err(back(to(x)), x) < 1e-12
    # a rotated spherical tensor gives the rotated signal: f'(x) = f(R^-1 x) at the grid points
    if normalization == "integral":
        R = o3.rand_matrix(generator=_gen(2))
        D = o3.Irreps.spherical_harmonics(4).D_from_matrix(R)
        grid = to.grid
        y = o3.spherical_harmonics(range(5), grid @ R, True, normalization="integral")  # Y(R^-1 x)
        assert _err(to(x @ D.T), (y @ x.T).permute(2, 0, 1)) < 1e-12


def test_module_rules():
    m = o3.ToS2Grid(3, (8, 9), dtype=torch.float32)
    assert m.shb.dtype == torch.float32
    mm = m.double()  # float64 masters: exact after a float32 build
    assert _err(mm.shb, o3.ToS2Grid(3, (8, 9)).shb) == 0
    k = o3.FromS2Grid((8, 9), 3)
    for mod, x in ((mm, torch.randn(0, 16)), (k, torch.randn(0, 8, 9))):
        x.requires_grad_(True)
        y = mod(x)
        assert y.shape[0] == 0
        y.sum().backward()
        for clone in (copy.deepcopy(mod), pickle.loads(pickle.dumps(mod))):
            z = torch.randn(2, *x.shape[1:])
            assert torch.equal(clone(z), mod(z))
    with pytest.raises(ValueError):
        mm(torch.randn(2, 16, dtype=torch.float32))


def test_so3grid_matches_e3nn():
    ours, theirs = o3.SO3Grid(2, 3), e3o3.SO3Grid(2, 3)
    assert (ours.res_alpha, ours.res_beta, ours.res_gamma) == (theirs.res_alpha, theirs.res_beta, theirs.res_gamma)
    x = torch.randn(4, 35, generator=_gen())
    assert _err(ours.to_grid(x), theirs.to_grid(x)) < 1e-13
    g = torch.randn(2, *ours.D.shape[:3], generator=_gen(1))
    assert _err(ours.from_grid(g), theirs.from_grid(g)) < 1e-12
    assert _err(ours.from_grid(ours.to_grid(x)), x) < 1e-12
    sd = theirs.state_dict()
    assert set(ours.state_dict()) == set(sd)
    assert max(_err(v, sd[k]) for k, v in ours.state_dict().items()) < 1e-13
    assert o3.SO3Grid(1, 2, aspect_ratio=1).D.shape == e3o3.SO3Grid(1, 2, aspect_ratio=1).D.shape
    assert ours.to_grid(torch.randn(0, 35)).shape == (0, *ours.D.shape[:3])
    with pytest.raises(ValueError):
        o3.SO3Grid(2, 3, normalization="norm")
