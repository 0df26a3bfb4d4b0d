"""Groups, irreducible representations, representations, Clebsch-Gordan coefficients.

Every group is a closed subgroup of O(2) or O(3); elements are batched tensors (matrices
for continuous groups, indices for finite ones). See ``docs/conventions.md``.
"""

from ._circular_harmonics import circular_harmonics
from ._continuous import O2, SO2, SO3, InversionProduct, rotation_2d
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
    available_groups,
    cyclic_group,
    dihedral_group,
    group_from_name,
    o2_group,
    o3_group,
    so2_group,
    so3_group,
)
from ._finite import CyclicGroup, DihedralGroup, FiniteGroup
from ._fourier import GroupFourierTransform, bl_quotient_representation, fourier_transform
from ._group import Group
from ._induced import induced_representation
from ._irrep import IrreducibleRepresentation
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
from ._representation import Representation, directsum

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
