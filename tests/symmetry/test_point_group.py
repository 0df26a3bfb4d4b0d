import math

import pytest
import torch

from steertorch.o3 import rand_matrix
from steertorch.symmetry import point_group, standard_elements

from .molecules import MOLECULES, molecule

ORDERS = {"C1": 1, "C2": 2, "C2v": 4, "C3v": 6, "C2h": 4, "S4": 4, "D2d": 8, "D3d": 12, "D5h": 20, "D5d": 20,
          "Td": 24, "D6h": 24, "Oh": 48, "Ih": 120}


def _moved(pos: torch.Tensor, seed: int, noise: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    R = rand_matrix(generator=g, dtype=torch.float64)
    shift = torch.randn(3, generator=g, dtype=torch.float64) * 5
    jitter = (torch.rand(pos.shape, generator=g, dtype=torch.float64) * 2 - 1) * noise
    return (pos + jitter) @ R.T + shift


def _same_set(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-8) -> bool:
    d = (a.reshape(len(a), 1, 9) - b.reshape(1, len(b), 9)).norm(dim=-1)
    return len(a) == len(b) and bool((d.min(1).values < atol).all() and (d.min(0).values < atol).all())


@pytest.mark.parametrize("name", list(MOLECULES))
def test_molecules_rotated_translated_with_small_noise(name):
    expected, pos, species = molecule(name)
    tol = 0.05
    moved = _moved(pos, seed=list(MOLECULES).index(name), noise=0.01)  # |noise| <= 0.017 < tol
    pg = point_group(moved, species, tol=tol)
    assert pg.name == expected
    # the frame takes the elements to the standard group of that name, exactly
    assert torch.allclose(pg.frame @ pg.frame.T, torch.eye(3, dtype=torch.float64), atol=1e-10)
    assert torch.det(pg.frame) > 0
    assert _same_set(pg.frame @ pg.elements @ pg.frame.T, standard_elements(expected))
    if expected in ORDERS:
        assert pg.order == ORDERS[expected] == pg.group.order
        # every element maps the structure to itself (same species) within the tolerance
        x = moved - pg.center
        for g in pg.elements:
            d = torch.cdist(x @ g.T, x)
            d[species[:, None] != species[None, :]] = math.inf
            assert d.min(1).values.max() <= 2 * tol


@pytest.mark.parametrize("name", [n for n in MOLECULES if MOLECULES[n][0] not in ("C1", "Cinfv")])
def test_noise_above_tolerance_lowers_the_symmetry(name):
    expected, pos, species = molecule(name)
    pg = point_group(_moved(pos, seed=1, noise=0.3), species, tol=0.02)
    assert pg.name != expected
    if expected in ORDERS:
        assert pg.order < ORDERS[expected]


def test_species_must_match():
    _, pos, species = molecule("water")
    assert point_group(pos, species).name == "C2v"
    assert point_group(pos, torch.tensor([1, 8, 1])).name == "Cs"  # the H at the "O" site: only the plane


def test_vector_attributes_lower_the_symmetry():
    _, pos, species = molecule("methane")
    v = torch.zeros_like(pos)
    v[0] = torch.tensor([0.0, 0.0, 1.0])  # a vector on the carbon along a 2-fold (S4) axis
    assert point_group(pos, species, vectors=v).name == "C2v"


def test_standard_frame_of_water_puts_the_c2_axis_on_z():
    _, pos, species = molecule("water")
    pg = point_group(_moved(pos, 3, 0.0), species)
    aligned = pg.to_standard_frame(_moved(pos, 3, 0.0))
    assert torch.allclose(aligned[0, :2], torch.zeros(2, dtype=torch.float64), atol=1e-9)  # O on the z axis


@pytest.mark.parametrize("bad, match", [
    (dict(pos=torch.zeros(0, 3)), "empty"),
    (dict(pos=torch.tensor([[0.0, 0.0, float("nan")]])), "non-finite"),
    (dict(pos=torch.tensor([[0.0, 0.0, float("inf")]])), "non-finite"),
    (dict(pos=torch.zeros(2, 2)), r"\[N, 3\]"),
    (dict(pos=torch.zeros(2, 3), tol=0.0), "tol"),
    (dict(pos=torch.zeros(2, 3), tol=-1.0), "tol"),
    (dict(pos=torch.zeros(2, 3), species=torch.zeros(3, dtype=torch.long)), "species"),
    (dict(pos=torch.zeros(2, 3), vectors=torch.zeros(3, 3)), "vectors"),
])
def test_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        point_group(**bad)


def test_species_are_matched_for_every_atom():
    # the mirror y -> -y fixes X and Y (the reference atoms) but swaps A and B: no symmetry with species
    pos = torch.tensor([[0.0, 0.0, 2.0], [2.0, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, -0.5, 0.0]], dtype=torch.float64)
    assert point_group(pos, torch.tensor([1, 2, 3, 4])).name == "C1"
    assert point_group(pos, torch.tensor([1, 2, 3, 3])).name == "Cs"
