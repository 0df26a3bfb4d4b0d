"""PointConv (tensor field network layer): E(3) and permutation equivariance, normalisation, edge cases."""

import pytest
import torch

from steertorch.graph import PointConv, TFNLayer, radius_graph
from steertorch.group._group import float64_default
from steertorch.o3 import Irreps, rand_matrix

IRREPS_IN = "3x0e + 2x0o + 2x1o + 1x1e + 1x2e"
IRREPS_OUT = "4x0e + 2x0o + 2x1o + 2x1e + 1x2e + 1x2o"


def _conv(*args, **kwargs):
    """A float64 PointConv whose Clebsch-Gordan constants are computed in float64 (not cast from float32)."""
    with float64_default():
        return PointConv(*args, **kwargs)


def _graph(n=12, seed=0, r=2.5):
    g = torch.Generator().manual_seed(seed)
    pos = 1.5 * torch.randn(n, 3, generator=g, dtype=torch.float64)
    return pos, radius_graph(pos, r), g


def _orthogonal(g, improper):
    R = rand_matrix(generator=g, dtype=torch.float64)
    return -R if improper else R


@pytest.mark.parametrize("gate", [True, False])
@pytest.mark.parametrize("improper", [False, True])
def test_e3_equivariance(gate, improper):
    torch.manual_seed(0)
    conv = _conv(IRREPS_IN, IRREPS_OUT, irreps_sh=2, r_max=2.5, gate=gate)
    pos, edge_index, g = _graph()
    assert edge_index.shape[1] > 20
    x = torch.randn(pos.shape[0], conv.irreps_in.dim, generator=g, dtype=torch.float64)
    out = conv(x, pos, edge_index)
    assert out.abs().max() > 1e-3
    for _ in range(3):
        R = _orthogonal(g, improper)
        t = torch.randn(3, generator=g, dtype=torch.float64)
        D_in = conv.irreps_in.D_from_matrix(R)
        D_out = conv.irreps_out.D_from_matrix(R)
        out_moved = conv(x @ D_in.T, pos @ R.T + t, edge_index)
        assert (out_moved - out @ D_out.T).abs().max() <= 1e-10


def test_reflection_acts_on_parity():
    """Under x -> -x odd outputs flip and even ones do not: the layer is not merely rotation-equivariant."""
    torch.manual_seed(1)
    layers = [_conv("0e", "2x0e + 2x1o", irreps_sh=1, r_max=3.0, gate=False)]  # 0e x Y: 0e, 1o only
    layers.append(_conv(layers[-1].irreps_out, "2x1o + 2x1e", irreps_sh=1, r_max=3.0, gate=False))  # 1o x 1o: 1e
    layers.append(_conv(layers[-1].irreps_out, "2x0o", irreps_sh=1, r_max=3.0, gate=False))  # 1e x 1o: 0o
    pos, edge_index, _ = _graph(n=8, seed=3, r=3.0)

    def f(p):
        h = torch.ones(8, 1, dtype=torch.float64)
        for layer in layers:
            h = layer(h, p, edge_index)
        return h  # pseudoscalars of a chiral cloud

    h, h_mirror = f(pos), f(-pos)
    assert h.abs().max() > 1e-3
    assert (h_mirror + h).abs().max() <= 1e-10


def test_permutation_equivariance():
    torch.manual_seed(0)
    conv = _conv(IRREPS_IN, IRREPS_OUT, irreps_sh=2, r_max=2.5)
    pos, edge_index, g = _graph()
    x = torch.randn(pos.shape[0], conv.irreps_in.dim, generator=g, dtype=torch.float64)
    perm = torch.randperm(pos.shape[0], generator=g)
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(perm.numel())
    out = conv(x, pos, edge_index)
    out_perm = conv(x[perm], pos[perm], inv[edge_index])  # node i of the new graph is node perm[i]
    assert (out_perm - out[perm]).abs().max() <= 1e-12


def test_is_the_tfn_formula():
    """Without self-interaction, gate and with the sum: one edge gives Lin(TP(V_b, Y(r_ab), R(|r_ab|)))."""
    torch.manual_seed(0)
    conv = _conv("2x0e + 1x1o", "3x0e + 2x1o", irreps_sh=1, r_max=2.0, normalization="none",
                 self_interaction=False, gate=False)
    pos = torch.tensor([[0.1, 0.2, 0.3], [0.5, -0.4, 0.9], [5.0, 5.0, 5.0]], dtype=torch.float64)
    x = torch.randn(3, conv.irreps_in.dim, dtype=torch.float64)
    edge_index = torch.tensor([[1], [0]])
    out = conv(x, pos, edge_index)
    from steertorch.o3 import spherical_harmonics

    r = pos[1] - pos[0]
    y = spherical_harmonics(conv.irreps_sh, r, normalize=True, normalization="component")
    w = conv.radial(conv.radial_embedding(r.norm().reshape(1)))[0]
    expected = conv.lin_conv(conv.tp(x[1], y, w))
    assert torch.allclose(out[0], expected, atol=1e-12)
    assert out[1:].abs().max() == 0  # nodes without incoming edges get nothing


@pytest.mark.parametrize("normalization", ["sqrt_degree", "degree", "none", 4.0])
def test_neighbour_normalisation(normalization):
    torch.manual_seed(0)
    kwargs = dict(irreps_sh=1, r_max=3.0, self_interaction=False, gate=False)
    ref = _conv("2x0e + 1x1o", "2x0e + 1x1o", normalization="none", **kwargs)
    conv = _conv("2x0e + 1x1o", "2x0e + 1x1o", normalization=normalization, **kwargs)
    conv.load_state_dict(ref.state_dict())
    pos, edge_index, g = _graph(n=10, seed=2, r=3.0)
    x = torch.randn(10, 5, generator=g, dtype=torch.float64)
    deg = torch.bincount(edge_index[1], minlength=10).clamp(min=1).double()[:, None]
    n = {"sqrt_degree": deg.sqrt(), "degree": deg, "none": torch.ones_like(deg), 4.0: torch.full_like(deg, 2.0)}
    assert torch.allclose(conv(x, pos, edge_index), ref(x, pos, edge_index) / n[normalization], atol=1e-12)


def test_unit_second_moment_at_init():
    torch.manual_seed(0)
    n = 400
    pos = 4.0 * torch.rand(n, 3, dtype=torch.float64)
    edge_index = radius_graph(pos, 1.5)
    irreps_in = Irreps("16x0e + 8x1o + 4x2e")
    moments = []
    for seed in range(3):
        torch.manual_seed(seed)
        conv = _conv(irreps_in, "16x0e + 8x1o + 4x2e", irreps_sh=2, r_max=1.5, gate=False)
        x = torch.randn(n, irreps_in.dim, dtype=torch.float64)
        moments.append(conv(x, pos, edge_index).pow(2).mean().item())
    m = sum(moments) / len(moments)
    assert 0.4 < m < 2.5, moments


def test_duplicate_points_and_isolated_nodes_have_finite_gradients():
    torch.manual_seed(0)
    conv = _conv("0e + 1o", "4x0e + 2x1o + 1x2e", irreps_sh=2, r_max=2.0)
    pos = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.5, 0.2, 0.1], [9.0, 9.0, 9.0]],
                       dtype=torch.float64, requires_grad=True)
    x = torch.randn(4, 4, dtype=torch.float64, requires_grad=True)
    edge_index = radius_graph(pos.detach(), 2.0, loop=True)  # self-loops: zero-length edges too
    assert ((edge_index[0] == 0) & (edge_index[1] == 1)).any()
    out = conv(x, pos, edge_index)
    assert torch.isfinite(out).all()
    (gp, gx) = torch.autograd.grad(out.pow(2).sum(), (pos, x), create_graph=True)
    assert torch.isfinite(gp).all() and torch.isfinite(gx).all()
    grads = torch.autograd.grad(gp.pow(2).sum(), list(conv.parameters()), allow_unused=True)
    assert all(g is None or torch.isfinite(g).all() for g in grads)
    # isolated node 3 only sees its self-interaction (its self-loop has length 0)
    empty = conv(x, pos, torch.zeros(2, 0, dtype=torch.long))
    assert torch.isfinite(empty).all() and empty.shape == out.shape


def test_edge_vec_override_and_float32():
    torch.manual_seed(0)
    conv = PointConv("0e + 1o", "4x0e + 2x1o", irreps_sh=2, r_max=2.5)
    pos, edge_index, _ = _graph()
    pos = pos.float()
    x = torch.randn(pos.shape[0], 4)
    vec = pos[edge_index[0]] - pos[edge_index[1]]
    out = conv(x, pos, edge_index)
    assert out.dtype == torch.float32
    assert torch.allclose(conv(x, torch.zeros_like(pos), edge_index, edge_vec=vec), out, atol=1e-6)


def test_bad_inputs_raise():
    conv = PointConv("0e + 1o", "4x0e + 2x1o", irreps_sh=1)
    pos = torch.randn(5, 3)
    edge_index = torch.tensor([[0, 1], [1, 0]])
    with pytest.raises(ValueError, match=r"\[N, 4\]"):
        conv(torch.randn(5, 3), pos, edge_index)
    with pytest.raises(ValueError, match="pos"):
        conv(torch.randn(5, 4), torch.randn(4, 3), edge_index)
    with pytest.raises(ValueError, match="edge_index"):
        conv(torch.randn(5, 4), pos, edge_index.float())
    with pytest.raises(ValueError, match="edge_vec"):
        conv(torch.randn(5, 4), pos, edge_index, edge_vec=torch.randn(3, 3))
    with pytest.raises(ValueError, match="normalization"):
        PointConv("0e", "0e", normalization="avg")
    with pytest.raises(ValueError, match="spherical harmonics"):
        PointConv("0e", "0e", irreps_sh="1e")


def test_aliases_and_irreps():
    assert TFNLayer is PointConv
    conv = PointConv("0e", "8x0e + 4x1o", irreps_sh=2)
    assert conv.irreps_out == Irreps("8x0e + 4x1o")
    assert conv.irreps_pre == Irreps("12x0e + 4x1o")  # 8 scalars + 4 gates, then the gated vectors
