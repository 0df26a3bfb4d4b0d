"""SEGNN building blocks: irreps helpers, steerable linear layers, the message-passing layer."""

import pytest
import torch
from _equivariance_helpers import fully_connected_edges, orthogonal

from steertorch.graph import (
    O3TensorProduct,
    O3TensorProductGate,
    SEGNNLayer,
    balanced_irreps,
    segnn_attributes,
    weight_balanced_irreps,
)
from steertorch.o3 import Irreps, spherical_harmonics

DT = torch.float64

pytestmark = pytest.mark.usefixtures("float64_seeded")  # tests/conftest.py: float64 modules, seeded init


# ------------------------------------------------------------------ irreps helpers
def test_balanced_irreps_reference_values():
    # values computed by hand with the reference formula: floor(size / (dim * k)) copies, scalars fill the rest
    assert balanced_irreps(1, 64) == Irreps("34x0e + 10x1o")
    assert balanced_irreps(3, 128, sh_type=False) == Irreps("34x0e + 6x1e + 6x1o + 3x2e + 3x2o + 2x3e + 2x3o")
    assert balanced_irreps(2, 8) == Irreps("8x0e + 0x1o + 0x2e")
    for lmax, size, sh in [(1, 64, True), (2, 100, True), (3, 77, False)]:
        assert balanced_irreps(lmax, size, sh).dim == size
    with pytest.raises(ValueError):
        balanced_irreps(-1, 10)
    with pytest.raises(ValueError):
        balanced_irreps(1, 0)


def test_weight_balanced_irreps_reference_values():
    assert weight_balanced_irreps(64, "0e + 1o") == Irreps("32x0e + 32x1o")  # 4 paths: 4 n^2 >= 64^2
    assert weight_balanced_irreps(64, "0e + 1o + 2e", lmax=1) == Irreps("29x0e + 29x1o")  # 5 paths
    assert weight_balanced_irreps(64, "0e + 1o + 2e") == Irreps("20x0e + 20x1o + 20x2e")
    assert weight_balanced_irreps("64x0e", "0e + 1o") == Irreps("32x0e + 32x1o")
    with pytest.raises(ValueError):
        weight_balanced_irreps("4x1o", "0e + 1o")


def test_weight_balanced_irreps_is_minimal():
    from steertorch.o3 import FullyConnectedTensorProduct

    for units, attr in [(64, "0e + 1o"), (48, "0e + 1o + 2e"), (16, "0e + 1o")]:
        h = weight_balanced_irreps(units, attr)
        n = h[0].mul
        assert FullyConnectedTensorProduct(h, attr, h).weight_numel >= units**2
        smaller = Irreps([(n - 1, ir) for _, ir in h])
        assert FullyConnectedTensorProduct(smaller, attr, smaller).weight_numel < units**2


# ------------------------------------------------------------------ attributes
def test_segnn_attributes_values_and_equivariance():
    g = torch.Generator().manual_seed(0)
    pos = torch.randn(6, 3, dtype=DT, generator=g)
    pos[5] = pos[4]  # a duplicate point
    edge_index = torch.tensor([[1, 2, 0, 4, 5], [0, 0, 1, 5, 4]])  # node 3 isolated
    ea, na = segnn_attributes(pos, edge_index, lmax_attr=2)
    assert ea.shape == (5, 9) and na.shape == (6, 9)
    d = pos[0] - pos[1]
    torch.testing.assert_close(ea[0, 1:4], 3**0.5 * d / d.norm())  # component normalisation: Y1 = sqrt(3) x / |x|
    torch.testing.assert_close(na[0], 0.5 * (ea[0] + ea[1]))
    assert torch.all(na[:, 0] == 1)
    assert torch.all(na[3, 1:] == 0)  # isolated node
    assert torch.all(ea[3, 1:] == 0)  # coincident points: no direction
    R = orthogonal(g, improper=True)
    D = Irreps.spherical_harmonics(2).D_from_matrix(R)
    ea2, na2 = segnn_attributes(pos @ R.T + 1.5, edge_index, lmax_attr=2)
    torch.testing.assert_close(ea2, ea @ D.T, atol=1e-12, rtol=0)
    torch.testing.assert_close(na2, na @ D.T, atol=1e-12, rtol=0)


# ------------------------------------------------------------------ steerable linear layers
@pytest.mark.parametrize("cls", [O3TensorProduct, O3TensorProductGate])
def test_steerable_layers_equivariant(cls):
    g = torch.Generator().manual_seed(1)
    irreps_in, irreps_attr = Irreps("3x0e + 2x0o + 2x1o + 1x1e + 1x2e"), Irreps("0e + 1o + 2e")
    layer = cls(irreps_in, "4x0e + 2x0o + 3x1o + 2x1e + 1x2e", irreps_attr).to(DT)
    with torch.no_grad():
        if layer.__class__ is O3TensorProduct and layer.bias is not None:
            layer.bias.normal_(generator=g)
    x = irreps_in.randn(20, -1, dtype=DT, generator=g)
    a = irreps_attr.randn(20, -1, dtype=DT, generator=g)
    for improper in (False, True):
        R = orthogonal(g, improper)
        out = layer(x @ irreps_in.D_from_matrix(R).T, a @ irreps_attr.D_from_matrix(R).T)
        expected = layer(x, a) @ layer.irreps_out.D_from_matrix(R).T
        assert (out - expected).abs().max() < 1e-10


def test_o3_tensor_product_bias_only_on_even_scalars_and_unit_moment():
    layer = O3TensorProduct("16x0e + 16x0o + 16x1o + 8x2e", "8x0e + 8x0o + 8x1o + 8x1e", "0e + 1o + 2e").to(DT)
    assert layer.bias is not None and layer.bias.numel() == 8
    assert torch.all(layer.bias == 0)
    g = torch.Generator().manual_seed(2)
    x = layer.irreps_in.randn(4000, -1, dtype=DT, generator=g)
    vec = torch.randn(4000, 3, dtype=DT, generator=g)
    a = spherical_harmonics([0, 1, 2], vec, normalization="component")
    second_moment = layer(x, a).pow(2).mean().item()
    assert 0.7 < second_moment < 1.4, second_moment
    no_attr = O3TensorProduct("16x0e + 8x1o", "16x0e + 8x1o").to(DT)
    second_moment = no_attr(no_attr.irreps_in.randn(4000, -1, dtype=DT, generator=g)).pow(2).mean().item()
    assert 0.7 < second_moment < 1.4, second_moment


def test_steerable_layer_bad_input():
    layer = O3TensorProduct("4x0e + 1x1o", "2x0e", "0e + 1o")
    with pytest.raises(ValueError, match="4x0e"):
        layer(torch.randn(3, 6), torch.randn(3, 4))
    with pytest.raises(ValueError, match="attributes"):
        layer(torch.randn(3, 7), torch.randn(3, 2))
    with pytest.raises(ValueError, match="required"):
        layer(torch.randn(3, 7))


# ------------------------------------------------------------------ the layer
def _layer_inputs(g, irreps_in, n_per_graph=(5, 4)):
    n = sum(n_per_graph)
    x = irreps_in.randn(n, -1, dtype=DT, generator=g)
    pos = torch.randn(n, 3, dtype=DT, generator=g)
    return x, pos, fully_connected_edges(n_per_graph)


@pytest.mark.parametrize("aggr,norm,extra", [("sum", None, None), ("mean", "batch", "2x0e")])
def test_segnn_layer_e3_equivariant(aggr, norm, extra):
    g = torch.Generator().manual_seed(3)
    irreps = Irreps("4x0e + 2x0o + 3x1o + 1x1e + 1x2e")
    layer = SEGNNLayer(irreps, "6x0e + 4x1o + 2x2e", lmax_attr=2, irreps_edge_features=extra, aggr=aggr,
                       norm=norm).to(DT)
    x, pos, edge_index = _layer_inputs(g, irreps)
    ef = torch.randn(edge_index.shape[1], 2, dtype=DT, generator=g) if extra else None
    out = layer(x, pos, edge_index, edge_features=ef)
    assert out.shape == x.shape
    for improper in (False, True):
        R = orthogonal(g, improper)
        t = torch.randn(3, dtype=DT, generator=g)
        D = irreps.D_from_matrix(R)
        out2 = layer(x @ D.T, pos @ R.T + t, edge_index, edge_features=ef)
        assert (out2 - out @ D.T).abs().max() / max(1.0, out.abs().max().item()) < 1e-10


def test_segnn_layer_second_moment_at_init():
    # mean aggregation: unit-variance features in, about 2 out (the residual adds a unit-scale update)
    g = torch.Generator().manual_seed(7)
    irreps = Irreps("32x0e + 32x1o")
    moments = []
    for _ in range(3):
        layer = SEGNNLayer(irreps, irreps, lmax_attr=1)
        x = irreps.randn(50, -1, generator=g)
        pos = torch.randn(50, 3, generator=g)
        out = layer(x, pos, fully_connected_edges([5] * 10))
        moments.append((out - x).pow(2).mean().item())
    assert 0.3 < sum(moments) / 3 < 3.0, moments


def test_segnn_layer_permutation_equivariant():
    g = torch.Generator().manual_seed(4)
    irreps = Irreps("4x0e + 2x1o")
    layer = SEGNNLayer(irreps, "8x0e + 4x1o", lmax_attr=1).to(DT)
    x, pos, edge_index = _layer_inputs(g, irreps)
    perm = torch.randperm(x.shape[0], generator=g)
    inv = torch.argsort(perm)  # new index of old node k
    out = layer(x, pos, edge_index)
    out_p = layer(x[perm], pos[perm], inv[edge_index])
    assert (out_p - out[perm]).abs().max() < 1e-12


def test_segnn_layer_given_attributes_match_computed():
    g = torch.Generator().manual_seed(5)
    irreps = Irreps("4x0e + 2x1o")
    layer = SEGNNLayer(irreps, "8x0e + 4x1o", lmax_attr=1).to(DT)
    x, pos, edge_index = _layer_inputs(g, irreps)
    ea, na = segnn_attributes(pos, edge_index, 1)
    torch.testing.assert_close(layer(x, pos, edge_index, ea, na), layer(x, pos, edge_index), rtol=0, atol=0)


def test_segnn_layer_duplicates_isolated_nodes_gradients():
    g = torch.Generator().manual_seed(6)
    irreps = Irreps("4x0e + 2x1o")
    layer = SEGNNLayer(irreps, "8x0e + 4x1o", lmax_attr=2).to(DT)
    x = irreps.randn(6, -1, dtype=DT, generator=g).requires_grad_(True)
    pos = torch.randn(6, 3, dtype=DT, generator=g)
    pos[1] = pos[0]  # duplicate points joined by an edge
    pos = pos.requires_grad_(True)
    edge_index = torch.tensor([[0, 1, 2, 3], [1, 0, 3, 2]])  # nodes 4, 5 isolated
    out = layer(x, pos, edge_index)
    assert torch.isfinite(out).all()
    gx, gp = torch.autograd.grad(out.pow(2).sum(), (x, pos), create_graph=True)
    assert torch.isfinite(gx).all() and torch.isfinite(gp).all()
    assert gp[4:].abs().max() == 0  # isolated nodes do not see positions
    (gg,) = torch.autograd.grad(gp.sum(), pos)  # double backward (training on forces)
    assert torch.isfinite(gg).all()


def test_segnn_layer_residual_and_float32():
    torch.set_default_dtype(torch.float32)
    layer = SEGNNLayer("4x0e + 2x1o", "8x0e + 4x1o", "2x0e", lmax_attr=1)
    assert not layer.residual
    x, pos = torch.randn(5, 10), torch.randn(5, 3)
    out = layer(x, pos, fully_connected_edges([5]))
    assert out.dtype == torch.float32 and out.shape == (5, 2)
    with pytest.raises(ValueError, match="residual"):
        SEGNNLayer("4x0e + 2x1o", "8x0e + 4x1o", "2x0e", residual=True)


def test_segnn_layer_bad_input():
    layer = SEGNNLayer("4x0e + 2x1o", "8x0e + 4x1o", lmax_attr=1, irreps_edge_features="1x0e")
    x, pos, ei = torch.randn(5, 10), torch.randn(5, 3), fully_connected_edges([5])
    ef = torch.randn(ei.shape[1], 1)
    with pytest.raises(ValueError, match="4x0e"):
        layer(torch.randn(5, 9), pos, ei, edge_features=ef)
    with pytest.raises(ValueError, match="pos"):
        layer(x, torch.randn(5, 2), ei, edge_features=ef)
    with pytest.raises(ValueError, match="edge_features"):
        layer(x, pos, ei)
    with pytest.raises(ValueError, match="edge_index"):
        layer(x, pos, ei.float(), edge_features=ef)
    with pytest.raises(ValueError, match="aggr"):
        SEGNNLayer("4x0e", "4x0e", aggr="max")
    with pytest.raises(ValueError, match="0e"):
        SEGNNLayer("4x0e", "4x0e", irreps_edge_features="1x1o")
