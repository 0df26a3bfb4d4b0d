"""Short runs of every task of this branch at tiny sizes, and the loader of the reference n-body arrays."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from steertorch.data import load_nbody_arrays, simulate_charged_particles
from steertorch.train import MissingDataError, fit, get_task

QUIET = dict(log=lambda *a, **k: None)
TINY_NBODY = dict(num_train=20, num_valid=10, num_test=10, batch_size=10, frame_in=1, frame_out=2, cache=False,
                  num_threads=1, epochs=2, hidden=8, num_layers=1)


def test_tetris_smoke(tmp_path):
    task = get_task("tetris")
    result = fit(task, task.Config(epochs=40, copies=2, valid_copies=1, num_threads=1), tmp_path / "run", **QUIET)
    assert set(result) >= {"valid", "test", "test_mirror"}
    assert result["test"]["accuracy"] == 1.0 and result["test_mirror"]["accuracy"] == 1.0


@pytest.mark.parametrize("model", ["segnn", "egnn", "tfn", "linear"])
def test_nbody_smoke(tmp_path, model):
    task = get_task("nbody")
    result = fit(task, task.Config(model=model, **TINY_NBODY), tmp_path / "run", **QUIET)
    assert result["epochs_run"] == 2 and np.isfinite(result["test"]["mse"])
    assert result["num_parameters"] > 0


def _write_reference_files(folder, split: str, systems: int, frames: int, suffix: str = "charged5_initvel1small"):
    """Files of the reference layout: loc / vel [S, T, 3, N], charges [S, N, 1], float64 numpy."""
    pos, vel, charges = simulate_charged_particles(systems, num_frames=frames, sample_every=10,
                                                   generator=torch.Generator().manual_seed(len(split)))
    np.save(folder / f"loc_{split}_{suffix}.npy", pos.permute(1, 0, 3, 2).numpy())
    np.save(folder / f"vel_{split}_{suffix}.npy", vel.permute(1, 0, 3, 2).numpy())
    np.save(folder / f"charges_{split}_{suffix}.npy", charges.numpy())
    return pos, vel, charges


def test_reference_arrays_are_loaded(tmp_path):
    expected = {s: _write_reference_files(tmp_path, s, n, 4) for s, n in (("train", 6), ("valid", 3), ("test", 3))}
    pos, vel, charges = load_nbody_arrays(str(tmp_path), "train")
    torch.testing.assert_close(pos, expected["train"][0], rtol=0, atol=0)
    torch.testing.assert_close(vel, expected["train"][1], rtol=0, atol=0)
    torch.testing.assert_close(charges, expected["train"][2], rtol=0, atol=0)

    task = get_task("nbody")
    config = task.Config(model="linear", data_dir=str(tmp_path), num_train=4, num_valid=3, num_test=3, frame_in=1,
                         frame_out=3, batch_size=2, epochs=1, dtype="float64", num_threads=1)
    data = task.build_data(config)
    assert len(data["train"]) == 4  # the first num_train systems
    torch.testing.assert_close(data["test"].target, expected["test"][0][3], rtol=0, atol=0)
    torch.testing.assert_close(data["valid"].vel, expected["valid"][1][1], rtol=0, atol=0)
    fit(task, config, tmp_path / "run", **QUIET)

    (tmp_path / "vel_test_charged5_initvel1small.npy").unlink()
    with pytest.raises(MissingDataError, match="vel_test_charged5_initvel1small.npy"):
        task.build_data(config)


def _orthogonal(generator: torch.Generator) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=generator, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    return -q if torch.det(q) > 0 else q  # a reflection times a rotation: O(3) \ SO(3)


@pytest.mark.parametrize("model", ["segnn", "egnn", "tfn", "linear"])
def test_nbody_models_are_e3_equivariant(model):
    """Rotating, reflecting and translating the input systems moves the predicted positions the same way."""
    torch.set_default_dtype(torch.float64)
    try:
        task = get_task("nbody")
        config = task.Config(model=model, hidden=8, num_layers=2, dtype="float64")
        torch.manual_seed(0)
        net = task.build_model(config).double()
        if model == "linear":
            with torch.no_grad():
                net.scale.fill_(0.3)
        g = torch.Generator().manual_seed(1)
        pos, vel = torch.randn(3, 5, 3, generator=g), torch.randn(3, 5, 3, generator=g)
        charges = torch.randint(0, 2, (3, 5, 1), generator=g).double() * 2 - 1
        rot, shift = _orthogonal(g), torch.randn(3, generator=g)
        from steertorch.data import nbody_graph

        out = net(nbody_graph(pos, vel, charges, pos))
        moved = net(nbody_graph(pos @ rot.T + shift, vel @ rot.T, charges, pos))
        torch.testing.assert_close(moved, out @ rot.T + shift, rtol=0, atol=1e-11)
        assert (out - pos.reshape(-1, 3)).abs().max() > 1e-3  # not trivially the input
    finally:
        torch.set_default_dtype(torch.float32)


def test_nbody_segnn_attributes_follow_the_reference():
    """Edge harmonics of x_j - x_i (sender minus receiver), node attributes' scalar part 1 (reference code)."""
    from steertorch.data import nbody_graph
    from steertorch.o3 import spherical_harmonics

    task = get_task("nbody")
    net = task.build_model(task.Config(model="segnn", hidden=8, num_layers=1))
    seen = {}
    net.segnn.register_forward_pre_hook(lambda m, args, kwargs: seen.update(kwargs), with_kwargs=True)
    g = torch.Generator().manual_seed(2)
    pos, vel = torch.randn(1, 3, 3, generator=g), torch.randn(1, 3, 3, generator=g)
    b = nbody_graph(pos, vel, torch.ones(1, 3, 1), pos)
    net(b)
    src, dst = b.edge_index
    expected = spherical_harmonics([0, 1], b.pos[src] - b.pos[dst], normalize=True, normalization="integral")
    torch.testing.assert_close(seen["edge_attr"], expected)
    assert torch.equal(seen["node_attr"][:, 0], torch.ones(3))
    mean_edges = torch.stack([expected[dst == i, 1:].mean(0) for i in range(3)])
    vel_sh = spherical_harmonics([0, 1], b.vel, normalize=True, normalization="integral")[:, 1:]
    torch.testing.assert_close(seen["node_attr"][:, 1:], mean_edges + vel_sh)


def test_nbody_on_the_published_initial_states():
    """initial_states="reference": the published set's first systems, the same for every seed."""
    from steertorch.data import reference_initial_states

    task = get_task("nbody")
    config = task.Config(model="linear", initial_states="reference", num_train=3, num_valid=2, num_test=2,
                         frame_in=0, frame_out=1, cache=False, dtype="float64")
    data = task.build_data(config)
    other_seed = task.build_data(task.Config(**{**config.__dict__, "seed": 5}))
    assert torch.equal(data["test"].pos, other_seed["test"].pos)
    states = reference_initial_states(splits=(("train", 10_000), ("valid", 2_000), ("test", 1)))
    pos, vel, charges = simulate_charged_particles(1, num_frames=2, initial=tuple(t[:1] for t in states["test"]))
    torch.testing.assert_close(data["test"].pos[:1], pos[0], rtol=0, atol=0)
    torch.testing.assert_close(data["test"].target[:1], pos[1], rtol=0, atol=0)
    with pytest.raises(ValueError, match="2000 valid systems"):
        task.build_data(task.Config(**{**config.__dict__, "num_valid": 2001}))
    with pytest.raises(ValueError, match="give one of them"):
        task.build_data(task.Config(**{**config.__dict__, "data_dir": "/nonexistent"}))
