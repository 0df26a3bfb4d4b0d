r"""Rotations: random sampling, checks, and converters between matrices, quaternions and axis-angle.

Rotations are matrices in the public API; quaternions are ``(w, x, y, z)`` with
:math:`q` and :math:`-q` the same rotation; axis-angle is a unit axis ``[..., 3]`` and an
angle ``[...]`` (right-hand rule).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = [
    "rand_matrix",
    "rand_quaternion",
    "check_rotation",
    "check_orthogonal",
    "quaternion_to_matrix",
    "matrix_to_quaternion",
    "axis_angle_to_matrix",
    "matrix_to_axis_angle",
]


def _shape(shape: tuple) -> tuple[int, ...]:
    """e3nn's ``*shape`` (``rand_matrix(2, 5)``), also given as one sequence (``rand_matrix((2, 5))``)."""
    if len(shape) == 1 and not isinstance(shape[0], int):
        shape = tuple(shape[0])
    for n in shape:
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"expected a shape of ints >= 0, got {shape!r}")
    return tuple(shape)


def rand_quaternion(*shape: int | Sequence[int], requires_grad: bool = False, dtype: torch.dtype | None = None,
                    device: torch.device | str | None = None,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """Haar-random unit quaternions ``[*shape, 4]`` (w, x, y, z), with w >= 0.

    >>> rand_quaternion(3).shape, rand_quaternion(2, 5).shape
    (torch.Size([3, 4]), torch.Size([2, 5, 4]))
    """
    q = torch.randn(*_shape(shape), 4, generator=generator, dtype=dtype, device=device)
    q = q / torch.linalg.vector_norm(q, dim=-1, keepdim=True)
    q = q * torch.where(q[..., :1] < 0, -1.0, 1.0).to(q.dtype)
    return q.requires_grad_(requires_grad)


def rand_matrix(*shape: int | Sequence[int], requires_grad: bool = False, dtype: torch.dtype | None = None,
                device: torch.device | str | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Haar-random rotation matrices ``[*shape, 3, 3]`` (uniform on SO(3)).

    >>> R = rand_matrix(2, dtype=torch.float64)
    >>> bool(torch.allclose(R @ R.transpose(-1, -2), torch.eye(3, dtype=torch.float64)))
    True
    """
    R = quaternion_to_matrix(rand_quaternion(*shape, generator=generator, dtype=dtype, device=device))
    return R.requires_grad_(requires_grad)


def _tolerance(dtype: torch.dtype) -> float:
    return 1e-8 if dtype == torch.float64 else 1e-4


def check_orthogonal(m: torch.Tensor, n: int = 3, what: str = "orthogonal matrices") -> torch.Tensor:
    """Raise ``ValueError`` unless ``m`` is a batch ``[..., n, n]`` of orthogonal matrices; return it.

    >>> check_orthogonal(-torch.eye(3)).shape
    torch.Size([3, 3])
    >>> check_orthogonal(2 * torch.eye(3))
    Traceback (most recent call last):
    ...
    ValueError: expected orthogonal matrices (R R^T = I), but R R^T - I has entries up to 3
    """
    if not isinstance(m, torch.Tensor) or m.dim() < 2 or m.shape[-2:] != (n, n):
        shape = list(m.shape) if isinstance(m, torch.Tensor) else type(m).__name__
        raise ValueError(f"expected {what} of shape [..., {n}, {n}], got {shape}")
    if not m.is_floating_point():
        raise ValueError(f"expected floating point {what}, got dtype {m.dtype}")
    if m.numel() and not torch.compiler.is_compiling():
        eye = torch.eye(n, dtype=m.dtype, device=m.device)
        err = float((m @ m.transpose(-1, -2) - eye).abs().max())
        if not err <= _tolerance(m.dtype) * 10:
            raise ValueError(f"expected {what} (R R^T = I), but R R^T - I has entries up to {err:.3g}")
    return m


def check_rotation(m: torch.Tensor) -> torch.Tensor:
    """Raise ``ValueError`` unless ``m`` is a batch of rotation matrices (orthogonal, det +1); return it.

    >>> check_rotation(torch.diag(torch.tensor([1.0, 1.0, -1.0])))
    Traceback (most recent call last):
    ...
    ValueError: expected rotation matrices (det +1), got a matrix with determinant -1
    """
    check_orthogonal(m, 3, "rotation matrices")
    if m.numel() and not torch.compiler.is_compiling():
        det = torch.linalg.det(m)
        if bool((det < 0).any()):
            raise ValueError("expected rotation matrices (det +1), got a matrix with determinant -1")
    return m


def quaternion_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """Unit quaternions ``[..., 4]`` (w, x, y, z) to rotation matrices ``[..., 3, 3]``.

    >>> quaternion_to_matrix(torch.tensor([1.0, 0.0, 0.0, 0.0]))
    tensor([[1., 0., 0.],
            [0., 1., 0.],
            [0., 0., 1.]])
    """
    if not isinstance(q, torch.Tensor) or q.dim() == 0 or q.shape[-1] != 4:
        shape = list(q.shape) if isinstance(q, torch.Tensor) else type(q).__name__
        raise ValueError(f"expected quaternions of shape [..., 4] (w, x, y, z), got {shape}")
    norm = torch.linalg.vector_norm(q, dim=-1, keepdim=True)
    if not torch.compiler.is_compiling() and bool((norm == 0).any()):
        raise ValueError("expected non-zero quaternions, got a quaternion of norm 0 (it names no rotation)")
    q = q / norm
    w, x, y, z = q.unbind(-1)
    rows = [
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
    ]
    return torch.stack(rows, -1).reshape(*q.shape[:-1], 3, 3)


def matrix_to_quaternion(R: torch.Tensor) -> torch.Tensor:
    """Rotation matrices ``[..., 3, 3]`` to unit quaternions ``[..., 4]`` with w >= 0.

    Uses the largest of the four diagonal combinations for accuracy at every angle.

    >>> R = rand_matrix(4, dtype=torch.float64)
    >>> bool(torch.allclose(quaternion_to_matrix(matrix_to_quaternion(R)), R))
    True
    """
    check_rotation(R)
    m = R
    t0 = 1 + m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    t1 = 1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2]
    t2 = 1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2]
    t3 = 1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2]
    cands = torch.stack([
        torch.stack([t0, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1),
        torch.stack([m[..., 2, 1] - m[..., 1, 2], t1, m[..., 1, 0] + m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0]], -1),
        torch.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] + m[..., 0, 1], t2, m[..., 2, 1] + m[..., 1, 2]], -1),
        torch.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 2, 1] + m[..., 1, 2], t3], -1),
    ], -2)  # [..., 4, 4]: row i is 4 q_i q (up to scale)
    best = torch.stack([t0, t1, t2, t3], -1).argmax(-1)
    q = torch.gather(cands, -2, best[..., None, None].expand(*best.shape, 1, 4)).squeeze(-2)
    q = q / torch.linalg.vector_norm(q, dim=-1, keepdim=True)
    return q * torch.where(q[..., :1] < 0, -1.0, 1.0).to(q.dtype)


def axis_angle_to_matrix(axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotation by ``angle`` about the unit ``axis`` (Rodrigues), batched and broadcast.

    >>> R = axis_angle_to_matrix(torch.tensor([0.0, 0.0, 1.0]), torch.tensor(torch.pi / 2))
    >>> bool(torch.allclose(R, torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), atol=1e-6))
    True
    >>> axis_angle_to_matrix(torch.tensor([1.0, 0.0, 0.0]), torch.zeros(5)).shape  # broadcast
    torch.Size([5, 3, 3])
    """
    if not isinstance(axis, torch.Tensor) or axis.dim() == 0 or axis.shape[-1] != 3:
        raise ValueError(f"expected axes of shape [..., 3], got {getattr(axis, 'shape', type(axis).__name__)}")
    angle = torch.as_tensor(angle, dtype=axis.dtype, device=axis.device)
    norm = torch.linalg.vector_norm(axis, dim=-1, keepdim=True)
    if not torch.compiler.is_compiling() and bool((norm == 0).any()):
        raise ValueError("expected non-zero rotation axes, got an axis of length 0")
    axis = axis / norm
    half = angle[..., None] / 2
    axis, half = torch.broadcast_tensors(axis, half)
    q = torch.cat([torch.cos(half[..., :1]), torch.sin(half) * axis], -1)
    return quaternion_to_matrix(q)


def matrix_to_axis_angle(R: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotation matrices to ``(axis [..., 3], angle [...])`` with angle in [0, pi].

    >>> axis, angle = matrix_to_axis_angle(axis_angle_to_matrix(torch.tensor([0.0, 1.0, 0.0]), torch.tensor(0.5)))
    >>> axis, round(float(angle), 6)
    (tensor([0., 1., 0.]), 0.5)
    """
    q = matrix_to_quaternion(R)
    v = q[..., 1:]
    s = torch.linalg.vector_norm(v, dim=-1)
    angle = 2 * torch.atan2(s, q[..., 0])
    axis = torch.where(s[..., None] > 0, v / s.clamp_min(1e-30)[..., None], torch.tensor([0.0, 0.0, 1.0]).to(v))
    return axis, angle
