"""e3nn.o3 names beyond rotations, with e3nn 0.6's semantics: Irreps pairs and repetition, slice_by_mul,
harmonics of irreps with multiplicities, SphericalHarmonics, the angular harmonics, Legendre, Norm, o3.irrep."""

import copy
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
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((a - b).abs().max()) if a.numel() else 0.0


# ----------------------------------------------------------------------------- Irreps semantics
@pytest.mark.parametrize("bad", [[(32, 1)], [(1, -1)], [(2, 0)], [("1o", 2)]])
def test_a_pair_is_mul_and_irrep_as_in_e3nn(bad):
    with pytest.raises(ValueError):
        e3o3.Irreps(bad)
    with pytest.raises(ValueError, match="mul, irrep"):
        o3.Irreps(bad)


def test_pairs_that_e3nn_reads():
    for spec in ([(32, "1o")], [(2, (1, -1)), (1, "0e")], [[3, "2e"]], ["1o", (2, "0e")]):
        assert str(o3.Irreps(spec)) == str(e3o3.Irreps(spec))


@pytest.mark.parametrize("irreps", ["2x1e", "0e + 1o", "", "3x0e + 0x1o + 2e"])
@pytest.mark.parametrize("n", [0, 1, 3])
def test_irreps_times_int_repeats_the_list(irreps, n):
    assert str(o3.Irreps(irreps) * n) == str(e3o3.Irreps(irreps) * n)
    assert str(n * o3.Irreps(irreps)) == str(n * e3o3.Irreps(irreps))
    assert (o3.Irreps("2x1e") * 3).simplify() == o3.Irreps("6x1e")


@pytest.mark.parametrize("sl", [slice(0, 2), slice(2, 5), slice(None), slice(3, 3), slice(1, -1), slice(0, 3),
                                slice(3, 9), slice(-2, None), slice(8, 100)])
def test_slice_by_mul_equals_e3nn(sl):
    irreps = "3x0e + 0x1e + 2x1o + 4x2e"
    assert str(o3.Irreps(irreps).slice_by_mul[sl]) == str(e3o3.Irreps(irreps).slice_by_mul[sl])


def test_slice_by_mul_errors():
    with pytest.raises(IndexError):
        o3.Irreps("2x0e").slice_by_mul[1]
    with pytest.raises(NotImplementedError):
        o3.Irreps("2x0e").slice_by_mul[::2]


# ----------------------------------------------------------------------------- spherical harmonics
SH_IRREPS = ["0e + 2x1o + 2e", "3x0e", "1o", "2x2e + 1o", "1e + 2e", "0e + 1e + 2e + 3e", [1, 1, 0], 3]


@pytest.mark.parametrize("irreps", SH_IRREPS)
@pytest.mark.parametrize("normalization", ["integral", "component", "norm"])
def test_spherical_harmonics_of_irreps_with_multiplicities_equal_e3nn(irreps, normalization):
    x = torch.randn(7, 2, 3, generator=_gen())
    for normalize in (True, False):
        ref = e3o3.spherical_harmonics(irreps, x, normalize, normalization)
        assert _err(o3.spherical_harmonics(irreps, x, normalize, normalization), ref) < 1e-13
        e, s = e3o3.SphericalHarmonics(irreps, normalize, normalization), o3.SphericalHarmonics(
            irreps, normalize, normalization)
        assert _err(s(x), ref) < 1e-13
        assert str(s.irreps_out) == str(e.irreps_out) and str(s.irreps_in) == str(e.irreps_in)


def test_spherical_harmonics_irreps_in():
    sh = o3.SphericalHarmonics("0e + 1e", True, irreps_in="1e")
    assert sh.irreps_out == o3.Irreps("0e + 1e")
    assert o3.SphericalHarmonics([0, 1, 2], True, irreps_in="1x1e").irreps_out == o3.Irreps("0e + 1e + 2e")
    for bad, kwargs in [("0e + 2o", {}), ("1e + 1o", {}), ("1o", {"irreps_in": "1e"}), ("1o", {"irreps_in": "2x1o"}),
                        ("1o", {"normalization": "unit"})]:
        with pytest.raises(ValueError):
            o3.SphericalHarmonics(bad, True, **kwargs)
    sh = o3.SphericalHarmonics(2, True)
    with pytest.raises(ValueError, match="1x1o"):
        sh(torch.randn(4, 2))
    assert sh(torch.zeros(0, 3)).shape == (0, 5)
    assert pickle.loads(pickle.dumps(sh)).irreps_out == copy.deepcopy(sh).irreps_out == o3.Irreps("2e")


@pytest.mark.parametrize("l", [0, 1, 4, [0, 2, 2, 5], "2x1o + 0e"])
@pytest.mark.parametrize("normalization", ["integral", "component", "norm"])
def test_spherical_harmonics_alpha_beta_equal_e3nn(l, normalization):
    g = _gen(1)
    alpha = 6.3 * torch.rand(5, 3, generator=g)
    beta = 6.3 * torch.rand(5, 3, generator=g)  # also outside [0, pi]: the identity is a polynomial one
    ref_l = e3o3.Irreps(l) if isinstance(l, str) else l
    ref = e3o3.spherical_harmonics_alpha_beta(ref_l, alpha, beta, normalization=normalization)
    assert _err(o3.spherical_harmonics_alpha_beta(l, alpha, beta, normalization=normalization), ref) < 1e-13
    assert _err(o3.SphericalHarmonicsAlphaBeta(l, normalization)(alpha, beta), ref) < 1e-13


@pytest.mark.parametrize("l", range(6))
def test_spherical_harmonics_alpha_equals_e3nn(l):
    alpha = 10 * torch.randn(4, 3, generator=_gen(2))
    assert _err(o3.spherical_harmonics_alpha(l, alpha), e3o3.spherical_harmonics_alpha(l, alpha)) < 1e-14


def test_legendre_equals_e3nn():
    ls = [0, 1, 2, 3, 6, 2]
    g = _gen(3)
    z, y = torch.randn(10, generator=g), torch.randn(10, generator=g)  # as polynomials, off the circle too
    ref = e3o3.Legendre(ls)(z, y)
    got = o3.Legendre(ls)(z, y)
    assert _err(got, ref) < 1e-13 * float(ref.abs().max())
    beta = torch.rand(10, generator=g) * 3
    assert _err(o3.Legendre(ls)(beta.cos(), beta.sin()), e3o3.Legendre(ls)(beta.cos(), beta.sin())) < 1e-13


def test_angular_harmonics_gradients():
    alpha = torch.rand(6, generator=_gen(4), requires_grad=True)
    beta = torch.tensor([0.0, 0.5, 1.0, 2.0, 3.14159265358979, 1.2], requires_grad=True)
    y = o3.spherical_harmonics_alpha_beta([0, 1, 2, 3], alpha, beta)
    ga, gb = torch.autograd.grad(y.pow(2).sum(), (alpha, beta))
    assert bool(torch.isfinite(ga).all() and torch.isfinite(gb).all())


# ----------------------------------------------------------------------------- Norm
@pytest.mark.parametrize("irreps", ["2x0e + 1o + 0x2e + 3x2e", "1o + 1o", "", "4x3o"])
@pytest.mark.parametrize("squared", [False, True])
def test_norm_equals_e3nn(irreps, squared):
    e, s = e3o3.Norm(irreps, squared), o3.Norm(irreps, squared)
    assert str(s.irreps_in) == str(e.irreps_in) and str(s.irreps_out) == str(e.irreps_out)
    x = torch.randn(5, 2, s.irreps_in.dim, generator=_gen(5))
    assert _err(s(x), e(x)) < 1e-13


def test_norm_is_invariant_and_safe_at_zero():
    irreps = o3.Irreps("2x0e + 1o + 2x2e")
    norm = o3.Norm(irreps)
    x = irreps.randn(6, -1, generator=_gen(6))
    R = o3.rand_matrix(6, generator=_gen(7), dtype=F64)
    D = irreps.D_from_matrix(R)
    assert _err(norm((D @ x[..., None])[..., 0]), norm(x)) < 1e-13
    x0 = torch.zeros(2, irreps.dim, requires_grad=True)
    (g,) = torch.autograd.grad(norm(x0).sum(), x0, create_graph=True)
    assert torch.equal(g, torch.zeros_like(g))
    with pytest.raises(ValueError, match="Norm"):
        norm(torch.randn(3, irreps.dim + 1))
    empty = o3.Norm("")(torch.zeros(3, 0, requires_grad=True))
    assert empty.shape == (3, 0) and empty.requires_grad


# ----------------------------------------------------------------------------- o3.irrep
def test_irrep_module():
    from e3nn.o3 import irrep as e3nn_irrep

    from steertorch.o3 import irrep
    from steertorch.o3.irrep import l1o, l12e

    assert l1o == o3.Irrep("1o") == e3nn_irrep.l1o and l12e == o3.Irrep("12e")
    assert irrep.l0e + irrep.l2o == o3.Irreps("0e + 2o")
    with pytest.raises(AttributeError):
        getattr(irrep, "l1x")  # noqa: B009
    with pytest.raises(AttributeError):
        getattr(irrep, "foo")  # noqa: B009
