"""Every public module of steertorch, built with typical arguments, with inputs of any number of rows.

Shared by the DDP, gradient-coverage and empty-input tests. ``Case.inputs(n, dtype)`` gives ``(args, kwargs)`` for
``n`` rows (points, nodes, samples, or grid batch); ``Case.outputs(module, n, dtype)`` runs the module and returns its
float outputs as a list (tuple outputs such as EGNN's ``(h, pos)`` flattened). ``edges=False`` graphs have nodes and no
edges. Tag ``"zero gradient at init"``: every output is a zero-initialised bias (a point convolution on a graph
without edges), so the loss ``sum(out^2)`` has a zero gradient and training does not move the parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = ["Case", "cases", "case_names", "float_outputs", "full_graph", "PARAMETER_FREE"]

# the cases whose module has no parameter (kept in step with the modules by tests/test_ddp.py)
PARAMETER_FREE = frozenset({
    "o3.ElementwiseTensorProduct", "o3.FullTensorProduct", "o3.TensorSquare", "o3.ReducedTensorProducts",
    "nn.Activation", "nn.Gate", "nn.NormActivation", "nn.Dropout", "nn.Extract", "nn.ExtractIr", "nn.S2Activation",
    "nn.SO3Activation", "graph.RadialEmbedding", "nn.R2Conv(no equivariant kernel)", "nn.PointwiseNonLinearity",
    "nn.ReLU", "nn.ELU", "nn.GroupPooling", "nn.NormPool", "nn.NormMaxPool", "nn.PointwiseMaxPool2D",
    "nn.PointwiseMaxPool3D", "nn.PointwiseAvgPool2D", "nn.PointwiseAvgPool3D", "nn.PointwiseAvgPoolAntialiased2D",
    "nn.PointwiseAvgPoolAntialiased3D", "nn.R2Upsampling", "nn.R3Upsampling", "nn.FourierPointwise", "nn.FourierELU",
    "nn.QuotientFourierPointwise", "nn.MaskModule", "nn.FieldDropout", "nn.PointwiseDropout", "nn.IdentityModule",
    "nn.RestrictionModule", "math.normalize2mom", "nn.LeakyReLU", "nn.QuotientFourierELU",
    "nn.PointwiseMaxPoolAntialiased2D", "nn.PointwiseMaxPoolAntialiased3D", "nn.PointwiseAdaptiveAvgPool2D",
    "nn.PointwiseAdaptiveAvgPool3D", "nn.PointwiseAdaptiveMaxPool2D", "nn.PointwiseAdaptiveMaxPool3D",
    "nn.MultipleModule", "nn.ReshuffleModule", "nn.DisentangleModule", "o3.SphericalHarmonics",
    "o3.SphericalHarmonicsAlphaBeta", "o3.Legendre", "o3.Norm", "nn.Identity", "nn.InducedNormPool",
    "nn.MaxPoolChannels", "nn.HarmonicPolynomialR3", "o3.ToS2Grid", "o3.FromS2Grid", "o3.SO3Grid",
    "o3.FullTensorProductv2", "o3.ElementwiseTensorProductv2", "nn.ConcatenatedNonLinearity",
    "nn.VectorFieldNonLinearity", "o3.GauntTensorProduct", "o3.GauntTensorProduct(dense)",
})


def full_graph(n: int, edges: bool = True) -> torch.Tensor:
    """All ordered pairs ``j -> i`` with ``i != j`` (``[2, n (n - 1)]``), or ``[2, 0]`` without edges."""
    if not edges or n < 2:
        return torch.zeros(2, 0, dtype=torch.long)
    i, j = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    keep = i != j
    return torch.stack([j[keep], i[keep]])


def float_outputs(out: object) -> list[torch.Tensor]:
    """The floating-point tensors of a module's output (tensor, or tuple / list of them)."""
    if isinstance(out, torch.Tensor):
        return [out] if out.is_floating_point() else []
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in float_outputs(o)]
    raise TypeError(f"unexpected output type {type(out)}")


@dataclass
class Case:
    """A module builder and an input maker (``n`` rows, ``dtype``)."""

    name: str
    build: Callable[[], nn.Module]
    inputs: Callable[[int, torch.dtype], tuple[tuple, dict]]
    kind: str  # "irreps" (rows of [..., dim]), "graph" (nodes), "model" (points / nodes), "grid" (batch)
    has_edges: bool = True
    tags: set[str] = field(default_factory=set)

    def outputs(self, module: nn.Module, n: int, dtype: torch.dtype = torch.float32,
                grad_inputs: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
        """The module's float outputs on ``n`` rows; with ``grad_inputs`` (a list) the float inputs require
        gradients and are appended to it."""
        args, kwargs = self.inputs(n, dtype)
        if grad_inputs is not None:
            def leaf(t: object) -> object:
                if isinstance(t, torch.Tensor) and t.is_floating_point():
                    t = t.detach().requires_grad_()
                    grad_inputs.append(t)
                return t
            args = tuple(leaf(a) for a in args)
            kwargs = {k: leaf(v) for k, v in kwargs.items()}
        return float_outputs(module(*args, **kwargs))


def _rows(*dims: int) -> Callable[[int, torch.dtype], tuple[tuple, dict]]:
    return lambda n, dt: (tuple(torch.randn(n, d, dtype=dt) for d in dims), {})


def _rows0(count: int) -> Callable[[int, torch.dtype], tuple[tuple, dict]]:
    """``count`` tensors ``[n]`` (angles, or the arguments of a polynomial)."""
    return lambda n, dt: (tuple(torch.rand(n, dtype=dt) for _ in range(count)), {})


def _grid(channels: int, size: tuple[int, ...] = (6, 6)) -> Callable[[int, torch.dtype], tuple[tuple, dict]]:
    return lambda n, dt: ((torch.randn(n, channels, *size, dtype=dt),), {})


def _irreps_cases() -> list[Case]:
    from steertorch import nn as snn
    from steertorch import o3
    from steertorch.math import normalize2mom

    uvu = [(0, 0, 0, "uvu", True), (0, 1, 1, "uvu", True), (1, 1, 2, "uvu", True), (1, 0, 3, "uvu", True)]

    def per_sample_tp() -> nn.Module:
        return _PerSampleTP(o3.TensorProduct("4x0e + 2x1o", "0e + 1o", "4x0e + 4x1o + 2x0e + 2x1o", uvu,
                                             shared_weights=False, internal_weights=False))

    ecases = [
        Case("o3.Linear", lambda: o3.Linear("4x0e + 2x1o", "3x0e + 2x1o + 1x2e"), _rows(10), "irreps"),
        Case("o3.Linear(biases)", lambda: o3.Linear("4x0e + 2x1o", "3x0e + 2x1o", biases=True), _rows(10), "irreps"),
        Case("o3.FullyConnectedTensorProduct",
             lambda: o3.FullyConnectedTensorProduct("4x0e + 2x1o", "2x0e + 1o", "3x0e + 2x1o + 1x2e"),
             _rows(10, 5), "irreps"),
        Case("o3.FullyConnectedTensorProduct(sh)",
             lambda: o3.FullyConnectedTensorProduct("4x0e + 2x1o + 1x2e", "0e + 1o + 2e", "3x0e + 2x1o + 1x2e"),
             _rows(15, 9), "irreps"),
        Case("o3.TensorProduct(uvu, per-sample weights)", per_sample_tp, lambda n, dt: (
            (torch.randn(n, 10, dtype=dt), torch.randn(n, 4, dtype=dt)), {}), "irreps"),
        Case("o3.ElementwiseTensorProduct", lambda: o3.ElementwiseTensorProduct("2x0e + 1x1o", "3x1o"),
             _rows(5, 9), "irreps"),
        Case("o3.FullTensorProduct", lambda: o3.FullTensorProduct("2x0e + 1o", "1o + 2e"), _rows(5, 8), "irreps"),
        Case("o3.TensorSquare", lambda: o3.TensorSquare("2x0e + 2x1o"), _rows(8), "irreps"),
        Case("o3.GauntTensorProduct", lambda: o3.GauntTensorProduct("2x0e + 2x1o + 2x2e", "2x0e + 2x1o", 2),
             _rows(18, 8), "irreps"),
        Case("o3.GauntTensorProduct(dense)",
             lambda: o3.GauntTensorProduct("2x0e + 2x1o + 2x2e", "2x0e + 2x1o", 2, method="dense"),
             _rows(18, 8), "irreps"),
        Case("o3.TensorSquare(weighted)", lambda: o3.TensorSquare("2x0e + 2x1o", "3x0e + 2x1e"), _rows(8), "irreps"),
        Case("o3.ReducedTensorProducts", lambda: o3.ReducedTensorProducts("ij=ji", i="1o"), _rows(3, 3), "irreps"),
        Case("o3.SphericalHarmonics", lambda: o3.SphericalHarmonics("0e + 2x1o + 2e", True), _rows(3), "irreps"),
        Case("o3.SphericalHarmonicsAlphaBeta", lambda: o3.SphericalHarmonicsAlphaBeta([0, 1, 2]), _rows0(2),
             "irreps"),
        Case("o3.Legendre", lambda: o3.Legendre([0, 1, 2]), _rows0(2), "irreps"),
        Case("o3.Norm", lambda: o3.Norm("2x0e + 1o + 2e"), _rows(10), "irreps"),
        Case("o3.ToS2Grid", lambda: o3.ToS2Grid(3, (8, 9)), _rows(16), "irreps"),
        Case("o3.FromS2Grid", lambda: o3.FromS2Grid((8, 9), 3),
             lambda n, dt: ((torch.randn(n, 8, 9, dtype=dt),), {}), "irreps"),
        Case("o3.SO3Grid", lambda: o3.SO3Grid(1, 2), _rows(10), "irreps"),
        Case("o3.FullTensorProductv2", lambda: o3.FullTensorProductv2("2x0e + 1o", "1o + 2e"), _rows(5, 8), "irreps"),
        Case("o3.ElementwiseTensorProductv2", lambda: o3.ElementwiseTensorProductv2("2x0e + 1x1o", "3x1o"),
             _rows(5, 9), "irreps"),
        Case("nn.Identity", lambda: snn.Identity("2x0e + 1o", "1x0e + 0e + 1o"), _rows(5), "irreps"),
        Case("nn.Activation", lambda: snn.Activation("4x0e + 2x0o + 1x1o", [torch.relu, torch.tanh, None]),
             _rows(9), "irreps"),
        Case("nn.Gate", lambda: snn.Gate("4x0e", [torch.relu], "2x0e", [torch.sigmoid], "2x1o"), _rows(12), "irreps"),
        Case("nn.NormActivation", lambda: snn.NormActivation("2x0e + 2x1e", torch.sigmoid), _rows(8), "irreps"),
        Case("nn.BatchNorm", lambda: snn.BatchNorm("4x0e + 2x1o"), _rows(10), "irreps"),
        Case("nn.BatchNorm(no scalars)", lambda: snn.BatchNorm("2x1o + 1x2e"), _rows(11), "irreps"),
        Case("nn.NormActivation(bias)", lambda: snn.NormActivation("2x1o + 1x2e", torch.sigmoid, bias=True),
             _rows(11), "irreps"),
        Case("nn.Dropout", lambda: snn.Dropout("2x0e + 1x1o", p=0.5), _rows(5), "irreps"),
        Case("nn.Extract", lambda: snn.Extract("1e + 0e + 0e", ["0e", "0e"], [(1,), (2,)]), _rows(5), "irreps"),
        Case("nn.ExtractIr", lambda: snn.ExtractIr("2x0e + 1o + 3x0e", "0e"), _rows(8), "irreps"),
        Case("nn.FullyConnectedNet", lambda: snn.FullyConnectedNet([8, 16, 3], torch.nn.functional.silu),
             _rows(8), "irreps"),
        Case("nn.S2Activation", lambda: snn.S2Activation("0e + 1o + 2e", torch.tanh, resolution=8), _rows(9),
             "irreps"),
        Case("nn.SO3Activation", lambda: snn.SO3Activation(1, 1, torch.tanh, resolution=6), _rows(10), "irreps"),
        Case("math.normalize2mom", lambda: normalize2mom(torch.tanh), _rows(3), "irreps"),
        Case("nn.TensorProductActivation", lambda: snn.TensorProductActivation("4x0e + 2x1o", "4x0e + 2x1o + 1x1e"),
             _rows(10), "irreps"),
    ]
    return ecases


class _PerSampleTP(nn.Module):
    """A tensor product with per-sample weights from a linear layer of the first input's scalars (as in a
    point convolution's radial network)."""

    def __init__(self, tp: nn.Module) -> None:
        super().__init__()
        self.tp = tp
        self.w = nn.Linear(4, tp.weight_numel)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.tp(x, y, self.w(x[..., :4]))


def _graph_cases() -> list[Case]:
    from steertorch import graph

    def node_inputs(dim: int, edges: bool) -> Callable[[int, torch.dtype], tuple[tuple, dict]]:
        return lambda n, dt: ((torch.randn(n, dim, dtype=dt), torch.randn(n, 3, dtype=dt), full_graph(n, edges)), {})

    def attr_inputs(dim: int) -> Callable[[int, torch.dtype], tuple[tuple, dict]]:
        return lambda n, dt: ((torch.randn(n, dim, dtype=dt), torch.randn(n, 4, dtype=dt)), {})

    out = [
        Case("graph.RadialEmbedding", lambda: graph.RadialEmbedding(8, r_max=3.0),
             lambda n, dt: ((torch.rand(n, dtype=dt) * 3,), {}), "irreps"),
        Case("graph.O3TensorProduct", lambda: graph.O3TensorProduct("4x0e + 2x1o", "3x0e + 1x1o", "0e + 1o"),
             attr_inputs(10), "irreps"),
        Case("graph.O3TensorProductGate",
             lambda: graph.O3TensorProductGate("4x0e + 2x1o", "3x0e + 1x1o", "0e + 1o"), attr_inputs(10), "irreps"),
    ]
    for edges in (True, False):
        suffix = "" if edges else "(no edges)"
        out += [
            Case(f"graph.PointConv{suffix}", lambda: graph.PointConv("2x0e + 1o", "4x0e + 2x1o", irreps_sh=2),
                 node_inputs(5, edges), "graph", edges),
            Case(f"graph.SEGNNLayer{suffix}", lambda: graph.SEGNNLayer("4x0e + 2x1o", "8x0e + 4x1o", lmax_attr=1),
                 node_inputs(10, edges), "graph", edges),
            Case(f"graph.PointConv(so2){suffix}",
                 lambda: graph.PointConv("2x0e + 1o", "4x0e + 2x1o", irreps_sh=2, conv="so2"),
                 node_inputs(5, edges), "graph", edges),
            Case(f"graph.SEGNNLayer(so2){suffix}",
                 lambda: graph.SEGNNLayer("4x0e + 2x1o", "8x0e + 4x1o", lmax_attr=2, conv="so2"),
                 node_inputs(10, edges), "graph", edges),
            Case(f"graph.EGNNLayer{suffix}", lambda: graph.EGNNLayer(8), node_inputs(8, edges), "graph", edges),
        ]
    return out


def _model_cases() -> list[Case]:
    from steertorch import models

    def tfn_inputs(edges: bool) -> Callable[[int, torch.dtype], tuple[tuple, dict]]:
        def make(n: int, dt: torch.dtype) -> tuple[tuple, dict]:
            batch = torch.arange(n) % 2
            return (torch.randn(n, 3, dtype=dt),), dict(edge_index=full_graph(n, edges), batch=batch, num_graphs=2)
        return make

    def segnn_inputs(edges: bool) -> Callable[[int, torch.dtype], tuple[tuple, dict]]:
        def make(n: int, dt: torch.dtype) -> tuple[tuple, dict]:
            return (), dict(pos=torch.randn(n, 3, dtype=dt), edge_index=full_graph(n, edges), batch=torch.arange(n) % 2,
                            num_graphs=2)
        return make

    def egnn_inputs(edges: bool, vel: bool = False) -> Callable[[int, torch.dtype], tuple[tuple, dict]]:
        def make(n: int, dt: torch.dtype) -> tuple[tuple, dict]:
            v = torch.randn(n, 3, dtype=dt)
            kwargs = dict(vel=v) if vel else {}
            return (v.norm(dim=1, keepdim=True), torch.randn(n, 3, dtype=dt), full_graph(n, edges)), kwargs
        return make

    out = []
    for edges in (True, False):
        suffix = "" if edges else "(no edges)"
        out += [
            Case(f"models.TensorFieldNetwork{suffix}",
                 lambda: models.TensorFieldNetwork(irreps_out="0e + 1o", lmax=1, mul=4, num_layers=2),
                 tfn_inputs(edges), "model", edges),
            Case(f"models.SEGNN{suffix}", lambda: models.SEGNN("0e", "0e", hidden_features=8, num_layers=2),
                 segnn_inputs(edges), "model", edges),
            Case(f"models.EGNN{suffix}", lambda: models.EGNN(1, hidden_features=8, num_layers=2),
                 egnn_inputs(edges), "model", edges),
        ]
    out += [
        Case("models.TensorFieldNetwork(classes)",
             lambda: models.TensorFieldNetwork(lmax=1, mul=4, num_layers=1, num_classes=3), tfn_inputs(True), "model"),
        Case("models.SEGNN(node)", lambda: models.SEGNN("0e", "1o", hidden_features=8, num_layers=1, task="node"),
             segnn_inputs(True), "model"),
        Case("models.EGNN(velocity)", lambda: models.EGNN(1, hidden_features=8, num_layers=2, use_velocity=True),
             egnn_inputs(True, vel=True), "model"),
        Case("models.EGNN(positions only)",
             lambda: models.EGNN(1, hidden_features=8, num_layers=2, use_velocity=True, out_features=0),
             egnn_inputs(True, vel=True), "model"),
        Case("models.EGNN(pooled, no coords)",
             lambda: models.EGNN(1, hidden_features=8, num_layers=2, update_coords=False, pool="sum"),
             lambda n, dt: ((torch.ones(n, 1, dtype=dt), torch.randn(n, 3, dtype=dt), full_graph(n)),
                            dict(batch=torch.arange(n) % 2, num_graphs=2)), "model"),
        Case("models.EGNN(attention, normalize, tanh)",
             lambda: models.EGNN(1, hidden_features=8, num_layers=1, attention=True, normalize=True, tanh=True),
             egnn_inputs(True), "model"),
    ]
    return out


def _implicit_cases() -> list[Case]:
    """EquivariantMLP, the kernel modules (ImplicitKernel, BasisKernel), FieldPointConv and the shape autoencoder:
    rows are samples, relative positions, nodes or shapes."""
    from steertorch import nn as snn
    from steertorch.graph import FieldPointConv
    from steertorch.gspaces import conicalOnR3, flipRot2dOnR2, rot2dOnR2
    from steertorch.nn import FieldType
    from steertorch.symmetry import ShapeAutoencoder

    c4, d4, so2, o2z = rot2dOnR2(4), flipRot2dOnR2(4), rot2dOnR2(-1), conicalOnR3(-1)

    def t(gs, reprs) -> FieldType:
        return FieldType(gs, reprs)

    def with_attr(d: int, a: int) -> Callable[[int, torch.dtype], tuple[tuple, dict]]:
        return lambda n, dt: ((torch.randn(n, d, dtype=dt), torch.randn(n, a, dtype=dt)), {})

    def point_conv_inputs(c: int, d: int, edges: bool, a: int = 0) -> Callable[[int, torch.dtype], tuple[tuple, dict]]:
        def make(n: int, dt: torch.dtype) -> tuple[tuple, dict]:
            ei = full_graph(n, edges)
            attr = (torch.randn(ei.shape[1], a, dtype=dt),) if a else ()
            return (torch.randn(n, c, dtype=dt), torch.randn(n, d, dtype=dt), ei, *attr), {}
        return make

    def field_point_net() -> nn.Module:
        from steertorch.models import FieldPointNet

        return FieldPointNet(o2z, t(o2z, [o2z.trivial_repr, o2z.basespace_repr]), t(o2z, [o2z.basespace_repr]),
                             hidden=2, num_layers=1, mlp_hidden=(4,), num_edge_attr=1)

    def implicit_point_conv() -> nn.Module:
        t_in, t_out = t(o2z, [o2z.trivial_repr, o2z.basespace_repr]), t(o2z, [o2z.basespace_repr, o2z.trivial_repr])
        attr = t(o2z, [o2z.trivial_repr, o2z.basespace_repr])
        return FieldPointConv(t_in, t_out, kernel=snn.ImplicitKernel(o2z, t_in, t_out, hidden=[2], attributes=attr,
                                                                     r_max=2.0))

    def implicit_r2conv() -> nn.Module:
        t_in, t_out = t(d4, [d4.trivial_repr]), t(d4, [d4.regular_repr])
        return snn.R2Conv(t_in, t_out, 3, padding=1, kernel=snn.ImplicitKernel(d4, t_in, t_out, hidden=[2],
                                                                                r_max=2.0))

    out = [
        Case("nn.EquivariantMLP", lambda: snn.EquivariantMLP(t(c4, [c4.irrep(1)]), t(c4, [c4.trivial_repr,
                                                                                          c4.regular_repr]),
                                                             hidden=[2]), _rows(2), "irreps"),
        Case("nn.EquivariantMLP(gated, batch norm)", lambda: snn.EquivariantMLP(
            t(so2, [so2.trivial_repr, so2.irrep(1)]), t(so2, [so2.irrep(1), so2.irrep(2)]), hidden=[2],
            activation="gated", normalization="batch"), _rows(3), "irreps"),
        Case("nn.EquivariantMLP(quadratic)", lambda: snn.EquivariantMLP(t(so2, [so2.irrep(1)]), t(so2, [so2.irrep(1)]),
                                                                        hidden=[2, 2]), _rows(2), "irreps"),
        Case("nn.ImplicitKernel(attributes)", lambda: snn.ImplicitKernel(
            d4, t(d4, [d4.regular_repr]), t(d4, [d4.trivial_repr, d4.irrep(1, 1)]), hidden=[2], attributes=2,
            r_max=2.0), with_attr(2, 2), "irreps"),
        Case("nn.BasisKernel", lambda: snn.BasisKernel(t(so2, [so2.trivial_repr, so2.irrep(1)]),
                                                       t(so2, [so2.irrep(1), so2.irrep(2)])), _rows(2), "irreps"),
        # the ring at r = 0 has band limit 0: no kernel maps a scalar to a vector (an empty weight)
        Case("nn.BasisKernel(a pair without kernels)", lambda: snn.BasisKernel(
            t(c4, [c4.trivial_repr, c4.irrep(1)]), t(c4, [c4.irrep(1)]), radii=[0.0], sigma=0.6), _rows(2), "irreps"),
        Case("nn.R2Conv(implicit kernel)", implicit_r2conv, _grid(1), "grid"),
        Case("symmetry.ShapeAutoencoder", lambda: ShapeAutoencoder(lmax=2, n_species=2, latent_multiplicity=2),
             lambda n, dt: ((torch.randn(n, 2, 9, dtype=dt),), {}), "irreps"),
    ]
    for edges in (True, False):
        suffix = "" if edges else "(no edges)"
        tags = set() if edges else {"zero gradient at init"}
        out += [
            Case(f"graph.FieldPointConv{suffix}", lambda: FieldPointConv(
                t(so2, [so2.trivial_repr, so2.irrep(1)]), t(so2, [so2.irrep(1), so2.trivial_repr]), r_max=2.0),
                point_conv_inputs(3, 2, edges), "graph", edges, tags),
            Case(f"graph.FieldPointConv(implicit, attributes){suffix}", implicit_point_conv,
                 point_conv_inputs(4, 3, edges, a=4), "graph", edges, tags),
            Case(f"models.FieldPointNet{suffix}", field_point_net, point_conv_inputs(4, 3, edges, a=1), "graph", edges,
                 tags),
        ]
    return out


def _grid_cases() -> list[Case]:
    from steertorch import nn as snn
    from steertorch.gspaces import flipRot2dOnR2, rot2dOnR2, rot3dOnR3
    from steertorch.nn import FieldType

    c4, d4, so2, o2, so3 = rot2dOnR2(4), flipRot2dOnR2(4), rot2dOnR2(-1), flipRot2dOnR2(-1), rot3dOnR3()

    def t(gs, reprs) -> FieldType:
        return FieldType(gs, reprs)

    def stack() -> nn.Module:
        t_in, t_hid = t(c4, [c4.trivial_repr]), t(c4, [c4.regular_repr] * 2)
        return snn.SequentialModule(snn.R2Conv(t_in, t_hid, 3, padding=1), snn.InnerBatchNorm(t_hid),
                                    snn.PointwiseNonLinearity(t_hid), snn.PointwiseMaxPool2D(t_hid, 2),
                                    snn.GroupPooling(t_hid))

    def gcnn() -> nn.Module:
        return nn.Sequential(snn.LiftingConv2d(d4, 1, 2, 3, padding=1), snn.GroupConv2d(d4, 2, 2, 3, padding=1))

    reg4 = [c4.regular_repr]
    return [
        Case("nn.R2Conv stack", stack, _grid(1), "grid"),
        Case("nn.LiftingConv2d + GroupConv2d", gcnn, _grid(1), "grid"),
        Case("nn.R2Conv(no equivariant kernel)",
             lambda: snn.R2Conv(t(c4, [c4.trivial_repr]), t(c4, [c4.irrep(1)]), 1), _grid(1), "grid"),
        Case("nn.R2Conv", lambda: snn.R2Conv(t(so2, [so2.trivial_repr, so2.irrep(1)]), t(so2, [so2.irrep(1)] * 2), 3),
             _grid(3), "grid"),
        Case("nn.R3Conv", lambda: snn.R3Conv(t(so3, [so3.irrep(0)]), t(so3, [so3.irrep(1)]), 3, padding=1),
             _grid(1, (4, 4, 4)), "grid"),
        Case("nn.R2ConvTransposed", lambda: snn.R2ConvTransposed(t(d4, [d4.regular_repr]), t(d4, [d4.trivial_repr]),
                                                                 4, stride=2), _grid(8), "grid"),
        Case("nn.R3ConvTransposed", lambda: snn.R3ConvTransposed(t(so3, [so3.irrep(0)]), t(so3, [so3.irrep(1)]), 3,
                                                                 padding=1), _grid(1, (3, 3, 3)), "grid"),
        Case("nn.FieldLinear", lambda: snn.FieldLinear(t(c4, reg4 * 2), t(c4, reg4 + [c4.irrep(1)])), _grid(8),
             "grid"),
        Case("nn.InnerBatchNorm", lambda: snn.InnerBatchNorm(t(c4, reg4 * 2)), _grid(8), "grid"),
        Case("nn.NormBatchNorm", lambda: snn.NormBatchNorm(t(so2, [so2.trivial_repr, so2.irrep(1)])), _grid(3),
             "grid"),
        Case("nn.IIDBatchNorm2d", lambda: snn.IIDBatchNorm2d(t(c4, reg4 * 2)), _grid(8), "grid"),
        Case("nn.IIDBatchNorm3d", lambda: snn.IIDBatchNorm3d(t(so3, [so3.irrep(0), so3.irrep(1)])),
             _grid(4, (3, 3, 3)), "grid"),
        Case("nn.GNormBatchNorm", lambda: snn.GNormBatchNorm(t(d4, [d4.regular_repr])), _grid(8), "grid"),
        Case("nn.NormNonLinearity", lambda: snn.NormNonLinearity(t(so2, [so2.irrep(1), so2.irrep(2)])), _grid(4),
             "grid"),
        Case("nn.GatedNonLinearity1", lambda: snn.GatedNonLinearity1(
            t(so2, [so2.trivial_repr, so2.trivial_repr, so2.irrep(1), so2.irrep(2)])), _grid(6), "grid"),
        Case("nn.PointwiseNonLinearity", lambda: snn.PointwiseNonLinearity(t(c4, reg4 * 2)), _grid(8), "grid"),
        Case("nn.ReLU", lambda: snn.ReLU(t(c4, reg4)), _grid(4), "grid"),
        Case("nn.ELU", lambda: snn.ELU(t(c4, reg4)), _grid(4), "grid"),
        Case("nn.GroupPooling", lambda: snn.GroupPooling(t(c4, reg4 * 2)), _grid(8), "grid"),
        Case("nn.NormPool", lambda: snn.NormPool(t(so2, [so2.irrep(1), so2.irrep(0)])), _grid(3), "grid"),
        Case("nn.NormMaxPool", lambda: snn.NormMaxPool(t(so2, [so2.irrep(1), so2.irrep(0)]), 2), _grid(3), "grid"),
        Case("nn.PointwiseMaxPool2D", lambda: snn.PointwiseMaxPool2D(t(d4, [d4.regular_repr]), 2), _grid(8), "grid"),
        Case("nn.PointwiseMaxPool3D", lambda: snn.PointwiseMaxPool3D(t(so3, [so3.trivial_repr]), 2),
             _grid(1, (4, 4, 4)), "grid"),
        Case("nn.PointwiseAvgPool2D", lambda: snn.PointwiseAvgPool2D(t(so2, [so2.irrep(1)]), 2), _grid(2), "grid"),
        Case("nn.PointwiseAvgPool3D", lambda: snn.PointwiseAvgPool3D(t(so3, [so3.irrep(1)]), 3, 2, 1),
             _grid(3, (4, 4, 4)), "grid"),
        Case("nn.PointwiseAvgPoolAntialiased2D",
             lambda: snn.PointwiseAvgPoolAntialiased2D(t(c4, reg4), sigma=0.66, stride=2), _grid(4), "grid"),
        Case("nn.PointwiseAvgPoolAntialiased3D",
             lambda: snn.PointwiseAvgPoolAntialiased3D(t(so3, [so3.irrep(1)]), sigma=0.5, stride=2),
             _grid(3, (4, 4, 4)), "grid"),
        Case("nn.R2Upsampling", lambda: snn.R2Upsampling(t(o2, [o2.irrep(1, 1)]), scale_factor=2), _grid(2), "grid"),
        Case("nn.R3Upsampling", lambda: snn.R3Upsampling(t(so3, [so3.irrep(1)]), size=5), _grid(3, (3, 3, 3)),
             "grid"),
        Case("nn.FourierPointwise", lambda: snn.FourierPointwise(so2, 3, irreps=2, function="p_relu", N=12),
             _grid(15, (4, 4)), "grid"),
        Case("nn.FourierELU", lambda: snn.FourierELU(d4, 2), _grid(16, (3, 3)), "grid"),
        Case("nn.QuotientFourierPointwise",
             lambda: snn.QuotientFourierPointwise(so3, "SO2", 2, irreps=2, function="p_elu"), _grid(18, (2, 2, 2)),
             "grid"),
        Case("nn.InducedNormNonLinearity", lambda: snn.InducedNormNonLinearity(
            t(c4, [c4.regular_repr.tensor(c4.irrep(1))]), block_size=2), _grid(8), "grid"),
        Case("nn.TensorProductNonLinearity", lambda: snn.TensorProductNonLinearity(
            t(so2, [so2.trivial_repr, so2.irrep(1)])), _grid(3, (4, 4)), "grid"),
        Case("nn.MaskModule", lambda: snn.MaskModule(t(c4, [c4.trivial_repr]), 6, margin=1), _grid(1), "grid"),
        Case("nn.FieldDropout", lambda: snn.FieldDropout(t(so2, [so2.irrep(1)] * 3), p=0.5), _grid(6), "grid"),
        Case("nn.PointwiseDropout", lambda: snn.PointwiseDropout(t(c4, reg4), p=0.25), _grid(4), "grid"),
        Case("nn.IdentityModule", lambda: snn.IdentityModule(t(c4, reg4)), _grid(4), "grid"),
        Case("nn.RestrictionModule", lambda: snn.RestrictionModule(t(rot2dOnR2(8), [rot2dOnR2(8).regular_repr]),
                                                                   "C4"), _grid(8, (3, 3)), "grid"),
        Case("nn.R2Conv(kernel=BasisKernel)", lambda: snn.R2Conv(
            t(c4, [c4.trivial_repr]), t(c4, reg4), 3, padding=1,
            kernel=snn.BasisKernel(t(c4, [c4.trivial_repr]), t(c4, reg4), radii=[0.0, 1.0], sigma=0.6, r_max=2.0)),
            _grid(1), "grid"),
        Case("nn.LeakyReLU", lambda: snn.LeakyReLU(t(c4, reg4), 0.1), _grid(4), "grid"),
        Case("nn.QuotientFourierELU", lambda: snn.QuotientFourierELU(d4, (None, 4), 3), _grid(6), "grid"),
        Case("nn.PointwiseMaxPoolAntialiased2D",
             lambda: snn.PointwiseMaxPoolAntialiased2D(t(c4, reg4), 3, stride=2, padding=1), _grid(4, (7, 7)),
             "grid"),
        Case("nn.PointwiseMaxPoolAntialiased3D",
             lambda: snn.PointwiseMaxPoolAntialiased3D(t(so3, [so3.trivial_repr]), 3, stride=2, padding=1),
             _grid(1, (5, 5, 5)), "grid"),
        Case("nn.PointwiseAdaptiveAvgPool2D", lambda: snn.PointwiseAdaptiveAvgPool2D(t(so2, [so2.irrep(1)]), 2),
             _grid(2, (5, 5)), "grid"),
        Case("nn.PointwiseAdaptiveAvgPool3D", lambda: snn.PointwiseAdaptiveAvgPool3D(t(so3, [so3.irrep(1)]), 1),
             _grid(3, (3, 3, 3)), "grid"),
        Case("nn.PointwiseAdaptiveMaxPool2D", lambda: snn.PointwiseAdaptiveMaxPool2D(t(d4, [d4.regular_repr]), 2),
             _grid(8, (5, 5)), "grid"),
        Case("nn.PointwiseAdaptiveMaxPool3D",
             lambda: snn.PointwiseAdaptiveMaxPool3D(t(so3, [so3.trivial_repr]), (2, 2, 2)), _grid(1, (4, 4, 4)),
             "grid"),
        Case("nn.GatedNonLinearity2", lambda: snn.GatedNonLinearity2(
            (t(so2, [so2.trivial_repr] * 2), t(so2, [so2.irrep(1), so2.irrep(2)]))),
            lambda n, dt: ((torch.randn(n, 2, 4, 4, dtype=dt), torch.randn(n, 4, 4, 4, dtype=dt)), {}), "grid"),
        Case("nn.GatedNonLinearityUniform", lambda: snn.GatedNonLinearityUniform(t(so2, [_uniform_gated(so2)] * 2)),
             _grid(12, (4, 4)), "grid"),
        Case("nn.MultipleModule", lambda: snn.MultipleModule(
            t(c4, [c4.regular_repr, c4.irrep(1), c4.regular_repr]), ["r", "v", "r"],
            [(snn.ReLU(t(c4, reg4 * 2)), "r"), (snn.IdentityModule(t(c4, [c4.irrep(1)])), "v")]), _grid(10),
            "grid"),
        Case("nn.ReshuffleModule", lambda: snn.ReshuffleModule(t(c4, [c4.trivial_repr, c4.regular_repr]), [1, 0]),
             _grid(5), "grid"),
        Case("nn.DisentangleModule", lambda: snn.DisentangleModule(t(d4, [d4.regular_repr])), _grid(8), "grid"),
        *_escnn_added_cases(t, c4, d4, so3),
    ]


class _PointConvOnTensors(nn.Module):
    """escnn's point convolution (GeometricTensor with coords in and out) on plain tensors ``(x, pos)`` of a
    fully connected graph, so the zoo can feed and read it."""

    def __init__(self, conv: nn.Module) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        from steertorch.nn import GeometricTensor

        return self.conv(GeometricTensor(x, self.conv.in_type, pos), full_graph(x.shape[0])).tensor


def _escnn_added_cases(t, c4, d4, so3) -> list[Case]:
    """escnn's names added for issue 18: point-wise fields without a base space, induced fields, channel pooling,
    harmonic polynomials, the icosahedral convolution and the point convolutions."""
    from steertorch import nn as snn
    from steertorch.group import o2_group, so3_group
    from steertorch.gspaces import icoOnR3, no_base_space

    nb_o2, nb_so3, ico = no_base_space(o2_group()), no_base_space(so3_group()), icoOnR3()
    sub, _ = d4.restrict("C4")
    psi = max(sub.fibergroup.irreps(), key=lambda p: p.size)
    induced = d4.induced_repr("C4", psi)

    def point_conv(gs, reprs, cls) -> nn.Module:
        ft = t(gs, reprs)
        return _PointConvOnTensors(cls(ft, ft, width=1.5, n_rings=2))

    def points(channels: int, d: int):
        return lambda n, dt: ((torch.randn(n, channels, dtype=dt), torch.randn(n, d, dtype=dt)), {})

    return [
        Case("nn.IIDBatchNorm1d", lambda: snn.IIDBatchNorm1d(t(nb_o2, [nb_o2.irrep((0, 0)), nb_o2.irrep((1, 1))])),
             _rows(3), "irreps"),
        Case("nn.Linear", lambda: snn.Linear(t(nb_so3, [nb_so3.irrep(0), nb_so3.irrep(1)] * 2),
                                             t(nb_so3, [nb_so3.irrep(0), nb_so3.irrep(1)])), _rows(8), "irreps"),
        Case("nn.InducedNormPool", lambda: snn.InducedNormPool(t(d4, [induced] * 2)), _grid(2 * induced.size),
             "grid"),
        Case("nn.InducedNormBatchNorm", lambda: snn.InducedNormBatchNorm(t(d4, [induced] * 2)),
             _grid(2 * induced.size), "grid"),
        Case("nn.MaxPoolChannels", lambda: snn.MaxPoolChannels(4), _grid(8), "grid"),
        Case("nn.HarmonicPolynomialR3", lambda: snn.HarmonicPolynomialR3(2, "o3"), _rows(3), "irreps"),
        Case("nn.R3IcoConv", lambda: snn.R3IcoConv(t(ico, [ico.trivial_repr]), t(ico, [ico.irrep(1)]), 3, padding=1),
             _grid(1, (4, 4, 4)), "grid"),
        Case("nn.R3IcoConvTransposed", lambda: snn.R3IcoConvTransposed(
            t(ico, [ico.irrep(1)]), t(ico, [ico.trivial_repr]), 3, padding=1), _grid(3, (3, 3, 3)), "grid"),
        Case("nn.TensorProductModule", lambda: snn.TensorProductModule(
            t(c4, [c4.irrep(1)] * 2), t(c4, [c4.regular_repr] * 2)), _grid(4), "grid"),
        Case("nn.ConcatenatedNonLinearity", lambda: snn.ConcatenatedNonLinearity(
            t(c4, [c4.regular_repr, c4.irrep(1)])), _grid(6), "grid"),
        Case("nn.VectorFieldNonLinearity", lambda: snn.VectorFieldNonLinearity(t(c4, [c4.regular_repr] * 2)),
             _grid(8), "grid"),
        Case("nn.InducedGatedNonLinearity1", lambda: snn.InducedGatedNonLinearity1(
            t(d4, [d4.induced_repr("C4", sub.fibergroup.trivial_representation), induced])),
            _grid(2 + induced.size), "grid"),
        Case("graph.R2PointConv", lambda: point_conv(c4, [c4.regular_repr], snn.R2PointConv), points(4, 2), "graph"),
        Case("graph.R3PointConv", lambda: point_conv(so3, [so3.irrep(0), so3.irrep(1)], snn.R3PointConv),
             points(4, 3), "graph"),
    ]


def _uniform_gated(gs):
    from steertorch.group import Representation

    return Representation([gs.irrep(0), gs.irrep(0), gs.irrep(1), gs.irrep(2)])


_CACHE: list[Case] = []


def cases() -> list[Case]:
    """All cases (built lazily, once)."""
    if not _CACHE:
        _CACHE.extend(_irreps_cases() + _graph_cases() + _model_cases() + _grid_cases() + _implicit_cases())
    return _CACHE


def case_names(kind: str | None = None) -> list[str]:
    return [c.name for c in cases() if kind is None or c.kind == kind]
