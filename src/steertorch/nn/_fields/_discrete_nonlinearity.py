r"""escnn's nonlinearities for fields of finite groups that change the field type:
:class:`ConcatenatedNonLinearity` (every channel to the pair :math:`(f(x), f(-x))`, for signed-permutation fields) and
:class:`VectorFieldNonLinearity` (regular fields of :math:`C_N` to plane vectors through their largest channel)."""

from __future__ import annotations

import torch
from torch import nn

from ..._dtype import module_dtype
from ...group import CyclicGroup, Representation
from ...group._group import float64_default
from ._module import EquivariantModule
from ._nonlinearity import _check_input
from ._plain import ArgmaxVector, SignSplitActivation, argmax_vector, sign_split
from ._type import FieldType, require_field_type

__all__ = ["ConcatenatedNonLinearity", "VectorFieldNonLinearity", "concatenated_representation"]

_CONCATENATED = {"c_relu": torch.relu, "c_sigmoid": torch.sigmoid, "c_tanh": torch.tanh}


def _signed_permutation_matrices(rho: Representation) -> torch.Tensor | None:
    """``rho`` on every element of its (finite) group, rounded, ``[|G|, s, s]`` float64, if each matrix is a signed
    permutation (one entry +-1 per row and column, zeros elsewhere, to 1e-9); else None."""
    group = rho.group
    with float64_default():
        m = rho(group.elements()).to(torch.float64)
    r = m.round()
    if float((m - r).abs().max()) > 1e-9 or not bool((r.abs() <= 1).all()):
        return None
    nz = r != 0
    if not (bool((nz.sum(-1) == 1).all()) and bool((nz.sum(-2) == 1).all())):
        return None
    return r


def concatenated_representation(rho: Representation) -> Representation:
    r"""The representation of :class:`ConcatenatedNonLinearity`'s output for fields of ``rho`` (escnn's
    ``concatenated_<name>``): ``rho`` must be a signed permutation representation of a finite group (trivial, regular,
    quotient, the sign irreps, the 90-degree rotation of :math:`C_4`, ...); every entry :math:`\pm 1` of
    :math:`\rho(g)` becomes the 2x2 block :math:`I_2` (+1) or :math:`\begin{pmatrix}0&1\\1&0\end{pmatrix}` (-1), so
    channel pairs :math:`(f(x_c), f(-x_c))` are permuted and swapped as the signs require. A permutation
    representation of size 2 size(rho), decomposed into irreps; ``ValueError`` for other representations.

    >>> from steertorch.group import cyclic_group
    >>> C4 = cyclic_group(4)
    >>> out = concatenated_representation(C4.irrep(1))          # rotation by 90 degrees: a signed permutation
    >>> out.size, out(torch.tensor(1)).round().abs().sum().item()
    (4, 4.0)
    """
    group = rho.group
    if not group.is_finite:
        raise ValueError(f"concatenated_representation: {group.name} is not finite (the concatenated nonlinearity "
                         "needs signed permutation matrices for every element)")
    table = _signed_permutation_matrices(rho)
    if table is None:
        raise ValueError(f"concatenated_representation: {rho.name} is not a signed permutation representation (some "
                         "rho(g) has an entry other than 0, 1, -1, or more than one nonzero entry in a row)")
    eye = torch.eye(2, dtype=torch.float64)
    swap = eye.flip(0)
    s = rho.size
    out = (torch.einsum("gij,ab->giajb", (table > 0.5).double(), eye)
           + torch.einsum("gij,ab->giajb", (table < -0.5).double(), swap)).reshape(-1, 2 * s, 2 * s)

    def function(g: torch.Tensor) -> torch.Tensor:
        return out.to(device=g.device)[g]

    with float64_default():
        return Representation.from_function(group, function, 2 * s, name=f"concatenated_{rho.name}")


class ConcatenatedNonLinearity(EquivariantModule, nn.Module):
    r"""Concatenated nonlinearity (escnn's ``ConcatenatedNonLinearity``): every channel becomes two,

    .. math::  y_{2c}(p) = f(x_c(p)), \qquad y_{2c+1}(p) = f(-x_c(p)),

    with f = ReLU (``"c_relu"``), sigmoid (``"c_sigmoid"``) or tanh (``"c_tanh"``). For fields whose
    representation is a signed permutation (finite groups only), the output field transforms under
    :func:`concatenated_representation` (a permutation representation, so pointwise nonlinearities apply to it), and
    the map is exactly equivariant for every element. ``ValueError`` for other fields or functions.

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> gs = rot2dOnR2(4)
    >>> act = ConcatenatedNonLinearity(FieldType(gs, [gs.regular_repr, gs.irrep(1)]))
    >>> act.out_type.size, act(torch.tensor([1.0, -2.0, 4.0, 3.0, -1.0, 2.0]).view(1, 6, 1, 1)).flatten().tolist()
    (12, [1.0, 0.0, 0.0, 2.0, 4.0, 0.0, 3.0, 0.0, 0.0, 1.0, 2.0, 0.0])
    """

    def __init__(self, in_type: FieldType, function: str = "c_relu") -> None:
        super().__init__()
        who = "ConcatenatedNonLinearity"
        require_field_type(in_type, who)
        if function not in _CONCATENATED:
            raise ValueError(f"{who}: unknown function {function!r}, expected one of {sorted(_CONCATENATED)}")
        if not in_type.fibergroup.is_finite:
            raise ValueError(f"{who}: needs a finite group (signed permutation fields), got {in_type.fibergroup.name}")
        done: list[tuple[Representation, Representation]] = []
        reps = []
        for i, rho in enumerate(in_type.representations):
            out = next((o for r, o in done if r == rho), None)
            if out is None:
                try:
                    out = concatenated_representation(rho)
                except ValueError as err:
                    raise ValueError(f"{who}: field {i} ({rho.name}): {err}") from None
                done.append((rho, out))
            reps.append(out)
        self.in_type = in_type
        self.out_type = FieldType(in_type.gspace, reps)
        self.function = function
        self._function = _CONCATENATED[function]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self.in_type, x, "ConcatenatedNonLinearity", module_dtype(self))
        return sign_split(x, self._function)

    def export(self) -> nn.Module:
        """A plain :class:`~steertorch.nn._fields._plain.SignSplitActivation`."""
        return SignSplitActivation(self._function)

    def extra_repr(self) -> str:
        return f"{self.in_type!r}, function={self.function}"


class VectorFieldNonLinearity(EquivariantModule, nn.Module):
    r"""Vector field nonlinearity (escnn's ``VectorFieldNonLinearity``): a regular field of :math:`C_N` (a function on
    the N rotations) becomes a plane vector pointing along its strongest rotation,

    .. math::  y(p) = \max(x_{k^*}(p), 0)\,\big(\cos(2\pi k^*/N),\ \sin(2\pi k^*/N)\big), \qquad
               k^* = \arg\max_k x_k(p),

    one field of frequency 1 (``gspace.irrep(1)``) per input field. Rotating the input by :math:`g` shifts
    :math:`k^*` by g and so rotates the vector by :math:`2\pi g/N`: exactly equivariant except where the maximum is
    tied (where the argmax, hence the output, jumps). Gradients flow through the maximum, not the angle. Needs
    ``rot2dOnR2(N)`` / :math:`C_N` with N >= 3 and regular fields (``ValueError`` otherwise; for N = 2 the frequency-1
    irrep is one-dimensional). ``kwargs`` (escnn's catch-all) must be empty.

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> gs = rot2dOnR2(4)
    >>> act = VectorFieldNonLinearity(FieldType(gs, [gs.regular_repr] * 2))
    >>> x = torch.tensor([0.0, 2.0, 1.0, -1.0, -1.0, -2.0, -3.0, -1.0]).view(1, 8, 1, 1)
    >>> bool(torch.allclose(act(x).flatten(), torch.tensor([0.0, 2.0, 0.0, 0.0]), atol=1e-6))
    True
    """

    def __init__(self, in_type: FieldType, **kwargs) -> None:
        super().__init__()
        who = "VectorFieldNonLinearity"
        require_field_type(in_type, who)
        if kwargs:
            raise ValueError(f"{who}: unexpected arguments {sorted(kwargs)}")
        group = in_type.fibergroup
        if not isinstance(group, CyclicGroup) or group.order < 3:
            raise ValueError(f"{who}: needs the cyclic group C_N with N >= 3 (rot2dOnR2(N)), got {group.name}")
        regular = group.regular_representation()
        for i, rho in enumerate(in_type.representations):
            if rho != regular:
                raise ValueError(f"{who}: field {i} ({rho.name}) is not the regular representation of {group.name}")
        self.in_type = in_type
        self.out_type = FieldType(in_type.gspace, [group.irrep(1)] * len(in_type))
        self._rotations = group.order

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self.in_type, x, "VectorFieldNonLinearity", module_dtype(self))
        return argmax_vector(x, self._rotations)

    def export(self) -> nn.Module:
        """A plain :class:`~steertorch.nn._fields._plain.ArgmaxVector`."""
        return ArgmaxVector(self._rotations)

    def extra_repr(self) -> str:
        return f"{self.in_type!r}"
