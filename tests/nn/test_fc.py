"""FullyConnectedNet: e3nn's layout and values (its state dicts load), normalisation at init, bad input."""

import pytest
import torch

from steertorch.nn import FullyConnectedNet

SILU = torch.nn.functional.silu


@pytest.mark.parametrize("kwargs", [dict(act=SILU), dict(act=torch.tanh, out_act=True),
                                    dict(act=SILU, variance_in=2.0, variance_out=3.0), dict(act=None)])
def test_matches_e3nn(kwargs):
    e3nn_nn = pytest.importorskip("e3nn.nn")
    torch.manual_seed(0)  # both normalisation constants are Monte-Carlo estimates: fix the draw
    hs = [6, 32, 16, 4]
    theirs = e3nn_nn.FullyConnectedNet(hs, **kwargs).double()
    ours = FullyConnectedNet(hs, **kwargs).double()
    ours.load_state_dict(theirs.state_dict())  # e3nn's keys layer{i}.weight -> w{i}
    for i in range(3):
        assert torch.equal(getattr(ours, f"w{i}"), getattr(theirs, f"layer{i}").weight)
    x = torch.randn(20, 6, dtype=torch.float64)
    expected = theirs(x)
    if kwargs["act"] is not None:  # same function up to e3nn's Monte-Carlo normalisation constant
        torch.testing.assert_close(ours(x), expected, rtol=2e-2, atol=1e-3)
        ours.act.cst = theirs.layer0.act.cst
        ours.act._is_id = theirs.layer0.act._is_id
    torch.testing.assert_close(ours(x), expected, rtol=1e-12, atol=1e-12)


def test_state_dict_keys():
    fc = FullyConnectedNet([3, 5, 2], SILU)
    assert list(fc.state_dict()) == ["w0", "w1"]
    assert fc.w0.shape == (3, 5) and fc.w1.shape == (5, 2)
    fc2 = FullyConnectedNet([3, 5, 2], SILU)
    fc2.load_state_dict(fc.state_dict())
    assert torch.equal(fc2.w1, fc.w1)


@pytest.mark.parametrize("act", [SILU, torch.tanh, torch.relu, None])
@pytest.mark.parametrize("variance_out", [1.0, 4.0])
def test_unit_second_moment_at_init(act, variance_out):
    torch.manual_seed(0)
    # a wide output layer: each output's second moment fluctuates with its weights (a lot for relu, whose
    # hidden features have a mean), their average does not
    fc = FullyConnectedNet([16, 256, 256, 256, 256], act, variance_out=variance_out).double()
    x = torch.randn(2000, 16, dtype=torch.float64)
    m = float(fc(x).detach().pow(2).mean()) / variance_out
    assert 0.8 < m < 1.2, m


def test_hidden_layers_normalised():
    torch.manual_seed(0)
    fc = FullyConnectedNet([32, 512, 512], torch.tanh, out_act=True).double()
    y = fc(torch.randn(4000, 32, dtype=torch.float64)).detach()
    assert 0.8 < float(y.pow(2).mean()) < 1.2


def test_gradients_and_shapes():
    fc = FullyConnectedNet([4, 8, 2], SILU)
    x = torch.randn(3, 5, 4, requires_grad=True)
    y = fc(x)
    assert y.shape == (3, 5, 2)
    y.sum().backward()
    assert torch.isfinite(x.grad).all() and fc.w0.grad is not None
    assert torch.equal(FullyConnectedNet([4])(x), x)


def test_bad_input():
    fc = FullyConnectedNet([4, 8, 2], SILU)
    with pytest.raises(ValueError, match=r"expected input \[\.\.\., 4\], got shape \[3, 5\]"):
        fc(torch.randn(3, 5))
    with pytest.raises(ValueError, match="hs must"):
        FullyConnectedNet([], SILU)
    with pytest.raises(ValueError, match="hs must"):
        FullyConnectedNet([4, -1], SILU)
    with pytest.raises(ValueError, match="variances"):
        FullyConnectedNet([4, 2], SILU, variance_in=0)
