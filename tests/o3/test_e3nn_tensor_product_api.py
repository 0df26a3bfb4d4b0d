"""e3nn's tensor-product API beyond the values: ``output_mask``, ``weight_views``, weights given as one tensor
per instruction, e3nn's constructor keywords (``normalization``, ``compile_left_right``, ...) accepted."""

from __future__ import annotations

import pytest
import torch
from _equivariance_helpers import float64

from steertorch import o3

e3nn_o3 = pytest.importorskip("e3nn.o3")

F64 = torch.float64
INSTRUCTIONS = [(0, 0, 0, "uvw", True), (1, 0, 1, "uvu", True), (1, 1, 2, "uvw", True, 0.5), (0, 1, 1, "uvu", False)]
ARGS = ("2x0e + 2x1o", "0e + 1o", "2x0e + 2x1o + 1x2e + 1x1e")


def _pair(**kwargs):
    with float64():  # e3nn's constants are exact only when built in float64
        theirs = e3nn_o3.TensorProduct(*ARGS, INSTRUCTIONS, **kwargs).double()
    ours = o3.TensorProduct(*ARGS, INSTRUCTIONS, **kwargs).double()
    return theirs, ours


def test_output_mask_and_weight_views_equal_e3nns():
    theirs, ours = _pair()
    assert torch.equal(ours.output_mask, theirs.output_mask.to(F64))  # 1x1e: no path writes it
    with torch.no_grad():
        ours.weight.copy_(theirs.weight)
    for (i, ins, w), (j, ins_e, w_e) in zip(ours.weight_views(yield_instruction=True),
                                              theirs.weight_views(yield_instruction=True), strict=True):
        assert i == j and tuple(ins) == tuple(ins_e) and torch.equal(w, w_e)


def test_weights_as_a_list_per_instruction_and_e3nn_keywords():
    kw = dict(shared_weights=False, internal_weights=False, normalization="norm", compile_left_right=True,
              compile_right=True, _specialized_code=False, _optimize_einsums=False)
    theirs, ours = _pair(**kw)
    assert ours.irrep_normalization == "norm"
    x = torch.randn(5, ours.irreps_in1.dim, dtype=F64)
    y = torch.randn(5, ours.irreps_in2.dim, dtype=F64)
    weights = [torch.randn(5, *ins.path_shape, dtype=F64) for ins in ours.instructions if ins.has_weight]
    torch.testing.assert_close(ours(x, y, weights), theirs(x, y, weights), rtol=1e-12, atol=1e-12)
    flat = torch.cat([w.reshape(5, -1) for w in weights], dim=-1)
    torch.testing.assert_close(ours(x, y, weights), ours(x, y, flat), rtol=0, atol=0)
    with pytest.raises(ValueError, match="one per weighted instruction"):
        ours(x, y, weights[:1])
