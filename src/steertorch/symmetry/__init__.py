"""Symmetry tools: point groups of structures, selection rules, symmetry breaking, geometry <-> features.

Built on :mod:`steertorch.group` (the point groups) and :mod:`steertorch.o3` (irreps, harmonics).
See ``docs/symmetry.md``.
"""

from ._autoencoder import ShapeAutoencoder
from ._breaking import SymmetryBreakingResult, break_symmetry
from ._classify import classify_elements
from ._encoding import decode_points, encode_points
from ._point_group import PointGroupResult, point_group
from ._selection import group_elements, invariant_basis
from ._standard import standard_elements, standard_point_group

__all__ = [
    "point_group",
    "PointGroupResult",
    "classify_elements",
    "invariant_basis",
    "group_elements",
    "break_symmetry",
    "SymmetryBreakingResult",
    "encode_points",
    "decode_points",
    "ShapeAutoencoder",
    "standard_point_group",
    "standard_elements",
]
