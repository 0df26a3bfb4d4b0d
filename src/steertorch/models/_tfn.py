r"""Tensor field network (Thomas et al. 2018): a stack of point convolutions and a per-graph readout.

.. math::

    h^{(0)}_a = x_a, \qquad
    h^{(k+1)} = \mathrm{PointConv}_k\big(h^{(k)}, x, \mathcal{E}\big) \;(\text{gated}), \qquad
    y_g = \bigoplus_{a \in g} \mathrm{PointConv}_\mathrm{out}\big(h^{(K)}, x, \mathcal{E}\big)_a,

with :math:`\bigoplus` the sum (or mean) over the nodes of graph :math:`g`, or no pooling for
node-level outputs. Positions enter only through edge vectors :math:`x_b - x_a`, so outputs are
invariant under translations; they transform under rotations and reflections by the
``irreps_out`` representation, and permuting the nodes permutes node outputs and leaves pooled
ones unchanged. With ``num_classes`` a plain linear head maps the pooled scalars (0e and 0o)
to logits: invariant under rotations and translations, but not under reflections when 0o
scalars are present, so mirror-image (chiral) shapes can be told apart.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .._dtype import check_input_dtype, module_dtype
from ..graph import edge_vectors, radius_graph
from ..graph._point_conv import PointConv
from ..o3 import Irreps
from ._readout import pool_nodes

__all__ = ["TensorFieldNetwork"]

_POOLS = ("sum", "mean", None)


def _default_hidden(mul: int, lmax: int) -> Irreps:
    """``mul`` scalars of each parity, and ``max(1, mul // 2)`` copies of each l >= 1 with both parities."""
    blocks = [(mul, (0, 1)), (mul, (0, -1))]
    for l in range(1, lmax + 1):
        blocks += [(max(1, mul // 2), (l, -1)), (max(1, mul // 2), (l, 1))]
    return Irreps(blocks)


class TensorFieldNetwork(nn.Module):
    r"""Tensor field network on batched point clouds.

    Args:
        irreps_in: irreps of the input node features (default ``"0e"``: when ``x`` is not given
            every node gets the feature 1).
        irreps_out: irreps of the output (per node before pooling). Default: ``"0e"``, or
            ``mul`` copies of 0e and of 0o when ``num_classes`` is given.
        irreps_hidden: irreps of the hidden layers (before the gate's extra scalars). Default:
            ``mul`` x (0e + 0o) and ``mul // 2`` x (le + lo) for 1 <= l <= ``lmax``.
        lmax: largest degree of the edge spherical harmonics (and of the default hidden irreps).
        mul: multiplicity of the default hidden irreps.
        num_layers: number of gated hidden layers (then one output layer).
        r_max: cutoff radius of the radial functions and of the radius graph built when
            ``edge_index`` is not given.
        num_basis, radial_neurons, normalization, radial_basis: passed to every
            :class:`~steertorch.graph.PointConv`.
        pool: ``"sum"`` (default), ``"mean"`` or ``None`` (node-level outputs).
        num_classes: add a linear head from the pooled scalars to ``num_classes`` logits.
        max_num_neighbors: passed to :func:`~steertorch.graph.radius_graph`.
        edge_chunk_size: passed to every :class:`~steertorch.graph.PointConv` (messages in slices of this
            many edges, recomputed in the backward pass: memory for graphs too large for their edge features).
        conv: passed to every :class:`~steertorch.graph.PointConv`: ``"tp"`` (default) or ``"so2"`` (the
            messages in each edge's frame; the same function of the same parameters, faster for high ``lmax``).

    ``forward(pos, x=None, edge_index=None, batch=None, num_graphs=None, shifts=None, cell=None)``:
    ``pos`` ``[N, 3]``, ``x`` ``[N, irreps_in.dim]``, ``batch`` ``[N]`` the graph of each node,
    ``edge_index`` ``[2, E]`` (default: :func:`~steertorch.graph.radius_graph` with ``r_max``),
    ``shifts`` / ``cell`` periodic images (:func:`~steertorch.graph.edge_vectors`). Returns
    ``[num_graphs, irreps_out.dim]`` (or ``[num_graphs, num_classes]``; ``[N, irreps_out.dim]``
    without pooling).

    >>> model = TensorFieldNetwork(irreps_out="0e + 1o", lmax=1, mul=4, num_layers=1)
    >>> model(torch.randn(6, 3), batch=torch.tensor([0, 0, 0, 1, 1, 1])).shape
    torch.Size([2, 4])
    """

    def __init__(
        self,
        irreps_in: object = "0e",
        irreps_out: object | None = None,
        irreps_hidden: object | None = None,
        lmax: int = 2,
        mul: int = 8,
        num_layers: int = 2,
        r_max: float = 2.0,
        num_basis: int = 8,
        radial_neurons: Sequence[int] = (16,),
        radial_basis: str = "bessel",
        normalization: str | float = "sqrt_degree",
        pool: str | None = "sum",
        num_classes: int | None = None,
        max_num_neighbors: int | None = None,
        edge_chunk_size: int | None = None,
        conv: str = "tp",
    ) -> None:
        super().__init__()
        if pool not in _POOLS:
            raise ValueError(f"pool must be one of {_POOLS}, got {pool!r}")
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 0:
            raise ValueError(f"num_layers must be an int >= 0, got {num_layers!r}")
        if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, int)
                                        or num_classes < 1):
            raise ValueError(f"num_classes must be None or an int >= 1, got {num_classes!r}")
        self.irreps_in = Irreps(irreps_in)
        if irreps_out is None:
            irreps_out = f"{mul}x0e + {mul}x0o" if num_classes is not None else "0e"
        irreps_out = Irreps(irreps_out)
        if num_classes is not None and any(ir.l != 0 for _, ir in irreps_out):
            raise ValueError(f"with num_classes the output irreps must be scalars (0e / 0o), got {irreps_out}")
        self.irreps_hidden = Irreps(irreps_hidden) if irreps_hidden is not None else _default_hidden(mul, lmax)
        self.lmax = lmax
        self.r_max = float(r_max)
        self.pool = pool
        self.max_num_neighbors = max_num_neighbors
        conv_kwargs = dict(irreps_sh=lmax, r_max=r_max, num_basis=num_basis, radial_neurons=radial_neurons,
                           radial_basis=radial_basis, normalization=normalization,
                           edge_chunk_size=edge_chunk_size, conv=conv)
        layers = []
        irreps = self.irreps_in
        for _ in range(num_layers):
            layer = PointConv(irreps, self.irreps_hidden, gate=True, **conv_kwargs)
            layers.append(layer)
            irreps = layer.irreps_out
        self.layers = nn.ModuleList(layers)
        self.output = PointConv(irreps, irreps_out, gate=False, **conv_kwargs)
        self.irreps_out = self.output.irreps_out
        self.num_classes = num_classes
        self.head = nn.Linear(self.irreps_out.dim, num_classes) if num_classes is not None else None

    def forward(self, pos: torch.Tensor, x: torch.Tensor | None = None, edge_index: torch.Tensor | None = None,
                batch: torch.Tensor | None = None, num_graphs: int | None = None, shifts: torch.Tensor | None = None,
                cell: torch.Tensor | None = None) -> torch.Tensor:
        """Positions ``[N, 3]`` (and features ``[N, irreps_in.dim]``) -> outputs per graph (or per node)."""
        if pos.dim() != 2 or pos.shape[-1] != 3:
            raise ValueError(f"TensorFieldNetwork: expected pos [N, 3], got {list(pos.shape)}")
        if x is None:
            if self.irreps_in != Irreps("0e"):
                raise ValueError(f"TensorFieldNetwork: node features x [N, {self.irreps_in.dim}] of irreps "
                                 f"{self.irreps_in} are required")
            x = pos.new_ones(pos.shape[0], 1)
        if x.dim() != 2 or x.shape != (pos.shape[0], self.irreps_in.dim):
            raise ValueError(f"TensorFieldNetwork: expected x [{pos.shape[0]}, {self.irreps_in.dim}] of irreps "
                             f"{self.irreps_in}, got {list(x.shape)}")
        dtype = module_dtype(self)
        for what, t in (("node features x", x), ("pos", pos), ("cell", cell)):
            check_input_dtype("TensorFieldNetwork", what, t, dtype)
        if edge_index is None:
            if shifts is not None or cell is not None:
                raise ValueError("TensorFieldNetwork: periodic shifts / cell need an explicit edge_index")
            edge_index = radius_graph(pos.detach(), self.r_max, batch=batch,
                                      max_num_neighbors=self.max_num_neighbors)
        edge_vec = None  # chunked layers without periodic images: each slice's edge vectors with its messages
        if shifts is not None or any(conv.edge_chunk_size is None for conv in (*self.layers, self.output)):
            edge_vec = edge_vectors(pos, edge_index, shifts, cell, batch)
        h = x
        for layer in self.layers:
            h = layer(h, pos, edge_index, edge_vec)
        h = self.output(h, pos, edge_index, edge_vec)
        if self.pool is not None:
            h = pool_nodes(h, batch, num_graphs, reduce=self.pool)
        if self.head is not None:
            h = self.head(h)
        return h

    def extra_repr(self) -> str:
        return (f"{self.irreps_in} -> [{self.irreps_hidden}] x {len(self.layers)} -> {self.irreps_out}, "
                f"lmax={self.lmax}, r_max={self.r_max}, pool={self.pool!r}, num_classes={self.num_classes}")
