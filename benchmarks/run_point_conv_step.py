"""The whole point-convolution step on CPU: steertorch's compiled "uvu" kernel vs its pure-torch path vs e3nn.

Run with ``python benchmarks/run_point_conv_step.py`` (defaults: 10,000 nodes uniform in a box, a radius graph with
~10 neighbours each, about 100,000 edges; float32; 2 threads). The step is what a tensor field network's
convolution (steertorch's ``PointConv``, e3nn's ``Convolution`` / NequIP's interaction block) does between its
linear maps:

    messages = TP(x[src], Y(r_edge), R_edge)        "uvu" product, one radial weight per edge, channel and path
    out      = scatter_sum(messages, dst)            summed into the target nodes

with node features ``C x (0e + 1o + 2e)`` (C = 32 by default), spherical harmonics Y up to ``lmax`` (2 and 3), one
path per (input block, harmonic, product irrep among the input's irreps), each into its own output block (PointConv's
layout), and per-edge weights ``[edges, weight_numel]`` standing for a radial network's output. The same gather
(``index_select``) and scatter (``index_add``) run in every variant; only the product differs:

- ``kernel``: ``steertorch.o3.TensorProduct`` (the compiled CPU kernel, ``o3/_tensor_product_kernel.c``);
- ``torch``: the same module with the kernel switched off in this process (its pure-torch path, what runs where no C
  compiler is, or with ``STEERTORCH_CPU_KERNEL=0``);
- ``e3nn``: ``e3nn.o3.TensorProduct`` with the same instructions, ``shared_weights=False``.

Rows: ``forward`` (under ``torch.no_grad``: inference) and ``fwd+bwd`` (gradients of the node features, the
harmonics and the weights: what training on energies and forces needs first). Variants run interleaved
round-robin in one process (one call of each per round), after one warm-up round; the table gives medians in ms and
the ratios e3nn / kernel and torch / kernel (> 1: the kernel is faster). Outputs (and, kernel vs torch, gradients)
are checked to agree first. The machine is shared: the load average is printed, and times are noisy. Last, the
kernel variant's step is timed in parts (gather, product, scatter and their backward passes), each with the
allocation of its output: what is left outside the product.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from unittest import mock

import torch


def bench(fns: dict[str, Callable[[], object]], rounds: int, warmup: int = 1) -> dict[str, float]:
    """Median seconds of each ``fns[name]()``, timed round-robin after ``warmup`` rounds."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(v) for name, v in times.items()}


@contextlib.contextmanager
def kernel_off() -> Iterator[None]:
    """steertorch's compiled kernel out of use in this block (its products take the pure-torch path)."""
    import steertorch.o3._tensor_product_kernel as kernel

    with mock.patch.object(kernel, "cpu_kernel_available", lambda: False):
        yield


def conv_instructions(o3, irreps_in, irreps_sh) -> tuple[object, list[tuple]]:
    """PointConv's product: one "uvu" path per (input block, harmonic, product irrep among the input's irreps)."""
    wanted = {ir for _, ir in irreps_in}
    mid, instructions = [], []
    for i, (mul, ir_in) in enumerate(irreps_in):
        for j, (_, ir_sh) in enumerate(irreps_sh):
            for ir_out in ir_in * ir_sh:
                if ir_out in wanted:
                    instructions.append((i, j, len(mid), "uvu", True))
                    mid.append((mul, ir_out))
    return o3.Irreps(mid), instructions


def graph(nodes: int, neighbours: float, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Points uniform in a cube whose density gives ``neighbours`` points within radius 1 of each: (pos, edges)."""
    from steertorch.graph import radius_graph

    side = (nodes * 4 / 3 * math.pi / neighbours) ** (1 / 3)
    pos = side * torch.rand(nodes, 3, generator=gen, dtype=torch.float64)
    return pos, radius_graph(pos, 1.0)


def step(tp, x: torch.Tensor, sh: torch.Tensor, w: torch.Tensor, src: torch.Tensor, dst: torch.Tensor,
         nodes: int) -> torch.Tensor:
    """Gather, product, scatter-sum."""
    messages = tp(x.index_select(0, src), sh, w)
    return messages.new_zeros(nodes, messages.shape[1]).index_add(0, dst, messages)


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=os.path.dirname(os.path.abspath(__file__)), check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10000)
    parser.add_argument("--neighbours", type=float, default=10.0, help="mean neighbours per node (default 10)")
    parser.add_argument("--mul", type=int, default=32, help="channels per irrep of the node features (default 32)")
    parser.add_argument("--lmax", type=int, nargs="+", default=[2, 3], help="degrees of the harmonics (default 2 3)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per row (default 3)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--float64", action="store_true", help="float64 instead of float32")
    parser.add_argument("--no-e3nn", action="store_true", help="leave e3nn out (it is the slowest by far)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dtype = torch.float64 if args.float64 else torch.float32
    from steertorch import o3

    e3o3 = None
    if not args.no_e3nn:
        try:
            import e3nn
            import e3nn.o3 as e3o3
        except ImportError:
            e3nn = None
    kernel = o3.cpu_kernel_available()
    gen = torch.Generator().manual_seed(0)
    pos, edge_index = graph(args.nodes, args.neighbours, gen)
    src, dst = edge_index
    edges = src.shape[0]
    print(f"commit {commit()}; torch {torch.__version__}, {torch.get_num_threads()} threads, e3nn "
          f"{e3nn.__version__ if e3o3 is not None else 'not run'}; {args.nodes} nodes, {edges} edges "
          f"({edges / args.nodes:.1f} per node), {str(dtype).replace('torch.', '')}; steertorch CPU kernel "
          f"{'in use' if kernel else 'NOT in use (both steertorch rows are its torch path)'}; load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    irreps_in = o3.Irreps(" + ".join(f"{args.mul}x{ir}" for ir in ("0e", "1o", "2e")))
    header = f"{'lmax':>4} | {'paths':>5} | {'row':<8} | {'kernel ms':>9} | {'torch ms':>9} | {'e3nn ms':>9} | " \
             f"{'e3nn / kernel':>13} | {'torch / kernel':>14}"
    rows, parts = [], []
    for lmax in args.lmax:
        irreps_sh = o3.Irreps.spherical_harmonics(lmax)
        mid, instructions = conv_instructions(o3, irreps_in, irreps_sh)
        with torch.random.fork_rng():
            torch.set_default_dtype(dtype)
            try:
                ours = o3.TensorProduct(irreps_in, irreps_sh, mid, instructions, shared_weights=False,
                                        internal_weights=False)
                ref = None if e3o3 is None else e3o3.TensorProduct(str(irreps_in), str(irreps_sh), str(mid),
                                                                   instructions, shared_weights=False,
                                                                   internal_weights=False)
            finally:
                torch.set_default_dtype(torch.float32)
        x = irreps_in.randn(args.nodes, -1, generator=gen, dtype=dtype)
        sh = o3.spherical_harmonics(irreps_sh, (pos[src] - pos[dst]).to(dtype), normalize=True)
        w = torch.randn(edges, ours.weight_numel, generator=gen, dtype=dtype) / math.sqrt(len(instructions))
        grad_out = torch.randn(args.nodes, mid.dim, generator=gen, dtype=dtype)
        inputs = [t.clone().requires_grad_(True) for t in (x, sh, w)]
        variants: dict[str, Callable] = {"kernel": lambda f: f(), "torch": lambda f: _off(f)}
        modules = {"kernel": ours, "torch": ours}
        if ref is not None:
            variants["e3nn"], modules["e3nn"] = (lambda f: f()), ref

        def forward(name, variants=variants, modules=modules, x=x, sh=sh, w=w):
            with torch.no_grad():
                return variants[name](lambda: step(modules[name], x, sh, w, src, dst, args.nodes))

        def fwd_bwd(name, variants=variants, modules=modules, inputs=inputs, grad_out=grad_out):
            return variants[name](lambda: torch.autograd.grad(step(modules[name], *inputs, src, dst, args.nodes),
                                                              inputs, grad_out))

        # the same results first
        outs = {name: forward(name) for name in variants}
        grads = {name: fwd_bwd(name) for name in ("kernel", "torch")}
        scale = float(outs["torch"].abs().max())
        diffs = {name: float((out - outs["torch"]).abs().max()) / scale for name, out in outs.items()}
        gdiff = max(float((a - b).abs().max() / b.abs().max()) for a, b in zip(grads["kernel"], grads["torch"]))
        tol = 1e-4 if dtype == torch.float32 else 1e-10
        if max(diffs.values()) > tol or gdiff > tol:
            raise RuntimeError(f"lmax {lmax}: outputs differ (relative to the largest: {diffs}; kernel vs torch "
                               f"gradients {gdiff:.1e})")
        print(f"lmax {lmax}: {len(instructions)} paths, {ours.weight_numel} weights per edge, messages of "
              f"{mid.dim} floats; largest difference to the torch path (relative): outputs "
              + ", ".join(f"{n} {d:.1e}" for n, d in diffs.items() if n != "torch") + f", gradients kernel {gdiff:.1e}")
        del outs, grads
        for row, fn in (("forward", forward), ("fwd+bwd", fwd_bwd)):
            t = bench({name: (lambda name=name, fn=fn: fn(name)) for name in variants}, args.rounds)
            rows.append((lmax, len(instructions), row, t))
        if kernel:
            parts.append((lmax, kernel_parts(ours, x, sh, w, src, dst, grad_out, args.rounds)))
    print()
    print(header)
    print("-" * len(header))
    for lmax, paths, row, t in rows:
        e3 = t.get("e3nn")
        e3_ms = "-" if e3 is None else f"{1e3 * e3:.1f}"
        e3_ratio = "-" if e3 is None else f"{e3 / t['kernel']:.2f}x"
        print(f"{lmax:>4} | {paths:>5} | {row:<8} | {1e3 * t['kernel']:>9.1f} | {1e3 * t['torch']:>9.1f} | "
              f"{e3_ms:>9} | {e3_ratio:>13} | {t['torch'] / t['kernel']:>13.2f}x")
    for lmax, t in parts:
        total = sum(t.values())
        print(f"lmax {lmax}, kernel step in parts (medians, ms; sum {1e3 * total:.0f}): "
              + ", ".join(f"{name} {1e3 * v:.0f}" for name, v in t.items()))
    return 0


def kernel_parts(tp, x: torch.Tensor, sh: torch.Tensor, w: torch.Tensor, src: torch.Tensor, dst: torch.Tensor,
                 grad_out: torch.Tensor, rounds: int) -> dict[str, float]:
    """The kernel variant's step taken apart: the gather, the product and the scatter of the forward; the gather of
    the output gradient (the scatter's backward), the product's backward (gradients of x[src], the harmonics and the
    weights) and the scatter of x[src]'s gradient (the gather's backward). Each includes allocating its output."""
    kp = tp._uvu_plan.kernel(x, sh, w, tp.cg_uvu)
    cg, nodes = tp.cg_uvu, x.shape[0]
    xe = x.index_select(0, src)
    messages = kp.forward(xe, sh, w, cg)
    ge = grad_out.index_select(0, dst)
    return bench({
        "gather": lambda: x.index_select(0, src),
        "product": lambda: kp.forward(xe, sh, w, cg),
        "scatter": lambda: messages.new_zeros(nodes, messages.shape[1]).index_add(0, dst, messages),
        "gather of the gradient": lambda: grad_out.index_select(0, dst),
        "product backward": lambda: kp.backward(xe, sh, w, cg, ge, (True, True, True)),
        "scatter of x's gradient": lambda: xe.new_zeros(nodes, xe.shape[1]).index_add(0, src, xe),
    }, rounds)


def _off(f: Callable) -> object:
    with kernel_off():
        return f()


if __name__ == "__main__":
    raise SystemExit(main())
