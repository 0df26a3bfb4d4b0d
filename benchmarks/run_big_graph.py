"""Big graphs: one training step (forward + backward) of a point convolution with all edges at once against the
same step in chunks of edges (``PointConv(edge_chunk_size=...)``), peak memory and time.

Run with ``python benchmarks/run_big_graph.py [--atoms 1000000] [--chunk 200000] [--threads 2]``.
Atoms are uniform in a cube at a density giving about 12 neighbours within r = 1 (a condensed-matter graph),
the layer is a tensor-field-network convolution 16x0e + 8x1o + 4x2e -> same, harmonics l <= 2, float32. Each
variant runs in a fresh process. The printed memory is what the step adds: the peak resident memory during the
step minus the resident memory once the graph, inputs and module exist. The peak is the kernel's high-water mark
``VmHWM`` (``/proc/self/status``), reset just before the step (writing ``5`` to ``/proc/self/clear_refs``), so
that an earlier, higher peak (building the radius graph) neither hides nor shifts the step's; Linux only.
The same seed gives both variants the same weights, graph and inputs: their outputs and gradients are compared.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import subprocess
import sys
import time

from _memory import reset_peak, status_kib

NEIGHBOURS = 12.0
IRREPS = "16x0e + 8x1o + 4x2e"


def _step(atoms: int, chunk: int | None, threads: int) -> dict:
    import torch

    from steertorch.graph import PointConv, radius_graph

    torch.set_num_threads(threads)
    side = (atoms / (NEIGHBOURS / (4 / 3 * math.pi))) ** (1 / 3)
    g = torch.Generator().manual_seed(0)
    pos = torch.rand(atoms, 3, generator=g) * side
    src, dst = radius_graph(pos, r=1.0)
    edge_index = torch.stack([src, dst])
    torch.manual_seed(0)
    conv = PointConv(IRREPS, IRREPS, irreps_sh=2, r_max=1.0, edge_chunk_size=chunk)
    x = torch.randn(atoms, conv.irreps_in.dim, generator=g, requires_grad=True)
    del src, dst
    gc.collect()
    reset_peak()
    base = status_kib("VmRSS")
    start = time.perf_counter()
    out = conv(x, pos, edge_index)
    (out.pow(2).mean()).backward()
    seconds = time.perf_counter() - start
    peak = status_kib("VmHWM")
    return {"edges": int(edge_index.shape[1]), "seconds": seconds, "step_mib": (peak - base) / 1024,
            "base_mib": base / 1024,
            "out_sum": float(out.double().sum()), "grad_sum": float(x.grad.double().abs().sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--atoms", type=int, default=200_000)
    parser.add_argument("--chunk", type=int, default=100_000, help="edges per chunk")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--chunked-only", action="store_true",
                        help="skip the all-edges step (a graph whose edge features do not fit in memory)")
    parser.add_argument("--_child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._child:
        atoms, chunk, threads = (int(v) for v in args._child)
        print(json.dumps(_step(atoms, chunk if chunk > 0 else None, threads)))
        return
    results = {}
    variants = (("all edges", 0), (f"chunks of {args.chunk}", args.chunk))
    for name, chunk in variants[1:] if args.chunked_only else variants:
        # large blocks straight from mmap (given back to the system when freed), so that the resident memory
        # follows the live tensors instead of glibc's heap high-water mark
        env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}
        proc = subprocess.run([sys.executable, __file__, "--_child", str(args.atoms), str(chunk), str(args.threads)],
                              capture_output=True, text=True, check=True, env=env)
        results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    first = next(iter(results.values()))
    print(f"PointConv {IRREPS}, l <= 2, float32, {args.atoms} atoms, {first['edges']} edges, "
          f"{args.threads} thread(s); one forward + backward")
    for name, r in results.items():
        print(f"  {name:>20}: {r['seconds']:7.2f} s, step memory {r['step_mib']:8.0f} MiB "
              f"({r['step_mib'] * 2**20 / r['edges']:.0f} bytes per edge; {r['base_mib']:.0f} MiB resident before "
              f"the step)")
    if args.chunked_only:
        return
    whole, chunked = results.values()
    print(f"  memory ratio (all / chunked) {whole['step_mib'] / max(chunked['step_mib'], 1e-9):.1f}x, "
          f"time ratio (chunked / all) {chunked['seconds'] / whole['seconds']:.2f}x")
    rel = abs(whole["out_sum"] - chunked["out_sum"]) / max(abs(whole["out_sum"]), 1e-30)
    relg = abs(whole["grad_sum"] - chunked["grad_sum"]) / max(whole["grad_sum"], 1e-30)
    print(f"  same result: output sums differ by {rel:.1e} (relative), input-gradient sums by {relg:.1e}")


if __name__ == "__main__":
    main()
