"""``torchrun --nproc_per_node 2 -m steertorch train ...`` on CPU (gloo): replicas stay identical and the
losses and parameters equal the single-process run's up to rounding; only rank 0 writes files."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from steertorch.train import fit, get_task, load_checkpoint

SETTINGS = dict(hidden=8, num_layers=1, num_train=40, num_valid=10, num_test=10, batch_size=10,
                frame_in=1, frame_out=2, cache=False, epochs=2, num_threads=1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                    reason="torch.distributed with gloo is not available")
@pytest.mark.parametrize("model", ["segnn", "egnn"])
def test_two_gloo_processes_match_one(tmp_path: Path, model: str):
    settings = {**SETTINGS, "model": model}
    src = Path(__file__).resolve().parents[2] / "src"
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1"}
    sets = [a for k, v in settings.items() if k != "epochs" for a in ("--set", f"{k}={v}")]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), "-m", "steertorch", "train", "nbody", *sets,
           "--epochs", str(settings["epochs"]), "--out", str(tmp_path / "ddp"), "--no-progress"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("epoch    1/2") == 1  # only rank 0 prints (and writes)
    results = json.loads((tmp_path / "ddp" / "results.json").read_text())
    assert results["world_size"] == 2 and results["replica_max_abs_diff"] == 0.0

    task = get_task("nbody")
    fit(task, task.Config(**settings), tmp_path / "one", log=lambda *a: None)
    two, one = (load_checkpoint(tmp_path / r / "last.pt") for r in ("ddp", "one"))
    for a, b in zip(two["history"], one["history"]):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5, abs=1e-7)
        assert a["valid_mse"] == pytest.approx(b["valid_mse"], rel=1e-5, abs=1e-7)
    for key, value in one["model"].items():
        torch.testing.assert_close(two["model"][key], value, rtol=1e-4, atol=1e-6)
