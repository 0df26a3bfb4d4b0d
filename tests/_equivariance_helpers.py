"""Helpers shared by the test files: dtype contexts, seeded generators, random O(3) elements (improper ones
included), the irreps equivariance error of a module, and fully connected edge indices.

Import as ``from _equivariance_helpers import ...`` (``tests/conftest.py`` puts this directory on ``sys.path``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch

from steertorch import o3
from steertorch.group import o3_group
from steertorch.group._group import float64_default
from steertorch.testing import assert_equivariant

__all__ = [
    "default_dtype",
    "float64",
    "gen",
    "o3_elements",
    "orthogonal",
    "irreps_equivariance_error",
    "check_irreps_equivariant",
    "fully_connected_edges",
    "act_on",
    "assert_finite_gradients",
    "grid_gspaces_2d",
    "grid_gspaces_3d",
    "mixed_field_type",
]

#: ``with float64(): ...`` builds modules (their Clebsch-Gordan / grid buffers follow the default dtype) in float64
float64 = float64_default


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype) -> Iterator[None]:
    """``dtype`` as torch's default dtype inside the block."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def gen(seed: int = 0) -> torch.Generator:
    """A CPU generator seeded with ``seed``."""
    return torch.Generator().manual_seed(seed)


def o3_elements(n: int = 6, seed: int = 0) -> torch.Tensor:
    """``n + 1`` O(3) matrices in float64: random rotations, every second one times -I (a rotoreflection,
    det -1), and the inversion -I last."""
    R = o3.rand_matrix(n, generator=gen(seed), dtype=torch.float64)
    sign = torch.tensor([1.0, -1.0], dtype=torch.float64).repeat(n)[:n]
    return torch.cat([R * sign[:, None, None], -torch.eye(3, dtype=torch.float64)[None]])


def orthogonal(generator: torch.Generator, improper: bool) -> torch.Tensor:
    """A random rotation (float64); if ``improper``, times the mirror diag(1, 1, -1) (det -1)."""
    R = o3.rand_matrix(dtype=torch.float64, generator=generator)
    if improper:
        R = R @ torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64))
    return R


def irreps_equivariance_error(module: torch.nn.Module, x: torch.Tensor, g: torch.Tensor) -> float:
    """max |f(D_in(g) x) - D_out(g) f(x)| / max |f(x)|, D the action of ``module.irreps_in`` /
    ``module.irreps_out`` (one input row per element of ``g``)."""
    with torch.no_grad():
        lhs = module(act_on(module.irreps_in, g, x))
        rhs = act_on(module.irreps_out, g, module(x))
    return float((lhs - rhs).abs().max() / rhs.abs().max())


def act_on(irreps, R: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``D(R_n) x_n`` row by row: the action of the O(3) matrices ``R`` ``[n, 3, 3]`` on features ``x`` ``[n, dim]``."""
    return torch.einsum("nij,nj->ni", o3.Irreps(irreps).D_from_matrix(R), x)


def assert_finite_gradients(module: torch.nn.Module, x: torch.Tensor) -> None:
    """First and second derivatives of ``module`` at ``x`` (``requires_grad``; zero vectors are the hard
    case) are finite: grad of sum(f^2 + f), then grad of sum(g^2 + g) through the first gradient g."""
    y = module(x)
    (grad,) = torch.autograd.grad(y.pow(2).sum() + y.sum(), x, create_graph=True)
    assert torch.isfinite(grad).all()
    (grad2,) = torch.autograd.grad(grad.pow(2).sum() + grad.sum(), x)
    assert torch.isfinite(grad2).all()


def _rep(irreps):
    irreps = o3.Irreps(irreps)
    return lambda g: irreps.D_from_matrix(g)


def check_irreps_equivariant(fn, irreps_in: Sequence, irreps_out, inputs: Sequence[torch.Tensor]) -> float:
    """max |f(D_in(g) x) - D_out(g) f(x)| over :func:`o3_elements` (asserted <= 1e-10); ``None`` in
    ``irreps_in`` marks an invariant input (weights)."""
    reps_in = [None if r is None else _rep(r) for r in irreps_in]
    with torch.no_grad():
        return assert_equivariant(fn, o3_group(), reps_in, [_rep(irreps_out)], inputs=inputs,
                                  elements=o3_elements(), atol=1e-10)


def fully_connected_edges(sizes: Sequence[int]) -> torch.Tensor:
    """Edge index ``[2, E]`` (row 0 source, row 1 target) of disjoint complete graphs on ``sizes`` nodes
    (no self loops), nodes numbered consecutively graph after graph."""
    src, dst, start = [], [], 0
    for n in sizes:
        for i in range(start, start + n):
            for j in range(start, start + n):
                if i != j:
                    src.append(j)
                    dst.append(i)
        start += n
    return torch.tensor([src, dst], dtype=torch.long)


def grid_gspaces_2d() -> list:
    """C4, D4, C8, SO(2), O(2) on the plane: the groups the 2D grid-module tests run over."""
    from steertorch.gspaces import flipRot2dOnR2, rot2dOnR2

    return [rot2dOnR2(4), flipRot2dOnR2(4), rot2dOnR2(8), rot2dOnR2(-1), flipRot2dOnR2(-1)]


def grid_gspaces_3d() -> list:
    """SO(3), O and Oh on space: the groups the 3D grid-module tests run over."""
    from steertorch.gspaces import fullOctaOnR3, octaOnR3, rot3dOnR3

    return [rot3dOnR3(), octaOnR3(), fullOctaOnR3()]


def mixed_field_type(gs):
    """Regular + trivial + two irreps for a finite group; irreps of frequency 0, 1, 2 for a continuous one."""
    from steertorch.nn import FieldType

    g = gs.fibergroup
    if g.is_finite:
        irreps = [rho for rho in gs.irreps() if rho.size > 1][:2]
        return FieldType(gs, [gs.regular_repr, gs.trivial_repr, *irreps])
    if g.name == "O(2)":
        return FieldType(gs, [gs.irrep(1, 1), gs.irrep(0, 0), gs.irrep(1, 0), gs.irrep(1, 2)])
    return FieldType(gs, [gs.irrep(1), gs.irrep(0), gs.irrep(2)])
