"""Tools to test equivariance of your own functions and models.

:func:`assert_equivariant` transforms the inputs and the outputs of a function with random
group elements and checks that they agree; :func:`equivariance_error` returns the errors
without asserting; :func:`random_elements` samples a group.

>>> import torch
>>> from steertorch.group import o3_group
>>> from steertorch.testing import assert_equivariant
>>> G = o3_group()
>>> cross = lambda a, b: torch.linalg.cross(a, b)        # 1o x 1o -> 1e (a pseudo-vector)
>>> assert_equivariant(cross, G, ["1o", "1o"], ["1e"]) < 1e-12
True
"""

from ._equivariance import CARTESIAN_POINTS, assert_equivariant, equivariance_error, random_elements
from ._grid import field_equivariance_error, grid_symmetries

__all__ = [
    "assert_equivariant",
    "equivariance_error",
    "random_elements",
    "CARTESIAN_POINTS",
    "grid_symmetries",
    "field_equivariance_error",
]
