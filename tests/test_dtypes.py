"""One dtype rule for the whole package (issue 12, fault 6).

* A float32-built module converted with ``.double()`` is float64-accurate: its constants (Clebsch-Gordan
  coefficients, kernel bases, interpolation weights, quadrature matrices) are re-derived from float64 masters, so
  it agrees to ~1e-13 with the same module built in float64 with the same weights (float32-rounded constants
  would give ~1e-7).
* A module given an input of another dtype raises ``ValueError`` naming the module, the input and both dtypes.
"""

import copy

import pytest
import torch
from _equivariance_helpers import default_dtype

from steertorch.graph import (
    EGNNLayer,
    FieldPointConv,
    PointConv,
    RadialEmbedding,
    SEGNNLayer,
    spherical_edge_attributes,
)
from steertorch.gspaces import conicalOnR3, flipRot2dOnR2, rot2dOnR2, rot3dOnR3
from steertorch.models import EGNN, SEGNN, TensorFieldNetwork
from steertorch.nn import (
    BasisKernel,
    EquivariantMLP,
    FieldLinear,
    FieldType,
    FourierELU,
    Gate,
    GNormBatchNorm,
    GroupConv2d,
    ImplicitKernel,
    LiftingConv2d,
    R2Conv,
    R3Conv,
    S2Activation,
    SO3Activation,
)
from steertorch.o3 import FullyConnectedTensorProduct, Irreps, Linear, ReducedTensorProducts
from steertorch.symmetry import ShapeAutoencoder

F32, F64 = torch.float32, torch.float64


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _graph(n=6, seed=0):
    g = _gen(seed)
    pos = torch.randn(n, 3, dtype=F64, generator=g)
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    return pos, torch.tensor(pairs).T


# name -> (builder, inputs(dtype) -> args tuple); every builder is called under the default dtype being tested
def _cases():
    pos, ei = _graph()
    g = _gen(1)
    x4 = torch.randn(6, 4, dtype=F64, generator=g)
    c4 = rot2dOnR2(4)
    reg = FieldType(c4, 2 * [c4.regular_repr])
    mixed = FieldType(c4, [c4.trivial_repr, c4.irrep(1), c4.regular_repr])
    so3 = rot3dOnR3()
    vec = FieldType(so3, [so3.irrep(0), so3.irrep(1), so3.irrep(2)])
    img = torch.randn(2, reg.size, 7, 7, dtype=F64, generator=g)
    vol = torch.randn(1, vec.size, 5, 5, 5, dtype=F64, generator=g)
    irreps = Irreps("3x0e + 2x1o + 1x2e")
    feats = irreps.randn(6, -1, dtype=F64, generator=g)
    sh = spherical_edge_attributes(torch.randn(6, 3, dtype=F64, generator=g), 2)
    so2, o2z = rot2dOnR2(-1), conicalOnR3(-1)
    so2_in, so2_out = FieldType(so2, [so2.irrep(1)]), FieldType(so2, [so2.trivial_repr, so2.irrep(2)])
    o2z_in = FieldType(o2z, [o2z.trivial_repr, o2z.basespace_repr])
    o2z_attr = FieldType(o2z, [o2z.basespace_repr])
    x_o2z = torch.randn(6, o2z_in.size, dtype=F64, generator=g)
    attr = torch.randn(ei.shape[1], 3, dtype=F64, generator=g)
    return {
        "FullyConnectedTensorProduct": (lambda: FullyConnectedTensorProduct(irreps, "0e + 1o + 2e", irreps),
                                        (feats, sh)),
        "Linear": (lambda: Linear(irreps, "2x0e + 3x1o + 2x2e", biases=True), (feats,)),
        "ReducedTensorProducts": (lambda: ReducedTensorProducts("ij=ji", i="1o"),
                                  (feats[:, 3:6], feats[:, 6:9])),
        "Gate": (lambda: Gate("2x0e", [torch.tanh], "1x0e", [torch.sigmoid], "1x1o"), (feats[:, :6],)),
        "S2Activation": (lambda: S2Activation("0e + 1o + 2e", torch.tanh, 10), (feats[:, 4:13],)),
        "SO3Activation": (lambda: SO3Activation(1, 1, torch.tanh, 6), (torch.randn(6, 10, dtype=F64, generator=g),)),
        "RadialEmbedding": (lambda: RadialEmbedding(8, 2.0), ((pos[ei[0]] - pos[ei[1]]).norm(dim=1),)),
        "PointConv": (lambda: PointConv("4x0e", "4x0e + 2x1o + 1x2e", irreps_sh=2, r_max=2.5), (x4, pos, ei)),
        "TensorFieldNetwork": (lambda: TensorFieldNetwork("4x0e", "0e + 1o", lmax=2, r_max=2.5, num_layers=2,
                                                          mul=4), (pos, x4, ei)),
        "SEGNNLayer": (lambda: SEGNNLayer("4x0e", "4x0e + 2x1o", "4x0e + 2x1o", lmax_attr=2), (x4, pos, ei)),
        "SEGNN": (lambda: SEGNN("4x0e", "0e + 1o", hidden_features=8, lmax_attr=2, num_layers=2, task="node"),
                  (x4, pos, ei)),
        "EGNNLayer": (lambda: EGNNLayer(4), (x4, pos, ei)),
        "EGNN": (lambda: EGNN(4, 8, 2, num_layers=2), (x4, pos, ei)),
        "R2Conv": (lambda: R2Conv(reg, mixed, 5, padding=2), (img,)),
        "R3Conv": (lambda: R3Conv(vec, vec, 3, padding=1), (vol,)),
        "FieldLinear": (lambda: FieldLinear(reg, mixed), (img,)),
        "LiftingConv2d": (lambda: LiftingConv2d(rot2dOnR2(8), 8, 2, 5, padding=2), (img,)),
        "GroupConv2d": (lambda: GroupConv2d(rot2dOnR2(8), 1, 2, 5, padding=2), (img,)),
        "GNormBatchNorm": (lambda: GNormBatchNorm(mixed), (torch.randn(2, mixed.size, 7, 7, dtype=F64,
                                                                        generator=g),)),
        "FourierELU": (lambda: FourierELU(flipRot2dOnR2(-1), 2, 2, N=9), (None,)),
        "EquivariantMLP": (lambda: EquivariantMLP(so2_in, so2_out, hidden=[3]), (x4[:, :2],)),
        "ImplicitKernel": (lambda: ImplicitKernel(o2z, o2z_in, o2z_in, hidden=[2], attributes=o2z_attr, r_max=2.0),
                           (pos, x4[:, :3])),
        "BasisKernel": (lambda: BasisKernel(vec, FieldType(so3, [so3.irrep(1)]), r_max=2.0), (pos,)),
        "FieldPointConv": (lambda: FieldPointConv(FieldType(so3, [so3.irrep(0)] * 4), vec, r_max=2.5), (x4, pos, ei)),
        "FieldPointConv(implicit kernel)": (lambda: FieldPointConv(o2z_in, o2z_in, kernel=ImplicitKernel(
            o2z, o2z_in, o2z_in, hidden=[2], attributes=o2z_attr, r_max=2.5)), (x_o2z, pos, ei, attr)),
        "R2Conv(implicit kernel)": (lambda: R2Conv(reg, mixed, 3, padding=1, kernel=ImplicitKernel(
            c4, reg, mixed, hidden=[2], r_max=2.0)), (img,)),
        "ShapeAutoencoder": (lambda: ShapeAutoencoder(lmax=3, n_species=2, latent_multiplicity=2),
                             (torch.randn(3, 2, 16, dtype=F64, generator=g),)),
    }


CASES = _cases()


def _args(name, module, dtype):
    args = CASES[name][1]
    if name == "FourierELU":
        args = (torch.randn(2, module.in_type.size, 4, 4, dtype=F64, generator=_gen(3)),)
    return tuple(a.to(dtype) if a.is_floating_point() else a for a in args)


def _out(y):
    return torch.cat([t.reshape(-1) for t in y]) if isinstance(y, tuple) else y


def _build(name, dtype):
    torch.manual_seed(0)
    with default_dtype(dtype):
        m = CASES[name][0]()
    return m.eval()


@pytest.mark.parametrize("name", sorted(CASES))
def test_float32_build_then_double_is_float64_accurate(name):
    m32 = _build(name, F32)
    m64 = _build(name, F64)
    m64.load_state_dict(m32.state_dict())  # the same (float32-representable) weights
    with torch.no_grad():
        expected = _out(m64(*_args(name, m64, F64)))
        got = _out(m32.double()(*_args(name, m64, F64)))
    scale = max(float(expected.abs().max()), 1.0)
    assert float((got - expected).abs().max()) <= 1e-13 * scale
    for b in m32.buffers():
        assert not b.is_floating_point() or b.dtype == F64


def _is_state(buffer_name):
    """Buffers that are state computed from data or from the random initial weights, not constants with float64
    masters: batch norm running statistics, the calibrated ``gain`` of the kernel modules (a ``.float()`` rounds
    them, as it rounds the weights)."""
    return "running" in buffer_name or buffer_name.split(".")[-1] == "gain"


@pytest.mark.parametrize("name", sorted(CASES))
def test_round_trip_through_float32_keeps_float64_constants(name):
    m64 = _build(name, F64)
    ref = {k: v.clone() for k, v in m64.named_buffers() if v.is_floating_point()}
    m64.float().double()
    for k, v in m64.named_buffers():
        if k in ref and not _is_state(k):
            assert torch.equal(v, ref[k]), k


CONSTANT_FREE = ("Gate", "RadialEmbedding")  # no parameters or constants: any floating dtype is accepted


@pytest.mark.parametrize("name", sorted(set(CASES) - set(CONSTANT_FREE)))
def test_input_of_another_dtype_raises_naming_module_input_and_dtypes(name):
    m = _build(name, F32)
    with pytest.raises(ValueError) as info:
        m(*_args(name, m, F64))
    msg = str(info.value)
    assert msg.startswith(f"{type(m).__name__}: ")
    assert " has dtype torch.float64, but the module's parameters and constants are torch.float32" in msg


@pytest.mark.parametrize("name", CONSTANT_FREE)
def test_constant_free_modules_take_any_floating_dtype_but_not_integers(name):
    m = _build(name, F32)
    args = _args(name, m, F64)
    assert _out(m(*args)).dtype == F64
    with pytest.raises(ValueError, match=rf"{name}: .* has dtype torch.int64, expected a floating point dtype"):
        m(*(a.long() for a in args))


@pytest.mark.parametrize("name", ["R2Conv", "R3Conv", "FieldLinear", "LiftingConv2d", "GroupConv2d"])
def test_grid_convolutions_reject_integer_inputs(name):
    m = _build(name, F32)
    x = _args(name, m, F32)[0]
    with pytest.raises(ValueError, match=rf"{type(m).__name__}: input x has dtype torch.int64, expected "
                                         r"torch.float32"):
        m(x.long())


def test_tensor_product_names_the_wrong_input():
    tp = _build("FullyConnectedTensorProduct", F32)
    x, y = _args("FullyConnectedTensorProduct", tp, F32)
    with pytest.raises(ValueError, match=r"FullyConnectedTensorProduct: input y has dtype torch.float64, but the "
                                         r"module's parameters and constants are torch.float32"):
        tp(x, y.double())


def test_graph_layer_names_the_wrong_input():
    m = _build("EGNNLayer", F32)
    h, pos, ei = _args("EGNNLayer", m, F32)
    with pytest.raises(ValueError, match=r"EGNNLayer: pos has dtype torch.float64"):
        m(h, pos.double(), ei)


def test_point_conv_and_kernel_name_the_wrong_input():
    conv = _build("FieldPointConv(implicit kernel)", F32)
    x, pos, ei, attr = _args("FieldPointConv(implicit kernel)", conv, F32)
    with pytest.raises(ValueError, match=r"FieldPointConv: edge_attr has dtype torch.float64"):
        conv(x, pos, ei, attr.double())
    with pytest.raises(ValueError, match=r"ImplicitKernel: attributes has dtype torch.float64"):
        conv.kernel(pos[:3], attr[:3].double())
    with pytest.raises(ValueError, match=r"ImplicitKernel: positions x has dtype torch.int64"):
        conv.kernel(pos[:3].long(), attr[:3])


def test_persistent_constants_are_not_rounded_by_a_float32_checkpoint():
    m32 = _build("FourierELU", F32)
    m64 = _build("FourierELU", F64)
    exact = m64.A.clone()
    m64.load_state_dict(m32.state_dict())
    assert torch.equal(m64.A, exact)


def test_deepcopy_keeps_masters():
    m = copy.deepcopy(_build("FullyConnectedTensorProduct", F32)).double()
    ref = _build("FullyConnectedTensorProduct", F64)
    for (k, a), (_, b) in zip(m.named_buffers(), ref.named_buffers()):
        assert torch.equal(a, b), k
