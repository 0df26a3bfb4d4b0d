r"""k-nearest-neighbour graphs: each point receives edges from its ``k`` closest points.

Exact search by chunks of distance rows: within a batch of clouds only the points of the
same cloud are compared, so the cost is :math:`\sum_b N_b^2` distance evaluations and the
memory is bounded by the chunk size. Graph construction runs under ``torch.no_grad``.
"""

from __future__ import annotations

import math

import torch

from ._radius import _check_batch, _check_points, _orient

__all__ = ["knn_graph"]

_CHUNK_ENTRIES = 1 << 22  # distance entries computed at once


@torch.no_grad()
def knn_graph(pos: torch.Tensor, k: int, batch: torch.Tensor | None = None, loop: bool = False,
              flow: str = "source_to_target") -> torch.Tensor:
    r"""Edges from the ``k`` nearest points ``j`` of each point ``i`` (same graph only).

    Args:
        pos: positions ``[N, d]``.
        k: number of neighbours per point; a graph with fewer than ``k`` other points gives
            all of them.
        batch: graph of each point ``[N]``; no edge joins two graphs.
        loop: count the point itself as one of its neighbours (at distance 0).
        flow: ``"source_to_target"`` (default): ``edge_index = [source j, target i]``;
            ``"target_to_source"``: ``[i, j]``.

    Returns:
        ``edge_index`` ``[2, E]``, sorted by target and then by source. Ties in distance are
        broken arbitrarily.

    >>> pos = torch.tensor([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]])
    >>> knn_graph(pos, k=1)
    tensor([[1, 0, 1],
            [0, 1, 2]])
    """
    _check_points("pos", pos)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}")
    if flow not in ("source_to_target", "target_to_source"):
        raise ValueError(f"flow must be 'source_to_target' or 'target_to_source', got {flow!r}")
    n = pos.shape[0]
    device = pos.device
    b = _check_batch(batch, n, device)
    if n == 0:
        empty = torch.zeros(0, dtype=torch.long, device=device)
        return _orient(empty, empty.clone(), flow)
    perm = torch.argsort(b, stable=True)  # work on points grouped by graph
    bs, ps = b[perm], pos[perm]
    counts = torch.bincount(bs)
    ptr = torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])
    lo_all, hi_all = ptr[bs], ptr[bs + 1]  # candidate range of each point
    largest = int(counts.max())
    # a chunk of rows spans at most chunk + 2 * largest candidates: bound chunk * span
    chunk = max(1, min(_CHUNK_ENTRIES // largest, math.isqrt(_CHUNK_ENTRIES)))
    targets, sources = [], []
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        lo, hi = int(lo_all[start]), int(hi_all[stop - 1])
        q = torch.arange(start, stop, device=device)
        cand = torch.arange(lo, hi, device=device)
        d2 = (ps[start:stop, None, :] - ps[None, lo:hi, :]).pow(2).sum(-1)
        valid = bs[start:stop, None] == bs[None, lo:hi]
        if not loop:
            valid &= q[:, None] != cand[None, :]
        d2 = torch.where(valid, d2, torch.full_like(d2, float("inf")))
        kk = min(k, hi - lo)
        val, idx = torch.topk(d2, kk, dim=1, largest=False)
        ok = torch.isfinite(val) & torch.gather(valid, 1, idx)
        targets.append(q[:, None].expand(-1, kk)[ok])
        sources.append(cand[idx][ok])
    i, j = perm[torch.cat(targets)], perm[torch.cat(sources)]
    order = torch.argsort(i * n + j)
    return _orient(i[order], j[order], flow)
