"""Synthetic digits: shapes, range, determinism, exact quarter turns, the rotation convention, class balance."""

from __future__ import annotations

import math

import pytest
import torch

from steertorch.data import DIGIT_TEMPLATES, digits, rotated_digits
from steertorch.gspaces import rot2dOnR2
from steertorch.nn import FieldType

torch.set_num_threads(1)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shapes_range_and_labels(dtype):
    x, y = digits(50, size=29, generator=_gen(), dtype=dtype)
    assert x.shape == (50, 1, 29, 29) and x.dtype == dtype
    assert y.shape == (50,) and y.dtype == torch.long
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0  # background and stroke cores
    assert set(y.tolist()) == set(range(10))
    ink = (x > 0).flatten(1).float().mean(1)
    assert bool((ink > 0.04).all()) and bool((ink < 0.4).all()), ink  # every image holds a stroke, none is a blob
    x2, _ = digits(4, size=17, generator=_gen(), dtype=dtype)
    assert x2.shape == (4, 1, 17, 17)


def test_determinism_with_a_generator():
    a = digits(30, rotate=True, generator=_gen(3), return_angles=True)
    b = digits(30, rotate=True, generator=_gen(3), return_angles=True)
    c = digits(30, rotate=True, generator=_gen(4), return_angles=True)
    for u, v in zip(a, b):
        assert torch.equal(u, v)
    assert not torch.equal(a[0], c[0])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_quarter_turns_through_the_api_are_rot90(dtype, k):
    upright, y0 = digits(40, generator=_gen(1), dtype=dtype)
    turned, y1, angles = digits(40, rotate=k * math.pi / 2, generator=_gen(1), dtype=dtype, return_angles=True)
    assert torch.equal(y0, y1)
    assert torch.allclose(angles, torch.full((40,), k * math.pi / 2, dtype=dtype))
    err = float((turned - torch.rot90(upright, k, (2, 3))).abs().max())
    assert err <= 1e-6, err
    assert float((turned - upright).abs().max()) > 0.5  # the images did change
    # the same thing through FieldType.transform (the library's convention for a positive angle)
    gs = rot2dOnR2()
    ft = FieldType(gs, [gs.trivial_repr])
    moved = ft.transform(upright, gs.fibergroup.element(k * math.pi / 2))
    assert float((turned - moved).abs().max()) <= 1e-6


def test_generic_angles_follow_the_field_type_convention():
    """At 0.4 rad the drawn rotation matches FieldType.transform (bilinear interpolation of the upright image)
    up to the interpolation error, and is far from the opposite rotation."""
    gs = rot2dOnR2()
    ft = FieldType(gs, [gs.trivial_repr])
    upright, _ = digits(64, generator=_gen(2), dtype=torch.float64)
    drawn, _ = digits(64, rotate=0.4, generator=_gen(2), dtype=torch.float64)
    same = ft.transform(upright, gs.fibergroup.element(0.4))
    opposite = ft.transform(upright, gs.fibergroup.element(-0.4))
    rel = float((drawn - same).norm() / drawn.norm())
    rel_opposite = float((drawn - opposite).norm() / drawn.norm())
    assert rel < 0.25, rel  # measured 0.14: interpolation blurs the one-pixel anti-aliased edges
    assert rel_opposite > 3 * rel, (rel, rel_opposite)  # measured about 1.0


def test_rotated_digits_and_angle_ranges():
    x, y, a = rotated_digits(200, generator=_gen(5), return_angles=True)
    assert x.shape == (200, 1, 29, 29)
    assert bool((a >= 0).all()) and bool((a < 2 * math.pi).all()) and float(a.std()) > 1.0
    _, _, a = digits(100, rotate=(-0.5, 0.25), generator=_gen(5), return_angles=True)
    assert bool((a >= -0.5).all()) and bool((a <= 0.25).all()) and float(a.max() - a.min()) > 0.5
    angles = torch.linspace(0, 1, 7)
    _, _, a = digits(7, rotate=angles, generator=_gen(5), return_angles=True)
    assert torch.equal(a, angles)
    _, _, a = digits(3, generator=_gen(5), return_angles=True)
    assert torch.equal(a, torch.zeros(3))


def test_rotations_do_not_cut_the_glyphs():
    """All ink lies within the disk inscribed in the image (up to half a pixel), so no rotation clips a digit."""
    x, _ = rotated_digits(2000, generator=_gen(6))
    axis = torch.arange(29.0) - 14
    radius = (axis[:, None] ** 2 + axis[None] ** 2).sqrt()
    assert float(radius.expand_as(x[:, 0])[x[:, 0] > 0].max()) <= 14.5


def test_class_balance_and_classes_argument():
    _, y = digits(1000, generator=_gen(7))
    assert torch.equal(torch.bincount(y, minlength=10), torch.full((10,), 100))
    assert y[:10].unique().numel() > 3  # shuffled, not in blocks
    _, y = digits(1003, generator=_gen(7))
    counts = torch.bincount(y, minlength=10)
    assert int(counts.max() - counts.min()) == 1 and int(counts.sum()) == 1003
    _, y = digits(900, classes=range(9), generator=_gen(7))
    assert torch.equal(torch.bincount(y, minlength=10), torch.tensor([100] * 9 + [0]))
    _, y = digits(60, classes=(6, 9, 1), generator=_gen(7))
    assert sorted(set(y.tolist())) == [1, 6, 9] and torch.bincount(y)[[1, 6, 9]].tolist() == [20, 20, 20]


def test_nine_is_a_turned_six():
    """The documented 6 / 9 ambiguity: the templates differ by a half turn, so 9s are 6s turned by pi."""
    six = [p for line in DIGIT_TEMPLATES[6] for p in line]
    nine = [p for line in DIGIT_TEMPLATES[9] for p in line]
    assert nine == [(-x, -y) for x, y in six]
    # and the digits differ from each other otherwise: the mean images of distinct classes are far apart
    x, y = digits(400, generator=_gen(8), dtype=torch.float64)
    means = torch.stack([x[y == c].mean(0).flatten() for c in range(10)])
    dist = torch.cdist(means, means) + torch.eye(10) * 1e9
    assert float(dist.min()) > 1.0


@pytest.mark.parametrize("kwargs", [
    dict(n=-1), dict(n=2.5), dict(n=4, size=5), dict(n=4, size=True), dict(n=4, classes=()),
    dict(n=4, classes=(1, 1)), dict(n=4, classes=(10,)), dict(n=4, rotate="yes"), dict(n=4, rotate=(1.0, 0.0)),
    dict(n=4, rotate=torch.zeros(3)), dict(n=4, dtype=torch.int64),
])
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError, match="digits"):
        digits(**kwargs)
