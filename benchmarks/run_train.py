"""Training-step throughput of every registered task's model on this machine (not a test).

Run with ``python benchmarks/run_train.py [--threads N] [--steps N] [--tasks nbody tetris ...]``.
For each task (and each n-body model) it builds the task's default model and one training
batch of the default batch size (n-body data at its default sizes but only the first batch is
simulated: 100 systems), then times optimiser steps (forward, loss, backward, Adam step) as
``steertorch train`` runs them, after a warm-up, and prints steps per second and the seconds a
training epoch of the default data set would take. Tasks whose data cannot be built here (a
missing optional dependency or data file) are reported and skipped.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from steertorch.train import available_tasks, get_task
from steertorch.train._loop import _move, _optimizer


def _variants(name: str, task) -> list[tuple[str, object]]:
    config = task.Config()
    if name == "nbody":  # one batch worth of systems is enough to time a step
        small = dict(num_train=config.batch_size, num_valid=1, num_test=1, cache=False)
        return [(f"nbody model={m}", dataclasses.replace(config, model=m, **small))
                for m in ("segnn", "egnn", "tfn", "linear")]
    return [(name, config)]


def _epoch_size(name: str, task) -> int:
    c = task.Config()
    return getattr(c, "num_train", 0) or 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--tasks", nargs="*", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), CPU")
    print(f"{'task / model':<24} {'params':>8} {'batch':>6} {'steps/s':>9} {'s/epoch':>9}")
    for name in args.tasks or list(available_tasks()):
        task = get_task(name)
        for label, config in _variants(name, task):
            try:
                data = task.build_data(config)
            except Exception as exc:  # optional dependency or data file absent
                print(f"{label:<24} skipped: {type(exc).__name__}: {exc}")
                continue
            torch.manual_seed(0)
            dtype = getattr(torch, config.dtype)
            model = task.build_model(config).to(dtype=dtype)
            opt = _optimizer(model.parameters(), config)
            train = data["train"]
            n = min(config.batch_size, len(train))
            batch = _move(task.make_batch(train, torch.arange(n)), torch.device("cpu"), dtype)

            def step(task=task, model=model, batch=batch, config=config, opt=opt) -> None:
                loss, _ = task.loss(model, batch, config)
                opt.zero_grad()
                loss.backward()
                opt.step()

            for _ in range(2):
                step()
            times = []
            for _ in range(args.steps):
                t0 = time.perf_counter()
                step()
                times.append(time.perf_counter() - t0)
            best = min(times)
            epoch = _epoch_size(name, task)
            per_epoch = f"{best * epoch / n:9.2f}" if epoch else f"{'-':>9}"
            params = sum(p.numel() for p in model.parameters())
            print(f"{label:<24} {params:>8} {n:>6} {1 / best:>9.1f} {per_epoch}")


if __name__ == "__main__":
    main()
