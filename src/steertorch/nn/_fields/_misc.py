r"""Small grid-field modules escnn users reach for: ``ReLU`` / ``ELU`` on permutation fields, the disk
``MaskModule``, field-wise and pointwise dropout, and the ``IdentityModule``.

- :class:`ReLU`, :class:`ELU`, :class:`LeakyReLU`: :class:`PointwiseNonLinearity` with a fixed function (escnn's names).
- :class:`MaskModule`: multiplies every channel by a radial mask that is 1 on the disk / ball inscribed in the
  grid and decays as a Gaussian outside it, so content in the corners (which a rotation moves off the grid)
  does not leak into the features: :math:`m(p) = 1` for :math:`|p|^2 \le t` and
  :math:`\exp\big((t - |p|^2) / (2\sigma^2)\big)` otherwise, :math:`t = \big(c\,(1 - \text{margin}/100)\big)^2`,
  c = (S - 1) / 2 and p measured from the grid's centre. The mask is invariant under every rotation and
  reflection of the grid, hence equivariant for any field type.
- :class:`FieldDropout`: drops whole fields (all channels of a field share one Bernoulli draw, rescaled by
  1 / (1 - p)); equivariant for any representation, since :math:`\rho(g)` acts within a field.
- :class:`PointwiseDropout`: ``torch.nn.functional.dropout`` channel by channel; only for permutation fields
  (in distribution: a permuted mask is again a valid mask).
- :class:`IdentityModule`: returns its input, with ``in_type`` = ``out_type``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..._dtype import ExactConstants, module_dtype
from ._module import EquivariantModule
from ._nonlinearity import PointwiseNonLinearity, _check_input, _field_index, is_permutation_representation
from ._type import FieldType, require_field_type

__all__ = ["ReLU", "ELU", "LeakyReLU", "MaskModule", "disk_mask", "FieldDropout", "PointwiseDropout", "IdentityModule"]


class ReLU(PointwiseNonLinearity):
    """``max(x, 0)`` channel by channel on fields acting by permutation matrices (escnn's ``nn.ReLU``).

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> gs = rot2dOnR2(4)
    >>> relu = ReLU(FieldType(gs, [gs.regular_repr]))
    >>> bool((relu(torch.randn(1, 4, 3, 3)) >= 0).all())
    True
    """

    def __init__(self, in_type: FieldType, inplace: bool = False) -> None:
        super().__init__(require_field_type(in_type, "ReLU"), "p_relu")
        self.inplace = inplace

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self.in_type, x, "ReLU", module_dtype(self))
        return F.relu(x, inplace=self.inplace)


class ELU(PointwiseNonLinearity):
    """ELU channel by channel on fields acting by permutation matrices (escnn's ``nn.ELU``).

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> gs = rot2dOnR2(4)
    >>> elu = ELU(FieldType(gs, [gs.regular_repr]), alpha=0.5)
    >>> float(elu(torch.full((1, 4, 1, 1), -100.0)).min())
    -0.5
    """

    def __init__(self, in_type: FieldType, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__(require_field_type(in_type, "ELU"), "p_elu")
        self.alpha = float(alpha)
        self.inplace = inplace

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self.in_type, x, "ELU", module_dtype(self))
        return F.elu(x, alpha=self.alpha, inplace=self.inplace)


class LeakyReLU(PointwiseNonLinearity):
    """``leaky_relu`` channel by channel on fields acting by permutation matrices (escnn's ``nn.LeakyReLU``).

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> gs = rot2dOnR2(4)
    >>> act = LeakyReLU(FieldType(gs, [gs.regular_repr]), negative_slope=0.1)
    >>> round(float(act(torch.full((1, 4, 1, 1), -2.0)).min()), 6)
    -0.2
    """

    def __init__(self, in_type: FieldType, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__(require_field_type(in_type, "LeakyReLU"), "p_relu")
        self.negative_slope = float(negative_slope)
        self.function_name = f"leaky_relu({self.negative_slope})"
        self.inplace = inplace

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self.in_type, x, "LeakyReLU", module_dtype(self))
        return F.leaky_relu(x, negative_slope=self.negative_slope, inplace=self.inplace)


def disk_mask(size: int, dimensionality: int = 2, margin: float = 0.0, sigma: float = 2.0,
              dtype: torch.dtype | None = None) -> torch.Tensor:
    r"""The radial mask ``[*(size,) * dimensionality]`` of :class:`MaskModule` (1 inside the inscribed disk /
    ball shrunk by ``margin`` percent, Gaussian decay with standard deviation ``sigma`` pixels outside).

    >>> m = disk_mask(5)
    >>> float(m[2, 2]), float(m[2, 4]), round(float(m[0, 0]), 4)
    (1.0, 1.0, 0.6065)
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"disk_mask: size must be a positive int, got {size!r}")
    if not 0.0 <= margin < 100.0:
        raise ValueError(f"disk_mask: margin is a percentage in [0, 100), got {margin!r}")
    if not sigma > 0:
        raise ValueError(f"disk_mask: sigma must be > 0, got {sigma!r}")
    c = (size - 1) / 2
    axis = torch.arange(size, dtype=torch.float64) - c
    r2 = sum(a**2 for a in torch.meshgrid(*([axis] * dimensionality), indexing="ij"))
    t = (c * (1.0 - margin / 100.0)) ** 2
    mask = torch.where(r2 <= t, torch.ones_like(r2), torch.exp((t - r2) / (2 * sigma * sigma)))
    return mask.to(dtype or torch.get_default_dtype())


class MaskModule(EquivariantModule, ExactConstants):
    r"""Multiply a ``[B, C, S, ..., S]`` field by the radial :func:`disk_mask` (escnn's ``MaskModule``).

    Args:
        in_type: the field type (also the output type); any representations.
        S: the grid size (square / cubic grids).
        margin: shrink the unit region by this percentage of the radius (default 0).
        sigma: standard deviation (pixels) of the Gaussian decay outside it (default 2).

    Use it on inputs before a rotation-equivariant network on square images: the corners, which a rotation by an
    angle that is not a multiple of 90 degrees moves off the grid, are faded out.

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> gs = rot2dOnR2(8)
    >>> mask = MaskModule(FieldType(gs, [gs.trivial_repr]), 29, margin=1)
    >>> y = mask(torch.ones(1, 1, 29, 29))
    >>> float(y[0, 0, 14, 14]), float(y[0, 0, 0, 0]) < 1e-3
    (1.0, True)
    """

    def __init__(self, in_type: FieldType, S: int, margin: float = 0.0, sigma: float = 2.0) -> None:
        super().__init__()
        self.in_type = self.out_type = require_field_type(in_type, "MaskModule")
        d = in_type.gspace.dimensionality
        self.register_constant("mask", disk_mask(S, d, margin, sigma, dtype=torch.float64)[None, None])
        self.S = S

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self.in_type, x, "MaskModule", module_dtype(self))
        if tuple(x.shape[2:]) != tuple(self.mask.shape[2:]):
            raise ValueError(f"MaskModule: built for a {'x'.join(map(str, self.mask.shape[2:]))} grid, got spatial "
                             f"shape {list(x.shape[2:])}")
        return x * self.mask

    def extra_repr(self) -> str:
        return f"{self.in_type!r}, S={self.S}"


class FieldDropout(EquivariantModule, nn.Module):
    r"""Dropout of whole fields: every field of every sample is zeroed with probability p (one draw shared by all
    its channels and positions) and the rest are scaled by 1 / (1 - p) (escnn's ``FieldDropout``). Identity in
    eval mode. Equivariant for any representation: :math:`\rho(g)` maps a zeroed field to zero.

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> gs = rot2dOnR2(-1)
    >>> drop = FieldDropout(FieldType(gs, [gs.irrep(1)] * 3), p=0.5)
    >>> y = drop(torch.ones(4, 6, 2, 2))
    >>> sorted(set(y.flatten().tolist())) in ([0.0, 2.0], [0.0], [2.0])
    True
    """

    def __init__(self, in_type: FieldType, p: float = 0.5) -> None:
        super().__init__()
        self.in_type = self.out_type = require_field_type(in_type, "FieldDropout")
        if not 0.0 <= p < 1.0:
            raise ValueError(f"FieldDropout: p must lie in [0, 1), got {p!r}")
        self.p = float(p)
        self.register_buffer("field_index", _field_index(in_type), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self.in_type, x, "FieldDropout", module_dtype(self))
        if not self.training or self.p == 0.0:
            return x
        keep = torch.empty(x.shape[0], len(self.in_type), dtype=x.dtype, device=x.device).bernoulli_(1.0 - self.p)
        scale = keep.index_select(1, self.field_index) / (1.0 - self.p)
        return x * scale.view(*scale.shape, *([1] * (x.dim() - 2)))

    def extra_repr(self) -> str:
        return f"{self.in_type!r}, p={self.p}"


class PointwiseDropout(EquivariantModule, nn.Module):
    r"""``torch.nn.functional.dropout`` channel by channel and pixel by pixel, for fields acting by permutation
    matrices (trivial, regular, quotient; ``ValueError`` otherwise): equivariant in distribution
    (escnn's ``PointwiseDropout``).

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> gs = rot2dOnR2(4)
    >>> drop = PointwiseDropout(FieldType(gs, [gs.regular_repr]), p=0.25).eval()
    >>> x = torch.randn(1, 4, 3, 3)
    >>> bool(torch.equal(drop(x), x))
    True
    """

    def __init__(self, in_type: FieldType, p: float = 0.5) -> None:
        super().__init__()
        self.in_type = self.out_type = require_field_type(in_type, "PointwiseDropout")
        if not 0.0 <= p < 1.0:
            raise ValueError(f"PointwiseDropout: p must lie in [0, 1), got {p!r}")
        for i, rho in enumerate(in_type.representations):
            if not is_permutation_representation(rho):
                raise ValueError(f"PointwiseDropout: field {i} ({rho.name}) does not act by permutation matrices; "
                                 "use FieldDropout for such fields")
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self.in_type, x, "PointwiseDropout", module_dtype(self))
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"{self.in_type!r}, p={self.p}"


class IdentityModule(EquivariantModule, nn.Module):
    """Returns its input (checked against ``in_type``); ``out_type`` = ``in_type`` (escnn's ``IdentityModule``).

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> gs = rot2dOnR2(4)
    >>> ident = IdentityModule(FieldType(gs, [gs.regular_repr]))
    >>> x = torch.randn(1, 4, 2, 2)
    >>> ident(x) is x
    True
    """

    def __init__(self, in_type: FieldType) -> None:
        super().__init__()
        self.in_type = self.out_type = require_field_type(in_type, "IdentityModule")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self.in_type, x, "IdentityModule", module_dtype(self))
        return x

