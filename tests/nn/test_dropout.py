"""Dropout: whole irrep copies, scaling, eval identity, equivariance with a fixed seed."""

import pytest
import torch

from steertorch import o3
from steertorch.nn import Dropout

IRREPS = o3.Irreps("3x0e + 2x0o + 4x1o + 2x2e + 1x3o")


def _o3_elements(n, seed=0):
    R = o3.rand_matrix(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    signs = torch.tensor([(-1.0) ** k for k in range(n)], dtype=torch.float64)
    return R * signs[:, None, None]


def test_equivariance_with_fixed_seed():
    drop = Dropout(IRREPS, p=0.4)
    x = IRREPS.randn(16, -1, dtype=torch.float64)
    D = IRREPS.D_from_matrix(_o3_elements(16))
    torch.manual_seed(123)
    lhs = drop(torch.einsum("nij,nj->ni", D, x))
    torch.manual_seed(123)
    rhs = torch.einsum("nij,nj->ni", D, drop(x))
    assert float((lhs - rhs).abs().max()) <= 1e-10
    assert (lhs == 0).any()  # something was dropped


def test_whole_copies_and_scaling():
    p = 0.3
    drop = Dropout(IRREPS, p=p)
    torch.manual_seed(0)
    y = drop(torch.ones(200, 2, IRREPS.dim))
    values = torch.unique(y)
    assert len(values) == 2 and values[0] == 0 and abs(float(values[1]) - 1 / (1 - p)) < 1e-6
    assert torch.equal(y[:, 0], y[:, 1])  # shared by the middle dimensions (e3nn's semantics)
    i = 0
    for mul, ir in IRREPS:
        for _ in range(mul):
            block = y[:, 0, i:i + ir.dim]
            assert torch.equal(block, block[:, :1].expand_as(block))
            i += ir.dim
    kept = (y[:, 0] != 0).double().mean()
    assert abs(float(kept) - (1 - p)) < 0.05


def test_moments():
    p = 0.1
    drop = Dropout(IRREPS, p=p)
    torch.manual_seed(1)
    x = IRREPS.randn(20_000, -1, dtype=torch.float64)
    y = drop(x)
    assert abs(float(y.mean() - x.mean())) < 0.02
    second = float(y.pow(2).mean())
    assert abs(second - 1 / (1 - p)) < 0.05  # E[y^2] = E[x^2] / (1 - p)
    assert 0.8 < second < 1.2


def test_eval_identity_and_extremes():
    x = IRREPS.randn(4, -1)
    drop = Dropout(IRREPS, p=0.5).eval()
    assert drop(x) is x
    assert torch.equal(Dropout(IRREPS, p=0.0)(x), x)
    assert torch.equal(Dropout(IRREPS, p=1.0)(x), torch.zeros_like(x))
    assert Dropout(IRREPS, p=0.5)(IRREPS.randn(-1)).shape == (IRREPS.dim,)


def test_bad_input():
    with pytest.raises(ValueError, match="p must be in"):
        Dropout(IRREPS, p=1.5)
    with pytest.raises(ValueError, match=rf"expected features \[batch, \.\.\., {IRREPS.dim}\].*got shape \[2, 3\]"):
        Dropout(IRREPS, p=0.5)(torch.randn(2, 3))
