"""Cartesian tensors with index symmetries: irreps as e3nn, round trips, O(3) equivariance, caching, errors."""

from __future__ import annotations

import pickle

import pytest
import torch

from steertorch import o3
from steertorch.o3 import CartesianTensor, ReducedTensorProducts
from steertorch.o3 import _cartesian_tensor as ct_module

TOL = 1e-10

# formula, index irreps, expected irreps_out
CASES = [
    ("ij=ji", {"i": "1o"}, "0e + 2e"),
    ("ij=-ji", {"i": "1o"}, "1e"),
    ("ijk=jik=ikj", {"i": "1o"}, "1o + 3o"),
    ("ijk=-jik=-ikj", {"i": "1o"}, "0o"),
    ("ijkl=jikl=klij", {"i": "1o"}, "2x0e + 2x2e + 4e"),
    ("ijkl=jikl=ikjl=ijlk", {"i": "1e"}, "0e + 2e + 4e"),
    ("ij", {"i": "1o", "j": "0e + 2e"}, "2x1o + 2o + 3o"),
    ("ijk=jik", {"i": "1o + 2e", "k": "1o"}, None),
]


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _orthogonal(n: int, seed: int = 0) -> torch.Tensor:
    """Random rotations, every second one composed with the inversion (improper)."""
    R = o3.rand_matrix(n, generator=_gen(seed), dtype=torch.float64)
    R[1::2] = -R[1::2]
    assert (torch.linalg.det(R[1::2]) < 0).all()
    return R


def _rotate_cartesian(T: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
    """(R x R x ... x R) T for T [B, 3, ..., 3] and R [B, 3, 3]."""
    n = T.dim() - 1
    for k in range(n):
        T = torch.movedim(torch.einsum("bij,b...j->b...i", R, torch.movedim(T, k + 1, -1)), -1, k + 1)
    return T


def _symmetrize(T: torch.Tensor, formula: str) -> torch.Tensor:
    f0, group = ct_module._parse_formula(formula)
    return ct_module._symmetrize(T, group, len(f0))


# ----------------------------------------------------------------------------- irreps
@pytest.mark.parametrize("formula, irreps, expected", CASES)
def test_irreps_out(formula, irreps, expected):
    rtp = ReducedTensorProducts(formula, **irreps)
    if expected is not None:
        assert rtp.irreps_out == o3.Irreps(expected)
    dims = [irr.dim for irr in rtp.irreps_in]
    assert rtp.change_of_basis.shape == (rtp.irreps_out.dim, *dims)


@pytest.mark.parametrize("formula, irreps, expected", CASES)
def test_irreps_out_equal_e3nn(formula, irreps, expected):
    e3nn_o3 = pytest.importorskip("e3nn.o3")
    ours = ReducedTensorProducts(formula, **irreps).irreps_out
    theirs = e3nn_o3.ReducedTensorProducts(formula, **irreps).irreps_out
    assert str(ours) == str(theirs)


@pytest.mark.parametrize("formula", ["ij=ji", "ij=-ji", "ijk=jik=ikj", "ijkl=jikl=klij", "ijk=-jik=-ikj"])
def test_cartesian_tensor_irreps_equal_e3nn(formula):
    e3nn_io = pytest.importorskip("e3nn.io")
    assert str(CartesianTensor(formula)) == str(e3nn_io.CartesianTensor(formula))


@pytest.mark.parametrize("formula", ["ij=ji", "ij=-ji", "ijk=jik=ikj", "ijkl=jikl=klij", "ijkl=jilk=klij"])
def test_cartesian_basis_equals_e3nn(formula):
    """Not promised in general (mixed index irreps give another basis of the same span), but true for
    these Cartesian formulas today: a change here changes stored coefficients and must be documented."""
    e3nn_io = pytest.importorskip("e3nn.io")
    ours = CartesianTensor(formula).reduced_tensor_products().change_of_basis_as(torch.float64)
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        theirs = e3nn_io.CartesianTensor(formula).reduced_tensor_products().change_of_basis
    finally:
        torch.set_default_dtype(old)
    assert (ours - theirs).abs().max() <= 1e-9


def test_filters_equal_e3nn():
    e3nn_o3 = pytest.importorskip("e3nn.o3")
    kw = dict(formula="ijk=jik", i="1o", k="1o")
    cases = [(["0e", "1o", "2e"], None), (None, ["0e", "1e", "1o"]), (["1o", "3o"], ["0e", "2e", "1o", "3o"])]
    for f_out, f_mid in cases:
        ours = ReducedTensorProducts(filter_ir_out=f_out, filter_ir_mid=f_mid, **kw)
        theirs = e3nn_o3.ReducedTensorProducts(filter_ir_out=f_out, filter_ir_mid=f_mid, **kw)
        assert str(ours.irreps_out) == str(theirs.irreps_out)
        assert ours.change_of_basis.shape == theirs.change_of_basis.shape and ours.irreps_out.dim > 0


def test_elasticity_tensor_has_21_degrees_of_freedom():
    ct = CartesianTensor("ijkl=jikl=klij")
    assert ct == o3.Irreps("2x0e + 2x2e + 1x4e") and ct.dim == 21
    # an isotropic elastic tensor (Lame parameters) has only scalar components
    d = torch.eye(3, dtype=torch.float64)
    lam, mu = 1.3, 0.7
    C = lam * torch.einsum("ij,kl->ijkl", d, d) + mu * (torch.einsum("ik,jl->ijkl", d, d)
                                                       + torch.einsum("il,jk->ijkl", d, d))
    x = ct.from_cartesian(C)
    scalars = torch.zeros(21, dtype=torch.bool)
    scalars[:2] = True
    assert x[~scalars].abs().max() <= TOL and x[scalars].abs().min() > 0.1
    assert (ct.to_cartesian(x) - C).abs().max() <= TOL


def test_antisymmetric_matrix_is_the_cross_product_pseudovector():
    ct = CartesianTensor("ij=-ji")
    assert ct == o3.Irreps("1e")
    a, b = torch.randn(2, 5, 3, generator=_gen(), dtype=torch.float64)
    x = ct.from_cartesian(a[:, :, None] * b[:, None, :] - b[:, :, None] * a[:, None, :])
    c = torch.linalg.cross(a, b)
    sign = float((x * c).sum().sign())
    assert (x - sign * 2**0.5 * c).abs().max() <= TOL  # |Q_k| = 1 and Q_k is proportional to epsilon_k
    # as a 1e irrep it transforms as det(R) R, the law of a cross product
    R = _orthogonal(4)
    ra, rb = torch.einsum("bij,bj->bi", R, a[:4]), torch.einsum("bij,bj->bi", R, b[:4])
    D = o3.Irrep("1e").D_from_matrix(R)
    assert (torch.linalg.cross(ra, rb) - (D @ c[:4, :, None])[..., 0]).abs().max() <= TOL


# ----------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("formula", ["ij=ji", "ij=-ji", "ijk=jik=ikj", "ijkl=jikl=klij", "ijkl=jilk=klij"])
def test_round_trips(formula):
    ct = CartesianTensor(formula)
    n = len(ct.indices)
    T = _symmetrize(torch.randn(7, *([3] * n), generator=_gen(), dtype=torch.float64), formula)
    x = ct.from_cartesian(T)
    assert x.shape == (7, ct.dim)
    assert (ct.to_cartesian(x) - T).abs().max() <= TOL
    y = torch.randn(4, ct.dim, generator=_gen(1), dtype=torch.float64)
    Ty = ct.to_cartesian(y)
    assert Ty.shape == (4, *([3] * n))
    assert (_symmetrize(Ty, formula) - Ty).abs().max() <= TOL  # outputs have the symmetries
    assert (ct.from_cartesian(Ty) - y).abs().max() <= TOL
    # a tensor without the symmetries: the round trip is the orthogonal projection on them
    U = torch.randn(3, *([3] * n), generator=_gen(2), dtype=torch.float64)
    assert (ct.to_cartesian(ct.from_cartesian(U)) - _symmetrize(U, formula)).abs().max() <= TOL


@pytest.mark.parametrize("formula, irreps, expected", CASES)
def test_change_of_basis_rows_are_orthonormal(formula, irreps, expected):
    q = ReducedTensorProducts(formula, **irreps).change_of_basis_as(torch.float64).flatten(1)
    assert (q @ q.T - torch.eye(q.shape[0], dtype=torch.float64)).abs().max() <= TOL


# ----------------------------------------------------------------------------- equivariance
@pytest.mark.parametrize("formula", ["ij=ji", "ij=-ji", "ijk=jik=ikj", "ijk=-jik=-ikj", "ijkl=jikl=klij", "ijk"])
def test_cartesian_equivariance(formula):
    ct = CartesianTensor(formula)
    n = len(ct.indices)
    R = _orthogonal(6, seed=3)
    D = ct.D_from_matrix(R)
    x = torch.randn(6, ct.dim, generator=_gen(4), dtype=torch.float64)
    err = (ct.to_cartesian((D @ x[..., None])[..., 0]) - _rotate_cartesian(ct.to_cartesian(x), R)).abs().max()
    assert err <= TOL
    T = _symmetrize(torch.randn(6, *([3] * n), generator=_gen(5), dtype=torch.float64), formula)
    err = (ct.from_cartesian(_rotate_cartesian(T, R)) - (D @ ct.from_cartesian(T)[..., None])[..., 0]).abs().max()
    assert err <= TOL


@pytest.mark.parametrize("formula, irreps, expected", CASES)
def test_change_of_basis_intertwines(formula, irreps, expected):
    rtp = ReducedTensorProducts(formula, **irreps)
    q = rtp.change_of_basis_as(torch.float64).flatten(1)
    R = _orthogonal(4, seed=6)
    kron = rtp.irreps_in[0].D_from_matrix(R)
    for irr in rtp.irreps_in[1:]:
        D = irr.D_from_matrix(R)
        kron = torch.einsum("bij,bkl->bikjl", kron, D).reshape(4, kron.shape[-1] * D.shape[-1], -1)
    assert (rtp.irreps_out.D_from_matrix(R) @ q - q @ kron).abs().max() <= TOL


def test_forward_is_the_reduced_product_of_vectors():
    rtp = ReducedTensorProducts("ijk=jik", i="1o", k="0e + 1e")
    x, y = torch.randn(2, 5, 3, generator=_gen(), dtype=torch.float64)
    z = torch.randn(5, 4, generator=_gen(1), dtype=torch.float64)
    q = rtp.change_of_basis_as(torch.float64)
    expected = torch.einsum("aijk,bi,bj,bk->ba", q, x, y, z)
    out = rtp.to(torch.float64)(x, y, z)
    assert out.shape == (5, rtp.irreps_out.dim) and (out - expected).abs().max() <= 1e-6
    # symmetric in the exchanged vectors, and equivariant
    assert (rtp(x, y, z) - rtp(y, x, z)).abs().max() <= 1e-6
    ct = CartesianTensor("ij=ji")
    a, b = torch.randn(2, 3, generator=_gen(2), dtype=torch.float64)
    assert (ct.from_vectors(a, b) - ct.from_cartesian(torch.outer(a, b))).abs().max() <= TOL


# ----------------------------------------------------------------------------- caching
def test_basis_is_built_once_and_shared(monkeypatch):
    ct = CartesianTensor("ijkl=jikl=klij")
    rtp = ct.reduced_tensor_products()
    assert rtp is CartesianTensor("ijkl=jikl=klij").reduced_tensor_products()
    assert rtp.change_of_basis_as(torch.float64) is rtp.change_of_basis_as(torch.float64)

    def fail(*args, **kwargs):
        raise AssertionError("the reduced basis was rebuilt")

    # any rebuild would go through these: make them fail, then call a thousand times
    monkeypatch.setattr(ct_module, "_coupling_paths", fail)
    monkeypatch.setattr(ct_module, "_parse_formula", fail)
    T = torch.randn(3, 3, 3, 3, generator=_gen(), dtype=torch.float64)
    first = ct.from_cartesian(T)
    for _ in range(1000):
        out = ct.from_cartesian(T)
    assert torch.equal(out, first)
    assert ct.to_cartesian(first).shape == (3, 3, 3, 3)


def test_basis_is_deterministic():
    _, _, irreps, q = ct_module._reduced_basis("ijkl=jikl=klij", (("i", "1x1o"),), None, None, 1e-9)
    _, _, irreps2, q2 = ct_module._reduced_basis.__wrapped__("ijkl=jikl=klij", (("i", "1x1o"),), None, None, 1e-9)
    assert irreps == irreps2 and torch.equal(q, q2)


def test_dtypes_devices_and_state_dict():
    ct = CartesianTensor("ij=ji")
    for dtype in (torch.float32, torch.float64):
        t = torch.randn(2, 3, 3, dtype=dtype)
        assert ct.from_cartesian(t).dtype == dtype and ct.to_cartesian(ct.from_cartesian(t)).dtype == dtype
    rtp = ReducedTensorProducts("ij=ji", i="1o")
    assert "change_of_basis" not in rtp.state_dict()  # a constant, not saved
    assert rtp.to(torch.float64).change_of_basis.dtype == torch.float64
    ct2 = pickle.loads(pickle.dumps(ct))
    assert ct2 == ct and ct2.formula == "ij=ji" and isinstance(ct2, CartesianTensor)


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("formula, irreps, match", [
    ("ij=jk", {"i": "1o"}, "inconsistent indices"),
    ("ij=ijk", {"i": "1o"}, "inconsistent indices"),
    ("ij", {"i": "1o"}, "index 'j' .* has no irreps"),
    ("ij=ji", {}, "has no irreps"),
    ("iij", {"i": "1o"}, "repeats an index"),
    ("ij=ji=-ji", {"i": "1o"}, "contradictory"),
    ("ij=", {"i": "1o"}, "empty term"),
    ("i1=1i", {"i": "1o"}, "letters"),
    ("ij=ji", {"i": "1o", "j": "1e"}, "same irreps"),
    ("ij=ji", {"i": "1o", "k": "1o"}, "not an index"),
])
def test_bad_formulas_raise(formula, irreps, match):
    with pytest.raises(ValueError, match=match):
        ReducedTensorProducts(formula, **irreps)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="inconsistent indices"):
        CartesianTensor("ij=jk")
    ct = CartesianTensor("ij=ji")
    with pytest.raises(ValueError, match=r"expects tensors \[\.\.\., 3, 3\]"):
        ct.from_cartesian(torch.randn(3, 4))
    with pytest.raises(ValueError, match=r"irreps coefficients \[\.\.\., 6\]"):
        ct.to_cartesian(torch.randn(5))
    rtp = ReducedTensorProducts("ij=ji", i="1o")
    with pytest.raises(ValueError, match="expected 2 inputs"):
        rtp(torch.randn(3))
    with pytest.raises(ValueError, match="filter_ir_out"):
        ReducedTensorProducts("ij=ji", filter_ir_out=[3.5], i="1o")
