"""Upright shape families: shapes, labels, normalisation, determinism, uprightness, class-specific geometry."""

import pytest
import torch

from steertorch.data import SHAPE_CLASSES, upright_shapes


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_shapes_labels_normalisation_and_determinism():
    pos, labels = upright_shapes(3, num_points=200, generator=_gen())
    assert pos.shape == (15, 200, 3) and pos.dtype == torch.float64
    assert labels.tolist() == [c for c in range(len(SHAPE_CLASSES)) for _ in range(3)]
    r = pos.norm(dim=-1).amax(1)
    assert torch.allclose(r, torch.ones_like(r))  # each fits the unit ball, touching it
    pos2, _ = upright_shapes(3, num_points=200, generator=_gen())
    assert torch.equal(pos, pos2)
    pos3, _ = upright_shapes(3, num_points=200, generator=_gen(1))
    assert not torch.equal(pos, pos3)
    assert upright_shapes(1, num_points=8, dtype=torch.float32)[0].dtype == torch.float32


def test_shapes_are_upright_and_yaw_only_turns_about_z():
    pos, labels = upright_shapes(4, num_points=400, generator=_gen(2))
    flat, _ = upright_shapes(4, num_points=400, yaw=False, generator=_gen(2))
    # the yaw is a rotation about z: heights and horizontal radii unchanged
    assert torch.allclose(pos[..., 2], flat[..., 2])
    assert torch.allclose(pos[..., :2].norm(dim=-1), flat[..., :2].norm(dim=-1))
    name = dict(enumerate(SHAPE_CLASSES))
    for p, lab in zip(flat, labels.tolist()):
        z, rho = p[:, 2], p[:, :2].norm(dim=-1)
        if name[lab] == "cone":  # apex up: the horizontal radius shrinks with height
            assert rho[z > z.quantile(0.8)].mean() < rho[z <= z.quantile(0.2)].mean()
        if name[lab] == "torus":  # flat in the xy plane, a hole in the middle
            assert z.abs().max() < 0.5 * rho.max() and rho.min() > 0.3
        if name[lab] == "cylinder":  # the side is a circle about z
            side = (z.abs() < z.abs().max() - 1e-9)
            assert torch.allclose(rho[side], rho[side].max().expand(int(side.sum())))
        if name[lab] == "chair":  # the backrest rises above the seat on one side (+y) only
            top = p[z > z.max() - 0.05]
            assert top[:, 1].min() > 0


def test_shapes_errors():
    with pytest.raises(ValueError, match="num_points"):
        upright_shapes(1, num_points=0)
    with pytest.raises(ValueError, match="noise"):
        upright_shapes(1, noise=-1.0)
