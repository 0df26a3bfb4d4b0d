r"""Rotations: random sampling, checks, and converters between matrices, quaternions and axis-angle (and the
planar :func:`rotation_2d`).

Rotations are matrices in the public API; quaternions are ``(w, x, y, z)`` (scalar first,
Hamilton product) with :math:`q` and :math:`-q` the same rotation; axis-angle is an axis
``[..., 3]`` and an angle ``[...]`` (right-hand rule). Names, signatures and values are
e3nn's (``e3nn.o3``); the degenerate cases are listed in ``docs/conventions.md``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = [
    "rand_matrix",
    "rand_quaternion",
    "check_rotation",
    "check_orthogonal",
    "rotation_2d",
    "quaternion_to_matrix",
    "matrix_to_quaternion",
    "axis_angle_to_matrix",
    "matrix_to_axis_angle",
    "identity_quaternion",
    "inverse_quaternion",
    "compose_quaternion",
    "axis_angle_to_quaternion",
    "quaternion_to_axis_angle",
    "rand_axis_angle",
    "compose_axis_angle",
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
        err = float((m @ m.transpose(-1, -2) - eye).abs().max().detach())
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
        det = torch.linalg.det(m.detach())
        if bool((det < 0).any()):
            raise ValueError("expected rotation matrices (det +1), got a matrix with determinant -1")
    return m


def rotation_2d(theta: torch.Tensor) -> torch.Tensor:
    """Rotation matrices ``[..., 2, 2]`` of angles ``theta`` ``[...]``.

    >>> rotation_2d(torch.tensor(0.0))
    tensor([[1., -0.],
            [0., 1.]])
    """
    c, s = torch.cos(theta), torch.sin(theta)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


def _check_quaternion(q: torch.Tensor) -> None:
    if not isinstance(q, torch.Tensor) or q.dim() == 0 or q.shape[-1] != 4:
        shape = list(q.shape) if isinstance(q, torch.Tensor) else type(q).__name__
        raise ValueError(f"expected quaternions of shape [..., 4] (w, x, y, z), got {shape}")


def quaternion_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """Quaternions ``[..., 4]`` (w, x, y, z) to rotation matrices ``[..., 3, 3]``.

    The quaternion is normalised first (q and c q, c > 0, are the same rotation; e3nn reads a
    non-unit q differently, see ``docs/conventions.md``); a zero quaternion raises ``ValueError``.

    >>> quaternion_to_matrix(torch.tensor([1.0, 0.0, 0.0, 0.0]))
    tensor([[1., 0., 0.],
            [0., 1., 0.],
            [0., 0., 1.]])
    """
    _check_quaternion(q)
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


def _safe_unit(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(v / |v|, |v| > 0)`` over the last dimension; a zero vector stays zero, with a zero gradient."""
    n2 = (v * v).sum(-1, keepdim=True)
    nonzero = n2 > 0
    return v * torch.where(nonzero, torch.where(nonzero, n2, 1.0).rsqrt(), 0.0), nonzero[..., 0]


def _safe_norm(v: torch.Tensor) -> torch.Tensor:
    """``|v|`` over the last dimension with a zero (not NaN) gradient at v = 0."""
    n2 = (v * v).sum(-1)
    nonzero = n2 > 0
    return torch.where(nonzero, torch.where(nonzero, n2, 1.0).sqrt(), 0.0)


def _check_axis(axis: torch.Tensor) -> None:
    if not isinstance(axis, torch.Tensor) or axis.dim() == 0 or axis.shape[-1] != 3:
        raise ValueError(f"expected axes of shape [..., 3], got {getattr(axis, 'shape', type(axis).__name__)}")


def axis_angle_to_quaternion(xyz: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    r"""Axis-angle to the quaternion :math:`(\cos\frac\theta2, \sin\frac\theta2\, \hat n)` ``[..., 4]``.

    The axis is normalised; a zero axis gives :math:`(\cos\frac\theta2, 0, 0, 0)`, as e3nn.

    >>> axis_angle_to_quaternion(torch.tensor([0.0, 0.0, 2.0]), torch.tensor(torch.pi / 3))
    tensor([0.8660, 0.0000, 0.0000, 0.5000])
    """
    _check_axis(xyz)
    angle = torch.as_tensor(angle, dtype=xyz.dtype, device=xyz.device)
    xyz, angle = torch.broadcast_tensors(xyz, angle[..., None])
    unit, _ = _safe_unit(xyz)
    return torch.cat([torch.cos(angle[..., :1] / 2), unit * torch.sin(angle / 2)], -1)


def axis_angle_to_matrix(axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotation by ``angle`` about ``axis`` (right-hand rule), batched and broadcast.

    The axis is normalised. A zero axis means the z axis, as in e3nn (whose ``xyz_to_angles`` sends
    the zero vector to the angles of z): so the identity's axis-angle from
    :func:`matrix_to_axis_angle`, a zero axis and angle 0, gives back the identity.

    >>> R = axis_angle_to_matrix(torch.tensor([0.0, 0.0, 1.0]), torch.tensor(torch.pi / 2))
    >>> bool(torch.allclose(R, torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), atol=1e-6))
    True
    >>> axis_angle_to_matrix(torch.tensor([1.0, 0.0, 0.0]), torch.zeros(5)).shape  # broadcast
    torch.Size([5, 3, 3])
    """
    _check_axis(axis)
    angle = torch.as_tensor(angle, dtype=axis.dtype, device=axis.device)
    unit, nonzero = _safe_unit(axis)
    unit = torch.where(nonzero[..., None], unit, torch.tensor([0.0, 0.0, 1.0], dtype=axis.dtype, device=axis.device))
    half = angle[..., None] / 2
    unit, half = torch.broadcast_tensors(unit, half)
    q = torch.cat([torch.cos(half[..., :1]), torch.sin(half) * unit], -1)
    return quaternion_to_matrix(q)


def quaternion_to_axis_angle(q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Quaternions ``[..., 4]`` to ``(axis [..., 3], angle [...])``, angle in :math:`[0, 2\pi]`.

    :math:`\theta = 2\,\mathrm{atan2}(|v|, w)` (e3nn's :math:`2 \arccos w` for unit q, accurate at
    every angle), axis :math:`v / |v|`. The identity has a zero axis, as in e3nn.

    >>> quaternion_to_axis_angle(torch.tensor([1.0, 0.0, 0.0, 0.0]))
    (tensor([0., 0., 0.]), tensor(0.))
    """
    _check_quaternion(q)
    v = q[..., 1:]
    unit, _ = _safe_unit(v)
    return unit, 2 * torch.atan2(_safe_norm(v), q[..., 0])


def matrix_to_axis_angle(R: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotation matrices to ``(axis [..., 3], angle [...])`` with angle in [0, pi].

    As e3nn: the identity gives a zero axis. At angle pi this gives the true axis (e3nn's is
    the normalised rounding noise of :math:`R - R^T`).

    >>> axis, angle = matrix_to_axis_angle(axis_angle_to_matrix(torch.tensor([0.0, 1.0, 0.0]), torch.tensor(0.5)))
    >>> axis, round(float(angle), 6)
    (tensor([0., 1., 0.]), 0.5)
    """
    return quaternion_to_axis_angle(matrix_to_quaternion(R))


def identity_quaternion(*shape: int | Sequence[int], requires_grad: bool = False, dtype: torch.dtype | None = None,
                        device: torch.device | str | None = None) -> torch.Tensor:
    """The quaternion (1, 0, 0, 0) of the identity, ``[*shape, 4]``.

    >>> identity_quaternion(2)
    tensor([[1., 0., 0., 0.],
            [1., 0., 0., 0.]])
    """
    q = torch.zeros(*_shape(shape), 4, dtype=dtype, device=device)
    q[..., 0] = 1
    return q.requires_grad_(requires_grad)


def inverse_quaternion(q: torch.Tensor) -> torch.Tensor:
    r"""The conjugate :math:`(w, -x, -y, -z)`: the inverse of a unit quaternion (as e3nn, unit q only).

    >>> inverse_quaternion(torch.tensor([0.5, 0.5, 0.5, 0.5]))
    tensor([ 0.5000, -0.5000, -0.5000, -0.5000])
    """
    _check_quaternion(q)
    return torch.cat([q[..., :1], -q[..., 1:]], -1)


def compose_quaternion(q1: torch.Tensor, q2: torch.Tensor) -> torch.Tensor:
    r"""Hamilton product :math:`q_1 q_2` (``q2`` applied first), broadcast.

    ``quaternion_to_matrix(compose_quaternion(q1, q2)) == quaternion_to_matrix(q1) @ quaternion_to_matrix(q2)``.

    >>> i, j = torch.tensor([0.0, 1.0, 0.0, 0.0]), torch.tensor([0.0, 0.0, 1.0, 0.0])
    >>> compose_quaternion(i, j)  # i j = k
    tensor([0., 0., 0., 1.])
    """
    _check_quaternion(q1)
    _check_quaternion(q2)
    q1, q2 = torch.broadcast_tensors(q1, q2)
    w1, x1, y1, z1 = q1.unbind(-1)
    w2, x2, y2, z2 = q2.unbind(-1)
    return torch.stack([
        w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
        w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
        w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
        w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
    ], -1)


def rand_axis_angle(*shape: int | Sequence[int], requires_grad: bool = False, dtype: torch.dtype | None = None,
                    device: torch.device | str | None = None,
                    generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Haar-random rotations as ``(axis [*shape, 3], angle [*shape])``, angle in [0, pi].

    >>> axis, angle = rand_axis_angle(5)
    >>> axis.shape, angle.shape
    (torch.Size([5, 3]), torch.Size([5]))
    """
    axis, angle = quaternion_to_axis_angle(rand_quaternion(*shape, dtype=dtype, device=device, generator=generator))
    return axis.requires_grad_(requires_grad), angle.requires_grad_(requires_grad)


def compose_axis_angle(axis1: torch.Tensor, angle1: torch.Tensor, axis2: torch.Tensor,
                       angle2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Axis-angle of the rotation ``(axis1, angle1)`` after ``(axis2, angle2)``, angle in [0, 2 pi].

    >>> z = torch.tensor([0.0, 0.0, 1.0])
    >>> axis, angle = compose_axis_angle(z, torch.tensor(0.25), z, torch.tensor(0.5))
    >>> axis, round(float(angle), 6)
    (tensor([0., 0., 1.]), 0.75)
    """
    return quaternion_to_axis_angle(
        compose_quaternion(axis_angle_to_quaternion(axis1, angle1), axis_angle_to_quaternion(axis2, angle2)))
