"""Equivariant modules on irreps features ``[..., irreps.dim]`` (e3nn's ``nn``): scalar, gated and norm
nonlinearities, Fourier (S2 / SO(3) grid) and tensor-product activations, batch norm, dropout, block
extraction, and the scalar MLP.

>>> import torch
>>> from steertorch.nn import Gate
>>> gate = Gate("8x0e", [torch.relu], "4x0e", [torch.sigmoid], "4x1o")
>>> gate(torch.randn(2, gate.irreps_in.dim)).shape
torch.Size([2, 20])
"""

from ._activation import Activation
from ._batchnorm import BatchNorm
from ._conv import R2Conv, R2ConvTransposed, R3Conv, R3ConvTransposed, R3IcoConv
from ._dropout import Dropout
from ._equivariant_mlp import EquivariantMLP
from ._extract import Extract, ExtractIr
from ._fc import FullyConnectedNet
from ._field_adaptive_pooling import (
    PointwiseAdaptiveAvgPool,
    PointwiseAdaptiveAvgPool2D,
    PointwiseAdaptiveAvgPool3D,
    PointwiseAdaptiveMaxPool,
    PointwiseAdaptiveMaxPool2D,
    PointwiseAdaptiveMaxPool3D,
)
from ._field_avg_pooling import (
    PointwiseAvgPool,
    PointwiseAvgPool2D,
    PointwiseAvgPool3D,
    PointwiseAvgPoolAntialiased,
    PointwiseAvgPoolAntialiased2D,
    PointwiseAvgPoolAntialiased3D,
    PointwiseMaxPoolAntialiased,
    PointwiseMaxPoolAntialiased2D,
    PointwiseMaxPoolAntialiased3D,
)
from ._field_batchnorm import (
    GNormBatchNorm,
    IIDBatchNorm1d,
    IIDBatchNorm2d,
    IIDBatchNorm3d,
    InducedNormBatchNorm,
    InnerBatchNorm,
    NormBatchNorm,
)
from ._field_containers import RestrictionModule, SequentialModule
from ._field_gates import GatedNonLinearity2, GatedNonLinearityUniform
from ._field_induced import InducedNormPool
from ._field_linear import FieldLinear, Linear
from ._field_misc import (
    ELU,
    FieldDropout,
    IdentityModule,
    LeakyReLU,
    MaskModule,
    PointwiseDropout,
    ReLU,
    disk_mask,
)
from ._field_module import EquivariantModule
from ._field_nonlinearity import GatedNonLinearity1, NormNonLinearity, PointwiseNonLinearity
from ._field_pooling import (
    GroupPooling,
    MaxPoolChannels,
    NormMaxPool,
    NormPool,
    PointwiseMaxPool,
    PointwiseMaxPool2D,
    PointwiseMaxPool3D,
)
from ._field_structure import (
    BranchingModule,
    DisentangleModule,
    MergeModule,
    MultipleModule,
    ReshuffleModule,
)
from ._field_type import FieldType, GeometricTensor, tensor_directsum
from ._field_upsampling import R2Upsampling, R3Upsampling
from ._fourier_nonlinearity import (
    FourierELU,
    FourierPointwise,
    InducedNormNonLinearity,
    QuotientFourierELU,
    QuotientFourierPointwise,
    TensorProductNonLinearity,
)
from ._gate import Gate
from ._gcnn import GroupConv2d, LiftingConv2d
from ._harmonic_polynomial import HarmonicPolynomialR3
from ._identity import Identity
from ._implicit_kernel import BasisKernel, ImplicitKernel
from ._norm_activation import NormActivation
from ._s2_activation import S2Activation
from ._so3_activation import SO3Activation, so3_irreps
from ._tensor_product_activation import TensorProductActivation

__all__ = [
    "Activation",
    "Gate",
    "NormActivation",
    "BatchNorm",
    "Dropout",
    "Extract",
    "ExtractIr",
    "Identity",
    "FullyConnectedNet",
    "FieldType",
    "GeometricTensor",
    "tensor_directsum",
    "EquivariantModule",
    "S2Activation",
    "SO3Activation",
    "so3_irreps",
    "TensorProductActivation",
    "R2Conv",
    "R3Conv",
    "R2ConvTransposed",
    "R3ConvTransposed",
    "FieldLinear",
    "PointwiseNonLinearity",
    "NormNonLinearity",
    "GatedNonLinearity1",
    "GroupPooling",
    "PointwiseMaxPool2D",
    "NormMaxPool",
    "PointwiseMaxPool3D",
    "NormPool",
    "PointwiseAvgPool2D",
    "PointwiseAvgPool3D",
    "PointwiseAvgPoolAntialiased2D",
    "PointwiseAvgPoolAntialiased3D",
    "R2Upsampling",
    "R3Upsampling",
    "LiftingConv2d",
    "GroupConv2d",
    "InnerBatchNorm",
    "NormBatchNorm",
    "IIDBatchNorm2d",
    "IIDBatchNorm3d",
    "GNormBatchNorm",
    "RestrictionModule",
    "SequentialModule",
    "FourierPointwise",
    "FourierELU",
    "QuotientFourierPointwise",
    "InducedNormNonLinearity",
    "TensorProductNonLinearity",
    "ReLU",
    "ELU",
    "MaskModule",
    "disk_mask",
    "FieldDropout",
    "PointwiseDropout",
    "IdentityModule",
    "EquivariantMLP",
    "ImplicitKernel",
    "BasisKernel",
    "PointwiseAvgPool",
    "PointwiseAvgPoolAntialiased",
    "PointwiseMaxPoolAntialiased",
    "PointwiseMaxPoolAntialiased2D",
    "PointwiseMaxPoolAntialiased3D",
    "PointwiseAdaptiveAvgPool",
    "PointwiseAdaptiveAvgPool2D",
    "PointwiseAdaptiveAvgPool3D",
    "PointwiseAdaptiveMaxPool",
    "PointwiseAdaptiveMaxPool2D",
    "PointwiseAdaptiveMaxPool3D",
    "GatedNonLinearity2",
    "GatedNonLinearityUniform",
    "LeakyReLU",
    "QuotientFourierELU",
    "BranchingModule",
    "MergeModule",
    "MultipleModule",
    "ReshuffleModule",
    "DisentangleModule",
    "IIDBatchNorm1d",
    "InducedNormBatchNorm",
    "InducedNormPool",
    "Linear",
    "MaxPoolChannels",
    "PointwiseMaxPool",
    "HarmonicPolynomialR3",
    "R3IcoConv",
]


def __getattr__(name: str):
    # escnn's point convolutions live in steertorch.graph (they use its scatter and edge code, which builds on this
    # package); they are reachable here under escnn's names, imported on first use (no import cycle)
    if name in ("R2PointConv", "R3PointConv"):
        from .. import graph

        return getattr(graph, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
