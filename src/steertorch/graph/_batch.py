r"""``Graph``: a batch of point-cloud graphs stored as concatenated tensors (PyG's layout).

A batch of ``B`` graphs with :math:`N = \sum_b N_b` nodes and :math:`E = \sum_b E_b` edges is

- ``pos`` ``[N, d]`` and node features ``x`` ``[N, ...]``;
- ``edge_index`` ``[2, E]`` (``[source, target]``, indices into the concatenated nodes);
- ``batch`` ``[N]``: the graph of each node;
- optional ``cell`` ``[B, d, d]`` (lattice vectors as rows) and ``shifts`` ``[E, d]`` (see
  :func:`~steertorch.graph.radius_graph`), edge features ``edge_attr`` ``[E, ...]`` and targets ``y``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch

__all__ = ["Graph"]


def _cat_optional(name: str, values: list[torch.Tensor | None]) -> torch.Tensor | None:
    present = [v is not None for v in values]
    if not any(present):
        return None
    if not all(present):
        raise ValueError(f"cannot collate graphs where only some have {name!r}")
    return torch.cat(values, dim=0)


@dataclasses.dataclass
class Graph:
    r"""One graph or a batch of graphs (concatenated nodes and edges, with a ``batch`` vector).

    Fields: ``pos`` ``[N, d]``; ``x`` ``[N, ...]`` node features; ``edge_index`` ``[2, E]``
    (``[source, target]``); ``batch`` ``[N]`` (default all zeros); ``cell`` ``[d, d]`` or
    ``[num_graphs, d, d]`` (stored as the latter); ``shifts`` ``[E, d]`` lattice shifts of the
    edges; ``edge_attr`` ``[E, ...]``; ``y`` targets (concatenated along dim 0 by
    :meth:`collate`: give a graph-level target the shape ``[1, ...]``); ``num_graphs``
    (default ``batch.max() + 1``).

    >>> a = Graph(pos=torch.zeros(2, 3), edge_index=torch.tensor([[0], [1]]))
    >>> b = Graph(pos=torch.ones(3, 3), edge_index=torch.tensor([[2], [0]]))
    >>> g = Graph.collate([a, b])
    >>> g.edge_index, g.batch, g.num_graphs
    (tensor([[0, 4],
            [1, 2]]), tensor([0, 0, 1, 1, 1]), 2)
    """

    pos: torch.Tensor
    x: torch.Tensor | None = None
    edge_index: torch.Tensor | None = None
    batch: torch.Tensor | None = None
    cell: torch.Tensor | None = None
    shifts: torch.Tensor | None = None
    edge_attr: torch.Tensor | None = None
    y: torch.Tensor | None = None
    num_graphs: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.pos, torch.Tensor) or self.pos.dim() != 2:
            shape = list(self.pos.shape) if isinstance(self.pos, torch.Tensor) else type(self.pos).__name__
            raise ValueError(f"pos must be a tensor [num_nodes, d], got {shape}")
        n, d = self.pos.shape
        if self.x is not None and self.x.shape[0] != n:
            raise ValueError(f"x must have one row per node ({n}), got shape {list(self.x.shape)}")
        if self.batch is None:
            self.batch = torch.zeros(n, dtype=torch.long, device=self.pos.device)
        elif self.batch.dim() != 1 or self.batch.shape[0] != n:
            raise ValueError(f"batch must be [num_nodes={n}], got {list(self.batch.shape)}")
        if self.num_graphs is None:
            self.num_graphs = int(self.batch.max()) + 1 if n > 0 else 1
        if self.edge_index is None:
            self.edge_index = torch.zeros(2, 0, dtype=torch.long, device=self.pos.device)
        if self.edge_index.dim() != 2 or self.edge_index.shape[0] != 2:
            raise ValueError(f"edge_index must be [2, num_edges], got {list(self.edge_index.shape)}")
        e = self.edge_index.shape[1]
        for name in ("shifts", "edge_attr"):
            v = getattr(self, name)
            if v is not None and v.shape[0] != e:
                raise ValueError(f"{name} must have one row per edge ({e}), got shape {list(v.shape)}")
        if self.cell is not None:
            if self.cell.shape == (d, d):
                self.cell = self.cell.unsqueeze(0).expand(self.num_graphs, d, d)
            if self.cell.shape != (self.num_graphs, d, d):
                raise ValueError(f"cell must be [{d}, {d}] or [num_graphs={self.num_graphs}, {d}, {d}], "
                                 f"got {list(self.cell.shape)}")

    @property
    def num_nodes(self) -> int:
        return self.pos.shape[0]

    @property
    def num_edges(self) -> int:
        return self.edge_index.shape[1]

    def to(self, *args, **kwargs) -> Graph:
        """A copy with every tensor moved by ``Tensor.to(*args, **kwargs)``.

        Only floating point tensors change dtype; indices stay ``long``.
        """
        def move(v):
            if not isinstance(v, torch.Tensor):
                return v
            if v.is_floating_point():
                return v.to(*args, **kwargs)
            moved = v.to(*args, **kwargs)
            return moved.to(v.dtype) if moved.dtype != v.dtype else moved
        return dataclasses.replace(self, **{f.name: move(getattr(self, f.name)) for f in dataclasses.fields(self)})

    def with_radius_graph(self, r: float, loop: bool = False, max_num_neighbors: int | None = None,
                          pbc: bool | torch.Tensor | list[bool] | None = None) -> Graph:
        """A copy whose edges are :func:`~steertorch.graph.radius_graph` of ``pos`` (periodic when a cell is set)."""
        from ._radius import radius_graph
        if self.cell is None:
            ei = radius_graph(self.pos, r, self.batch, loop=loop, max_num_neighbors=max_num_neighbors)
            return dataclasses.replace(self, edge_index=ei, shifts=None, edge_attr=None)
        ei, shifts = radius_graph(self.pos, r, self.batch, loop=loop, max_num_neighbors=max_num_neighbors,
                                  cell=self.cell, pbc=pbc)
        return dataclasses.replace(self, edge_index=ei, shifts=shifts, edge_attr=None)

    @classmethod
    def collate(cls, graphs: Sequence[Graph]) -> Graph:
        """Concatenate graphs (or batches) into one batch; edge indices are offset by the nodes before them."""
        graphs = list(graphs)
        if not graphs:
            raise ValueError("collate needs at least one graph")
        node_offset, graph_offset = 0, 0
        edge_index, batch, cells = [], [], []
        for g in graphs:
            edge_index.append(g.edge_index + node_offset)
            batch.append(g.batch + graph_offset)
            cells.append(g.cell)
            node_offset += g.num_nodes
            graph_offset += g.num_graphs
        ys = [None if g.y is None else (g.y.unsqueeze(0) if g.y.dim() == 0 else g.y) for g in graphs]
        return cls(
            pos=torch.cat([g.pos for g in graphs]),
            x=_cat_optional("x", [g.x for g in graphs]),
            edge_index=torch.cat(edge_index, dim=1),
            batch=torch.cat(batch),
            cell=_cat_optional("cell", cells),
            shifts=_cat_optional("shifts", [g.shifts for g in graphs]),
            edge_attr=_cat_optional("edge_attr", [g.edge_attr for g in graphs]),
            y=_cat_optional("y", ys),
            num_graphs=graph_offset,
        )
