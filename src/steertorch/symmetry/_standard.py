r"""The point groups in their standard frames, by Schoenflies symbol, from :mod:`steertorch.group`.

Standard frames (those of :mod:`steertorch.group`): the principal axis is z; ``C{n}v`` has the
mirror y -> -y; ``D{n}``, ``D{n}h`` and ``D{n}d`` a half turn about x; ``Cs`` the mirror z -> -z;
``T``, ``Td``, ``Th``, ``O``, ``Oh`` the cube aligned with the axes; ``I``, ``Ih`` 2-fold axes along
x, y, z and a 5-fold axis along (0, 1, phi). ``Ci``, ``S{2n}`` and ``D{n}d`` are not registered in
:func:`~steertorch.group.group_from_name`; they are built here as :class:`~steertorch.group.PointGroup`.
"""

from __future__ import annotations

import functools
import re

import numpy as np
import torch

from ..group import FiniteGroup, Group, PointGroup, cnh_group, group_from_name
from ..group._point_groups import _axis_rotation

__all__ = ["standard_point_group", "standard_elements", "LINEAR_GROUPS"]

#: the continuous groups of linear structures
LINEAR_GROUPS = ("Cinfv", "Dinfh")
_C2X = np.diag([1.0, -1.0, -1.0])
_MIRROR_Z = np.diag([1.0, 1.0, -1.0])


def _s2n(n: int) -> np.ndarray:
    """The improper rotation S_2n about z: turn by pi / n, then the mirror z -> -z."""
    return _MIRROR_Z @ _axis_rotation([0.0, 0.0, 1.0], np.pi / n)


@functools.cache
def standard_point_group(name: str) -> Group:
    """The point group ``name`` (Schoenflies symbol, e.g. ``"D3d"``) in its standard frame.

    >>> standard_point_group("D3d").order, standard_point_group("S4").order, standard_point_group("Cs").order
    (12, 4, 2)
    """
    if not isinstance(name, str):
        raise ValueError(f"a point group is named by its Schoenflies symbol (str), got {name!r}")
    if name == "Ci":
        return PointGroup("Ci", [-np.eye(3)])
    if name == "Cs":
        return cnh_group(1)
    m = re.fullmatch(r"S(\d+)", name)
    if m:
        k = int(m.group(1))
        if k < 2 or k % 2:
            raise ValueError(f"S_n point groups need an even n >= 2, got {name!r}")
        return PointGroup(name, [_s2n(k // 2)]) if k > 2 else PointGroup("Ci", [-np.eye(3)])
    m = re.fullmatch(r"D(\d+)d", name)
    if m:
        n = int(m.group(1))
        if n < 1:
            raise ValueError(f"D_n d needs n >= 1, got {name!r}")
        return PointGroup(name, [_s2n(n), _C2X])
    if re.fullmatch(r"C\d+|D\d+|C\d+v", name):
        return group_from_name(name, 3)
    try:
        return group_from_name(name)
    except ValueError:
        raise ValueError(f"unknown point group {name!r}: expected a Schoenflies symbol such as 'C1', 'Ci', "
                         f"'Cs', 'C2v', 'D3d', 'S4', 'Td', 'Oh', 'Ih', 'Cinfv' or 'Dinfh'") from None


def standard_elements(name: str, linear_order: int = 12) -> torch.Tensor:
    """Matrices ``[|G|, 3, 3]`` (float64) of the point group ``name`` in its standard frame.

    The linear groups ``Cinfv`` and ``Dinfh`` are infinite: they are represented by their subgroups
    ``C{n}v`` and ``D{n}h`` with ``n = linear_order``, which have the same invariants in every irrep
    of degree ``l < linear_order``.

    >>> standard_elements("C2v").shape, standard_elements("Dinfh", linear_order=4).shape
    (torch.Size([4, 3, 3]), torch.Size([16, 3, 3]))
    """
    if name == "Cinfv":
        name = f"C{linear_order}v"
    elif name == "Dinfh":
        name = f"D{linear_order}h"
    group = standard_point_group(name)
    if not isinstance(group, FiniteGroup):
        raise ValueError(f"{name!r} is not a finite point group")
    return group._matrices.clone()
