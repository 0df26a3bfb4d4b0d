"""A whole G-CNN stack is invariant under the grid's exact symmetries (float64, <= 1e-10), train and eval mode.

Model: lifting (``LiftingConv2d``, or ``R2Conv`` trivial -> regular) -> [``InnerBatchNorm``] -> ReLU -> group
convolution (``GroupConv2d``, or ``R2Conv`` regular -> regular) -> ReLU -> 2x2 max pooling -> ``GroupPooling`` ->
global spatial average: one invariant number per field, ``[B, F, 1, 1]``.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from steertorch.gspaces import flipRot2dOnR2, rot2dOnR2
from steertorch.nn import (
    FieldType,
    GroupConv2d,
    GroupPooling,
    LiftingConv2d,
    PointwiseMaxPool2D,
    PointwiseNonLinearity,
    R2Conv,
)
from steertorch.testing import field_equivariance_error, grid_symmetries

torch.set_num_threads(1)
F64 = torch.float64
FIELDS = 3
GSPACES = {"C4": rot2dOnR2(4), "D4": flipRot2dOnR2(4), "C8": rot2dOnR2(8)}


class _Stack(nn.Module):
    """The layers in order, then the global spatial average; ``in_type`` one scalar channel, ``out_type`` the
    trivial fields of the pooled output on a 1 x 1 grid."""

    def __init__(self, layers: list[nn.Module]) -> None:
        super().__init__()
        self.layers = nn.Sequential(*layers)
        self.in_type = layers[0].in_type
        self.out_type = layers[-1].out_type

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.in_type.check(x)
        return self.layers(x).mean(dim=(2, 3), keepdim=True)


def _model(gs, first: str, batchnorm: bool, second: nn.Module | None = None) -> _Stack:
    scalar = FieldType(gs, [gs.trivial_repr])
    regular = FieldType(gs, [gs.regular_repr] * FIELDS)
    if first == "lifting":
        lift = LiftingConv2d(gs, 1, FIELDS, 5, padding=2)
        conv = GroupConv2d(gs, FIELDS, FIELDS, 3, padding=1)
    else:
        lift = R2Conv(scalar, regular, 5, padding=2)
        conv = R2Conv(regular, regular, 3, padding=1)
    layers: list[nn.Module] = [lift]
    if batchnorm:
        from steertorch.nn import InnerBatchNorm  # written alongside; imported here so the rest runs without it

        layers.append(InnerBatchNorm(regular))
    layers += [PointwiseNonLinearity(regular, "p_relu"), second or conv, PointwiseNonLinearity(regular, "p_relu"),
               PointwiseMaxPool2D(regular, 2), GroupPooling(regular)]
    model = _Stack(layers).to(F64)
    with torch.no_grad():  # non-zero biases: the test also covers them
        for m in model.modules():
            if isinstance(getattr(m, "bias", None), nn.Parameter):
                m.bias.normal_(0.0, 0.3)
    return model


def _input(seed: int = 0) -> torch.Tensor:
    # 16 x 16: the padded convolutions keep the grid, and the 2 x 2 pooling windows tile it symmetrically
    return torch.randn(4, 1, 16, 16, dtype=F64, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("first", ["lifting", "r2conv"])
@pytest.mark.parametrize("name", list(GSPACES))
def test_stack_without_batchnorm_is_invariant(name, first):
    gs = GSPACES[name]
    torch.manual_seed(0)
    model = _model(gs, first, batchnorm=False)
    els = grid_symmetries(gs)
    assert len(els) == (8 if name == "D4" else 4)
    x = _input()
    with torch.no_grad():
        y = model(x)
        shifted = model(torch.roll(x, 1, dims=2))
    assert y.shape == (4, FIELDS, 1, 1)
    assert float(y.std()) > 1e-3  # not a constant
    err = field_equivariance_error(model, x, els)
    assert err <= 1e-10, err
    # invariance is a property of the model, not of any input change: a one-pixel shift changes the logits
    assert float((shifted - y).abs().max() / y.abs().max()) > 1e-3


@pytest.mark.parametrize("first", ["lifting", "r2conv"])
@pytest.mark.parametrize("name", list(GSPACES))
def test_stack_with_inner_batchnorm_is_invariant_in_train_and_eval_mode(name, first):
    gs = GSPACES[name]
    torch.manual_seed(1)
    model = _model(gs, first, batchnorm=True)
    els = grid_symmetries(gs)
    x = _input(1)
    model.train()
    err_train = field_equivariance_error(model, x, els)  # batch statistics
    assert err_train <= 1e-10, err_train
    for seed in range(2, 5):  # running statistics move away from their initial (0, 1)
        with torch.no_grad():
            model(3.0 * _input(seed) + 1.0)
    bn = model.layers[1]
    assert float(bn.running_mean.abs().max()) > 1e-3
    model.eval()
    err_eval = field_equivariance_error(model, x, els)  # running statistics
    assert err_eval <= 1e-10, err_eval
    with torch.no_grad():
        assert float((model(x) - model.train()(x)).abs().max()) > 1e-6  # the two modes differ


def test_the_check_fails_for_a_non_equivariant_stack():
    """A plain ``Conv2d`` in place of the group convolution breaks invariance: the measure detects it."""
    gs = GSPACES["C4"]
    torch.manual_seed(2)
    plain = nn.Conv2d(FIELDS * 4, FIELDS * 4, 3, padding=1)
    model = _model(gs, "lifting", batchnorm=False, second=plain)
    assert field_equivariance_error(model, _input(), grid_symmetries(gs)) > 1e-2


def test_stack_rejects_wrong_input():
    model = _model(GSPACES["C4"], "lifting", batchnorm=False)
    with pytest.raises(ValueError, match="expected 1 channels"):
        model(torch.randn(1, 3, 16, 16, dtype=F64))
    with pytest.raises(ValueError, match="spatial"):
        model(torch.randn(1, 1, 16, dtype=F64))
