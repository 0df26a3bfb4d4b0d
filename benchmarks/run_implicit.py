"""Implicit-kernel convolutions against the analytic ones of the same types, timed in the same run.

Run with ``python3 benchmarks/run_implicit.py``. Cases (float32, 2 CPU threads, batch 8):

* grid: ``R2Conv`` C8 regular 8 -> 8 fields, 5x5 kernel, 32x32 images, analytic basis vs
  ``kernel=ImplicitKernel(hidden=[8])``;
* grid: ``R2Conv`` O(2) irreps (0,0), (1,1), (1,2) x 4 each, 5x5, 32x32;
* grid: ``R3Conv`` octahedral irreps (all five, x2), 3x3x3, 12^3;
* points: ``FieldPointConv`` O(3), 8 scalars + 4 vectors -> same, 256 points in a 5^3 box, radius 1.2 (~20 neighbours),
  analytic ``BasisKernel`` vs ``ImplicitKernel(hidden=[8])``.

For each: build time (ms), forward and forward+backward (train mode; best / median of interleaved repeats, ms),
and the implicit / analytic ratios. The implicit kernel evaluates an MLP at every lattice offset or edge, so it
costs more than a fixed basis expansion; the ratio says how much.
"""

from __future__ import annotations

import statistics
import time

import torch

THREADS = 2
REPEATS = 7


def _grid_cases():
    from steertorch import gspaces
    from steertorch.nn import FieldType, ImplicitKernel, R2Conv, R3Conv

    def c8():
        gs = gspaces.rot2dOnR2(8)
        ft = FieldType(gs, 8 * [gs.regular_repr])
        return ft, ft, R2Conv, 5, (8, ft.size, 32, 32), dict(r_max=3.5)

    def o2():
        gs = gspaces.flipRot2dOnR2(-1)
        ft = FieldType(gs, [gs.irrep(*lab) for lab in ((0, 0), (1, 1), (1, 2)) for _ in range(4)])
        return ft, ft, R2Conv, 5, (8, ft.size, 32, 32), dict(r_max=3.5)

    def octa():
        gs = gspaces.octaOnR3()
        ft = FieldType(gs, [psi for psi in gs.irreps() for _ in range(2)])
        return ft, ft, R3Conv, 3, (8, ft.size, 12, 12, 12), dict(r_max=2.0)

    out = []
    for name, make in (("R2Conv C8 regular x8, 5x5", c8), ("R2Conv O(2) k<=2 x4, 5x5", o2),
                       ("R3Conv O irreps x2, 3^3", octa)):
        t_in, t_out, cls, k, shape, kw = make()

        def analytic(t_in=t_in, t_out=t_out, cls=cls, k=k):
            return cls(t_in, t_out, k, padding=k // 2)

        def implicit(t_in=t_in, t_out=t_out, cls=cls, k=k, kw=kw):
            return cls(t_in, t_out, k, padding=k // 2,
                       kernel=ImplicitKernel(t_in.gspace, t_in, t_out, hidden=[8], **kw))

        out.append((name, analytic, implicit, lambda shape=shape: (torch.randn(shape),)))
    return out


def _point_case():
    from steertorch import gspaces
    from steertorch.graph import FieldPointConv, radius_graph
    from steertorch.nn import FieldType, ImplicitKernel

    gs = gspaces.flipRot3dOnR3()
    ft = FieldType(gs, 8 * [gs.trivial_repr] + 4 * [gs.basespace_repr])
    gen = torch.Generator().manual_seed(0)
    pos = torch.rand(256, 3, generator=gen) * 5.0
    edge_index = radius_graph(pos, r=1.2)

    def analytic():
        return FieldPointConv(ft, ft, r_max=1.2)

    def implicit():
        return FieldPointConv(ft, ft, kernel=ImplicitKernel(gs, ft, ft, hidden=[8], r_max=1.2))

    def inputs():
        return torch.randn(256, ft.size), pos, edge_index

    return (f"FieldPointConv O(3) 8x0 + 4x1, {edge_index.shape[1]} edges", analytic, implicit, inputs)


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1e3


def run_case(name, analytic, implicit, inputs) -> None:
    builds = {"analytic": _time(analytic), "implicit": _time(implicit)}
    layers = {"analytic": analytic(), "implicit": implicit()}
    args = inputs()
    fwd = {k: [] for k in layers}
    fb = {k: [] for k in layers}
    for _ in range(REPEATS):  # interleaved
        for key, layer in layers.items():
            with torch.no_grad():
                fwd[key].append(_time(lambda layer=layer: layer(*args)))
            fb[key].append(_time(lambda layer=layer: layer(*args).pow(2).sum().backward()))
    print(f"\n{name}")
    print(f"  {'':10s} {'build ms':>10s} {'fwd best/med ms':>18s} {'fwd+bwd best/med ms':>22s}")
    for key in layers:
        print(f"  {key:10s} {builds[key]:10.1f} {min(fwd[key]):8.2f} /{statistics.median(fwd[key]):8.2f} "
              f"{min(fb[key]):11.2f} /{statistics.median(fb[key]):8.2f}")
    ratio = [builds["implicit"] / builds["analytic"],
             statistics.median(fwd["implicit"]) / statistics.median(fwd["analytic"]),
             statistics.median(fb["implicit"]) / statistics.median(fb["analytic"])]
    print(f"  implicit / analytic: build x{ratio[0]:.2f}, forward x{ratio[1]:.2f}, forward+backward x{ratio[2]:.2f}")


def main() -> None:
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    import os

    print(f"steertorch implicit-kernel benchmark: {THREADS} threads, float32, load average "
          f"{os.getloadavg()[0]:.1f} (timings on a shared machine are noisy; ratios are from the same run)")
    for case in _grid_cases() + [_point_case()]:
        run_case(*case)


if __name__ == "__main__":
    main()
