"""Conversions between :class:`~steertorch.graph.Graph` and PyTorch Geometric's ``Data`` / ``Batch``.

``torch_geometric`` is optional: it is imported only by :func:`to_pyg`. :func:`from_pyg`
reads attributes, so it accepts any object with ``pos`` (and optionally ``x``,
``edge_index``, ``batch``, ``cell``, ``shifts``, ``edge_attr``, ``y``, ``num_graphs``).
"""

from __future__ import annotations

from typing import Any

import torch

from ._batch import Graph

__all__ = ["from_pyg", "to_pyg"]

_FIELDS = ("x", "edge_index", "batch", "cell", "shifts", "edge_attr", "y")


def from_pyg(data: Any) -> Graph:
    """A :class:`Graph` holding the tensors of a PyG ``Data`` / ``Batch`` (no copy).

    >>> from types import SimpleNamespace
    >>> g = from_pyg(SimpleNamespace(pos=torch.zeros(3, 3), edge_index=torch.tensor([[0, 1], [1, 2]])))
    >>> g.num_nodes, g.num_edges, g.num_graphs
    (3, 2, 1)
    """
    pos = getattr(data, "pos", None)
    if not isinstance(pos, torch.Tensor):
        raise ValueError("data must have a 'pos' tensor [num_nodes, d]")
    kwargs = {name: getattr(data, name, None) for name in _FIELDS}
    kwargs = {k: v for k, v in kwargs.items() if isinstance(v, torch.Tensor)}
    num_graphs = getattr(data, "num_graphs", None)
    if isinstance(num_graphs, int):
        kwargs["num_graphs"] = num_graphs
    return Graph(pos=pos, **kwargs)


def to_pyg(graph: Graph) -> Any:
    """A ``torch_geometric.data.Data`` with the graph's tensors (and its ``batch`` vector).

    Raises ImportError when PyTorch Geometric is not installed.

    >>> from steertorch.graph import Graph
    >>> g = Graph(pos=torch.zeros(2, 3), edge_index=torch.tensor([[0], [1]]))
    >>> try:
    ...     data = to_pyg(g)
    ... except ImportError:  # without torch_geometric
    ...     data = None
    >>> data is None or data.num_nodes == 2
    True
    """
    try:
        from torch_geometric.data import Data
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("to_pyg needs PyTorch Geometric: pip install torch_geometric") from err
    kwargs = {name: getattr(graph, name) for name in _FIELDS}
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    return Data(pos=graph.pos, **kwargs)
