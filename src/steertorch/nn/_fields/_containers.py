r"""Containers and type changes for grid feature fields ``[B, C, *spatial]`` (escnn's names).

- :class:`SequentialModule`: ``torch.nn.Sequential`` whose modules' field types must chain,
  ``modules[i].out_type == modules[i + 1].in_type`` (checked whenever the chain changes).
- :class:`RestrictionModule`: the identity on tensors that re-reads the fields as fields of a subgroup H,
  :math:`\rho \mapsto \rho|_H` (so later layers need only be H-equivariant).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ..._dtype import module_dtype
from ...group import Group
from ._module import EquivariantModule
from ._nonlinearity import _check_input
from ._type import FieldType, require_field_type

__all__ = ["SequentialModule", "RestrictionModule"]


class RestrictionModule(EquivariantModule, nn.Module):
    r"""Restrict the fibre group to a subgroup H: :math:`y = x`, with ``out_type = in_type.restrict(subgroup_id)``.

    Each field's representation becomes :math:`\rho|_H(h) = \rho(\iota(h))` (decomposed into H's irreps by
    :meth:`FieldType.restrict`, with :math:`\iota` the inclusion of :meth:`GSpace.restrict`), so the tensor is
    unchanged and the module is exactly H-equivariant. Use it to continue a G-equivariant network with layers that
    are only H-equivariant (e.g. C8 layers followed by C4 layers).

    Args:
        in_type: the input :class:`FieldType`.
        subgroup_id: the subgroup, by name (``"C4"``, as :meth:`GSpace.restrict`) or as a group.

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> gs = rot2dOnR2(8)
    >>> res = RestrictionModule(FieldType(gs, [gs.regular_repr]), "C4")
    >>> res.out_type.gspace.name, res.out_type.size
    ('C4_on_R2', 8)
    >>> x = torch.randn(1, 8, 3, 3)
    >>> res(x) is x
    True
    """

    def __init__(self, in_type: FieldType, subgroup_id: str | Group) -> None:
        super().__init__()
        require_field_type(in_type, "RestrictionModule")
        self.in_type = in_type
        self.subgroup_id = subgroup_id
        self.out_type = in_type.restrict(subgroup_id)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self.in_type, x, "RestrictionModule", module_dtype(self))
        return x

    def extra_repr(self) -> str:
        return f"{self.in_type!r} -> {self.out_type.gspace.name}"


def _describe(i: int, name: str, module: nn.Module) -> str:
    return f"module {i} ({name!r}, {type(module).__name__})"


class SequentialModule(EquivariantModule, nn.Sequential):
    r"""A chain of field modules, :math:`f_n \circ \dots \circ f_1` (escnn's ``SequentialModule``).

    A ``torch.nn.Sequential`` (indexing, slicing, iteration, ``append``, ``insert``, ``extend`` work as there)
    whose modules all carry ``in_type`` / ``out_type`` :class:`FieldType` attributes with
    ``modules[i].out_type == modules[i + 1].in_type``. The chain is checked at construction and whenever it
    changes (``add_module``, ``append``, ``insert``, item assignment, deletion): a break raises ``ValueError``
    naming both types and the positions. ``in_type`` / ``out_type`` are those of the first / last module
    (``None`` while empty); ``forward`` checks its input against ``in_type``.

    Args:
        *modules: the modules in order, or one ``OrderedDict`` of named modules.

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> from steertorch.nn import InnerBatchNorm, PointwiseNonLinearity, R2Conv
    >>> gs = rot2dOnR2(4)
    >>> t_in, t_hid = FieldType(gs, [gs.trivial_repr]), FieldType(gs, [gs.regular_repr] * 2)
    >>> net = SequentialModule(R2Conv(t_in, t_hid, 3, padding=1), InnerBatchNorm(t_hid), PointwiseNonLinearity(t_hid))
    >>> net(torch.randn(2, 1, 9, 9)).shape, net.out_type == t_hid
    (torch.Size([2, 8, 9, 9]), True)
    """

    def __init__(self, *modules: nn.Module | OrderedDict[str, nn.Module]) -> None:
        super().__init__(*modules)

    # ------------------------------------------------------------------ types
    @property
    def in_type(self) -> FieldType | None:
        """The input type of the first module (``None`` if empty)."""
        return next(iter(self._modules.values())).in_type if self._modules else None

    @property
    def out_type(self) -> FieldType | None:
        """The output type of the last module (``None`` if empty)."""
        return next(reversed(self._modules.values())).out_type if self._modules else None

    @staticmethod
    def _check_chain(named: list[tuple[str, nn.Module]]) -> None:
        for i, (name, module) in enumerate(named):
            for attr in ("in_type", "out_type"):
                if not isinstance(getattr(module, attr, None), FieldType):
                    raise ValueError(f"SequentialModule: {_describe(i, name, module)} has no FieldType {attr} "
                                     "(only modules on grid fields, with in_type / out_type, can be chained)")
        for i in range(len(named) - 1):
            (na, a), (nb, b) = named[i], named[i + 1]
            if a.out_type != b.in_type:
                raise ValueError(f"SequentialModule: {_describe(i, na, a)} has out_type {a.out_type!r} but "
                                 f"{_describe(i + 1, nb, b)} has in_type {b.in_type!r}")

    # ------------------------------------------------------------------ changes to the chain
    def add_module(self, name: str, module: nn.Module | None) -> None:
        """Append ``module`` under ``name`` (or replace the module of that name), checking the chain."""
        named = list(self._modules.items())
        if name in self._modules:
            named = [(k, module if k == name else m) for k, m in named]
        else:
            named.append((name, module))
        self._check_chain(named)
        super().add_module(name, module)

    def insert(self, index: int, module: nn.Module) -> SequentialModule:
        named = list(self._modules.items())
        n = len(named)
        if -n <= index <= n:
            pos = index + n if index < 0 else index
            self._check_chain(named[:pos] + [(str(pos), module)] + named[pos:])
        return super().insert(index, module)

    def __setitem__(self, idx: int, module: nn.Module) -> None:
        named = list(self._modules.items())
        key = self._get_item_by_idx(self._modules.keys(), idx)
        self._check_chain([(k, module if k == key else m) for k, m in named])
        super().__setitem__(idx, module)

    def __delitem__(self, idx: slice | int) -> None:
        keys = list(self._modules.keys())
        gone = set(keys[idx]) if isinstance(idx, slice) else {self._get_item_by_idx(keys, idx)}
        self._check_chain([(k, m) for k, m in self._modules.items() if k not in gone])
        super().__delitem__(idx)

    # ------------------------------------------------------------------ evaluation
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._modules:
            raise ValueError("SequentialModule: empty, add modules before calling it")
        _check_input(self.in_type, x, "SequentialModule", module_dtype(self))
        for module in self:
            x = module(x)
        return x
