"""The broken-symmetry tasks ``nbody_field`` and ``shapes``: short runs at tiny sizes, exact equivariance of their
models under the chosen group (float64), the symmetry actually broken for rotations outside it, the field in the
data, and the roughly equal parameter counts of the default widths."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from steertorch.data import nbody_graph
from steertorch.graph import Graph, knn_graph
from steertorch.train import fit, get_task
from steertorch.train.tasks._field_groups import field_gspace

QUIET = dict(log=lambda *a, **k: None)
COMBOS = [(g, k) for g in ("o3", "so3", "o2", "so2") for k in ("implicit", "analytic")]
TINY_FIELD = dict(num_train=8, num_valid=4, num_test=4, batch_size=4, frame_in=1, frame_out=2, cache=False,
                  num_threads=1, epochs=2, hidden=2, mlp_hidden=4, num_layers=1)
TINY_SHAPES = dict(num_train=2, num_valid=1, num_test=1, batch_size=5, num_points=8, k=3, num_threads=1, epochs=2,
                   hidden=2, mlp_hidden=4, num_layers=1, num_invariants=4)


def _rotation_about_x(angle: float) -> torch.Tensor:
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]], dtype=torch.float64)


def _group_matrices(group: str, n: int, seed: int) -> list[torch.Tensor]:
    gs = field_gspace(group)
    g = gs.fibergroup.sample(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return [gs.basespace_action(g[i]).to(torch.float64) for i in range(n)]


@pytest.mark.parametrize("group,kernel", [("o3", "implicit"), ("o2", "analytic"), ("so2", "implicit")])
def test_nbody_field_smoke(tmp_path, group, kernel):
    task = get_task("nbody_field")
    result = fit(task, task.Config(group=group, kernel=kernel, **TINY_FIELD), tmp_path / "run", **QUIET)
    assert result["epochs_run"] == 2 and np.isfinite(result["test"]["mse"]) and result["num_parameters"] > 0


@pytest.mark.parametrize("group,kernel", [("o3", "analytic"), ("o2", "implicit")])
def test_shapes_smoke(tmp_path, group, kernel):
    task = get_task("shapes")
    result = fit(task, task.Config(group=group, kernel=kernel, **TINY_SHAPES), tmp_path / "run", **QUIET)
    assert result["epochs_run"] == 2 and 0.0 <= result["test"]["accuracy"] <= 1.0


def test_nbody_field_data_has_the_field():
    """With E_z > 0 positive charges are pushed up and negative ones down (by q E t^2 / 2 over the frames)."""
    task = get_task("nbody_field")
    config = task.Config(num_train=40, num_valid=1, num_test=1, frame_in=0, frame_out=5, cache=False,
                         external_field=1.0, dtype="float64")
    split = task.build_data(config)["train"]
    dz = (split.target - split.pos)[..., 2]
    q = split.charges[..., 0]
    up, down = dz[q > 0].mean(), dz[q < 0].mean()
    # t = 0.5 from frame 0 to 5: q E t^2 / 2 = +-0.125 from the field alone, with the interactions as noise
    assert float(up - down) > 0.15


@pytest.mark.parametrize("group,kernel", COMBOS)
def test_nbody_field_model_equivariant(group, kernel):
    """Rotating / reflecting by elements of the model's group and translating the inputs moves the predicted
    positions the same way (float64); a rotation about x is a symmetry only of the O(3) and SO(3) models."""
    task = get_task("nbody_field")
    config = task.Config(group=group, kernel=kernel, hidden=2, mlp_hidden=4, num_layers=2, dtype="float64")
    torch.manual_seed(0)
    model = task.build_model(config).double()
    g = torch.Generator().manual_seed(1)
    pos = 2 * torch.randn(3, 5, 3, generator=g, dtype=torch.float64)
    vel = torch.randn(3, 5, 3, generator=g, dtype=torch.float64)
    charges = torch.randint(0, 2, (3, 5, 1), generator=g).double() * 2 - 1
    y = model(nbody_graph(pos, vel, charges, pos))
    assert y.pow(2).mean() > 1e-2  # not trivially zero
    for m in _group_matrices(group, 4, seed=2):
        t = torch.randn(3, generator=g, dtype=torch.float64)
        y2 = model(nbody_graph(pos @ m.T + t, vel @ m.T, charges, pos))
        torch.testing.assert_close(y2, y @ m.T + t, rtol=0, atol=1e-10)
    rx = _rotation_about_x(0.7)
    err = (model(nbody_graph(pos @ rx.T, vel @ rx.T, charges, pos)) - y @ rx.T).abs().max()
    if group in ("o3", "so3"):
        assert err < 1e-10
    else:
        assert err > 1e-3


def _shape_graphs(pos: torch.Tensor, k: int = 4) -> Graph:
    return Graph.collate([Graph(pos=p, edge_index=knn_graph(p, k), y=torch.zeros(1, dtype=torch.long)) for p in pos])


@pytest.mark.parametrize("group,kernel", COMBOS)
def test_shapes_model_invariant(group, kernel):
    """Class logits are invariant to the model's group, translations and the order of the points (float64); a
    rotation about x changes them for the z-subgroup models only."""
    task = get_task("shapes")
    config = task.Config(group=group, kernel=kernel, hidden=2, mlp_hidden=4, num_layers=2, num_invariants=4,
                         dtype="float64")
    torch.manual_seed(0)
    model = task.build_model(config).double()
    g = torch.Generator().manual_seed(3)
    pos = 0.5 * torch.randn(2, 10, 3, generator=g, dtype=torch.float64)
    logits = model(_shape_graphs(pos))
    for m in _group_matrices(group, 4, seed=4):
        t = torch.randn(3, generator=g, dtype=torch.float64)
        torch.testing.assert_close(model(_shape_graphs(pos @ m.T + t)), logits, rtol=0, atol=1e-10)
    perm = torch.randperm(10, generator=g)
    torch.testing.assert_close(model(_shape_graphs(pos[:, perm])), logits, rtol=0, atol=1e-10)
    err = (model(_shape_graphs(pos @ _rotation_about_x(0.7).T)) - logits).abs().max()
    if group in ("o3", "so3"):
        assert err < 1e-10
    else:
        assert err > 1e-4


@pytest.mark.parametrize("name", ["nbody_field", "shapes"])
def test_default_widths_give_roughly_equal_parameter_counts(name):
    task = get_task(name)
    counts = {}
    for group, kernel in COMBOS:
        model = task.build_model(task.Config(group=group, kernel=kernel))
        counts[group, kernel] = sum(p.numel() for p in model.parameters())
    assert max(counts.values()) <= 1.3 * min(counts.values()), counts
