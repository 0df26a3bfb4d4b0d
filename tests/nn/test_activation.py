"""Activation: parity rules, equivariance under O(3), normalisation, e3nn agreement, bad input."""

import pytest
import torch
from _equivariance_helpers import act_on, o3_elements

from steertorch import o3
from steertorch.math import normalize2mom
from steertorch.nn import Activation


def test_parity_rules():
    assert Activation("3x0o", [torch.tanh]).irreps_out == o3.Irreps("3x0o")
    assert Activation("3x0o", [torch.abs]).irreps_out == o3.Irreps("3x0e")
    assert Activation("3x0e", [torch.relu]).irreps_out == o3.Irreps("3x0e")
    assert Activation("3x0e + 2x1o", [torch.relu, None]).irreps_out == o3.Irreps("3x0e + 2x1o")
    assert Activation("2x0o", [None]).irreps_out == o3.Irreps("2x0o")
    with pytest.raises(ValueError, match="neither"):
        Activation("3x0o", [torch.relu])


def test_non_scalar_block_is_named():
    with pytest.raises(ValueError, match=r"block 1 \(2x1o\)"):
        Activation("3x0e + 2x1o", [torch.relu, torch.relu])


def test_number_of_activations():
    with pytest.raises(ValueError, match="2 blocks, got 1"):
        Activation("3x0e + 2x1o", [torch.relu])


@pytest.mark.parametrize("irreps,acts", [
    ("4x0e + 3x0o + 2x1o + 1x2e", [torch.relu, torch.tanh, None, None]),
    ("3x0o + 2x0e", [torch.abs, torch.sigmoid]),
    ("5x0o", [torch.sin]),
])
def test_equivariance(irreps, acts):
    act = Activation(irreps, acts)
    R = o3_elements(7)  # 7 rotations or rotoreflections, and -I
    x = o3.Irreps(irreps).randn(len(R), -1, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    lhs = act(act_on(act.irreps_in, R, x))
    rhs = act_on(act.irreps_out, R, act(x))
    assert float((lhs - rhs).abs().max()) <= 1e-10


def test_values_and_normalisation():
    act = Activation("2x0e + 1x1o + 3x0o", [torch.relu, None, torch.tanh])
    x = torch.randn(200_000, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = act(x)
    c_relu, c_tanh = normalize2mom(torch.relu).cst, normalize2mom(torch.tanh).cst
    torch.testing.assert_close(y[:, :2], c_relu * torch.relu(x[:, :2]))
    assert torch.equal(y[:, 2:5], x[:, 2:5])
    torch.testing.assert_close(y[:, 5:], c_tanh * torch.tanh(x[:, 5:]))
    second = y.pow(2).mean(0)
    assert float((second - 1).abs().max()) < 0.2


def test_matches_e3nn():
    e3nn_nn = pytest.importorskip("e3nn.nn")
    irreps, acts = "4x0e + 2x1o + 3x0o", [torch.nn.functional.silu, None, torch.abs]
    ours, theirs = Activation(irreps, acts), e3nn_nn.Activation(irreps, acts)
    assert str(ours.irreps_out) == str(theirs.irreps_out)
    x = torch.randn(10, ours.irreps_in.dim, dtype=torch.float64)
    torch.testing.assert_close(ours(x), theirs(x), rtol=3e-3, atol=1e-6)  # e3nn's constants are Monte-Carlo
    for a, b in zip(ours.acts, theirs.acts):
        if a is not None:
            a.cst, a._is_id = b.cst, b._is_id
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-12, atol=1e-12)


def test_float32_and_batch_shapes():
    act = Activation("2x0e + 1x1o", [torch.tanh, None])
    assert act(torch.randn(3, 4, 5)).shape == (3, 4, 5)
    assert act(torch.randn(5)).dtype == torch.float32
    assert Activation("", [])(torch.randn(3, 0)).shape == (3, 0)


def test_bad_input_size():
    act = Activation("2x0e + 1x1o", [torch.tanh, None])
    with pytest.raises(ValueError, match=r"2x0e\+1x1o \(last dim 5\), got shape \[3, 4\]"):
        act(torch.randn(3, 4))
