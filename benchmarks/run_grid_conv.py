"""Grid-convolution benchmark: steertorch ``R2Conv`` / ``R3Conv`` / ``GroupConv2d`` against a plain convolution.

Run with ``python3 benchmarks/run_grid_conv.py``. Cases (batch 8, float32, 2 CPU threads, 'same' padding):

* C8 regular, 16 -> 16 fields, 32x32, 5x5 kernels;
* D4 regular, 16 -> 16 fields, 32x32, 5x5;
* SO(2) irreps of frequency 0..3, 8 copies each (56 channels), 32x32, 5x5;
* SO(3) irreps l <= 2, 4 copies each (36 channels), 16^3, 3x3x3;
* (extra) the regular G-CNN ``GroupConv2d`` for C8 with 16 fields, 32x32, 5x5.

For each it prints: construction time, cold (a fresh Python process, nothing cached; import excluded) and
warm (same layer built again in this process), the train-mode forward+backward time of the steerable layer
(kernel expansion included), of a plain ``Conv2d`` / ``Conv3d`` with the same shapes (weights requiring grad)
and the forward time of the exported plain conv vs the plain conv. Timings are interleaved round-robin in the
same process and reported as best / median ms. Where escnn is installed (``pip install escnn --no-deps`` plus
``lie_learn joblib pymanopt autograd`` works without a Fortran compiler: py3nj is optional, escnn then computes
SO(3) Clebsch-Gordan coefficients numerically and caches them on disk), the same layer is built and timed with
escnn in the same run (cold construction in a fresh process as well, interleaved timings); otherwise the
reference numbers from the project's notes (shared/ANCHORS.md) are printed, labelled as such.

Targets: construction < 0.2 s; train fwd+bwd no slower than escnn; exported conv within 5% of plain conv.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import torch

THREADS = 2
BATCH = 8
ESCNN_REFERENCE = {  # from /work/shared/ANCHORS.md (escnn 1.0, same shapes); not measured here
    "C8 regular x16": "build 169 ms, fwd+bwd 55 ms",
    "D4 regular x16": "build 2.1 s, fwd+bwd 65 ms",
    "SO(2) k<=3 x8": "-",
    "SO(3) l<=2 x4": "fwd+bwd 36 ms",
    "GroupConv2d C8 x16": "-",
}


def build(name: str):
    """(layer, input shape, plain conv class) for a case name."""
    from steertorch.gspaces import flipRot2dOnR2, rot2dOnR2, rot3dOnR3
    from steertorch.nn import FieldType, GroupConv2d, R2Conv, R3Conv

    if name == "C8 regular x16":
        gs = rot2dOnR2(8)
        ft = FieldType(gs, 16 * [gs.regular_repr])
        return R2Conv(ft, ft, 5, padding=2), (BATCH, ft.size, 32, 32)
    if name == "D4 regular x16":
        gs = flipRot2dOnR2(4)
        ft = FieldType(gs, 16 * [gs.regular_repr])
        return R2Conv(ft, ft, 5, padding=2), (BATCH, ft.size, 32, 32)
    if name == "SO(2) k<=3 x8":
        gs = rot2dOnR2(-1)
        ft = FieldType(gs, [gs.irrep(k) for k in range(4) for _ in range(8)])
        return R2Conv(ft, ft, 5, padding=2), (BATCH, ft.size, 32, 32)
    if name == "SO(3) l<=2 x4":
        gs = rot3dOnR3()
        ft = FieldType(gs, [gs.irrep(lv) for lv in range(3) for _ in range(4)])
        return R3Conv(ft, ft, 3, padding=1), (BATCH, ft.size, 16, 16, 16)
    if name == "GroupConv2d C8 x16":
        layer = GroupConv2d(rot2dOnR2(8), 16, 16, 5, padding=2)
        return layer, (BATCH, layer.in_type.size, 32, 32)
    raise ValueError(f"unknown case {name!r}")


def build_escnn(name: str):
    """(escnn layer, its input FieldType) for a case name (the same layer as :func:`build`)."""
    import escnn.gspaces as egs
    import escnn.nn as enn

    if name in ("C8 regular x16", "GroupConv2d C8 x16"):
        gs = egs.rot2dOnR2(8)
        ft = enn.FieldType(gs, 16 * [gs.regular_repr])
        return enn.R2Conv(ft, ft, 5, padding=2), ft
    if name == "D4 regular x16":
        gs = egs.flipRot2dOnR2(4)
        ft = enn.FieldType(gs, 16 * [gs.regular_repr])
        return enn.R2Conv(ft, ft, 5, padding=2), ft
    if name == "SO(2) k<=3 x8":
        gs = egs.rot2dOnR2(-1)
        ft = enn.FieldType(gs, [gs.irrep(k) for k in range(4) for _ in range(8)])
        return enn.R2Conv(ft, ft, 5, padding=2), ft
    if name == "SO(3) l<=2 x4":
        gs = egs.rot3dOnR3()
        ft = enn.FieldType(gs, [gs.irrep(lv) for lv in range(3) for _ in range(4)])
        return enn.R3Conv(ft, ft, 3, padding=1), ft
    raise ValueError(f"unknown case {name!r}")


def have_escnn() -> bool:
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import escnn.nn  # noqa: F401
        return True
    except ImportError:
        return False


def cold_build(name: str, library: str = "steertorch") -> float:
    """Construction time of ``name`` in a fresh process (the imports excluded)."""
    if library == "steertorch":
        imports, fn = "import steertorch.nn, steertorch.gspaces, steertorch.kernels", "build"
    else:
        imports, fn = "import warnings; warnings.simplefilter('ignore'); import escnn.nn, escnn.gspaces", "build_escnn"
    code = (f"import sys, time, torch; torch.set_num_threads({THREADS}); sys.path.insert(0, {sys.path[0]!r}); "
            f"import run_grid_conv as b; {imports}; "
            f"t = time.perf_counter(); b.{fn}({name!r}); print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def bench(fns: dict, rounds: int, warmup: int = 2) -> dict:
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: (min(v), statistics.median(v)) for k, v in times.items()}


def ms(t: tuple[float, float]) -> str:
    return f"{1e3 * t[0]:.1f} / {1e3 * t[1]:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--cases", nargs="*", default=list(ESCNN_REFERENCE))
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {THREADS} threads, batch {BATCH}, float32; times best / median ms "
          f"over {args.rounds} interleaved rounds")
    escnn = have_escnn()
    if escnn:
        import escnn as escnn_module
        print(f"escnn {escnn_module.__version__} measured in the same run")
    else:
        print("escnn is not installed: no ratios against it; its figures from ANCHORS.md are printed for reference")
    for name in args.cases:
        cold = cold_build(name)
        build(name)  # fill this process's caches
        t = time.perf_counter()
        layer, shape = build(name)
        warm = time.perf_counter() - t
        w, b = layer.expand_parameters()
        d = len(shape) - 2
        conv = (torch.nn.functional.conv2d if d == 2 else torch.nn.functional.conv3d)
        pad = layer.padding if isinstance(layer.padding, tuple) else (layer.padding,) * d
        plain_w = torch.randn_like(w, requires_grad=True)
        plain_b = torch.randn(w.shape[0], requires_grad=True)
        x = torch.randn(shape)
        exported = layer.export().eval()
        plain_mod = (torch.nn.Conv2d if d == 2 else torch.nn.Conv3d)(w.shape[1], w.shape[0], w.shape[2],
                                                                      padding=pad[0]).eval()
        layer.train()

        def ours(layer=layer, x=x) -> None:
            layer(x).sum().backward()

        def plain(conv=conv, x=x, w=plain_w, b=plain_b, pad=pad) -> None:
            conv(x, w, b, 1, pad).sum().backward()

        @torch.no_grad()
        def fwd_exported(exported=exported, x=x) -> None:
            exported(x)

        @torch.no_grad()
        def fwd_plain(plain_mod=plain_mod, x=x) -> None:
            plain_mod(x)

        fns = {"ours": ours, "plain": plain, "exp": fwd_exported, "pfwd": fwd_plain}
        if escnn:
            import escnn.nn as enn

            cold_e = cold_build(name, "escnn")
            t = time.perf_counter()
            e_layer, e_type = build_escnn(name)
            warm_e = time.perf_counter() - t
            e_layer.train()
            e_x = enn.GeometricTensor(x.clone(), e_type)

            def theirs(e_layer=e_layer, e_x=e_x) -> None:
                e_layer(e_x).tensor.sum().backward()

            fns["escnn"] = theirs
        res = bench(fns, args.rounds)
        with torch.no_grad():
            t0 = time.perf_counter()
            for _ in range(20):
                layer.expand_parameters()
            expand = (time.perf_counter() - t0) / 20
        print(f"\n{name}: channels {shape[1]} -> {w.shape[0]}, kernel {list(w.shape[2:])}, "
              f"{layer.weights.numel() if hasattr(layer, 'expansion') else layer.weight.numel()} parameters")
        print(f"  construction: cold {1e3 * cold:.1f} ms, warm (cached bases) {1e3 * warm:.1f} ms; "
              f"kernel expansion (no grad) {1e3 * expand:.2f} ms (target: cold < 200 ms)")
        print(f"  train fwd+bwd: steertorch {ms(res['ours'])} | plain conv {ms(res['plain'])} | "
              f"overhead {res['ours'][0] / res['plain'][0]:.2f}x (target: no slower than escnn)")
        print(f"  forward: exported {ms(res['exp'])} | plain conv {ms(res['pfwd'])} | "
              f"ratio {res['exp'][0] / res['pfwd'][0]:.3f} (target: <= 1.05)")
        if escnn:
            print(f"  escnn: construction cold {1e3 * cold_e:.1f} ms, again in this process {1e3 * warm_e:.1f} ms; "
                  f"train fwd+bwd {ms(res['escnn'])} | ratio escnn / steertorch "
                  f"{res['escnn'][0] / res['ours'][0]:.2f}x (best) {res['escnn'][1] / res['ours'][1]:.2f}x (median)")
        else:
            print(f"  escnn (reference figures from ANCHORS.md, not measured here): {ESCNN_REFERENCE[name]}")


if __name__ == "__main__":
    main()
