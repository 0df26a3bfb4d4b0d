"""Checks of structures (positions, species, tolerance) shared by the symmetry tools."""

from __future__ import annotations

import math

import torch

__all__ = ["check_structure", "check_tolerance"]


def check_tolerance(tol: object, name: str = "tol") -> float:
    """``tol`` as a float, or a ``ValueError`` unless it is a finite number > 0.

    >>> check_tolerance(0.1)
    0.1
    """
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not math.isfinite(tol) or tol <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {tol!r}")
    return float(tol)


def check_structure(pos: object, species: object = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions ``[N, 3]`` (float64, N >= 1, finite) and species ``[N]`` (long; zeros if ``None``).

    >>> p, s = check_structure([[0.0, 0.0, 1.0]], [8])
    >>> p.dtype, s.tolist()
    (torch.float64, [8])
    >>> check_structure(torch.zeros(0, 3))
    Traceback (most recent call last):
    ...
    ValueError: the structure is empty: positions [0, 3]
    """
    try:
        p = torch.as_tensor(pos).detach()
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"positions must be a tensor [N, 3], got {type(pos).__name__}") from err
    if p.dim() != 2 or p.shape[1] != 3:
        raise ValueError(f"positions must be [N, 3], got {list(p.shape)}")
    if p.shape[0] == 0:
        raise ValueError(f"the structure is empty: positions {list(p.shape)}")
    p = p.to(torch.float64)
    if not torch.isfinite(p).all():
        raise ValueError("positions contain non-finite values (nan or inf)")
    if species is None:
        s = torch.zeros(p.shape[0], dtype=torch.long, device=p.device)
    else:
        s = torch.as_tensor(species, device=p.device)
        if s.dim() != 1 or s.shape[0] != p.shape[0]:
            raise ValueError(f"species must be [N] = [{p.shape[0]}] (one per position), got {list(s.shape)}")
        if s.is_floating_point() or s.is_complex():
            raise ValueError(f"species must be integers, got {s.dtype}")
        s = s.long()
    return p, s
