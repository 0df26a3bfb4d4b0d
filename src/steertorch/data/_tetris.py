r"""The 3D tetris shapes of the tensor field network paper (Thomas et al. 2018).

Eight shapes of four unit cubes, given by the cube centres (exact integer coordinates):
``chiral_1`` and ``chiral_2`` are mirror images of each other (``y -> -y``) and not related by
any rotation, so a classifier must be invariant under rotations and translations but not under
reflections to separate them; the six others are achiral. The task: train on the shapes as
given, classify randomly rotated and translated copies.
"""

from __future__ import annotations

import torch

from ..graph import Graph, radius_graph

__all__ = ["TETRIS_SHAPES", "tetris_shapes", "tetris_batch"]

#: name -> the four cube centres, in label order
TETRIS_SHAPES: dict[str, tuple[tuple[int, int, int], ...]] = {
    "chiral_1": ((0, 0, 0), (0, 0, 1), (1, 0, 0), (1, 1, 0)),
    "chiral_2": ((0, 0, 0), (0, 0, 1), (1, 0, 0), (1, -1, 0)),
    "square": ((0, 0, 0), (1, 0, 0), (0, 1, 0), (1, 1, 0)),
    "line": ((0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 0, 3)),
    "corner": ((0, 0, 0), (0, 0, 1), (0, 1, 0), (1, 0, 0)),
    "L": ((0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 0)),
    "T": ((0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 1)),
    "zigzag": ((0, 0, 0), (1, 0, 0), (1, 1, 0), (2, 1, 0)),
}


def tetris_shapes(dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """The eight shapes: positions ``[8, 4, 3]``, labels ``[8]`` (0..7) and names.

    >>> pos, labels, names = tetris_shapes()
    >>> pos.shape, names[:2]
    (torch.Size([8, 4, 3]), ['chiral_1', 'chiral_2'])
    """
    names = list(TETRIS_SHAPES)
    pos = torch.tensor([TETRIS_SHAPES[n] for n in names], dtype=dtype or torch.get_default_dtype())
    return pos, torch.arange(len(names)), names


def _fully_connected(num_graphs: int, n: int, device: torch.device) -> torch.Tensor:
    i, j = torch.meshgrid(torch.arange(n, device=device), torch.arange(n, device=device), indexing="ij")
    keep = i != j
    src, dst = j[keep], i[keep]  # sorted by target, then source
    offsets = torch.arange(num_graphs, device=device)[:, None] * n
    return torch.stack([(src + offsets).reshape(-1), (dst + offsets).reshape(-1)])


def tetris_batch(copies: int = 1, rotate: bool = False, translate: bool = False, reflect: bool = False,
                 r: float | None = None, generator: torch.Generator | None = None,
                 dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> Graph:
    r"""``copies`` copies of each of the eight shapes as one batched :class:`~steertorch.graph.Graph`.

    The graph holds ``pos`` ``[32 * copies, 3]``, ``edge_index`` ``[2, E]`` (source, target), ``batch``
    (the shape of each point), the labels ``y`` ``[8 * copies]`` (0..7, the order of
    :data:`TETRIS_SHAPES`) and ``num_graphs``.

    Each copy is centred at its centroid then, optionally, rotated by a Haar-random rotation,
    reflected through the origin (``reflect``: every copy, :math:`x \mapsto -x`, which swaps the
    two chiral shapes: their labels are swapped accordingly), and translated by a standard
    normal vector times 5 (``translate``). Edges: every ordered pair of points of the same
    shape (``r=None``), or the pairs closer than ``r`` (e.g. ``r=1.1``: face-sharing cubes).

    >>> data = tetris_batch(copies=2, rotate=True, translate=True, generator=torch.Generator().manual_seed(0))
    >>> data.pos.shape, data.edge_index.shape, data.y.tolist()
    (torch.Size([64, 3]), torch.Size([2, 192]), [0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7])
    """
    if isinstance(copies, bool) or not isinstance(copies, int) or copies < 1:
        raise ValueError(f"copies must be an int >= 1, got {copies!r}")
    if r is not None and not r > 0:
        raise ValueError(f"r must be None or > 0, got {r!r}")
    dtype = dtype or torch.get_default_dtype()
    shapes, labels, _ = tetris_shapes(torch.float64)
    pos = shapes.repeat(copies, 1, 1)  # [G, 4, 3]
    labels = labels.repeat(copies)
    pos = pos - pos.mean(1, keepdim=True)
    num_graphs = pos.shape[0]
    if rotate:
        from ..o3 import rand_matrix

        R = rand_matrix(num_graphs, generator=generator, dtype=torch.float64)
        pos = torch.einsum("gij,gnj->gni", R, pos)
    if reflect:
        pos = -pos
        labels = torch.where(labels == 0, 1, torch.where(labels == 1, 0, labels))
    if translate:
        pos = pos + 5 * torch.randn(num_graphs, 1, 3, generator=generator, dtype=torch.float64)
    device = torch.device(device) if device is not None else torch.device("cpu")
    pos = pos.reshape(-1, 3).to(dtype=dtype, device=device)
    batch = torch.arange(num_graphs, device=device).repeat_interleave(4)
    if r is None:
        edge_index = _fully_connected(num_graphs, 4, device)
    else:
        edge_index = radius_graph(pos, r, batch=batch)
    return Graph(pos=pos, edge_index=edge_index, batch=batch, y=labels.to(device), num_graphs=num_graphs)
