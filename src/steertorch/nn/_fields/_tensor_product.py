r"""escnn's ``TensorProductModule``: each field's tensor square, mapped to one output field by its own learned
equivariant linear map."""

from __future__ import annotations

import torch
from torch import nn

from ..._dtype import ExactConstants, module_dtype
from ...group import Representation
from ...group._group import float64_default
from ...gspaces import GSpace
from ...kernels import kernel_basis
from ._conv import _BasisExpansion
from ._expansion_cache import ExpansionCache
from ._module import EquivariantModule
from ._nonlinearity import _check_input
from ._plain import FieldTensorSquare, field_tensor_square
from ._type import FieldType, require_field_type

__all__ = ["TensorProductModule"]


class TensorProductModule(EquivariantModule, ExpansionCache, ExactConstants):
    r"""A learned quadratic nonlinearity, field by field (escnn's ``TensorProductModule``).

    ``in_type`` and ``out_type`` are uniform (every field carries the same representation, :math:`\rho` and
    :math:`\sigma`) with the same number of fields C. Field c of the output is

    .. math::  y_c(p) = W_c\, \big(x_c(p) \otimes x_c(p)\big), \qquad
               W_c\, (\rho \otimes \rho)(g) = \sigma(g)\, W_c \quad \forall g,

    the Kronecker square of input field c (index ``i * d + j`` holds :math:`x_{c,i} x_{c,j}`, d = size of
    :math:`\rho`; the representation :math:`\rho \otimes \rho` of ``hidden_type``) mapped by its own equivariant
    linear map :math:`W_c`, a learned combination of the intertwiners :math:`\rho \otimes \rho \to \sigma` (the
    steerable basis at the origin, as :class:`FieldLinear`; ``weights`` ``[C * dim]``, no bias, no mixing of fields).
    Pointwise in space and polynomial, so exactly equivariant for every group element. The matrices
    ``[C, size(sigma), d * d]`` are expanded from the weights (:meth:`expand_parameters`; the forward reuses the
    last expansion in eval mode without gradients to the weights, as :class:`R2Conv` and escnn); :meth:`export`
    gives a plain module holding them. ``initialize``: He-like (unit second moment of the outputs for unit-variance
    inputs of the hidden type), otherwise zero weights.

    ``ValueError`` if a type is not uniform, the numbers of fields differ, or no equivariant map
    :math:`\rho \otimes \rho \to \sigma` exists (escnn: "the basis for the steerable matrix is empty").

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> gs = rot2dOnR2(8)
    >>> tp = TensorProductModule(FieldType(gs, [gs.irrep(1)] * 3), FieldType(gs, [gs.irrep(2)] * 3))
    >>> tp.hidden_type.size, tp.weights.numel(), tp(torch.randn(2, 6, 5, 5)).shape
    (12, 6, torch.Size([2, 6, 5, 5]))
    >>> x = torch.randn(1, 6, 1, 1, dtype=torch.float64)
    >>> tp = tp.double()
    >>> err = tp(tp.in_type.transform_fibers(x, 3)) - tp.out_type.transform_fibers(tp(x), 3)
    >>> bool(err.abs().max() < 1e-12)
    True
    """

    def __init__(self, in_type: FieldType, out_type: FieldType, initialize: bool = True) -> None:
        super().__init__()
        who = "TensorProductModule"
        require_field_type(in_type, who)
        require_field_type(out_type, who)
        if in_type.gspace != out_type.gspace:
            raise ValueError(f"{who}: in_type and out_type must share the G-space, got {in_type.gspace.name} and "
                             f"{out_type.gspace.name}")
        for what, ft in (("in_type", in_type), ("out_type", out_type)):
            if any(r != ft.representations[0] for r in ft.representations):
                raise ValueError(f"{who}: {what} must be uniform (every field with the same representation), got "
                                 f"{[r.name for r in ft.representations]}")
        if len(in_type) != len(out_type):
            raise ValueError(f"{who}: in_type and out_type must have the same number of fields, got {len(in_type)} "
                             f"and {len(out_type)}")
        self.in_type, self.out_type = in_type, out_type
        self.gspace = in_type.gspace
        n = len(in_type)
        rho, sigma = in_type.representations[0], out_type.representations[0]
        with float64_default():
            hidden: Representation = rho.tensor(rho)
        self.hidden_type = FieldType(self.gspace, [hidden] * n)
        gspace = self.gspace
        if gspace.dimensionality == 0:  # no base space: the intertwiners of the group on its own space
            gspace = GSpace(gspace.fibergroup, gspace.fibergroup.ambient_dim)
        points = torch.zeros(1, gspace.dimensionality, dtype=torch.float64)

        def basis_fn(rep_i: Representation, rep_o: Representation):
            return kernel_basis(gspace, rep_i, rep_o, radii=[0.0], sigma=0.6)

        # one field per group, n groups: field c of the hidden type -> field c of the output, each its own weights
        self.expansion = _BasisExpansion(FieldType(self.gspace, [hidden]), FieldType(self.gspace, [sigma]), points,
                                         basis_fn, n)
        if self.expansion.n_weights == 0:
            raise ValueError(f"{who}: no equivariant linear map from {rho.name} x {rho.name} to {sigma.name} (the "
                             "basis for the projection is empty)")
        if initialize:
            self.expansion.reset_parameters()

    @classmethod
    def construct(cls, gspace: GSpace, channels: int, in_repr: Representation, out_repr: Representation,
                  initialize: bool = True) -> TensorProductModule:
        """escnn's alternative constructor: ``channels`` fields of ``in_repr`` in and of ``out_repr`` out.

        >>> from steertorch.gspaces import rot2dOnR2
        >>> gs = rot2dOnR2(4)
        >>> TensorProductModule.construct(gs, 2, gs.regular_repr, gs.regular_repr).out_type.size
        8
        """
        for what, r in (("in_repr", in_repr), ("out_repr", out_repr)):
            if not isinstance(r, Representation) or r.group != gspace.fibergroup:
                raise ValueError(f"TensorProductModule.construct: {what} must be a representation of "
                                 f"{gspace.fibergroup.name}, got {r!r}")
        return cls(FieldType(gspace, [in_repr] * channels), FieldType(gspace, [out_repr] * channels), initialize)

    @property
    def weights(self) -> torch.Tensor:
        """The learnable intertwiner coefficients (one flat parameter, ``[C * dim]``)."""
        return self.expansion.weights

    def expand_parameters(self) -> torch.Tensor:
        """The matrices ``[C, size(sigma), d * d]``, expanded from the current weights."""
        return self.expansion()[..., 0]

    @property
    def matrix(self) -> torch.Tensor:
        """escnn's ``matrix``: the projection ``[out_type.size, d * d]`` (field c's rows are :math:`W_c`)."""
        m = self.expand_parameters()
        return m.reshape(-1, m.shape[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self.in_type, x, "TensorProductModule", module_dtype(self))
        return field_tensor_square(x, self._cached_expansion(self.expand_parameters))

    def export(self) -> nn.Module:
        """A plain :class:`~steertorch.nn._fields._plain.FieldTensorSquare` holding the expanded matrices."""
        with torch.no_grad():
            return FieldTensorSquare(self.expand_parameters())

    def extra_repr(self) -> str:
        return f"{self.in_type!r} -> {self.out_type!r}, weights={self.expansion.n_weights}"
