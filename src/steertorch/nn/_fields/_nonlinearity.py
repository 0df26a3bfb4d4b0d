r"""Nonlinearities on grid feature fields ``[B, C, *spatial]`` (escnn's names): pointwise, norm and gated.

- :class:`PointwiseNonLinearity`: :math:`x \mapsto \sigma(x)` channel by channel; equivariant for fields whose
  representation matrices are permutation matrices (trivial, regular, quotient fields).
- :class:`NormNonLinearity`: per field :math:`v \mapsto f(|v| - b)\, v / |v|` with a learned bias b per field;
  equivariant for any orthogonal representation.
- :class:`GatedNonLinearity1`: gated fields multiplied by :math:`\mathrm{sigmoid}(g + b)` of trivial gate fields.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ..._dtype import check_input_dtype, module_dtype
from ...group import Representation
from ...group._group import float64_default
from ._module import EquivariantModule
from ._plain import EPS, NORM_FUNCTIONS, BlockNormScale, ChannelGates, block_norm_scale, channel_gates
from ._type import FieldType, require_field_type

__all__ = ["PointwiseNonLinearity", "NormNonLinearity", "GatedNonLinearity1", "is_permutation_representation"]

_POINTWISE: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "p_relu": torch.relu,
    "p_elu": torch.nn.functional.elu,
    "p_sigmoid": torch.sigmoid,
    "p_tanh": torch.tanh,
    "p_softplus": torch.nn.functional.softplus,
}

_NORM_FUNCTIONS = NORM_FUNCTIONS
_EPS = EPS  # squared-norm floor: the norm's gradient stays finite at v = 0


def is_permutation_representation(rho: Representation) -> bool:
    r"""Whether every :math:`\rho(g)` is a permutation matrix (so :math:`\rho(g)\sigma(x) = \sigma(\rho(g)x)` for any
    elementwise :math:`\sigma`). For continuous groups only representations made of trivial irreps qualify.

    >>> from steertorch.gspaces import rot2dOnR2
    >>> gs = rot2dOnR2(4)
    >>> is_permutation_representation(gs.regular_repr), is_permutation_representation(gs.irrep(1))
    (True, False)
    """
    group = rho.group
    if not group.is_finite:
        return all(psi.is_trivial() for psi in rho.irreps)
    with float64_default():
        m = rho(group.elements()).to(torch.float64)
    r = m.round()
    if float((m - r).abs().max()) > 1e-9:
        return False
    return bool(((r == 0) | (r == 1)).all() and (r.sum(-1) == 1).all() and (r.sum(-2) == 1).all())


def _check_input(ft: FieldType, x: torch.Tensor, who: str, dtype: torch.dtype | None = None) -> None:
    """ValueError naming ``who`` unless ``x`` is a ``[B, ft.size, *spatial]`` floating point tensor of ``dtype``
    (the module's dtype, :func:`~steertorch._dtype.module_dtype`; None: any floating dtype)."""
    try:
        ft.check(x)
    except ValueError as e:
        raise ValueError(f"{who}: expected input of type {ft!r}; {e}") from None
    check_input_dtype(who, "input x", x, dtype)


def _field_index(ft: FieldType) -> torch.Tensor:
    """For each channel, the index of the field it belongs to."""
    return torch.cat([torch.full((rho.size,), i, dtype=torch.long) for i, rho in enumerate(ft.representations)])


class PointwiseNonLinearity(EquivariantModule, nn.Module):
    r"""An elementwise nonlinearity :math:`y_c(p) = \sigma(x_c(p))` on fields with permutation representations.

    Equivariant because :math:`\sigma(P x) = P \sigma(x)` for a permutation matrix P. Allowed fields: trivial,
    regular and quotient (any representation whose matrices are all permutation matrices; checked at
    construction, ``ValueError`` otherwise).

    Args:
        in_type: the input :class:`FieldType` (also the output type).
        function: ``"p_relu"``, ``"p_elu"``, ``"p_sigmoid"``, ``"p_tanh"``, ``"p_softplus"`` or any elementwise
            callable on tensors.

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> gs = rot2dOnR2(4)
    >>> relu = PointwiseNonLinearity(FieldType(gs, [gs.regular_repr] * 2))
    >>> relu(torch.randn(1, 8, 5, 5)).min() >= 0
    tensor(True)
    """

    def __init__(self, in_type: FieldType, function: str | Callable[[torch.Tensor], torch.Tensor] = "p_relu") -> None:
        super().__init__()
        require_field_type(in_type, "PointwiseNonLinearity")
        if isinstance(function, str):
            if function not in _POINTWISE:
                raise ValueError(f"PointwiseNonLinearity: unknown function {function!r}, expected one of "
                                 f"{sorted(_POINTWISE)} or a callable")
            self._function = _POINTWISE[function]
            self.function_name = function
        elif callable(function):
            self._function = function
            self.function_name = getattr(function, "__name__", repr(function))
        else:
            raise ValueError(f"PointwiseNonLinearity: function must be a string or a callable, got {function!r}")
        for i, rho in enumerate(in_type.representations):
            if not is_permutation_representation(rho):
                raise ValueError(f"PointwiseNonLinearity: field {i} ({rho.name}) does not act by permutation "
                                 "matrices; a pointwise nonlinearity would break equivariance (use trivial, "
                                 "regular or quotient fields, or NormNonLinearity / GatedNonLinearity1)")
        self.in_type = in_type
        self.out_type = in_type

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self.in_type, x, "PointwiseNonLinearity", module_dtype(self))
        return self._function(x)

    def extra_repr(self) -> str:
        return f"{self.in_type!r}, function={self.function_name}"


class NormNonLinearity(EquivariantModule, nn.Module):
    r"""Per field, rescale the vector by a function of its norm: :math:`v \mapsto f(|v| - b)\,v/|v|`.

    Equivariant for orthogonal representations (:math:`|\rho(g)v| = |v|`). Functions:

    - ``"n_relu"``: :math:`f(t) = \max(t, 0)` (fields with norm below b are set to zero);
    - ``"n_sigmoid"``: :math:`f(t) = \mathrm{sigmoid}(t)`;
    - ``"n_softplus"``: :math:`f(t) = \mathrm{softplus}(t)`;
    - ``"squash"``: :math:`v \mapsto v / (|v| + 1)` (no bias).

    ``bias=True`` learns one b per field (initialised to 0.1; parameter ``bias`` ``[n_fields]``), ``bias=False``
    uses b = 0. The norm is floored at 1e-12 (the squared norm is clamped before the square root), so outputs and
    gradients are finite at v = 0 (the output there is 0).

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> gs = rot2dOnR2(-1)
    >>> act = NormNonLinearity(FieldType(gs, [gs.irrep(1), gs.irrep(2)]))
    >>> act(torch.randn(2, 4, 6, 6)).shape
    torch.Size([2, 4, 6, 6])
    """

    def __init__(self, in_type: FieldType, function: str = "n_relu", bias: bool = True) -> None:
        super().__init__()
        require_field_type(in_type, "NormNonLinearity")
        if function not in _NORM_FUNCTIONS:
            raise ValueError(f"NormNonLinearity: unknown function {function!r}, expected one of {_NORM_FUNCTIONS}")
        self.in_type = in_type
        self.out_type = in_type
        self.function = function
        n = len(in_type)
        if bias and function != "squash":
            self.bias = nn.Parameter(torch.full((n,), 0.1))
        else:
            self.register_parameter("bias", None)
        self.register_buffer("field_index", _field_index(in_type), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self.in_type, x, "NormNonLinearity", module_dtype(self))
        return block_norm_scale(x, self.field_index, len(self.in_type), self.bias, self.function)

    def export(self) -> nn.Module:
        """A plain :class:`~steertorch.nn._fields._plain.BlockNormScale` (the fields as blocks, the bias a
        buffer)."""
        return BlockNormScale(self.field_index, self.bias, self.function)

    def extra_repr(self) -> str:
        return f"{self.in_type!r}, function={self.function}, bias={self.bias is not None}"


class GatedNonLinearity1(EquivariantModule, nn.Module):
    r"""Gated nonlinearity (escnn's ``GatedNonLinearity1``): gate fields (trivial) pass through
    :math:`\mathrm{sigmoid}(g + b)` with a learned bias b per gate and multiply the gated fields,
    :math:`v_j \mapsto \mathrm{sigmoid}(g_j + b_j)\, v_j`.

    Args:
        in_type: the input type, containing gates and gated fields in any order.
        gates: a list as long as ``in_type`` with ``"gate"`` or ``"gated"`` for each field; the k-th gate
            multiplies the k-th gated field, so the counts must match. Default (``None``): the first half of the
            fields are gates and the second half the gated fields.
        drop_gates: if True (default) the output holds only the gated fields (in input order); if False the
            output type equals the input type, with each gate field replaced by its sigmoid.

    Gate fields must be trivial (``ValueError`` otherwise); gated fields may have any representation.

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> gs = rot2dOnR2(-1)
    >>> ft = FieldType(gs, [gs.trivial_repr, gs.trivial_repr, gs.irrep(1), gs.irrep(2)])
    >>> gate = GatedNonLinearity1(ft)
    >>> gate.out_type.size, gate(torch.randn(2, 6, 5, 5)).shape
    (4, torch.Size([2, 4, 5, 5]))
    """

    def __init__(self, in_type: FieldType, gates: Sequence[str] | None = None, drop_gates: bool = True) -> None:
        super().__init__()
        require_field_type(in_type, "GatedNonLinearity1")
        n = len(in_type)
        if gates is None:
            if n % 2:
                raise ValueError(f"GatedNonLinearity1: with gates=None the first half of the fields are gates, so "
                                 f"the number of fields must be even, got {n}")
            gates = ["gate"] * (n // 2) + ["gated"] * (n // 2)
        gates = list(gates)
        if len(gates) != n:
            raise ValueError(f"GatedNonLinearity1: gates must have one entry per field ({n}), got {len(gates)}")
        bad = [s for s in gates if s not in ("gate", "gated")]
        if bad:
            raise ValueError(f"GatedNonLinearity1: gates entries must be 'gate' or 'gated', got {bad[0]!r}")
        gate_fields = [i for i, s in enumerate(gates) if s == "gate"]
        gated_fields = [i for i, s in enumerate(gates) if s == "gated"]
        if len(gate_fields) != len(gated_fields) or not gated_fields:
            raise ValueError(f"GatedNonLinearity1: need as many gates as gated fields (at least one), got "
                             f"{len(gate_fields)} gates and {len(gated_fields)} gated fields")
        for i in gate_fields:
            rho = in_type.representations[i]
            if rho.size != 1 or not is_permutation_representation(rho):
                raise ValueError(f"GatedNonLinearity1: gate field {i} must be trivial, got {rho.name}")
        self.in_type = in_type
        self.gates = gates
        self.drop_gates = drop_gates
        reps = in_type.representations
        self.out_type = FieldType(in_type.gspace, [reps[i] for i in gated_fields]) if drop_gates else in_type
        self.bias = nn.Parameter(torch.zeros(len(gate_fields)))
        starts = in_type.fields_start
        gate_channels = torch.tensor([starts[i] for i in gate_fields], dtype=torch.long)
        # for every channel of the gated fields: its channel in the input and which gate multiplies it
        gated_channels, gate_of = [], []
        for k, i in enumerate(gated_fields):
            gated_channels += list(range(starts[i], in_type.fields_end[i]))
            gate_of += [k] * reps[i].size
        self.register_buffer("gate_channels", gate_channels, persistent=False)
        self.register_buffer("gated_channels", torch.tensor(gated_channels, dtype=torch.long), persistent=False)
        self.register_buffer("gate_of", torch.tensor(gate_of, dtype=torch.long), persistent=False)
        # drop_gates=False: output channel c is entry order[c] of cat([gates, gated])
        order = None
        if not drop_gates:
            pos = torch.cat([gate_channels, self.gated_channels])
            order = torch.argsort(pos)
        self.register_buffer("order", order, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self.in_type, x, "GatedNonLinearity1", module_dtype(self))
        return channel_gates(x, self.gate_channels, self.bias, self.gated_channels, self.gate_of, torch.sigmoid,
                             self.order)

    def export(self) -> nn.Module:
        """A plain :class:`~steertorch.nn._fields._plain.ChannelGates` (the bias a buffer)."""
        return ChannelGates(self.gate_channels, self.bias, self.gated_channels, self.gate_of, torch.sigmoid,
                            self.order)

    def extra_repr(self) -> str:
        return f"{self.in_type!r}, drop_gates={self.drop_gates}"
