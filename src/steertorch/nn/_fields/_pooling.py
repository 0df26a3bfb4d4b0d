r"""Pooling of grid feature fields ``[B, C, *spatial]`` (escnn's names).

- :class:`GroupPooling`: max over the channels of each permutation field (regular, quotient) -> one invariant
  (trivial) channel per field.
- :class:`NormPool`: the norm of each field's vector -> one invariant (trivial) channel per field, any field type.
- :class:`PointwiseMaxPool2D` / :class:`PointwiseMaxPool3D`: spatial max pooling channel by channel (fields with
  permutation representations).
- :class:`NormMaxPool`: spatial max pooling (2D or 3D) that keeps, per field and window, the vector with the largest
  norm.

Window geometry: a grid symmetry (quarter turn, flip, octahedral rotation) maps the set of pooling windows onto itself
(so these modules are exactly equivariant under it) when, along every axis, the windows sit symmetrically about the
grid's centre: ``(n + 2 * padding - dilation * (kernel_size - 1) - 1) % stride == 0`` for the axis length n, the same
arguments on the axes the symmetry exchanges (``ceil_mode`` then changes nothing). Otherwise the windows are
shifted against the flipped grid and equivariance holds only approximately (as for a strided convolution).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..._dtype import check_input_dtype, module_dtype
from ._module import EquivariantModule
from ._nonlinearity import _EPS, _check_input, _field_index, is_permutation_representation
from ._plain import BlockNorm, NormMaxPooling, max_over_fields, norm_max_pool
from ._type import FieldType, require_field_type

__all__ = ["GroupPooling", "NormPool", "PointwiseMaxPool2D", "PointwiseMaxPool3D", "PointwiseMaxPool", "NormMaxPool",
           "MaxPoolChannels"]

_IntN = int | tuple[int, ...]
_MAX_POOL = {2: F.max_pool2d, 3: F.max_pool3d}


def _check_type(in_type: FieldType, who: str, dims: int | None = 2) -> None:
    require_field_type(in_type, who)
    if dims is not None and in_type.gspace.dimensionality != dims:
        raise ValueError(f"{who}: needs a G-space on R^{dims}, got {in_type.gspace.name}")


def _ntuple(value: object, d: int, what: str, who: str, ok: Callable[[object], bool], requirement: str) -> tuple:
    """``value`` repeated d times (a number) or as a tuple (a tuple / list of d entries), each passing ``ok``; else
    ``ValueError`` saying ``what`` must be ``requirement``."""
    t = tuple(value) if isinstance(value, tuple | list) else (value,) * d
    if len(t) != d or not all(ok(v) for v in t):
        raise ValueError(f"{who}: {what} must be {requirement} or {d} of them, got {value!r}")
    return t


def _is_int_at_least(minimum: int) -> Callable[[object], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= minimum


def _squared_norms(x: torch.Tensor, field_index: torch.Tensor, n_fields: int) -> torch.Tensor:
    """``[B, n_fields, *spatial]``: per field and point, the sum of the squares of the field's channels."""
    out = torch.zeros(x.shape[0], n_fields, *x.shape[2:], dtype=x.dtype, device=x.device)
    return out.index_add_(1, field_index.to(x.device), x * x)


def _check_permutation_fields(in_type: FieldType, who: str) -> None:
    for i, rho in enumerate(in_type.representations):
        if not is_permutation_representation(rho):
            raise ValueError(f"{who}: field {i} ({rho.name}) does not act by permutation matrices (needs trivial, "
                             "regular or quotient fields)")


class GroupPooling(EquivariantModule, nn.Module):
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
        _check_input(self.in_type, x, "GroupPooling", module_dtype(self))
        return max_over_fields(x, self._uniform, self.field_index.to(x.device), len(self.in_type))

    def extra_repr(self) -> str:
        return f"{self.in_type!r}"


class NormPool(EquivariantModule, nn.Module):
    r"""The norm of each field: :math:`y_i(p) = |x_i(p)| = \sqrt{\textstyle\sum_{c \in i} x_c(p)^2}`, one invariant
    scalar per field.

    Invariant because every field representation is orthogonal (:math:`|\rho_i(g) v| = |v|`), so any field type is
    allowed. ``out_type`` has one trivial field per input field. The squared norm is floored at 1e-24 before the
    square root (as :class:`NormNonLinearity`), so the output is 1e-12 instead of 0 at a zero vector and gradients
    (first and second) are finite there.

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> gs = rot2dOnR2(-1)
    >>> pool = NormPool(FieldType(gs, [gs.irrep(1), gs.irrep(0)]))
    >>> x = torch.tensor([3.0, 4.0, -2.0]).view(1, 3, 1, 1)
    >>> pool(x).flatten().tolist()
    [5.0, 2.0]
    """

    def __init__(self, in_type: FieldType) -> None:
        super().__init__()
        _check_type(in_type, "NormPool", dims=None)
        self.in_type = in_type
        self.out_type = FieldType(in_type.gspace, [in_type.gspace.trivial_repr] * len(in_type))
        self.register_buffer("field_index", _field_index(in_type), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self.in_type, x, "NormPool", module_dtype(self))
        return _squared_norms(x, self.field_index, len(self.in_type)).clamp(min=_EPS).sqrt()

    def export(self) -> nn.Module:
        """A plain :class:`~steertorch.nn._fields._plain.BlockNorm` (the fields as blocks)."""
        return BlockNorm(self.field_index)

    def extra_repr(self) -> str:
        return f"{self.in_type!r}"


class _WindowPool(EquivariantModule, nn.Module):
    """Shared window arguments of the 2D / 3D pooling modules (as ``max_pool2d`` / ``max_pool3d``; ``dilation=None``
    for windows without dilation, as ``avg_pool2d``); the output type is the input type."""

    def _set_window(self, in_type: FieldType, kernel_size: _IntN, stride: _IntN | None, padding: _IntN,
                    dilation: _IntN | None, ceil_mode: bool) -> None:
        self.dims = in_type.gspace.dimensionality
        self.in_type = in_type
        self.out_type = in_type
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.dilation = dilation
        self.ceil_mode = ceil_mode

    def extra_repr(self) -> str:
        dilation = "" if self.dilation is None else f", dilation={self.dilation}"
        return (f"{self.in_type!r}, kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
                f"{dilation}")


class _PointwiseMaxPool(_WindowPool):
    """Channel-wise max pooling on permutation fields over a G-space on R^d, d = ``dims_required`` (per subclass)."""

    dims_required = 2

    def __init__(self, in_type: FieldType, kernel_size: _IntN, stride: _IntN | None = None, padding: _IntN = 0,
                 dilation: _IntN = 1, ceil_mode: bool = False) -> None:
        super().__init__()
        who = type(self).__name__
        _check_type(in_type, who, dims=self.dims_required)
        _check_permutation_fields(in_type, who)
        self._set_window(in_type, kernel_size, stride, padding, dilation, ceil_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self.in_type, x, type(self).__name__, module_dtype(self))
        return _MAX_POOL[self.dims](x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode)


class PointwiseMaxPool2D(_PointwiseMaxPool):
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

    dims_required = 2


class PointwiseMaxPool3D(_PointwiseMaxPool):
    r"""Channel-wise spatial max pooling (``torch.nn.functional.max_pool3d``) on permutation fields over a 3D G-space.

    Equivariant to the grid's symmetries (the 24 octahedral rotations, flips) under the window condition of the
    module docstring (e.g. ``kernel_size = stride`` dividing the grid size, or odd sizes with centred windows). Fields
    must act by permutation matrices (``ValueError`` otherwise).

    Args:
        in_type: the input :class:`FieldType` over a 3D G-space (also the output type).
        kernel_size, stride (default ``kernel_size``), padding, dilation, ceil_mode: as ``max_pool3d``.

    >>> import torch
    >>> from steertorch.gspaces import octaOnR3
    >>> gs = octaOnR3()
    >>> pool = PointwiseMaxPool3D(FieldType(gs, [gs.regular_repr]), 2)
    >>> pool(torch.randn(1, 24, 4, 4, 4)).shape
    torch.Size([1, 24, 2, 2, 2])
    """

    dims_required = 3


class NormMaxPool(_WindowPool):
    r"""Per field and window, keep the field vector at the location of largest norm:
    :math:`y_i(q) = x_i(p^*)`, :math:`p^* = \arg\max_{p \in W(q)} |x_i(p)|`.

    Equivariant for any orthogonal field (norms are invariant) when the windows tile the grid symmetrically, up
    to ties in the norm. Gradients flow to the selected vectors only.

    Args:
        in_type: the input :class:`FieldType` over a 2D or 3D G-space (also the output type).
        kernel_size, stride (default ``kernel_size``), padding, dilation, ceil_mode: as ``max_pool2d`` /
            ``max_pool3d``.

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> gs = rot2dOnR2(-1)
    >>> pool = NormMaxPool(FieldType(gs, [gs.irrep(1), gs.irrep(0)]), 2)
    >>> pool(torch.randn(1, 3, 6, 6)).shape
    torch.Size([1, 3, 3, 3])
    """

    def __init__(self, in_type: FieldType, kernel_size: _IntN, stride: _IntN | None = None, padding: _IntN = 0,
                 dilation: _IntN = 1, ceil_mode: bool = False) -> None:
        super().__init__()
        _check_type(in_type, "NormMaxPool", dims=None)
        self._set_window(in_type, kernel_size, stride, padding, dilation, ceil_mode)
        self.register_buffer("field_index", _field_index(in_type), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self.in_type, x, "NormMaxPool", module_dtype(self))
        return norm_max_pool(x, self.field_index, len(self.in_type), self.kernel_size, self.stride, self.padding,
                             self.dilation, self.ceil_mode)

    def export(self) -> nn.Module:
        """A plain :class:`~steertorch.nn._fields._plain.NormMaxPooling` with the same window."""
        return NormMaxPooling(self.field_index, self.kernel_size, self.stride, self.padding, self.dilation,
                              self.ceil_mode)


PointwiseMaxPool = PointwiseMaxPool2D  # escnn's alias


class MaxPoolChannels(nn.Module):
    r"""The maximum over each group of ``kernel_size`` consecutive channels (escnn's ``MaxPoolChannels``), on plain
    ``[B, C, *spatial]`` tensors: :math:`y_{b,c}(p) = \max_{0 \le j < k} x_{b, ck + j}(p)`. Not a field module: it
    has no types (on regular fields of a group of order k it is :class:`GroupPooling`).

    >>> MaxPoolChannels(2)(torch.tensor([[1.0, 3.0, -2.0, -5.0]])).tolist()
    [[3.0, -2.0]]
    """

    def __init__(self, kernel_size: int) -> None:
        super().__init__()
        if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1:
            raise ValueError(f"MaxPoolChannels: kernel_size must be an int >= 1, got {kernel_size!r}")
        self.kernel_size = kernel_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size
        if not isinstance(x, torch.Tensor) or x.dim() < 2 or x.shape[1] % k:
            shape = list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"MaxPoolChannels: expected a tensor [batch, C, *spatial] with C divisible by "
                             f"{k}, got {shape}")
        check_input_dtype("MaxPoolChannels", "input x", x, None)
        return x.reshape(x.shape[0], x.shape[1] // k, k, *x.shape[2:]).amax(2)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}"
