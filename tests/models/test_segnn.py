"""SEGNN model: E(3) and permutation symmetry of node and graph outputs, n-body inputs, training smoke test."""

import pytest
import torch
from _equivariance_helpers import fully_connected_edges, orthogonal

from steertorch.graph import segnn_attributes
from steertorch.models import SEGNN
from steertorch.o3 import Irreps, spherical_harmonics

DT = torch.float64

pytestmark = pytest.mark.usefixtures("float64_seeded")  # tests/conftest.py: float64 modules, seeded init


def _nbody_inputs(g, sizes=(5, 5, 5)):
    """The n-body setting of the SEGNN paper: x = (pos - centre, vel, |vel|), edge features (|r|, q_i q_j)."""
    n = sum(sizes)
    batch = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    pos = torch.randn(n, 3, dtype=DT, generator=g)
    vel = torch.randn(n, 3, dtype=DT, generator=g)
    charges = torch.randint(0, 2, (n, 1), generator=g).to(DT) * 2 - 1
    ei = fully_connected_edges(sizes)
    return pos, vel, charges, ei, batch


def _nbody_features(pos, vel, charges, ei, batch):
    centre = torch.zeros(int(batch.max()) + 1, 3, dtype=DT).index_add(0, batch, pos)
    centre = centre / torch.bincount(batch).unsqueeze(1).to(DT)
    x = torch.cat([pos - centre[batch], vel, vel.norm(dim=1, keepdim=True)], dim=1)
    dist = (pos[ei[0]] - pos[ei[1]]).norm(dim=1, keepdim=True)
    ef = torch.cat([dist, charges[ei[0]] * charges[ei[1]]], dim=1)
    _, node_attr = segnn_attributes(pos, ei, 1)
    node_attr = node_attr + spherical_harmonics([0, 1], vel, normalization="component")
    return x, ef, node_attr


def _nbody_model():
    return SEGNN("2x1o + 1x0e", "1x1o", hidden_features=16, lmax_attr=1, num_layers=2,
                 irreps_edge_features="2x0e", task="node")


def test_segnn_default_hidden_is_reference_64():
    model = SEGNN("1x0e", "1x0e", hidden_features=64, lmax_attr=1, num_layers=1)
    assert model.irreps_hidden == Irreps("32x0e + 32x1o")


@pytest.mark.parametrize("task,irreps_out,pool", [("graph", "0e", "mean"), ("graph", "0e + 1o + 2e", "sum"),
                                                  ("node", "2x0e + 1o + 0o", "mean")])
def test_segnn_e3_and_permutation_symmetry(task, irreps_out, pool):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    aggr = "sum" if pool == "sum" else "mean"
    model = SEGNN("2x0e + 1o", irreps_out, hidden_features=12, lmax_attr=2, num_layers=2, task=task, pool=pool,
                  aggr=aggr)
    sizes = (5, 4)
    n = sum(sizes)
    batch = torch.repeat_interleave(torch.arange(2), torch.tensor(sizes))
    x = model.irreps_in.randn(n, -1, dtype=DT, generator=g)
    pos = torch.randn(n, 3, dtype=DT, generator=g)
    ei = fully_connected_edges(sizes)
    out = model(x, pos, ei, batch)
    assert out.shape == ((2 if task == "graph" else n), Irreps(irreps_out).dim)
    assert out.abs().max() > 1e-3
    scale = max(1.0, out.abs().max().item())  # errors relative to the output scale (large with sum aggregation)
    D_out = lambda R: model.irreps_out.D_from_matrix(R)  # noqa: E731
    for improper in (False, True):
        R = orthogonal(g, improper)
        t = 5 * torch.randn(3, dtype=DT, generator=g)
        out2 = model(x @ model.irreps_in.D_from_matrix(R).T, pos @ R.T + t, ei, batch)
        assert (out2 - out @ D_out(R).T).abs().max() / scale < 1e-10
    perm = torch.randperm(n, generator=g)
    inv = torch.argsort(perm)
    out_p = model(x[perm], pos[perm], inv[ei], batch[perm])
    expected = out if task == "graph" else out[perm]
    assert (out_p - expected).abs().max() / scale < 1e-10


def test_segnn_invariant_output_is_invariant_under_reflections():
    g = torch.Generator().manual_seed(1)
    model = SEGNN(irreps_out="0e", hidden_features=8, num_layers=1, r_max=10.0)
    pos = torch.randn(7, 3, dtype=DT, generator=g)
    mirror = torch.diag(torch.tensor([1.0, -1.0, 1.0], dtype=DT))
    torch.testing.assert_close(model(pos=pos @ mirror), model(pos=pos), rtol=0, atol=1e-12)


def _nbody_case(seed):
    """Seeded n-body model, generator (after drawing the inputs), raw inputs and their features."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = _nbody_model()
    inputs = _nbody_inputs(g)
    return g, model, inputs, _nbody_features(*inputs)

def test_segnn_nbody_equivariant():
    g, model, (pos, vel, charges, ei, batch), (x, ef, na) = _nbody_case(2)
    out = model(x, pos, ei, batch, edge_features=ef, node_attr=na)
    for improper in (False, True):
        R = orthogonal(g, improper)
        t = torch.randn(3, dtype=DT, generator=g)
        x2, ef2, na2 = _nbody_features(pos @ R.T + t, vel @ R.T, charges, ei, batch)
        out2 = model(x2, pos @ R.T + t, ei, batch, edge_features=ef2, node_attr=na2)
        assert (out2 - out @ R.T).abs().max() / max(1.0, out.abs().max().item()) < 1e-10


def test_segnn_isolated_nodes_duplicates_and_gradients():
    g = torch.Generator().manual_seed(3)
    model = SEGNN("0e", "0e", hidden_features=8, num_layers=2, lmax_attr=2)
    pos = torch.randn(6, 3, dtype=DT, generator=g)
    pos[1] = pos[0]
    pos.requires_grad_(True)
    ei = torch.tensor([[0, 1, 2, 3], [1, 0, 3, 2]])  # nodes 4, 5 isolated
    batch = torch.tensor([0, 0, 0, 0, 1, 1])
    energy = model(pos=pos, edge_index=ei, batch=batch)
    assert torch.isfinite(energy).all() and energy.shape == (2, 1)
    (forces,) = torch.autograd.grad(energy.sum(), pos, create_graph=True)
    assert torch.isfinite(forces).all()
    forces.pow(2).sum().backward()  # double backward: train on forces
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_segnn_training_step_reduces_loss():
    g, model, (pos, vel, charges, ei, batch), (x, ef, na) = _nbody_case(4)
    target = 0.1 * vel + 0.01 * torch.randn(vel.shape, dtype=DT, generator=g)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(10):
        opt.zero_grad()
        loss = (model(x, pos, ei, batch, edge_features=ef, node_attr=na) - target).pow(2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


def test_segnn_float32_and_bad_input():
    torch.set_default_dtype(torch.float32)
    model = SEGNN("1o", "0e", hidden_features=8, num_layers=1)
    pos, ei = torch.randn(5, 3), fully_connected_edges([5])
    assert model(torch.randn(5, 3), pos, ei).dtype == torch.float32
    with pytest.raises(ValueError, match="required"):
        model(pos=pos, edge_index=ei)
    with pytest.raises(ValueError, match="1x1o"):
        model(torch.randn(5, 4), pos, ei)
    with pytest.raises(ValueError, match="r_max"):
        model(torch.randn(5, 3), pos)
    with pytest.raises(ValueError, match="node_attr"):
        model(torch.randn(5, 3), pos, ei, node_attr=torch.randn(5, 3))
    with pytest.raises(ValueError, match="task"):
        SEGNN(task="edge")
