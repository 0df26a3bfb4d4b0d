"""Real irreducible representations evaluated on batches of group elements."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING

import torch

from ._representation import Representation

if TYPE_CHECKING:
    from ._group import Group

__all__ = ["IrreducibleRepresentation"]


class IrreducibleRepresentation(Representation):
    r"""A real irreducible representation :math:`\psi: G \to O(d)`.

    ``psi(g)`` maps a batch of elements ``[..., *G.element_shape]`` to ``[..., d, d]``.

    Real irreps come in three types, told apart by their endomorphism algebra
    :math:`\mathrm{End}_G(\psi) = \{A : A\psi(g) = \psi(g)A\}`:

    - ``"R"`` (real type): only multiples of the identity, dimension 1;
    - ``"C"`` (complex type, e.g. SO(2) frequency k >= 1): spanned by I and a complex
      structure J (J^2 = -I), dimension 2;
    - ``"H"`` (quaternionic type): dimension 4.

    ``endomorphism_basis`` is ``[E, d, d]`` with E = 1, 2 or 4 orthogonal matrices, the
    identity first. Equivariant linear maps between copies of psi are linear combinations
    of them (this is what later layers use to count free parameters).

    >>> from steertorch.group import so2_group
    >>> psi = so2_group().irrep(2)
    >>> psi.size, psi.type, psi.endomorphism_dim
    (2, 'C', 2)
    >>> g = torch.tensor([[[0.0, -1.0], [1.0, 0.0]]])  # rotation by 90 degrees
    >>> psi(g).round() + 0.0  # + 0.0 turns -0. into 0.
    tensor([[[-1.,  0.],
             [ 0., -1.]]])
    """

    def __init__(
        self,
        group: Group,
        label: Hashable,
        size: int,
        function: Callable[[torch.Tensor], torch.Tensor],
        type: str = "R",
        endomorphism_basis: torch.Tensor | None = None,
        name: str | None = None,
    ) -> None:
        if type not in ("R", "C", "H"):
            raise ValueError(f"irrep type must be 'R', 'C' or 'H', got {type!r}")
        self.group = group
        self.label = label
        self.size = int(size)
        self._function = function
        self.type = type
        if endomorphism_basis is None:
            if type != "R":
                raise ValueError(f"an irrep of type {type!r} needs its endomorphism_basis")
            endomorphism_basis = torch.eye(size, dtype=torch.float64)[None]
        self.endomorphism_basis = endomorphism_basis.to(torch.float64)
        expected = {"R": 1, "C": 2, "H": 4}[type]
        if self.endomorphism_basis.shape != (expected, size, size):
            raise ValueError(
                f"endomorphism_basis of a type-{type} irrep of size {size} must have shape "
                f"{[expected, size, size]}, got {list(self.endomorphism_basis.shape)}"
            )
        self.name = name if name is not None else f"{group.name}_irrep{label}"
        self.irreps = [self]
        self.change_of_basis = None

    def __reduce__(self):
        # the evaluation function is a closure, which pickle cannot store: an irrep is stored as its group and label,
        # and is the group's irrep of that label again when loaded (every irrep is built by its group's irrep())
        return (_group_irrep, (self.group, self.label))

    @property
    def endomorphism_dim(self) -> int:
        """Dimension of the endomorphism algebra: 1 (real), 2 (complex) or 4 (quaternionic) type."""
        return self.endomorphism_basis.shape[0]

    def __call__(self, g: torch.Tensor) -> torch.Tensor:
        g = self.group.check_element(g)
        return self._function(g)

    def is_trivial(self) -> bool:
        return self.label == self.group.trivial_representation.label

    def __repr__(self) -> str:
        return self.name

    def __deepcopy__(self, memo: dict) -> IrreducibleRepresentation:
        return _group_irrep(self.group, self.label)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, IrreducibleRepresentation) and self.group == other.group
            and self.label == other.label
        )

    def __hash__(self) -> int:
        return hash((self.group, self.label))


def _group_irrep(group: Group, label: Hashable) -> IrreducibleRepresentation:
    return group.irrep(label)
