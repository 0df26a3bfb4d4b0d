r"""Fields of induced representations :math:`\mathrm{Ind}_H^G \psi` in the coset basis: k blocks of size
:math:`d = \dim\psi` that every :math:`\rho(g)` permutes (escnn's ``"induced_norm"`` fields), and the invariant
map on them, :class:`InducedNormPool`."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..._dtype import module_dtype
from ._fourier_nonlinearity import _block_structure
from ._module import EquivariantModule
from ._nonlinearity import _EPS, _check_input
from ._type import FieldType, require_field_type

__all__ = ["InducedNormPool", "induced_block_sizes"]


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
        nb = self.field_of_block.shape[0]
        sq = torch.zeros(x.shape[0], nb, *x.shape[2:], dtype=x.dtype, device=x.device)
        norms = sq.index_add_(1, self.block_index, x * x).clamp(min=_EPS).sqrt()
        out = torch.zeros(x.shape[0], len(self.in_type), *x.shape[2:], dtype=x.dtype, device=x.device)
        idx = self.field_of_block.view(1, -1, *([1] * (x.dim() - 2))).expand_as(norms)
        return out.scatter_reduce(1, idx, norms, reduce="amax", include_self=False)

    def extra_repr(self) -> str:
        return f"{self.in_type!r}, block_size={self.block_size}"
