"""Checkpoints are written atomically: a writer killed mid-save never leaves a partial file at the path."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from steertorch.train import atomic_save, load_checkpoint

WRITER = """
import sys, torch
from steertorch.train import atomic_save
big = {"w": torch.full((12_000_000,), 2.0)}  # 48 MB
print("ready", flush=True)
while True:
    atomic_save(big, sys.argv[1])
"""


def test_killed_writer_never_leaves_a_partial_checkpoint(tmp_path: Path):
    path = tmp_path / "last.pt"
    atomic_save({"w": torch.ones(3)}, path)
    src = Path(__file__).resolve().parents[2] / "src"
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.3)  # the writer spends nearly all its time writing 48 MB files: killed mid-write
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    w = load_checkpoint(path)["w"]  # complete: the old or a new file, never part of one
    assert (w.shape == (3,) and bool((w == 1).all())) or (w.shape == (12_000_000,) and bool((w == 2).all()))
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "last.pt"]
    assert all(name.startswith(".last.pt.") and name.endswith(".tmp") for name in leftovers), leftovers


def test_checkpoints_load_with_weights_only(tmp_path: Path):
    class Evil:
        def __reduce__(self):
            return (print, ("code ran",))

    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    try:
        load_checkpoint(tmp_path / "evil.pt")
    except Exception as exc:  # weights_only refuses arbitrary objects
        assert "weights_only" in str(exc) or "Unsupported" in str(exc)
    else:
        raise AssertionError("a pickled object was loaded")
