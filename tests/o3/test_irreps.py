"""Irrep / Irreps: parsing, sizes, constructions, random features and the O(3) representation (parity included)."""

import pytest
import torch

from steertorch import o3
from steertorch.o3 import Irrep, Irreps


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _orthogonal(n, seed=0):
    """n random orthogonal matrices in float64, every other one improper (det -1), plus -I."""
    R = o3.rand_matrix(n, generator=_gen(seed), dtype=torch.float64)
    sign = torch.tensor([1.0, -1.0], dtype=torch.float64).repeat(n)[:n]
    return torch.cat([R * sign[:, None, None], -torch.eye(3, dtype=torch.float64)[None]])


# ----------------------------------------------------------------------------- parsing
def test_parse_standard_string():
    irreps = Irreps("16x0e + 8x1o + 4x2e")
    assert [(mul, ir.l, ir.p) for mul, ir in irreps] == [(16, 0, 1), (8, 1, -1), (4, 2, 1)]
    assert repr(irreps) == "16x0e+8x1o+4x2e"
    assert Irreps(repr(irreps)) == irreps
    assert Irreps("2e") == Irreps("1x2e")
    assert Irreps(" 3x1o+0e ") == Irreps([(3, (1, -1)), (1, (0, 1))])
    assert Irreps("") == Irreps() and len(Irreps("")) == 0


def test_parse_y_parity_is_spherical_harmonics():
    assert Irrep("1y") == Irrep("1o")
    assert Irrep("2y") == Irrep("2e")
    assert Irreps("0y + 1y + 2y + 3y") == Irreps("0e + 1o + 2e + 3o")


def test_constructors_agree():
    a = Irreps("2x0e + 1o")
    assert Irreps([(2, "0e"), (1, "1o")]) == a
    assert Irreps([(2, (0, 1)), (1, Irrep(1, -1))]) == a
    assert Irreps(["2x0e", "1o"]) == a
    assert Irreps(a) == a
    assert Irreps(Irrep("1o")) == Irreps("1o")
    assert Irrep((1, -1)) == Irrep("1o") == Irrep(1, -1)


@pytest.mark.parametrize("text", ["1x", "2q", "x1o", "-1x1o", "1o +", "+ 1o", "2x1o + + 0e", "1.5x0e", "1e1",
                                  "ax1o", "1 o x 2"])
def test_malformed_strings_raise(text):
    with pytest.raises(ValueError, match="malformed"):
        Irreps(text)


@pytest.mark.parametrize("bad", [(-1, 1), (1, 0), (1.0, 1), ("a", 1), (1, 2)])
def test_bad_irrep_tuples_raise(bad):
    with pytest.raises(ValueError):
        Irrep(*bad)


def test_bad_multiplicity_raises():
    with pytest.raises(ValueError):
        Irreps([(-1, "0e")])
    with pytest.raises(ValueError):
        Irreps(3.5)


# ----------------------------------------------------------------------------- sizes and queries
def test_sizes_and_slices():
    irreps = Irreps("16x0e + 8x1o + 4x2e")
    assert irreps.dim == 16 + 24 + 20
    assert irreps.num_irreps == 28
    assert irreps.lmax == 2
    assert irreps.ls == [0] * 16 + [1] * 8 + [2] * 4
    assert irreps.slices() == [slice(0, 16), slice(16, 40), slice(40, 60)]
    assert [mi.dim for mi in irreps] == [16, 24, 20]
    assert Irrep("3o").dim == 7 and Irrep("0e").is_scalar() and not Irrep("0o").is_scalar()
    with pytest.raises(ValueError):
        _ = Irreps("").lmax


def test_count_contains_getitem():
    irreps = Irreps("2x0e + 1o + 3x0e + 2e")
    assert irreps.count("0e") == 5 and irreps.count("1o") == 1 and irreps.count("1e") == 0
    assert "2e" in irreps and "2o" not in irreps and "garbage" not in irreps
    assert irreps[1] == (1, Irrep("1o")) and irreps[1].mul == 1 and irreps[1].ir == Irrep("1o")
    assert isinstance(irreps[1:3], Irreps) and irreps[1:3] == Irreps("1o + 3x0e")


def test_simplify_sort_regroup():
    irreps = Irreps("1o + 0e + 0x2e + 2x0e + 1o + 1o")
    assert irreps.simplify() == Irreps("1o + 3x0e + 2x1o")
    assert irreps.remove_zero_multiplicities() == Irreps("1o + 0e + 2x0e + 1o + 1o")
    s = Irreps("1o + 0e + 1e + 0o + 1o").sort()
    assert s.irreps == Irreps("0o + 0e + 1o + 1o + 1e")  # odd before even at equal l, stable
    assert s.inv == (3, 1, 0, 4, 2)
    assert all(s.irreps[s.p[j]] == Irreps("1o + 0e + 1e + 0o + 1o")[j] for j in range(5))
    assert Irreps("1o + 0e + 1o + 2x0e").regroup() == Irreps("3x0e + 2x1o")


def test_filter():
    irreps = Irreps("2x0e + 1o + 3x2e + 0o")
    assert irreps.filter(lmax=1) == Irreps("2x0e + 1o + 0o")
    assert irreps.filter("0e + 2e") == Irreps("2x0e + 3x2e")
    assert irreps.filter(drop="0e") == Irreps("1o + 3x2e + 0o")
    assert irreps.filter(parity=-1) == Irreps("1o + 0o")
    assert irreps.filter(lambda mi: mi.mul > 1) == Irreps("2x0e + 3x2e")


def test_arithmetic():
    a, b = Irreps("2x0e + 1o"), Irreps("2e")
    assert a + b == Irreps("2x0e + 1o + 2e")
    assert a + "0o" == Irreps("2x0e + 1o + 0o") and "0o" + a == Irreps("0o + 2x0e + 1o")
    # as e3nn: the list repeated (2x0e+1x1o+2x0e+1x1o+...), not the multiplicities scaled
    assert 3 * a == a * 3 == Irreps("2x0e + 1o + 2x0e + 1o + 2x0e + 1o")
    assert (a * 3).regroup() == Irreps("6x0e + 3x1o") and a * 0 == Irreps("")
    assert Irrep("1o") * Irrep("1o") == [Irrep("0e"), Irrep("1e"), Irrep("2e")]
    assert Irrep("2e") * Irrep("1o") == [Irrep("1o"), Irrep("2o"), Irrep("3o")]
    assert 2 * Irrep("1o") == Irreps("2x1o")
    assert Irrep("0e") + Irrep("1o") == Irreps("0e + 1o")
    with pytest.raises(ValueError):
        a * b


def test_iterator_and_spherical_harmonics_irreps():
    assert list(Irrep.iterator(1)) == [Irrep("0e"), Irrep("0o"), Irrep("1o"), Irrep("1e")]
    assert Irreps.spherical_harmonics(3) == Irreps("0e + 1o + 2e + 3o")
    assert Irreps.spherical_harmonics(2, p=1) == Irreps("0e + 1e + 2e")


# ----------------------------------------------------------------------------- randn
def test_randn_shapes_and_normalisation():
    irreps = Irreps("3x0e + 2x1o + 2e")
    assert irreps.randn(4, -1).shape == (4, irreps.dim)
    assert irreps.randn(-1, 2).shape == (irreps.dim, 2)
    x = irreps.randn(5, -1, normalization="norm", dtype=torch.float64, generator=_gen())
    i = 0
    for mul, ir in irreps:
        for _ in range(mul):
            torch.testing.assert_close(x[:, i:i + ir.dim].norm(dim=1), torch.ones(5, dtype=torch.float64))
            i += ir.dim
    y = Irreps("1o").randn(3, -1, 4, normalization="norm", dtype=torch.float64)
    torch.testing.assert_close(y.norm(dim=1), torch.ones(3, 4, dtype=torch.float64))
    z = irreps.randn(20000, -1, generator=_gen())
    assert abs(float(z.pow(2).mean()) - 1) < 0.02
    assert irreps.randn(2, -1, requires_grad=True).requires_grad
    with pytest.raises(ValueError):
        irreps.randn(3, 4)
    with pytest.raises(ValueError):
        irreps.randn(-1, normalization="integral")


# ----------------------------------------------------------------------------- D_from_matrix
def test_D_is_a_representation_of_O3():
    irreps = Irreps("2x0e + 0o + 1o + 1e + 2e + 2o + 3o")
    A, B = _orthogonal(6, 1), _orthogonal(6, 2)
    lhs = irreps.D_from_matrix(A @ B)
    rhs = irreps.D_from_matrix(A) @ irreps.D_from_matrix(B)
    assert float((lhs - rhs).abs().max()) < 1e-12
    D = irreps.D_from_matrix(A)
    eye = torch.eye(irreps.dim, dtype=torch.float64)
    assert float((D @ D.transpose(-1, -2) - eye).abs().max()) < 1e-12
    assert D.shape == (7, irreps.dim, irreps.dim)


def test_D_parity_of_inversion():
    irreps = Irreps("0e + 0o + 1o + 1e + 2e + 2o")
    D = irreps.D_from_matrix(-torch.eye(3, dtype=torch.float64))
    signs = torch.tensor([1, -1] + [-1] * 3 + [1] * 3 + [1] * 5 + [-1] * 5, dtype=torch.float64)
    torch.testing.assert_close(D, torch.diag(signs), atol=1e-13, rtol=0)
    R = _orthogonal(4)[:4]
    assert torch.equal(Irrep("1o").D_from_matrix(R), R)  # the vector: D = R exactly, proper or not
    det = torch.linalg.det(R)
    torch.testing.assert_close(Irrep("1e").D_from_matrix(R), R * det[:, None, None])  # pseudo-vector


def test_D_moves_spherical_harmonics_for_improper_matrices():
    irreps = Irreps.spherical_harmonics(4)  # 0e + 1o + 2e + 3o + 4e: Y^l(-x) = (-1)^l Y^l(x)
    R = _orthogonal(6, 3)
    x = torch.randn(10, 3, dtype=torch.float64, generator=_gen(3))
    y = o3.spherical_harmonics(irreps, x)
    y_moved = o3.spherical_harmonics(irreps, x @ R.transpose(-1, -2))  # [6, 10, dim]
    expected = y @ irreps.D_from_matrix(R).transpose(-1, -2)
    assert float((y_moved - expected).abs().max()) < 1e-12


def test_D_rejects_non_orthogonal():
    with pytest.raises(ValueError):
        Irreps("1o").D_from_matrix(2 * torch.eye(3))


# ----------------------------------------------------------------------------- against e3nn
IRREPS_STRINGS = ["16x0e + 8x1o + 4x2e", "1o + 0e + 1e + 0o + 1o + 2x0e", "0e + 3x2o + 2x1e + 0e + 0e + 5x3o", ""]


@pytest.mark.parametrize("text", IRREPS_STRINGS)
def test_sort_simplify_match_e3nn(text):
    e3o = pytest.importorskip("e3nn.o3")
    ours, theirs = Irreps(text), e3o.Irreps(text)
    assert str(ours) == str(theirs)
    assert ours.dim == theirs.dim and ours.num_irreps == theirs.num_irreps and ours.ls == theirs.ls
    assert str(ours.simplify()) == str(theirs.simplify())
    s, t = ours.sort(), theirs.sort()
    assert str(s.irreps) == str(t.irreps) and tuple(s.p) == tuple(t.p) and tuple(s.inv) == tuple(t.inv)
    assert str(ours.regroup()) == str(theirs.regroup())
    assert ours.slices() == theirs.slices()


def test_D_from_matrix_matches_e3nn():
    e3o = pytest.importorskip("e3nn.o3")
    text = "2x0e + 0o + 1o + 1e + 2e + 2o + 3o + 4e"
    R = _orthogonal(6, 4)
    ours = Irreps(text).D_from_matrix(R)
    theirs = e3o.Irreps(text).D_from_matrix(R)
    # e3nn goes through Euler angles and is accurate to about 1e-6 only, even in float64
    # (measured: max |Y(Rx) - D(R) Y(x)| = 8e-7 for e3nn's D at l = 4, 1e-15 for ours)
    assert float((ours - theirs).abs().max()) < 1e-5
