r"""More gated nonlinearities on grid fields (escnn's names): the gates come from a second tensor
(:class:`GatedNonLinearity2`) or from the trivial irreps inside each field (:class:`GatedNonLinearityUniform`).

A gate is a trivial (invariant) scalar s; :math:`v \mapsto \sigma(s + b)\,v` multiplies a field by an invariant,
which commutes with any :math:`\rho(g)`. The bias b (one per gate) starts at zero (escnn draws it at random).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..._dtype import module_dtype
from ...group import Representation
from ._module import EquivariantModule
from ._nonlinearity import _check_input, is_permutation_representation
from ._plain import ChannelGates, TwoInputGates
from ._type import FieldType, GeometricTensor, require_field_type

__all__ = ["GatedNonLinearity2", "GatedNonLinearityUniform"]


def _check_gate(gate: object, who: str) -> Callable[[torch.Tensor], torch.Tensor]:
    if not callable(gate):
        raise ValueError(f"{who}: gate must be a callable (e.g. torch.sigmoid), got {gate!r}")
    return gate


class GatedNonLinearity2(nn.Module):
    r"""Gated nonlinearity with the gates in a separate tensor (escnn's ``GatedNonLinearity2``):
    :math:`(s, v) \mapsto \big(\sigma(s_j + b_j)\, v_j\big)_j`.

    Args:
        in_type: a pair ``(gates_type, gated_type)``: ``gates_type`` has one trivial field per field of
            ``gated_type`` (any representations).
        gate: the gate function (default ``torch.sigmoid``).

    ``forward(gates, x)`` takes two plain tensors or two :class:`GeometricTensor`\ s (of the two types) and returns
    the same kind, of type ``out_type = gated_type``.

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> gs = rot2dOnR2(-1)
    >>> gates, gated = FieldType(gs, [gs.trivial_repr] * 2), FieldType(gs, [gs.irrep(1), gs.irrep(2)])
    >>> act = GatedNonLinearity2((gates, gated))
    >>> act(torch.randn(1, 2, 5, 5), torch.randn(1, 4, 5, 5)).shape
    torch.Size([1, 4, 5, 5])
    """

    def __init__(self, in_type: tuple[FieldType, FieldType], gate: Callable = torch.sigmoid) -> None:
        super().__init__()
        who = "GatedNonLinearity2"
        if not isinstance(in_type, tuple | list) or len(in_type) != 2:
            raise ValueError(f"{who}: in_type must be a pair (gates_type, gated_type) of FieldTypes, got {in_type!r}")
        gates_type, gated_type = (require_field_type(t, who) for t in in_type)
        if gates_type.gspace != gated_type.gspace:
            raise ValueError(f"{who}: the gates and the gated fields must share the G-space")
        if len(gates_type) != len(gated_type):
            raise ValueError(f"{who}: need one gate per gated field, got {len(gates_type)} gates and "
                             f"{len(gated_type)} gated fields")
        for i, rho in enumerate(gates_type.representations):
            if rho.size != 1 or not is_permutation_representation(rho):
                raise ValueError(f"{who}: gate field {i} must be trivial, got {rho.name}")
        self.in_type = (gates_type, gated_type)
        self.out_type = gated_type
        self._gate = _check_gate(gate, who)
        self.bias = nn.Parameter(torch.zeros(len(gates_type)))
        gate_of = [k for k, rho in enumerate(gated_type.representations) for _ in range(rho.size)]
        self.register_buffer("gate_of", torch.tensor(gate_of, dtype=torch.long), persistent=False)

    def forward(self, gates, x):
        geometric = isinstance(gates, GeometricTensor) or isinstance(x, GeometricTensor)
        if geometric:
            for t, ft, what in ((gates, self.in_type[0], "gates"), (x, self.in_type[1], "input")):
                if not isinstance(t, GeometricTensor) or t.type != ft:
                    raise ValueError(f"GatedNonLinearity2: the {what} must be a GeometricTensor of type {ft!r}, got "
                                     f"{t!r}")
            gates, x = gates.tensor, x.tensor
        dtype = module_dtype(self)
        _check_input(self.in_type[0], gates, "GatedNonLinearity2", dtype)
        _check_input(self.in_type[1], x, "GatedNonLinearity2", dtype)
        if gates.shape[0] != x.shape[0] or gates.shape[2:] != x.shape[2:]:
            raise ValueError(f"GatedNonLinearity2: gates {list(gates.shape)} and input {list(x.shape)} must have the "
                             "same batch and spatial sizes")
        g = self._gate(gates + self.bias.view(1, -1, *([1] * (x.dim() - 2))))
        y = x * g.index_select(1, self.gate_of)
        return GeometricTensor(y, self.out_type) if geometric else y

    def export(self) -> nn.Module:
        """A plain :class:`~steertorch.nn._fields._plain.TwoInputGates` (``forward(gates, x)`` on plain tensors)."""
        return TwoInputGates(self.gate_of, self.bias, self._gate)

    def extra_repr(self) -> str:
        return f"gates={self.in_type[0]!r}, gated={self.in_type[1]!r}"


class GatedNonLinearityUniform(EquivariantModule, nn.Module):
    r"""Gated nonlinearity inside uniform fields (escnn's ``GatedNonLinearityUniform``).

    Every field of ``in_type`` has the same representation :math:`1^{\oplus m} \oplus \psi_1 \oplus \dots \oplus
    \psi_m` (no change of basis): m trivial gates, then m gated irreps; the k-th gate multiplies :math:`\psi_k`.
    The output fields are :math:`\psi_1 \oplus \dots \oplus \psi_m` (the gates dropped), with a bias per field and
    gate.

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> from steertorch.group import Representation
    >>> gs = rot2dOnR2(-1)
    >>> rho = Representation([gs.irrep(0), gs.irrep(0), gs.irrep(1), gs.irrep(2)])
    >>> act = GatedNonLinearityUniform(FieldType(gs, [rho] * 3))
    >>> act.out_type.size, act(torch.randn(1, 18, 4, 4)).shape
    (12, torch.Size([1, 12, 4, 4]))
    """

    def __init__(self, in_type: FieldType, gate: Callable = torch.sigmoid) -> None:
        super().__init__()
        who = "GatedNonLinearityUniform"
        require_field_type(in_type, who)
        rho = in_type.representations[0]
        if any(r != rho for r in in_type.representations):
            raise ValueError(f"{who}: every field must have the same representation")
        if rho.change_of_basis is not None:
            raise ValueError(f"{who}: the field representation must have no change of basis, got {rho.name}")
        n = len(rho.irreps)
        m = n // 2
        if n % 2 or not all(p.is_trivial() for p in rho.irreps[:m]):
            raise ValueError(f"{who}: the field representation must be m trivial irreps followed by m irreps, got "
                             f"{[p.label for p in rho.irreps]}")
        self.in_type = in_type
        self.n_gates = m
        self.out_type = FieldType(in_type.gspace, [Representation(rho.irreps[m:])] * len(in_type))
        self._gate = _check_gate(gate, who)
        self.bias = nn.Parameter(torch.zeros(len(in_type), m))
        # within a field: the gated channels and, for each, its gate
        gate_of = [k for k, p in enumerate(rho.irreps[m:]) for _ in range(p.size)]
        self.register_buffer("gate_of", torch.tensor(gate_of, dtype=torch.long), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self.in_type, x, "GatedNonLinearityUniform", module_dtype(self))
        b, spatial, m = x.shape[0], x.shape[2:], self.n_gates
        f = x.reshape(b, len(self.in_type), self.in_type.representations[0].size, *spatial)
        shape = (1, len(self.in_type), m, *([1] * len(spatial)))
        g = self._gate(f[:, :, :m] + self.bias.view(shape))
        y = f[:, :, m:] * g.index_select(2, self.gate_of)
        return y.reshape(b, self.out_type.size, *spatial)

    def export(self) -> nn.Module:
        """A plain :class:`~steertorch.nn._fields._plain.ChannelGates` with the gate and gated channels of every field
        (the same map, written with global channel indices)."""
        n, size, m = len(self.in_type), self.in_type.representations[0].size, self.n_gates
        base = torch.arange(n, device=self.gate_of.device)[:, None]
        gate_channels = (base * size + torch.arange(m, device=base.device)).reshape(-1)
        gated_channels = (base * size + m + torch.arange(size - m, device=base.device)).reshape(-1)
        gate_of = (base * m + self.gate_of[None, :]).reshape(-1)
        return ChannelGates(gate_channels, self.bias.reshape(-1), gated_channels, gate_of, self._gate)

    def extra_repr(self) -> str:
        return f"{self.in_type!r}"
