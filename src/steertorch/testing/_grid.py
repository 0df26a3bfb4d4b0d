"""Equivariance checks for grid modules: the symmetries a square / cubic grid carries exactly."""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["grid_symmetries", "field_equivariance_error"]


def grid_symmetries(gspace) -> list[torch.Tensor]:
    r"""The elements of ``gspace``'s group whose action on the base space is a signed permutation.

    These (90-degree rotations, axis flips, the octahedral rotations in 3D) map the pixel /
    voxel grid onto itself, so a steerable grid module must be equivariant under them up
    to rounding. Finite groups: the elements (indices) with that property; SO(2) / O(2):
    the four quarter turns (and the flips for O(2)); SO(3) / O(3): the 24 octahedral rotations.

    >>> from steertorch.gspaces import rot2dOnR2
    >>> len(grid_symmetries(rot2dOnR2(8)))  # the quarter turns of C8
    4
    """
    return list(gspace.testing_elements)


def field_equivariance_error(module: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                             elements: list[torch.Tensor], fibers_only: bool = False) -> float:
    r"""``max_g |f(g.x) - g.f(x)| / max |f(x)|`` for a module with ``in_type`` / ``out_type`` field types.

    ``g.x`` is :meth:`FieldType.transform`: the base space is moved and the fibres are acted on. With
    ``fibers_only=True`` it is :meth:`FieldType.transform_fibers` (the channels only): the test for modules that
    act point by point in space (nonlinearities, batch norms), valid for every group element, not only the
    grid's symmetries.

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> from steertorch.nn import FieldType, GroupPooling
    >>> gs = rot2dOnR2(4)
    >>> pool = GroupPooling(FieldType(gs, [gs.regular_repr]))
    >>> field_equivariance_error(pool, torch.randn(1, 4, 5, 5), grid_symmetries(gs)) < 1e-6
    True
    """
    with torch.no_grad():
        y = module(x)
        err = 0.0
        for g in elements:
            if fibers_only:
                lhs = module(module.in_type.transform_fibers(x, g))
                rhs = module.out_type.transform_fibers(y, g)
            else:
                lhs = module(module.in_type.transform(x, g))
                rhs = module.out_type.transform(y, g)
            err = max(err, float((lhs - rhs).abs().max()) / float(y.abs().max()))
    return err
