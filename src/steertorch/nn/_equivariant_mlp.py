r"""A G-equivariant multilayer perceptron on feature vectors ``[E, C]`` for any group of a G-space.

Each hidden layer is an equivariant linear map (:class:`FieldLinear`: the intertwiners between any two
representations, complex- and quaternionic-type irreps included), an optional equivariant normalisation
(:class:`GNormBatchNorm`) and an equivariant nonlinearity:

- ``"fourier"`` (default for finite groups): :class:`FourierPointwise` (ELU) on fields holding band-limited
  functions on G, :math:`c \mapsto P\,\mathrm{ELU}(A c)`; exact for finite groups (all irreps, the grid is the
  group); for SO(2), O(2), SO(3), O(3) it is exact only on its grid (see :class:`FourierPointwise`).
- ``"gated"`` (default for continuous groups): the same band-limited fields, each multiplied by the sigmoid of
  its own invariant gate (:class:`GatedNonLinearity1`); exact for every element.

so that :math:`\mathrm{MLP}(\rho_{in}(g)\,v) = \rho_{out}(g)\,\mathrm{MLP}(v)` for every g. The grid modules
work on ``[B, C, *spatial]``; a vector of features is a grid with no extent, so they are applied to
``[E, C, 1, ..., 1]`` (one adapter, :class:`_OnVectors`), not rewritten.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..group import Representation
from ._field_batchnorm import GNormBatchNorm
from ._field_linear import FieldLinear
from ._field_nonlinearity import GatedNonLinearity1
from ._field_type import FieldType, require_field_type
from ._fourier_nonlinearity import FourierPointwise

__all__ = ["EquivariantMLP"]

_ACTIVATIONS = ("auto", "fourier", "gated")


class _OnVectors(nn.Module):
    """Apply a grid field module to ``[E, C]`` as to the grid ``[E, C, 1, ..., 1]`` (d unit spatial axes)."""

    def __init__(self, module: nn.Module, d: int) -> None:
        super().__init__()
        self.module = module
        self._d = d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.module(x.reshape(*x.shape, *([1] * self._d)))
        return y.reshape(y.shape[0], y.shape[1])


def _hidden_rep(gspace, band_limit: int | None) -> Representation:
    """The field of the hidden layers: band-limited functions on G (the regular representation of a finite G)."""
    group = gspace.fibergroup
    if group.is_finite:
        return group.bl_regular_representation(None)
    return group.bl_regular_representation(band_limit)


class EquivariantMLP(nn.Module):
    r"""G-equivariant MLP ``[E, in_type.size] -> [E, out_type.size]`` (see the module docstring).

    Args:
        in_type, out_type: field types of one G-space (any representations: irreps, regular, quotient,
            induced, sums of them).
        hidden: number of hidden fields of each hidden layer (each a band-limited function on G).
        band_limit: band limit of the hidden fields for continuous groups (default 2); finite groups use all
            irreps (the regular representation).
        activation: ``"auto"``, ``"fourier"`` or ``"gated"`` (see the module docstring).
        normalization: ``None`` or ``"batch"`` (:class:`GNormBatchNorm` after every hidden linear map; its
            statistics are over the rows E, so outputs then depend on the batch in training mode).
        bias: biases of the linear maps (invariant components only).

    Initialisation: every linear map as :class:`FieldLinear` (unit second moment of its outputs for unit inputs).

    >>> import torch
    >>> from steertorch.gspaces import octaOnR3
    >>> gs = octaOnR3()
    >>> mlp = EquivariantMLP(FieldType(gs, [gs.irrep(1)]), FieldType(gs, [gs.trivial_repr, gs.irrep(2)]),
    ...                      hidden=[4])
    >>> mlp(torch.randn(5, 3)).shape
    torch.Size([5, 3])
    """

    def __init__(self, in_type: FieldType, out_type: FieldType, hidden: Sequence[int] = (16, 16),
                 band_limit: int | None = None, activation: str = "auto", normalization: str | None = None,
                 bias: bool = True) -> None:
        super().__init__()
        require_field_type(in_type, "EquivariantMLP")
        require_field_type(out_type, "EquivariantMLP")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"EquivariantMLP: activation must be one of {_ACTIVATIONS}, got {activation!r}")
        if normalization not in (None, "batch"):
            raise ValueError(f"EquivariantMLP: normalization must be None or 'batch', got {normalization!r}")
        hidden = list(hidden)
        if any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden):
            raise ValueError(f"EquivariantMLP: hidden must list ints >= 1, got {hidden!r}")
        gspace = in_type.gspace
        group = gspace.fibergroup
        if activation == "auto":
            activation = "fourier" if group.is_finite else "gated"
        band = 2 if band_limit is None else band_limit
        d = gspace.dimensionality
        self.in_type, self.out_type = in_type, out_type
        self.activation = activation
        layers: list[nn.Module] = []
        prev = in_type
        for n in hidden:
            if activation == "fourier":
                act = FourierPointwise(gspace, n, None if group.is_finite else band, function="p_elu")
                lin_type, act_mod, prev_next = act.in_type, act, act.out_type
            else:
                rep = _hidden_rep(gspace, band)
                lin_type = FieldType(gspace, [gspace.trivial_repr] * n + [rep] * n)
                act_mod = GatedNonLinearity1(lin_type)
                prev_next = act_mod.out_type
            layers.append(FieldLinear(prev, lin_type, bias=bias))
            if normalization == "batch":
                layers.append(_OnVectors(GNormBatchNorm(lin_type), d))
            layers.append(_OnVectors(act_mod, d))
            prev = prev_next
        layers.append(FieldLinear(prev, out_type, bias=bias))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[1] != self.in_type.size:
            shape = list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"EquivariantMLP: expected a tensor [E, {self.in_type.size}] of type {self.in_type!r}, "
                             f"got {shape}")
        return self.layers(x)

    def extra_repr(self) -> str:
        return f"{self.in_type!r} -> {self.out_type!r}, activation={self.activation!r}"
