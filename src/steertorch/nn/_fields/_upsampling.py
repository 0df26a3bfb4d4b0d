r"""Upsampling of grid feature fields ``[B, C, *spatial]`` (escnn's ``R2Upsampling`` / ``R3Upsampling``).

Interpolation (``torch.nn.functional.interpolate``) is linear and acts on each channel alike,
:math:`\mathrm{up}(\rho(g) x) = \rho(g)\,\mathrm{up}(x)`, so any field type is allowed. Along each axis, input length
n and output length m, output sample j reads the input at

- ``"nearest"``: :math:`\lfloor j\, n / m \rfloor`;
- ``"nearest-exact"``: :math:`\lfloor (j + 1/2)\, n / m \rfloor`;
- ``"bilinear"`` / ``"trilinear"``, ``align_corners=False``: :math:`(j + 1/2)/s - 1/2` (clamped at 0), s the scale
  factor (``m / n`` when ``size`` is given);
- ``"bilinear"`` / ``"trilinear"``, ``align_corners=True``: :math:`j\,(n - 1)/(m - 1)`.

The module commutes exactly with a grid symmetry (flip, quarter turn, octahedral rotation) when these positions are
symmetric about the grid's centre (and all axes have the same n, m). Measured in float64 (tested):

============================================  ===================================================================
mode                                          exactly equivariant under the grid symmetries when
============================================  ===================================================================
``"nearest"``                                 m is a multiple of n (integer ``scale_factor``); otherwise not
``"nearest-exact"``                           m a multiple of n, or n odd (any m)
linear, ``align_corners=True``                always
linear, ``align_corners=False``               ``size`` given, or n * ``scale_factor`` an integer (torch then
                                              samples at 1/s, not n/m, off centre: errors O(1) of the field)
============================================  ===================================================================
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..._dtype import module_dtype
from ._module import EquivariantModule
from ._nonlinearity import _check_input
from ._pooling import _check_type, _is_int_at_least, _ntuple
from ._type import FieldType

__all__ = ["R2Upsampling", "R3Upsampling"]

_NEAREST = ("nearest", "nearest-exact")


def _is_positive_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v > 0


class _Upsampling(EquivariantModule, nn.Module):
    """``F.interpolate`` on fields over a G-space on R^d, d = ``dims_required``, linear mode ``linear_mode``."""

    dims_required = 2
    linear_mode = "bilinear"

    def __init__(self, in_type: FieldType, scale_factor: float | tuple[float, ...] | None = None,
                 size: int | tuple[int, ...] | None = None, mode: str | None = None,
                 align_corners: bool = False) -> None:
        super().__init__()
        who, d = type(self).__name__, self.dims_required
        _check_type(in_type, who, dims=d)
        mode = self.linear_mode if mode is None else mode
        modes = (*_NEAREST, self.linear_mode)
        if mode not in modes:
            raise ValueError(f"{who}: mode must be one of {modes}, got {mode!r}")
        if (scale_factor is None) == (size is None):
            raise ValueError(f"{who}: give exactly one of scale_factor and size, got scale_factor={scale_factor!r}, "
                             f"size={size!r}")
        if scale_factor is not None:
            _ntuple(scale_factor, d, "scale_factor", who, _is_positive_number, "a number > 0")
        if size is not None:
            _ntuple(size, d, "size", who, _is_int_at_least(1), "an int >= 1")
        if not isinstance(align_corners, bool):
            raise ValueError(f"{who}: align_corners must be a bool, got {align_corners!r}")
        if align_corners and mode in _NEAREST:
            raise ValueError(f"{who}: align_corners=True needs mode={self.linear_mode!r}, got mode={mode!r}")
        self.in_type = in_type
        self.out_type = in_type
        self.scale_factor = scale_factor
        self.size = size
        self.mode = mode
        self.align_corners = align_corners

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self.in_type, x, type(self).__name__, module_dtype(self))
        align = None if self.mode in _NEAREST else self.align_corners
        return F.interpolate(x, size=self.size, scale_factor=self.scale_factor, mode=self.mode, align_corners=align)

    def extra_repr(self) -> str:
        how = f"size={self.size}" if self.size is not None else f"scale_factor={self.scale_factor}"
        return f"{self.in_type!r}, {how}, mode={self.mode!r}, align_corners={self.align_corners}"


class R2Upsampling(_Upsampling):
    r"""Upsampling of fields of any type on a 2D grid: ``F.interpolate(x, size, scale_factor, mode,
    align_corners)`` channel by channel.

    Exactly equivariant under the quarter turns and flips for the settings in the module docstring (e.g. integer
    ``scale_factor`` with any mode; ``"bilinear"`` with ``size`` or ``align_corners=True``).

    Args:
        in_type: the input :class:`FieldType` over a 2D G-space (also the output type); any representations.
        scale_factor: multiplier of the spatial size (a number or 2); exclusive with ``size``.
        size: output spatial size (an int or 2).
        mode: ``"bilinear"`` (default), ``"nearest"`` or ``"nearest-exact"``.
        align_corners: as ``F.interpolate`` (``"bilinear"`` only; ``ValueError`` if True with a nearest mode).

    >>> import torch
    >>> from steertorch.gspaces import flipRot2dOnR2
    >>> gs = flipRot2dOnR2(-1)
    >>> up = R2Upsampling(FieldType(gs, [gs.irrep(1, 1)]), scale_factor=2)
    >>> up(torch.randn(1, 2, 5, 5)).shape
    torch.Size([1, 2, 10, 10])
    """

    dims_required = 2
    linear_mode = "bilinear"


class R3Upsampling(_Upsampling):
    r"""Upsampling of fields of any type on a 3D grid: ``F.interpolate(x, size, scale_factor, mode,
    align_corners)`` channel by channel.

    Exactly equivariant under the 24 octahedral rotations (and flips) for the settings in the module docstring
    (e.g. integer ``scale_factor`` with any mode; ``"trilinear"`` with ``size`` or ``align_corners=True``).

    Args:
        in_type: the input :class:`FieldType` over a 3D G-space (also the output type); any representations.
        scale_factor: multiplier of the spatial size (a number or 3); exclusive with ``size``.
        size: output spatial size (an int or 3).
        mode: ``"trilinear"`` (default), ``"nearest"`` or ``"nearest-exact"``.
        align_corners: as ``F.interpolate`` (``"trilinear"`` only; ``ValueError`` if True with a nearest mode).

    >>> import torch
    >>> from steertorch.gspaces import rot3dOnR3
    >>> gs = rot3dOnR3()
    >>> up = R3Upsampling(FieldType(gs, [gs.irrep(1)]), size=7)
    >>> up(torch.randn(1, 3, 4, 4, 4)).shape
    torch.Size([1, 3, 7, 7, 7])
    """

    dims_required = 3
    linear_mode = "trilinear"
