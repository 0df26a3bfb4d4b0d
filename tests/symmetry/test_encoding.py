"""Geometry <-> features: point sets as signals on the sphere, and the shape autoencoder."""

import pytest
import torch
from scipy.optimize import linear_sum_assignment

from steertorch.o3 import SphericalTensor, rand_matrix
from steertorch.symmetry import ShapeAutoencoder, decode_points, encode_points

from .molecules import molecule


def _matched_error(a, sa, b, sb):
    """Largest distance between the points of a and b, matched within each species (Hungarian)."""
    err = 0.0
    for c in sa.unique():
        d = torch.cdist(a[sa == c], b[sb == c])
        i, j = linear_sum_assignment(d.numpy())
        err = max(err, float(d[i, j].max()))
    return err


@pytest.mark.parametrize("name", ["water", "methane", "ammonia", "SF6"])
def test_round_trip_of_molecules(name):
    _, pos, species = molecule(name)
    pos = pos - pos.mean(0)
    channels = torch.unique(species, return_inverse=True)[1]
    x = encode_points(pos, channels, lmax=8)
    back, ch = decode_points(x, [int((channels == c).sum()) for c in range(x.shape[0])], lmax=8)
    assert _matched_error(pos, channels, back, ch) < 0.02  # stated bound at lmax = 8 (measured <= 0.011)


def test_encoding_is_equivariant_float64():
    _, pos, species = molecule("ammonia")
    channels = torch.unique(species, return_inverse=True)[1]
    st = SphericalTensor(6, 1, -1)
    for R in (rand_matrix(dtype=torch.float64), -rand_matrix(dtype=torch.float64)):
        a = encode_points(pos @ R.T, channels, lmax=6)
        b = encode_points(pos, channels, lmax=6) @ st.D_from_matrix(R).T
        assert (a - b).abs().max() < 1e-10


def test_bad_input():
    with pytest.raises(ValueError, match="empty"):
        encode_points(torch.zeros(0, 3))
    with pytest.raises(ValueError, match="non-finite"):
        encode_points(torch.tensor([[float("nan"), 0.0, 1.0]]))
    with pytest.raises(ValueError, match="species"):
        encode_points(torch.ones(2, 3), torch.tensor([0]))
    with pytest.raises(ValueError, match="counts"):
        decode_points(torch.zeros(2, 16), [1], lmax=3)


def _shapes(n, seed):
    """Three atoms of species 0 at random directions and radii in [1, 2], and species 1 at the same directions
    and half the radii: the two channels are proportional, which a latent of multiplicity 1 can hold. Directions
    at least 45 degrees apart: closer peaks merge at lmax = 8 (the stated limit of the peak-finding decoder)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    while len(out) < n:
        p = torch.randn(3, 3, generator=g, dtype=torch.float64)
        u = p / p.norm(dim=-1, keepdim=True)
        if (u @ u.T - 2 * torch.eye(3)).max() > 0.7071:
            continue
        p = p / p.norm(dim=-1, keepdim=True) * (1 + torch.rand(3, 1, generator=g, dtype=torch.float64))
        out.append(torch.cat([p, 0.5 * p]))
    return out, torch.tensor([0, 0, 0, 1, 1, 1])


def test_autoencoder_round_trip_and_equivariant_latent():
    torch.manual_seed(0)
    ae = ShapeAutoencoder(lmax=8, n_species=2, latent_multiplicity=1).double()
    train, species = _shapes(32, seed=0)
    data = torch.stack([ae.signals(p, species) for p in train])
    opt = torch.optim.Adam(ae.parameters(), lr=0.05)
    for _ in range(60):
        loss = ae.loss(data)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert ae.loss(data) < 1e-4
    test, _ = _shapes(4, seed=1)
    for pos in test:
        z = ae.encode(pos, species)
        back, ch = ae.decode(z, [3, 3])
        assert _matched_error(pos, species, back, ch) < 0.1  # stated bound (peak finding, lmax = 8)
        for R in (rand_matrix(dtype=torch.float64), -rand_matrix(dtype=torch.float64)):  # latent equivariance
            assert (ae.encode(pos @ R.T, species) - ae.latent_irreps.D_from_matrix(R) @ z).abs().max() < 1e-10
