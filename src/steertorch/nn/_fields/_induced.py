r"""Fields of induced representations :math:`\mathrm{Ind}_H^G \psi` in the coset basis: k blocks of size
:math:`d = \dim\psi` that every :math:`\rho(g)` permutes (escnn's ``"induced_norm"`` fields), the invariant
map on them, :class:`InducedNormPool`, and their gates, :class:`InducedGatedNonLinearity1`."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..._dtype import module_dtype
from ...group._group import float64_default
from ._fourier_nonlinearity import _block_structure
from ._module import EquivariantModule
from ._nonlinearity import _check_input
from ._plain import BlockNormMax, ChannelGates, block_norm_max, channel_gates
from ._type import FieldType, require_field_type

__all__ = ["InducedNormPool", "InducedGatedNonLinearity1", "induced_block_sizes"]


def induced_block_sizes(in_type: FieldType, block_size: int | Sequence[int] | None, who: str) -> list[int]:
    """For each field, the size of the blocks its representation permutes: ``block_size`` (one int for all fields,
    or one per field) or, when None, the ``induced_block_size`` recorded by ``gspace.induced_repr`` /
    :func:`~steertorch.group.induced_representation`. Checked on the representation's matrices; ``ValueError``
    naming ``who`` if a field does not permute blocks of that size, or if no size is known.

    >>> from steertorch.gspaces import flipRot2dOnR2
    >>> gs = flipRot2dOnR2(4)
    >>> sub, _ = gs.restrict("C4")
    >>> induced_block_sizes(FieldType(gs, [gs.induced_repr("C4", sub.irrep(1))]), None, "example")
    [2]
    """
    reps = in_type.representations
    if block_size is None:
        sizes = [getattr(rho, "induced_block_size", None) for rho in reps]
    elif isinstance(block_size, int) and not isinstance(block_size, bool):
        sizes = [block_size] * len(reps)
    else:
        sizes = list(block_size)
        if len(sizes) != len(reps):
            raise ValueError(f"{who}: block_size must be an int or one int per field ({len(reps)}), got "
                             f"{len(sizes)}")
    for i, (rho, b) in enumerate(zip(reps, sizes)):
        if b is None:
            raise ValueError(f"{who}: field {i} ({rho.name}) is not an induced representation built by "
                             "gspace.induced_repr; pass block_size (the size of the blocks it permutes)")
        if isinstance(b, bool) or not isinstance(b, int) or b < 1 or rho.size % b:
            raise ValueError(f"{who}: field {i} ({rho.name}, size {rho.size}) cannot be cut into blocks of size {b!r}")
        if not _block_structure(rho, b):
            raise ValueError(f"{who}: field {i} ({rho.name}) does not permute its blocks of size {b}: its matrices are "
                             "not block permutations (give induced fields in their coset basis)")
    return sizes


class InducedNormPool(EquivariantModule, nn.Module):
    r"""The largest block norm of each induced field (escnn's ``InducedNormPool``): for a field made of k blocks
    :math:`v_1, \dots, v_k` of size d that :math:`\rho(g)` permutes (rotating each by an orthogonal matrix),

    .. math::  y_i(p) = \max_{j} |v_j(p)|,

    one invariant (trivial) channel per field: the multiset of block norms is invariant. Block sizes as for
    :func:`induced_block_sizes`. Squared norms are floored at 1e-24 before the square root (finite gradients at 0).

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> gs = rot2dOnR2(8)
    >>> sub, _ = gs.restrict("C4")
    >>> rho = gs.induced_repr("C4", sub.irrep(1))     # 2 blocks of size 2
    >>> pool = InducedNormPool(FieldType(gs, [rho]))
    >>> x = torch.tensor([3.0, 4.0, 0.0, 1.0]).view(1, 4, 1, 1)
    >>> pool(x).flatten().tolist()
    [5.0]
    """

    def __init__(self, in_type: FieldType, block_size: int | Sequence[int] | None = None, **kwargs) -> None:
        super().__init__()
        who = "InducedNormPool"
        require_field_type(in_type, who)
        if kwargs:
            raise ValueError(f"{who}: unexpected arguments {sorted(kwargs)}")
        self.block_size = induced_block_sizes(in_type, block_size, who)
        self.in_type = in_type
        self.out_type = FieldType(in_type.gspace, [in_type.gspace.trivial_repr] * len(in_type))
        block_index, field_of_block = [], []
        for i, (rho, b) in enumerate(zip(in_type.representations, self.block_size)):
            for _ in range(rho.size // b):
                block_index += [len(field_of_block)] * b
                field_of_block.append(i)
        self.register_buffer("block_index", torch.tensor(block_index, dtype=torch.long), persistent=False)
        self.register_buffer("field_of_block", torch.tensor(field_of_block, dtype=torch.long), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self.in_type, x, "InducedNormPool", module_dtype(self))
        return block_norm_max(x, self.block_index, self.field_of_block, len(self.in_type))

    def export(self) -> nn.Module:
        """A plain :class:`~steertorch.nn._fields._plain.BlockNormMax`."""
        return BlockNormMax(self.block_index, self.field_of_block)

    def extra_repr(self) -> str:
        return f"{self.in_type!r}, block_size={self.block_size}"


def _block_pattern(rho, block: int) -> torch.Tensor:
    """``[|G|, k, k]``: 1 where rho(g) maps block j onto block i, 0 elsewhere (finite groups)."""
    group = rho.group
    with float64_default():
        m = rho(group.elements()).to(torch.float64)
    k = rho.size // block
    return (m.reshape(-1, k, block, k, block).pow(2).sum((2, 4)) > 0.5).to(torch.float64)


class InducedGatedNonLinearity1(EquivariantModule, nn.Module):
    r"""Gated nonlinearity for induced fields (escnn's ``InducedGatedNonLinearity1``).

    A gated field of :math:`\mathrm{Ind}_H^G \psi` holds k blocks :math:`v_1, \dots, v_k` of size
    :math:`d = \dim\psi` that :math:`\rho(g)` permutes as it permutes the cosets :math:`G/H`; its gate is a field of
    k channels :math:`s_1, \dots, s_k` permuted the same way (the quotient representation
    :math:`\mathrm{Ind}_H^G 1`: ``gspace.induced_repr(H, H.trivial_repr)``). Every block is multiplied by its own
    gate,

    .. math::  v_i \mapsto \mathrm{sigmoid}(s_i + b)\, v_i,

    with one learned bias b per gate field (shared by its k channels; zero at initialisation). The gates and the
    blocks move together under every element, so the map is exactly equivariant.

    Args:
        in_type: the input type, gates and gated fields in any order (finite groups).
        gates: ``"gate"`` or ``"gated"`` for each field; the k-th gate gates the k-th gated field. Default: the first
            half of the fields are gates, the second half the gated fields.
        drop_gates: True (default): the output holds only the gated fields; False: the output type is the input
            type, each gate field replaced by its sigmoid.
        block_size: the block size of the gated fields (an int, or one per gated field); default the
            ``induced_block_size`` of ``gspace.induced_repr`` (see :func:`induced_block_sizes`).

    Checked at construction (``ValueError``): each gated field permutes blocks, and its gate's matrices are exactly
    that permutation of the blocks, for every element.

    >>> import torch
    >>> from steertorch.gspaces import flipRot2dOnR2
    >>> gs = flipRot2dOnR2(4)
    >>> sub, _ = gs.restrict("C4")
    >>> gate, gated = gs.induced_repr("C4", sub.trivial_repr), gs.induced_repr("C4", sub.irrep(1))
    >>> act = InducedGatedNonLinearity1(FieldType(gs, [gate, gated]))
    >>> act(torch.tensor([0.0, 100.0, 1.0, 2.0, 3.0, 4.0]).view(1, 6, 1, 1)).flatten().tolist()
    [0.5, 1.0, 3.0, 4.0]
    """

    def __init__(self, in_type: FieldType, gates: Sequence[str] | None = None, drop_gates: bool = True, *,
                 block_size: int | Sequence[int] | None = None, **kwargs) -> None:
        super().__init__()
        who = "InducedGatedNonLinearity1"
        require_field_type(in_type, who)
        if kwargs:
            raise ValueError(f"{who}: unexpected arguments {sorted(kwargs)}")
        if not in_type.fibergroup.is_finite:
            raise ValueError(f"{who}: induced fields need a finite group, got {in_type.fibergroup.name}")
        n = len(in_type)
        if gates is None:
            if n % 2:
                raise ValueError(f"{who}: with gates=None the first half of the fields are gates, so the number of "
                                 f"fields must be even, got {n}")
            gates = ["gate"] * (n // 2) + ["gated"] * (n // 2)
        gates = list(gates)
        if len(gates) != n:
            raise ValueError(f"{who}: gates must have one entry per field ({n}), got {len(gates)}")
        bad = [g for g in gates if g not in ("gate", "gated")]
        if bad:
            raise ValueError(f"{who}: gates entries must be 'gate' or 'gated', got {bad[0]!r}")
        gate_fields = [i for i, g in enumerate(gates) if g == "gate"]
        gated_fields = [i for i, g in enumerate(gates) if g == "gated"]
        if len(gate_fields) != len(gated_fields) or not gated_fields:
            raise ValueError(f"{who}: need as many gates as gated fields (at least one), got {len(gate_fields)} gates "
                             f"and {len(gated_fields)} gated fields")
        reps, starts = in_type.representations, in_type.fields_start
        sizes = induced_block_sizes(FieldType(in_type.gspace, [reps[i] for i in gated_fields]), block_size, who)
        gate_channels, gate_field, gated_channels, gate_of = [], [], [], []
        for k, (gi, vi, b) in enumerate(zip(gate_fields, gated_fields, sizes)):
            gate_rep, rho = reps[gi], reps[vi]
            blocks = rho.size // b
            pattern = _block_pattern(rho, b)
            with float64_default():
                gm = gate_rep(in_type.fibergroup.elements()).to(torch.float64)
            if gate_rep.size != blocks or float((gm - pattern).abs().max()) > 1e-9:
                raise ValueError(f"{who}: gate field {gi} ({gate_rep.name}, size {gate_rep.size}) does not permute "
                                 f"its channels as gated field {vi} ({rho.name}) permutes its {blocks} blocks of size "
                                 f"{b}; use gspace.induced_repr(H, H.trivial_repr) with the subgroup H of the gated "
                                 "field")
            first = len(gate_channels)
            gate_channels += range(starts[gi], starts[gi] + blocks)
            gate_field += [k] * blocks
            gated_channels += range(starts[vi], starts[vi] + rho.size)
            gate_of += [first + j for j in range(blocks) for _ in range(b)]
        self.in_type = in_type
        self.gates = gates
        self.drop_gates = drop_gates
        self.block_size = sizes
        self.out_type = FieldType(in_type.gspace, [reps[i] for i in gated_fields]) if drop_gates else in_type
        self.bias = nn.Parameter(torch.zeros(len(gate_fields)))
        self.register_buffer("gate_channels", torch.tensor(gate_channels, dtype=torch.long), persistent=False)
        self.register_buffer("gate_field", torch.tensor(gate_field, dtype=torch.long), persistent=False)
        self.register_buffer("gated_channels", torch.tensor(gated_channels, dtype=torch.long), persistent=False)
        self.register_buffer("gate_of", torch.tensor(gate_of, dtype=torch.long), persistent=False)
        order = None if drop_gates else torch.argsort(torch.cat([self.gate_channels, self.gated_channels]))
        self.register_buffer("order", order, persistent=False)

    def _gate_bias(self) -> torch.Tensor:
        return self.bias.index_select(0, self.gate_field)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self.in_type, x, "InducedGatedNonLinearity1", module_dtype(self))
        return channel_gates(x, self.gate_channels, self._gate_bias(), self.gated_channels, self.gate_of,
                             torch.sigmoid, self.order)

    def export(self) -> nn.Module:
        """A plain :class:`~steertorch.nn._fields._plain.ChannelGates` (one bias per gate channel, a buffer)."""
        return ChannelGates(self.gate_channels, self._gate_bias(), self.gated_channels, self.gate_of, torch.sigmoid,
                            self.order)

    def extra_repr(self) -> str:
        return f"{self.in_type!r}, block_size={self.block_size}, drop_gates={self.drop_gates}"
