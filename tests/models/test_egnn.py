"""EGNN model: E(3) equivariance of coordinates, invariant outputs, permutations, n-body training smoke test."""

import pytest
import torch
from _equivariance_helpers import fully_connected_edges

from steertorch.models import EGNN
from steertorch.o3 import rand_matrix

DT = torch.float64

pytestmark = pytest.mark.usefixtures("seeded")  # tests/conftest.py: deterministic weight initialisation


def _nbody(g, sizes=(5, 5, 5)):
    """n-body inputs as in the EGNN paper: h = |v|, edge attributes q_i q_j, velocities."""
    n = sum(sizes)
    pos = torch.randn(n, 3, dtype=DT, generator=g)
    vel = torch.randn(n, 3, dtype=DT, generator=g)
    charges = torch.randint(0, 2, (n, 1), generator=g).to(DT) * 2 - 1
    ei = fully_connected_edges(sizes)
    batch = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    return pos, vel, charges[ei[0]] * charges[ei[1]], ei, batch


def _model(**kw):
    model = EGNN(1, hidden_features=16, edge_attr_dim=1, num_layers=3, use_velocity=True, **kw).to(DT)
    with torch.no_grad():  # enlarge the (tiny at init) coordinate steps so that the test sees them
        for layer in model.layers:
            layer.phi_x[-1].weight.mul_(300.0)
    return model


@pytest.mark.parametrize("kw", [dict(), dict(attention=True, normalize=True, tanh=True, coords_agg="sum")])
def test_egnn_e3_equivariant(kw):
    g = torch.Generator().manual_seed(0)
    model = _model(**kw)
    pos, vel, ea, ei, _ = _nbody(g)
    h = vel.norm(dim=1, keepdim=True)
    y, x = model(h, pos, ei, ea, vel)
    assert (x - pos).abs().max() > 1e-2
    for improper in (False, True):
        R = rand_matrix(dtype=DT, generator=g)
        R = -R if improper else R
        t = 10 * torch.randn(3, dtype=DT, generator=g)
        y2, x2 = model(h, pos @ R.T + t, ei, ea, vel @ R.T)
        assert (y2 - y).abs().max() < 1e-10
        assert (x2 - (x @ R.T + t)).abs().max() < 1e-10


def test_egnn_permutation_and_pooling():
    g = torch.Generator().manual_seed(1)
    model = _model(pool="sum")
    pos, vel, ea, ei, batch = _nbody(g, sizes=(5, 3))
    h = vel.norm(dim=1, keepdim=True)
    y, x = model(h, pos, ei, ea, vel, batch=batch)
    assert y.shape == (2, 16)
    perm = torch.randperm(pos.shape[0], generator=g)
    inv = torch.argsort(perm)
    # edges keep their attributes: permuting nodes relabels edges, the edge list order is unchanged
    y2, x2 = model(h[perm], pos[perm], inv[ei], ea, vel[perm], batch=batch[perm])
    assert (y2 - y).abs().max() < 1e-12
    assert (x2 - x[perm]).abs().max() < 1e-12


def test_egnn_isolated_nodes_duplicates_and_gradients():
    g = torch.Generator().manual_seed(2)
    model = EGNN(2, hidden_features=8, num_layers=2, normalize=True).to(DT)
    h = torch.randn(6, 2, dtype=DT, generator=g)
    pos = torch.randn(6, 3, dtype=DT, generator=g)
    pos[1] = pos[0]
    pos.requires_grad_(True)
    ei = torch.tensor([[0, 1, 2, 3], [1, 0, 3, 2]])
    y, x = model(h, pos, ei)
    assert torch.isfinite(y).all() and torch.isfinite(x).all()
    (gp,) = torch.autograd.grad(y.sum() + x.pow(2).sum(), pos)
    assert torch.isfinite(gp).all()


def test_egnn_nbody_training_reduces_loss():
    torch.manual_seed(3)
    g = torch.Generator().manual_seed(3)
    model = EGNN(1, hidden_features=16, edge_attr_dim=1, num_layers=2, use_velocity=True).to(DT)
    pos, vel, ea, ei, _ = _nbody(g)
    target = pos + 0.5 * vel  # a constant-velocity step: reachable through phi_v
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    losses = []
    for _ in range(12):
        opt.zero_grad()
        loss = (model(vel.norm(dim=1, keepdim=True), pos, ei, ea, vel)[1] - target).pow(2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0], losses


def test_egnn_float32_and_bad_input():
    model = EGNN(3, hidden_features=8, num_layers=1, use_velocity=True)
    pos, ei = torch.randn(4, 3), fully_connected_edges([4])
    y, x = model(torch.randn(4, 3), pos, ei, vel=torch.randn(4, 3))
    assert y.dtype == x.dtype == torch.float32 and y.shape == (4, 8)
    with pytest.raises(ValueError, match="vel"):
        model(torch.randn(4, 3), pos, ei)
    with pytest.raises(ValueError, match="in_features|h"):
        model(torch.randn(4, 2), pos, ei, vel=torch.randn(4, 3))
    with pytest.raises(ValueError, match="pool"):
        EGNN(3, pool="max")


def test_egnn_positions_only_has_no_unused_parameters_and_same_positions():
    """out_features=0 (n-body): no output layer, no feature update in the last layer (no output reads them), and
    the same positions as the full model with the same weights; every parameter gets a gradient."""
    g = torch.Generator().manual_seed(4)
    full = _model()
    pos_only = EGNN(1, hidden_features=16, edge_attr_dim=1, num_layers=3, use_velocity=True, out_features=0).to(DT)
    result = pos_only.load_state_dict(full.state_dict(), strict=False)
    assert result.missing_keys == []
    assert sorted(result.unexpected_keys) == sorted(k for k in full.state_dict()
                                                    if k.startswith(("embedding_out.", "layers.2.phi_h.")))
    pos, vel, ea, ei, _ = _nbody(g)
    h = vel.norm(dim=1, keepdim=True)
    y, x = pos_only(h, pos, ei, ea, vel)
    assert y.shape == (pos.shape[0], 0)
    assert (x - full(h, pos, ei, ea, vel)[1]).abs().max() < 1e-12
    x.pow(2).sum().backward()
    assert all(p.grad is not None for p in pos_only.parameters())
    for bad in (dict(pool="sum"), dict(update_coords=False), dict(num_layers=0)):
        with pytest.raises(ValueError, match="out_features=0"):
            EGNN(1, out_features=0, **bad)
    with pytest.raises(ValueError, match="out_features"):
        EGNN(1, out_features=-1)
