"""High angular resolution: SO(2)-reduced (eSCN) convolutions against the full tensor product, and the Gaunt tensor
product through 2D Fourier bases against the dense Gaunt coefficients, for lmax = 2 .. 8.

Run with ``python benchmarks/run_high_l.py`` (``--lmax 2 3 4 5 6 7 8`` for every degree, ``--quick`` for a smoke
run). Everything runs in one process, float32, ``--threads`` CPU threads (default 1); each timing is the median of
``--rounds`` calls after warm-up calls, the variants of a case timed round-robin (one call of each per round, so
that a change of machine load hits them alike). Before timing, each fast path is checked against its reference
on the same inputs and weights (the largest difference relative to the largest output is printed). Ratios are
reference / fast (> 1: the fast path wins).

1. ``PointConv``: a tensor-field-network layer ``C x (0e + 1o + ... + L) -> the same``, harmonics up to L,
   ``conv="tp"`` (the Clebsch-Gordan product, then the channel mixing on the sums) against ``conv="so2"`` (each
   edge rotated into its frame, SO(2) blocks, the mixing folded in before rotating back), the same state dict.
   Random graph of ``--nodes`` nodes and ``--edges`` edges. Forward, and forward + backward (gradients of the
   features, the positions and every parameter).
2. SEGNN-style steerable layer ``O3TensorProduct(C x (0e + ... + L), same, attr=0e + ... + L)`` (a fully
   connected "uvw" product with shared weights) on ``--edges`` rows, attributes :math:`Y(r)` (``attr``, as today)
   against ``conv="so2"`` (``edge_vec=r``). Forward, forward + backward (features, vectors, weights).
3. ``GauntTensorProduct`` on ``--gaunt-rows`` rows of ``C x (0e + ... + L)`` times the same, output up to L and
   up to 2L: ``method="dense"`` (the Gaunt coefficients) against ``method="fft"``; with e3nn installed (and
   ``--e3nn``), e3nn's ``TensorProduct`` with the same path set ("uuu", weights the Gaunt factors) as a
   second reference, output up to L.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from steertorch import o3  # noqa: E402
from steertorch.graph import O3TensorProduct, PointConv  # noqa: E402


def bench(fns: dict, rounds: int, warmup: int = 2) -> dict:
    """``{name: median seconds}`` of ``fns[name]()``, timed round-robin after ``warmup`` rounds."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(v) for name, v in times.items()}


def sh_irreps(mul: int, lmax: int) -> o3.Irreps:
    return o3.Irreps([(mul, (l, (-1) ** l)) for l in range(lmax + 1)])


def rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def row(*cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def point_conv(lmax: int, args, gen: torch.Generator) -> list[str]:
    irreps = sh_irreps(args.mul, lmax)
    torch.manual_seed(0)
    ref = PointConv(irreps, irreps, irreps_sh=lmax, r_max=2.0)
    fast = PointConv(irreps, irreps, irreps_sh=lmax, r_max=2.0, conv="so2")
    fast.load_state_dict(ref.state_dict())
    n, e = args.nodes, args.edges
    pos = torch.randn(n, 3, generator=gen)
    edge_index = torch.randint(0, n, (2, e), generator=gen)
    x = torch.randn(n, irreps.dim, generator=gen)
    with torch.no_grad():
        diff = rel_diff(fast(x, pos, edge_index), ref(x, pos, edge_index))

    def forward(m):
        with torch.no_grad():
            m(x, pos, edge_index)

    def backward(m):
        xs, ps = x.clone().requires_grad_(), pos.clone().requires_grad_()
        m(xs, ps, edge_index).pow(2).sum().backward()

    t = bench({"tp": lambda: forward(ref), "so2": lambda: forward(fast)}, args.rounds)
    tb = bench({"tp": lambda: backward(ref), "so2": lambda: backward(fast)}, args.rounds)
    return [row(f"PointConv L={lmax}", f"{1e3 * t['tp']:.1f}", f"{1e3 * t['so2']:.1f}", f"{t['tp'] / t['so2']:.2f}",
                f"{1e3 * tb['tp']:.1f}", f"{1e3 * tb['so2']:.1f}", f"{tb['tp'] / tb['so2']:.2f}", f"{diff:.1e}")]


def segnn_layer(lmax: int, args, gen: torch.Generator) -> list[str]:
    irreps = sh_irreps(args.mul, lmax)
    torch.manual_seed(0)
    ref = O3TensorProduct(irreps, irreps, o3.Irreps.spherical_harmonics(lmax))
    fast = O3TensorProduct(irreps, irreps, o3.Irreps.spherical_harmonics(lmax), conv="so2")
    fast.load_state_dict(ref.state_dict())
    vec = torch.randn(args.edges, 3, generator=gen)
    x = torch.randn(args.edges, irreps.dim, generator=gen)

    def attr(v):
        return o3.spherical_harmonics(ref.irreps_attr, v, normalization="component")

    with torch.no_grad():
        diff = rel_diff(fast(x, edge_vec=vec), ref(x, attr(vec)))

    def forward(so2: bool):
        with torch.no_grad():
            fast(x, edge_vec=vec) if so2 else ref(x, attr(vec))

    def backward(so2: bool):
        xs, vs = x.clone().requires_grad_(), vec.clone().requires_grad_()
        (fast(xs, edge_vec=vs) if so2 else ref(xs, attr(vs))).pow(2).sum().backward()

    t = bench({"tp": lambda: forward(False), "so2": lambda: forward(True)}, args.rounds)
    tb = bench({"tp": lambda: backward(False), "so2": lambda: backward(True)}, args.rounds)
    return [row(f"SEGNN layer L={lmax}", f"{1e3 * t['tp']:.1f}", f"{1e3 * t['so2']:.1f}",
                f"{t['tp'] / t['so2']:.2f}", f"{1e3 * tb['tp']:.1f}", f"{1e3 * tb['so2']:.1f}",
                f"{tb['tp'] / tb['so2']:.2f}", f"{diff:.1e}")]


def e3nn_gaunt(e3o3, lmax: int, mul: int):
    """e3nn's TensorProduct with the Gaunt paths ("uuu", no normalisation, path weights g^2)."""
    g = o3.gaunt_coefficients(lmax, lmax, lmax)
    ins = []
    for l1 in range(lmax + 1):
        for l2 in range(lmax + 1):
            for l3 in range(abs(l1 - l2), min(l1 + l2, lmax) + 1):
                if (l1 + l2 + l3) % 2 == 0:
                    c = o3.wigner_3j(l1, l2, l3, dtype=torch.float64)
                    block = g[l1 * l1:(l1 + 1) ** 2, l2 * l2:(l2 + 1) ** 2, l3 * l3:(l3 + 1) ** 2]
                    ins.append((l1, l2, l3, "uuu", False, float((block * c).sum()) ** 2))
    irreps = str(sh_irreps(mul, lmax))
    return e3o3.TensorProduct(irreps, irreps, irreps, ins, irrep_normalization="none", path_normalization="none")


def gaunt(lmax: int, args, gen: torch.Generator, e3o3) -> list[str]:
    irreps = sh_irreps(args.mul, lmax)
    x = torch.randn(args.gaunt_rows, irreps.dim, generator=gen)
    y = torch.randn(args.gaunt_rows, irreps.dim, generator=gen)
    rows = []
    for lmax_out in (lmax, 2 * lmax):
        dense = o3.GauntTensorProduct(irreps, irreps, lmax_out, method="dense")
        fft = o3.GauntTensorProduct(irreps, irreps, lmax_out)
        fns = {"dense": lambda m=dense: m(x, y), "fft": lambda m=fft: m(x, y)}
        diff = rel_diff(fft(x, y), dense(x, y))
        theirs = None
        if e3o3 is not None and lmax_out == lmax:
            theirs = e3nn_gaunt(e3o3, lmax, args.mul)
            diff = max(diff, rel_diff(fft(x, y), theirs(x, y).detach()))
            fns["e3nn"] = lambda m=theirs: m(x, y)

        def backward(m, xs=x, ys=y):
            xs, ys = xs.clone().requires_grad_(), ys.clone().requires_grad_()
            m(xs, ys).pow(2).sum().backward()

        with torch.no_grad():
            t = bench(fns, args.rounds)
        back = {"dense": lambda m=dense: backward(m), "fft": lambda m=fft: backward(m)}
        if theirs is not None:
            back["e3nn"] = lambda m=theirs: backward(m)
        tb = bench(back, args.rounds)
        e3 = (f"{1e3 * t['e3nn']:.1f} / {1e3 * tb['e3nn']:.1f}" if theirs is not None else "-")
        rows.append(row(f"Gaunt L={lmax} -> {lmax_out}", f"{1e3 * t['dense']:.1f}", f"{1e3 * t['fft']:.1f}",
                        f"{t['dense'] / t['fft']:.2f}", f"{1e3 * tb['dense']:.1f}", f"{1e3 * tb['fft']:.1f}",
                        f"{tb['dense'] / tb['fft']:.2f}", f"{diff:.1e}", e3))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lmax", type=int, nargs="+", default=[2, 4, 6, 8])
    p.add_argument("--mul", type=int, default=8, help="channels per degree")
    p.add_argument("--nodes", type=int, default=200)
    p.add_argument("--edges", type=int, default=2000)
    p.add_argument("--gaunt-rows", type=int, default=256)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--e3nn", action="store_true", help="e3nn's TensorProduct as a second Gaunt reference")
    p.add_argument("--skip", nargs="*", default=[], choices=["pointconv", "segnn", "gaunt"])
    p.add_argument("--quick", action="store_true", help="small sizes, lmax 2 and 3, 2 rounds (a smoke run)")
    args = p.parse_args()
    if args.quick:
        args.lmax, args.edges, args.nodes, args.gaunt_rows, args.rounds = [2, 3], 200, 20, 32, 2
    torch.set_num_threads(args.threads)
    e3o3 = None
    if args.e3nn:
        import e3nn.o3 as e3o3
    gen = torch.Generator().manual_seed(0)
    print(f"# run_high_l: torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{args.threads} thread(s), float32, C = {args.mul} channels per degree, {args.edges} edges / "
          f"{args.nodes} nodes, {args.gaunt_rows} Gaunt rows, median of {args.rounds}; times in ms")
    if "pointconv" not in args.skip or "segnn" not in args.skip:
        print(row("convolution", "tp fwd", "so2 fwd", "ratio", "tp fwd+bwd", "so2 fwd+bwd", "ratio", "rel. diff"))
        print(row(*["---"] * 8))
        for lmax in args.lmax:
            for name, fn in (("pointconv", point_conv), ("segnn", segnn_layer)):
                if name not in args.skip:
                    print("\n".join(fn(lmax, args, gen)), flush=True)
    if "gaunt" not in args.skip:
        print()
        print(row("Gaunt product", "dense fwd", "fft fwd", "ratio", "dense fwd+bwd", "fft fwd+bwd", "ratio",
                  "rel. diff", "e3nn fwd / fwd+bwd"))
        print(row(*["---"] * 9))
        for lmax in args.lmax:
            print("\n".join(gaunt(lmax, args, gen, e3o3)), flush=True)


if __name__ == "__main__":
    main()
