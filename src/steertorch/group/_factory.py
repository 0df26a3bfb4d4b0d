"""The short constructors of the planar and 3D rotation groups (``so2_group()``, ``cyclic_group(8)``, ...), cached,
and their names for :func:`~steertorch.group.group_from_name` (``"SO2"``, ``"C8"``, ...)."""

from __future__ import annotations

import functools

from ._continuous import O2, SO2, SO3, InversionProduct
from ._finite import CyclicGroup, DihedralGroup
from ._group import register_group, register_pattern

__all__ = [
    "so2_group",
    "o2_group",
    "so3_group",
    "o3_group",
    "cyclic_group",
    "dihedral_group",
]


@functools.cache
def so2_group(ambient_dim: int = 2) -> SO2:
    """SO(2), in the plane or (``ambient_dim=3``) about the z axis. Cached singleton.

    >>> so2_group().name
    'SO(2)'
    """
    return SO2(ambient_dim)


@functools.cache
def o2_group(ambient_dim: int = 2, flip: str = "rotation") -> O2:
    """O(2), in the plane or about the z axis (flip: half turn about x, or mirror y -> -y).

    >>> o2_group().order is None
    True
    """
    return O2(ambient_dim, flip)


@functools.cache
def so3_group() -> SO3:
    """SO(3), the rotations of space.

    >>> so3_group().irrep(1).size
    3
    """
    return SO3()


@functools.cache
def o3_group() -> InversionProduct:
    """O(3) = SO(3) x {+-I}, irreps (l, p) as in e3nn.

    >>> o3_group().irrep("2e").label
    (2, 1)
    """
    return InversionProduct(SO3())


@functools.cache
def cyclic_group(n: int, ambient_dim: int = 2) -> CyclicGroup:
    """C_N, in the plane or about the z axis.

    >>> cyclic_group(8).order
    8
    """
    return CyclicGroup(n, ambient_dim)


@functools.cache
def dihedral_group(n: int, ambient_dim: int = 2, flip: str = "rotation") -> DihedralGroup:
    """D_N, in the plane or about the z axis (flip: half turn about x, or mirror y -> -y).

    >>> dihedral_group(4).order
    8
    """
    return DihedralGroup(n, ambient_dim, flip)


# the names group_from_name knows (the 3D point groups register theirs in _point_groups.py)
register_group("SO2", (2, 3), so2_group)
register_group("O2", (2, 3), lambda d: o2_group(d, "rotation"))
register_group("SO3", (3,), lambda d: so3_group())
register_group("O3", (3,), lambda d: o3_group())
register_group("trivial", (2, 3), lambda d: cyclic_group(1, d))
register_pattern("C{N}", r"^C(\d+)$", (2, 3), lambda m, d: cyclic_group(int(m.group(1)), d))
register_pattern("D{N}", r"^D(\d+)$", (2, 3), lambda m, d: dihedral_group(int(m.group(1)), d, "rotation"))
register_pattern("C{N}v", r"^C(\d+)v$", (3,), lambda m, d: dihedral_group(int(m.group(1)), 3, "mirror"))
