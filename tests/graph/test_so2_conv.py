"""conv="so2" (eSCN, steertorch.o3.SO2TensorProduct) in PointConv, SEGNNLayer and the models built on them: the
same parameters and state dict as conv="tp", the same outputs and derivatives (forces, and training on forces)."""

import pytest
import torch

from steertorch.graph import PointConv, SEGNNLayer, radius_graph
from steertorch.models import SEGNN, TensorFieldNetwork
from steertorch.o3 import rand_matrix

pytestmark = pytest.mark.usefixtures("float64_default")

IRREPS_IN = "3x0e + 2x0o + 2x1o + 1x1e + 1x2e"
IRREPS_OUT = "4x0e + 2x0o + 2x1o + 2x1e + 1x2e + 1x2o"


def _pair(cls, *args, **kwargs):
    """The "tp" module and its "so2" twin, the twin loaded with the first's state dict."""
    torch.manual_seed(0)
    ref = cls(*args, **kwargs)
    torch.manual_seed(1)
    so2 = cls(*args, conv="so2", **kwargs)
    assert ref.state_dict().keys() == so2.state_dict().keys()
    assert [p.shape for p in ref.parameters()] == [p.shape for p in so2.parameters()]
    so2.load_state_dict(ref.state_dict())
    return ref, so2


def _graph(n=10, seed=0, r=2.5):
    """Positions with two coincident points (zero edge vectors both ways) and a self-loop."""
    g = torch.Generator().manual_seed(seed)
    pos = 1.5 * torch.randn(n, 3, generator=g, dtype=torch.float64)
    pos[1] = pos[0]
    edge_index = torch.cat([radius_graph(pos, r), torch.tensor([[0, 1, 2], [1, 0, 2]])], dim=1)
    return pos, edge_index, g


def _force_training(module, x, pos, edge_index):
    """Output, forces -dE/dpos, and the parameter gradients of a force loss (double backward)."""
    pos = pos.clone().requires_grad_()
    out = module(x, pos, edge_index)
    energy = (out * torch.linspace(-1, 1, out.shape[1], dtype=out.dtype)).sum()
    (forces,) = torch.autograd.grad(-energy, pos, create_graph=True)
    grads = torch.autograd.grad(forces.pow(2).sum(), list(module.parameters()), allow_unused=True)
    return out, forces, [g if g is not None else torch.zeros_like(p) for g, p in zip(grads, module.parameters())]


def _assert_same(ref, so2, x, pos, edge_index):
    a, b = _force_training(ref, x, pos, edge_index), _force_training(so2, x, pos, edge_index)
    assert a[0].abs().max() > 0.1
    for u, v in [(a[0], b[0]), (a[1], b[1]), *zip(a[2], b[2])]:
        assert (u - v).abs().max() <= 1e-11 * max(1.0, u.abs().max().item())
    assert all(torch.isfinite(t).all() for t in [b[0], b[1], *b[2]])


@pytest.mark.parametrize("kwargs", [dict(irreps_sh=2), dict(irreps_sh=3, gate=False, normalization=4.0),
                                    dict(irreps_sh=4, edge_chunk_size=7, self_interaction=False)])
def test_point_conv_so2_equals_tp(kwargs):
    ref, so2 = _pair(PointConv, IRREPS_IN, IRREPS_OUT, r_max=2.5, **kwargs)
    pos, edge_index, g = _graph()
    x = torch.randn(pos.shape[0], ref.irreps_in.dim, generator=g, dtype=torch.float64)
    _assert_same(ref, so2, x, pos, edge_index)


@pytest.mark.parametrize("lmax_attr", [1, 3])
def test_segnn_layer_so2_equals_tp(lmax_attr):
    ref, so2 = _pair(SEGNNLayer, "4x0e + 2x1o + 1x2e", "8x0e + 4x1o + 2x2e + 1x3o", lmax_attr=lmax_attr)
    pos, edge_index, g = _graph(seed=1)
    x = torch.randn(pos.shape[0], ref.irreps_in.dim, generator=g, dtype=torch.float64)
    _assert_same(ref, so2, x, pos, edge_index)
    with pytest.raises(ValueError, match="edge_attr"):
        so2(x, pos, edge_index, edge_attr=torch.zeros(edge_index.shape[1], so2.irreps_attr.dim))


def test_models_take_the_argument():
    pos, edge_index, _ = _graph(n=8, seed=2, r=3.0)
    batch = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    edge_index = edge_index[:, batch[edge_index[0]] == batch[edge_index[1]]]
    for cls, kwargs in ((TensorFieldNetwork, dict(lmax=3, mul=4)),
                        (SEGNN, dict(hidden_features=8, num_layers=2, lmax_attr=2))):
        torch.manual_seed(0)
        ref = cls(**kwargs)
        so2 = cls(**kwargs, conv="so2")
        so2.load_state_dict(ref.state_dict())
        args = (pos,) if cls is TensorFieldNetwork else ()
        kw = dict(edge_index=edge_index, batch=batch, num_graphs=2) | ({} if args else dict(pos=pos))
        out = ref(*args, **kw)
        assert (so2(*args, **kw) - out).abs().max() <= 1e-12 * max(1.0, out.abs().max().item())


@pytest.mark.parametrize("improper", [False, True])
def test_point_conv_so2_equivariance(improper):
    torch.manual_seed(0)
    conv = PointConv(IRREPS_IN, IRREPS_OUT, irreps_sh=3, r_max=2.5, conv="so2")
    pos, edge_index, g = _graph(seed=3)
    x = torch.randn(pos.shape[0], conv.irreps_in.dim, generator=g, dtype=torch.float64)
    out = conv(x, pos, edge_index)
    R = rand_matrix(generator=g, dtype=torch.float64) * (-1 if improper else 1)
    moved = conv(x @ conv.irreps_in.D_from_matrix(R).T, pos @ R.T + torch.randn(3, dtype=torch.float64), edge_index)
    assert (moved - out @ conv.irreps_out.D_from_matrix(R).T).abs().max() <= 1e-10


def test_point_conv_so2_no_edges_and_bad_argument():
    torch.manual_seed(0)
    conv = PointConv(IRREPS_IN, IRREPS_OUT, irreps_sh=2, conv="so2")
    x = torch.randn(4, conv.irreps_in.dim, dtype=torch.float64)
    out = conv(x, torch.randn(4, 3, dtype=torch.float64), torch.zeros(2, 0, dtype=torch.long))
    out.pow(2).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in conv.parameters())
    with pytest.raises(ValueError, match="conv"):
        PointConv("0e", "0e", conv="escn")
    with pytest.raises(ValueError, match="conv"):
        SEGNNLayer("0e", "0e", conv="SO2")


def test_so2_model_exports_with_dynamic_sizes():
    from torch.export import Dim

    torch.manual_seed(0)
    model = TensorFieldNetwork(irreps_out="0e + 1o", lmax=3, mul=2, num_layers=1, conv="so2").eval()
    nodes, edges = Dim("nodes", min=2), Dim("edges", min=2)

    def inputs(n, seed):
        pos = torch.randn(n, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        return dict(pos=pos, edge_index=radius_graph(pos, r=2.0), batch=torch.zeros(n, dtype=torch.long),
                    num_graphs=1)

    program = torch.export.export(model, (), inputs(6, 0), dynamic_shapes=dict(
        pos={0: nodes}, edge_index={1: edges}, batch={0: nodes}, num_graphs=None))
    for n, seed in ((6, 0), (9, 1)):
        assert (program.module()(**inputs(n, seed)) - model(**inputs(n, seed))).abs().max() <= 1e-12
