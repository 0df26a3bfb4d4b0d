"""Charged-particle n-body simulator: conservation laws, E(3) equivariance, the published trivial baselines."""

import pytest
import torch

from steertorch.data import nbody_batch, simulate_charged_particles
from steertorch.o3 import rand_matrix

DT = torch.float64


def test_momentum_conserved_and_equivariant_without_clipping():
    g = torch.Generator().manual_seed(0)
    pos0 = torch.randn(3, 5, 3, dtype=DT, generator=g)
    vel0 = 0.5 * torch.randn(3, 5, 3, dtype=DT, generator=g)
    charges = torch.tensor([1.0, -1.0, 1.0, 1.0, -1.0], dtype=DT).repeat(3, 1).unsqueeze(-1)
    kw = dict(num_frames=4, sample_every=25, max_force=None)
    pos, vel, _ = simulate_charged_particles(3, initial=(pos0, vel0, charges), **kw)
    momentum = vel.sum(-2)  # unit masses, pairwise opposite forces
    assert (momentum - vel0.sum(-2)).abs().max() < 1e-10
    assert (pos - pos0).abs().max() > 1e-2
    R = -rand_matrix(dtype=DT, generator=g)  # rotation composed with inversion
    t = torch.randn(3, dtype=DT, generator=g)
    pos2, vel2, _ = simulate_charged_particles(3, initial=(pos0 @ R.T + t, vel0 @ R.T, charges), **kw)
    assert (pos2 - (pos @ R.T + t)).abs().max() < 1e-10
    assert (vel2 - vel @ R.T).abs().max() < 1e-10


def test_like_charges_repel():
    pos0 = torch.tensor([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]], dtype=DT)
    vel0 = torch.zeros_like(pos0)
    for q, sign in ((1.0, 1.0), (-1.0, -1.0)):
        charges = torch.tensor([[[1.0], [q]]], dtype=DT)
        pos, _, _ = simulate_charged_particles(1, 2, num_frames=1, sample_every=10, initial=(pos0, vel0, charges))
        assert sign * (pos[0, 0, 1, 0] - pos[0, 0, 0, 0] - 1.0) > 0


def test_nbody_batch_reproduces_published_trivial_baselines():
    # EGNN / SEGNN papers: predicting x30 for x40 gives MSE 0.288, x30 + v30 (one time unit) gives 0.110
    data = nbody_batch(300, generator=torch.Generator().manual_seed(1))
    assert data.pos.shape == (1500, 3) and data.edge_index.shape == (2, 6000) and data.num_graphs == 300
    keep = (data.target - data.pos).pow(2).mean().item()
    linear = (data.target - data.pos - data.vel).pow(2).mean().item()
    assert 0.22 < keep < 0.36, keep
    assert 0.07 < linear < 0.15, linear
    src, dst = data.edge_index
    assert torch.equal(data.batch[src], data.batch[dst]) and not (src == dst).any()


def test_bad_input():
    with pytest.raises(ValueError, match="num_systems"):
        simulate_charged_particles(0)
    with pytest.raises(ValueError, match="frame_in"):
        nbody_batch(2, frame_in=3, frame_out=3)
    with pytest.raises(ValueError, match="initial"):
        simulate_charged_particles(1, initial=(torch.zeros(1, 4, 3), torch.zeros(1, 4, 3), torch.ones(1, 4, 1)))


def _field_run(pos0, vel0, charges, external_field, **kw):
    return simulate_charged_particles(pos0.shape[0], pos0.shape[1], initial=(pos0, vel0, charges),
                                      num_frames=3, sample_every=20, max_force=None, external_field=external_field,
                                      **kw)


def test_external_field_zero_is_bit_identical_to_the_field_free_simulator():
    for seed in (0, 1):
        a = simulate_charged_particles(4, num_frames=3, sample_every=20, generator=torch.Generator().manual_seed(seed))
        b = simulate_charged_particles(4, num_frames=3, sample_every=20, generator=torch.Generator().manual_seed(seed),
                                       external_field=0.0)
        assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_external_field_along_z_is_o2_about_z_but_not_o3_equivariant():
    import math

    g = torch.Generator().manual_seed(3)
    pos0 = torch.randn(3, 5, 3, dtype=DT, generator=g)
    vel0 = 0.5 * torch.randn(3, 5, 3, dtype=DT, generator=g)
    charges = (torch.randint(0, 2, (3, 5, 1), generator=g) * 2 - 1).to(DT)
    pos, vel, _ = _field_run(pos0, vel0, charges, 2.0)
    free, _, _ = _field_run(pos0, vel0, charges, 0.0)
    assert (pos - free).abs().max() > 1e-3  # the field acts
    c, s = math.cos(0.7), math.sin(0.7)
    rot_z = torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=DT)
    mirror_xz = torch.diag(torch.tensor([1.0, -1.0, 1.0], dtype=DT))  # a plane containing z
    t = torch.randn(3, dtype=DT, generator=g)
    for m in (rot_z, mirror_xz, rot_z @ mirror_xz):
        p2, v2, _ = _field_run(pos0 @ m.T + t, vel0 @ m.T, charges, 2.0)
        assert (p2 - (pos @ m.T + t)).abs().max() < 1e-10
        assert (v2 - vel @ m.T).abs().max() < 1e-10
    for m in (rand_matrix(dtype=DT, generator=g), torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=DT))):
        p2, _, _ = _field_run(pos0 @ m.T, vel0 @ m.T, charges, 2.0)
        assert (p2 - pos @ m.T).abs().max() > 1e-4  # not O(3): tilting z or flipping it changes the dynamics


def test_reference_initial_states_follow_the_documented_draws():
    """numpy's legacy generator, seed 43: per system choice, randn(3, 5), randn(3, 5), then two noise arrays."""
    import numpy as np

    from steertorch.data import reference_initial_states

    states = reference_initial_states(splits=(("train", 3), ("valid", 2)))
    rng = np.random.RandomState(43)
    expected = []
    for _ in range(5):
        q = rng.choice(np.array([-1.0, 0.0, 1.0]), size=(5, 1), p=[0.5, 0.0, 0.5])
        loc, v = rng.randn(3, 5), rng.randn(3, 5)
        v = v * 0.5 / np.sqrt((v**2).sum(axis=0)).reshape(1, -1)
        rng.randn(49, 3, 5)
        rng.randn(49, 3, 5)
        expected.append((loc.T, v.T, q))
    for s in range(5):
        pos, vel, charges = (t[s % 3 if s < 3 else s - 3] for t in states["train" if s < 3 else "valid"])
        assert np.array_equal(pos.numpy(), expected[s][0])  # bit for bit
        assert np.array_equal(vel.numpy(), expected[s][1])
        assert np.array_equal(charges.numpy(), expected[s][2])
    # the splits continue one stream: the first validation system is the fourth system drawn
    alone = reference_initial_states(splits=(("train", 4),))["train"]
    assert torch.equal(alone[0][3], states["valid"][0][0])


def test_reference_initial_states_reflect_into_the_box():
    import numpy as np

    from steertorch.data._nbody_reference import _reflect

    loc = np.array([[6.0, -7.0, 1.0]])
    vel = np.array([[0.3, -0.2, 0.1]])
    _reflect(loc, vel, 5.0)
    assert loc.tolist() == [[4.0, -3.0, 1.0]] and vel.tolist() == [[-0.3, 0.2, 0.1]]
