r"""SEGNN (Brandstetter et al. 2022): embedding, steerable message-passing layers, readout.

.. math::

    h^{(0)}_i = \mathrm{TP}_{a_i}(f_i), \qquad
    h^{(k+1)} = \mathrm{SEGNNLayer}_k\big(h^{(k)}, x, \mathcal{E}\big), \qquad
    z_i = \mathrm{TP}_{a_i}\big(\mathrm{TPGate}_{a_i}(h^{(K)}_i)\big),

then, for graph-level outputs (``task="graph"``), :math:`y_g = \mathrm{TP}(\mathrm{TPGate}(
\bigoplus_{i \in g} z_i))` with :math:`\bigoplus` the mean (or sum) over the graph's nodes and
attribute-free steerable layers after pooling (the reference's pre-pool / post-pool networks).
Every step is O(3)-equivariant and uses positions only through differences: outputs
transform by ``irreps_out`` under rotations and reflections and are translation invariant
(invariant for the default ``"0e"`` output).
"""

from __future__ import annotations

import torch
from torch import nn

from .._dtype import check_input_dtype, module_dtype
from ..graph import radius_graph
from ..graph._segnn import (
    O3TensorProduct,
    O3TensorProductGate,
    SEGNNLayer,
    _attr_irreps,
    segnn_attributes,
    segnn_node_attributes,
    weight_balanced_irreps,
)
from ..o3 import Irreps
from ._readout import pool_nodes

__all__ = ["SEGNN"]

_TASKS = ("graph", "node")
_POOLS = ("mean", "sum")


class SEGNN(nn.Module):
    r"""Steerable E(3)-equivariant graph neural network.

    Args:
        irreps_in: irreps of the input node features (default ``"0e"``: every node gets 1 when
            ``x`` is not given). N-body setting: ``"2x1o + 1x0e"`` (position relative to the
            centre, velocity, speed).
        irreps_out: irreps of the output (default ``"0e"``, an invariant).
        irreps_hidden: hidden irreps. Default: :func:`~steertorch.graph.weight_balanced_irreps`
            ``(hidden_features, 0e + ... + lmax_attr, lmax=lmax_hidden)``, the reference's
            meaning of "``hidden_features`` hidden features" (64 at lmax 1: ``32x0e + 32x1o``).
        hidden_features, lmax_hidden: see ``irreps_hidden`` (``lmax_hidden`` defaults to ``lmax_attr``).
        lmax_attr: degree of the steerable edge / node attributes.
        num_layers: number of :class:`~steertorch.graph.SEGNNLayer`.
        irreps_edge_features: extra invariant edge features (e.g. ``"1x0e"`` for charge products).
        aggr, norm: passed to every layer (``"mean"`` (default) / ``"sum"`` (the reference's);
            ``None`` / ``"batch"``), see :class:`~steertorch.graph.SEGNNLayer`.
        task: ``"graph"`` (pooled outputs ``[num_graphs, irreps_out.dim]``) or ``"node"``
            (``[N, irreps_out.dim]``).
        pool: ``"mean"`` (default, as the reference) or ``"sum"``.
        r_max: radius of the graph built when ``edge_index`` is not given.
        edge_invariant: ``"squared_distance"`` (default), ``"distance"`` or ``"none"``: the invariant
            of :math:`x_i - x_j` every message receives (see :class:`~steertorch.graph.SEGNNLayer`).
        parametrization: ``"e3nn"`` (default) or ``"reference"`` (the reference code's weight
            parametrisation, see :class:`~steertorch.graph.O3TensorProduct`).
        conv: ``"tp"`` (default) or ``"so2"``: the message layers computed in each edge's frame (see
            :class:`~steertorch.graph.SEGNNLayer`; ``edge_attr`` cannot be given then).

    ``forward(x=None, pos, edge_index=None, batch=None, edge_features=None, node_attr=None,
    num_graphs=None, edge_attr=None)``: ``x`` ``[N, irreps_in.dim]``, ``pos`` ``[N, 3]``,
    ``edge_index`` ``[2, E]`` (``[source, target]``), ``batch`` ``[N]``, ``edge_features``
    ``[E, irreps_edge_features.dim]``; ``edge_attr`` ``[E, (lmax_attr + 1)^2]`` replaces the
    steerable edge attributes (default: the spherical harmonics of :math:`x_i - x_j`, see
    :func:`~steertorch.graph.segnn_attributes`) and ``node_attr`` ``[N, (lmax_attr + 1)^2]``
    the node attributes (default: the mean of the edge attributes over incoming edges, scalar
    part 1; the n-body reference adds the harmonics of the velocity).

    >>> model = SEGNN("0e", "0e", hidden_features=8, num_layers=2, r_max=3.0)
    >>> model(pos=torch.randn(6, 3), batch=torch.tensor([0, 0, 0, 1, 1, 1])).shape
    torch.Size([2, 1])
    """

    def __init__(self, irreps_in: object = "0e", irreps_out: object = "0e", irreps_hidden: object | None = None,
                 hidden_features: int = 64, lmax_hidden: int | None = None, lmax_attr: int = 1, num_layers: int = 4,
                 irreps_edge_features: object | None = None, aggr: str = "mean", norm: str | None = None,
                 task: str = "graph", pool: str = "mean", r_max: float | None = None,
                 edge_invariant: str = "squared_distance", parametrization: str = "e3nn", conv: str = "tp") -> None:
        super().__init__()
        if task not in _TASKS:
            raise ValueError(f"SEGNN: task must be one of {_TASKS}, got {task!r}")
        if pool not in _POOLS:
            raise ValueError(f"SEGNN: pool must be one of {_POOLS}, got {pool!r}")
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 0:
            raise ValueError(f"SEGNN: num_layers must be an int >= 0, got {num_layers!r}")
        self.irreps_in = Irreps(irreps_in)
        self.irreps_attr = _attr_irreps(lmax_attr)
        if irreps_hidden is None:
            irreps_hidden = weight_balanced_irreps(hidden_features, self.irreps_attr, lmax=lmax_hidden)
        self.irreps_hidden = Irreps(irreps_hidden).regroup()
        self.irreps_edge_features = Irreps(irreps_edge_features) if irreps_edge_features is not None else Irreps()
        self.task = task
        self.pool = pool
        self.r_max = r_max
        attr = self.irreps_attr
        p = dict(parametrization=parametrization)
        self.embedding = O3TensorProduct(self.irreps_in, self.irreps_hidden, attr, **p)
        self.layers = nn.ModuleList([
            SEGNNLayer(self.irreps_hidden, self.irreps_hidden, self.irreps_hidden, attr, self.irreps_edge_features,
                       aggr=aggr, norm=norm, residual=True, edge_invariant=edge_invariant, conv=conv, **p)
            for _ in range(num_layers)
        ])
        out = Irreps(irreps_out)
        self.pre_pool_1 = O3TensorProductGate(self.irreps_hidden, self.irreps_hidden, attr, **p)
        if task == "graph":
            pooled = (out * self.irreps_hidden.num_irreps).regroup()
            self.pre_pool_2 = O3TensorProduct(self.pre_pool_1.irreps_out, pooled, attr, **p)
            self.post_pool_1 = O3TensorProductGate(pooled, pooled, **p)
            self.post_pool_2 = O3TensorProduct(self.post_pool_1.irreps_out, out, **p)
        else:
            self.pre_pool_2 = O3TensorProduct(self.pre_pool_1.irreps_out, out, attr, **p)
            self.post_pool_1 = self.post_pool_2 = None
        self.irreps_out = out
        self.conv = conv

    def forward(self, x: torch.Tensor | None = None, pos: torch.Tensor | None = None,
                edge_index: torch.Tensor | None = None, batch: torch.Tensor | None = None,
                edge_features: torch.Tensor | None = None, node_attr: torch.Tensor | None = None,
                num_graphs: int | None = None, edge_attr: torch.Tensor | None = None) -> torch.Tensor:
        """Node features and positions -> ``[num_graphs, irreps_out.dim]`` (or ``[N, irreps_out.dim]``)."""
        if pos is None or pos.dim() != 2 or pos.shape[-1] != 3:
            raise ValueError(f"SEGNN: expected pos [N, 3], got {None if pos is None else list(pos.shape)}")
        n = pos.shape[0]
        if x is None:
            if self.irreps_in != Irreps("0e"):
                raise ValueError(f"SEGNN: node features x [N, {self.irreps_in.dim}] of irreps {self.irreps_in} "
                                 f"are required")
            x = pos.new_ones(n, 1)
        if x.shape != (n, self.irreps_in.dim):
            raise ValueError(f"SEGNN: expected x [{n}, {self.irreps_in.dim}] of irreps {self.irreps_in}, "
                             f"got {list(x.shape)}")
        dtype = module_dtype(self)
        for what, t in (("node features x", x), ("pos", pos), ("edge_features", edge_features),
                        ("node_attr", node_attr)):
            check_input_dtype("SEGNN", what, t, dtype)
        if edge_index is None:
            if self.r_max is None:
                raise ValueError("SEGNN: give edge_index, or r_max at construction to build a radius graph")
            edge_index = radius_graph(pos.detach(), self.r_max, batch=batch)
        if edge_attr is not None and self.conv == "so2":
            raise ValueError("SEGNN: conv='so2' computes the edge harmonics from pos; do not pass edge_attr")
        if edge_attr is None:
            edge_attr, default_node_attr = segnn_attributes(pos, edge_index, self.irreps_attr, num_nodes=n)
        elif edge_attr.shape != (edge_index.shape[1], self.irreps_attr.dim):
            raise ValueError(f"SEGNN: expected edge_attr [{edge_index.shape[1]}, {self.irreps_attr.dim}] of irreps "
                             f"{self.irreps_attr}, got {list(edge_attr.shape)}")
        else:
            default_node_attr = segnn_node_attributes(edge_attr, edge_index, n) if node_attr is None else None
        if node_attr is None:
            node_attr = default_node_attr
        elif node_attr.shape != (n, self.irreps_attr.dim):
            raise ValueError(f"SEGNN: expected node_attr [{n}, {self.irreps_attr.dim}] of irreps "
                             f"{self.irreps_attr}, got {list(node_attr.shape)}")
        h = self.embedding(x, node_attr)
        layer_edge_attr = None if self.conv == "so2" else edge_attr  # "so2": harmonics from pos, in each frame
        for layer in self.layers:
            h = layer(h, pos, edge_index, layer_edge_attr, node_attr, edge_features)
        h = self.pre_pool_2(self.pre_pool_1(h, node_attr), node_attr)
        if self.task == "graph":
            h = pool_nodes(h, batch, num_graphs, reduce=self.pool)
            h = self.post_pool_2(self.post_pool_1(h))
        return h

    def extra_repr(self) -> str:
        return (f"{self.irreps_in} -> [{self.irreps_hidden}] x {len(self.layers)} -> {self.irreps_out}, "
                f"attr={self.irreps_attr}, task={self.task!r}, pool={self.pool!r}, conv={self.conv!r}")
