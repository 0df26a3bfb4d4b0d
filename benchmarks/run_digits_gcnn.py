"""Rotated digits: a C8 G-CNN against a plain CNN of similar size, both trained on upright digits only.

Run with ``python3 benchmarks/run_digits_gcnn.py`` (about 4 minutes on one CPU thread with the defaults).

Data: :func:`steertorch.data.digits`, classes 0-8 (9 is a turned 6, see the docs), a fresh batch of upright
digits at every training step (seeded; the augmented reference draws rotated ones), evaluated on 2000 upright
digits and on the same digits rotated by uniformly random angles, and by 30, 45 and 90 degrees.

Models (float32):

* G-CNN: ``LiftingConv2d`` (C8, 1 -> 6 regular fields, 5x5) -> ReLU -> ``GroupConv2d`` (6 -> 6, 5x5) -> ReLU ->
  3x3 max pooling with stride 2 and padding 1 (windows centred on the even pixels: symmetric on the 29-pixel
  grid, unlike 2x2 windows, which drop the last row and column) -> ``GroupConv2d`` (6 -> 8, 3x3) -> ReLU ->
  ``GroupPooling`` -> global average -> linear;
  invariant to quarter turns exactly, to 45-degree turns approximately;
* CNN: the same layout with ``Conv2d`` (1 -> 16 -> 16 -> 16 channels) and a similar number of parameters;
* for reference, the same CNN trained on randomly rotated digits (data augmentation: it sees every angle).

Both are trained with Adam (lr 5e-3, halved every quarter of the run), batch 64, cross-entropy. The script
prints the parameter counts, training time, the accuracies and the change of the G-CNN's logits under a quarter
turn of the input.
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from torch import nn

from steertorch.data import digits
from steertorch.gspaces import rot2dOnR2
from steertorch.nn import FieldType, GroupConv2d, GroupPooling, LiftingConv2d

CLASSES = tuple(range(9))


def gcnn(c1: int = 6, c2: int = 8, n_classes: int = len(CLASSES)) -> nn.Sequential:
    """The C8 G-CNN described in the module docstring."""
    gs = rot2dOnR2(8)
    return nn.Sequential(
        LiftingConv2d(gs, 1, c1, 5, padding=2), nn.ReLU(),
        GroupConv2d(gs, c1, c1, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1),
        GroupConv2d(gs, c1, c2, 3, padding=1), nn.ReLU(),
        GroupPooling(FieldType(gs, [gs.regular_repr] * c2)), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(c2, n_classes),
    )


def cnn(c: int = 16, n_classes: int = len(CLASSES)) -> nn.Sequential:
    """A plain CNN with the same layout."""
    return nn.Sequential(
        nn.Conv2d(1, c, 5, padding=2), nn.ReLU(),
        nn.Conv2d(c, c, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1),
        nn.Conv2d(c, c, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(c, n_classes),
    )


def train(model: nn.Module, steps: int, batch: int, seed: int, rotate: bool = False) -> float:
    """Train on fresh upright (or, with ``rotate``, randomly rotated) digits; returns the wall time in seconds."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, steps // 4), gamma=0.5)
    t0 = time.perf_counter()
    model.train()
    for _ in range(steps):
        x, y = digits(batch, classes=CLASSES, rotate=rotate, generator=gen)
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return time.perf_counter() - t0


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    return float(torch.cat([model(xb).argmax(1) for xb in x.split(500)]).eq(y).float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--test", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    def test_set(rotate):
        return digits(args.test, classes=CLASSES, rotate=rotate, generator=torch.Generator().manual_seed(12345))

    sets = {"upright": test_set(False), "rotated (uniform)": test_set(True), "30 deg": test_set(math.pi / 6),
            "45 deg": test_set(math.pi / 4), "90 deg": test_set(math.pi / 2)}
    rows = []
    for name, build, augment in (("C8 G-CNN", gcnn, False), ("CNN", cnn, False),
                                 ("CNN, trained on rotated digits", cnn, True)):
        torch.manual_seed(args.seed)
        model = build()
        n_params = sum(p.numel() for p in model.parameters())
        seconds = train(model, args.steps, args.batch, args.seed, rotate=augment)
        accs = {k: accuracy(model, *v) for k, v in sets.items()}
        rows.append((name, n_params, seconds, accs))
        if name == "C8 G-CNN":
            x = sets["upright"][0][:200]
            with torch.no_grad():
                logits = model(x)
                change = float((model(torch.rot90(x, 1, (2, 3))) - logits).abs().max() / logits.abs().max())
            print(f"C8 G-CNN: max change of the logits under a quarter turn (float32): {change:.1e}")
    print(f"\n{args.steps} steps x batch {args.batch}, classes 0-8, {args.threads} thread(s), seed {args.seed}")
    header = "| model | parameters | train time | " + " | ".join(rows[0][3]) + " |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for name, n_params, seconds, accs in rows:
        print(f"| {name} | {n_params} | {seconds:.0f} s | " + " | ".join(f"{100 * a:.1f}%" for a in accs.values())
              + " |")


if __name__ == "__main__":
    main()
