r"""Print the markdown tables of docs/results.md for the broken-symmetry tasks from their run directories.

Reads ``RUNS/{task}{tag}-{group}-{kernel}-s{seed}/results.json`` (as written by ``steertorch train``) for the tasks
``nbody_field`` (test MSE) and ``shapes`` (test accuracy) and prints one row per (group, kernel): parameters, epochs
(best epoch of each seed), train time per run, the test metric of each seed and their mean +- standard deviation.
With ``--baselines`` it also prints the test MSE of two fixed predictions on the ``nbody_field`` test split of seed 0
(frames 30 -> 40 and 0 -> 10): :math:`x + v\,\Delta t` and :math:`x + v\,\Delta t + q E \Delta t^2 / 2` along z
(:math:`\Delta t = 1`: 10 frames of 100 steps of 0.001), and how visible the field is in the input velocities (the
mean of :math:`q v` over each system's particles: along z, and across).

Run: ``python benchmarks/summarize_field_runs.py [RUNS] [--baselines]`` (default ``runs``).
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

GROUPS = {"o3": "O(3)", "so3": "SO(3)", "o2": "O(2) about z", "so2": "SO(2) about z"}
METRIC = {"nbody_field": ("mse", "test MSE", "{:.4f}"), "shapes": ("accuracy", "test accuracy (random yaw)", "{:.3f}")}


#: (task, run-name tag, title): the default runs and the variants of docs/results.md
VARIANTS = [("nbody_field", "", "nbody_field (frame 30 -> 40)"),
            ("nbody_field", "-early", "nbody_field-early (--set frame_in=0 --set frame_out=10)"),
            ("shapes", "", "shapes (trained upright)"),
            ("shapes", "-trainyaw", "shapes-trainyaw (--set train_yaw=true)")]


def main(root: Path) -> None:
    for task, tag, title in VARIANTS:
        key, label, fmt = METRIC[task]
        print(f"\n{title}\n")
        print(f"| group | kernel | parameters | seeds | epochs (best) | train time per run | {label} | mean +- std |")
        print("|---|---|---|---|---|---|---|---|")
        for group, gname in GROUPS.items():
            for kernel in ("implicit", "analytic"):
                runs = sorted(root.glob(f"{task}{tag}-{group}-{kernel}-s[0-9]*/results.json"))
                if not runs:
                    continue
                res = [json.loads(p.read_text()) for p in runs]
                seeds = [r["config"]["seed"] for r in res]
                values = [r["test"][key] for r in res]
                times = [r["train_seconds"] / 60 for r in res]
                mean = fmt.format(statistics.mean(values))
                std = f" +- {fmt.format(statistics.stdev(values))}" if len(values) > 1 else ""
                epochs = f"{res[0]['epochs_run']} ({', '.join(str(r['best_epoch']) for r in res)})"
                print(f"| {gname} | {kernel} | {res[0]['num_parameters']:,} | {', '.join(map(str, seeds))} | {epochs} "
                      f"| {min(times):.1f}-{max(times):.1f} min | {', '.join(fmt.format(v) for v in values)} "
                      f"| **{mean}{std}** |")


def baselines() -> None:
    import torch

    from steertorch.train import get_task

    task = get_task("nbody_field")
    for frames in ((30, 40), (0, 10)):
        config = task.Config(frame_in=frames[0], frame_out=frames[1])
        test = task.build_data(config)["test"]
        dt = (config.frame_out - config.frame_in) * 100 * 1e-3
        field = torch.tensor([0.0, 0.0, config.external_field], dtype=test.pos.dtype)
        drift = test.pos + dt * test.vel
        kicked = drift + 0.5 * dt**2 * test.charges * field
        print(f"\nnbody_field test (seed 0, frame {frames[0]} -> {frames[1]}): x + v dt: MSE "
              f"{float((drift - test.target).pow(2).mean()):.4f}; x + v dt + q E dt^2 / 2: MSE "
              f"{float((kicked - test.target).pow(2).mean()):.4f}")
        # how visible the field is in the input: the mean of q v over each system's particles
        qv = (test.charges * test.vel).mean(1)
        print(f"  mean of q v per system: z {float(qv[:, 2].mean()):.2f} +- {float(qv[:, 2].std()):.2f}, "
              f"xy rms {float(qv[:, :2].pow(2).sum(-1).mean().sqrt()):.2f}")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--baselines"]
    main(Path(args[0] if args else "runs"))
    if "--baselines" in sys.argv[1:]:
        baselines()
