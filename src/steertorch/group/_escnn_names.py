"""escnn's group constructors by name, on steertorch's groups (escnn's ``escnn.group`` factory names).

The ``maximum_frequency`` arguments of escnn's continuous groups pre-fill its irreps cache; steertorch builds an
irrep on first use and caches it, so the argument is accepted for compatibility and has no effect.
"""

from __future__ import annotations

from collections.abc import Hashable

from ._continuous import InversionProduct
from ._factory import cyclic_group
from ._finite import CyclicGroup
from ._group import Group, group_from_name
from ._point_groups import (
    PointGroup,
    cinfh_group,
    cnh_group,
    dinfh_group,
    dnh_group,
    icosahedral_group,
    octahedral_group,
)

__all__ = [
    "trivial_group",
    "octa_group",
    "full_octa_group",
    "ico_group",
    "full_ico_group",
    "cylinder_group",
    "full_cylinder_group",
    "cylinder_discrete_group",
    "full_cylinder_discrete_group",
    "bl_irreps",
]


def _check_freq(maximum_frequency: int) -> None:
    if isinstance(maximum_frequency, bool) or not isinstance(maximum_frequency, int) or maximum_frequency < 0:
        raise ValueError(f"maximum_frequency must be an int >= 0, got {maximum_frequency!r}")


def trivial_group(ambient_dim: int = 2) -> CyclicGroup:
    """The trivial group C_1 (escnn's ``trivial_group``).

    >>> trivial_group().order
    1
    """
    return cyclic_group(1, ambient_dim)


def octa_group() -> PointGroup:
    """O, the 24 rotations of the cube (escnn's ``octa_group``; orientation in :func:`octahedral_group`).

    >>> octa_group().order
    24
    """
    return octahedral_group("O")


def full_octa_group() -> PointGroup:
    """Oh = O x {+-I}, the 48 symmetries of the cube (escnn's ``full_octa_group``).

    >>> full_octa_group().order
    48
    """
    return octahedral_group("Oh")


def ico_group() -> PointGroup:
    """I, the 60 rotations of the icosahedron (escnn's ``ico_group``).

    >>> ico_group().order
    60
    """
    return icosahedral_group("I")


def full_ico_group() -> PointGroup:
    """Ih = I x {+-I}, the 120 symmetries of the icosahedron (escnn's ``full_ico_group``).

    >>> full_ico_group().order
    120
    """
    return icosahedral_group("Ih")


def cylinder_group(maximum_frequency: int = 3) -> InversionProduct:
    r"""C_inf h = SO(2) x C_2: rotations about z and the mirror z -> -z (escnn's ``cylinder_group``,
    :math:`C_2 \times SO(2)`).

    >>> cylinder_group().name
    'Cinfh'
    """
    _check_freq(maximum_frequency)
    return cinfh_group()


def full_cylinder_group(maximum_frequency: int = 3) -> InversionProduct:
    r"""D_inf h = O(2) x C_2, the symmetries of a cylinder (escnn's ``full_cylinder_group``).

    >>> full_cylinder_group().name
    'Dinfh'
    """
    _check_freq(maximum_frequency)
    return dinfh_group()


def cylinder_discrete_group(n: int) -> PointGroup:
    r"""C_nh = C_n x C_2 (escnn's ``cylinder_discrete_group``).

    >>> cylinder_discrete_group(4).order
    8
    """
    return cnh_group(n)


def full_cylinder_discrete_group(n: int) -> PointGroup:
    r"""D_nh = D_n x C_2 (escnn's ``full_cylinder_discrete_group``).

    >>> full_cylinder_discrete_group(3).order
    12
    """
    return dnh_group(n)


def bl_irreps(group: Group | str, band_limit: int | None = None) -> list[Hashable]:
    """The labels of the irreps of ``group`` (a group or a name) up to ``band_limit`` (all for finite groups), in
    the group's order: the ids escnn's ``G.bl_irreps(L)`` lists, in steertorch's label convention.

    >>> from steertorch.group import o2_group
    >>> bl_irreps("SO2", 2)
    [0, 1, 2]
    >>> bl_irreps(o2_group(), 1)
    [(0, 0), (1, 0), (1, 1)]
    """
    if isinstance(group, str):
        group = group_from_name(group)
    if not isinstance(group, Group):
        raise ValueError(f"bl_irreps: expected a Group or a group name, got {type(group).__name__}")
    return group.bl_irreps(band_limit)
