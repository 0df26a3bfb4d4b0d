r"""Modules that rearrange fields (escnn's names): reorder them (:class:`ReshuffleModule`), split each into its
irreps (:class:`DisentangleModule`), split by labels (:class:`BranchingModule`), apply a module per label and
concatenate (:class:`MergeModule`), or both (:class:`MultipleModule`).

All are equivariant for any field types: they permute whole fields or change the basis inside a field by the
field's own (intertwining) change of basis.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..._dtype import ExactConstants, module_dtype
from ._module import EquivariantModule
from ._nonlinearity import _check_input
from ._type import FieldType, GeometricTensor, require_field_type, tensor_directsum

__all__ = ["ReshuffleModule", "DisentangleModule", "BranchingModule", "MergeModule", "MultipleModule"]


def _field_channels(in_type: FieldType, fields: Sequence[int]) -> torch.Tensor:
    return torch.tensor([c for i in fields for c in range(in_type.fields_start[i], in_type.fields_end[i])],
                        dtype=torch.long)


class ReshuffleModule(EquivariantModule, nn.Module):
    r"""Reorder the fields: output field i is input field ``permutation[i]`` (escnn's ``ReshuffleModule``).

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> gs = rot2dOnR2(4)
    >>> m = ReshuffleModule(FieldType(gs, [gs.trivial_repr, gs.regular_repr]), [1, 0])
    >>> [r.name for r in m.out_type], m(torch.arange(5.0).view(1, 5, 1, 1)).flatten().tolist()
    (['regular', 'irrep_0'], [1.0, 2.0, 3.0, 4.0, 0.0])
    """

    def __init__(self, in_type: FieldType, permutation: Sequence[int]) -> None:
        super().__init__()
        require_field_type(in_type, "ReshuffleModule")
        permutation = [int(p) for p in permutation]
        if sorted(permutation) != list(range(len(in_type))):
            raise ValueError(f"ReshuffleModule: permutation must be a permutation of 0..{len(in_type) - 1}, got "
                             f"{permutation}")
        self.in_type = in_type
        self.permutation = permutation
        self.out_type = FieldType(in_type.gspace, [in_type.representations[i] for i in permutation])
        self.register_buffer("channels", _field_channels(in_type, permutation), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self.in_type, x, "ReshuffleModule", module_dtype(self))
        return x.index_select(1, self.channels)

    def extra_repr(self) -> str:
        return f"{self.in_type!r}, permutation={self.permutation}"


class DisentangleModule(EquivariantModule, ExactConstants):
    r"""Split every field into its irreps: :math:`x \mapsto Q^\top x` per field, for the field's representation
    :math:`\rho = Q\,(\bigoplus_i \psi_i)\,Q^\top`; the output has one field per irrep :math:`\psi_i`, in order
    (escnn's ``DisentangleModule``; escnn may keep some blocks reducible, here every block is an irrep).

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> gs = rot2dOnR2(4)
    >>> m = DisentangleModule(FieldType(gs, [gs.regular_repr]))
    >>> [r.name for r in m.out_type], m(torch.randn(1, 4, 3, 3)).shape
    (['irrep_0', 'irrep_1', 'irrep_2'], torch.Size([1, 4, 3, 3]))
    """

    def __init__(self, in_type: FieldType) -> None:
        super().__init__()
        require_field_type(in_type, "DisentangleModule")
        self.in_type = in_type
        self.out_type = FieldType(in_type.gspace, [psi for rho in in_type.representations for psi in rho.irreps])
        self.register_constant("change_of_basis", torch.block_diag(
            *[rho.dense_change_of_basis().T for rho in in_type.representations]), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self.in_type, x, "DisentangleModule", module_dtype(self))
        return torch.einsum("ij,bj...->bi...", self.change_of_basis, x)

    def extra_repr(self) -> str:
        return f"{self.in_type!r}"


def _check_labels(in_type: FieldType, labels: Sequence[str], who: str) -> list[str]:
    labels = list(labels)
    if len(labels) != len(in_type):
        raise ValueError(f"{who}: need one label per field ({len(in_type)}), got {len(labels)}")
    return labels


def _check_reshuffle(reshuffle: int, who: str) -> int:
    # escnn's reshuffle only sorts the fields before splitting (a speed matter there); the result is the same
    if reshuffle not in (0, 1, 2, 3):
        raise ValueError(f"{who}: reshuffle must be 0, 1, 2 or 3, got {reshuffle!r}")
    return reshuffle


class BranchingModule(nn.Module):
    r"""Split the fields by label: returns ``{label: tensor of the fields with that label}`` (fields in input order;
    escnn's ``BranchingModule``). Plain tensors in give plain tensors; a :class:`GeometricTensor` (of ``in_type``)
    gives GeometricTensors, of the types ``out_type[label]``. ``reshuffle`` is accepted for compatibility (escnn
    sorts the fields first for speed; the result is the same).

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> gs = rot2dOnR2(4)
    >>> branch = BranchingModule(FieldType(gs, [gs.trivial_repr, gs.regular_repr, gs.trivial_repr]), ["a", "b", "a"])
    >>> {k: v.shape[1] for k, v in branch(torch.randn(1, 6, 3, 3)).items()}
    {'a': 2, 'b': 4}
    """

    def __init__(self, in_type: FieldType, labels: Sequence[str], reshuffle: int = 0) -> None:
        super().__init__()
        who = "BranchingModule"
        require_field_type(in_type, who)
        self.labels = _check_labels(in_type, labels, who)
        self.reshuffle = _check_reshuffle(reshuffle, who)
        self.in_type = in_type
        self.out_type: dict[str, FieldType] = {}
        for label in dict.fromkeys(self.labels):
            fields = [i for i, lab in enumerate(self.labels) if lab == label]
            self.out_type[label] = FieldType(in_type.gspace, [in_type.representations[i] for i in fields])
            self.register_buffer(f"_channels_{len(self.out_type) - 1}", _field_channels(in_type, fields),
                                 persistent=False)

    def forward(self, x):
        geometric = isinstance(x, GeometricTensor)
        if geometric:
            if x.type != self.in_type:
                raise ValueError(f"BranchingModule: the input GeometricTensor has type {x.type!r}, but the "
                                 f"module's in_type is {self.in_type!r}")
            x = x.tensor
        _check_input(self.in_type, x, "BranchingModule", module_dtype(self))
        out = {}
        for k, (label, ft) in enumerate(self.out_type.items()):
            t = x.index_select(1, getattr(self, f"_channels_{k}"))
            out[label] = GeometricTensor(t, ft) if geometric else t
        return out


class MergeModule(nn.Module):
    r"""Apply a module per label and concatenate the outputs along the fields, in the order of ``modules``
    (escnn's ``MergeModule``).

    ``modules`` lists pairs ``(module, label)`` (or ``(module, [labels])``: the module then gets one input per
    label). ``forward`` takes ``{label: tensor}`` (plain tensors or GeometricTensors) and returns a plain tensor or
    a :class:`GeometricTensor` of type ``out_type``.

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> gs = rot2dOnR2(4)
    >>> t = FieldType(gs, [gs.regular_repr])
    >>> from steertorch.nn import IdentityModule, ReLU
    >>> merge = MergeModule([(ReLU(t), "a"), (IdentityModule(t), "b")])
    >>> merge({"a": torch.randn(1, 4, 3, 3), "b": torch.randn(1, 4, 3, 3)}).shape
    torch.Size([1, 8, 3, 3])
    """

    def __init__(self, modules: Sequence[tuple[nn.Module, str | Sequence[str]]]) -> None:
        super().__init__()
        if not modules:
            raise ValueError("MergeModule: needs at least one (module, label) pair")
        self.branch_labels: list[list[str]] = []
        out_types = []
        for i, pair in enumerate(modules):
            if not isinstance(pair, tuple | list) or len(pair) != 2 or not isinstance(pair[0], nn.Module):
                raise ValueError(f"MergeModule: entry {i} must be a pair (module, label), got {pair!r}")
            module, labels = pair
            labels = [labels] if isinstance(labels, str) else list(labels)
            ot = getattr(module, "out_type", None)
            if not isinstance(ot, FieldType):
                raise ValueError(f"MergeModule: module {i} ({type(module).__name__}) has no FieldType out_type")
            self.add_module(f"submodule_{i}", module)
            self.branch_labels.append(labels)
            out_types.append(ot)
        self.out_type = out_types[0]
        for ot in out_types[1:]:
            self.out_type = self.out_type + ot

    def forward(self, inputs: dict):
        outs = []
        for i, labels in enumerate(self.branch_labels):
            missing = [lab for lab in labels if lab not in inputs]
            if missing:
                raise ValueError(f"MergeModule: no input for the labels {missing}")
            outs.append(getattr(self, f"submodule_{i}")(*[inputs[lab] for lab in labels]))
        if all(isinstance(o, GeometricTensor) for o in outs):
            return tensor_directsum(outs)
        if any(isinstance(o, GeometricTensor) for o in outs):
            raise ValueError("MergeModule: give all inputs as GeometricTensors or all as plain tensors")
        return torch.cat(outs, dim=1)


class MultipleModule(EquivariantModule, nn.Module):
    r"""Split the fields by label, apply a module per label, concatenate the outputs (escnn's ``MultipleModule``:
    a :class:`BranchingModule` followed by a :class:`MergeModule`).

    Args:
        in_type: the input type.
        labels: one label per field of ``in_type``.
        modules: pairs ``(module, label)``; the module's ``in_type`` must be the type of the fields with that label.
        reshuffle: accepted for compatibility (see :class:`BranchingModule`).

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> from steertorch.nn import NormNonLinearity, ReLU
    >>> gs = rot2dOnR2(4)
    >>> ft = FieldType(gs, [gs.regular_repr, gs.irrep(1), gs.regular_repr])
    >>> reg, vec = FieldType(gs, [gs.regular_repr] * 2), FieldType(gs, [gs.irrep(1)])
    >>> m = MultipleModule(ft, ["r", "v", "r"], [(ReLU(reg), "r"), (NormNonLinearity(vec), "v")])
    >>> m.out_type == reg + vec, m(torch.randn(1, 10, 3, 3)).shape
    (True, torch.Size([1, 10, 3, 3]))
    """

    def __init__(self, in_type: FieldType, labels: Sequence[str], modules: Sequence[tuple[nn.Module, str]],
                 reshuffle: int = 0) -> None:
        super().__init__()
        self.branching = BranchingModule(in_type, labels, reshuffle)
        for i, (module, label) in enumerate(modules):
            for lab in [label] if isinstance(label, str) else label:
                if lab not in self.branching.out_type:
                    raise ValueError(f"MultipleModule: module {i} takes label {lab!r}, which no field has")
                want = self.branching.out_type[lab]
                if isinstance(label, str) and getattr(module, "in_type", None) != want:
                    raise ValueError(f"MultipleModule: module {i} ({type(module).__name__}) has in_type "
                                     f"{getattr(module, 'in_type', None)!r}, but the fields labelled {lab!r} have "
                                     f"type {want!r}")
        self.merging = MergeModule(modules)
        self.in_type = in_type
        self.out_type = self.merging.out_type

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.merging(self.branching(x))
