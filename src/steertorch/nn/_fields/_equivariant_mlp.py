r"""A G-equivariant multilayer perceptron on feature vectors ``[E, C]`` for any group of a G-space.

Each hidden layer is an equivariant linear map (:class:`FieldLinear`: the intertwiners between any two
representations, complex- and quaternionic-type irreps included), an optional equivariant normalisation
(:class:`GNormBatchNorm`) and an equivariant nonlinearity:

- ``"fourier"`` (default for finite groups): :class:`FourierPointwise` (ELU) on fields holding band-limited
  functions on G, :math:`c \mapsto P\,\mathrm{ELU}(A c)`; exact for finite groups (all irreps, the grid is the
  group); for SO(2), O(2), SO(3), O(3) it is exact only on its grid (see :class:`FourierPointwise`).
- ``"quadratic"`` (default for continuous groups): :class:`FourierPointwise` with :math:`\sigma(t) = t + t^2/2`
  on a grid exact for degree 3L: :math:`\sigma(f)` has band 2L, so its projection onto band L is exact and the
  map is equivariant for every element (to rounding). Products create the higher frequencies that a kernel
  needs (:math:`x \mapsto` harmonics of :math:`\hat x`).
- ``"gated"``: ``hidden`` copies of every irrep up to the band limit, each
  multiplied by the sigmoid of its own invariant gate (:class:`GatedNonLinearity1`); exact for every element,
  but gating never creates an irrep its input lacks (from a vector x, only x times invariants): too poor to span
  the kernels of higher frequencies.

so that :math:`\mathrm{MLP}(\rho_{in}(g)\,v) = \rho_{out}(g)\,\mathrm{MLP}(v)` for every g. The grid modules
work on ``[B, C, *spatial]``; a vector of features is a grid with no extent, so they are applied to
``[E, C, 1, ..., 1]`` (one adapter, :class:`_OnVectors`), not rewritten.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..._dtype import check_input_dtype, module_dtype
from ._batchnorm import GNormBatchNorm
from ._fourier_nonlinearity import FourierPointwise, _is_so3_based
from ._linear import FieldLinear
from ._nonlinearity import GatedNonLinearity1
from ._type import FieldType, require_field_type

__all__ = ["EquivariantMLP"]

_ACTIVATIONS = ("auto", "fourier", "quadratic", "gated")


def _quadratic(t: torch.Tensor) -> torch.Tensor:
    """:math:`t + t^2 / 2`: a polynomial, so a Fourier nonlinearity with it is exact on a grid of degree 3L."""
    return t + 0.5 * t * t


class _OnVectors(nn.Module):
    """Apply a grid field module to ``[E, C]`` as to the grid ``[E, C, 1, ..., 1]`` (d unit spatial axes)."""

    def __init__(self, module: nn.Module, d: int) -> None:
        super().__init__()
        self.module = module
        self._d = d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.module(x.reshape(*x.shape, *([1] * self._d)))
        return y.reshape(y.shape[0], y.shape[1])

    def export(self) -> nn.Module:
        """The exported module between ``nn.Unflatten`` (``[E, C] -> [E, C, 1, ..., 1]``) and ``nn.Flatten``."""
        from ._export import export_module

        inner = export_module(self.module)
        if not self._d:
            return inner
        return nn.Sequential(nn.Unflatten(1, (self.module.in_type.size, *([1] * self._d))), inner, nn.Flatten(1))


def _default_band_limit(in_type: FieldType, out_type: FieldType) -> int:
    """The highest degree of an irrep of either type (at least 1): an equivariant linear map reaches only irreps
    present in its input, so the last hidden layer must hold every irrep of the output."""
    group = in_type.gspace.fibergroup
    degrees = [group.irrep_degree(psi.label) for ft in (in_type, out_type) for rep in ft.representations
               for psi in rep.irreps]
    return max([1, *degrees])


class EquivariantMLP(nn.Module):
    r"""G-equivariant MLP ``[E, in_type.size] -> [E, out_type.size]`` (see the module docstring).

    Args:
        in_type, out_type: field types of one G-space (any representations: irreps, regular, quotient,
            induced, sums of them).
        hidden: multiplicity of each hidden layer: fields of band-limited functions on G (``"fourier"``), or
            copies of each irrep (``"gated"``).
        band_limit: band limit of the hidden layers for continuous groups, default the highest irrep degree in
            ``in_type`` and ``out_type`` (at least 1; lower, the output irreps above it would be zero); finite
            groups use all irreps (the regular representation).
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
            activation = "fourier" if group.is_finite else "quadratic"
        band = _default_band_limit(in_type, out_type) if band_limit is None else band_limit
        d = gspace.dimensionality
        self.in_type, self.out_type = in_type, out_type
        self.activation = activation
        layers: list[nn.Module] = []
        prev = in_type
        for n in hidden:
            if activation in ("fourier", "quadratic"):
                irreps = None if group.is_finite else band
                if activation == "fourier":
                    act = FourierPointwise(gspace, n, irreps, function="p_elu")
                else:
                    # SO(3) / O(3): the quadrature exact for degree 3L itself, without the octahedral orbit that
                    # FourierPointwise adds by default (24x the points; exactness already holds for every element)
                    exact = {} if group.is_finite else (
                        {"grid": group.quadrature(3 * band)} if gspace.dimensionality == 3 and _is_so3_based(group)
                        else {})
                    act = FourierPointwise(gspace, n, irreps, function=_quadratic, **exact)
                lin_type, act_mod, prev_next = act.in_type, act, act.out_type
            else:
                irreps = gspace.irreps() if group.is_finite else group.irreps(band)
                gated = [psi for psi in irreps for _ in range(n)]
                lin_type = FieldType(gspace, [gspace.trivial_repr] * len(gated) + gated)
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
        check_input_dtype("EquivariantMLP", "input x", x, module_dtype(self))
        return self.layers(x)

    def export(self) -> nn.Sequential:
        """The plain ``torch.nn`` equivalent in eval mode: an ``nn.Sequential`` of ``nn.Linear`` maps (the expanded
        equivariant matrices) and the exported normalisations and nonlinearities, on ``[E, C]``."""
        from ._export import export_module

        return nn.Sequential(*(m.export_linear() if isinstance(m, FieldLinear) else export_module(m)
                               for m in self.layers))

    def extra_repr(self) -> str:
        return f"{self.in_type!r} -> {self.out_type!r}, activation={self.activation!r}"
