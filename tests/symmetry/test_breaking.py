"""Symmetry breaking (Smidt, Geiger, Miller 2021): the order parameters of the lecture's examples."""

import pytest
import torch

from steertorch.o3 import FullyConnectedTensorProduct, Irreps, spherical_harmonics
from steertorch.symmetry import break_symmetry, invariant_basis, point_group

ORDER = Irreps("0e + 1o + 1e + 2e + 2o")


class Displacement(torch.nn.Module):
    """Equivariant displacement of each point: Y(r_i) (x) [1 (+) delta] -> 1o, with learned path weights."""

    def __init__(self, irreps_order=ORDER):
        super().__init__()
        self.tp = FullyConnectedTensorProduct("0e + 1o + 2e", Irreps("0e") + irreps_order, "1o")

    def forward(self, pos, delta):
        y = spherical_harmonics([0, 1, 2], pos, normalize=True)
        feat = torch.cat([delta.new_ones(1), delta]).expand(len(pos), -1)
        return pos + self.tp(y, feat)


def _run(pos, target):
    torch.manual_seed(0)
    model = Displacement().double()
    pg = point_group(pos)
    return pg, break_symmetry(model, pos, target, ORDER, symmetry=pg, steps=250, lr=0.03, seed=0)


def test_square_to_rectangle_needs_x2_minus_y2():
    square = torch.tensor([[1.0, 1.0, 0.0], [-1.0, 1.0, 0.0], [-1.0, -1.0, 0.0], [1.0, -1.0, 0.0]],
                          dtype=torch.float64)
    rectangle = square * torch.tensor([1.2, 0.8, 1.0], dtype=torch.float64)
    pg, r = _run(square, rectangle)
    assert pg.name == "D4h"
    assert r.loss < 1e-4
    assert [ir for ir, _ in r.needed] == ["2e"]
    assert r.remaining == "D2h"
    # the 2e block is x^2 - y^2: invariant under D2h (axes x, y, z), orthogonal to the D4h invariant 2z^2 - x^2 - y^2
    q = r.order_parameter[ORDER.slices()[3]]
    d2h, d4h = invariant_basis("D2h", "2e"), invariant_basis("D4h", "2e")
    breaking = q - d4h.T @ (d4h @ q)  # the part that D4h moves
    assert breaking.norm() > 0.9 * q.norm()  # the penalty removes most of the part that is not needed
    assert (d2h.T @ (d2h @ breaking) - breaking).norm() < 1e-3 * breaking.norm()


def test_octahedral_tilt_needs_an_axial_vector():
    octahedron = torch.cat([torch.eye(3), -torch.eye(3)]).double()
    tilt = torch.tensor([0.0, 0.0, 0.15], dtype=torch.float64)
    target = octahedron + torch.linalg.cross(tilt.expand(6, 3), octahedron)  # rotation about z, linearised
    pg, r = _run(octahedron, target)
    assert pg.name == "Oh"
    assert r.loss < 1e-4
    assert [ir for ir, _ in r.needed] == ["1e"]
    assert r.remaining == "C4h"
    axial = r.order_parameter[ORDER.slices()[2]]
    assert abs(float(axial[2])) > 0.99 * float(axial.norm())  # along the tilt axis


def test_symmetric_target_needs_nothing_that_breaks_symmetry():
    square = torch.tensor([[1.0, 1.0, 0.0], [-1.0, 1.0, 0.0], [-1.0, -1.0, 0.0], [1.0, -1.0, 0.0]],
                          dtype=torch.float64)
    _, r = _run(square, 1.1 * square)
    assert r.loss < 1e-4
    assert r.remaining == "D4h"


def test_bad_arguments():
    with pytest.raises(ValueError, match="nn.Module"):
        break_symmetry(lambda x, d: x, torch.zeros(1, 3), torch.zeros(1, 3), "1o")
    with pytest.raises(ValueError, match="steps"):
        break_symmetry(Displacement(), torch.zeros(1, 3), torch.zeros(1, 3), ORDER, steps=0)
