"""Coordinates (angstrom) of molecules of known point group, written from their textbook geometry."""

from __future__ import annotations

import itertools
import math

import torch

PHI = (1 + 5**0.5) / 2


def _ring(n: int, r: float, z: float, offset: float = 0.0) -> list[list[float]]:
    return [[r * math.cos(offset + 2 * math.pi * k / n), r * math.sin(offset + 2 * math.pi * k / n), z]
            for k in range(n)]


def c60() -> list[list[float]]:
    """Truncated icosahedron: the cyclic (= even) permutations of (0, +-1, +-3 phi), (+-1, +-(2 + phi), +-2 phi),
    (+-phi, +-2, +-phi^3)."""
    out = []
    for base in [(0.0, 1.0, 3 * PHI), (1.0, 2 + PHI, 2 * PHI), (PHI, 2.0, PHI**3)]:
        for signs in itertools.product((1, -1), repeat=3):
            v = [s * b for s, b in zip(signs, base)]
            for k in range(3):
                p = v[k:] + v[:k]
                if p not in out:
                    out.append(p)
    return out


def _orbit_s4(p: list[float]) -> list[list[float]]:
    a, b, c = p
    return [[a, b, c], [-b, a, -c], [-a, -b, c], [b, -a, -c]]


# name -> (expected point group, positions, species)
MOLECULES: dict[str, tuple[str, list, list]] = {
    "water": ("C2v", [[0, 0, 0], [0.757, 0.586, 0], [-0.757, 0.586, 0]], [8, 1, 1]),
    "ammonia": ("C3v", [[0, 0, 0]] + _ring(3, 0.94, -0.38), [7, 1, 1, 1]),
    "methane": ("Td", [[0, 0, 0], [0.63, 0.63, 0.63], [0.63, -0.63, -0.63], [-0.63, 0.63, -0.63],
                       [-0.63, -0.63, 0.63]], [6, 1, 1, 1, 1]),
    "benzene": ("D6h", _ring(6, 1.39, 0) + _ring(6, 2.48, 0), [6] * 6 + [1] * 6),
    "SF6": ("Oh", [[0, 0, 0], [1.56, 0, 0], [-1.56, 0, 0], [0, 1.56, 0], [0, -1.56, 0], [0, 0, 1.56],
                   [0, 0, -1.56]], [16] + [9] * 6),
    "C60": ("Ih", c60(), [6] * 60),
    "CHFClBr (chiral)": ("C1", [[0, 0, 0], [0.63, 0.63, 0.63], [0.8, -0.8, -0.8], [-1.0, 1.0, -1.0],
                                [-1.1, -1.1, 1.1]], [6, 1, 9, 17, 35]),
    "twisted C2 (chiral)": ("C2", [[0.9, 0.3, 0.4], [-0.9, -0.3, 0.4], [1.2, -0.8, 1.3], [-1.2, 0.8, 1.3]],
                            [8, 8, 1, 1]),
    "ethane (staggered)": ("D3d", [[0, 0, 0.765], [0, 0, -0.765]] + _ring(3, 1.02, 1.16)
                           + _ring(3, 1.02, -1.16, math.pi / 3), [6, 6] + [1] * 6),
    "allene": ("D2d", [[0, 0, 0], [0, 0, 1.31], [0, 0, -1.31], [0.93, 0, 1.87], [-0.93, 0, 1.87],
                       [0, 0.93, -1.87], [0, -0.93, -1.87]], [6, 6, 6, 1, 1, 1, 1]),
    "trans-dichloroethylene": ("C2h", [[0.67, 0, 0], [-0.67, 0, 0], [1.6, 1.4, 0], [-1.6, -1.4, 0],
                                       [1.2, -0.95, 0], [-1.2, 0.95, 0]], [6, 6, 17, 17, 1, 1]),
    "ferrocene (eclipsed)": ("D5h", [[0, 0, 0]] + _ring(5, 1.2, 1.66) + _ring(5, 1.2, -1.66), [26] + [6] * 10),
    "ferrocene (staggered)": ("D5d", [[0, 0, 0]] + _ring(5, 1.2, 1.66) + _ring(5, 1.2, -1.66, math.pi / 5),
                              [26] + [6] * 10),
    "S4 cluster": ("S4", [[0, 0, 0]] + _orbit_s4([1.0, 0.3, 0.5]) + _orbit_s4([0.4, -0.9, 1.2]),
                   [14] + [1] * 4 + [9] * 4),
    "CO2": ("Dinfh", [[0, 0, 0], [0, 0, 1.16], [0, 0, -1.16]], [6, 8, 8]),
    "HCN": ("Cinfv", [[0, 0, -1.06], [0, 0, 0], [0, 0, 1.16]], [1, 6, 7]),
}


def molecule(name: str, dtype: torch.dtype = torch.float64) -> tuple[str, torch.Tensor, torch.Tensor]:
    group, pos, species = MOLECULES[name]
    return group, torch.tensor(pos, dtype=dtype), torch.tensor(species)
