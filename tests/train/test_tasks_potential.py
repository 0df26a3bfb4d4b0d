"""The ``potential`` task: forces are -dE/dx of the model, the force loss reaches the parameters (double
backward), the model runs in ASE through the calculator, and a tiny run trains."""

from __future__ import annotations

import math

import pytest
import torch

pytest.importorskip("ase")

from steertorch.train import fit, get_task  # noqa: E402

torch.set_num_threads(1)
_TINY = dict(num_train=6, num_valid=2, num_test=2, repeat=1, interval=2, cache=False, mul=4, num_layers=1,
             r_max=3.0, batch_size=3)


def _setup():
    task = get_task("potential")
    config = task.Config(**_TINY)
    torch.manual_seed(0)
    data = task.build_data(config)
    model = task.build_model(config).double()
    return task, config, data, model


def test_force_loss_trains_the_model_through_double_backward():
    task, config, data, model = _setup()
    batch = data["train"].batch(torch.arange(3))
    assert batch["pos"].shape == (12, 3) and batch["cell"].shape == (3, 3, 3)
    config.energy_weight = 0.0  # forces only: their gradient reaches the weights only through double backward
    loss, metrics = task.loss(model, batch, config)
    loss.backward()
    radial = [p for n, p in model.named_parameters() if "radial" in n]
    assert radial and all(p.grad is not None for p in radial)
    assert max(float(p.grad.abs().max()) for p in radial) > 0
    assert metrics["force_mae"] > 0 and math.isfinite(float(metrics["energy_mae"]))
    # the model's scale and shift come from the training frames (force RMS, mean energy per atom)
    frames = data["train"].frames
    assert float(model.scale) == pytest.approx(float(frames.forces.pow(2).mean().sqrt()))
    assert float(model.shift) == pytest.approx(float(frames.energy.mean() / 4))


def test_forces_are_the_energy_gradient_and_the_ase_calculator_agrees():
    from steertorch.ase import Calculator
    from steertorch.models import energy_and_forces

    task, config, data, model = _setup()
    frames = data["test"].frames
    from ase import Atoms

    atoms = Atoms(numbers=frames.numbers.numpy(), positions=frames.pos[0].numpy(), cell=frames.cell.numpy(),
                  pbc=True)
    atoms.calc = Calculator(model)
    e, f = atoms.get_potential_energy(), torch.tensor(atoms.get_forces())
    with torch.no_grad():  # as in evaluation: the task's loss computes forces under no_grad too
        _, metrics = task.loss(model, data["test"].batch(torch.tensor([0])), config)
    assert float(metrics["force_mae"]) == pytest.approx(1000 * float((f - frames.forces[0]).abs().mean()), rel=1e-9)
    h = 1e-5
    pos = frames.pos[0].clone()
    from steertorch.graph import radius_graph

    def energy(p):
        ei, sh = radius_graph(p, config.r_max, cell=frames.cell)
        return float(energy_and_forces(model, p, edge_index=ei, shifts=sh, cell=frames.cell)[0].detach())

    assert energy(pos) == pytest.approx(e, rel=1e-12)
    pos[1, 2] += h
    up = energy(pos)
    pos[1, 2] -= 2 * h
    down = energy(pos)
    assert -(up - down) / (2 * h) == pytest.approx(float(f[1, 2]), abs=1e-7)


def test_smoke_run(tmp_path):
    task = get_task("potential")
    result = fit(task, task.Config(epochs=2, **_TINY), tmp_path / "run", log=lambda *a, **k: None)
    assert math.isfinite(result["test"]["force_mae"]) and math.isfinite(result["test"]["energy_mae"])
    assert result["num_parameters"] > 0
