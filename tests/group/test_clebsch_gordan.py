"""Clebsch-Gordan coefficients of every group: equivariance, orthonormality, completeness,
multiplicities from characters, and SO(3)'s against the Wigner 3j symbols."""

import math

import pytest
import torch

from steertorch.group import group_from_name, so3_group
from steertorch.o3 import wigner_3j

#: largest frequency / degree of the continuous groups' irreps in the tests
CG_BAND = 6

USE_GROUP_FIXTURES = True  # float64 default and the group parametrization of conftest.py


def _labels(G):
    return [psi.label for psi in (G.irreps() if G.is_finite else G.irreps(CG_BAND))]


def _elements(G, n=6):
    if G.is_finite:
        return G.elements()
    return G.sample(n, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def _trace(m):
    return torch.diagonal(m, dim1=-2, dim2=-1).sum(-1)


def test_clebsch_gordan(group):
    """For every pair of irreps and every irrep of the product: C [m, da, db, dc] is an isometric intertwiner,
    the copies are orthogonal, and the pieces fill da * db."""
    G = group
    g = _elements(G)
    labels = _labels(G)
    values = {lab: G.irrep(lab)(g) for lab in labels}
    for a in labels:
        for b in labels:
            da, db = values[a].shape[-1], values[b].shape[-1]
            rho = torch.einsum("nij,nkl->nikjl", values[a], values[b]).reshape(-1, da * db, da * db)
            total = 0
            columns = []
            for c, m in G.tensor_product_multiplicities(a, b):
                psi_c = G.irrep(c)
                cg = G.clebsch_gordan(a, b, c)
                assert cg.dtype == torch.float64
                assert cg.shape == (m, da, db, psi_c.size), (G.name, a, b, c)
                q = cg.reshape(m, da * db, psi_c.size)
                out = values[c] if c in values else psi_c(g)
                err = (rho[:, None] @ q[None] - q[None] @ out[:, None]).abs().max()
                assert err <= 1e-10, (G.name, a, b, c, float(err))
                gram = torch.einsum("kia,lib->kalb", q, q).reshape(m * psi_c.size, m * psi_c.size)
                assert (gram - torch.eye(m * psi_c.size)).abs().max() < 1e-10, (G.name, a, b, c)
                total += m * psi_c.size
                columns.append(q.permute(1, 0, 2).reshape(da * db, -1))
            assert total == da * db, (G.name, a, b)
            # the pieces of different irreps are orthogonal too: together an orthogonal change of basis
            full = torch.cat(columns, dim=1)
            assert (full.T @ full - torch.eye(da * db)).abs().max() < 1e-10, (G.name, a, b)


def test_multiplicities_match_characters(group):
    """tensor_product_multiplicities (analytic for SO(2), O(2), SO(3)) equals <chi_c, chi_a chi_b> / dim End."""
    G = group
    band = 3
    labels = [psi.label for psi in (G.irreps() if G.is_finite else G.irreps(2 * band))]
    q, w = G.quadrature(0 if G.is_finite else 4 * band)  # exact for chi_a chi_b chi_c
    chi = {lab: _trace(G.irrep(lab)(q)) for lab in labels}
    small = labels if G.is_finite else [psi.label for psi in G.irreps(band)]
    for a in small:
        for b in small:
            expected = {}
            for c in labels:
                m = float((w * chi[a] * chi[b] * chi[c]).sum()) / G.irrep(c).endomorphism_dim
                assert abs(m - round(m)) < 1e-8
                if round(m):
                    expected[c] = round(m)
            assert dict(G.tensor_product_multiplicities(a, b)) == expected, (G.name, a, b)


def test_absent_irrep_gives_empty_coefficients():
    G = so3_group()
    assert G.clebsch_gordan(1, 1, 3).shape == (0, 3, 3, 7)
    O = group_from_name("O")
    assert O.clebsch_gordan("A2", "A2", "E").shape == (0, 1, 1, 2)
    assert O.clebsch_gordan("A2", "A2", "A1").shape == (1, 1, 1, 1)


@pytest.mark.parametrize("l1, l2", [(l1, l2) for l1 in range(CG_BAND + 1) for l2 in range(CG_BAND + 1)])
def test_so3_matches_wigner_3j(l1, l2):
    G = so3_group()
    for l3 in range(abs(l1 - l2), l1 + l2 + 1):
        cg = G.clebsch_gordan(l1, l2, l3)
        expected = math.sqrt(2 * l3 + 1) * wigner_3j(l1, l2, l3, dtype=torch.float64)
        assert torch.allclose(cg[0], expected, atol=1e-12, rtol=0)


def test_o3_parity_selection():
    G = group_from_name("O3")
    assert dict(G.tensor_product_multiplicities("1o", "1o")) == {(0, 1): 1, (1, 1): 1, (2, 1): 1}
    assert G.clebsch_gordan("1o", "1o", "1o").shape[0] == 0
    assert torch.equal(G.clebsch_gordan("1o", "2e", "3o"), so3_group().clebsch_gordan(1, 2, 3))


def test_point_group_tensor_products():
    """Known products: T1 x T1 = A1 + E + T1 + T2 in O; H x H = A + T1 + T2 + G + 2 H in I; E x E = A + 2 E
    (complex type, four real dimensions as one real E twice) in T."""
    O = group_from_name("O")
    assert sorted(O.irrep(c).name for c, _ in O.tensor_product_multiplicities("T1", "T1")) == ["A1", "E", "T1", "T2"]
    I = group_from_name("I")
    mult = {I.irrep(c).name: m for c, m in I.tensor_product_multiplicities("H", "H")}
    assert mult == {"A": 1, "T1": 1, "T2": 1, "G": 2, "H": 2}
    T = group_from_name("T")
    mult = {T.irrep(c).name: m for c, m in T.tensor_product_multiplicities("E", "E")}
    assert mult == {"A": 2, "E": 1}
    Oh = group_from_name("Oh")
    assert {Oh.irrep(c).name for c, _ in Oh.tensor_product_multiplicities("T1u", "T1u")} == {"A1g", "Eg", "T1g", "T2g"}
