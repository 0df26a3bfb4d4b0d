"""Equivariant modules, in two families that share the maths core.

- Irreps features ``[..., irreps.dim]`` (e3nn's ``nn``; files in ``nn/_irreps/``): scalar, gated and norm
  nonlinearities, Fourier (S2 / SO(3) grid) and tensor-product activations, batch norm, dropout, block
  extraction, and the scalar MLP. The type of a feature is an :class:`~steertorch.o3.Irreps`.
- Feature fields ``[batch, channels, *grid]`` (escnn's ``nn``; files in ``nn/_fields/``): :class:`FieldType`
  and :class:`GeometricTensor`, steerable and group convolutions, implicit kernels, nonlinearities, pooling,
  batch norms and containers. The type of a feature is a :class:`FieldType` of a G-space.

Both are exported here, under e3nn's and escnn's names.

>>> import torch
>>> from steertorch.nn import Gate
>>> gate = Gate("8x0e", [torch.relu], "4x0e", [torch.sigmoid], "4x1o")
>>> gate(torch.randn(2, gate.irreps_in.dim)).shape
torch.Size([2, 20])
>>> from steertorch import gspaces
>>> from steertorch.nn import FieldType, R2Conv
>>> gs = gspaces.rot2dOnR2(4)
>>> conv = R2Conv(FieldType(gs, [gs.trivial_repr]), FieldType(gs, [gs.regular_repr]), 3)
>>> conv(torch.randn(1, 1, 9, 9)).shape
torch.Size([1, 4, 7, 7])
"""

from ._fields._adaptive_pooling import (
    PointwiseAdaptiveAvgPool,
    PointwiseAdaptiveAvgPool2D,
    PointwiseAdaptiveAvgPool3D,
    PointwiseAdaptiveMaxPool,
    PointwiseAdaptiveMaxPool2D,
    PointwiseAdaptiveMaxPool3D,
)
from ._fields._avg_pooling import (
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
from ._fields._batchnorm import (
    GNormBatchNorm,
    IIDBatchNorm1d,
    IIDBatchNorm2d,
    IIDBatchNorm3d,
    InducedNormBatchNorm,
    InnerBatchNorm,
    NormBatchNorm,
)
from ._fields._containers import RestrictionModule, SequentialModule
from ._fields._conv import R2Conv, R2ConvTransposed, R3Conv, R3ConvTransposed, R3IcoConv, R3IcoConvTransposed
from ._fields._discrete_nonlinearity import ConcatenatedNonLinearity, VectorFieldNonLinearity
from ._fields._equivariant_mlp import EquivariantMLP
from ._fields._escnn_state import escnn_change_of_basis, load_escnn_state_dict
from ._fields._export import export_module
from ._fields._fourier_nonlinearity import (
    FourierELU,
    FourierPointwise,
    InducedNormNonLinearity,
    QuotientFourierELU,
    QuotientFourierPointwise,
    TensorProductNonLinearity,
)
from ._fields._gates import GatedNonLinearity2, GatedNonLinearityUniform
from ._fields._gcnn import GroupConv2d, LiftingConv2d
from ._fields._harmonic_polynomial import HarmonicPolynomialR3
from ._fields._implicit_kernel import BasisKernel, ImplicitKernel
from ._fields._induced import InducedGatedNonLinearity1, InducedNormPool
from ._fields._linear import FieldLinear, Linear
from ._fields._misc import (
    ELU,
    FieldDropout,
    IdentityModule,
    LeakyReLU,
    MaskModule,
    PointwiseDropout,
    ReLU,
    disk_mask,
)
from ._fields._module import EquivariantModule
from ._fields._nonlinearity import GatedNonLinearity1, NormNonLinearity, PointwiseNonLinearity
from ._fields._pooling import (
    GroupPooling,
    MaxPoolChannels,
    NormMaxPool,
    NormPool,
    PointwiseMaxPool,
    PointwiseMaxPool2D,
    PointwiseMaxPool3D,
)
from ._fields._structure import (
    BranchingModule,
    DisentangleModule,
    MergeModule,
    MultipleModule,
    ReshuffleModule,
)
from ._fields._tensor_product import TensorProductModule
from ._fields._type import FieldType, GeometricTensor, tensor_directsum
from ._fields._upsampling import R2Upsampling, R3Upsampling
from ._irreps._activation import Activation
from ._irreps._batchnorm import BatchNorm
from ._irreps._dropout import Dropout
from ._irreps._extract import Extract, ExtractIr
from ._irreps._fc import FullyConnectedNet
from ._irreps._gate import Gate
from ._irreps._identity import Identity
from ._irreps._norm_activation import NormActivation
from ._irreps._s2_activation import S2Activation
from ._irreps._so3_activation import SO3Activation, so3_irreps
from ._irreps._tensor_product_activation import TensorProductActivation

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
    "export_module",
    "R3IcoConv",
    "R3IcoConvTransposed",
    "TensorProductModule",
    "ConcatenatedNonLinearity",
    "VectorFieldNonLinearity",
    "InducedGatedNonLinearity1",
    "load_escnn_state_dict",
    "escnn_change_of_basis",
]


def __getattr__(name: str):
    # escnn's point convolutions live in steertorch.graph (they use its scatter and edge code, which builds on this
    # package); they are reachable here under escnn's names, imported on first use (no import cycle)
    if name in ("R2PointConv", "R3PointConv"):
        from .. import graph

        return getattr(graph, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
