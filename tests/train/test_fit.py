"""The training loop: a resumed run equals an uninterrupted one bit for bit; a non-finite loss stops the run
and keeps the last good checkpoint; the run directory's files; ``steertorch eval``."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from steertorch.cli import main
from steertorch.train import NonFiniteLossError, fit, get_task, load_checkpoint

QUIET = dict(log=lambda *a, **k: None)


def _tiny(model: str = "egnn", **kw):
    task = get_task("nbody")
    values = dict(model=model, hidden=8, num_layers=2, epochs=4, num_train=40, num_valid=10, num_test=10,
                  batch_size=10, frame_in=1, frame_out=2, cache=False, num_threads=1)
    return task, task.Config(**{**values, **kw})


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_resume_equals_uninterrupted_run_bit_for_bit(tmp_path, schedule):
    task, config = _tiny(lr_schedule=schedule, grad_clip=1.0)
    fit(task, config, tmp_path / "full", **QUIET)

    def interrupt(line: str = "", *args, **kwargs) -> None:  # stopped (as by Ctrl-C) once epoch 2 is written
        if line.startswith("epoch    2/4"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(task, config, tmp_path / "part", log=interrupt)
    assert load_checkpoint(tmp_path / "part" / "last.pt")["epoch"] == 2
    fit(task, config, tmp_path / "part", resume=True, **QUIET)
    full, part = (load_checkpoint(tmp_path / r / "last.pt") for r in ("full", "part"))
    assert full["epoch"] == part["epoch"] == 4
    for key, value in full["model"].items():
        assert torch.equal(value, part["model"][key]), key
    assert [r["train_loss"] for r in full["history"]] == [r["train_loss"] for r in part["history"]]
    # each epoch's order depends on (seed, epoch) only: a different seed gives other parameters
    fit(task, dataclasses.replace(config, seed=1), tmp_path / "other", **QUIET)
    other = load_checkpoint(tmp_path / "other" / "last.pt")["model"]
    assert not all(torch.equal(v, other[k]) for k, v in full["model"].items())


def test_run_directory_contents_and_eval(tmp_path, capsys):
    task, config = _tiny(model="linear", lr=0.05, epochs=3)
    result = fit(task, config, tmp_path / "run", **QUIET)
    run = tmp_path / "run"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3] and all("valid_mse" in r for r in rows)
    assert (run / "metrics.csv").read_text().splitlines()[0].startswith("epoch,lr,train_loss")
    info = json.loads((run / "run.json").read_text())
    assert info["config"]["model"] == "linear" and info["version"] == result["version"]
    best = load_checkpoint(run / "best.pt")
    assert best["epoch"] == result["best_epoch"] and best["config"]["lr"] == 0.05
    assert main(["eval", str(run), "--split", "test"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["mse"] == pytest.approx(result["test"]["mse"], rel=1e-6)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    task, config = _tiny(model="linear", epochs=4)
    original = type(task).loss
    calls = {"n": 0}

    def loss(self, model, batch, cfg):  # the 10th training step (epoch 3) returns NaN
        value, metrics = original(self, model, batch, cfg)
        if model.training:
            calls["n"] += 1
            if calls["n"] == 10:
                value = value * float("nan")
        return value, metrics

    monkeypatch.setattr(type(task), "loss", loss)
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss \(nan\) at epoch 3, step 2.*epoch 2"):
        fit(task, config, tmp_path / "run", **QUIET)
    last = load_checkpoint(tmp_path / "run" / "last.pt")
    assert last["epoch"] == 2 and all(torch.isfinite(v).all() for v in last["model"].values())
