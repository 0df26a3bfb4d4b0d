"""Spherical-harmonics forward against sphericart with the output's cache lines warm or cold.

Run with ``python3 benchmarks/run_sh_cache_state.py --lmax 3 --dtype float64 --between fill``. In one process, one
thread, 100k random points, interleaved rounds in a new random order each round, median ms of ``--rounds`` rounds:
steertorch's forward, sphericart's and the ``limit`` (``torch.empty(...).fill_(1)`` of the output's size), with,
as a fourth call of each round, ``--between``:

* ``none``: nothing else; each output lands on the buffer the last call freed, still in the caches;
* ``e3nn``: e3nn's forward of the same degrees (its temporaries push the freed buffers out of the caches);
* ``fill``: writing a fresh 160 MB tensor (the same, harder).

The point: a kernel whose writes wait for their cache lines loses where outputs are cold, which the main benchmark
(``run_spherical_harmonics.py``) mixes in through its e3nn and torch-twin calls. Ratio: sphericart's time over ours
(> 1: steertorch faster). malloc keeps freed memory, as in the main benchmark.
"""

from __future__ import annotations

import argparse
import ctypes
import random
import statistics
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lmax", type=int, default=3)
    parser.add_argument("--dtype", default="float64", choices=("float32", "float64"))
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--between", default="fill", choices=("none", "e3nn", "fill"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-1, 2**31 - 1)  # M_TRIM_THRESHOLD: keep freed memory
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD: heap up to 32 MiB
    except OSError:
        pass
    import sphericart.torch as sct

    from steertorch.o3 import spherical_harmonics

    dtype = getattr(torch, args.dtype)
    x = torch.randn(args.points, 3, dtype=dtype)
    ls, dim = list(range(args.lmax + 1)), (args.lmax + 1) ** 2
    sph = sct.SphericalHarmonics(args.lmax)
    fns = {"ours": lambda: spherical_harmonics(ls, x), "sphericart": lambda: sph(x),
           "limit": lambda: torch.empty(args.points, dim, dtype=dtype).fill_(1)}
    if args.between == "e3nn":
        import e3nn.o3

        fns["e3nn"] = lambda: e3nn.o3.spherical_harmonics(ls, x, normalize=True)
    elif args.between == "fill":
        fns["fill"] = lambda: torch.empty(20_000_000, dtype=torch.float64).fill_(1)
    times: dict[str, list[float]] = {k: [] for k in fns}
    with torch.no_grad():
        for r in range(args.rounds + 3):
            order = list(fns)
            random.shuffle(order)
            for k in order:
                t0 = time.perf_counter()
                y = fns[k]()
                t1 = time.perf_counter()
                del y
                if r >= 3:  # three warm-up rounds
                    times[k].append(t1 - t0)
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    print(f"l={args.lmax} {args.dtype} between={args.between}: "
          + "  ".join(f"{k} {v:.3f} ms" for k, v in med.items())
          + f"  sphericart/ours {med['sphericart'] / med['ours']:.2f}")


if __name__ == "__main__":
    main()
