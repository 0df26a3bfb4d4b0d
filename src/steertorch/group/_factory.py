"""Groups by name: ``group_from_name("D4")``, ``group_from_name("Ih")``, and the short constructors."""

from __future__ import annotations

import functools
import re

from ._continuous import O2, SO2, SO3, InversionProduct
from ._finite import CyclicGroup, DihedralGroup
from ._group import Group

__all__ = [
    "group_from_name",
    "available_groups",
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


# name -> (ambient dims, factory(ambient_dim)); the 3D point groups register themselves here
_FIXED: dict[str, tuple[tuple[int, ...], object]] = {
    "SO2": ((2, 3), lambda d: so2_group(d)),
    "O2": ((2, 3), lambda d: o2_group(d, "rotation")),
    "SO3": ((3,), lambda d: so3_group()),
    "O3": ((3,), lambda d: o3_group()),
    "trivial": ((2, 3), lambda d: cyclic_group(1, d)),
}
_PATTERNS: list[tuple[re.Pattern, tuple[int, ...], object]] = [
    (re.compile(r"^C(\d+)$"), (2, 3), lambda m, d: cyclic_group(int(m.group(1)), d)),
    (re.compile(r"^D(\d+)$"), (2, 3), lambda m, d: dihedral_group(int(m.group(1)), d, "rotation")),
    (re.compile(r"^C(\d+)v$"), (3,), lambda m, d: dihedral_group(int(m.group(1)), 3, "mirror")),
]


def register_group(name: str, ambient_dims: tuple[int, ...], factory) -> None:
    """Register a named group (factory takes the ambient dimension)."""
    _FIXED[name] = (ambient_dims, factory)


def available_groups() -> list[str]:
    """Names accepted by :func:`group_from_name` (``{N}`` stands for any N >= 1).

    >>> "SO3" in available_groups() and "C{N}" in available_groups()
    True
    """
    _load_point_groups()
    return sorted(_FIXED) + ["C{N}", "D{N}", "C{N}v", "C{N}h", "D{N}h"]


def _load_point_groups() -> None:
    try:
        from . import _point_groups  # noqa: F401  (registers T, O, I, ... on import)
    except ImportError:
        pass


def group_from_name(name: str, ambient_dim: int | None = None) -> Group:
    """The group called ``name`` acting on R^ambient_dim (default: 2 for planar names, else 3).

    Names: ``SO2``, ``O2``, ``C{N}``, ``D{N}`` (plane, or about z in space), ``SO3``,
    ``O3``, ``C{N}v`` and the 3D point groups listed by :func:`available_groups`.

    >>> group_from_name("D4").order, group_from_name("C4", ambient_dim=3).ambient_dim
    (8, 3)
    >>> group_from_name("X9")
    Traceback (most recent call last):
    ...
    ValueError: unknown group 'X9': expected one of ...
    """
    if not isinstance(name, str):
        raise ValueError(f"a group name is a string such as 'SO3' or 'D4', got {name!r}")
    _load_point_groups()
    key = name.replace("(", "").replace(")", "").replace("_", "").strip()
    if key in _FIXED:
        dims, factory = _FIXED[key]
        d = ambient_dim if ambient_dim is not None else dims[0]
        if d not in dims:
            raise ValueError(f"group {name!r} acts on R^{dims}, not on R^{d}")
        return factory(d)
    for pattern, dims, factory in _PATTERNS:
        m = pattern.match(key)
        if m:
            d = ambient_dim if ambient_dim is not None else dims[0]
            if d not in dims:
                raise ValueError(f"group {name!r} acts on R^{dims}, not on R^{d}")
            return factory(m, d)
    raise ValueError(f"unknown group {name!r}: expected one of {', '.join(available_groups())}")
