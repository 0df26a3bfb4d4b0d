"""escnn's nn names added for issue 18, side by side with escnn (skipped without a working escnn): IIDBatchNorm1d,
InducedNormPool, InducedNormBatchNorm, Linear, MaxPoolChannels, PointwiseMaxPool, no_base_space, point-cloud
GeometricTensors; each also tested for exact equivariance in float64.

escnn.nn names still missing here: ``init``, ``modules``, ``modules_list``, ``field_type``, ``geometric_tensor``
(escnn's sub-modules). ``TensorProductModule``, ``ConcatenatedNonLinearity``, ``VectorFieldNonLinearity``,
``InducedGatedNonLinearity1`` and ``R3IcoConvTransposed`` are tested in ``test_escnn_nonlinearities.py``.
"""

import copy
import pickle

import pytest
import torch
from _escnn_helpers import import_escnn

from steertorch import gspaces
from steertorch import nn as snn
from steertorch.group import cyclic_group, o2_group, so3_group
from steertorch.group._group import float64_default
from steertorch.gspaces import no_base_space
from steertorch.nn import FieldType, GeometricTensor
from steertorch.testing import field_equivariance_error, grid_symmetries

F64 = torch.float64


def _escnn():
    return import_escnn()


def _act(ft, x, g):
    """rho(g) on the channels (axis 1) of a tensor with any number of further axes."""
    with float64_default():
        rho = ft.representation(g).to(x.dtype)
    return torch.einsum("ij,bj...->bi...", rho, x)


def _fibre_error(m, ft_in, ft_out, x, elements):
    with torch.no_grad():
        y = m(x)
        return max(float((m(_act(ft_in, x, g)) - _act(ft_out, y, g)).abs().max()) for g in elements)


# ---------------------------------------------------------------------------- no base space
def test_no_base_space_types_act_on_vectors():
    gs = no_base_space(so3_group())
    assert gs.dimensionality == 0 and gs == no_base_space(so3_group()) and gs != gspaces.rot3dOnR3()
    ft = FieldType(gs, [gs.irrep(1), gs.irrep(2)])
    x = torch.randn(4, 8, dtype=F64)
    g = gs.testing_elements[3]
    torch.testing.assert_close(ft.transform(x, g), ft.transform_fibers(x, g))
    with pytest.raises(ValueError, match="expected a tensor"):
        ft.check(torch.randn(4, 8, 1))
    assert pickle.loads(pickle.dumps(ft)) == ft
    sub, _ = no_base_space(cyclic_group(4)).restrict("C2")
    assert sub.dimensionality == 0 and sub.fibergroup.order == 2


# ---------------------------------------------------------------------------- IIDBatchNorm1d
def test_iid_batchnorm1d_is_equivariant_and_takes_2d_or_3d_inputs():
    torch.manual_seed(0)
    gs = no_base_space(o2_group())
    ft = FieldType(gs, [gs.irrep((0, 0)), gs.irrep((1, 1)), gs.irrep((1, 2)), gs.irrep((0, 0))])
    bn = snn.IIDBatchNorm1d(ft).double()
    with torch.no_grad():
        bn.weight.uniform_(0.5, 2)
        bn.bias.normal_()
    els = gs.testing_elements
    for shape in ((16, ft.size), (4, ft.size, 5)):
        x = torch.randn(*shape, dtype=F64) + 1
        assert _fibre_error(bn, ft, ft, x, els) < 1e-12
    bn.eval()
    assert _fibre_error(bn, ft, ft, torch.randn(3, ft.size, dtype=F64), els) < 1e-12
    with pytest.raises(ValueError, match=r"IIDBatchNorm1d: expected input \[batch, 6\]"):
        bn(torch.randn(2, 6, 3, 3, dtype=F64))
    bn.train()
    y = bn(torch.zeros(0, ft.size, dtype=F64))
    assert y.shape == (0, ft.size) and y.requires_grad


def test_iid_batchnorm1d_equals_escnn_in_eval_mode():
    eg, egs, en = _escnn()
    torch.manual_seed(0)
    egsp = egs.no_base_space(eg.o2_group())
    erho = eg.directsum([egsp.fibergroup.irrep(0, 0), egsp.fibergroup.irrep(1, 1)], name="r")
    eft = en.FieldType(egsp, [erho] * 3)
    theirs = en.IIDBatchNorm1d(eft).double()
    gs = no_base_space(o2_group())
    ours = snn.IIDBatchNorm1d(FieldType(gs, [gs.irrep((0, 0)), gs.irrep((1, 1))] * 3)).double()
    # same fields: escnn's field r is (0, 0) + (1, 1), here two fields; both give one scale per escnn field
    # when the two parts share it, so compare a type with one field per escnn field instead
    ours = snn.IIDBatchNorm1d(FieldType(gs, [_sum(gs)] * 3)).double()
    mean, var = torch.randn(3), torch.rand(3) + 0.5
    w, b = torch.rand(3) + 0.5, torch.randn(3)
    with torch.no_grad():
        sd = theirs.state_dict()
        sd["r_running_mean"] = torch.zeros(3, 3, dtype=F64)
        sd["r_running_mean"][:, 0] = mean
        sd["r_running_var"] = var.double()[:, None]
        sd["r_weight"], sd["r_bias"] = w.double()[:, None], b.double()[:, None]
        theirs.load_state_dict(sd)
        ours.running_mean.copy_(mean)
        ours.running_var.copy_(var)
        ours.weight.copy_(w)
        ours.bias.copy_(b)
    theirs.eval()
    ours.eval()
    x = torch.randn(7, 9, dtype=F64)
    torch.testing.assert_close(ours(x), theirs(eft(x)).tensor, rtol=0, atol=1e-12)


def _sum(gs):
    from steertorch.group import Representation

    return Representation([gs.irrep((0, 0)), gs.irrep((1, 1))], name="r")


# ---------------------------------------------------------------------------- induced fields
def _induced(gs, sub_name):
    sub, _ = gs.restrict(sub_name)
    psi = max(sub.fibergroup.irreps(), key=lambda p: p.size)
    return gs.induced_repr(sub_name, psi), psi.size


@pytest.mark.parametrize("gs, sub_name", [(gspaces.flipRot2dOnR2(4), "C4"), (gspaces.rot2dOnR2(8), "C4")],
                         ids=["D4/C4", "C8/C4"])
def test_induced_norm_pool_and_batchnorm_are_equivariant(gs, sub_name):
    torch.manual_seed(0)
    rho, d = _induced(gs, sub_name)
    ft = FieldType(gs, [rho, rho, rho])
    pool = snn.InducedNormPool(ft).double()
    assert pool.block_size == [d] * 3 and pool.out_type.size == 3
    x = torch.randn(2, ft.size, 5, 5, dtype=F64)
    assert _fibre_error(pool, ft, pool.out_type, x, gs.fibergroup.elements()) < 1e-12
    assert field_equivariance_error(pool, x, grid_symmetries(gs)) < 1e-12
    bn = snn.InducedNormBatchNorm(ft, eps=0.0).double()
    with torch.no_grad():
        bn.weight.uniform_(0.5, 2)
    assert _fibre_error(bn, ft, ft, x, gs.fibergroup.elements()) < 1e-12
    y = bn(x).detach()  # E|v_i|^2 / d_i = w_i^2 for each field in training mode
    torch.testing.assert_close(y.reshape(2, 3, rho.size, 5, 5).pow(2).sum(2).mean((0, 2, 3)) / rho.size,
                               bn.weight.detach() ** 2, rtol=1e-12, atol=0)
    for m in (pool, bn):
        assert torch.equal(pickle.loads(pickle.dumps(m))(x), copy.deepcopy(m)(x))
        assert m(torch.zeros(0, ft.size, 5, 5, dtype=F64)).shape[0] == 0


def test_induced_modules_check_their_fields():
    gs = gspaces.flipRot2dOnR2(4)
    with pytest.raises(ValueError, match="pass block_size"):
        snn.InducedNormPool(FieldType(gs, [gs.irrep(1, 1)]))
    d3 = gspaces.flipRot2dOnR2(3)
    with pytest.raises(ValueError, match="does not permute its blocks"):
        snn.InducedNormPool(FieldType(d3, [d3.irrep(1, 1)]), block_size=1)
    with pytest.raises(ValueError, match="trivial irrep"):
        snn.InducedNormBatchNorm(FieldType(gs, [gs.regular_repr]), block_size=1)
    assert snn.InducedNormPool(FieldType(gs, [gs.regular_repr]), block_size=1).block_size == [1]


def test_induced_norm_pool_and_batchnorm_equal_escnn():
    eg, egs, en = _escnn()
    torch.manual_seed(0)
    egsp = egs.flipRot2dOnR2(4)
    esub = egsp.fibergroup.subgroup((None, 4))[0]
    erho = egsp.induced_repr((None, 4), esub.irrep(1))
    eft = en.FieldType(egsp, [erho] * 2)
    gs = gspaces.flipRot2dOnR2(4)
    rho, d = _induced(gs, "C4")
    assert (rho.size, d) == (erho.size, 2)
    ft = FieldType(gs, [rho] * 2)
    x = torch.randn(3, ft.size, 4, 4)
    # the max block norm does not depend on the order of the cosets nor on the basis inside a block
    torch.testing.assert_close(snn.InducedNormPool(ft)(x), en.InducedNormPool(eft)(eft(x)).tensor)
    theirs, ours = en.InducedNormBatchNorm(eft), snn.InducedNormBatchNorm(ft)
    var, w = torch.rand(2) + 0.5, torch.rand(2) + 0.5
    with torch.no_grad():
        sd = theirs.state_dict()
        sd["(4, 2)_running_var"], sd["(4, 2)_weight"] = var.view(1, 2, 1, 1), w.view(1, 2, 1, 1)
        theirs.load_state_dict(sd)
        ours.running_var.copy_(var)
        ours.weight.copy_(w)
    theirs.eval()
    ours.eval()
    torch.testing.assert_close(ours(x), theirs(eft(x)).tensor)


# ---------------------------------------------------------------------------- Linear, channel pooling
def test_linear_on_no_base_space_is_equivariant_and_exports():
    torch.manual_seed(0)
    gs = no_base_space(so3_group())
    t_in = FieldType(gs, [gs.irrep(0), gs.irrep(1), gs.irrep(2)] * 2)
    t_out = FieldType(gs, [gs.irrep(0), gs.irrep(1), gs.irrep(1)])
    lin = snn.Linear(t_in, t_out).double()
    assert lin.weights.numel() == 2 + 4
    x = torch.randn(5, t_in.size, dtype=F64)
    assert _fibre_error(lin, t_in, t_out, x, gs.testing_elements) < 1e-12
    y = lin(t_in(x))
    assert isinstance(y, GeometricTensor) and y.type == t_out
    torch.testing.assert_close(lin.export()(x), lin(x))
    with pytest.raises(ValueError, match="basisexpansion"):
        snn.Linear(t_in, t_out, basisexpansion="other")


@pytest.mark.parametrize("group", ["C4", "D3", "O2"])
def test_linear_parameter_count_equals_escnn(group):
    eg, egs, en = _escnn()
    if group == "C4":
        ours, theirs = cyclic_group(4), eg.cyclic_group(4)
        reps, ereps = [ours.regular_representation()] * 2, [theirs.regular_representation] * 2
        oreps, eoreps = [ours.regular_representation()] * 3, [theirs.regular_representation] * 3
    elif group == "D3":
        from steertorch.group import dihedral_group

        ours, theirs = dihedral_group(3), eg.dihedral_group(3)
        reps, ereps = [ours.regular_representation(), ours.irrep((1, 1))], [theirs.regular_representation,
                                                                            theirs.irrep(1, 1)]
        oreps, eoreps = [ours.irrep((0, 0)), ours.irrep((1, 1))] * 2, [theirs.irrep(0, 0), theirs.irrep(1, 1)] * 2
    else:
        ours, theirs = o2_group(), eg.o2_group()
        reps = [ours.irrep((0, 0)), ours.irrep((1, 1)), ours.irrep((1, 2)), ours.irrep((1, 1))]
        ereps = [theirs.irrep(0, 0), theirs.irrep(1, 1), theirs.irrep(1, 2), theirs.irrep(1, 1)]
        oreps, eoreps = reps[1:] * 2, ereps[1:] * 2
    gs, egsp = no_base_space(ours), egs.no_base_space(theirs)
    lin = snn.Linear(FieldType(gs, reps), FieldType(gs, oreps))
    elin = en.Linear(en.FieldType(egsp, ereps), en.FieldType(egsp, eoreps))
    assert lin.weights.numel() == elin.weights.numel()
    assert (lin.bias is None) == (elin.bias is None)


def test_max_pool_channels_and_pointwise_max_pool_equal_escnn():
    eg, egs, en = _escnn()
    x = torch.randn(2, 12, 6, 6)
    torch.testing.assert_close(snn.MaxPoolChannels(4)(x), en.MaxPoolChannels(4)(x))
    with pytest.raises(ValueError, match="divisible by 5"):
        snn.MaxPoolChannels(5)(x)
    gs, egsp = gspaces.rot2dOnR2(4), egs.rot2dOnR2(4)
    ft, eft = FieldType(gs, [gs.regular_repr] * 3), en.FieldType(egsp, [egsp.regular_repr] * 3)
    torch.testing.assert_close(snn.PointwiseMaxPool(ft, 2)(x), en.PointwiseMaxPool(eft, 2)(eft(x)).tensor)
    assert snn.PointwiseMaxPool is snn.PointwiseMaxPool2D


# ---------------------------------------------------------------------------- point-cloud GeometricTensors
def test_point_cloud_geometric_tensor_moves_points_and_fibres():
    gs = gspaces.rot2dOnR2(-1)
    ft = FieldType(gs, [gs.trivial_repr, gs.irrep(1)])
    pos, x = torch.randn(6, 2, dtype=F64), torch.randn(6, 3, dtype=F64)
    t = GeometricTensor(x, ft, pos)
    g = gs.fibergroup.testing_elements(3)[1]
    m = gs.basespace_action(g)
    moved = t.transform(g)
    torch.testing.assert_close(moved.coords, pos @ m.T)
    torch.testing.assert_close(moved.tensor[:, 1:], x[:, 1:] @ m.T)
    assert t[1:3].coords.shape == (2, 2) and t[:, 1].tensor.shape == (6, 2)
    # point-by-point modules keep the coords; modules with a window refuse points
    relu = snn.NormNonLinearity(ft).double()
    y = relu(t)
    assert torch.equal(y.coords, pos) and y.tensor.shape == (6, 3)
    with pytest.raises(ValueError, match="kernel_size"):
        snn.R2Conv(ft, ft, 3)(t)
    with pytest.raises(ValueError, match=r"expected coords \[6, 2\]"):
        GeometricTensor(x, ft, pos[:, :1])


# ---------------------------------------------------------------------------- HarmonicPolynomialR3
@pytest.mark.parametrize("group", ["so3", "o3"])
def test_harmonic_polynomial_r3_is_equivariant(group):
    h = snn.HarmonicPolynomialR3(3, group)
    assert h.out_type.size == 16 and h.in_type.size == 3
    x = torch.randn(20, 3, dtype=F64)
    y = h(x)
    for g in h.gspace.testing_elements[:6]:
        with float64_default():
            m = h.in_type.representation(g)
        torch.testing.assert_close(m, h.G.matrix(g).to(F64) if group == "so3" else m)  # vector = standard action
        torch.testing.assert_close(h(x @ m.T), _act(h.out_type, y, g), rtol=0, atol=1e-10)
    # polynomials: homogeneous of degree l, with |P_l(x)| = |x|^l
    off = 0
    for l in range(4):
        block = y[:, off:off + 2 * l + 1]
        torch.testing.assert_close(block.norm(dim=1), x.norm(dim=1) ** l, rtol=1e-12, atol=0)
        torch.testing.assert_close(h(2 * x)[:, off:off + 2 * l + 1], 2 ** l * block, rtol=1e-12, atol=0)
        off += 2 * l + 1
    out = h(GeometricTensor(x, h.in_type))
    assert out.type == h.out_type
    with pytest.raises(ValueError, match="points"):
        h(torch.randn(3, 4))
    assert h(torch.zeros(0, 3)).shape == (0, 16)


@pytest.mark.parametrize("group", ["so3", "o3"])
def test_harmonic_polynomial_r3_equals_escnn_up_to_a_basis_of_each_irrep(group):
    """escnn writes the same polynomials (same norms) in its own basis of each irrep: per degree l,
    escnn = Q_l ours with Q_l orthogonal (the documented change of basis)."""
    eg, egs, en = _escnn()
    torch.manual_seed(0)
    L = 3
    theirs, ours = en.HarmonicPolynomialR3(L, group), snn.HarmonicPolynomialR3(L, group)
    assert theirs.out_type.size == ours.out_type.size
    x = torch.randn(100, 3, dtype=torch.float32)
    y_e = theirs(theirs.in_type(x)).tensor.double()
    y_o = ours(x.double())
    off = 0
    for l in range(L + 1):
        a, b = y_o[:, off:off + 2 * l + 1], y_e[:, off:off + 2 * l + 1]
        q = torch.linalg.lstsq(a, b).solution.T  # b = a q^T
        torch.testing.assert_close(q @ q.T, torch.eye(2 * l + 1, dtype=F64), rtol=0, atol=1e-5)
        torch.testing.assert_close(a @ q.T, b, rtol=0, atol=1e-4)
        off += 2 * l + 1


# ---------------------------------------------------------------------------- R2PointConv / R3PointConv
def _point_graph(n, d, seed=0):
    gen = torch.Generator().manual_seed(seed)
    pos = torch.randn(n, d, generator=gen, dtype=F64)
    src, dst = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    keep = (src != dst) & ((pos[:, None] - pos[None]).norm(dim=-1) < 1.5)
    return pos, torch.stack([src[keep], dst[keep]])


@pytest.mark.parametrize("name, gs, fields", [
    ("SO2", gspaces.rot2dOnR2(-1, maximum_frequency=3), lambda gs: [gs.irrep(0), gs.irrep(1), gs.irrep(2)]),
    ("D4", gspaces.flipRot2dOnR2(4), lambda gs: [gs.regular_repr, gs.irrep(1, 1)]),
    ("O3", gspaces.flipRot3dOnR3(), lambda gs: [gs.irrep((0, 1)), gs.irrep((1, -1)), gs.irrep((2, 1))]),
], ids=lambda v: v if isinstance(v, str) else "")
def test_point_conv_is_equivariant_for_every_group_element(name, gs, fields):
    torch.manual_seed(0)
    ft = FieldType(gs, fields(gs))
    conv = (snn.R2PointConv if gs.dimensionality == 2 else snn.R3PointConv)(ft, ft, width=1.5, n_rings=3).double()
    with torch.no_grad():
        if conv.bias is not None:
            conv.bias.normal_()
    pos, edges = _point_graph(12, gs.dimensionality)
    x = GeometricTensor(torch.randn(12, ft.size, dtype=F64), ft, pos)
    y = conv(x, edges)
    assert y.type == ft and torch.equal(y.coords, pos)
    for g in list(gs.fibergroup.testing_elements(5))[1:]:
        torch.testing.assert_close(conv(x.transform(g), edges).tensor, y.transform(g).tensor, rtol=0, atol=1e-10)
    # plain tensors with edge_delta give the same; translations change nothing; 0 nodes work
    delta = pos[edges[0]] - pos[edges[1]]
    torch.testing.assert_close(conv(x.tensor, edges, delta), y.tensor)
    shifted = GeometricTensor(x.tensor, ft, pos + 3.0)
    torch.testing.assert_close(conv(shifted, edges).tensor, y.tensor)
    empty = GeometricTensor(torch.zeros(0, ft.size, dtype=F64), ft, torch.zeros(0, gs.dimensionality, dtype=F64))
    assert conv(empty, torch.zeros(2, 0, dtype=torch.long)).tensor.shape == (0, ft.size)
    assert torch.equal(pickle.loads(pickle.dumps(conv))(x, edges).tensor, y.tensor)
    with pytest.raises(ValueError, match="coords"):
        conv(x.tensor, edges)
    with pytest.raises(ValueError, match="width and n_rings"):
        snn.R2PointConv(ft, ft) if gs.dimensionality == 2 else snn.R3PointConv(ft, ft)


def _escnn_point_convs():
    """escnn's point convolutions, with a stand-in for torch_geometric's MessagePassing (mean aggregation) so they
    run without PyTorch Geometric."""
    import sys
    import types

    _escnn()
    if "torch_geometric" not in sys.modules:
        class MessagePassing(torch.nn.Module):
            def __init__(self, aggr="mean"):
                super().__init__()

            def propagate(self, edge_index, x, edge_delta):
                m = self.message(x[edge_index[0]], edge_delta)
                out = torch.zeros(x.shape[0], m.shape[1], dtype=m.dtype).index_add_(0, edge_index[1], m)
                deg = torch.zeros(x.shape[0], dtype=m.dtype).index_add_(0, edge_index[1], torch.ones_like(m[:, 0]))
                return out / deg.clamp(min=1)[:, None]

        stub = types.ModuleType("torch_geometric")
        stub.nn = types.SimpleNamespace(MessagePassing=MessagePassing)
        sys.modules["torch_geometric"] = stub
    if not hasattr(sys.modules["torch_geometric"], "nn") or not hasattr(sys.modules["torch_geometric"].nn,
                                                                          "MessagePassing"):
        pytest.skip("torch_geometric without MessagePassing")
    from escnn.nn.modules import pointconv

    return pointconv


@pytest.mark.parametrize("case", ["C8 regular", "SO2 irreps", "D4 mixed", "C8 rings"])
def test_point_conv_parameter_counts_equal_escnn(case):
    eg, egs, en = _escnn()
    pc = _escnn_point_convs()
    kw = {"width": 2.0, "n_rings": 3}
    if case.startswith("C8"):
        gs, egsp = gspaces.rot2dOnR2(8), egs.rot2dOnR2(8)
        t, et = [gs.trivial_repr, gs.regular_repr], [egsp.trivial_repr, egsp.regular_repr]
        if case == "C8 rings":
            kw = {"rings": [0.0, 0.7, 1.5, 2.5], "sigma": 0.5, "frequencies_cutoff": 2.0}
    elif case == "SO2 irreps":
        gs, egsp = gspaces.rot2dOnR2(-1, maximum_frequency=4), egs.rot2dOnR2(-1, maximum_frequency=4)
        t, et = [gs.irrep(k) for k in range(4)], [egsp.irrep(k) for k in range(4)]
    else:
        gs, egsp = gspaces.flipRot2dOnR2(4), egs.flipRot2dOnR2(4)
        t = [gs.regular_repr, gs.irrep(1, 1), gs.irrep(0, 0)]
        et = [egsp.regular_repr, egsp.irrep(1, 1), egsp.irrep(0, 0)]
    ours = snn.R2PointConv(FieldType(gs, t), FieldType(gs, t), **kw)
    theirs = pc.R2PointConv(en.FieldType(egsp, et), en.FieldType(egsp, et), **kw)
    n_ours = sum(p.numel() for n, p in ours.named_parameters() if n.startswith("kernel.weight"))
    assert n_ours == theirs.weights.numel()
    assert ours.bias.numel() == theirs.bias.numel()
    assert ours.rings == theirs._rings and ours.sigma == theirs._sigma


# ---------------------------------------------------------------------------- R3IcoConv, default band limit
def test_r3_ico_conv_is_equivariant_under_the_grid_symmetries_of_I():
    torch.manual_seed(0)
    gs = gspaces.icoOnR3()
    t = FieldType(gs, [gs.trivial_repr, gs.irrep(1)])
    conv = snn.R3IcoConv(t, t, 3, padding=1).double()
    x = torch.randn(1, t.size, 5, 5, 5, dtype=F64)
    assert len(grid_symmetries(gs)) == 12  # the rotations of the tetrahedral subgroup
    assert field_equivariance_error(conv, x, grid_symmetries(gs)) < 1e-10
    with pytest.raises(ValueError, match="samples"):
        snn.R3IcoConv(t, t, 3, samples="cube")
    with pytest.raises(ValueError, match="icosahedral"):
        snn.R3IcoConv(FieldType(gspaces.octaOnR3(), [gspaces.octaOnR3().trivial_repr]), t, 3)


def test_r3_ico_conv_signature_is_escnns():
    import inspect

    eg, egs, en = _escnn()
    assert list(inspect.signature(snn.R3IcoConv).parameters) == list(inspect.signature(en.R3IcoConv).parameters)


@pytest.mark.parametrize("case", ["C8 regular", "D4 regular", "D4 irreps", "SO2 irreps", "O2 irreps", "C4 k7"])
def test_r2conv_default_parameter_counts_equal_escnn(case):
    eg, egs, en = _escnn()
    k = 7 if case == "C4 k7" else 5
    if case in ("C8 regular", "D4 regular", "C4 k7"):
        n = {"C8 regular": 8, "C4 k7": 4}.get(case, 4)
        gs, egsp = ((gspaces.flipRot2dOnR2(4), egs.flipRot2dOnR2(4)) if case.startswith("D4")
                    else (gspaces.rot2dOnR2(n), egs.rot2dOnR2(n)))
        t, et = [gs.regular_repr] * 2, [egsp.regular_repr] * 2
    elif case == "D4 irreps":
        gs, egsp = gspaces.flipRot2dOnR2(4), egs.flipRot2dOnR2(4)
        labels = [(0, 0), (1, 0), (1, 1), (0, 2), (1, 2)]
        t, et = [gs.irrep(*lab) for lab in labels], [egsp.irrep(*lab) for lab in labels]
    elif case == "SO2 irreps":
        gs, egsp = gspaces.rot2dOnR2(-1, maximum_frequency=4), egs.rot2dOnR2(-1, maximum_frequency=4)
        t, et = [gs.irrep(j) for j in range(4)], [egsp.irrep(j) for j in range(4)]
    else:
        gs, egsp = gspaces.flipRot2dOnR2(-1, maximum_frequency=4), egs.flipRot2dOnR2(-1, maximum_frequency=4)
        labels = [(0, 0), (1, 0), (1, 1), (1, 2), (1, 3)]
        t, et = [gs.irrep(*lab) for lab in labels], [egsp.irrep(*lab) for lab in labels]
    ours = snn.R2Conv(FieldType(gs, t), FieldType(gs, t), k)
    theirs = en.R2Conv(en.FieldType(egsp, et), en.FieldType(egsp, et), k)
    assert ours.weights.numel() == theirs.weights.numel()
    # the previous default stays available
    wider = snn.R2Conv(FieldType(gs, t), FieldType(gs, t), k, frequencies_cutoff="steertorch")
    assert wider.weights.numel() >= ours.weights.numel()
