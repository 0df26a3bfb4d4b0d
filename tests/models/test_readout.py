"""Readouts: pooling per graph and energy_and_forces on analytic energies."""

import pytest
import torch

from steertorch.models import energy_and_forces, pool_nodes


def test_pool_nodes_sum_and_mean():
    x = torch.arange(12, dtype=torch.float64).reshape(6, 2)
    batch = torch.tensor([0, 0, 2, 2, 2, 0])
    summed = pool_nodes(x, batch, num_graphs=4)
    assert torch.equal(summed, torch.tensor([[0.0 + 2 + 10, 1 + 3 + 11], [0, 0], [4 + 6 + 8, 5 + 7 + 9], [0, 0]],
                                            dtype=torch.float64))
    mean = pool_nodes(x, batch, num_graphs=4, reduce="mean")
    assert torch.allclose(mean, summed / torch.tensor([3.0, 1, 3, 1], dtype=torch.float64)[:, None])
    assert torch.equal(pool_nodes(x), x.sum(0, keepdim=True))
    assert torch.equal(pool_nodes(x, reduce="mean"), x.mean(0, keepdim=True))


def test_pool_nodes_commutes_with_rotations():
    g = torch.Generator().manual_seed(0)
    v = torch.randn(5, 3, generator=g, dtype=torch.float64)
    batch = torch.tensor([1, 0, 1, 1, 0])
    from steertorch.o3 import rand_matrix

    R = rand_matrix(generator=g, dtype=torch.float64)
    assert torch.allclose(pool_nodes(v @ R.T, batch), pool_nodes(v, batch) @ R.T, atol=1e-14)


def test_pool_nodes_bad_input():
    with pytest.raises(ValueError, match="reduce"):
        pool_nodes(torch.ones(3, 2), reduce="max")
    with pytest.raises(ValueError, match="batch"):
        pool_nodes(torch.ones(3, 2), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[N, d\]"):
        pool_nodes(torch.ones(3))


def test_energy_and_forces_analytic():
    """Pair potential E = sum_{i<j} |x_i - x_j|^2 / 2 per graph: F_i = -sum_j (x_i - x_j)."""
    g = torch.Generator().manual_seed(0)
    pos = torch.randn(5, 3, generator=g, dtype=torch.float64)
    batch = torch.tensor([0, 0, 0, 1, 1])

    def model(pos, batch):
        diff = pos[:, None] - pos[None]
        same = (batch[:, None] == batch[None]).to(pos.dtype)
        pair = 0.25 * (diff.pow(2).sum(-1) * same)
        return pool_nodes(pair.sum(1, keepdim=True), batch, num_graphs=2)  # [2, 1]

    energy, forces = energy_and_forces(model, pos, batch=batch)
    expected = torch.zeros_like(pos)
    for i in range(5):
        for j in range(5):
            if batch[i] == batch[j]:
                expected[i] -= pos[i] - pos[j]
    assert energy.shape == (2,)
    assert torch.allclose(forces, expected, atol=1e-12)
    assert not pos.requires_grad  # the input is left alone


def test_energy_and_forces_create_graph():
    pos = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)
    w = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    energy, forces = energy_and_forces(lambda pos: (w * pos.pow(3)).sum().reshape(1), pos)
    assert torch.allclose(forces, -3 * w * pos**2)
    (dw,) = torch.autograd.grad(forces.sum(), w)  # d/dw of -3 w sum x^2
    assert torch.allclose(dw, -3 * pos.pow(2).sum())
    with torch.no_grad():
        _, f = energy_and_forces(lambda pos: (w * pos.pow(3)).sum().reshape(1), pos)
    assert not f.requires_grad and torch.allclose(f, forces.detach())


def test_energy_and_forces_bad_input():
    with pytest.raises(ValueError, match=r"\[N, 3\]"):
        energy_and_forces(lambda pos: pos.sum().reshape(1), torch.ones(4, 2))
    with pytest.raises(ValueError, match="energies"):
        energy_and_forces(lambda pos: pos.sum(), torch.ones(4, 3))
