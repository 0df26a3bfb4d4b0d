"""``normalize2mom``'s e3nn-compatible constants: e3nn 0.6's Monte-Carlo value to the last bit, selected by a keyword
or by the ``e3nn_compatible_constants`` block; the exact Gauss-Hermite value stays the default."""

import pytest
import torch

from steertorch.math import e3nn_compatible_constants, normalize2mom
from steertorch.nn import FullyConnectedNet, Gate

e3math = pytest.importorskip("e3nn.math")

ACTS = [torch.tanh, torch.sigmoid, torch.nn.functional.silu, torch.relu, torch.abs, torch.nn.functional.gelu]


@pytest.mark.parametrize("f", ACTS)
def test_e3nn_constant_to_the_last_bit(f):
    want = e3math.normalize2mom(f).cst
    assert normalize2mom(f, e3nn_compatible=True).cst == want
    with e3nn_compatible_constants():
        assert normalize2mom(f).cst == want
        assert normalize2mom(f, e3nn_compatible=False).cst != want
    exact = normalize2mom(f).cst
    assert exact != want and abs(exact / want - 1) < 3e-3


def test_block_restores_and_modules_keep_their_constant():
    with e3nn_compatible_constants():
        gate = Gate("2x0e", [torch.tanh], "1x0e", [torch.sigmoid], "1x1o")
        fc = FullyConnectedNet([3, 4, 2], torch.nn.functional.silu)
        with e3nn_compatible_constants(False):
            assert normalize2mom(torch.tanh).cst == normalize2mom(torch.tanh, e3nn_compatible=False).cst
        assert normalize2mom(torch.tanh).cst == e3math.normalize2mom(torch.tanh).cst
    assert normalize2mom(torch.tanh).cst != e3math.normalize2mom(torch.tanh).cst
    assert fc.act.cst == e3math.normalize2mom(torch.nn.functional.silu).cst
    csts = {m.cst for m in gate.modules() if isinstance(m, normalize2mom)}
    assert csts == {e3math.normalize2mom(torch.tanh).cst, e3math.normalize2mom(torch.sigmoid).cst}
