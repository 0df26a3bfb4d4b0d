"""Induced representations of finite groups: homomorphism, orthogonality, Frobenius' character formula, the
coset-basis block structure and reciprocity."""

import pytest
import torch

from steertorch.group import cyclic_group, dihedral_group, induced_representation, octahedral_group, so2_group
from steertorch.group._group import float64_default

CASES = [(dihedral_group(4), "C4"), (cyclic_group(8), "C4"), (cyclic_group(8), "C2"), (dihedral_group(6), "D3"),
         (octahedral_group(), "D4")]


def _matrices(group, rep):
    with float64_default():
        return rep(group.elements()).to(torch.float64)


@pytest.mark.parametrize("group, sub_name", CASES, ids=lambda c: getattr(c, "name", c))
def test_induced_is_an_orthogonal_representation_with_frobenius_character(group, sub_name):
    sub, include = group.subgroup(sub_name)
    els = group.elements()
    cayley = group.compose(els[:, None], els[None, :])
    h_in_g = include(sub.elements()).tolist()
    for psi in sub.irreps():
        rho = induced_representation(group, sub, psi)
        assert rho.size == psi.size * group.order // sub.order
        m = _matrices(group, rho)
        assert float((m[:, None] @ m[None, :] - m[cayley]).abs().max()) < 1e-12
        assert float((m @ m.transpose(1, 2) - torch.eye(rho.size, dtype=torch.float64)).abs().max()) < 1e-12
        # Frobenius: chi(g) = (1/|H|) sum_{x in G, x^-1 g x in H} chi_psi(x^-1 g x)
        with float64_default():
            chi_psi = torch.diagonal(psi(sub.elements()).to(torch.float64), dim1=-2, dim2=-1).sum(-1)
        expected = torch.zeros(group.order, dtype=torch.float64)
        for g in range(group.order):
            conj = group.compose(group.inverse(els), group.compose(torch.tensor(g), els)).tolist()
            expected[g] = sum(float(chi_psi[h_in_g.index(c)]) for c in conj if c in h_in_g) / sub.order
        assert torch.allclose(torch.diagonal(m, dim1=-2, dim2=-1).sum(-1), expected, atol=1e-10)


@pytest.mark.parametrize("group, sub_name", CASES, ids=lambda c: getattr(c, "name", c))
def test_induced_matrices_permute_blocks_of_psi(group, sub_name):
    sub, include = group.subgroup(sub_name)
    psi = max(sub.irreps(), key=lambda p: p.size)
    rho = induced_representation(group, sub, psi)
    d, k = psi.size, rho.size // psi.size
    m = _matrices(group, rho).reshape(group.order, k, d, k, d)
    nonzero = m.pow(2).sum((2, 4)) > 1e-12  # [g, i, j]
    assert bool((nonzero.sum(-1) == 1).all() and (nonzero.sum(-2) == 1).all())  # a permutation of the cosets
    # the identity coset block of an element of H is psi(h) itself (r_1 is the identity)
    h = sub.elements()
    with float64_default():
        expected = psi(h).to(torch.float64)
    assert torch.allclose(m[include(h), 0, :, 0, :], expected, atol=1e-12)


def test_frobenius_reciprocity():
    """<Ind psi, phi>_G = <psi, Res phi>_H: multiplicity of each G-irrep phi in Ind psi equals that of psi in
    phi restricted to H."""
    group = dihedral_group(6)
    sub, _ = group.subgroup("C3")
    for psi in sub.irreps():
        ind = induced_representation(group, sub, psi).multiplicities()
        for phi in group.irreps():
            res = phi.restrict(sub).multiplicities()
            assert ind.get(phi.label, 0) * phi.endomorphism_dim == res.get(psi.label, 0) * psi.endomorphism_dim


def test_induced_bad_input():
    with pytest.raises(ValueError, match="not finite"):
        induced_representation(so2_group(), "C4", cyclic_group(4).irrep(1))
    d4 = dihedral_group(4)
    with pytest.raises(ValueError, match="representation of the subgroup C4"):
        induced_representation(d4, "C4", cyclic_group(8).irrep(1))
