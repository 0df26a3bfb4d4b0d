"""TensorFieldNetwork: E(3) and permutation equivariance of its outputs, energies and forces, edge cases."""

import pytest
import torch

from steertorch.graph import radius_graph
from steertorch.group._group import float64_default
from steertorch.models import TensorFieldNetwork, energy_and_forces
from steertorch.o3 import Irreps, rand_matrix


def _model(**kwargs):
    """A float64 model whose constants are computed in float64."""
    torch.manual_seed(kwargs.pop("seed", 0))
    kwargs = {"lmax": 2, "mul": 4, "num_layers": 2, "r_max": 2.5, **kwargs}
    with float64_default():
        return TensorFieldNetwork(**kwargs)


def _clouds(seed=0, sizes=(7, 5)):
    g = torch.Generator().manual_seed(seed)
    n = sum(sizes)
    pos = 1.2 * torch.randn(n, 3, generator=g, dtype=torch.float64)
    batch = torch.cat([torch.full((s,), i) for i, s in enumerate(sizes)])
    return pos, batch, g


@pytest.mark.parametrize("improper", [False, True])
def test_pooled_outputs_are_e3_equivariant(improper):
    model = _model(irreps_out="0e + 0o + 1o + 1e + 2e")
    pos, batch, g = _clouds()
    edge_index = radius_graph(pos, 2.5, batch)
    out = model(pos, edge_index=edge_index, batch=batch, num_graphs=2)
    assert out.shape == (2, 1 + 1 + 3 + 3 + 5)
    assert (out.abs() > 1e-6).sum() > 6  # even the 0o and 1e outputs of a chiral cloud are nonzero
    assert out[:, 1].abs().min() > 1e-6 and out[:, 5:8].abs().max() > 1e-6
    for _ in range(2):
        R = rand_matrix(generator=g, dtype=torch.float64)
        R = -R if improper else R
        t = 3 * torch.randn(3, generator=g, dtype=torch.float64)
        moved = model(pos @ R.T + t, edge_index=edge_index, batch=batch, num_graphs=2)
        assert (moved - out @ model.irreps_out.D_from_matrix(R).T).abs().max() <= 1e-10


def test_node_outputs_equivariant_under_permutation_and_default_graph():
    model = _model(irreps_out="2x0e + 1x1o", pool=None)
    pos, batch, g = _clouds(seed=1)
    out = model(pos, batch=batch)  # radius graph built from r_max
    assert out.shape == (pos.shape[0], 5)
    perm = torch.randperm(pos.shape[0], generator=g)
    assert (model(pos[perm], batch=batch[perm]) - out[perm]).abs().max() <= 1e-12
    R = rand_matrix(generator=g, dtype=torch.float64)
    moved = model(pos @ R.T + 1.0, batch=batch)
    assert (moved - out @ Irreps("2x0e + 1x1o").D_from_matrix(R).T).abs().max() <= 1e-10


def test_mean_pool_is_sum_over_counts():
    pos, batch, _ = _clouds(seed=2)
    summed = _model(irreps_out="0e + 1o")(pos, batch=batch)
    mean = _model(irreps_out="0e + 1o", pool="mean")(pos, batch=batch)
    counts = torch.tensor([7.0, 5.0], dtype=torch.float64)[:, None]
    assert torch.allclose(mean, summed / counts, atol=1e-12)


def test_classifier_logits_invariant_under_rotations_not_reflections():
    model = _model(num_classes=3)
    pos, batch, g = _clouds(seed=3)
    logits = model(pos, batch=batch)
    assert logits.shape == (2, 3)
    R = rand_matrix(generator=g, dtype=torch.float64)
    assert (model(pos @ R.T - 2.0, batch=batch) - logits).abs().max() <= 1e-10
    assert (model(-pos, batch=batch) - logits).abs().max() > 1e-4  # the 0o scalars see the mirror image


def test_forces_are_minus_the_energy_gradient():
    model = _model(irreps_out="0e", r_max=3.0)
    pos, batch, g = _clouds(seed=4)
    edge_index = radius_graph(pos, 3.0, batch)
    kwargs = dict(edge_index=edge_index, batch=batch, num_graphs=2)
    energy, forces = energy_and_forces(model, pos, **kwargs)
    assert energy.shape == (2,) and forces.shape == pos.shape
    # central finite differences
    eps = 1e-6
    for i, k in [(0, 0), (3, 1), (8, 2), (11, 0)]:
        dp = torch.zeros_like(pos)
        dp[i, k] = eps
        e_plus = model(pos + dp, **kwargs).sum()
        e_minus = model(pos - dp, **kwargs).sum()
        assert abs(-(e_plus - e_minus) / (2 * eps) - forces[i, k]) < 1e-6
    # translation invariance: forces sum to zero per graph; rotation: F(Rx) = F(x) R^T
    assert forces[:7].sum(0).abs().max() < 1e-10 and forces[7:].sum(0).abs().max() < 1e-10
    R = rand_matrix(generator=g, dtype=torch.float64)
    energy_r, forces_r = energy_and_forces(model, pos @ R.T, **kwargs)
    assert (energy_r - energy).abs().max() < 1e-10
    assert (forces_r - forces @ R.T).abs().max() < 1e-10


def test_training_on_forces_double_backward():
    model = _model(irreps_out="0e", r_max=3.0)
    pos, batch, _ = _clouds(seed=5)
    target = torch.randn_like(pos)
    energy, forces = energy_and_forces(model, pos, batch=batch)
    loss = (forces - target).pow(2).mean() + energy.pow(2).mean()
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.numel() > 0]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    radial = model.layers[0].radial.w0.grad
    assert radial.abs().max() > 0  # the force loss reaches the radial MLP through the double backward


def test_duplicate_points_and_isolated_nodes():
    model = _model(irreps_out="0e + 1o")
    pos = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.6, 0.3, 0.0], [10.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
                       dtype=torch.float64)
    batch = torch.tensor([0, 0, 0, 0, 1])  # node 3 is far away, graph 1 is one isolated point
    energy, forces = energy_and_forces(lambda pos: model(pos, batch=batch)[:, 0], pos)
    assert torch.isfinite(energy).all() and torch.isfinite(forces).all()
    assert forces[3:].abs().max() == 0  # no neighbours, no force
    out = model(pos, edge_index=torch.zeros(2, 0, dtype=torch.long), batch=batch)
    assert torch.isfinite(out).all()


def test_float32_and_bad_inputs():
    torch.manual_seed(0)
    model = TensorFieldNetwork(irreps_in="0e + 1o", irreps_out="0e", lmax=1, mul=4, num_layers=1)
    pos = torch.randn(6, 3)
    x = torch.randn(6, 4)
    assert model(pos, x).dtype == torch.float32
    with pytest.raises(ValueError, match="are required"):
        model(pos)
    with pytest.raises(ValueError, match=r"x \[6, 4\]"):
        model(pos, torch.randn(6, 3))
    with pytest.raises(ValueError, match="pos"):
        model(torch.randn(6, 2), x)
    with pytest.raises(ValueError, match="pool"):
        TensorFieldNetwork(pool="max")
    with pytest.raises(ValueError, match="scalars"):
        TensorFieldNetwork(irreps_out="1o", num_classes=3)
    with pytest.raises(ValueError, match="energies"):
        energy_and_forces(lambda pos: pos, pos)
