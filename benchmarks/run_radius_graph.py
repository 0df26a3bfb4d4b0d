"""Radius-graph benchmark: ``radius_graph`` (compiled cell list) vs its torch twin, vesin and scipy.

Run with ``python benchmarks/run_radius_graph.py`` (``--sizes 10000 100000 1000000``, ``--neighbours 9``,
``--rounds 3``, ``--memory 10000000``). Points are uniform in a cube whose size keeps the density fixed, so that a
point has ``--neighbours`` neighbours within r = 1 on average. For each size, in one process and interleaved
(one call of each per round), the median wall time of:

* ``ours 1t`` / ``ours 2t``: ``steertorch.graph.radius_graph`` with 1 and 2 threads: the full directed graph,
  ``edge_index`` sorted by target then source (its compiled kernel on CPU);
* ``torch twin``: the same search on the pure-torch path (the GPU path), 1 thread;
* ``vesin``: ``vesin.NeighborList(cutoff, full_list=True).compute(..., quantities="ij")``: the full directed list,
  unsorted (the fastest CPU library; ``pip install vesin``), and ``vesin sorted`` = that plus the sort by
  (target, source) that our output has;
* ``cKDTree``: ``scipy.spatial.cKDTree(pos).query_pairs(r, output_type="ndarray")``: the undirected half, unsorted
  (informational).

The outputs are checked equal (as sets of directed pairs) to vesin's. Ratios are the reference's time over ours
(> 1: steertorch faster). ``--memory N`` then runs ``radius_graph`` on N points in a fresh process and prints its
peak resident memory during the call (``VmHWM``, reset just before it) and the resident memory before it.

Targets (issue 17): ours no slower than vesin unsorted on one thread, ahead of it with two; 10M points within 24 GB.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
from _memory import reset_peak, status_kib

R = 1.0


def cloud(n: int, neighbours: float, seed: int = 0) -> torch.Tensor:
    density = neighbours / (4 / 3 * math.pi * R**3)
    side = (n / density) ** (1 / 3)
    return torch.rand(n, 3, generator=torch.Generator().manual_seed(seed)) * side


def medians(fns: dict, rounds: int) -> dict:
    times: dict = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def threaded(fn, threads: int):
    def run():
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return fn()
        finally:
            torch.set_num_threads(before)
    return run


def memory_child(n: int, neighbours: float) -> None:
    from steertorch.graph import radius_graph

    pos = cloud(n, neighbours)
    gc.collect()
    before = status_kib("VmRSS")
    reset_peak()  # the peak (VmHWM) restarts from the memory held now
    t = time.perf_counter()
    e = radius_graph(pos, R)
    elapsed = time.perf_counter() - t
    peak = status_kib("VmHWM")
    print(f"{n} points, {e.shape[1]} edges ({e.numel() * 8 / 2**30:.2f} GiB edge_index) in {elapsed:.1f} s with "
          f"{torch.get_num_threads()} threads; peak resident memory {peak / 2**20:.2f} GiB during the call, "
          f"{(peak - before) / 2**20:.2f} GiB above the {before / 2**20:.2f} GiB held before it (positions "
          f"{pos.numel() * pos.element_size() / 2**30:.2f} GiB)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--neighbours", type=float, default=9.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--memory", type=int, default=0, help="also measure the peak memory at this many points")
    parser.add_argument("--memory-child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        torch.set_num_threads(2)
        memory_child(args.memory_child, args.neighbours)
        return 0
    import steertorch.graph._radius as radius_module
    from steertorch.graph import radius_graph
    from steertorch.graph._radius_kernel import radius_kernel_info

    try:
        import vesin
    except ImportError:
        vesin = None
    try:
        from scipy.spatial import cKDTree
    except ImportError:
        cKDTree = None
    info = radius_kernel_info()
    print(f"radius_graph, r = {R}, ~{args.neighbours:g} neighbours per point; kernel "
          f"{'in use' if info['available'] else 'NOT in use: ' + str(info['reason'])}; vesin "
          f"{'yes' if vesin else 'not installed'}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print("median seconds of interleaved rounds; ratio = reference / ours (> 1: steertorch faster)")
    names = ["ours 1t", "ours 2t", "torch twin", "vesin", "vesin sorted", "cKDTree"]
    print(f"{'points':>9} {'edges':>10} " + " ".join(f"{n:>12}" for n in names)
          + "   vesin/ours1t  vesin/ours2t")
    failures = []
    for n in args.sizes:
        pos = cloud(n, args.neighbours)
        pos_np = pos.double().numpy()

        def torch_twin(pos=pos):
            saved = radius_module.kernel_pairs
            radius_module.kernel_pairs = lambda *a, **k: None
            try:
                return radius_graph(pos, R)
            finally:
                radius_module.kernel_pairs = saved

        fns = {"ours 1t": threaded(lambda pos=pos: radius_graph(pos, R), 1),
               "ours 2t": threaded(lambda pos=pos: radius_graph(pos, R), 2),
               "torch twin": threaded(torch_twin, 1)}
        if vesin is not None:
            box = np.zeros((3, 3))

            def ves(pos_np=pos_np, box=box):
                return vesin.NeighborList(cutoff=R, full_list=True).compute(points=pos_np, box=box, periodic=False,
                                                                           quantities="ij")

            def ves_sorted(pos_np=pos_np, box=box):
                i, j = ves()
                order = np.lexsort((j, i))
                return i[order], j[order]

            fns["vesin"], fns["vesin sorted"] = ves, ves_sorted
            e = radius_graph(pos, R)
            i, j = ves_sorted()
            if not (np.array_equal(e[1].numpy(), i) and np.array_equal(e[0].numpy(), j)):
                failures.append(f"{n} points: the graph differs from vesin's")
        if cKDTree is not None:
            fns["cKDTree"] = lambda pos_np=pos_np: cKDTree(pos_np).query_pairs(R, output_type="ndarray")
        t = medians(fns, args.rounds)
        edges = radius_graph(pos, R).shape[1]
        cols = " ".join(f"{t[k]:>12.4f}" if k in t else f"{'-':>12}" for k in names)
        ratios = ""
        if "vesin" in t:
            ratios = f"   {t['vesin'] / t['ours 1t']:>12.2f}  {t['vesin'] / t['ours 2t']:>12.2f}"
            if t["vesin"] < t["ours 1t"]:
                failures.append(f"{n} points: vesin faster than ours on 1 thread")
            if t["vesin"] < t["ours 2t"] * 1.0:
                failures.append(f"{n} points: vesin not behind ours on 2 threads")
        print(f"{n:>9} {edges:>10} {cols}{ratios}", flush=True)
    if args.memory:
        print(f"peak memory at {args.memory} points (fresh process, 2 threads):", flush=True)
        subprocess.run([sys.executable, __file__, "--memory-child", str(args.memory), "--neighbours",
                        str(args.neighbours)], check=True)
    print("targets: no slower than vesin on 1 thread, ahead with 2; "
          + ("met in this run" if not failures else "not met in this run:") + "".join(f"\n  {f}" for f in failures))
    print(f"(load average now {os.getloadavg()[0]:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
