"""Selection rules against the textbook tables (Nye, Physical Properties of Crystals; ITA vol. A 10.2)."""

import pytest
import torch

from steertorch.o3 import CartesianTensor, Irreps, rand_matrix
from steertorch.symmetry import invariant_basis, point_group

from .molecules import molecule

# the 32 crystallographic point groups (Schoenflies) and their crystal system
SYSTEMS = {
    "triclinic": ["C1", "Ci"], "monoclinic": ["C2", "Cs", "C2h"], "orthorhombic": ["D2", "C2v", "D2h"],
    "tetragonal": ["C4", "S4", "C4h", "D4", "C4v", "D2d", "D4h"], "trigonal": ["C3", "S6", "D3", "C3v", "D3d"],
    "hexagonal": ["C6", "C3h", "C6h", "D6", "C6v", "D3h", "D6h"], "cubic": ["T", "Th", "O", "Td", "Oh"],
}
GROUPS = [g for gs in SYSTEMS.values() for g in gs]
POLAR = {"C1", "Cs", "C2", "C2v", "C3", "C3v", "C4", "C4v", "C6", "C6v"}
CENTROSYMMETRIC = {"Ci", "C2h", "D2h", "C4h", "D4h", "S6", "D3d", "C6h", "D6h", "Th", "Oh"}
# independent piezoelectric moduli d_ijk = d_ikj (Nye, table of the 32 classes)
PIEZO = {"C1": 18, "C2": 8, "Cs": 10, "D2": 3, "C2v": 5, "C4": 4, "S4": 4, "D4": 1, "C4v": 3, "D2d": 2,
         "C3": 6, "D3": 2, "C3v": 4, "C6": 4, "C3h": 2, "D6": 1, "C6v": 3, "D3h": 1, "T": 1, "Td": 1, "O": 0}
DIELECTRIC = {"triclinic": 6, "monoclinic": 4, "orthorhombic": 3, "tetragonal": 2, "trigonal": 2, "hexagonal": 2,
              "cubic": 1}
# independent elastic constants c_ijkl = c_jikl = c_ijlk = c_klij
ELASTIC = {"C1": 21, "Ci": 21, "C2": 13, "Cs": 13, "C2h": 13, "D2": 9, "C2v": 9, "D2h": 9,
           "C4": 7, "S4": 7, "C4h": 7, "D4": 6, "C4v": 6, "D2d": 6, "D4h": 6,
           "C3": 7, "S6": 7, "D3": 6, "C3v": 6, "D3d": 6, **{g: 5 for g in SYSTEMS["hexagonal"]},
           **{g: 3 for g in SYSTEMS["cubic"]}}


def _count(group, irreps):
    return invariant_basis(group, irreps).shape[0]


def test_polarisation_only_in_the_ten_polar_classes():
    assert {g for g in GROUPS if _count(g, "1o") > 0} == POLAR
    assert all(_count(g, "1o") == 0 for g in CENTROSYMMETRIC)


def test_piezoelectric_tensor():
    piezo = CartesianTensor("ijk=ikj")
    assert piezo.dim == 18
    for g in GROUPS:
        assert _count(g, piezo) == PIEZO.get(g, 0), g
    assert all(g not in PIEZO for g in CENTROSYMMETRIC)


def test_dielectric_and_elastic_tensors():
    dielectric, elastic = CartesianTensor("ij=ji"), CartesianTensor("ijkl=jikl=ijlk=klij")
    for system, groups in SYSTEMS.items():
        for g in groups:
            assert _count(g, dielectric) == DIELECTRIC[system], g
            assert _count(g, elastic) == ELASTIC[g], g
    assert _count("Dinfh", elastic) == 5  # transversely isotropic


def test_rows_are_orthonormal_invariant_and_span_the_fixed_space():
    irreps = Irreps("2x0e + 1o + 1e + 2e + 2o + 3o")
    _, pos, species = molecule("ammonia")
    R = rand_matrix(dtype=torch.float64)
    pg = point_group(pos @ R.T, species)
    rows = invariant_basis(pg, irreps)
    assert torch.allclose(rows @ rows.T, torch.eye(len(rows), dtype=torch.float64), atol=1e-12)
    D = irreps.D_from_matrix(pg.elements)
    assert torch.allclose(rows @ D.transpose(-1, -2), rows.expand(len(D), -1, -1), atol=1e-10)
    # in the structure's frame: the same count as for C3v, and the rows are those of C3v rotated
    std = invariant_basis("C3v", irreps)
    assert len(rows) == len(std)
    rotated = std @ irreps.D_from_matrix(pg.frame)  # rows D(F^T) v of the standard rows v
    assert torch.allclose(rotated @ rows.T @ rows, rotated, atol=1e-10)
    # a vector outside the span is moved by some element
    v = torch.randn(irreps.dim, dtype=torch.float64)
    v = v - rows.T @ (rows @ v)
    assert (D @ v - v).norm(dim=-1).max() > 1e-3


def test_cartesian_rows_give_the_allowed_tensors():
    dielectric = CartesianTensor("ij=ji")
    eps = dielectric.to_cartesian(invariant_basis("C4v", dielectric))  # uniaxial: diag(a, a, b)
    assert torch.allclose(eps[:, 0, 0], eps[:, 1, 1]) and (eps - torch.diag_embed(torch.diagonal(eps, 0, 1, 2))
                                                           ).abs().max() < 1e-12


@pytest.mark.parametrize("group", ["X9", 3])
def test_unknown_group(group):
    with pytest.raises(ValueError):
        invariant_basis(group, "1o")
