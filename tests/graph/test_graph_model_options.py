"""Options found by comparing with the papers' code: EGNN's coordinate clamp; SEGNN's edge attributes,
edge invariants and the reference parametrisation (all equivariant, in float64)."""

from __future__ import annotations

import pytest
import torch

from steertorch.graph import EGNNLayer, O3TensorProduct, SEGNNLayer, segnn_attributes
from steertorch.models import SEGNN
from steertorch.o3 import Irreps, rand_matrix, spherical_harmonics

pytestmark = pytest.mark.usefixtures("float64_seeded")

EDGES = torch.tensor([[j for i in range(5) for j in range(5) if i != j],
                      [i for i in range(5) for j in range(5) if i != j]])


def test_egnn_coords_clamp_bounds_each_edge_message():
    layer = EGNNLayer(8, coords_clamp=1e-3, coords_agg="sum")
    torch.nn.init.constant_(layer.phi_x[-1].weight, 10.0)  # large coordinate messages
    h, pos = torch.randn(5, 8), 10 * torch.randn(5, 3)
    _, out = layer(h, pos, EDGES)
    assert (out - pos).abs().max() <= 4 * 1e-3 + 1e-12  # 4 neighbours, each message clamped to 1e-3
    free = EGNNLayer(8, coords_agg="sum")
    free.load_state_dict(layer.state_dict())
    assert (free(h, pos, EDGES)[1] - pos).abs().max() > 1.0
    wide = EGNNLayer(8, coords_clamp=1e6, coords_agg="sum")
    wide.load_state_dict(layer.state_dict())
    torch.testing.assert_close(wide(h, pos, EDGES)[1], free(h, pos, EDGES)[1], rtol=0, atol=0)
    with pytest.raises(ValueError, match="coords_clamp"):
        EGNNLayer(8, coords_clamp=0)


@pytest.mark.parametrize("invariant", ["squared_distance", "distance", "none"])
@pytest.mark.parametrize("parametrization", ["e3nn", "reference"])
def test_segnn_layer_options_are_equivariant(invariant, parametrization):
    layer = SEGNNLayer("4x0e + 2x1o", "8x0e + 4x1o", lmax_attr=1, edge_invariant=invariant,
                       parametrization=parametrization)
    irreps = Irreps("4x0e + 2x1o")
    x, pos = torch.randn(5, irreps.dim), torch.randn(5, 3)
    R = rand_matrix(1)[0] * -1  # a rotation with a reflection
    D = irreps.D_from_matrix(R)
    out = layer(x, pos, EDGES)
    out_rot = layer(x @ D.T, pos @ R.T + 1.0, EDGES)
    torch.testing.assert_close(out_rot, out @ D.T, rtol=0, atol=1e-10)


def test_segnn_distance_input_differs_and_none_ignores_it():
    torch.manual_seed(1)
    kw = dict(irreps_in="4x0e", irreps_hidden="4x0e + 2x1o", lmax_attr=1)
    a = SEGNNLayer(**kw, edge_invariant="squared_distance")
    b = SEGNNLayer(**kw, edge_invariant="distance")
    b.load_state_dict(a.state_dict())
    x, pos = torch.randn(5, 4), 3 * torch.randn(5, 3)
    assert (a(x, pos, EDGES) - b(x, pos, EDGES)).abs().max() > 1e-3
    assert SEGNNLayer(**kw, edge_invariant="none").message_1.irreps_in.dim == 8


def test_segnn_reference_parametrization_scales():
    tp = O3TensorProduct("4x0e + 2x1o", "3x0e + 1x1o", irreps_attr="0e + 1o", parametrization="reference")
    # 0e outputs: paths 4x0e x 0e and 2x1o x 1o, fan-in 6; 1o outputs: 4x0e x 1o and 2x1o x 0e, fan-in 6
    assert torch.allclose(tp.out_scale, torch.full((6,), 6 ** 0.5))
    assert tp.bias is not None and 0 < tp.bias.abs().max() <= 6 ** -0.5
    assert tp.tp.weight.abs().max() <= 6 ** -0.5


def test_segnn_model_accepts_edge_attributes():
    model = SEGNN("1x0e + 1x1o", "1x1o", hidden_features=8, num_layers=1, task="node")
    x, pos = torch.randn(5, 4), torch.randn(5, 3)
    edge_attr, node_attr = segnn_attributes(pos, EDGES, 1)
    torch.testing.assert_close(model(x, pos, EDGES, edge_attr=edge_attr), model(x, pos, EDGES), rtol=0, atol=0)
    other = spherical_harmonics([0, 1], torch.randn(EDGES.shape[1], 3), normalize=True)
    assert (model(x, pos, EDGES, edge_attr=other) - model(x, pos, EDGES)).abs().max() > 1e-6
    with pytest.raises(ValueError, match="edge_attr"):
        model(x, pos, EDGES, edge_attr=other[:, :1])
