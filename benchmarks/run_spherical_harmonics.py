"""Spherical-harmonics benchmark: steertorch vs sphericart and e3nn, l = 1..12, float32 and float64.

Run with ``python3 benchmarks/run_spherical_harmonics.py`` (``--threads 2``, ``--points N``, ``--lmax 1,2,8``).
For each lmax it times, in one process, interleaved rounds (one call of each per round, so that a change of machine
load hits all alike; a new random order each round, so that no implementation always runs right after the same one),
the median of ``--rounds`` rounds in ms, on ``--points`` random points (default 100k) and one thread (default). glibc's
malloc is asked to keep freed memory (see ``keep_freed_memory``: otherwise page faults, 8x the cost of writing a page,
come and go with the history of calls; ``--default-malloc`` leaves it alone).

* ``fwd``: the harmonics of degrees 0..lmax (``[N, (lmax + 1)^2]``, normalised points, e3nn's "integral"
  normalisation) under ``torch.no_grad``;
* ``fwd+bwd``: the same with the points requiring grad, then the gradient of ``(Y * g).sum()`` for a fixed ``g``;

for steertorch (its compiled kernel; ``steertorch (torch)`` its pure-torch twin, the path of GPUs), sphericart
(``sphericart.torch.SphericalHarmonics(lmax)``, real harmonics in its own order: the same work), e3nn
(``e3nn.o3.spherical_harmonics``, lmax <= 11) and the memory-bandwidth limit of the output: allocating and writing a
tensor of the output's size (``torch.empty(...).fill_(1)``), the least any implementation that returns a fresh
tensor must spend. Ratios are the reference's median over ours (> 1: steertorch is faster). The values are checked
against the pure-torch twin (and e3nn where it has the degree) first.

Targets (issue 17): forward at least sphericart's speed, forward+backward faster than sphericart and e3nn, every l
from 1 to 12, in float32 and float64. Missing peers (``pip install --no-deps sphericart sphericart-torch``,
``pip install e3nn``) are skipped.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time

import torch


def median_times(fns: dict, rounds: int, warmup: int = 2) -> dict:
    """``{name: median seconds}`` of ``fns[name]()``, timed in rounds (one call of each, in random order) after
    ``warmup`` rounds."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict = {name: [] for name in fns}
    order = random.Random(0)
    for _ in range(rounds):
        # a fresh random order each round: a call's time depends on the one before it (a call right after one that
        # wrote and freed a buffer of its output's size gets that buffer back still in cache), so no implementation
        # may always follow the same one
        for name in order.sample(list(fns), len(fns)):
            t = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(v) for name, v in times.items()}


def keep_freed_memory() -> str:
    """Ask glibc's malloc to keep freed memory in the process (no trimming, no mmap below 32 MiB), as PyTorch's
    caching allocators do on GPUs; a description of what was set.

    With the default dynamic thresholds, whether a call's output lands on pages the process already holds or on
    fresh ones (a page fault per 4 KiB, about 1 us here: 8x writing the page) depends on the calls before it: the
    same implementation measured 5 ms or 15 ms at l = 8 depending on what ran before. Here every implementation
    gets reused pages below 32 MiB (glibc's ceiling for the mmap threshold) and fresh pages above, alike."""
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        if libc.mallopt(m_trim_threshold, 2**31 - 1) and libc.mallopt(m_mmap_threshold, 32 << 20):
            return "malloc keeps freed memory (trim off, mmap from 32 MiB)"
    except OSError:
        pass
    return "malloc thresholds left at their defaults (not glibc)"


def measure(o3, twin_fn, sct, e3o3, x: torch.Tensor, lmax: int, rounds: int, gen: torch.Generator,
            failures: list[str]) -> tuple[dict, dict]:
    """Median forward and forward+backward seconds of every implementation at degree ``lmax`` (values checked
    first: a mismatch is added to ``failures``)."""
    dtype, n = x.dtype, x.shape[0]
    ls = list(range(lmax + 1))
    dim = (lmax + 1) ** 2
    tol = 3e-5 if dtype == torch.float32 else 1e-12
    g = torch.randn(n, dim, generator=gen, dtype=dtype)
    ours = o3.spherical_harmonics(ls, x, normalize=True)
    exact = twin_fn(ls, x.double(), True, "integral")  # (float64: the float32 kernel and twin both round)
    err = ((ours.double() - exact).abs().max() / exact.abs().max()).item()
    if err > tol:
        failures.append(f"{dtype} l={lmax}: differs from the float64 torch twin by {err:.1e}")
    fwd = {"ours": lambda: o3.spherical_harmonics(ls, x, normalize=True),
           "twin": lambda: twin_fn(ls, x, True, "integral"),
           "limit": lambda: torch.empty(n, dim, dtype=dtype).fill_(1.0)}
    xg = x.clone().requires_grad_()

    def step(f):
        def run():
            (f(xg) * g).sum().backward()
            xg.grad = None
        return run

    bwd = {"ours": step(lambda p: o3.spherical_harmonics(ls, p, normalize=True)),
           "twin": step(lambda p: twin_fn(ls, p, True, "integral"))}
    if sct is not None:
        sph = sct.SphericalHarmonics(lmax)
        fwd["sph"] = lambda: sph(x)
        bwd["sph"] = step(sph)
    if e3o3 is not None and lmax <= 11:
        ref = e3o3.spherical_harmonics(ls, x, normalize=True)
        err = ((ours - ref).abs().max() / ref.abs().max()).item()
        if err > tol:
            failures.append(f"{dtype} l={lmax}: differs from e3nn by {err:.1e}")
        fwd["e3nn"] = lambda: e3o3.spherical_harmonics(ls, x, normalize=True)
        bwd["e3nn"] = step(lambda p: e3o3.spherical_harmonics(ls, p, normalize=True))
    with torch.no_grad():
        tf = median_times(fwd, rounds)
    return tf, median_times(bwd, max(3, rounds // 2))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--lmax", default="1,2,3,4,5,6,7,8,9,10,11,12", help="comma-separated degrees")
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--default-malloc", action="store_true",
                        help="leave glibc's malloc thresholds as they are (page faults then vary with call order)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    allocator = keep_freed_memory() if not args.default_malloc else "malloc thresholds left at their defaults"
    from steertorch import o3
    from steertorch.group._spherical_harmonics import _torch_harmonics
    from steertorch.group._spherical_harmonics_kernel import sh_kernel_info

    try:
        import sphericart.torch as sct
    except ImportError:
        sct = None
    try:
        import e3nn.o3 as e3o3
    except ImportError:
        e3o3 = None
    info = sh_kernel_info()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {args.points} points; sphericart "
          f"{'yes' if sct else 'not installed'}, e3nn {'yes' if e3o3 else 'not installed'}; steertorch kernel "
          f"{'in use' if info['available'] else 'NOT in use: ' + str(info['reason'])}; load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; {allocator}")
    print("median ms of interleaved rounds; ratio = reference / ours (> 1: steertorch faster); 'limit' = allocating "
          "and writing the output")
    header = ["dtype", "l", "what", "ours", "torch twin", "sphericart", "e3nn", "limit", "vs sph", "vs e3nn",
              "ours/limit"]
    widths = [7, 3, 7, 8, 10, 10, 8, 8, 7, 7, 10]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths)))
    failures: list[str] = []
    gen = torch.Generator().manual_seed(0)
    for dtype_name in args.dtypes.split(","):
        dtype = getattr(torch, dtype_name)
        x = torch.randn(args.points, 3, generator=gen, dtype=dtype)
        for lmax in (int(v) for v in args.lmax.split(",")):
            tf, tb = measure(o3, _torch_harmonics, sct, e3o3, x, lmax, args.rounds, gen, failures)
            for what, t in (("fwd", tf), ("fwd+bwd", tb)):
                row = [dtype_name, str(lmax), what, *(f"{1e3 * t[k]:.2f}" if k in t else "-"
                                                      for k in ("ours", "twin", "sph", "e3nn", "limit")),
                       *(f"{t[k] / t['ours']:.2f}" if k in t else "-" for k in ("sph", "e3nn")),
                       f"{t['ours'] / t['limit']:.2f}" if "limit" in t else "-"]
                print("  ".join(v.rjust(w) for v, w in zip(row, widths)), flush=True)
                if "sph" in t and t["sph"] < t["ours"]:
                    failures.append(f"{dtype_name} l={lmax} {what}: sphericart faster ({t['sph'] / t['ours']:.2f})")
                if what == "fwd+bwd" and "e3nn" in t and t["e3nn"] < t["ours"]:
                    failures.append(f"{dtype_name} l={lmax} {what}: e3nn faster ({t['e3nn'] / t['ours']:.2f})")
    print("targets: fwd >= sphericart, fwd+bwd faster than sphericart and e3nn; "
          + ("all met in this run" if not failures else "not met in this run:") + "".join(f"\n  {f}" for f in failures))
    print(f"(load average now {os.getloadavg()[0]:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
