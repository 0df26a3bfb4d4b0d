r"""Pooling of grid feature fields ``[B, C, *spatial]`` (escnn's names).

- :class:`GroupPooling`: max over the channels of each permutation field (regular, quotient) -> one invariant
  (trivial) channel per field.
- :class:`PointwiseMaxPool2D`: spatial max pooling channel by channel (fields with permutation representations).
- :class:`NormMaxPool`: spatial max pooling that keeps, per field and window, the vector with the largest norm.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._field_nonlinearity import _check_input, _field_index, is_permutation_representation
from ._field_type import FieldType

__all__ = ["GroupPooling", "PointwiseMaxPool2D", "NormMaxPool"]

_Int2 = int | tuple[int, int]


def _check_type(in_type: FieldType, who: str, dims: int | None = 2) -> None:
    if not isinstance(in_type, FieldType):
        raise ValueError(f"{who}: in_type must be a FieldType, got {type(in_type).__name__}")
    if dims is not None and in_type.gspace.dimensionality != dims:
        raise ValueError(f"{who}: needs a G-space on R^{dims}, got {in_type.gspace.name}")


def _check_permutation_fields(in_type: FieldType, who: str) -> None:
    for i, rho in enumerate(in_type.representations):
        if not is_permutation_representation(rho):
            raise ValueError(f"{who}: field {i} ({rho.name}) does not act by permutation matrices (needs trivial, "
                             "regular or quotient fields)")


class GroupPooling(nn.Module):
    r"""Max over the channels of each field: :math:`y_i(p) = \max_c x_{i,c}(p)`, an invariant scalar per field.

    Invariant because :math:`\rho_i(g)` permutes the channels of field i. Fields must act by permutation matrices
    (trivial, regular, quotient; ``ValueError`` otherwise). ``out_type`` has one trivial field per input field.

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> gs = rot2dOnR2(8)
    >>> pool = GroupPooling(FieldType(gs, [gs.regular_repr] * 3))
    >>> pool(torch.randn(2, 24, 5, 5)).shape
    torch.Size([2, 3, 5, 5])
    """

    def __init__(self, in_type: FieldType) -> None:
        super().__init__()
        _check_type(in_type, "GroupPooling", dims=None)
        _check_permutation_fields(in_type, "GroupPooling")
        self.in_type = in_type
        self.out_type = FieldType(in_type.gspace, [in_type.gspace.trivial_repr] * len(in_type))
        sizes = {rho.size for rho in in_type.representations}
        self._uniform = sizes.pop() if len(sizes) == 1 else None
        self.register_buffer("field_index", _field_index(in_type), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self.in_type, x, "GroupPooling")
        b, _ = x.shape[:2]
        nf = len(self.in_type)
        if self._uniform is not None:
            return x.reshape(b, nf, self._uniform, *x.shape[2:]).amax(2)
        out = torch.full((b, nf, *x.shape[2:]), float("-inf"), dtype=x.dtype, device=x.device)
        idx = self.field_index.to(x.device).view(1, -1, *([1] * (x.dim() - 2))).expand_as(x)
        return out.scatter_reduce(1, idx, x, reduce="amax", include_self=False)

    def extra_repr(self) -> str:
        return f"{self.in_type!r}"


class _WindowPool2D(nn.Module):
    """Shared window arguments of the 2D pooling modules (as ``max_pool2d``); the output type is the input type."""

    def _set_window(self, in_type: FieldType, kernel_size: _Int2, stride: _Int2 | None, padding: _Int2,
                    dilation: _Int2, ceil_mode: bool) -> None:
        self.in_type = in_type
        self.out_type = in_type
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.dilation = dilation
        self.ceil_mode = ceil_mode

    def extra_repr(self) -> str:
        return (f"{self.in_type!r}, kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}")


class PointwiseMaxPool2D(_WindowPool2D):
    r"""Channel-wise spatial max pooling (``torch.nn.functional.max_pool2d``) on permutation fields.

    Equivariant to the grid's symmetries (90-degree rotations, flips) when the pooling windows tile the grid
    symmetrically (e.g. ``kernel_size = stride`` dividing the grid size, no padding, or odd sizes with centred
    windows). Fields must act by permutation matrices (``ValueError`` otherwise).

    Args:
        in_type: the input :class:`FieldType` over a 2D G-space (also the output type).
        kernel_size, stride (default ``kernel_size``), padding, dilation, ceil_mode: as ``max_pool2d``.

    >>> import torch
    >>> from steertorch.gspaces import flipRot2dOnR2
    >>> gs = flipRot2dOnR2(4)
    >>> pool = PointwiseMaxPool2D(FieldType(gs, [gs.regular_repr]), 2)
    >>> pool(torch.randn(1, 8, 6, 6)).shape
    torch.Size([1, 8, 3, 3])
    """

    def __init__(self, in_type: FieldType, kernel_size: _Int2, stride: _Int2 | None = None, padding: _Int2 = 0,
                 dilation: _Int2 = 1, ceil_mode: bool = False) -> None:
        super().__init__()
        _check_type(in_type, "PointwiseMaxPool2D")
        _check_permutation_fields(in_type, "PointwiseMaxPool2D")
        self._set_window(in_type, kernel_size, stride, padding, dilation, ceil_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self.in_type, x, "PointwiseMaxPool2D")
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode)


class NormMaxPool(_WindowPool2D):
    r"""Per field and window, keep the field vector at the location of largest norm:
    :math:`y_i(q) = x_i(p^*)`, :math:`p^* = \arg\max_{p \in W(q)} |x_i(p)|`.

    Equivariant for any orthogonal field (norms are invariant) when the windows tile the grid symmetrically, up
    to ties in the norm. Gradients flow to the selected vectors only.

    Args:
        in_type: the input :class:`FieldType` over a 2D G-space (also the output type).
        kernel_size, stride (default ``kernel_size``), padding, dilation, ceil_mode: as ``max_pool2d``.

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> gs = rot2dOnR2(-1)
    >>> pool = NormMaxPool(FieldType(gs, [gs.irrep(1), gs.irrep(0)]), 2)
    >>> pool(torch.randn(1, 3, 6, 6)).shape
    torch.Size([1, 3, 3, 3])
    """

    def __init__(self, in_type: FieldType, kernel_size: _Int2, stride: _Int2 | None = None, padding: _Int2 = 0,
                 dilation: _Int2 = 1, ceil_mode: bool = False) -> None:
        super().__init__()
        _check_type(in_type, "NormMaxPool")
        self._set_window(in_type, kernel_size, stride, padding, dilation, ceil_mode)
        self.register_buffer("field_index", _field_index(in_type), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self.in_type, x, "NormMaxPool")
        b, c, h, w = x.shape
        nf = len(self.in_type)
        fidx = self.field_index.to(x.device)
        with torch.no_grad():
            sq = torch.zeros(b, nf, h, w, dtype=x.dtype, device=x.device).index_add_(1, fidx, x * x)
            _, where = F.max_pool2d(sq, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                                    return_indices=True)  # [B, nf, Ho, Wo], indices into h * w
        ho, wo = where.shape[2:]
        where = where.index_select(1, fidx).reshape(b, c, ho * wo)
        return x.reshape(b, c, h * w).gather(2, where).reshape(b, c, ho, wo)
