"""Groups, irreducible representations, representations, Clebsch-Gordan coefficients.

Every group is a closed subgroup of O(2) or O(3); elements are batched tensors (matrices
for continuous groups, indices for finite ones). See ``docs/conventions.md``.

Inside, bottom first: a file imports only files listed before it (``tests/test_layering.py`` checks that the
files import each other without a circle, imports inside functions included).

Math on tensors, no group objects:

- ``_rotation``: rotation matrices, quaternions, axis-angle; ``rotation_2d``
- ``_angles``: e3nn's Euler angles, points of the sphere as angles
- ``_irreps_parse``: the parser of ``"16x0e + 8x1o"`` and ``"1o"``
- ``_spherical_harmonics``, ``_circular_harmonics``: harmonics on R^3 and R^2
- ``_wigner``: Wigner D matrices and 3j symbols of SO(3)
- ``_intertwiners``: isometric intertwiners from matrices sampled on a quadrature (Reynolds projector)

The abstraction:

- ``_group``: :class:`Group`, :class:`Representation`, :class:`IrreducibleRepresentation` (defined in terms of
  each other, hence one file), with what works the same for every group: decomposition into irreps,
  Clebsch-Gordan coefficients, subgroups, quotient representations, and the table of groups by name that
  :func:`group_from_name` and ``Group.subgroup`` read. The files below fill the table at import; this
  ``__init__`` imports them all, so it is full once ``steertorch.group`` is imported.

The groups:

- ``_finite``: :class:`FiniteGroup`, :class:`CyclicGroup`, :class:`DihedralGroup`
- ``_continuous``: :class:`SO2`, :class:`O2`, :class:`SO3`, :class:`InversionProduct`
- ``_factory``: the cached constructors (``so2_group()``, ``cyclic_group(8)``, ...) and their names
  (``"SO2"``, ``"C{N}"``, ...)
- ``_point_groups``: :class:`PointGroup`, the 3D point groups (T, O, I, C_N h, D_N h, ...) and their names

Built on groups:

- ``_fourier``: Fourier transforms on groups, ``bl_quotient_representation``
- ``_induced``: induced representations of finite groups
- ``_escnn_names``: escnn's constructor names (``octa_group()``, ...) and ``bl_irreps``
"""

from ._circular_harmonics import circular_harmonics
from ._continuous import O2, SO2, SO3, InversionProduct
from ._escnn_names import (
    bl_irreps,
    cylinder_discrete_group,
    cylinder_group,
    full_cylinder_discrete_group,
    full_cylinder_group,
    full_ico_group,
    full_octa_group,
    ico_group,
    octa_group,
    trivial_group,
)
from ._factory import (
    cyclic_group,
    dihedral_group,
    o2_group,
    o3_group,
    so2_group,
    so3_group,
)
from ._finite import CyclicGroup, DihedralGroup, FiniteGroup
from ._fourier import GroupFourierTransform, bl_quotient_representation, fourier_transform
from ._group import (
    Group,
    IrreducibleRepresentation,
    Representation,
    available_groups,
    directsum,
    group_from_name,
)
from ._induced import induced_representation
from ._point_groups import (
    PointGroup,
    cinfh_group,
    cnh_group,
    dinfh_group,
    dnh_group,
    icosahedral_group,
    octahedral_group,
    tetrahedral_group,
)
from ._rotation import rotation_2d

__all__ = [
    "circular_harmonics",
    "Group",
    "FiniteGroup",
    "SO2",
    "O2",
    "SO3",
    "InversionProduct",
    "CyclicGroup",
    "DihedralGroup",
    "IrreducibleRepresentation",
    "Representation",
    "directsum",
    "rotation_2d",
    "group_from_name",
    "available_groups",
    "so2_group",
    "o2_group",
    "so3_group",
    "o3_group",
    "cyclic_group",
    "dihedral_group",
    "GroupFourierTransform",
    "fourier_transform",
    "bl_quotient_representation",
    "induced_representation",
    "PointGroup",
    "tetrahedral_group",
    "octahedral_group",
    "icosahedral_group",
    "cnh_group",
    "dnh_group",
    "cinfh_group",
    "dinfh_group",
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
