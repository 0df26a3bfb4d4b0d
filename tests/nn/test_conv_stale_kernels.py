"""Grid convolutions never serve a kernel computed from other weights (issue 12, fault 5): in eval mode under
``torch.no_grad()`` every way of changing the weights (``.data`` writes, ``load_state_dict``, ``.double()``, an
in-place optimizer step) is seen by the next forward, which equals that of a freshly built module."""

import copy

import pytest
import torch

from steertorch.gspaces import flipRot2dOnR2, rot2dOnR2
from steertorch.nn import FieldLinear, FieldType, GroupConv2d, LiftingConv2d, R2Conv, R2ConvTransposed

F64 = torch.float64


def _modules():
    gs = rot2dOnR2(4)
    reg = FieldType(gs, 2 * [gs.regular_repr])
    mixed = FieldType(gs, [gs.trivial_repr, gs.irrep(1), gs.regular_repr])
    d4 = flipRot2dOnR2(4)
    return {
        "R2Conv": lambda: R2Conv(reg, mixed, 3, padding=1),
        "R2ConvTransposed": lambda: R2ConvTransposed(reg, mixed, 3, padding=1),
        "FieldLinear": lambda: FieldLinear(reg, mixed),
        "LiftingConv2d": lambda: LiftingConv2d(d4, 2, 2, 3, padding=1),
        "GroupConv2d": lambda: GroupConv2d(rot2dOnR2(8), 1, 2, 3, padding=1),
    }


MODULES = _modules()


def _input(m, dtype=torch.float32):
    return torch.randn(2, m.in_type.size, 6, 6, dtype=dtype, generator=torch.Generator().manual_seed(1))


def _params(m):
    return [p for p in m.parameters()]


def _fresh(m):
    """A module expanding its kernel from scratch: a deep copy in training mode (no state can be shared)."""
    return copy.deepcopy(m).train()


def _perturb_bias(m):
    with torch.no_grad():
        for p in _params(m):
            if p.dim() == 1 and p.numel() < 20:
                p.add_(0.5)


@pytest.mark.parametrize("name", sorted(MODULES))
@pytest.mark.parametrize("change", ["data_mul", "load_state_dict", "double", "optimizer_step"])
def test_eval_no_grad_forward_uses_current_weights(name, change):
    torch.manual_seed(0)
    m = MODULES[name]().eval()
    _perturb_bias(m)
    x = _input(m)
    with torch.no_grad():
        before = m(x)
        if change == "data_mul":
            for p in _params(m):
                p.data.mul_(2)
        elif change == "load_state_dict":
            other = MODULES[name]()
            other.load_state_dict({k: v * 3 for k, v in m.state_dict().items()})
            m.load_state_dict(other.state_dict())
        elif change == "double":
            m.double()
            x = x.double()
        else:
            for p in _params(m):
                p.grad = torch.ones_like(p)
            torch.optim.SGD(m.parameters(), lr=0.1).step()
        after = m(x)
        expected = _fresh(m)(x)
    assert not torch.allclose(before.to(after.dtype), after)
    torch.testing.assert_close(after, expected, rtol=0, atol=0)
