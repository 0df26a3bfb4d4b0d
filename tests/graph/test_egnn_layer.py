"""EGNN layer: E(3) equivariance of coordinates, invariance of features, permutations, robustness."""

import pytest
import torch
from _equivariance_helpers import fully_connected_edges, orthogonal

from steertorch.graph import EGNNLayer

DT = torch.float64

pytestmark = pytest.mark.usefixtures("seeded")  # tests/conftest.py: deterministic weight initialisation


def _inputs(g, hidden, sizes=(5, 4), edge_attr_dim=0):
    n = sum(sizes)
    ei = fully_connected_edges(sizes)
    h = torch.randn(n, hidden, dtype=DT, generator=g)
    pos = torch.randn(n, 3, dtype=DT, generator=g)
    vel = torch.randn(n, 3, dtype=DT, generator=g)
    ea = torch.randn(ei.shape[1], edge_attr_dim, dtype=DT, generator=g) if edge_attr_dim else None
    return h, pos, vel, ei, ea


def _bigger_coordinate_step(layer):
    # the reference initialisation makes phi_x tiny: enlarge it so the coordinate update is not negligible
    with torch.no_grad():
        layer.phi_x[-1].weight.mul_(1000.0)


OPTIONS = [
    dict(),
    dict(use_velocity=True, edge_attr_dim=2),
    dict(attention=True, normalize=True, tanh=True, coords_agg="sum"),
    dict(residual=False, update_coords=False),
]


@pytest.mark.parametrize("options", OPTIONS)
def test_egnn_layer_e3_equivariant(options):
    g = torch.Generator().manual_seed(0)
    layer = EGNNLayer(8, **options).to(DT)
    if layer.phi_x is not None:
        _bigger_coordinate_step(layer)
    h, pos, vel, ei, ea = _inputs(g, 8, edge_attr_dim=options.get("edge_attr_dim", 0))
    vel = vel if options.get("use_velocity") else None
    h1, x1 = layer(h, pos, ei, ea, vel)
    if layer.update_coords:
        assert (x1 - pos).abs().max() > 1e-3  # the coordinates do move
    for improper in (False, True):
        R = orthogonal(g, improper)
        t = 10 * torch.randn(3, dtype=DT, generator=g)
        h2, x2 = layer(h, pos @ R.T + t, ei, ea, None if vel is None else vel @ R.T)
        assert (h2 - h1).abs().max() < 1e-10
        assert (x2 - (x1 @ R.T + t)).abs().max() < 1e-10


def test_egnn_layer_permutation_equivariant():
    g = torch.Generator().manual_seed(1)
    layer = EGNNLayer(8, use_velocity=True, attention=True).to(DT)
    _bigger_coordinate_step(layer)
    h, pos, vel, ei, _ = _inputs(g, 8)
    perm = torch.randperm(h.shape[0], generator=g)
    inv = torch.argsort(perm)
    h1, x1 = layer(h, pos, ei, vel=vel)
    h2, x2 = layer(h[perm], pos[perm], inv[ei], vel=vel[perm])
    assert (h2 - h1[perm]).abs().max() < 1e-12
    assert (x2 - x1[perm]).abs().max() < 1e-12


def test_egnn_layer_mean_aggregation_is_one_over_n_minus_one():
    # on a fully connected graph the mean coordinate update is (1 / (N - 1)) * sum_j (x_i - x_j) phi_x(m_ij)
    g = torch.Generator().manual_seed(2)
    mean_layer = EGNNLayer(4, coords_agg="mean").to(DT)
    sum_layer = EGNNLayer(4, coords_agg="sum").to(DT)
    sum_layer.load_state_dict(mean_layer.state_dict())
    h, pos, _, ei, _ = _inputs(g, 4, sizes=(5,))
    _, x_mean = mean_layer(h, pos, ei)
    _, x_sum = sum_layer(h, pos, ei)
    torch.testing.assert_close(x_mean - pos, (x_sum - pos) / 4, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("normalize", [False, True])
def test_egnn_layer_duplicates_isolated_nodes_gradients(normalize):
    g = torch.Generator().manual_seed(3)
    layer = EGNNLayer(8, normalize=normalize, use_velocity=True).to(DT)
    h = torch.randn(6, 8, dtype=DT, generator=g, requires_grad=True)
    pos = torch.randn(6, 3, dtype=DT, generator=g)
    pos[1] = pos[0]
    pos.requires_grad_(True)
    vel = torch.randn(6, 3, dtype=DT, generator=g)
    ei = torch.tensor([[0, 1, 2, 3], [1, 0, 3, 2]])  # nodes 4, 5 isolated
    h1, x1 = layer(h, pos, ei, vel=vel)
    assert torch.isfinite(h1).all() and torch.isfinite(x1).all()
    gh, gp = torch.autograd.grad(h1.pow(2).sum() + x1.pow(2).sum(), (h, pos), create_graph=True)
    assert torch.isfinite(gh).all() and torch.isfinite(gp).all()
    (gg,) = torch.autograd.grad(gp.sum(), pos)
    assert torch.isfinite(gg).all()


def test_egnn_layer_float32_and_bad_input():
    layer = EGNNLayer(4, edge_attr_dim=1, use_velocity=True)
    h, pos, ei = torch.randn(5, 4), torch.randn(5, 3), fully_connected_edges([5])
    ea, vel = torch.randn(ei.shape[1], 1), torch.randn(5, 3)
    h1, x1 = layer(h, pos, ei, ea, vel)
    assert h1.dtype == x1.dtype == torch.float32
    with pytest.raises(ValueError, match="h"):
        layer(torch.randn(5, 3), pos, ei, ea, vel)
    with pytest.raises(ValueError, match="edge_attr"):
        layer(h, pos, ei, None, vel)
    with pytest.raises(ValueError, match="vel"):
        layer(h, pos, ei, ea)
    with pytest.raises(ValueError, match="pos"):
        layer(h, torch.randn(4, 3), ei, ea, vel)
    with pytest.raises(ValueError, match="coords_agg"):
        EGNNLayer(4, coords_agg="max")
    with pytest.raises(ValueError, match="hidden"):
        EGNNLayer(0)
