r"""The compiled CPU twin of the cell-list search of :mod:`._radius` (``_radius_kernel.c``).

The torch path builds the candidate pairs of neighbouring cells as batch-sized tensors (several passes over tens of
millions of candidates at a million points). The kernel instead walks the queries in cell order and, for each, the
points of the :math:`3^d` cells around it, twice: once to count the neighbours of every query, then, with the counts'
prefix sums as each query's place in the output, to write them sorted by source. The output is the torch path's:
pairs sorted by (query, source), squared distances in the input's precision, strict :math:`|x_j - y_i| < r`; memory
is the output plus a few numbers per point.

It takes CPU float32 / float64 points of dimension <= 3 whose grid of cells (one per cube of side ``r`` over the
bounding box, per batch entry) has at most :data:`_DENSE_CELLS_PER_POINT` cells per point (denser grids, i.e. very
sparse clouds, run the torch path, which only stores the occupied cells); the library is built and loaded by
:class:`steertorch._native.NativeLibrary` (``STEERTORCH_CPU_KERNEL=0`` switches it off).

>>> x = torch.tensor([[0.0, 0.0, 0.0], [0.5, 0.0, 0.0], [2.0, 0.0, 0.0]])
>>> batch = torch.zeros(3, dtype=torch.long)
>>> pairs = kernel_pairs(x, x, 1.0, batch, batch, False, False)  # (one cloud: no self pairs)
>>> pairs is None or [t.tolist() for t in pairs[:2]] == [[0, 1], [1, 0]]
True
"""

from __future__ import annotations

import ctypes
import itertools
import math
from pathlib import Path

import torch

from .._native import NativeLibrary, native_threads

__all__ = ["kernel_pairs", "radius_kernel_info"]

_DENSE_CELLS_PER_POINT = 8  # at most this many grid cells per point (plus a constant): else the torch path runs
_QUERIES_PER_THREAD = 4096
_SUFFIX = {torch.float32: "f32", torch.float64: "f64"}


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    p, i64, c_int, dbl = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int, ctypes.c_double
    for suffix, real in (("f32", ctypes.c_float), ("f64", ctypes.c_double)):
        build = getattr(lib, f"st_radius_build_{suffix}")
        build.argtypes = [i64, i64, i64, i64, p, p, p, p, p, dbl, p, p, i64, i64, p, p, p, p, p, p]
        build.restype = c_int
        run = getattr(lib, f"st_radius_pass_{suffix}")
        run.argtypes = [i64, i64, i64, i64, real, p, i64, p, p, p, p, p, p, p, p, p, p, p, c_int]
        run.restype = c_int
    return lib


_LIBRARY = NativeLibrary("radius_kernel", Path(__file__).with_name("_radius_kernel.c"), _declare,
                         "radius-search kernel")


def radius_kernel_info() -> dict:
    """The kernel's state (:meth:`steertorch._native.NativeLibrary.info`).

    >>> info = radius_kernel_info()
    >>> info["available"] == (info["reason"] is None)
    True
    """
    return _LIBRARY.info()


def _ptr(t: torch.Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def kernel_pairs(x: torch.Tensor, y: torch.Tensor, r: float, bx: torch.Tensor, by: torch.Tensor, loop: bool,
                 need_d2: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None] | None:
    """``(query, source, squared distance or None)`` of the pairs with ``|x_j - y_i| < r``, sorted by (query,
    source), as :func:`._radius._cell_list_pairs`; None where the kernel cannot take the inputs (the caller runs
    the torch path). When ``x is y`` (and ``bx is by``) self pairs are included only with ``loop``; the query and
    source indices are the rows of one ``[2, E]`` tensor (sources first), so that an ``edge_index`` needs no copy.
    """
    d = x.shape[1]
    if x.device.type != "cpu" or x.dtype not in _SUFFIX or y.dtype != x.dtype or d > 3 or d == 0:
        return None
    nx, ny = x.shape[0], y.shape[0]
    if nx == 0 or ny == 0 or _LIBRARY.load() is None:
        return None
    same = x is y and bx is by
    x = x.contiguous()
    y = x if same else y.contiguous()
    lo, hi = x.min(0).values.double(), x.max(0).values.double()  # (exact in float64, as the torch path's)
    if not same:
        lo, hi = torch.minimum(lo, y.min(0).values.double()), torch.maximum(hi, y.max(0).values.double())
    num_batches = int(max(int(bx.max()), int(by.max()))) + 1
    side = float(r) * (1 + 1e-5)  # (as the torch path: rounding never puts two points closer than r two cells apart)
    extent = (hi - lo).tolist()
    dims = [int(math.floor(e / side)) + 3 for e in extent] + [3] * (3 - d)
    if any(e / side > 1e15 for e in extent):
        return None
    per_batch = math.prod(dims)
    ncells = num_batches * per_batch
    if ncells > _DENSE_CELLS_PER_POINT * (nx + ny) + 4096:
        return None
    strides = [dims[1] * dims[2], dims[2], 1]
    # the runs of three cells along the last axis around a cell: one per neighbouring cell of the other two axes
    offsets = [sum(o * s for o, s in zip(off, strides))
               for off in itertools.product(*[(-1, 0, 1) if k < d else (0,) for k in range(2)])]
    lo_t = torch.cat([lo, lo.new_zeros(3 - d)])
    long = {"dtype": torch.int64}
    dims_t, strides_t, offsets_t = (torch.tensor(v, **long) for v in (dims, strides, offsets))
    bx, by = bx.contiguous(), (bx if same else by.contiguous())
    cell_start = torch.empty(ncells + 1, **long)
    x_order = torch.empty(nx, **long)
    xs = x.new_empty(3, nx)
    y_order = x_order if same else torch.empty(ny, **long)
    y_key = torch.empty(ny, **long)
    ys = xs if same else y.new_empty(3, ny)
    suffix = _SUFFIX[x.dtype]
    if _LIBRARY.function(f"st_radius_build_{suffix}")(
            nx, ny, d, int(same), x.data_ptr(), y.data_ptr(), bx.data_ptr(), by.data_ptr(), lo_t.data_ptr(), side,
            dims_t.data_ptr(), strides_t.data_ptr(), per_batch, ncells, cell_start.data_ptr(), x_order.data_ptr(),
            xs.data_ptr(), y_order.data_ptr(), y_key.data_ptr(), ys.data_ptr()) != 0:
        raise MemoryError("the radius search's CPU kernel could not allocate its buffers")
    run = _LIBRARY.function(f"st_radius_pass_{suffix}")
    threads = native_threads(ny, _QUERIES_PER_THREAD)
    r2 = float(r) ** 2
    counts = torch.empty(ny, **long)
    common = (nx, ny, int(same), int(loop), r2, offsets_t.data_ptr(), len(offsets), cell_start.data_ptr(),
              x_order.data_ptr(), xs.data_ptr(), y_order.data_ptr(), y_key.data_ptr(), ys.data_ptr())
    if run(*common, counts.data_ptr(), None, None, None, None, threads) != 0:
        raise MemoryError("the radius search's CPU kernel could not allocate its buffers")
    ends = torch.cumsum(counts, 0)
    total = int(ends[-1])
    starts = ends.sub_(counts)
    del counts
    edges = torch.empty(2, total, **long)  # row 0 the sources, row 1 the queries (an edge_index as it is)
    d2 = x.new_empty(total) if need_d2 else None
    if run(*common, None, starts.data_ptr(), edges[1].data_ptr(), edges[0].data_ptr(), _ptr(d2), threads) != 0:
        raise MemoryError("the radius search's CPU kernel could not allocate its buffers")
    return edges[1], edges[0], d2
