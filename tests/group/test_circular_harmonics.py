import pytest
import torch

from steertorch.group import circular_harmonics, o2_group, so2_group


@pytest.mark.parametrize("k", range(7))
def test_equivariant_under_so2_and_o2(k):
    gen = torch.Generator().manual_seed(k)
    x = torch.randn(20, 2, dtype=torch.float64, generator=gen)
    for group, label in ((so2_group(), k), (o2_group(), (1, k) if k else (0, 0))):
        g = group.sample(20, generator=gen, dtype=torch.float64)
        lhs = circular_harmonics(k, torch.einsum("nij,nj->ni", g, x))
        rhs = torch.einsum("nij,nj->ni", group.irrep(label)(g), circular_harmonics(k, x))
        assert (lhs - rhs).abs().max() < 1e-12


def test_analytic_values_and_homogeneity():
    x = torch.tensor([[3.0, 4.0]], dtype=torch.float64)
    h = circular_harmonics([1, 2], x, normalize=False)
    # (3 + 4i)^1 = 3 + 4i, (3 + 4i)^2 = -7 + 24i
    assert torch.allclose(h, torch.tensor([[3.0, 4.0, -7.0, 24.0]], dtype=torch.float64))
    assert torch.allclose(circular_harmonics([1, 2], x), h / torch.tensor([5.0, 5.0, 25.0, 25.0], dtype=torch.float64))


def test_zero_vector_has_finite_gradient():
    x = torch.zeros(1, 2, dtype=torch.float64, requires_grad=True)
    y = circular_harmonics([0, 1, 2, 3], x)
    assert torch.equal(y, torch.tensor([[1.0, 0, 0, 0, 0, 0, 0]], dtype=torch.float64))
    (g,) = torch.autograd.grad(y.pow(2).sum(), x)
    assert torch.isfinite(g).all()


def test_bad_input():
    with pytest.raises(ValueError, match="2D points"):
        circular_harmonics(1, torch.zeros(3, 3))
    with pytest.raises(ValueError, match="ints >= 0"):
        circular_harmonics(-1, torch.zeros(3, 2))
