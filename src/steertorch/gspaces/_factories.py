"""Factories of G-spaces with escnn's names: ``rot2dOnR2(N)``, ``flipRot2dOnR2(N)``, ``octaOnR3()``, ...

``N = -1`` means the continuous group (SO(2) or O(2)); other N give the cyclic / dihedral group of order N / 2N.
"""

from __future__ import annotations

import functools

import numpy as np

from ..group import (
    cinfh_group,
    cnh_group,
    cyclic_group,
    dihedral_group,
    dinfh_group,
    dnh_group,
    icosahedral_group,
    o2_group,
    o3_group,
    octahedral_group,
    so2_group,
    so3_group,
    tetrahedral_group,
)
from ..group._point_groups import PointGroup
from ._gspace import GSpace, rotation_frame

__all__ = [
    "rot2dOnR2",
    "flipRot2dOnR2",
    "flip2dOnR2",
    "trivialOnR2",
    "rot3dOnR3",
    "flipRot3dOnR3",
    "octaOnR3",
    "fullOctaOnR3",
    "icoOnR3",
    "fullIcoOnR3",
    "tetraOnR3",
    "fullTetraOnR3",
    "pyritoOnR3",
    "rot2dOnR3",
    "cyclicOnR3",
    "dihedralOnR3",
    "conicalOnR3",
    "cylindricalOnR3",
    "fullCylindricalOnR3",
    "mirOnR3",
    "invOnR3",
    "trivialOnR3",
]


def _check_n(n: int, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or (n < 1 and n != -1):
        raise ValueError(f"{what}: N must be -1 (continuous group) or an int >= 1, got {n!r}")
    return n


def _check_freq(f: int) -> int:
    if isinstance(f, bool) or not isinstance(f, int) or f < 0:
        raise ValueError(f"maximum_frequency must be an int >= 0, got {f!r}")
    return f


# ---------------------------------------------------------------------------- the plane
@functools.cache
def rot2dOnR2(N: int = -1, maximum_frequency: int = 6) -> GSpace:  # noqa: N802, N803 - escnn's names
    """Rotations of the plane: C_N (``N >= 1``) or SO(2) (``N = -1``).

    >>> rot2dOnR2(8).name, rot2dOnR2().fibergroup.name
    ('C8_on_R2', 'SO(2)')
    """
    _check_n(N, "rot2dOnR2")
    g = so2_group() if N == -1 else cyclic_group(N)
    return GSpace(g, 2, maximum_frequency=_check_freq(maximum_frequency))


@functools.cache
def flipRot2dOnR2(N: int = -1, axis: float = 0.0, maximum_frequency: int = 6) -> GSpace:  # noqa: N802, N803
    """Rotations and reflections of the plane: D_N (``N >= 1``) or O(2) (``N = -1``); the reflection fixes the
    line at angle ``axis`` (radians from the x axis).

    >>> flipRot2dOnR2(4).fibergroup.order
    8
    """
    _check_n(N, "flipRot2dOnR2")
    g = o2_group() if N == -1 else dihedral_group(N)
    frame = None if axis == 0.0 else rotation_frame(float(axis))
    name = f"{g.name}_on_R2" + ("" if axis == 0.0 else f"[axis={float(axis):.4g}]")
    return GSpace(g, 2, name=name, maximum_frequency=_check_freq(maximum_frequency), frame=frame)


@functools.cache
def flip2dOnR2(axis: float = np.pi / 2) -> GSpace:  # noqa: N802
    """The reflection of the plane fixing the line at angle ``axis`` (default pi / 2: the y axis), group D1.

    >>> import torch
    >>> gs = flip2dOnR2()
    >>> gs.basespace_action(torch.tensor(1))
    tensor([[-1.,  0.],
            [ 0.,  1.]], dtype=torch.float64)
    """
    frame = None if axis == 0.0 else rotation_frame(float(axis))
    return GSpace(dihedral_group(1), 2, name=f"flip_on_R2[axis={float(axis):.4g}]", frame=frame)


@functools.cache
def trivialOnR2() -> GSpace:  # noqa: N802
    """The trivial group acting on the plane (ordinary CNNs).

    >>> trivialOnR2().fibergroup.order
    1
    """
    return GSpace(cyclic_group(1), 2, name="trivial_on_R2")


# ---------------------------------------------------------------------------- space
@functools.cache
def rot3dOnR3(maximum_frequency: int = 2) -> GSpace:  # noqa: N802
    """SO(3) acting on space.

    >>> rot3dOnR3().fibergroup.name
    'SO(3)'
    """
    return GSpace(so3_group(), 3, maximum_frequency=_check_freq(maximum_frequency))


@functools.cache
def flipRot3dOnR3(maximum_frequency: int = 2) -> GSpace:  # noqa: N802
    """O(3) acting on space.

    >>> flipRot3dOnR3().fibergroup.name
    'O(3)'
    """
    return GSpace(o3_group(), 3, maximum_frequency=_check_freq(maximum_frequency))


@functools.cache
def octaOnR3() -> GSpace:  # noqa: N802
    """O, the 24 rotations of the cube aligned with the axes (quarter turns about x, y, z).

    >>> octaOnR3().fibergroup.order
    24
    """
    return GSpace(octahedral_group("O"), 3)


@functools.cache
def fullOctaOnR3() -> GSpace:  # noqa: N802
    """Oh = O x {+-I}, all 48 symmetries of the cube (the symmetries of a cubic grid).

    >>> fullOctaOnR3().fibergroup.order
    48
    """
    return GSpace(octahedral_group("Oh"), 3)


@functools.cache
def icoOnR3() -> GSpace:  # noqa: N802
    """I, the 60 rotations of the icosahedron.

    >>> icoOnR3().fibergroup.order
    60
    """
    return GSpace(icosahedral_group("I"), 3)


@functools.cache
def fullIcoOnR3() -> GSpace:  # noqa: N802
    """Ih = I x {+-I}.

    >>> fullIcoOnR3().fibergroup.order
    120
    """
    return GSpace(icosahedral_group("Ih"), 3)


@functools.cache
def tetraOnR3() -> GSpace:  # noqa: N802
    """T, the 12 rotations of the tetrahedron.

    >>> tetraOnR3().fibergroup.order
    12
    """
    return GSpace(tetrahedral_group("T"), 3)


@functools.cache
def fullTetraOnR3() -> GSpace:  # noqa: N802
    """Td, the 24 symmetries (rotations and mirrors) of the tetrahedron.

    >>> fullTetraOnR3().fibergroup.name
    'Td'
    """
    return GSpace(tetrahedral_group("Td"), 3)


@functools.cache
def pyritoOnR3() -> GSpace:  # noqa: N802
    """Th = T x {+-I} (the pyritohedral group).

    >>> pyritoOnR3().fibergroup.order
    24
    """
    return GSpace(tetrahedral_group("Th"), 3)


@functools.cache
def rot2dOnR3(n: int = -1, maximum_frequency: int = 6) -> GSpace:  # noqa: N802
    """Rotations about the z axis: C_N (``n >= 1``) or SO(2) (``n = -1``).

    >>> rot2dOnR3(4).fibergroup.name
    'C4z'
    """
    _check_n(n, "rot2dOnR3")
    g = so2_group(3) if n == -1 else cyclic_group(n, 3)
    return GSpace(g, 3, maximum_frequency=_check_freq(maximum_frequency))


def cyclicOnR3(n: int) -> GSpace:  # noqa: N802
    """C_N about the z axis (same as ``rot2dOnR3(n)``).

    >>> cyclicOnR3(3).fibergroup.order
    3
    """
    if n == -1:
        raise ValueError("cyclicOnR3 needs N >= 1; use rot2dOnR3(-1) for SO(2)")
    return rot2dOnR3(n)


@functools.cache
def dihedralOnR3(n: int = -1, maximum_frequency: int = 6) -> GSpace:  # noqa: N802
    """D_N about z with the half turn about x (``n >= 1``), or O(2) of such rotations (``n = -1``); a subgroup
    of SO(3).

    >>> dihedralOnR3(4).fibergroup.name
    'D4z'
    """
    _check_n(n, "dihedralOnR3")
    g = o2_group(3, "rotation") if n == -1 else dihedral_group(n, 3, "rotation")
    return GSpace(g, 3, maximum_frequency=_check_freq(maximum_frequency))


@functools.cache
def conicalOnR3(n: int = -1, maximum_frequency: int = 6) -> GSpace:  # noqa: N802
    """The symmetries of a cone about z: C_N v (C_N and the mirror y -> -y, ``n >= 1``) or O(2) (``n = -1``).

    >>> conicalOnR3(3).fibergroup.name
    'D3zv'
    """
    _check_n(n, "conicalOnR3")
    g = o2_group(3, "mirror") if n == -1 else dihedral_group(n, 3, "mirror")
    return GSpace(g, 3, maximum_frequency=_check_freq(maximum_frequency))


@functools.cache
def cylindricalOnR3(n: int = -1, maximum_frequency: int = 6) -> GSpace:  # noqa: N802
    """C_N h (C_N about z and the mirror z -> -z, ``n >= 1``) or C_inf h = SO(2) x {+-I} (``n = -1``).

    >>> cylindricalOnR3(4).fibergroup.order
    8
    """
    _check_n(n, "cylindricalOnR3")
    g = cinfh_group() if n == -1 else cnh_group(n)
    return GSpace(g, 3, maximum_frequency=_check_freq(maximum_frequency))


@functools.cache
def fullCylindricalOnR3(n: int = -1, maximum_frequency: int = 6) -> GSpace:  # noqa: N802
    """D_N h (``n >= 1``) or D_inf h = O(2) x {+-I} (``n = -1``): all symmetries of a cylinder (prism).

    >>> fullCylindricalOnR3(4).fibergroup.order
    16
    """
    _check_n(n, "fullCylindricalOnR3")
    g = dinfh_group() if n == -1 else dnh_group(n)
    return GSpace(g, 3, maximum_frequency=_check_freq(maximum_frequency))


@functools.cache
def mirOnR3() -> GSpace:  # noqa: N802
    """The mirror z -> -z (group C1h of order 2).

    >>> mirOnR3().fibergroup.order
    2
    """
    return GSpace(cnh_group(1), 3, name="mirror_on_R3")


@functools.cache
def _inversion_group() -> PointGroup:
    return PointGroup("Ci", [-np.eye(3)], "inversion")


@functools.cache
def invOnR3() -> GSpace:  # noqa: N802
    """The inversion x -> -x (group Ci of order 2).

    >>> invOnR3().fibergroup.order
    2
    """
    return GSpace(_inversion_group(), 3, name="inversion_on_R3")


@functools.cache
def trivialOnR3() -> GSpace:  # noqa: N802
    """The trivial group acting on space.

    >>> trivialOnR3().fibergroup.order
    1
    """
    return GSpace(cyclic_group(1, 3), 3, name="trivial_on_R3")
