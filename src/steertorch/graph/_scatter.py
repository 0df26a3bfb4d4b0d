r"""Scatter reductions over groups of rows: sums, means, maxima and softmax per group.

Given ``src`` and an integer ``index`` along dimension ``dim``, the output row ``k`` reduces
every row ``n`` of ``src`` with ``index[n] == k``:

.. math::

    \mathrm{sum}_k = \sum_{n: \iota_n = k} s_n, \qquad
    \mathrm{mean}_k = \frac{\mathrm{sum}_k}{\max(1, |\{n: \iota_n = k\}|)}, \qquad
    \mathrm{max}_k = \max_{n: \iota_n = k} s_n,

and :math:`\mathrm{softmax}_n = e^{s_n} / \sum_{m: \iota_m = \iota_n} e^{s_m}`.

Pure torch (``index_add`` / ``scatter_add`` / ``scatter_reduce``): autograd and double backward work, on
CPU and CUDA, and under ``torch.compile``. ``index`` is either 1-D (one group per row along
``dim``) or has the shape of ``src`` (one group per entry, as ``torch.Tensor.scatter_add``).
Give ``dim_size`` (the number of groups) whenever it is known: without it, it is read from
``index.max()``, which synchronises with the GPU and breaks ``torch.compile`` graphs.
"""

from __future__ import annotations

import torch

__all__ = ["scatter_sum", "scatter_mean", "scatter_max", "scatter_softmax"]


def _prepare(src: torch.Tensor, index: torch.Tensor, dim: int, dim_size: int | None) -> tuple[int, int]:
    if not isinstance(src, torch.Tensor) or not isinstance(index, torch.Tensor):
        raise ValueError("src and index must be torch.Tensor")
    if src.dim() == 0:
        raise ValueError("src must have at least one dimension")
    if index.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"index must be an integer tensor (int64 or int32), got {index.dtype}")
    d = dim + src.dim() if dim < 0 else dim
    if not 0 <= d < src.dim():
        raise ValueError(f"dim {dim} out of range for src of shape {list(src.shape)}")
    if index.dim() == 1:
        if index.numel() != src.shape[d]:
            raise ValueError(f"index has {index.numel()} entries, expected src.shape[{dim}] = {src.shape[d]}")
    elif index.shape != src.shape:
        raise ValueError(f"index must be 1-D or of src's shape {list(src.shape)}, got {list(index.shape)}")
    if dim_size is None:
        dim_size = int(index.max()) + 1 if index.numel() > 0 else 0
    elif dim_size < 0:
        raise ValueError(f"dim_size must be >= 0, got {dim_size}")
    return d, dim_size


def _full_index(src: torch.Tensor, index: torch.Tensor, d: int) -> torch.Tensor:
    """``index`` broadcast to ``src``'s shape (for ``scatter_reduce`` / ``gather``)."""
    if index.dim() == src.dim():
        return index.long()
    shape = [1] * src.dim()
    shape[d] = -1
    return index.long().view(shape).expand_as(src)


def _out_shape(src: torch.Tensor, d: int, dim_size: int) -> list[int]:
    shape = list(src.shape)
    shape[d] = dim_size
    return shape


def add_rows_(out: torch.Tensor, index: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
    """``out[index[n]] += src[n]`` for every row ``n`` of ``src``, in place; returns ``out``.

    The values of ``out.index_add_(0, index, src)``, but autograd keeps only ``index`` for the backward pass
    (the gradient of ``src`` is the gradient of ``out`` gathered at ``index``): ``index_add`` also keeps
    ``src``, so summing per-edge messages into nodes with it holds every message until the backward pass.
    ``index`` is 1-D, int64 or int32, with one entry per row of ``src``; ``out`` and ``src`` agree after
    dimension 0.

    >>> add_rows_(torch.zeros(3), torch.tensor([0, 0, 2]), torch.tensor([1.0, 2.0, 3.0]))
    tensor([3., 0., 3.])
    """
    if index.dim() != 1 or index.shape[0] != src.shape[0]:
        raise ValueError(f"add_rows_: index must be 1-D with one entry per row of src ({src.shape[0]}), got "
                         f"{list(index.shape)}")
    if out.shape[1:] != src.shape[1:]:
        raise ValueError(f"add_rows_: out {list(out.shape)} and src {list(src.shape)} must agree after dimension 0")
    # the index expanded as a view (no copy): scatter_add_ saves it, and only it, for the backward pass
    full = index.long().view(-1, *([1] * (src.dim() - 1))).expand_as(src)
    return out.scatter_add_(0, full, src)


def scatter_sum(src: torch.Tensor, index: torch.Tensor, dim: int = 0, dim_size: int | None = None) -> torch.Tensor:
    """Sum of the entries of ``src`` sharing an ``index`` value along ``dim``; empty groups give 0.

    >>> scatter_sum(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0, 0, 2]))
    tensor([3., 0., 3.])
    """
    d, dim_size = _prepare(src, index, dim, dim_size)
    out = src.new_zeros(_out_shape(src, d, dim_size))
    if index.dim() == 1:
        return out.index_add(d, index, src)
    return out.scatter_add(d, index.long(), src)


def _counts(src: torch.Tensor, index: torch.Tensor, d: int, dim_size: int) -> torch.Tensor:
    if index.dim() == 1:
        c = torch.zeros(dim_size, dtype=src.dtype, device=src.device)
        c = c.index_add(0, index, torch.ones_like(index, dtype=src.dtype))
        shape = [1] * src.dim()
        shape[d] = dim_size
        return c.view(shape)
    c = src.new_zeros(_out_shape(src, d, dim_size))
    return c.scatter_add(d, index.long(), torch.ones_like(src))


def scatter_mean(src: torch.Tensor, index: torch.Tensor, dim: int = 0, dim_size: int | None = None) -> torch.Tensor:
    """Mean of the entries of ``src`` sharing an ``index`` value along ``dim``; empty groups give 0.

    >>> scatter_mean(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0, 0, 2]))
    tensor([1.5000, 0.0000, 3.0000])
    """
    d, dim_size = _prepare(src, index, dim, dim_size)
    total = scatter_sum(src, index, d, dim_size)
    return total / _counts(src, index, d, dim_size).clamp_min(1)


def scatter_max(src: torch.Tensor, index: torch.Tensor, dim: int = 0, dim_size: int | None = None) -> torch.Tensor:
    """Maximum of the entries of ``src`` sharing an ``index`` value along ``dim``; empty groups give 0.

    Only the values are returned. The gradient flows to the maximal entries (shared evenly
    between tied maxima), as ``torch.amax``.

    >>> scatter_max(torch.tensor([1.0, -2.0, -3.0]), torch.tensor([0, 2, 2]))
    tensor([ 1.,  0., -2.])
    """
    d, dim_size = _prepare(src, index, dim, dim_size)
    out = src.new_zeros(_out_shape(src, d, dim_size))
    return out.scatter_reduce(d, _full_index(src, index, d), src, reduce="amax", include_self=False)


def scatter_softmax(src: torch.Tensor, index: torch.Tensor, dim: int = 0, dim_size: int | None = None) -> torch.Tensor:
    r"""Softmax of ``src`` within each group: :math:`e^{s_n - m} / \sum_{\iota_m = \iota_n} e^{s_m - m}`.

    The group maximum :math:`m` is subtracted first (a constant per group, excluded from the
    gradient, which does not change the result), so large inputs do not overflow. The output
    has the shape of ``src``; the entries of every group sum to 1.

    >>> scatter_softmax(torch.tensor([0.0, 0.0, 1000.0]), torch.tensor([0, 0, 1]))
    tensor([0.5000, 0.5000, 1.0000])
    """
    d, dim_size = _prepare(src, index, dim, dim_size)
    full = _full_index(src, index, d)
    with torch.no_grad():
        peak = src.new_zeros(_out_shape(src, d, dim_size)).scatter_reduce(
            d, full, src.detach(), reduce="amax", include_self=False
        )
        peak = torch.nan_to_num(peak, nan=0.0, posinf=0.0, neginf=0.0)
    e = torch.exp(src - peak.gather(d, full))
    denom = scatter_sum(e, index, d, dim_size).gather(d, full)
    return e / denom
