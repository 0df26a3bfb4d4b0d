r"""The G-space without a base space (escnn's ``no_base_space`` / ``GSpace0D``): features are vectors
:math:`x \in \mathbb{R}^C` on which G acts by :math:`\rho(g)`, with no positions to move.

Feature tensors are ``[B, C]`` (no spatial axes), so the field modules that act pointwise (linear maps, batch
norms, nonlinearities) apply to plain vectors, as in escnn's equivariant MLPs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch

from ..group import Group
from ._gspace import GSpace

__all__ = ["GSpace0D", "no_base_space"]


class GSpace0D(GSpace):
    r"""A group G acting on the 0-dimensional space (one point): :math:`(g\cdot x) = \rho(g)\,x`.

    ``dimensionality`` is 0 and :meth:`basespace_action` returns ``[..., 0, 0]`` matrices; any
    :class:`~steertorch.group.Group` is allowed (the fibre group need not act on a space of dimension 0).
    :attr:`testing_elements` are the group's (all elements of a finite group, a fixed sample of a continuous
    one), since no grid constrains them.

    >>> from steertorch.group import so3_group
    >>> gs = no_base_space(so3_group())
    >>> gs.dimensionality, gs.name
    (0, 'SO(3)_on_R0')
    >>> len(gs.testing_elements)
    16
    """

    def __init__(self, fibergroup: Group, name: str | None = None, maximum_frequency: int | None = None) -> None:
        if not isinstance(fibergroup, Group):
            raise ValueError(f"fibergroup must be a steertorch.group.Group, got {type(fibergroup).__name__}")
        if maximum_frequency is not None and (isinstance(maximum_frequency, bool)
                                              or not isinstance(maximum_frequency, int) or maximum_frequency < 0):
            raise ValueError(f"maximum_frequency must be an int >= 0, got {maximum_frequency!r}")
        self.fibergroup = fibergroup
        self.dimensionality = 0
        self.frame = torch.zeros(0, 0, dtype=torch.float64)
        self.maximum_frequency = maximum_frequency
        self.name = name if name is not None else f"{fibergroup.name}_on_R0"
        self._frame_is_identity = True

    @property
    def basespace_repr(self):
        raise ValueError(f"{self.name}: there is no base space, so no base-space representation")

    def basespace_action(self, g: torch.Tensor) -> torch.Tensor:
        """The empty ``[..., 0, 0]`` matrices (float64)."""
        batch = g.shape[:g.dim() - len(self.fibergroup.element_shape)]
        return torch.zeros(*batch, 0, 0, dtype=torch.float64, device=g.device)

    @functools.cached_property
    def testing_elements(self) -> list[torch.Tensor]:
        """The fibre group's testing elements (all elements of a finite group, 16 fixed ones otherwise)."""
        return list(self.fibergroup.testing_elements())

    def restrict(self, subgroup_id: str | Group) -> tuple[GSpace0D, Callable[[torch.Tensor], torch.Tensor]]:
        """The 0-dimensional G-space of a subgroup and the inclusion H -> G."""
        if isinstance(subgroup_id, Group):
            sub, include = subgroup_id, self.fibergroup.inclusion(subgroup_id)
        else:
            sub, include = self.fibergroup.subgroup(subgroup_id)
        return GSpace0D(sub, maximum_frequency=self.maximum_frequency), include

    def _key(self) -> tuple:
        return (self.fibergroup, 0, None)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GSpace) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


def no_base_space(G: Group) -> GSpace0D:  # noqa: N803 - escnn's name
    """The G-space of G acting on no base space (escnn's ``no_base_space``): features ``[B, C]``.

    >>> from steertorch.group import cyclic_group
    >>> no_base_space(cyclic_group(4)).regular_repr.size
    4
    """
    return GSpace0D(G)
