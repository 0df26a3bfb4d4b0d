"""e3nn's Linear API beyond the default case: the feature axis (``f_in`` / ``f_out``), ``weight_views`` and
``output_mask``, against e3nn on the same weights."""

from __future__ import annotations

import pytest
import torch
from _equivariance_helpers import float64

from steertorch import o3

e3nn_o3 = pytest.importorskip("e3nn.o3")

F64 = torch.float64


def _e3nn(*args, **kwargs):
    with float64():  # e3nn builds its constants in the default dtype
        return e3nn_o3.Linear(*args, **kwargs)


@pytest.mark.parametrize("biases", [False, True])
def test_feature_axis_equals_e3nn(biases: bool):
    args = ("3x0e + 2x1o + 1x2e", "2x0e + 1x1o + 1x1e")
    theirs = _e3nn(*args, f_in=4, f_out=3, biases=biases)
    ours = o3.Linear(*args, f_in=4, f_out=3, biases=biases).double()
    assert ours.weight.shape == theirs.weight.shape and ours.bias.shape == theirs.bias.shape
    ours.load_state_dict({k: v for k, v in theirs.state_dict().items() if k in ("weight", "bias")})
    if biases:
        with torch.no_grad():
            ours.bias.normal_()
            theirs.bias.copy_(ours.bias)
    x = torch.randn(2, 5, 4, ours.irreps_in.dim, dtype=F64)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-12, atol=1e-12)
    assert ours(x[:0]).shape == (0, 5, 3, ours.irreps_out.dim)
    with pytest.raises(ValueError, match=r"\[\.\.\., 4, 14\]"):
        ours(torch.randn(5, ours.irreps_in.dim, dtype=F64))


def test_weight_views_and_output_mask_equal_e3nns():
    args = ("3x0e + 2x1o", "2x0e + 1x1o + 1x2e")
    theirs, ours = _e3nn(*args), o3.Linear(*args).double()  # (e3nn's weight_views fails with biases)
    with torch.no_grad():
        ours.weight.copy_(theirs.weight)
    for (i, ins, w), (j, ins_e, w_e) in zip(ours.weight_views(yield_instruction=True),
                                              theirs.weight_views(yield_instruction=True), strict=True):
        assert i == j and ins == (ins_e.i_in, ins_e.i_out) and torch.equal(w, w_e)
    assert torch.equal(ours.output_mask, theirs.output_mask.to(F64))
    assert torch.equal(o3.Linear(*args, biases=True).output_mask, _e3nn(*args, biases=True).output_mask.float())


def test_feature_axis_arguments_are_checked():
    with pytest.raises(ValueError, match="together"):
        o3.Linear("0e", "0e", f_in=2)
    with pytest.raises(ValueError, match="shared internal"):
        o3.Linear("0e", "0e", f_in=2, f_out=2, shared_weights=False)


@pytest.mark.parametrize("normalization", ["component"])  # (e3nn's SO3Grid has no other)
def test_so3_activation_with_e3nns_grid_equals_e3nn(normalization: str):
    enn = pytest.importorskip("e3nn.nn")
    from steertorch import nn as snn
    from steertorch.math import e3nn_compatible_constants

    with float64():
        theirs = enn.SO3Activation(1, 2, torch.tanh, 6, normalization=normalization, aspect_ratio=2)
        with e3nn_compatible_constants():  # e3nn's estimate of the activation's second moment
            ours = snn.SO3Activation(1, 2, torch.tanh, 6, normalization=normalization, aspect_ratio=2, grid="e3nn")
    x = torch.randn(3, ours.irreps_in.dim, dtype=F64)
    torch.testing.assert_close(ours.double()(x), theirs(x), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="component"):
        snn.SO3Activation(1, 1, torch.tanh, 6, normalization="norm")
