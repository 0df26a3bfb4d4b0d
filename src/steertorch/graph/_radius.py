r"""Radius graphs: every pair of points closer than ``r``, with an O(N) cell list.

:func:`radius_graph` connects the points of a cloud (or of a batch of clouds) whose distance
is strictly less than ``r``, as ``torch_cluster.radius_graph``; with a periodic ``cell`` it
also connects periodic images and returns their integer lattice shifts.

Algorithm: the points are binned into cubes of side (slightly above) ``r`` (a *cell list*)
and sorted by cube; a point's neighbours lie in its own cube or one of the :math:`3^d - 1`
adjacent ones, found by binary search among the occupied cubes. Every (cube, adjacent cube)
block yields its candidate pairs, whose distances are computed on the cube-sorted copies
(local memory accesses); for a graph of a cloud with itself only half of the adjacent cubes
are visited and the pairs mirrored. Everything is vectorised torch (no python loop over
points; candidates are processed in chunks of about two million to bound memory), so the
cost is linear in the number of points at fixed density (``benchmarks/run_radius_graph.py``).
On CPU (float32 / float64, d <= 3, grids of cells not much larger than the cloud) the same search runs as a
compiled kernel (:mod:`._radius_kernel`: two passes over the queries in cell order, counting then writing each
query's neighbours in place, sorted; the same pairs in the same order, ``benchmarks/run_radius_graph.py``), and the
vectorised torch code above is its twin on GPUs and for the other cases. Tiny inputs use a brute-force distance
matrix. Graph construction is not differentiable (it
returns indices) and runs under ``torch.no_grad``; compute edge vectors afterwards with
:func:`~steertorch.graph.edge_vectors` to differentiate through positions.

Periodic cells: positions are wrapped into the cell, the periodic images whose fractional
coordinates lie within :math:`r |b_k|` of the unit cell (:math:`b_k` the reciprocal vectors)
are generated, and the same cell list searches them. The cost grows with the number of
images, about :math:`(1 + 2 r |b_k|)` per periodic direction.
"""

from __future__ import annotations

import itertools
import math

import torch

from ._radius_kernel import kernel_pairs

__all__ = ["radius", "radius_graph"]

_BRUTE_FORCE_PAIRS = 1 << 14  # below this many (query, source) pairs, compare all of them
_CHUNK_CANDIDATES = 1 << 21  # target number of (query, candidate source) pairs per chunk
_MAX_KEY = 1 << 62


def _check_points(name: str, x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        shape = list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a tensor of points [N, d], got {shape}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating point tensor, got {x.dtype}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinite coordinates")


def _check_batch(batch: torch.Tensor | None, n: int, device: torch.device, name: str = "batch") -> torch.Tensor:
    if batch is None:
        return torch.zeros(n, dtype=torch.long, device=device)
    if not isinstance(batch, torch.Tensor) or batch.dim() != 1 or batch.numel() != n:
        shape = list(batch.shape) if isinstance(batch, torch.Tensor) else type(batch).__name__
        raise ValueError(f"{name} must be a 1-D integer tensor with one entry per point ({n}), got {shape}")
    if batch.is_floating_point() or batch.dtype == torch.bool:
        raise ValueError(f"{name} must be an integer tensor, got {batch.dtype}")
    if n > 0 and int(batch.min()) < 0:
        raise ValueError(f"{name} entries must be >= 0")
    return batch.long()


def _sort_pairs(q: torch.Tensor, s: torch.Tensor, d2: torch.Tensor, num_sources: int, need_d2: bool):
    """Pairs sorted by (query, source); the squared distances follow only when needed."""
    key, order = torch.sort(q * num_sources + s)
    q = torch.div(key, num_sources, rounding_mode="floor")
    return q, key - q * num_sources, (d2.index_select(0, order) if need_d2 else None)


def _brute_force_pairs(x, y, r2, bx, by, loop):
    d2 = (y[:, None, :] - x[None, :, :]).pow(2).sum(-1)
    mask = (d2 < r2) & (by[:, None] == bx[None, :])
    if not loop:
        mask.fill_diagonal_(False)
    q, s = mask.nonzero(as_tuple=True)  # row-major: sorted by (query, source)
    return q, s, d2[q, s]


def _cell_list_pairs(x, y, r, r2, bx, by, loop, need_d2):
    """Pairs (query i, source j, squared distance) with ``|x_j - y_i|^2 < r2``, sorted by (i, j).

    Both sets are sorted by cell; for every occupied query cell and each of the 3^d cells
    around it, all (query, source) pairs of the two cells are candidates. Working on the
    cell-sorted copies keeps memory accesses local."""
    d = x.shape[1]
    device = x.device
    # cell coordinates in float64 with a slightly inflated side, so that rounding never puts two
    # points closer than r more than one cell apart
    x64, y64 = x.double(), y.double()
    lo = torch.minimum(x64.min(0).values, y64.min(0).values)
    hi = torch.maximum(x64.max(0).values, y64.max(0).values)
    extent = (hi - lo).tolist()
    num_batches = int(max(int(bx.max()), int(by.max()))) + 1
    side = float(r) * (1 + 1e-5)
    while True:
        dims = [int(math.floor(e / side)) + 3 for e in extent]  # one empty layer of cells on each side
        if num_batches * math.prod(dims) < _MAX_KEY:
            break
        side *= 2  # very sparse clouds: coarser cells keep keys in int64 (still correct)
    strides = [1] * d
    for k in range(d - 2, -1, -1):
        strides[k] = strides[k + 1] * dims[k + 1]
    per_batch = math.prod(dims)
    strides_t = torch.tensor(strides, dtype=torch.long, device=device)
    upper = torch.tensor(dims, dtype=torch.long, device=device) - 2

    def sorted_cells(p, p64, b):
        c = torch.floor((p64 - lo) / side).long() + 1
        c = torch.minimum(c.clamp_min(1), upper)
        key = b * per_batch + (c * strides_t).sum(1)
        key, order = torch.sort(key)
        cells, counts = torch.unique_consecutive(key, return_counts=True)
        return p.index_select(0, order), order, cells, counts, torch.cumsum(counts, 0) - counts

    xs, x_order, x_cells, x_counts, x_starts = sorted_cells(x, x64, bx)
    same = x is y and bx is by
    ys, y_order, y_cells, y_counts, y_starts = (xs, x_order, x_cells, x_counts, x_starts) if same else \
        sorted_cells(y, y64, by)
    offsets = torch.tensor(list(itertools.product((-1, 0, 1), repeat=d)), dtype=torch.long, device=device)
    offsets = (offsets * strides_t).sum(1)  # [3^d]
    if same:
        # symmetric search: half of the neighbouring cells (and pairs i < j within a cell), then mirror
        offsets = offsets[offsets >= 0]

    # (query cell, neighbouring source cell) blocks that exist, with their number of candidate pairs
    nk = y_cells[:, None] + offsets  # [Mq, 3^d]
    at = torch.searchsorted(x_cells, nk).clamp_max(x_cells.numel() - 1)
    found = x_cells[at] == nk
    qc = torch.arange(y_cells.numel(), device=device)[:, None].expand_as(nk)[found]
    sc = at[found]
    q_cnt, s_cnt = y_counts[qc], x_counts[sc]
    q_start, s_start = y_starts[qc], x_starts[sc]
    diagonal = qc == sc
    xs_t = xs.T.contiguous()
    ys_t = xs_t if same else ys.T.contiguous()
    size = q_cnt * s_cnt  # candidate pairs per block (an upper bound for diagonal blocks when same)
    # chunks of consecutive blocks, about _CHUNK_CANDIDATES pairs each
    ends = torch.cumsum(size, 0)
    total = int(ends[-1]) if ends.numel() else 0
    marks = torch.arange(_CHUNK_CANDIDATES, max(total, _CHUNK_CANDIDATES), _CHUNK_CANDIDATES, device=device)
    bounds = [0] + (torch.searchsorted(ends, marks) + 1).tolist() + [size.numel()]
    qs, ss, ds = [], [], []
    for a, b in zip(bounds[:-1], bounds[1:]):
        if b <= a:
            continue
        # one row per (block, query point): the query and its range of candidate sources
        cnt = q_cnt[a:b]
        n_rows = int(cnt.sum())
        row_block = torch.repeat_interleave(torch.arange(a, b, device=device), cnt, output_size=n_rows)
        row_first = torch.repeat_interleave(torch.cumsum(cnt, 0) - cnt, cnt, output_size=n_rows)
        qi_row = q_start.index_select(0, row_block) + torch.arange(n_rows, device=device) - row_first
        lo = s_start.index_select(0, row_block)
        hi = lo + s_cnt.index_select(0, row_block)
        if same:  # within one cell only the sources after the query: each unordered pair once, no self pair
            lo = torch.where(diagonal.index_select(0, row_block), qi_row + 1, lo)
        row_cnt = hi - lo
        # rows in sub-chunks of about _CHUNK_CANDIDATES pairs (a single dense block can be huge)
        row_ends = torch.cumsum(row_cnt, 0)
        n_pairs = int(row_ends[-1])
        marks = torch.arange(_CHUNK_CANDIDATES, max(n_pairs, _CHUNK_CANDIDATES), _CHUNK_CANDIDATES, device=device)
        row_bounds = [0] + (torch.searchsorted(row_ends, marks) + 1).tolist() + [n_rows]
        base = lo - (row_ends - row_cnt)  # source of pair p of row k: base[k] + p
        for ra, rb in zip(row_bounds[:-1], row_bounds[1:]):
            if rb <= ra:
                continue
            first = int(row_ends[ra - 1]) if ra > 0 else 0
            count = int(row_ends[rb - 1]) - first
            if count == 0:
                continue
            row = torch.repeat_interleave(torch.arange(ra, rb, device=device), row_cnt[ra:rb], output_size=count)
            qi = qi_row.index_select(0, row)
            si = base.index_select(0, row) + torch.arange(first, first + count, device=device)
            d2 = None
            for k in range(d):  # coordinate by coordinate: 1-D gathers, no reduction over a short last dim
                diff = ys_t[k].index_select(0, qi) - xs_t[k].index_select(0, si)
                d2 = diff * diff if d2 is None else torch.addcmul(d2, diff, diff)
            kept = (d2 < r2).nonzero().squeeze(1)
            qs.append(qi.index_select(0, kept))
            ss.append(si.index_select(0, kept))
            if need_d2:
                ds.append(d2.index_select(0, kept))
    q = y_order.index_select(0, torch.cat(qs)) if qs else torch.zeros(0, dtype=torch.long, device=device)
    s = x_order.index_select(0, torch.cat(ss)) if ss else torch.zeros(0, dtype=torch.long, device=device)
    d2 = torch.cat(ds) if ds else x.new_zeros(0)
    if same:  # both directions of every pair, and the self pairs when asked for
        q, s = torch.cat([q, s]), torch.cat([s, q])
        d2 = torch.cat([d2, d2]) if need_d2 else d2
        if loop:
            every = torch.arange(x.shape[0], device=device)
            q, s = torch.cat([q, every]), torch.cat([s, every])
            d2 = torch.cat([d2, d2.new_zeros(x.shape[0])]) if need_d2 else d2
    return _sort_pairs(q, s, d2, x.shape[0], need_d2)


def _pairs(x, y, r, bx, by, loop=True, need_d2=True):
    """(query, source, squared distance or None) pairs closer than r, sorted by (query, source).

    When ``x is y`` (and ``bx is by``), self pairs are included only with ``loop``."""
    r2 = float(r) ** 2
    if x.shape[0] == 0 or y.shape[0] == 0:
        empty = torch.zeros(0, dtype=torch.long, device=x.device)
        return empty, empty.clone(), x.new_zeros(0)
    if x.shape[0] * y.shape[0] <= _BRUTE_FORCE_PAIRS:
        return _brute_force_pairs(x, y, r2, bx, by, loop or not (x is y and bx is by))
    fast = kernel_pairs(x, y, r, bx, by, loop, need_d2)
    if fast is not None:
        return fast
    return _cell_list_pairs(x, y, r, r2, bx, by, loop, need_d2)


def _keep_nearest(q: torch.Tensor, d2: torch.Tensor, k: int) -> torch.Tensor:
    """Mask keeping, for each query, its ``k`` nearest pairs (ties broken by source index)."""
    perm = torch.argsort(d2, stable=True)
    perm = perm[torch.argsort(q[perm], stable=True)]  # sorted by (query, distance)
    qs = q[perm]
    is_first = torch.ones_like(qs, dtype=torch.bool)
    is_first[1:] = qs[1:] != qs[:-1]
    pos = torch.arange(qs.numel(), device=q.device)
    group_start = torch.cummax(torch.where(is_first, pos, torch.zeros_like(pos)), 0).values
    keep = torch.zeros_like(is_first)
    keep[perm] = (pos - group_start) < k
    return keep


def _check_r(r: float) -> None:
    if isinstance(r, torch.Tensor):
        r = float(r)
    if not (isinstance(r, (int, float)) and math.isfinite(r) and r > 0):
        raise ValueError(f"r must be a finite number > 0, got {r!r}")


def _orient(i: torch.Tensor, j: torch.Tensor, flow: str) -> torch.Tensor:
    if flow == "source_to_target":
        base = j._base
        if base is not None and i._base is base and base.shape[0] == 2 and j.data_ptr() == base.data_ptr() \
                and i.data_ptr() == base[1].data_ptr():  # the rows of the kernel's [2, E] output: no copy
            return base
        return torch.stack([j, i])
    if flow == "target_to_source":
        return torch.stack([i, j])
    raise ValueError(f"flow must be 'source_to_target' or 'target_to_source', got {flow!r}")


@torch.no_grad()
def radius(x: torch.Tensor, y: torch.Tensor, r: float, batch_x: torch.Tensor | None = None,
           batch_y: torch.Tensor | None = None, max_num_neighbors: int | None = None) -> torch.Tensor:
    r"""For each query point ``y[i]``, the points ``x[j]`` of the same batch entry with :math:`|x_j - y_i| < r`.

    Returns ``[2, E]``: row 0 indexes ``y`` (sorted, then by ``j``), row 1 indexes ``x``, as
    ``torch_cluster.radius``. ``max_num_neighbors`` keeps the nearest ones per query.

    >>> x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]])
    >>> radius(x, torch.tensor([[0.4, 0.0]]), r=1.0)
    tensor([[0, 0],
            [0, 1]])
    """
    _check_points("x", x)
    _check_points("y", y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same dimension, got {x.shape[1]} and {y.shape[1]}")
    _check_r(r)
    bx = _check_batch(batch_x, x.shape[0], x.device, "batch_x")
    by = _check_batch(batch_y, y.shape[0], y.device, "batch_y")
    q, s, d2 = _pairs(x, y.to(x.dtype), r, bx, by)
    if max_num_neighbors is not None:
        keep = _keep_nearest(q, d2, int(max_num_neighbors))
        q, s = q[keep], s[keep]
    return torch.stack([q, s])


def _periodic_setup(pos, cell, pbc, batch, num_graphs):
    d = pos.shape[1]
    if not isinstance(cell, torch.Tensor):
        cell = torch.as_tensor(cell)
    cell = cell.to(device=pos.device, dtype=torch.float64)
    if cell.shape == (d, d):
        cell = cell.expand(num_graphs, d, d)
    elif cell.dim() != 3 or cell.shape[1:] != (d, d) or cell.shape[0] != num_graphs:
        raise ValueError(f"cell must be [{d}, {d}] or [num_graphs={num_graphs}, {d}, {d}], got {list(cell.shape)}")
    if not torch.isfinite(cell).all():
        raise ValueError("cell contains non-finite values")
    if pbc is None:
        pbc = True
    pbc_t = torch.as_tensor(pbc, dtype=torch.bool, device=pos.device)
    if pbc_t.dim() == 0:
        pbc_t = pbc_t.expand(d)
    if pbc_t.shape == (d,):
        pbc_t = pbc_t.expand(num_graphs, d)
    if pbc_t.shape != (num_graphs, d):
        raise ValueError(f"pbc must be a bool, [{d}] or [num_graphs, {d}] bools, got {list(pbc_t.shape)}")
    det = torch.linalg.det(cell)
    if bool((det.abs() < 1e-12).any()):
        raise ValueError("cell must be invertible (its rows are the lattice vectors)")
    return cell, pbc_t


def _radius_graph_periodic(pos, r, batch, num_graphs, loop, max_num_neighbors, cell, pbc):
    n, d = pos.shape
    device = pos.device
    cell, pbc = _periodic_setup(pos, cell, pbc, batch, num_graphs)
    inv = torch.linalg.inv(cell)  # frac = pos @ inv
    p64 = pos.double()
    frac = torch.einsum("ni,nij->nj", p64, inv[batch])
    wrap = torch.where(pbc[batch], torch.floor(frac), torch.zeros_like(frac))
    frac = frac - wrap
    pos_w = torch.einsum("ni,nij->nj", frac, cell[batch])
    # a vector shorter than r has fractional component k at most r * |b_k| (b_k: column k of inv)
    reach = float(r) * inv.norm(dim=1)  # [B, d]
    nmax = torch.where(pbc, torch.ceil(reach).long() + 1, torch.zeros_like(reach, dtype=torch.long))
    nmax = nmax.max(0).values.tolist()
    shifts = torch.tensor(list(itertools.product(*[range(-m, m + 1) for m in nmax])),
                          dtype=torch.float64, device=device)  # [S, d]
    # periodic images whose fractional coordinates lie within reach of the unit cell
    margin = 1e-9
    per_chunk = max(1, (1 << 22) // max(n, 1))
    img_point, img_shift = [], []
    for start in range(0, shifts.shape[0], per_chunk):
        sh = shifts[start:start + per_chunk]  # [C, d]
        f = frac[None] + sh[:, None]  # [C, N, d]
        rb = reach[batch][None]
        inside = (f >= -rb - margin) & (f <= 1 + rb + margin)
        allowed = pbc[batch][None] | (sh[:, None] == 0)
        ok = (inside | ~pbc[batch][None]) & allowed
        ci, pi = ok.all(-1).nonzero(as_tuple=True)
        img_point.append(pi)
        img_shift.append(ci + start)
    img_point, img_shift = torch.cat(img_point), torch.cat(img_shift)
    order = torch.argsort(img_point * shifts.shape[0] + img_shift)  # images ordered by (point, shift)
    img_point, img_shift = img_point[order], img_shift[order]
    sh = shifts[img_shift]
    img_pos = pos_w[img_point] + torch.einsum("ni,nij->nj", sh, cell[batch[img_point]])
    q, s, d2 = _pairs(img_pos, pos_w, r, batch[img_point], batch)
    j = img_point[s]
    total_shift = sh[s] - wrap[j] + wrap[q]
    if not loop:
        keep = (j != q) | (total_shift != 0).any(-1)
        q, s, j, d2, total_shift = q[keep], s[keep], j[keep], d2[keep], total_shift[keep]
    if max_num_neighbors is not None:
        keep = _keep_nearest(q, d2, int(max_num_neighbors))
        q, j, total_shift = q[keep], j[keep], total_shift[keep]
    return q, j, total_shift.to(pos.dtype)


@torch.no_grad()
def radius_graph(
    pos: torch.Tensor,
    r: float,
    batch: torch.Tensor | None = None,
    loop: bool = False,
    max_num_neighbors: int | None = None,
    cell: torch.Tensor | None = None,
    pbc: bool | torch.Tensor | list[bool] | None = None,
    flow: str = "source_to_target",
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    r"""Edges between the points of ``pos`` ``[N, d]`` closer than ``r``: :math:`|x_j - x_i| < r` (strict).

    Args:
        pos: positions ``[N, d]`` (any d; d = 3 for molecules and crystals).
        r: cutoff radius.
        batch: graph of each point ``[N]`` (long); no edge joins two graphs.
        loop: include self-loops ``i -> i`` (for periodic cells: only the zero-shift self-loop is
            concerned; a point's other periodic images are ordinary neighbours).
        max_num_neighbors: keep, for each target, only its nearest neighbours (ties broken by
            source index). ``None`` (default) keeps all of them (``torch_cluster`` defaults to 32).
        cell: lattice vectors as rows, ``[d, d]`` or one per graph ``[num_graphs, d, d]``. Enables
            periodic boundary conditions along the directions given by ``pbc``.
        pbc: periodic directions: a bool, ``[d]`` bools, or ``[num_graphs, d]``; default True
            when a cell is given.
        flow: ``"source_to_target"`` (default, PyG): ``edge_index = [source j, target i]``;
            ``"target_to_source"``: ``[i, j]``.

    Returns:
        ``edge_index`` ``[2, E]`` (long), sorted by target ``i`` and then by source ``j``. With a
        ``cell``: ``(edge_index, shifts)``, ``shifts`` ``[E, d]`` integer-valued (in ``pos``'s dtype)
        lattice shifts such that the edge vector (from the target to the source's image) is

        .. math:: r_{ij} = x_j - x_i + s_{ij}\, C_{b(i)}

        i.e. ``pos[src] - pos[dst] + shifts @ cell`` (see :func:`edge_vectors`), where positions
        are used as given (not wrapped into the cell). Every image closer than ``r`` is an edge,
        even when ``r`` exceeds the cell size (several images of the same pair, and images of
        a point itself).

    >>> pos = torch.tensor([[0.0, 0.0, 0.0], [0.5, 0.0, 0.0], [2.0, 0.0, 0.0]])
    >>> radius_graph(pos, r=1.0)
    tensor([[1, 0],
            [0, 1]])
    >>> edge_index, shifts = radius_graph(pos[:1], r=1.5, cell=torch.eye(3), pbc=[True, False, False])
    >>> edge_index, shifts
    (tensor([[0, 0],
            [0, 0]]), tensor([[-1.,  0.,  0.],
            [ 1.,  0.,  0.]]))
    """
    _check_points("pos", pos)
    _check_r(r)
    b = _check_batch(batch, pos.shape[0], pos.device)
    if max_num_neighbors is not None and (isinstance(max_num_neighbors, bool) or int(max_num_neighbors) < 0):
        raise ValueError(f"max_num_neighbors must be None or an int >= 0, got {max_num_neighbors!r}")
    if flow not in ("source_to_target", "target_to_source"):
        raise ValueError(f"flow must be 'source_to_target' or 'target_to_source', got {flow!r}")
    if cell is None:
        if pbc is not None and bool(torch.as_tensor(pbc).any()):
            raise ValueError("pbc needs a cell")
        q, s, d2 = _pairs(pos, pos, r, b, b, loop=loop, need_d2=max_num_neighbors is not None)
        if max_num_neighbors is not None:
            keep = _keep_nearest(q, d2, int(max_num_neighbors))
            q, s = q[keep], s[keep]
        return _orient(q, s, flow)
    num_graphs = int(b.max()) + 1 if pos.shape[0] > 0 else (cell.shape[0] if cell.dim() == 3 else 1)
    if torch.as_tensor(cell).dim() == 3:
        num_graphs = max(num_graphs, torch.as_tensor(cell).shape[0])
    q, j, shifts = _radius_graph_periodic(pos, r, b, num_graphs, loop, max_num_neighbors, cell, pbc)
    return _orient(q, j, flow), shifts
