r"""Equivariant linear map between field types, applied pointwise (a 1x1 steerable convolution)."""

from __future__ import annotations

import torch
from torch import nn

from ..._dtype import ExactConstants, check_input_dtype
from ...gspaces import GSpace
from ...kernels import kernel_basis
from ._conv import _BasisExpansion, _check_type_pair, _register_invariant_bias
from ._expansion_cache import ExpansionCache
from ._module import EquivariantModule
from ._type import FieldType

__all__ = ["FieldLinear", "Linear"]


class FieldLinear(EquivariantModule, ExpansionCache, ExactConstants):
    r"""The learned G-equivariant linear map :math:`y(p) = W\,x(p) + b` between the fibres of two field types,
    :math:`W \rho_{in}(g) = \rho_{out}(g) W` for all g (a linear combination of the intertwiners of every pair
    of fields, the steerable kernel basis at the origin), the bias on the invariant components only.

    Works on ``[B, C, *spatial]`` tensors with any number of spatial dimensions (also none: ``[B, C]``).
    Initialisation as :class:`R2Conv`: unit expected second moment of the outputs for unit inputs.
    ``export()`` returns a ``torch.nn.Conv{d}d`` with a 1x1 kernel.

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> from steertorch.nn import FieldType
    >>> gs = rot2dOnR2(8)
    >>> lin = FieldLinear(FieldType(gs, 3 * [gs.regular_repr]), FieldType(gs, [gs.regular_repr, gs.irrep(1)]))
    >>> x = torch.randn(2, 24, 5, 5)
    >>> lin(x).shape
    torch.Size([2, 10, 5, 5])
    >>> bool(torch.allclose(lin(lin.in_type.transform_fibers(x, 3)), lin.out_type.transform_fibers(lin(x), 3),
    ...                     atol=1e-5))
    True
    """

    def __init__(self, in_type: FieldType, out_type: FieldType, bias: bool = True, initialize: bool = True) -> None:
        super().__init__()
        _check_type_pair(in_type, out_type)
        self.in_type, self.out_type = in_type, out_type
        gspace = in_type.gspace
        if gspace.dimensionality == 0:  # no base space: the intertwiners are those of the group on its own space
            gspace = GSpace(gspace.fibergroup, gspace.fibergroup.ambient_dim)
        points = torch.zeros(1, gspace.dimensionality, dtype=torch.float64)

        def basis_fn(rep_i, rep_o):
            return kernel_basis(gspace, rep_i, rep_o, radii=[0.0], sigma=0.6)

        self.expansion = _BasisExpansion(in_type, out_type, points, basis_fn, 1)
        _register_invariant_bias(self, out_type, bias)
        if initialize:
            self.expansion.reset_parameters()

    @property
    def weights(self) -> torch.Tensor:
        """The learnable intertwiner coefficients (one flat parameter)."""
        return self.expansion.weights

    def matrix(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The matrix ``[C_out, C_in]`` and the bias ``[C_out]`` (or None), expanded from the current weights (the
        forward reuses the last expansion in eval mode without gradients to the weights, as :class:`R2Conv`)."""
        w = self.expansion()[0, :, :, 0]
        b = None if self.bias is None else self._bias_expansion.to(self.bias.dtype) @ self.bias
        return w, b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() < 2 or x.shape[1] != self.in_type.size:
            shape = list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"FieldLinear: expected a tensor [batch, {self.in_type.size}, *spatial] "
                             f"(in_type.size = {self.in_type.size} channels), got {shape}")
        check_input_dtype("FieldLinear", "input x", x, self.expansion.weights.dtype)
        w, b = self._cached_expansion(self.matrix)
        y = torch.einsum("oi,bi...->bo...", w, x)
        if b is not None:
            y = y + b.view(-1, *([1] * (x.dim() - 2)))
        return y

    def export(self) -> nn.Module:
        """A plain ``torch.nn.Conv{d}d`` with kernel size 1 (d the G-space's dimensionality; a ``torch.nn.Linear``
        for a G-space without base space)."""
        from ._export import linear_as_conv

        d = self.in_type.gspace.dimensionality
        if d == 0:
            return self.export_linear()
        with torch.no_grad():
            w, b = self.matrix()
        return linear_as_conv(w, b, d)

    def export_linear(self) -> nn.Linear:
        """A plain ``torch.nn.Linear`` with the matrix and bias, for features ``[B, C]`` (whatever the G-space)."""
        with torch.no_grad():
            w, b = self.matrix()
        lin = nn.Linear(self.in_type.size, self.out_type.size, bias=b is not None, dtype=w.dtype, device=w.device)
        with torch.no_grad():
            lin.weight.copy_(w)
            if b is not None:
                lin.bias.copy_(b)
        return lin

    def extra_repr(self) -> str:
        return f"{self.in_type!r} -> {self.out_type!r}, weights={self.expansion.n_weights}"


class Linear(FieldLinear):
    r"""escnn's ``Linear``: the equivariant linear map :math:`y = W x + b` of :class:`FieldLinear`, with escnn's
    signature, for features ``[B, C]`` over a G-space without base space
    (:func:`~steertorch.gspaces.no_base_space`; other G-spaces work too, on ``[B, C, *spatial]``).
    ``basisexpansion`` must be ``"blocks"``; ``recompute`` has no effect (the bases are built once).
    ``export()`` gives a ``torch.nn.Linear``.

    >>> import torch
    >>> from steertorch.group import so3_group
    >>> from steertorch.gspaces import no_base_space
    >>> gs = no_base_space(so3_group())
    >>> lin = Linear(FieldType(gs, [gs.irrep(0), gs.irrep(1)] * 2), FieldType(gs, [gs.irrep(1)] * 3))
    >>> lin.weights.numel(), lin(torch.randn(5, 8)).shape
    (6, torch.Size([5, 9]))
    """

    def __init__(self, in_type: FieldType, out_type: FieldType, bias: bool = True, basisexpansion: str = "blocks",
                 recompute: bool = False, initialize: bool = True) -> None:
        if basisexpansion != "blocks":
            raise ValueError(f"Linear: basisexpansion must be 'blocks', got {basisexpansion!r}")
        super().__init__(in_type, out_type, bias=bias, initialize=initialize)
