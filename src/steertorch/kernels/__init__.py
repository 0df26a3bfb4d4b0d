"""Steerable kernel bases on R^d for any G <= O(d): kernels k with k(g x) = rho_out(g) k(x) rho_in(g)^-1.

>>> from steertorch.kernels import grid_points
>>> grid_points(3, 3).shape
torch.Size([27, 3])
"""

from ._basis import (
    EscnnFrequencyCutoff,
    KernelBasis,
    default_rings,
    escnn_ring_widths,
    frequency_cutoff,
    kernel_basis,
)
from ._grid import grid_points
from ._harmonic import harmonics, restricted_harmonics

__all__ = [
    "KernelBasis",
    "kernel_basis",
    "default_rings",
    "escnn_ring_widths",
    "frequency_cutoff",
    "EscnnFrequencyCutoff",
    "grid_points",
    "harmonics",
    "restricted_harmonics",
    "ImplicitKernel",
]


def __getattr__(name: str):
    # ImplicitKernel is built from nn modules (an equivariant MLP), so it lives in steertorch.nn; it is also
    # reachable here, imported on first access (kernels itself imports nothing from nn)
    if name == "ImplicitKernel":
        from ..nn._fields._implicit_kernel import ImplicitKernel

        return ImplicitKernel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
