"""Summing rows into groups under autograd: ``index_add`` (what ``scatter_sum`` uses) against ``add_rows_``
(``scatter_add_`` on an expanded index, what the chunked point convolution uses) and ``index_put_(accumulate=True)``.

Run with ``python benchmarks/run_scatter_sum.py [--rows 1000000] [--channels 64] [--neighbours 12] [--rounds 15]``.
``index_add`` keeps its source for the backward pass; the two others keep only the index. This measures what that
costs in time: one forward + backward of ``zeros(groups, channels)`` summed from ``rows`` float32 rows with
``grad`` of the output given, for a random index and for the same index sorted (radius graphs are sorted by
target), with 1 and 2 threads. ``groups = rows / neighbours`` (rows are edges, groups nodes). Calls are
interleaved one of each per round in one process, the first round dropped; printed: medians in ms and the
ratio to ``index_add`` (> 1: slower than ``index_add``). The outputs are checked equal.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from steertorch.graph._scatter import add_rows_


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--neighbours", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    groups = args.rows // args.neighbours
    g = torch.Generator().manual_seed(0)
    src = torch.randn(args.rows, args.channels, generator=g, requires_grad=True)
    grad = torch.randn(groups, args.channels, generator=g)
    random_index = torch.randint(0, groups, (args.rows,), generator=g)

    print(f"{args.rows} rows x {args.channels} float32 channels into {groups} groups; forward + backward, medians "
          f"of {args.rounds} interleaved rounds in ms; ratio = time / index_add's")
    for order, index in (("random", random_index), ("sorted", random_index.sort().values)):
        fns = {
            "index_add": lambda index=index: src.new_zeros(groups, args.channels).index_add(0, index, src),
            "add_rows_": lambda index=index: add_rows_(src.new_zeros(groups, args.channels), index, src),
            "index_put_": lambda index=index: src.new_zeros(groups, args.channels).index_put_(
                (index,), src, accumulate=True),
        }
        with torch.no_grad():
            ref = fns["index_add"]()
            for name, fn in fns.items():
                torch.testing.assert_close(fn(), ref, rtol=1e-5, atol=1e-5, msg=f"{name} differs from index_add")
        for threads in (1, 2):
            torch.set_num_threads(threads)
            times: dict[str, list[float]] = {name: [] for name in fns}
            for rnd in range(args.rounds + 1):
                for name, fn in fns.items():
                    src.grad = None
                    start = time.perf_counter()
                    fn().backward(grad)
                    if rnd:  # the first round warms up
                        times[name].append(time.perf_counter() - start)
            med = {name: statistics.median(t) for name, t in times.items()}
            row = ", ".join(f"{name} {med[name] * 1e3:6.1f} ({med[name] / med['index_add']:.2f})" for name in fns)
            print(f"  {order:>6} index, {threads} thread(s): {row}")


if __name__ == "__main__":
    main()
