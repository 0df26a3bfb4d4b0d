"""O(3) in e3nn's conventions: spherical harmonics, Wigner D and 3j symbols, rotations.

l = 1 is the Cartesian vector (x, y, z) and :math:`D^1(R) = R`; harmonics and 3j symbols
are numerically equal to e3nn's (>= 0.5). See ``docs/conventions.md``.
"""

from ._irreps_parse import parse_irrep, parse_irreps
from ._rotation import (
    axis_angle_to_matrix,
    check_orthogonal,
    check_rotation,
    matrix_to_axis_angle,
    matrix_to_quaternion,
    quaternion_to_matrix,
    rand_matrix,
    rand_quaternion,
)
from ._spherical_harmonics import spherical_harmonics
from ._wigner import change_basis_real_to_complex, su2_clebsch_gordan, wigner_3j, wigner_D

__all__ = [
    "spherical_harmonics",
    "wigner_D",
    "wigner_3j",
    "su2_clebsch_gordan",
    "change_basis_real_to_complex",
    "rand_matrix",
    "rand_quaternion",
    "check_rotation",
    "check_orthogonal",
    "quaternion_to_matrix",
    "matrix_to_quaternion",
    "axis_angle_to_matrix",
    "matrix_to_axis_angle",
    "parse_irrep",
    "parse_irreps",
]
