"""e3nn.math names in steertorch.math (bessel, direct_sum, orthonormalize, complete_basis, perm, germinate_formulas,
reduce_permutation): e3nn 0.6's values on the same inputs, and the properties they promise."""

import math

import pytest
import torch

import steertorch.math as sm
from steertorch.math import perm

e3math = pytest.importorskip("e3nn.math")
e3perm = pytest.importorskip("e3nn.math.perm")

F64 = torch.float64


# e3nn builds its constants in the default dtype: float64 for exact reference values
pytestmark = pytest.mark.usefixtures("float64_default")


def test_the_names_are_there():
    assert {x for x in dir(e3math) if not x.startswith("_")} <= set(dir(sm))
    assert {x for x in e3perm.__dict__ if not x.startswith("_") and callable(getattr(e3perm, x))
            and getattr(e3perm, x).__module__ == e3perm.__name__} <= set(perm.__all__)


@pytest.mark.parametrize("x_max", [1.0, 2.5])
def test_bessel_equals_e3nn_and_is_orthonormal(x_max):
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.zeros(1, dtype=F64), x_max * torch.rand(200, dtype=F64, generator=g)])
    torch.testing.assert_close(sm.bessel(x, 6, x_max), e3math.bessel(x, 6, x_max), rtol=1e-13, atol=1e-13)
    r = torch.linspace(0, x_max, 20001, dtype=F64)
    b = sm.bessel(r, 4, x_max)
    gram = torch.trapezoid(r[:, None, None] ** 2 * b[:, :, None] * b[:, None, :], r, dim=0)
    torch.testing.assert_close(gram, torch.eye(4, dtype=F64), atol=1e-6, rtol=0)
    x0 = torch.zeros(3, dtype=F64, requires_grad=True)
    (g,) = torch.autograd.grad(sm.bessel(x0, 3, x_max).sum(), x0)
    assert bool(torch.isfinite(g).all())
    with pytest.raises(ValueError):
        sm.bessel(x, 0)


def test_direct_sum_equals_e3nn():
    g = torch.Generator().manual_seed(1)
    ms = [torch.randn(2, 2, 3, generator=g, dtype=F64), torch.randn(2, 1, 1, generator=g, dtype=F64)]
    assert torch.equal(sm.direct_sum(*ms), e3math.direct_sum(*ms))


def test_orthonormalize_and_complete_basis_equal_e3nn():
    g = torch.Generator().manual_seed(2)
    a = torch.randn(6, 5, generator=g, dtype=F64)
    a[3] = a[0] - 2 * a[1]  # a dependent row is dropped
    final, matrix = sm.orthonormalize(a)
    ref_final, ref_matrix = e3math.orthonormalize(a)
    assert final.shape == (5, 5)
    torch.testing.assert_close(final, ref_final, rtol=0, atol=1e-13)
    torch.testing.assert_close(matrix, ref_matrix, rtol=0, atol=1e-12)
    torch.testing.assert_close(matrix @ a, final, rtol=0, atol=1e-12)
    torch.testing.assert_close(final @ final.T, torch.eye(5, dtype=F64), rtol=0, atol=1e-13)
    v = sm.orthonormalize(torch.randn(2, 5, generator=g, dtype=F64))[0]
    extra = sm.complete_basis(v)
    torch.testing.assert_close(extra, e3math.complete_basis(v), rtol=0, atol=1e-13)
    full = torch.cat([v, extra])
    torch.testing.assert_close(full @ full.T, torch.eye(5, dtype=F64), rtol=0, atol=1e-13)
    assert sm.orthonormalize(torch.zeros(2, 3, dtype=F64))[0].shape == (0, 3)


@pytest.mark.parametrize("n", range(1, 6))
def test_permutations_equal_e3nn(n):
    assert perm.group(n) == e3perm.group(n) and len(perm.group(n)) == math.factorial(n)
    for i in range(math.factorial(n)):
        p = perm.from_int(i, n)
        assert p == e3perm.from_int(i, n) and perm.to_int(p) == i
        assert perm.inverse(p) == e3perm.inverse(p) and perm.compose(p, perm.inverse(p)) == perm.identity(n)
        assert perm.to_cycles(p) == e3perm.to_cycles(p) and perm.sign(p) == e3perm.sign(p)
        assert torch.equal(perm.natural_representation(p, dtype=F64), e3perm.natural_representation(p, dtype=F64))
        torch.testing.assert_close(perm.standard_representation(p), e3perm.standard_representation(p), rtol=0,
                                   atol=1e-14)
    # representations are homomorphisms; the sign is a character
    q, r = perm.from_int(n * 7 % math.factorial(n), n), perm.rand(n)
    qr = perm.compose(q, r)
    for rep in (perm.natural_representation, perm.standard_representation):
        torch.testing.assert_close(rep(qr, dtype=F64), rep(q, dtype=F64) @ rep(r, dtype=F64), rtol=0, atol=1e-13)
    assert perm.sign(qr) == perm.sign(q) * perm.sign(r)


def test_germinate_and_is_group():
    gens = {(1, 0, 2, 3), (0, 2, 3, 1)}
    assert perm.germinate(gens) == e3perm.germinate(gens)
    assert perm.is_group(perm.germinate(gens)) and not perm.is_group(gens) and not perm.is_group(set())
    assert perm.is_perm((2, 0, 1)) and not perm.is_perm((0, 0, 1))
    with pytest.raises(ValueError):
        perm.compose((0, 1), (0, 1, 2))


@pytest.mark.parametrize("formula,dims", [("ij=-ji", {"i": 3}), ("ijk=jik=ikj", {"i": 3}), ("ijkl=jikl=klij", {"i": 3}),
                                          ("ijk=-jik", {"i": 2, "k": 3}), ("ijk", {"i": 2, "j": 1, "k": 3}),
                                          ("ijkl=-jikl=-ijlk=klij", {"i": 3})])
def test_reduce_permutation_equals_e3nn(formula, dims):
    f0, group = sm.germinate_formulas(formula)
    assert (f0, group) == e3math.germinate_formulas(formula)
    q, orbits = sm.reduce_permutation(f0, group, dtype=F64, **dims)
    ref_q, ref_orbits = e3math.reduce_permutation(f0, group, dtype=F64, **dims)
    assert torch.equal(q, ref_q) and orbits == ref_orbits
    flat = q.reshape(len(q), -1)
    torch.testing.assert_close(flat @ flat.T, torch.eye(len(q), dtype=F64), rtol=0, atol=1e-14)
    for s, p in group:  # every basis tensor has the symmetries
        moved = q.permute(0, *(1 + i for i in perm.inverse(p)))
        torch.testing.assert_close(s * moved, q, rtol=0, atol=0)


def test_reduce_permutation_errors():
    with pytest.raises(ValueError):
        sm.germinate_formulas("ij=jk")
    f0, group = sm.germinate_formulas("ij=ji")
    with pytest.raises(ValueError, match="size"):
        sm.reduce_permutation(f0, group, i=2, j=3)
    with pytest.raises(ValueError, match="no size"):
        sm.reduce_permutation(*sm.germinate_formulas("ij"), i=2)
