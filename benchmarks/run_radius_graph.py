"""Radius-graph benchmark: cell-list ``radius_graph`` at 10k, 100k and 1M random points.

Run with ``python benchmarks/run_radius_graph.py [--threads 2] [--sizes 10000 100000 1000000]``.
Points are uniform in a cube whose size keeps the density fixed, so that a point has about
25 neighbours within r = 1 on average; the time per point should stay flat (linear scaling).
At 10k points the brute-force reference (full distance matrix) is timed in the same process,
interleaved with ours, and their ratio printed (> 1 means the cell list is faster). Also
times a periodic cell of 10k points. Best of several repeats (the machine is shared).
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from steertorch.graph import radius_graph

NEIGHBOURS = 25.0
R = 1.0


def cloud(n: int, seed: int = 0) -> tuple[torch.Tensor, float]:
    density = NEIGHBOURS / (4 / 3 * math.pi * R**3)
    side = (n / density) ** (1 / 3)
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, generator=g) * side, side


def brute_force(pos: torch.Tensor, r: float, chunk: int = 1000) -> torch.Tensor:
    """All N^2 distances (rows in chunks, same formula as ours so that boundary cases agree)."""
    edges = []
    for start in range(0, pos.shape[0], chunk):
        d2 = (pos[start:start + chunk, None] - pos[None]).pow(2).sum(-1)
        i, j = (d2 < r * r).nonzero(as_tuple=True)
        i = i + start
        keep = i != j
        edges.append(torch.stack([j[keep], i[keep]]))
    return torch.cat(edges, dim=1)


def best_of(fns: dict, repeats: int) -> dict:
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: min(v) for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    print(f"radius_graph, r = {R}, ~{NEIGHBOURS:.0f} neighbours per point, {args.threads} threads, {device}")
    print(f"{'points':>10} {'edges':>11} {'time [s]':>10} {'us/point':>9}  reference")
    for n in args.sizes:
        pos, side = cloud(n)
        pos = pos.to(device)

        def ours(pos=pos):
            e = radius_graph(pos, R)
            sync()
            return e

        e = ours()
        repeats = 5 if n <= 100_000 else 2
        fns = {"ours": ours}
        if n <= 10_000:
            def ref(pos=pos):
                out = brute_force(pos, R)
                sync()
                return out
            assert torch.equal(ref(), e), "cell list and brute force disagree"
            fns["brute"] = ref
        t = best_of(fns, repeats)
        line = f"{n:>10} {e.shape[1]:>11} {t['ours']:>10.4f} {1e6 * t['ours'] / n:>9.2f}"
        if "brute" in t:
            line += f"  brute force {t['brute']:.4f} s (brute / ours = {t['brute'] / t['ours']:.1f})"
        print(line, flush=True)
    # periodic cell of the same density
    pos, side = cloud(10_000, seed=1)
    pos = pos.to(device)
    cell = torch.eye(3, device=device) * side
    t = best_of({"pbc": lambda: radius_graph(pos, R, cell=cell)}, 5)["pbc"]
    e, _ = radius_graph(pos, R, cell=cell)
    print(f"{'10000 pbc':>10} {e.shape[1]:>11} {t:>10.4f} {1e6 * t / 10_000:>9.2f}")


if __name__ == "__main__":
    main()
