"""Graph-model benchmarks: SEGNN and EGNN on the n-body batch, a tensor field network on 1000-atom clouds.

Run with ``python benchmarks/run_graph_models.py`` (2 threads, float32, CPU). Prints the best
and median wall time of a forward pass and of a forward + backward pass (a loss on the
outputs, gradients of all parameters) of:

- SEGNN, n-body setting of the SEGNN paper: 100 fully connected five-node graphs (500 nodes,
  2000 edges), input ``2x1o + 1x0e``, edge features ``2x0e`` (distance, charge product),
  node attributes = mean edge harmonics + harmonics of the velocity, "64 hidden features" in
  the reference's convention (``weight_balanced_irreps(64, 0e + 1o)`` = ``32x0e + 32x1o``),
  lmax_attr 1, 4 layers, node output ``1x1o``, sum aggregation (the reference's);
- one SEGNN layer against a reference layer built from e3nn 0.6's
  ``FullyConnectedTensorProduct`` + ``Gate`` with the same irreps and the same computation
  (the reference SEGNN's ``O3TensorProductSwishGate`` structure: two gated TPs on the edge
  attributes for messages, sum aggregation, a gated TP and a TP on the node attributes for the
  update, residual), in two layouts: the reference's (message input ``h_i + h_j + 0e + 2x0e``
  concatenated unsorted, as the reference SEGNN builds it) and a sorted one (the layout our
  layer uses internally). Ratio = e3nn / ours (> 1: we are faster). Only when e3nn is
  importable;
- EGNN (64 hidden, 4 layers, velocity term, edge attribute q_i q_j) on the same n-body batch
  (no reference implementation is installed: absolute numbers only);
- TensorFieldNetwork (``steertorch.models``, default lmax 2, mul 8, 2 layers, energy output,
  sum pooling) on 1000-atom random clouds (uniform in a 10^3 box, radius about 1.8, widened from
  the bulk value 1.684 until the mean is 20 neighbours per atom), the radius graph built once
  outside the timed region (its own time is printed separately). Skipped with a message when the model is not available.

Contestants are timed round-robin (interleaved) after a warm-up; ratios use the best times.
"""

from __future__ import annotations

import math
import statistics
import time

import torch

THREADS = 2
NBODY_GRAPHS, NBODY_NODES = 100, 5


def bench(fns: dict, seconds: float = 3.0, min_rounds: int = 5, max_rounds: int = 200, warmup: int = 3) -> dict:
    """``{name: (best, median)}`` wall times (s) of ``fns[name]()``, timed round-robin after a warm-up."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict = {name: [] for name in fns}
    start, rounds = time.perf_counter(), 0
    while rounds < max_rounds and (rounds < min_rounds or time.perf_counter() - start < seconds):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
        rounds += 1
    return {name: (min(v), statistics.median(v)) for name, v in times.items()}


def fwd_bwd(module_call, params):
    def run():
        out = module_call()
        loss = sum(o.pow(2).sum() for o in (out if isinstance(out, tuple) else (out,)))
        loss.backward()
        for p in params:
            p.grad = None
    return run


def fwd(module_call):
    def run():
        with torch.no_grad():
            module_call()
    return run


def show(title: str, res: dict) -> None:
    print(title)
    for name, (best, med) in res.items():
        print(f"  {name:<44s} best {best * 1e3:8.2f} ms   median {med * 1e3:8.2f} ms")


def nbody_batch(generator: torch.Generator):
    n = NBODY_GRAPHS * NBODY_NODES
    pos = torch.randn(n, 3, generator=generator)
    vel = torch.randn(n, 3, generator=generator)
    charges = torch.randint(0, 2, (n, 1), generator=generator).float() * 2 - 1
    local = torch.tensor([[j, i] for i in range(NBODY_NODES) for j in range(NBODY_NODES) if i != j]).T
    offsets = torch.arange(NBODY_GRAPHS).repeat_interleave(local.shape[1]) * NBODY_NODES
    edge_index = local.repeat(1, NBODY_GRAPHS) + offsets
    batch = torch.arange(NBODY_GRAPHS).repeat_interleave(NBODY_NODES)
    return pos, vel, charges, edge_index, batch


# --------------------------------------------------------------------------- e3nn reference layer
def e3nn_segnn_layer(irreps_in, irreps_hidden, irreps_attr, irreps_extra, sorted_layout: bool):
    """A SEGNN layer from e3nn parts, the reference SEGNN's structure (see the module docstring)."""
    from e3nn import o3
    from e3nn.nn import Gate

    from steertorch.graph import scatter_sum

    def gated(irreps_a, irreps_b, attr):
        irreps_b = o3.Irreps(irreps_b)
        scalars = o3.Irreps([(m, ir) for m, ir in irreps_b if ir.l == 0])
        gated_ = o3.Irreps([(m, ir) for m, ir in irreps_b if ir.l > 0])
        gates = o3.Irreps(f"{gated_.num_irreps}x0e")
        gate = Gate(scalars, [torch.nn.functional.silu], gates, [torch.sigmoid], gated_)
        tp = o3.FullyConnectedTensorProduct(irreps_a, attr, gate.irreps_in)
        return tp, gate

    class Layer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            irreps_msg = (irreps_in + irreps_in + o3.Irreps("0e") + irreps_extra)
            self.perm = None
            if sorted_layout:
                s = irreps_msg.sort()
                starts = [sl.start for sl in irreps_msg.slices()]
                self.perm = torch.tensor([starts[i] + k for i in s.inv for k in range(irreps_msg[i].dim)])
                irreps_msg = s.irreps.simplify()
            self.m1 = gated(irreps_msg, irreps_hidden, irreps_attr)
            self.m2 = gated(irreps_hidden, irreps_hidden, irreps_attr)
            self.u1 = gated((irreps_in + irreps_hidden).simplify(), irreps_hidden, irreps_attr)
            self.u2 = o3.FullyConnectedTensorProduct(irreps_hidden, irreps_attr, irreps_in)
            for tp, gate in (self.m1, self.m2, self.u1):
                self.add_module(f"tp{id(tp)}", tp)
                self.add_module(f"gate{id(gate)}", gate)

        def forward(self, x, pos, edge_index, edge_attr, node_attr, ef):
            src, dst = edge_index
            d2 = (pos[dst] - pos[src]).pow(2).sum(-1, keepdim=True)
            m = torch.cat([x[dst], x[src], d2, ef], -1)
            if self.perm is not None:
                m = m[:, self.perm]
            m = self.m1[1](self.m1[0](m, edge_attr))
            m = self.m2[1](self.m2[0](m, edge_attr))
            m = scatter_sum(m, dst, dim_size=x.shape[0])
            u = self.u1[1](self.u1[0](torch.cat([x, m], -1), node_attr))
            return x + self.u2(u, node_attr)

    return Layer()


def main() -> None:
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    from steertorch.graph import SEGNNLayer, segnn_attributes, weight_balanced_irreps
    from steertorch.models import EGNN, SEGNN
    from steertorch.o3 import Irreps, spherical_harmonics

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, CPU")
    pos, vel, charges, ei, batch = nbody_batch(g)
    n, e = pos.shape[0], ei.shape[1]
    print(f"n-body batch: {NBODY_GRAPHS} graphs x {NBODY_NODES} nodes = {n} nodes, {e} edges")

    # ------------------------------------------------------------------ SEGNN model
    centre = torch.zeros(NBODY_GRAPHS, 3).index_add(0, batch, pos) / NBODY_NODES
    x = torch.cat([pos - centre[batch], vel, vel.norm(dim=1, keepdim=True)], 1)
    ef = torch.cat([(pos[ei[0]] - pos[ei[1]]).norm(dim=1, keepdim=True), charges[ei[0]] * charges[ei[1]]], 1)
    edge_attr, node_attr = segnn_attributes(pos, ei, 1)
    node_attr = node_attr + spherical_harmonics([0, 1], vel, normalization="component")
    hidden = weight_balanced_irreps(64, "0e + 1o")
    segnn = SEGNN("2x1o + 1x0e", "1x1o", irreps_hidden=hidden, lmax_attr=1, num_layers=4,
                  irreps_edge_features="2x0e", task="node", aggr="sum")
    print(f"\nSEGNN: hidden {segnn.irreps_hidden}, lmax_attr 1, 4 layers, "
          f"{sum(p.numel() for p in segnn.parameters())} parameters")

    def call_segnn():
        return segnn(x, pos, ei, batch, edge_features=ef, node_attr=node_attr)

    show("SEGNN model (n-body batch)", bench({"forward": fwd(call_segnn),
                                              "forward + backward": fwd_bwd(call_segnn, list(segnn.parameters()))}))

    # ------------------------------------------------------------------ one layer vs e3nn
    layer = SEGNNLayer(hidden, hidden, hidden, 1, "2x0e", aggr="sum")
    h = Irreps(hidden).randn(n, -1, generator=g)

    def call_ours():
        return layer(h, pos, ei, edge_attr, node_attr, ef)

    fns = {"ours: forward": fwd(call_ours), "ours: forward + backward": fwd_bwd(call_ours, list(layer.parameters()))}
    try:
        from e3nn import o3 as e3o3
    except ImportError:
        e3o3 = None
        print("e3nn not importable: no reference layer")
    refs = {}
    if e3o3 is not None:
        for sorted_layout in (False, True):
            ref = e3nn_segnn_layer(e3o3.Irreps(str(hidden)), e3o3.Irreps(str(hidden)), e3o3.Irreps("0e + 1o"),
                                   e3o3.Irreps("2x0e"), sorted_layout)
            tag = "e3nn sorted" if sorted_layout else "e3nn reference layout"
            refs[tag] = ref

            def call_ref(ref=ref):
                return ref(h, pos, ei, edge_attr, node_attr, ef)

            fns[f"{tag}: forward"] = fwd(call_ref)
            fns[f"{tag}: forward + backward"] = fwd_bwd(call_ref, list(ref.parameters()))
    res = bench(fns)
    show(f"one SEGNN layer ({hidden}, attr 0e + 1o, 2x0e edge features; n-body batch)", res)
    for tag in refs:
        for what in ("forward", "forward + backward"):
            ratio = res[f"{tag}: {what}"][0] / res[f"ours: {what}"][0]
            print(f"  ratio {tag} / ours, {what}: {ratio:.2f}")

    # ------------------------------------------------------------------ EGNN
    egnn = EGNN(1, hidden_features=64, edge_attr_dim=1, num_layers=4, use_velocity=True)
    speed = vel.norm(dim=1, keepdim=True)
    q = charges[ei[0]] * charges[ei[1]]

    def call_egnn():
        return egnn(speed, pos, ei, q, vel)

    print(f"\nEGNN: 64 hidden, 4 layers, velocity term, {sum(p.numel() for p in egnn.parameters())} parameters")
    show("EGNN model (n-body batch)", bench({"forward": fwd(call_egnn),
                                             "forward + backward": fwd_bwd(call_egnn, list(egnn.parameters()))}))

    # ------------------------------------------------------------------ TFN
    try:
        from steertorch.models import TensorFieldNetwork
    except ImportError:
        print("\nTensorFieldNetwork not available: skipped")
        return
    from steertorch.graph import radius_graph

    atoms, side = 1000, 10.0
    r = (20 * 3 / (4 * math.pi) * side**3 / atoms) ** (1 / 3)
    cloud = torch.rand(atoms, 3, generator=g) * side
    t = time.perf_counter()
    cloud_ei = radius_graph(cloud, r)
    t_graph = time.perf_counter() - t
    while cloud_ei.shape[1] < 20 * atoms:  # atoms near the box faces have fewer neighbours: widen r a little
        r *= 1.02
        cloud_ei = radius_graph(cloud, r)
    tfn = TensorFieldNetwork(irreps_out="0e", r_max=r)
    print(f"\nTFN: {tfn.irreps_hidden} hidden, {len(tfn.layers)} layers, {atoms} atoms, "
          f"{cloud_ei.shape[1] / atoms:.1f} neighbours per atom (r = {r:.3f}); radius_graph {t_graph * 1e3:.1f} ms")

    def call_tfn():
        return tfn(cloud, edge_index=cloud_ei)

    show("TensorFieldNetwork (1000 atoms)", bench({"forward": fwd(call_tfn),
                                                   "forward + backward": fwd_bwd(call_tfn, list(tfn.parameters()))}))


if __name__ == "__main__":
    main()
