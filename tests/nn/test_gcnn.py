import pytest
import torch

from steertorch.gspaces import flipRot2dOnR2, rot2dOnR2, rot3dOnR3
from steertorch.nn import FieldType, GroupConv2d, LiftingConv2d, R2Conv

torch.set_num_threads(1)
F64 = torch.float64


def _grid_elements(gs):
    els = gs.fibergroup.elements()
    m = gs.basespace_action(els)
    keep = ((m - m.round()).abs() < 1e-12).flatten(1).all(1)
    return [e for e, k in zip(els, keep) if k]


def _error(layer, x, g):
    with torch.no_grad():
        y = layer(x)
        return float((layer(layer.in_type.transform(x, g)) - layer.out_type.transform(y, g)).abs().max()
                     / y.abs().max())


@pytest.mark.parametrize("gs", [rot2dOnR2(4), flipRot2dOnR2(4), rot2dOnR2(8), flipRot2dOnR2(2)],
                         ids=lambda g: g.name)
def test_lifting_and_group_conv_exact_on_grid_symmetries(gs):
    torch.manual_seed(0)
    lift = LiftingConv2d(gs, 2, 3, 5, padding=2).to(F64)
    conv = GroupConv2d(gs, 3, 2, 3, padding=1).to(F64)
    with torch.no_grad():
        lift.bias.normal_()
        conv.bias.normal_()
    x = torch.randn(2, 2, 9, 9, dtype=F64)
    h = lift(x)
    assert h.shape == (2, 3 * gs.fibergroup.order, 9, 9)
    els = _grid_elements(gs)
    assert len(els) >= 2
    for g in els:
        assert _error(lift, x, g) <= 1e-10
        assert _error(conv, h, g) <= 1e-10
    # the check can fail: a non-grid-aligned input change breaks it
    assert float((conv(conv.in_type.transform(h, els[1])) - conv(h)).detach().abs().max()) > 1e-3


def test_exact_flag_and_rotated_kernels_are_permutations():
    assert LiftingConv2d(flipRot2dOnR2(4), 1, 1, 3).exact
    assert not LiftingConv2d(rot2dOnR2(8), 1, 1, 3).exact
    lift = LiftingConv2d(rot2dOnR2(4), 1, 1, 3, bias=False).to(F64)
    w, _ = lift.expand_parameters()  # [4, 1, 3, 3]: the kernel rotated by 0, 90, 180, 270 degrees
    for i in range(4):
        torch.testing.assert_close(w[i, 0], torch.rot90(w[0, 0], i), rtol=0, atol=0)


def test_mixes_with_r2conv():
    torch.manual_seed(1)
    gs = flipRot2dOnR2(4)
    lift = LiftingConv2d(gs, 1, 2, 3, padding=1).to(F64)
    conv = R2Conv(lift.out_type, FieldType(gs, [gs.irrep(1, 1), gs.trivial_repr]), 3, padding=1).to(F64)
    x = torch.randn(1, 1, 7, 7, dtype=F64)
    y = conv(torch.relu(lift(x)))
    for g in _grid_elements(gs):
        y2 = conv(torch.relu(lift(lift.in_type.transform(x, g))))
        assert float((y2 - conv.out_type.transform(y, g)).detach().abs().max()) <= 1e-10


def _smooth_blob(c, n, generator):
    x = torch.randn(1, c, n, n, dtype=F64, generator=generator)
    ax = torch.arange(-12, 13, dtype=F64)
    k = torch.exp(-ax**2 / 32)
    k = k / k.sum()
    x = torch.nn.functional.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), padding=(0, 12), groups=c)
    x = torch.nn.functional.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), padding=(12, 0), groups=c)
    p = torch.arange(n, dtype=F64) - (n - 1) / 2
    r = (p[:, None] ** 2 + p[None, :] ** 2).sqrt()
    return x * torch.exp(-(r / (n / 4)) ** 4) / x.std()


def test_c8_45_degrees_is_approximate():
    # rotations by 45 degrees interpolate the kernel: measured relative errors (smooth input, blob std 4 px):
    # lifting 0.12 with the disk mask, 0.4 without
    gen = torch.Generator().manual_seed(2)
    torch.manual_seed(2)
    gs = rot2dOnR2(8)
    n = 41
    x = _smooth_blob(1, n, gen)
    p = torch.arange(n, dtype=F64) - (n - 1) / 2
    inner = (p[:, None] ** 2 + p[None, :] ** 2).sqrt() < n / 2 - 8
    errs = {}
    for mask in (True, False):
        lift = LiftingConv2d(gs, 1, 4, 5, padding=2, disk_mask=mask).to(F64)
        with torch.no_grad():
            y = lift(x)
            d = lift(lift.in_type.transform(x, 1)) - lift.out_type.transform(y, 1)
        errs[mask] = float(d[..., inner].norm() / y[..., inner].norm())
    assert errs[True] < 0.3
    assert errs[True] < errs[False]


def test_export_and_second_moment():
    torch.manual_seed(3)
    gs = flipRot2dOnR2(4)
    lift = LiftingConv2d(gs, 3, 4, 5).to(F64).eval()
    conv = GroupConv2d(gs, 4, 4, 3).to(F64).eval()
    with torch.no_grad():
        lift.bias.normal_()
    x = torch.randn(4, 3, 20, 20, dtype=F64)
    with torch.no_grad():
        torch.testing.assert_close(lift.export()(x), lift(x), rtol=0, atol=1e-12)
        h = lift(x) - lift.bias.repeat_interleave(8)[:, None, None]
        torch.testing.assert_close(conv.export()(h), conv(h), rtol=0, atol=1e-12)
    m1, m2 = [], []
    for _ in range(6):
        lift.reset_parameters()
        conv.reset_parameters()
        with torch.no_grad():
            m1.append(float(lift(x).pow(2).mean()))
            m2.append(float(conv(torch.randn(4, 32, 12, 12, dtype=F64)).pow(2).mean()))
    assert 0.7 < sum(m1) / 6 < 1.4
    assert 0.7 < sum(m2) / 6 < 1.4


def test_gradients():
    gs = rot2dOnR2(4)
    conv = GroupConv2d(gs, 2, 2, 3, padding=1).to(F64)
    x = torch.randn(1, 8, 6, 6, dtype=F64)
    conv(x).pow(2).sum().backward()
    assert torch.isfinite(conv.weight.grad).all() and conv.weight.grad.abs().max() > 0


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="finite group"):
        LiftingConv2d(rot2dOnR2(-1), 1, 1, 3)
    with pytest.raises(ValueError, match="finite group"):
        GroupConv2d(rot3dOnR3(), 1, 1, 3)
    conv = GroupConv2d(rot2dOnR2(4), 2, 1, 3)
    with pytest.raises(ValueError, match="8.*got \\[1, 4, 5, 5\\]"):
        conv(torch.randn(1, 4, 5, 5))
    with pytest.raises(ValueError, match="out_fields"):
        LiftingConv2d(rot2dOnR2(4), 1, 0, 3)
