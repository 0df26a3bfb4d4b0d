"""Extract / ExtractIr: block selection, equivariance, e3nn agreement, bad input."""

import pytest
import torch

from steertorch import o3
from steertorch.nn import Extract, ExtractIr


def _o3_elements(n, seed=0):
    R = o3.rand_matrix(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    signs = torch.tensor([(-1.0) ** k for k in range(n)], dtype=torch.float64)
    return R * signs[:, None, None]


def test_select_blocks():
    c = Extract("1e + 0e + 0e", ["0e", "0e"], [(1,), (2,)])
    assert c(torch.tensor([0.0, 0.0, 0.0, 1.0, 2.0])) == (torch.tensor([1.0]), torch.tensor([2.0]))
    c = Extract("2x0e + 1x1o + 1x2e", ["1x2e + 2x0e", "1x1o + 1x1o"], [(2, 0), (1, 1)])
    x = torch.arange(10.0)
    a, b = c(x)
    assert torch.equal(a, torch.cat([x[5:10], x[0:2]]))
    assert torch.equal(b, torch.cat([x[2:5], x[2:5]]))
    assert c(torch.randn(3, 4, 10))[0].shape == (3, 4, 7)


def test_extract_ir():
    e = ExtractIr("2x0e + 1x1o + 3x0e + 2x1o", "1o")
    assert e.irreps_out == o3.Irreps("1x1o + 2x1o")
    x = torch.arange(14.0)
    assert torch.equal(e(x), torch.cat([x[2:5], x[8:14]]))
    assert ExtractIr("2x0e", "1o")(torch.randn(4, 2)).shape == (4, 0)


def test_equivariance():
    irreps = o3.Irreps("2x0e + 1x0o + 2x1o + 1x1e + 1x2e")
    c = Extract(irreps, ["1x2e + 2x0e", "1x1e + 2x1o + 1x0o"], [(4, 0), (3, 2, 1)])
    R = _o3_elements(6)
    x = irreps.randn(6, -1, dtype=torch.float64)
    outs_rot = c(torch.einsum("nij,nj->ni", irreps.D_from_matrix(R), x))
    for irreps_out, y, y_rot in zip(c.irreps_outs, c(x), outs_rot):
        assert float((y_rot - torch.einsum("nij,nj->ni", irreps_out.D_from_matrix(R), y)).abs().max()) <= 1e-10


def test_matches_e3nn():
    e3nn_nn = pytest.importorskip("e3nn.nn")
    args = ("2x0e + 1x1o + 1x2e + 3x0e", ["3x0e + 1x1o", "1x2e + 2x0e"], [(3, 1), (2, 0)])
    x = torch.randn(5, 13, dtype=torch.float64)
    for a, b in zip(Extract(*args)(x), e3nn_nn.Extract(*args)(x)):
        assert torch.equal(a, b)
    assert torch.equal(ExtractIr("2x0e + 1x1o + 3x0e", "0e")(x[:, :8]), e3nn_nn.ExtractIr("2x0e + 1x1o + 3x0e",
                                                                                          "0e")(x[:, :8]))


def test_bad_arguments():
    with pytest.raises(ValueError, match="block 0 is 1x1e but input block 1 is 1x0e"):
        Extract("1o + 0e", ["1e"], [(1,)])
    with pytest.raises(ValueError, match="out of range"):
        Extract("1o + 0e", ["0e"], [(5,)])
    with pytest.raises(ValueError, match="one instruction per output"):
        Extract("1o + 0e", ["0e", "1o"], [(1,)])
    with pytest.raises(ValueError, match="names 2"):
        Extract("1o + 0e", ["0e"], [(1, 0)])
    with pytest.raises(ValueError, match=r"1x1o\+1x0e \(last dim 4\), got shape \[2, 3\]"):
        Extract("1o + 0e", ["0e"], [(1,)])(torch.randn(2, 3))
