r"""Adaptive pooling of grid feature fields to a fixed output size (escnn's ``PointwiseAdaptive*Pool*``).

``adaptive_avg_pool`` / ``adaptive_max_pool`` channel by channel. Along an axis of length n with output size o,
window i covers ``[floor(i n / o), ceil((i + 1) n / o))``; the reflection ``i -> o - 1 - i`` maps these windows onto
each other, so with the same output size on the axes a symmetry exchanges the modules are exactly equivariant under
the grid's quarter turns and flips (octahedral rotations in 3D). Averaging is linear and accepts any field type;
the max needs fields acting by permutation matrices.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..._dtype import module_dtype
from ._module import EquivariantModule
from ._nonlinearity import _check_input
from ._pooling import _check_permutation_fields, _check_type, _is_int_at_least, _ntuple
from ._type import FieldType

__all__ = [
    "PointwiseAdaptiveAvgPool2D",
    "PointwiseAdaptiveAvgPool3D",
    "PointwiseAdaptiveMaxPool2D",
    "PointwiseAdaptiveMaxPool3D",
    "PointwiseAdaptiveAvgPool",
    "PointwiseAdaptiveMaxPool",
]

_POOL = {("avg", 2): F.adaptive_avg_pool2d, ("avg", 3): F.adaptive_avg_pool3d,
         ("max", 2): F.adaptive_max_pool2d, ("max", 3): F.adaptive_max_pool3d}


class _AdaptivePool(EquivariantModule, nn.Module):
    dims_required = 2
    kind = "avg"

    def __init__(self, in_type: FieldType, output_size: int | tuple[int, ...]) -> None:
        super().__init__()
        who = type(self).__name__
        d = self.dims_required
        _check_type(in_type, who, dims=d)
        if self.kind == "max":
            _check_permutation_fields(in_type, who)
        self.output_size = _ntuple(output_size, d, "output_size", who, _is_int_at_least(1), "an int >= 1")
        self.in_type = self.out_type = in_type

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self.in_type, x, type(self).__name__, module_dtype(self))
        return _POOL[self.kind, self.dims_required](x, self.output_size)

    def extra_repr(self) -> str:
        return f"{self.in_type!r}, output_size={self.output_size}"


class PointwiseAdaptiveAvgPool2D(_AdaptivePool):
    """``adaptive_avg_pool2d`` channel by channel, any field type (escnn's ``PointwiseAdaptiveAvgPool2D``).

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> gs = rot2dOnR2(-1)
    >>> pool = PointwiseAdaptiveAvgPool2D(FieldType(gs, [gs.irrep(1)]), 1)
    >>> pool(torch.randn(2, 2, 7, 7)).shape
    torch.Size([2, 2, 1, 1])
    """


class PointwiseAdaptiveAvgPool3D(_AdaptivePool):
    """``adaptive_avg_pool3d`` channel by channel, any field type (escnn's ``PointwiseAdaptiveAvgPool3D``).

    >>> import torch
    >>> from steertorch.gspaces import rot3dOnR3
    >>> gs = rot3dOnR3()
    >>> PointwiseAdaptiveAvgPool3D(FieldType(gs, [gs.irrep(1)]), 2)(torch.randn(1, 3, 5, 5, 5)).shape
    torch.Size([1, 3, 2, 2, 2])
    """

    dims_required = 3


class PointwiseAdaptiveMaxPool2D(_AdaptivePool):
    """``adaptive_max_pool2d`` channel by channel on permutation fields (escnn's ``PointwiseAdaptiveMaxPool2D``).

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> gs = rot2dOnR2(4)
    >>> pool = PointwiseAdaptiveMaxPool2D(FieldType(gs, [gs.regular_repr]), (2, 2))
    >>> pool(torch.randn(2, 4, 7, 7)).shape
    torch.Size([2, 4, 2, 2])
    """

    kind = "max"


class PointwiseAdaptiveMaxPool3D(_AdaptivePool):
    """``adaptive_max_pool3d`` channel by channel on permutation fields (escnn's ``PointwiseAdaptiveMaxPool3D``).

    >>> import torch
    >>> from steertorch.gspaces import rot3dOnR3
    >>> gs = rot3dOnR3()
    >>> PointwiseAdaptiveMaxPool3D(FieldType(gs, [gs.trivial_repr]), (2, 2, 2))(torch.randn(1, 1, 5, 5, 5)).shape
    torch.Size([1, 1, 2, 2, 2])
    """

    dims_required = 3
    kind = "max"


#: escnn's 2D names
PointwiseAdaptiveAvgPool = PointwiseAdaptiveAvgPool2D
PointwiseAdaptiveMaxPool = PointwiseAdaptiveMaxPool2D
