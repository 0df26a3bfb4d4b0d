r"""Procedurally generated upright shape families for point-cloud classification (a ModelNet stand-in).

Five classes, each with random proportions, sampled as ``num_points`` points uniformly on the surface (area
weighted), centred (on the z axis, at mid-height) and scaled to fit in the unit ball. Shapes stand upright
along z, as ModelNet's objects do, so their symmetry is (at most) O(2) about z; ``yaw=True`` turns each shape by a
uniform random angle about z (the orientations a z-equivariant model must not care about).

- ``box``: side lengths in [0.3, 1];
- ``cylinder``: radius in [0.2, 0.6], height in [0.4, 1.2] (side and both caps);
- ``cone``: apex up, base radius in [0.3, 0.7], height in [0.5, 1.2] (side and base);
- ``torus``: in the xy plane, radii R in [0.5, 0.8] and r in [0.1, 0.3 R];
- ``chair``: a seat, four legs and a backrest (six boxes) with random seat size, leg length and back height.
"""

from __future__ import annotations

import math

import torch

__all__ = ["SHAPE_CLASSES", "upright_shapes"]

SHAPE_CLASSES = ("box", "cylinder", "cone", "torus", "chair")


def _u(lo: float, hi: float, g: torch.Generator, n: int = 1) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, dtype=torch.float64, generator=g)


def _boxes(centers: torch.Tensor, sizes: torch.Tensor, n: int, g: torch.Generator) -> torch.Tensor:
    """``n`` points uniform on the union of the surfaces of axis-aligned boxes ``[B, 3]`` (centres, side lengths)."""
    a, b, c = sizes.unbind(-1)
    areas = torch.stack([b * c, b * c, a * c, a * c, a * b, a * b], -1)  # faces -x, +x, -y, +y, -z, +z
    face = torch.multinomial(areas.reshape(-1), n, replacement=True, generator=g)
    box, side = face // 6, face % 6
    axis, sign = side // 2, (side % 2) * 2 - 1
    p = torch.rand(n, 3, dtype=torch.float64, generator=g) - 0.5
    p[torch.arange(n), axis] = 0.5 * sign.to(torch.float64)
    return centers[box] + p * sizes[box]


def _disk(r: torch.Tensor, n: int, g: torch.Generator) -> torch.Tensor:
    rho = r * torch.rand(n, dtype=torch.float64, generator=g).sqrt()
    phi = 2 * math.pi * torch.rand(n, dtype=torch.float64, generator=g)
    return torch.stack([rho * phi.cos(), rho * phi.sin()], -1)


def _cylinder(g: torch.Generator, n: int) -> torch.Tensor:
    r, h = _u(0.2, 0.6, g), _u(0.4, 1.2, g)
    areas = torch.cat([2 * math.pi * r * h, math.pi * r * r, math.pi * r * r])
    part = torch.multinomial(areas, n, replacement=True, generator=g)
    phi = 2 * math.pi * torch.rand(n, dtype=torch.float64, generator=g)
    side = torch.stack([r * phi.cos(), r * phi.sin(), h * (torch.rand(n, dtype=torch.float64, generator=g) - 0.5)], -1)
    cap = torch.cat([_disk(r, n, g), (h / 2).expand(n, 1)], -1)
    cap[part == 1, 2] *= -1
    return torch.where((part == 0)[:, None], side, cap)


def _cone(g: torch.Generator, n: int) -> torch.Tensor:
    r, h = _u(0.3, 0.7, g), _u(0.5, 1.2, g)
    areas = torch.cat([math.pi * r * (r * r + h * h).sqrt(), math.pi * r * r])
    part = torch.multinomial(areas, n, replacement=True, generator=g)
    t = torch.rand(n, dtype=torch.float64, generator=g).sqrt()  # distance from the apex / slant: area-uniform
    phi = 2 * math.pi * torch.rand(n, dtype=torch.float64, generator=g)
    side = torch.stack([t * r * phi.cos(), t * r * phi.sin(), h * (1 - t)], -1)
    base = torch.cat([_disk(r, n, g), torch.zeros(n, 1, dtype=torch.float64)], -1)
    return torch.where((part == 0)[:, None], side, base)


def _torus(g: torch.Generator, n: int) -> torch.Tensor:
    big = _u(0.5, 0.8, g)
    small = big * _u(0.1, 0.3, g)
    out = torch.zeros(0, 3, dtype=torch.float64)
    while out.shape[0] < n:  # rejection: the area element is proportional to R + r cos(psi)
        m = 2 * n
        phi = 2 * math.pi * torch.rand(m, dtype=torch.float64, generator=g)
        psi = 2 * math.pi * torch.rand(m, dtype=torch.float64, generator=g)
        keep = torch.rand(m, dtype=torch.float64, generator=g) * (big + small) < big + small * psi.cos()
        rho = big + small * psi.cos()
        pts = torch.stack([rho * phi.cos(), rho * phi.sin(), small * psi.sin()], -1)[keep]
        out = torch.cat([out, pts])
    return out[:n]


def _box(g: torch.Generator, n: int) -> torch.Tensor:
    return _boxes(torch.zeros(1, 3, dtype=torch.float64), _u(0.3, 1.0, g, 3)[None], n, g)


def _chair(g: torch.Generator, n: int) -> torch.Tensor:
    w, d = _u(0.5, 0.9, g).item(), _u(0.5, 0.9, g).item()
    seat_t, leg, leg_w = _u(0.05, 0.12, g).item(), _u(0.4, 0.8, g).item(), _u(0.05, 0.1, g).item()
    back_h, back_t = _u(0.4, 0.9, g).item(), _u(0.05, 0.12, g).item()
    centers = [[0.0, 0.0, leg + seat_t / 2]]
    sizes = [[w, d, seat_t]]
    for sx in (-1, 1):
        for sy in (-1, 1):
            centers.append([sx * (w - leg_w) / 2, sy * (d - leg_w) / 2, leg / 2])
            sizes.append([leg_w, leg_w, leg])
    centers.append([0.0, (d - back_t) / 2, leg + seat_t + back_h / 2])  # the backrest along +y
    sizes.append([w, back_t, back_h])
    return _boxes(torch.tensor(centers, dtype=torch.float64), torch.tensor(sizes, dtype=torch.float64), n, g)


_MAKERS = {"box": _box, "cylinder": _cylinder, "cone": _cone, "torus": _torus, "chair": _chair}


def upright_shapes(num_per_class: int, num_points: int = 512, yaw: bool = True, noise: float = 0.0,
                   generator: torch.Generator | None = None, dtype: torch.dtype = torch.float64
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    r"""``num_per_class`` random shapes of every class of :data:`SHAPE_CLASSES` (see the module docstring).

    Args:
        num_per_class: shapes per class.
        num_points: surface points per shape.
        yaw: turn every shape by a random angle about z.
        noise: standard deviation of Gaussian jitter added to the points (after scaling).
        generator, dtype: random source and floating point type.

    Returns:
        ``(pos [S, num_points, 3], labels [S])`` with ``S = 5 * num_per_class``, labels indexing
        :data:`SHAPE_CLASSES`, classes in order (shuffle them yourself).

    >>> pos, labels = upright_shapes(2, num_points=64, generator=torch.Generator().manual_seed(0))
    >>> pos.shape, labels.tolist()
    (torch.Size([10, 64, 3]), [0, 0, 1, 1, 2, 2, 3, 3, 4, 4])
    >>> bool(pos.norm(dim=-1).max() <= 1.0 + 1e-12)
    True
    """
    for name, v in (("num_per_class", num_per_class), ("num_points", num_points)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"upright_shapes: {name} must be an int >= 1, got {v!r}")
    if not noise >= 0:
        raise ValueError(f"upright_shapes: noise must be >= 0, got {noise!r}")
    g = generator if generator is not None else torch.Generator().manual_seed(int(torch.randint(2**62, ()).item()))
    clouds, labels = [], []
    for label, name in enumerate(SHAPE_CLASSES):
        for _ in range(num_per_class):
            p = _MAKERS[name](g, num_points)
            p[:, 2] -= (p[:, 2].max() + p[:, 2].min()) / 2  # the makers centre x, y on the axis z
            p = p / p.norm(dim=-1).max()
            a = 2 * math.pi * torch.rand((), dtype=torch.float64, generator=g)  # drawn always: same shapes either way
            if yaw:
                c, s = a.cos(), a.sin()
                p = p @ torch.stack([torch.stack([c, -s, 0 * c]), torch.stack([s, c, 0 * c]),
                                     torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)]).T
            if noise:
                p = p + noise * torch.randn(p.shape, dtype=torch.float64, generator=g)
            clouds.append(p)
            labels.append(label)
    return torch.stack(clouds).to(dtype), torch.tensor(labels, dtype=torch.long)
