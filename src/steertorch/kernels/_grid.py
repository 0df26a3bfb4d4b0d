"""Lattice offsets at which grid convolutions sample their kernels."""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["grid_points"]


def grid_points(kernel_size: int | Sequence[int], dim: int, dilation: int | Sequence[int] = 1,
                dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> torch.Tensor:
    r"""The offsets ``[P, dim]`` of the entries of a ``Conv2d`` / ``Conv3d`` kernel from its centre.

    Row ``i`` is the entry ``i`` of the flattened kernel ``[kH, kW]`` (``[kD, kH, kW]``): coordinate ``a`` is
    the offset along spatial dimension ``a`` (x along H, y along W; in 3D x, y, z along D, H, W), times the
    dilation, the convention of :class:`~steertorch.gspaces.GSpace` and :meth:`~steertorch.nn.FieldType.transform`.

    >>> grid_points(3, 2)[:4]
    tensor([[-1., -1.],
            [-1.,  0.],
            [-1.,  1.],
            [ 0., -1.]])
    """
    if dim not in (2, 3):
        raise ValueError(f"dim must be 2 or 3, got {dim!r}")
    ks = [kernel_size] * dim if isinstance(kernel_size, int) else list(kernel_size)
    ds = [dilation] * dim if isinstance(dilation, int) else list(dilation)
    if len(ks) != dim or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in ks):
        raise ValueError(f"kernel_size must be an int >= 1 or {dim} of them, got {kernel_size!r}")
    if len(ds) != dim or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in ds):
        raise ValueError(f"dilation must be an int >= 1 or {dim} of them, got {dilation!r}")
    dtype = dtype or torch.get_default_dtype()
    axes = [(torch.arange(k, dtype=torch.float64) - (k - 1) / 2) * d for k, d in zip(ks, ds)]
    pts = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, dim)
    return pts.to(dtype=dtype, device=device)
