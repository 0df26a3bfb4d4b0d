"""O(3) in e3nn's conventions: spherical harmonics, Wigner D and 3j symbols, rotations.

l = 1 is the Cartesian vector (x, y, z) and :math:`D^1(R) = R`; harmonics and 3j symbols
are numerically equal to e3nn's (>= 0.5). See ``docs/conventions.md``.
"""

from ..group._angles import (
    angles_to_axis_angle,
    angles_to_matrix,
    angles_to_quaternion,
    angles_to_xyz,
    axis_angle_to_angles,
    compose_angles,
    identity_angles,
    inverse_angles,
    matrix_to_angles,
    matrix_x,
    matrix_y,
    matrix_z,
    quaternion_to_angles,
    rand_angles,
    xyz_to_angles,
)
from ..group._irreps_parse import parse_irrep, parse_irreps
from ..group._rotation import (
    axis_angle_to_matrix,
    axis_angle_to_quaternion,
    check_orthogonal,
    check_rotation,
    compose_axis_angle,
    compose_quaternion,
    identity_quaternion,
    inverse_quaternion,
    matrix_to_axis_angle,
    matrix_to_quaternion,
    quaternion_to_axis_angle,
    quaternion_to_matrix,
    rand_axis_angle,
    rand_matrix,
    rand_quaternion,
)
from ..group._spherical_harmonics import spherical_harmonics
from ..group._wigner import (
    change_basis_real_to_complex,
    so3_generators,
    su2_clebsch_gordan,
    su2_generators,
    wigner_3j,
    wigner_D,
)
from . import experimental, irrep
from ._angular_harmonics import (
    Legendre,
    SphericalHarmonicsAlphaBeta,
    spherical_harmonics_alpha,
    spherical_harmonics_alpha_beta,
)
from ._cartesian_tensor import CartesianTensor, ReducedTensorProducts
from ._e3nn_compat import load_e3nn_state_dict
from ._gaunt import GauntTensorProduct, gaunt_coefficients
from ._irreps import Irrep, Irreps, MulIr
from ._linear import Linear
from ._norm import Norm
from ._plot import plot_spherical_signal
from ._s2grid import SphericalFourierTransform, sphere_fourier
from ._s2grid_e3nn import FromS2Grid, SO3Grid, ToS2Grid, irfft, rfft, s2_grid, spherical_harmonics_s2_grid
from ._so2_tensor_product import SO2TensorProduct
from ._spherical_harmonics_module import SphericalHarmonics
from ._spherical_tensor import SphericalTensor
from ._tensor_product import FullyConnectedTensorProduct, Instruction, TensorProduct
from ._tensor_product_fused import release_buffers as release_tensor_product_buffers
from ._tensor_product_kernel import cpu_kernel_available
from ._tensor_product_v2 import ElementwiseTensorProductv2, FullTensorProductv2
from ._tensor_product_variants import ElementwiseTensorProduct, FullTensorProduct, TensorSquare

__all__ = [
    "Irrep",
    "Irreps",
    "MulIr",
    "TensorProduct",
    "FullyConnectedTensorProduct",
    "ElementwiseTensorProduct",
    "FullTensorProduct",
    "TensorSquare",
    "SO2TensorProduct",
    "GauntTensorProduct",
    "gaunt_coefficients",
    "FullTensorProductv2",
    "ElementwiseTensorProductv2",
    "release_tensor_product_buffers",
    "cpu_kernel_available",
    "load_e3nn_state_dict",
    "Instruction",
    "Linear",
    "spherical_harmonics",
    "SphericalHarmonics",
    "spherical_harmonics_alpha",
    "spherical_harmonics_alpha_beta",
    "SphericalHarmonicsAlphaBeta",
    "Legendre",
    "Norm",
    "irrep",
    "experimental",
    "wigner_D",
    "wigner_3j",
    "su2_clebsch_gordan",
    "change_basis_real_to_complex",
    "su2_generators",
    "so3_generators",
    "rand_matrix",
    "rand_quaternion",
    "check_rotation",
    "check_orthogonal",
    "quaternion_to_matrix",
    "matrix_to_quaternion",
    "axis_angle_to_matrix",
    "matrix_to_axis_angle",
    "identity_quaternion",
    "inverse_quaternion",
    "compose_quaternion",
    "axis_angle_to_quaternion",
    "quaternion_to_axis_angle",
    "rand_axis_angle",
    "compose_axis_angle",
    "identity_angles",
    "rand_angles",
    "compose_angles",
    "inverse_angles",
    "matrix_x",
    "matrix_y",
    "matrix_z",
    "angles_to_matrix",
    "matrix_to_angles",
    "angles_to_quaternion",
    "quaternion_to_angles",
    "angles_to_axis_angle",
    "axis_angle_to_angles",
    "angles_to_xyz",
    "xyz_to_angles",
    "parse_irrep",
    "parse_irreps",
    "s2_grid",
    "spherical_harmonics_s2_grid",
    "rfft",
    "irfft",
    "ToS2Grid",
    "FromS2Grid",
    "SO3Grid",
    "SphericalFourierTransform",
    "sphere_fourier",
    "ReducedTensorProducts",
    "CartesianTensor",
    "SphericalTensor",
    "plot_spherical_signal",
]
