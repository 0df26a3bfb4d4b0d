"""Tensor-product benchmark: steertorch vs e3nn ``FullyConnectedTensorProduct(irreps, sh, irreps)``.

Run with ``python3 benchmarks/run_o3.py``. For each case (irreps x spherical harmonics of the
same lmax -> irreps, internal shared weights, batch 4096, float32, 2 CPU threads) it prints
the construction time and the forward, forward+backward (gradients of x and the weights) and
forward+backward with both inputs requiring grad (x, y and the weights: a point convolution
with learned features and positions) times of steertorch and e3nn, measured in the same
process, interleaved round-robin (one call of each per round, so that a change of machine
load hits both alike), as best / median in ms, and the ratio e3nn / ours on the best times
(> 1 means steertorch is faster). Outputs are checked to agree (same weights) first. The forward row runs under
``torch.no_grad`` (inference). On CPU steertorch runs its compiled kernel where a C compiler built it
(``o3/_tensor_product_kernel.py``; the header line says whether it is in use), else, with shared weights, its
pure-torch fused path (``o3/_tensor_product_fused.py``); ``--no-kernel`` measures the latter.

Targets (issue 3): every case faster than e3nn; for lmax >= 2 at least 2x faster forward+backward.
Reference e3nn numbers on a quiet machine (fwd / fwd+bwd): 6.6 / 9.5, 21.6 / 89.2, 29.6 / 82.4 ms.

``--per-sample`` adds the product of a point convolution with per-sample weights (``shared_weights=False``,
weights ``[edges, weight_numel]`` from a radial MLP, one row per edge; 26000 edges by default): irreps
``C x (0e + 1o + ...)`` up to lmax x spherical harmonics of the same lmax -> the same irreps, for lmax 1, 2, 3 and
C = 16, 32 channels, forward and forward+backward (gradients of x, y and the weights), same weights in both
libraries, interleaved as above (fewer rounds: a 32-channel lmax 3 e3nn backward takes seconds).

``--compiled`` adds, for the shared-weight cases, forward+backward (gradients of x and the weights) of both modules
under ``torch.compile`` (inductor; needs a C++ compiler, compiles for 10-30 s per module). It is informational, not a
target: it shows what kernel fusion gives each library on this machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

THREADS = 2
BATCH = 4096
CASES = [("32x0e + 32x1o", 1), ("32x0e + 32x1o + 32x2e", 2), ("16x0e + 16x1o + 16x2e + 16x3o", 3)]


def bench(fns: dict, rounds: int, warmup: int = 3) -> dict:
    """``{name: (best, median)}`` seconds of ``fns[name]()``, timed round-robin after ``warmup`` rounds."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: (min(v), statistics.median(v)) for name, v in times.items()}


def timed(fn, repeats: int = 3) -> tuple[float, object]:
    """Best wall time of ``fn()`` over ``repeats`` calls, and the last result."""
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def ms2(t: tuple[float, float] | None) -> str:
    return "-" if t is None else f"{1e3 * t[0]:.2f} / {1e3 * t[1]:.2f}"


def ratio(ref: tuple[float, float] | None, ours: tuple[float, float]) -> str:
    return "-" if ref is None else f"{ref[0] / ours[0]:.2f}x"


def measure(o3, e3o3, irreps: str, lmax: int, rounds: int, gen: torch.Generator) -> tuple[list, float | None]:
    """Rows (what, {"ours": (best, median), "e3nn": ...}) of one case, and the largest output difference."""
    irreps_sh = o3.Irreps.spherical_harmonics(lmax)
    t_ours, ours = timed(lambda: o3.FullyConnectedTensorProduct(irreps, irreps_sh, irreps))
    t_ref, ref = (None, None)
    if e3o3 is not None:
        t_ref, ref = timed(lambda: e3o3.FullyConnectedTensorProduct(irreps, e3o3.Irreps.spherical_harmonics(lmax),
                                                                    irreps))
    x = o3.Irreps(irreps).randn(BATCH, -1, generator=gen)
    y = o3.spherical_harmonics(irreps_sh, torch.randn(BATCH, 3, generator=gen), normalize=True)
    grad_out = o3.Irreps(irreps).randn(BATCH, -1, generator=gen)
    xg, yg = x.clone().requires_grad_(True), y.clone().requires_grad_(True)
    mods, err = {"ours": ours}, None
    if ref is not None:
        with torch.no_grad():
            ours.weight.copy_(ref.weight)  # same weights, same layout
            err = float((ours(x, y) - ref(x, y)).abs().max())
        mods["e3nn"] = ref

    def fwd(m):
        with torch.no_grad():
            return m(x, y)

    def fwd_bwd(m, inputs):
        out = m(*inputs)
        return torch.autograd.grad(out, [t for t in inputs if t.requires_grad] + [m.weight], grad_out)

    return [
        ("construction", {"ours": (t_ours, t_ours), "e3nn": None if t_ref is None else (t_ref, t_ref)}),
        ("forward", bench({k: (lambda m=m: fwd(m)) for k, m in mods.items()}, rounds)),
        ("fwd+bwd x", bench({k: (lambda m=m: fwd_bwd(m, (xg, y))) for k, m in mods.items()}, rounds)),
        ("fwd+bwd x,y", bench({k: (lambda m=m: fwd_bwd(m, (xg, yg))) for k, m in mods.items()}, rounds)),
    ], err


def measure_compiled(o3, e3o3, irreps: str, lmax: int, rounds: int, gen: torch.Generator) -> tuple[dict, dict]:
    """``({name: (best, median)}, {name: compile seconds})`` of fwd+bwd (x, weights) under ``torch.compile``."""
    irreps_sh = o3.Irreps.spherical_harmonics(lmax)
    mods = {"ours": o3.FullyConnectedTensorProduct(irreps, irreps_sh, irreps)}
    if e3o3 is not None:
        mods["e3nn"] = e3o3.FullyConnectedTensorProduct(irreps, e3o3.Irreps.spherical_harmonics(lmax), irreps)
        with torch.no_grad():
            mods["ours"].weight.copy_(mods["e3nn"].weight)
    x = o3.Irreps(irreps).randn(BATCH, -1, generator=gen).requires_grad_(True)
    y = o3.spherical_harmonics(irreps_sh, torch.randn(BATCH, 3, generator=gen), normalize=True)
    grad_out = o3.Irreps(irreps).randn(BATCH, -1, generator=gen)
    fns, compile_s = {}, {}
    for name, m in mods.items():
        compiled = torch.compile(m)

        def fwd_bwd(c=compiled, m=m):
            return torch.autograd.grad(c(x, y), [x, m.weight], grad_out)

        t = time.perf_counter()
        fwd_bwd()
        compile_s[name] = time.perf_counter() - t
        fns[name] = fwd_bwd
    if "e3nn" in mods:
        err = float((fns["ours"]()[0] - fns["e3nn"]()[0]).abs().max())
        if err > 1e-3:
            raise RuntimeError(f"compiled gradients differ from e3nn's by {err:.2e}")
    return bench(fns, rounds), compile_s


def measure_per_sample(o3, e3o3, mul: int, lmax: int, edges: int, rounds: int, gen: torch.Generator
                       ) -> tuple[list, float | None]:
    """Rows (what, {"ours": (best, median), "e3nn": ...}) of one per-sample-weight case, and the output difference."""
    irreps = " + ".join(f"{mul}x{l}{'eo'[l % 2]}" for l in range(lmax + 1))
    irreps_sh = o3.Irreps.spherical_harmonics(lmax)
    ours = o3.FullyConnectedTensorProduct(irreps, irreps_sh, irreps, shared_weights=False, internal_weights=False)
    mods, err = {"ours": ours}, None
    x = o3.Irreps(irreps).randn(edges, -1, generator=gen)
    y = o3.spherical_harmonics(irreps_sh, torch.randn(edges, 3, generator=gen), normalize=True)
    w = torch.randn(edges, ours.weight_numel, generator=gen)
    grad_out = o3.Irreps(irreps).randn(edges, -1, generator=gen)
    if e3o3 is not None:
        ref = e3o3.FullyConnectedTensorProduct(irreps, e3o3.Irreps.spherical_harmonics(lmax), irreps,
                                               shared_weights=False, internal_weights=False)
        with torch.no_grad():
            err = float((ours(x, y, w) - ref(x, y, w)).abs().max())
        mods["e3nn"] = ref
    inputs = [t.clone().requires_grad_(True) for t in (x, y, w)]

    def fwd(m):
        with torch.no_grad():
            return m(x, y, w)

    def fwd_bwd(m):
        return torch.autograd.grad(m(*inputs), inputs, grad_out)

    return [
        ("forward", bench({k: (lambda m=m: fwd(m)) for k, m in mods.items()}, rounds, warmup=1)),
        ("fwd+bwd x,y,w", bench({k: (lambda m=m: fwd_bwd(m)) for k, m in mods.items()}, rounds, warmup=1)),
    ], err


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds per measurement (default 15)")
    parser.add_argument("--per-sample", action="store_true",
                        help="also time per-sample weights (point convolution, lmax 1-3, 16 and 32 channels)")
    parser.add_argument("--edges", type=int, default=26000, help="samples (edges) of the per-sample cases")
    parser.add_argument("--per-sample-rounds", type=int, default=3, help="timed rounds of the per-sample cases")
    parser.add_argument("--skip-shared", action="store_true", help="only the per-sample cases")
    parser.add_argument("--compiled", action="store_true",
                        help="also time fwd+bwd of both libraries under torch.compile (informational, slow to compile)")
    parser.add_argument("--no-kernel", action="store_true",
                        help="steertorch without its compiled CPU kernel (pure-torch path; STEERTORCH_CPU_KERNEL=0)")
    args = parser.parse_args()
    if args.no_kernel:
        os.environ["STEERTORCH_CPU_KERNEL"] = "0"
    torch.set_num_threads(THREADS)
    from steertorch import o3

    try:
        import e3nn
        import e3nn.o3 as e3o3
    except ImportError:
        e3nn, e3o3 = None, None
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"e3nn {e3nn.__version__ if e3nn else 'not installed'}; batch {BATCH}, float32; load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs (a load above the CPU count makes timings unreliable)")
    built = time.perf_counter()
    kernel = o3.cpu_kernel_available()
    print(f"steertorch CPU kernel: {'in use' if kernel else 'not in use (pure-torch path)'}"
          + (f" ({time.perf_counter() - built:.1f} s to load or compile)" if kernel else ""))
    print("times in ms as best / median of interleaved rounds; ratio = e3nn / ours on best times (> 1: we are faster)")
    gen = torch.Generator().manual_seed(0)
    failures, mismatches = [], []  # figures below target; outputs that differ from e3nn (an error)
    widths = [38, 12, 16, 16, 7]
    print()
    print("  " + "  ".join(c.rjust(w) for c, w in zip(["case", "", "ours", "e3nn", "ratio"], widths)))
    print("  " + "  ".join("-" * w for w in widths))
    wall = time.perf_counter()
    for irreps, lmax in [] if args.skip_shared else CASES:
        rows, err = measure(o3, e3o3, irreps, lmax, args.rounds, gen)
        if err is not None and err > 1e-4:
            mismatches.append(f"{irreps}: outputs differ from e3nn by {err:.2e}")
        label = f"{irreps} (lmax {lmax})"
        for what, t in rows:
            r = t.get("e3nn")
            print("  " + "  ".join(v.rjust(w) for v, w in zip([label, what, ms2(t["ours"]), ms2(r),
                                                               ratio(r, t["ours"])], widths)))
            label = ""
            if r is not None and what != "construction":
                need = 2.0 if (lmax >= 2 and what.startswith("fwd+bwd")) else 1.0
                if r[0] / t["ours"][0] < need:
                    failures.append(f"{irreps} {what}: ratio {r[0] / t['ours'][0]:.2f} < {need}")
    if args.compiled:
        print()
        print("under torch.compile (inductor), fwd+bwd of x and the weights; compile time of the first call in s:")
        for irreps, lmax in CASES:
            t, compile_s = measure_compiled(o3, e3o3, irreps, lmax, args.rounds, gen)
            r = t.get("e3nn")
            label = f"{irreps} (lmax {lmax})"
            what = "compiled fwd+bwd x (" + ", ".join(f"{k} {v:.0f} s" for k, v in compile_s.items()) + ")"
            print("  " + "  ".join(v.rjust(w) for v, w in zip([label, what, ms2(t["ours"]), ms2(r),
                                                               ratio(r, t["ours"])], widths)), flush=True)
    if args.per_sample:
        print()
        print(f"per-sample weights (shared_weights=False), {args.edges} edges, gradients of x, y and the weights:")
        for lmax in (1, 2, 3):
            for mul in (16, 32):
                rows, err = measure_per_sample(o3, e3o3, mul, lmax, args.edges, args.per_sample_rounds, gen)
                if err is not None and err > 1e-4:
                    mismatches.append(f"per-sample {mul}ch lmax {lmax}: outputs differ from e3nn by {err:.2e}")
                label = f"per-sample {mul}x(0..{lmax}) (lmax {lmax})"
                for what, t in rows:
                    r = t.get("e3nn")
                    print("  " + "  ".join(v.rjust(w) for v, w in zip([label, what, ms2(t["ours"]), ms2(r),
                                                                       ratio(r, t["ours"])], widths)), flush=True)
                    label = ""
                    if r is not None and r[0] / t["ours"][0] < 1.0:
                        failures.append(f"per-sample {mul}ch lmax {lmax} {what}: ratio {r[0] / t['ours'][0]:.2f} < 1")
    print()
    if e3o3 is None:
        print("e3nn is not installed: no ratios measured, targets not compared (pip install e3nn)")
    else:
        print("targets: every case faster than e3nn, lmax >= 2 fwd+bwd >= 2x; "
              + ("all met in this run" if not failures else "below target in this run:")
              + "".join(f"\n  {f}" for f in failures))
        if failures:
            print(f"  (figures, not a verdict: on a loaded machine, load average {os.getloadavg()[0]:.2f} on "
                  f"{os.cpu_count()} CPUs, ratios move by +-15%; rerun on a quiet machine before reading them)")
    print(f"(total {time.perf_counter() - wall:.1f} s; load average now {os.getloadavg()[0]:.2f})")
    for m in mismatches:
        print(f"ERROR: {m}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
