"""Equivariant modules on irreps features ``[..., irreps.dim]`` (e3nn's ``nn``): scalar, gated and norm
nonlinearities, batch norm, dropout, block extraction, and the scalar MLP.

>>> import torch
>>> from steertorch.nn import Gate
>>> gate = Gate("8x0e", [torch.relu], "4x0e", [torch.sigmoid], "4x1o")
>>> gate(torch.randn(2, gate.irreps_in.dim)).shape
torch.Size([2, 20])
"""

from ._activation import Activation
from ._batchnorm import BatchNorm
from ._dropout import Dropout
from ._extract import Extract, ExtractIr
from ._fc import FullyConnectedNet
from ._gate import Gate
from ._norm_activation import NormActivation

__all__ = [
    "Activation",
    "Gate",
    "NormActivation",
    "BatchNorm",
    "Dropout",
    "Extract",
    "ExtractIr",
    "FullyConnectedNet",
]
