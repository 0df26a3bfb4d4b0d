r"""Synthetic hand-drawn digits, generated offline: the rotated-digits benchmark without a download.

Each digit 0-9 is a fixed set of polylines and elliptic arcs (the *template*, in glyph coordinates
:math:`x` right, :math:`y` up, both in :math:`[-1, 1]`). An image is drawn by

1. jittering the template's points (i.i.d. normal, std ``0.03``), applying a random affine map (scale
   0.9-1.1, aspect 0.85-1.15, slant (shear) -0.2-0.2) and a random shift (up to 1.5 pixels at ``size = 29``);
2. placing it on the pixel grid, coordinates :math:`p = (\text{row}, \text{col})` measured from the image
   centre :math:`((s - 1) / 2, (s - 1) / 2)`, with ``row = -y``, ``col = x``;
3. optionally rotating the *stroke coordinates* by :math:`M(\theta) = [[\cos\theta, -\sin\theta],
   [\sin\theta, \cos\theta]]` about the image centre (the convention of
   :meth:`steertorch.nn.FieldType.transform`: a positive angle turns the image counter-clockwise as displayed,
   and :math:`\theta = \pi / 2` is ``torch.rot90(image, 1, (-2, -1))`` exactly);
4. rasterising: pixel value :math:`\mathrm{clamp}(r + 1/2 - d(p), 0, 1)`, with :math:`d(p)` the distance from
   the pixel centre to the nearest stroke segment and :math:`r` a random stroke half-width (0.9-1.6 pixels
   at ``size = 29``): an anti-aliased stroke with a one-pixel linear edge.

Because the rotation acts on the coordinates before rasterisation, a rotated digit is drawn as sharply as an
upright one (no interpolation); the whole glyph stays within the disk inscribed in the image, so no
rotation cuts it. The random draws do not depend on the angles (they are drawn last), so the same generator
state gives the same digits at every angle.

**6 and 9.** The template of 9 is the template of 6 turned by 180 degrees, so under arbitrary rotations the
two classes are indistinguishable (as for handwritten digits). Rotated-MNIST practice is to drop one of them:
pass ``classes=(0, 1, 2, 3, 4, 5, 6, 7, 8)``. Labels are always the digit values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

__all__ = ["digits", "rotated_digits", "DIGIT_TEMPLATES"]

_ARC_SEGMENTS = 12
_Polyline = list[tuple[float, float]]


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, stop: float) -> _Polyline:
    """Points of the elliptic arc from angle ``start`` to ``stop`` (degrees, counter-clockwise from +x)."""
    return [(cx + rx * math.cos(math.radians(start + (stop - start) * i / _ARC_SEGMENTS)),
             cy + ry * math.sin(math.radians(start + (stop - start) * i / _ARC_SEGMENTS)))
            for i in range(_ARC_SEGMENTS + 1)]


def _six() -> list[_Polyline]:
    return [_arc(0.0, -0.45, 0.8, 0.55, 0.0, 360.0), _arc(0.45, -0.3, 1.25, 1.3, 180.0, 78.0)]


#: digit -> polylines (lists of (x, y) points, x right, y up, in [-1, 1])
DIGIT_TEMPLATES: dict[int, list[_Polyline]] = {
    0: [_arc(0.0, 0.0, 0.8, 1.0, 0.0, 360.0)],
    1: [[(-0.45, 0.6), (0.1, 1.0), (0.1, -1.0)]],
    2: [_arc(0.0, 0.4, 0.85, 0.6, 160.0, -20.0) + [(-0.9, -1.0), (0.95, -1.0)]],
    3: [_arc(0.0, 0.5, 0.8, 0.5, 150.0, -90.0), _arc(0.0, -0.5, 0.9, 0.5, 90.0, -150.0)],
    4: [[(0.4, -1.0), (0.4, 1.0), (-0.95, -0.35), (0.95, -0.35)]],
    5: [[(0.85, 1.0), (-0.6, 1.0), (-0.75, 0.1)] + _arc(0.0, -0.4, 0.85, 0.6, 125.0, -155.0)],
    6: _six(),
    7: [[(-0.9, 1.0), (0.9, 1.0), (-0.2, -1.0)], [(-0.3, 0.0), (0.5, 0.0)]],
    8: [_arc(0.0, 0.52, 0.65, 0.48, -90.0, 270.0), _arc(0.0, -0.48, 0.8, 0.52, 90.0, 450.0)],
    9: [[(-x, -y) for x, y in line] for line in _six()],
}


def _template_tensors(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Points ``[10, V, 2]`` (x, y) and segments ``[10, S, 2]`` (indices of the two end points), every digit
    padded to the largest counts by repeating its last point / segment (which changes no distance)."""
    points, segments = [], []
    for d in range(10):
        pts: list[tuple[float, float]] = []
        segs: list[tuple[int, int]] = []
        for line in DIGIT_TEMPLATES[d]:
            start = len(pts)
            pts.extend(line)
            segs.extend((start + i, start + i + 1) for i in range(len(line) - 1))
        points.append(pts)
        segments.append(segs)
    n_v, n_s = max(map(len, points)), max(map(len, segments))
    p = torch.tensor([pts + [pts[-1]] * (n_v - len(pts)) for pts in points], dtype=dtype)
    s = torch.tensor([segs + [segs[-1]] * (n_s - len(segs)) for segs in segments], dtype=torch.long)
    return p, s


def _uniform(n: int, lo: float, hi: float, generator: torch.Generator | None, dtype: torch.dtype) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=generator, dtype=dtype)


def _angles(rotate, n: int, generator: torch.Generator | None, dtype: torch.dtype
            ) -> tuple[torch.Tensor, float] | None:
    """The angles ``[n]`` in float64 and the tolerance within which their cos / sin are snapped to integers (1e-12
    for angles given in float64 or as Python numbers, a few ulps of float32 for float32 tensors)."""
    if rotate is False or rotate is None:
        return None
    if rotate is True:
        return _uniform(n, 0.0, 2 * math.pi, generator, dtype).to(torch.float64), _snap_tol(dtype)
    if isinstance(rotate, torch.Tensor):
        if not rotate.dtype.is_floating_point or rotate.dim() > 1 or (rotate.dim() == 1 and rotate.shape != (n,)):
            raise ValueError(f"digits: rotate as a tensor must hold one angle or n = {n} angles (floating), got "
                             f"shape {list(rotate.shape)}, {rotate.dtype}")
        return rotate.detach().cpu().to(torch.float64).expand(n), _snap_tol(rotate.dtype)
    if isinstance(rotate, (int, float)) and not isinstance(rotate, bool):
        return torch.full((n,), float(rotate), dtype=torch.float64), 1e-12
    if isinstance(rotate, Sequence) and len(rotate) == 2 and all(isinstance(a, (int, float)) for a in rotate):
        lo, hi = float(rotate[0]), float(rotate[1])
        if not lo <= hi:
            raise ValueError(f"digits: the angle range must have low <= high, got {rotate!r}")
        return _uniform(n, lo, hi, generator, dtype).to(torch.float64), _snap_tol(dtype)
    raise ValueError(f"digits: rotate must be False, True, an angle (radians), a (low, high) range or a tensor of "
                     f"angles, got {rotate!r}")


def _snap_tol(dtype: torch.dtype) -> float:
    return 1e-12 if dtype == torch.float64 else 8 * torch.finfo(dtype).eps


def _rotation(angles: torch.Tensor, tol: float) -> torch.Tensor:
    """``[n, 2, 2]`` float64 rotation matrices; cos / sin within ``tol`` of an integer are snapped (exact quarter
    turns)."""
    c, s = torch.cos(angles), torch.sin(angles)
    m = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)
    r = m.round()
    return torch.where((m - r).abs() < tol, r, m) + 0.0


def _min_distance(a: torch.Tensor, b: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Distance ``[n, P]`` from each grid point ``[P, 2]`` to the nearest segment ``(a, b)`` ``[n, S, 2]``."""
    d = b - a  # [n, S, 2]
    dx, dy = d[..., 0:1], d[..., 1:2]
    dd = (d * d).sum(-1).clamp_min(1e-12)[..., None]  # [n, S, 1]
    px = grid[:, 0][None, None] - a[..., 0:1]  # [n, S, P]
    py = grid[:, 1][None, None] - a[..., 1:2]
    # no fused multiply-add: px dx + py dy must be symmetric in the two axes for quarter turns to be exact
    t = (px * dx).add_(py * dy).div_(dd).clamp_(0.0, 1.0)  # position of the nearest point on the segment
    px.sub_(t * dx)
    py.sub_(t * dy)
    return px.mul_(px).add_(py.mul_(py)).amin(1).sqrt_()


def digits(n: int, size: int = 29, rotate: bool | float | tuple[float, float] | torch.Tensor = False,
           classes: Sequence[int] | None = None, generator: torch.Generator | None = None,
           dtype: torch.dtype | None = None, return_angles: bool = False
           ) -> tuple[torch.Tensor, torch.Tensor] | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""``n`` synthetic digits: images ``[n, 1, size, size]`` with values in [0, 1] and labels ``[n]`` (int64).

    See the module docstring for how they are drawn. Labels are balanced: every class of ``classes`` occurs
    ``n // len(classes)`` or one more times, in random order.

    Args:
        n: number of images.
        size: image side in pixels (>= 9); strokes and shifts scale with ``size / 29``.
        rotate: ``False`` (upright), ``True`` (angles uniform in [0, 2 pi)), a ``(low, high)`` range of angles,
            one angle, or a tensor of ``n`` angles; radians, counter-clockwise as displayed (the convention of
            ``FieldType.transform`` with ``rot2dOnR2``: ``pi / 2`` is ``torch.rot90(x, 1, (2, 3))``).
        classes: the digits to draw (default all ten); e.g. drop 9, which is a rotated 6.
        generator: a ``torch.Generator`` for reproducible draws (the images do not depend on ``rotate``
            except through the rotation itself: random angles are drawn after everything else).
        dtype: floating dtype of the images (default: torch's default dtype).
        return_angles: also return the angles ``[n]`` (zeros when not rotated).

    1000 images of size 29 take about 0.2 s on one CPU thread in float32 (about 0.5 s in float64).

    >>> import torch
    >>> x, y = digits(20, generator=torch.Generator().manual_seed(0))
    >>> x.shape, y.shape, bool(x.min() >= 0) and bool(x.max() <= 1)
    (torch.Size([20, 1, 29, 29]), torch.Size([20]), True)
    >>> x90, _ = digits(20, rotate=torch.pi / 2, generator=torch.Generator().manual_seed(0))
    >>> bool(torch.equal(x90, torch.rot90(x, 1, (2, 3))))
    True
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"digits: n must be an int >= 0, got {n!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 9:
        raise ValueError(f"digits: size must be an int >= 9, got {size!r}")
    dtype = dtype or torch.get_default_dtype()
    if not dtype.is_floating_point:
        raise ValueError(f"digits: dtype must be a floating dtype, got {dtype}")
    if classes is None:
        classes = tuple(range(10))
    classes = [int(c) for c in classes]
    if not classes or any(c < 0 or c > 9 for c in classes) or len(set(classes)) != len(classes):
        raise ValueError(f"digits: classes must be distinct digits 0-9, got {classes!r}")
    pick = torch.arange(n) % len(classes)
    labels = torch.tensor(classes, dtype=torch.long)[pick[torch.randperm(n, generator=generator)]]

    scale = size / 29.0
    pts, segs = _template_tensors(dtype)
    p = pts[labels]  # [n, V, 2] (x, y)
    p = p + 0.03 * torch.randn(p.shape, generator=generator, dtype=dtype)
    size_factor = _uniform(n, 0.9, 1.1, generator, dtype)
    aspect = _uniform(n, 0.85, 1.15, generator, dtype).sqrt()
    sx, sy = size_factor * aspect, size_factor / aspect
    slant = _uniform(n, -0.2, 0.2, generator, dtype)
    shift = _uniform(2 * n, -1.5, 1.5, generator, dtype).view(n, 2) * scale
    radius = _uniform(n, 0.9, 1.6, generator, dtype) * scale
    half_w, half_h = 4.9 * scale, 8.0 * scale  # glyph half-extent in pixels: within the inscribed disk
    x = (p[..., 0] + slant[:, None] * p[..., 1]) * sx[:, None] * half_w
    y = p[..., 1] * sy[:, None] * half_h
    q = torch.stack([-y, x], -1) + shift[:, None]  # (row, col) from the image centre
    rotation = _angles(rotate, n, generator, dtype)
    angles = None
    if rotation is not None:
        angles = rotation[0].to(dtype)
        q = (q.to(torch.float64) @ _rotation(*rotation).transpose(-1, -2)).to(dtype)
    seg = segs[labels]  # [n, S, 2]
    a = torch.gather(q, 1, seg[..., 0:1].expand(-1, -1, 2))
    b = torch.gather(q, 1, seg[..., 1:2].expand(-1, -1, 2))
    axis = torch.arange(size, dtype=dtype) - (size - 1) / 2
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)  # [P, 2]
    images = torch.empty(n, size * size, dtype=dtype)
    chunk = max(1, 2**22 // (dtype.itemsize * seg.shape[1] * grid.shape[0]))  # temporaries stay in cache
    for i in range(0, n, chunk):
        dist = _min_distance(a[i:i + chunk], b[i:i + chunk], grid)
        images[i:i + chunk] = (radius[i:i + chunk, None] + 0.5 - dist).clamp_(0.0, 1.0)
    images = images.view(n, 1, size, size)
    if return_angles:
        return images, labels, torch.zeros(n, dtype=dtype) if angles is None else angles
    return images, labels


def rotated_digits(n: int, size: int = 29, classes: Sequence[int] | None = None,
                   generator: torch.Generator | None = None, dtype: torch.dtype | None = None,
                   return_angles: bool = False):
    r"""``digits(n, rotate=True, ...)``: digits rotated by angles uniform in [0, 2 pi) (the rotated-MNIST set).

    >>> import torch
    >>> x, y, angles = rotated_digits(8, classes=range(9), generator=torch.Generator().manual_seed(1),
    ...                               return_angles=True)
    >>> x.shape, int(y.max()) <= 8, bool((angles >= 0).all() and (angles < 2 * torch.pi).all())
    (torch.Size([8, 1, 29, 29]), True, True)
    """
    return digits(n, size=size, rotate=True, classes=classes, generator=generator, dtype=dtype,
                  return_angles=return_angles)
