"""Tensor formats of physics, as ``e3nn.io``: :class:`SphericalTensor` (signals on the sphere in the harmonics'
basis) and :class:`CartesianTensor` (tensors with index symmetries in irreps). The same classes as
``steertorch.o3.SphericalTensor`` / ``steertorch.o3.CartesianTensor``, here under e3nn's module name.

>>> from steertorch.io import CartesianTensor
>>> CartesianTensor("ij=ji")
1x0e+1x2e
"""

from ..o3 import CartesianTensor, SphericalTensor

__all__ = ["CartesianTensor", "SphericalTensor"]
