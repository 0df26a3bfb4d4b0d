import math

import pytest
import torch

from steertorch.graph import RadialEmbedding, edge_lengths, edge_vectors, radius_graph, spherical_edge_attributes
from steertorch.o3 import Irreps, rand_matrix, spherical_harmonics


def test_edge_vectors_convention_and_cell():
    pos = torch.tensor([[0.0, 0.0, 0.0], [0.9, 0.0, 0.0]], dtype=torch.float64)
    edge_index = torch.tensor([[1], [0]])  # source 1 -> target 0
    assert edge_vectors(pos, edge_index).tolist() == [[0.9, 0.0, 0.0]]  # pos[src] - pos[dst]
    cell = torch.eye(3, dtype=torch.float64) * 2
    vec = edge_vectors(pos, edge_index, torch.tensor([[-1.0, 0.0, 0.0]], dtype=torch.float64), cell)
    torch.testing.assert_close(vec, torch.tensor([[-1.1, 0.0, 0.0]], dtype=torch.float64))
    # one cell per graph picks the target's graph; gradient reaches the cell (stress)
    cells = torch.stack([cell, 3 * cell]).requires_grad_(True)
    pos2 = torch.cat([pos, pos])
    batch = torch.tensor([0, 0, 1, 1])
    e = torch.tensor([[1, 3], [0, 2]])
    shifts = torch.tensor([[1.0, 0, 0], [1.0, 0, 0]], dtype=torch.float64)
    vec = edge_vectors(pos2, e, shifts, cells, batch)
    torch.testing.assert_close(vec[:, 0], torch.tensor([2.9, 6.9], dtype=torch.float64))
    vec.sum().backward()
    assert cells.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="needs the batch"):
        edge_vectors(pos2, e, shifts, cells)
    with pytest.raises(ValueError, match="shifts need the cell"):
        edge_vectors(pos2, e, shifts)


def test_periodic_edge_vectors_are_short_and_antisymmetric():
    g = torch.Generator().manual_seed(0)
    cell = torch.eye(3, dtype=torch.float64) + 0.2 * torch.rand(3, 3, generator=g, dtype=torch.float64)
    pos = torch.rand(6, 3, generator=g, dtype=torch.float64) @ cell
    e, shifts = radius_graph(pos, 1.4, cell=cell)
    vec = edge_vectors(pos, e, shifts, cell)
    assert (vec.norm(dim=1) < 1.4).all()
    # every edge j -> i with shift s has its reverse i -> j with shift -s and the opposite vector
    edges = {(a, b, *s): v for a, b, s, v in zip(e[0].tolist(), e[1].tolist(), shifts.long().tolist(), vec)}
    for (a, b, *s), v in edges.items():
        torch.testing.assert_close(edges[(b, a, *[-x for x in s])], -v)


@pytest.mark.parametrize("normalization", ["component", "norm", "integral"])
def test_spherical_edge_attributes_match_and_are_equivariant(normalization):
    g = torch.Generator().manual_seed(1)
    vec = torch.randn(50, 3, generator=g, dtype=torch.float64)
    sh = spherical_edge_attributes(vec, 3, normalization)
    torch.testing.assert_close(sh, spherical_harmonics([0, 1, 2, 3], vec, True, normalization), rtol=0, atol=1e-14)
    irreps = Irreps("0e + 1o + 2e + 3o")
    R = rand_matrix(generator=g, dtype=torch.float64)
    rotated = spherical_edge_attributes(vec @ R.T, irreps, normalization)
    assert (rotated - sh @ irreps.D_from_matrix(R).T).abs().max() < 1e-10
    with pytest.raises(ValueError, match="parity"):
        spherical_edge_attributes(vec, "1e")


def test_spherical_edge_attributes_zero_vector_is_safe():
    vec = torch.tensor([[0.0, 0.0, 0.0], [0.3, -0.2, 0.5]], dtype=torch.float64, requires_grad=True)
    sh = spherical_edge_attributes(vec, 2)
    assert sh[0].tolist() == [1.0] + [0.0] * 8
    (grad,) = torch.autograd.grad((sh * torch.arange(9.0, dtype=torch.float64)).sum(), vec, create_graph=True)
    assert torch.isfinite(grad).all() and grad[0].abs().max() == 0 and grad[1].abs().max() > 0
    (grad2,) = torch.autograd.grad(grad.pow(2).sum(), vec)
    assert torch.isfinite(grad2).all()


def test_edge_lengths_zero_gradient_at_zero():
    vec = torch.tensor([[0.0, 0.0, 0.0], [3.0, 4.0, 0.0]], dtype=torch.float64, requires_grad=True)
    r = edge_lengths(vec)
    assert r.tolist() == [0.0, 5.0]
    (grad,) = torch.autograd.grad(r.sum(), vec, create_graph=True)
    torch.testing.assert_close(grad, torch.tensor([[0.0, 0.0, 0.0], [0.6, 0.8, 0.0]], dtype=torch.float64))
    assert grad[0].tolist() == [0.0, 0.0, 0.0]
    (grad2,) = torch.autograd.grad(grad.sum(), vec)
    assert torch.isfinite(grad2).all()


def test_bessel_values():
    emb = RadialEmbedding(4, r_max=3.0, basis="bessel", cutoff=None, normalize=False)
    r = torch.tensor([0.0, 0.7, 2.2], dtype=torch.float64)
    n = torch.arange(1, 5, dtype=torch.float64)
    expected = math.sqrt(2 / 3) * torch.sin(n * math.pi * r[1:, None] / 3) / r[1:, None]
    torch.testing.assert_close(emb(r)[1:], expected, rtol=1e-13, atol=1e-14)
    torch.testing.assert_close(emb(r)[0], math.sqrt(2 / 3) * n * math.pi / 3, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("basis", ["bessel", "gaussian", "cosine", "smooth_finite", "fourier"])
@pytest.mark.parametrize("cutoff", ["polynomial", "cosine"])
def test_radial_embedding_coincident_points_cutoff_and_normalisation(basis, cutoff):
    emb = RadialEmbedding(6, r_max=2.0, basis=basis, cutoff=cutoff)
    # coincident points: finite values, gradients and second derivatives through edge_lengths
    pos = torch.tensor([[0.1, 0.2, 0.3], [0.1, 0.2, 0.3], [1.0, 0.5, 0.3]], dtype=torch.float64, requires_grad=True)
    e = torch.tensor([[1, 2, 0], [0, 0, 2]])
    y = emb(edge_lengths(edge_vectors(pos, e)))
    assert torch.isfinite(y).all()
    (grad,) = torch.autograd.grad(y.pow(2).sum(), pos, create_graph=True)
    assert torch.isfinite(grad).all()
    (grad2,) = torch.autograd.grad(grad.pow(2).sum(), pos)
    assert torch.isfinite(grad2).all()
    # zero at and beyond r_max
    assert emb(torch.tensor([2.0, 2.5, 10.0], dtype=torch.float64)).abs().max() == 0
    # unit second moment for neighbours uniform in the ball of radius r_max
    g = torch.Generator().manual_seed(0)
    r = 2.0 * torch.rand(40_000, generator=g, dtype=torch.float64) ** (1 / 3)
    assert abs(emb(r).pow(2).mean().item() - 1) < 0.05
    assert emb(r.float()).dtype == torch.float32


def test_radial_embedding_bad_input():
    with pytest.raises(ValueError, match="num_basis"):
        RadialEmbedding(0, 1.0)
    with pytest.raises(ValueError, match="r_max"):
        RadialEmbedding(4, -1.0)
    with pytest.raises(ValueError, match="basis must be"):
        RadialEmbedding(4, 1.0, basis="spline")
    with pytest.raises(ValueError, match="cutoff must be"):
        RadialEmbedding(4, 1.0, cutoff="hard")
    with pytest.raises(ValueError, match="floating point"):
        RadialEmbedding(4, 1.0)(torch.tensor([1, 2]))
