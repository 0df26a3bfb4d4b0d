"""G-spaces: symmetry groups G <= O(d) acting on the plane or space (the base of grid feature fields).

>>> from steertorch.gspaces import rot2dOnR2, octaOnR3
>>> rot2dOnR2(8).fibergroup.order, octaOnR3().dimensionality
(8, 3)
"""

from ._factories import (
    conicalOnR3,
    cyclicOnR3,
    cylindricalOnR3,
    dihedralOnR3,
    flip2dOnR2,
    flipRot2dOnR2,
    flipRot3dOnR3,
    fullCylindricalOnR3,
    fullIcoOnR3,
    fullOctaOnR3,
    fullTetraOnR3,
    icoOnR3,
    invOnR3,
    mirOnR3,
    octaOnR3,
    pyritoOnR3,
    rot2dOnR2,
    rot2dOnR3,
    rot3dOnR3,
    tetraOnR3,
    trivialOnR2,
    trivialOnR3,
)
from ._gspace import GSpace
from ._gspace0d import GSpace0D, no_base_space

__all__ = [
    "GSpace",
    "GSpace0D",
    "no_base_space",
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
