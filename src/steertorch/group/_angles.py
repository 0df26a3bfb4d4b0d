r"""Euler angles in e3nn's Y-X-Y convention, and points of the sphere as angles.

A rotation is :math:`R(\alpha, \beta, \gamma) = R_y(\alpha)\, R_x(\beta)\, R_y(\gamma)` (``gamma``
applied first), with :math:`R_x, R_y, R_z` the right-handed rotations about the axes
(:func:`matrix_x`, :func:`matrix_y`, :func:`matrix_z`). A point of the sphere is
:math:`R(\alpha, \beta, 0)\, e_y = (\sin\beta \sin\alpha,\ \cos\beta,\ \sin\beta \cos\alpha)`:
:math:`\beta \in [0, \pi]` is the angle from the polar axis y and :math:`\alpha` the azimuth
measured from z towards x. Names, signatures and values are e3nn's (``e3nn.o3``), so e3nn code
runs unchanged; rotations elsewhere in steertorch are matrices, and these are converters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ._rotation import (
    _shape,
    axis_angle_to_matrix,
    check_rotation,
    compose_quaternion,
    matrix_to_axis_angle,
    quaternion_to_matrix,
)

__all__ = [
    "identity_angles",
    "rand_angles",
    "compose_angles",
    "inverse_angles",
    "matrix_x",
    "matrix_y",
    "matrix_z",
    "angles_to_matrix",
    "matrix_to_angles",
    "angles_to_quaternion",
    "quaternion_to_angles",
    "angles_to_axis_angle",
    "axis_angle_to_angles",
    "angles_to_xyz",
    "xyz_to_angles",
]

Angles = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def identity_angles(*shape: int | Sequence[int], requires_grad: bool = False, dtype: torch.dtype | None = None,
                    device: torch.device | str | None = None) -> Angles:
    """Angles ``(alpha, beta, gamma)`` of the identity: three zero tensors of shape ``shape``.

    >>> identity_angles(2)
    (tensor([0., 0.]), tensor([0., 0.]), tensor([0., 0.]))
    """
    shape = _shape(shape)
    return tuple(torch.zeros(shape, dtype=dtype, device=device).requires_grad_(requires_grad) for _ in range(3))


def rand_angles(*shape: int | Sequence[int], requires_grad: bool = False, dtype: torch.dtype | None = None,
                device: torch.device | str | None = None, generator: torch.Generator | None = None) -> Angles:
    r"""Angles of Haar-random rotations: :math:`\alpha, \gamma` uniform in :math:`[0, 2\pi)`,
    :math:`\cos\beta` uniform in :math:`[-1, 1]`.

    >>> a, b, c = rand_angles(4, dtype=torch.float64)
    >>> a.shape, bool(((b >= 0) & (b <= torch.pi)).all())
    (torch.Size([4]), True)
    """
    shape = _shape(shape)
    u = torch.rand(3, *shape, dtype=dtype, device=device, generator=generator)
    alpha, gamma = 2 * math.pi * u[0], 2 * math.pi * u[2]
    beta = torch.acos(2 * u[1] - 1)
    return alpha.requires_grad_(requires_grad), beta.requires_grad_(requires_grad), gamma.requires_grad_(requires_grad)


def compose_angles(a1: torch.Tensor, b1: torch.Tensor, c1: torch.Tensor, a2: torch.Tensor, b2: torch.Tensor,
                   c2: torch.Tensor) -> Angles:
    r"""Angles of :math:`R(a_1, b_1, c_1)\, R(a_2, b_2, c_2)` (the second rotation is applied first).

    >>> a, b, c = compose_angles(*(torch.tensor(v, dtype=torch.float64) for v in (0.1, 0.0, 0.2, 0.3, 0.0, 0.4)))
    >>> round(float(a + b + c), 12)  # four turns about y add up
    1.0
    """
    a1, b1, c1, a2, b2, c2 = torch.broadcast_tensors(a1, b1, c1, a2, b2, c2)
    return matrix_to_angles(angles_to_matrix(a1, b1, c1) @ angles_to_matrix(a2, b2, c2))


def inverse_angles(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> Angles:
    r"""Angles of the inverse rotation, :math:`R(a, b, c)^{-1} = R(-c, -b, -a)`.

    >>> inverse_angles(torch.tensor(0.1), torch.tensor(0.2), torch.tensor(0.3))
    (tensor(-0.3000), tensor(-0.2000), tensor(-0.1000))
    """
    return -c, -b, -a


def _axis_rotation(angle: torch.Tensor, i: int, j: int) -> torch.Tensor:
    """Rotation ``[..., 3, 3]`` in the (i, j) plane sending e_i towards e_j (the third axis is fixed)."""
    angle = torch.as_tensor(angle)
    if not angle.is_floating_point():
        angle = angle.to(torch.get_default_dtype())
    c, s = torch.cos(angle), torch.sin(angle)
    o, z = torch.ones_like(angle), torch.zeros_like(angle)
    m = [[o, z, z], [z, o, z], [z, z, o]]
    m[i][i], m[j][j], m[j][i], m[i][j] = c, c, s, -s
    return torch.stack([torch.stack(row, -1) for row in m], -2)


def matrix_x(angle: torch.Tensor) -> torch.Tensor:
    r"""Rotation by ``angle`` about the x axis, ``[..., 3, 3]``: sends y towards z.

    .. math:: R_x(t) = \begin{pmatrix} 1 & 0 & 0 \\ 0 & \cos t & -\sin t \\ 0 & \sin t & \cos t \end{pmatrix}

    >>> matrix_x(torch.tensor(torch.pi / 2)).round().abs()
    tensor([[1., 0., 0.],
            [0., 0., 1.],
            [0., 1., 0.]])
    """
    return _axis_rotation(angle, 1, 2)


def matrix_y(angle: torch.Tensor) -> torch.Tensor:
    r"""Rotation by ``angle`` about the y axis, ``[..., 3, 3]``: sends z towards x.

    .. math:: R_y(t) = \begin{pmatrix} \cos t & 0 & \sin t \\ 0 & 1 & 0 \\ -\sin t & 0 & \cos t \end{pmatrix}

    >>> matrix_y(torch.tensor([0.0, 1.0])).shape
    torch.Size([2, 3, 3])
    """
    return _axis_rotation(angle, 2, 0)


def matrix_z(angle: torch.Tensor) -> torch.Tensor:
    r"""Rotation by ``angle`` about the z axis, ``[..., 3, 3]``: sends x towards y.

    .. math:: R_z(t) = \begin{pmatrix} \cos t & -\sin t & 0 \\ \sin t & \cos t & 0 \\ 0 & 0 & 1 \end{pmatrix}

    >>> bool(torch.allclose(matrix_z(torch.tensor(torch.pi / 2)) @ torch.tensor([1.0, 0.0, 0.0]),
    ...                     torch.tensor([0.0, 1.0, 0.0]), atol=1e-7))
    True
    """
    return _axis_rotation(angle, 0, 1)


def angles_to_matrix(alpha: torch.Tensor, beta: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    r""":math:`R(\alpha, \beta, \gamma) = R_y(\alpha) R_x(\beta) R_y(\gamma)` ``[..., 3, 3]``, broadcast.

    >>> R = angles_to_matrix(torch.tensor(0.3), torch.tensor(0.0), torch.tensor(0.4))
    >>> bool(torch.allclose(R, matrix_y(torch.tensor(0.7))))
    True
    """
    alpha, beta, gamma = torch.broadcast_tensors(*(torch.as_tensor(t) for t in (alpha, beta, gamma)))
    return matrix_y(alpha) @ matrix_x(beta) @ matrix_y(gamma)


def _atan2(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``atan2(y, x)``, and 0 with a zero (not NaN) gradient where x = y = 0."""
    degenerate = (x == 0) & (y == 0)
    return torch.where(degenerate, 0.0, torch.atan2(torch.where(degenerate, 0.0, y), torch.where(degenerate, 1.0, x)))


def xyz_to_angles(xyz: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Angles ``(alpha, beta)`` of the direction of ``xyz`` ``[..., 3]``: :math:`\hat x = R(\alpha, \beta, 0) e_y`.

    :math:`\alpha = \mathrm{atan2}(x, z) \in (-\pi, \pi]`, :math:`\beta = \mathrm{atan2}(\sqrt{x^2 + z^2}, y) \in
    [0, \pi]` (e3nn's :math:`\arccos \hat y`, accurate near the poles too). Any length works. As in e3nn, the
    zero vector gives :math:`(0, \pi/2)`, and on the polar axis :math:`\alpha = 0`; the gradient there is 0.

    >>> xyz_to_angles(torch.tensor([0.0, 0.0, 2.0]))
    (tensor(0.), tensor(1.5708))
    """
    if not isinstance(xyz, torch.Tensor) or xyz.dim() == 0 or xyz.shape[-1] != 3:
        raise ValueError(f"expected points of shape [..., 3], got {getattr(xyz, 'shape', type(xyz).__name__)}")
    x, y, z = xyz.unbind(-1)
    rho2 = x * x + z * z
    off_axis = rho2 > 0
    rho = torch.where(off_axis, torch.where(off_axis, rho2, 1.0).sqrt(), 0.0)
    alpha = _atan2(x, z)
    beta = torch.where((rho == 0) & (y == 0), math.pi / 2, _atan2(rho, y))
    return alpha, beta


def angles_to_xyz(alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    r"""The point :math:`R(\alpha, \beta, 0)\, e_y = (\sin\beta\sin\alpha, \cos\beta, \sin\beta\cos\alpha)`
    ``[..., 3]`` of the unit sphere, broadcast.

    >>> angles_to_xyz(torch.tensor(1.7), torch.tensor(0.0)).abs()
    tensor([0., 1., 0.])
    """
    alpha, beta = torch.broadcast_tensors(torch.as_tensor(alpha), torch.as_tensor(beta))
    sb = torch.sin(beta)
    return torch.stack([sb * torch.sin(alpha), torch.cos(beta), sb * torch.cos(alpha)], -1)


def matrix_to_angles(R: torch.Tensor) -> Angles:
    r"""Angles ``(alpha, beta, gamma)`` with :math:`R = R(\alpha, \beta, \gamma)`, for rotation matrices ``R``.

    :math:`(\alpha, \beta)` are the angles of :math:`R e_y` (:func:`xyz_to_angles`), then
    :math:`R_y(\gamma) = R(\alpha, \beta, 0)^T R`. Ranges: :math:`\alpha, \gamma \in (-\pi, \pi]`,
    :math:`\beta \in [0, \pi]`. At :math:`\beta \in \{0, \pi\}` (gimbal lock) the split between
    :math:`\alpha` and :math:`\gamma` is arbitrary, as in e3nn. A matrix that is not a rotation raises
    ``ValueError`` (e3nn asserts det R = 1).

    >>> R = angles_to_matrix(torch.tensor(0.1), torch.tensor(0.2), torch.tensor(0.3))
    >>> [round(float(t), 6) for t in matrix_to_angles(R)]
    [0.1, 0.2, 0.3]
    """
    check_rotation(R)
    alpha, beta = xyz_to_angles(R[..., :, 1])
    rest = angles_to_matrix(alpha, beta, torch.zeros_like(alpha)).transpose(-1, -2) @ R
    gamma = torch.atan2(rest[..., 0, 2], rest[..., 0, 0])
    return alpha, beta, gamma


def angles_to_quaternion(alpha: torch.Tensor, beta: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    r"""The quaternion :math:`q_y(\alpha)\, q_x(\beta)\, q_y(\gamma)` ``[..., 4]`` (w, x, y, z), with
    :math:`q_n(t) = (\cos\frac t2, \sin\frac t2\, n)`; the same q as e3nn (w may be negative).

    >>> angles_to_quaternion(torch.tensor(0.0), torch.tensor(torch.pi / 3), torch.tensor(0.0))
    tensor([0.8660, 0.5000, 0.0000, 0.0000])
    """
    alpha, beta, gamma = torch.broadcast_tensors(*(torch.as_tensor(t) for t in (alpha, beta, gamma)))

    def about(angle: torch.Tensor, axis: int) -> torch.Tensor:
        z = torch.zeros_like(angle)
        parts = [torch.cos(angle / 2), z, z, z]
        parts[1 + axis] = torch.sin(angle / 2)
        return torch.stack(parts, -1)

    return compose_quaternion(about(alpha, 1), compose_quaternion(about(beta, 0), about(gamma, 1)))


def quaternion_to_angles(q: torch.Tensor) -> Angles:
    """Angles of the rotation of quaternions ``q`` ``[..., 4]``; see :func:`matrix_to_angles`.

    >>> [round(float(t), 6) for t in quaternion_to_angles(torch.tensor([1.0, 0.0, 0.0, 0.0]))]
    [0.0, 0.0, 0.0]
    """
    return matrix_to_angles(quaternion_to_matrix(q))


def angles_to_axis_angle(alpha: torch.Tensor, beta: torch.Tensor,
                         gamma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(axis, angle)`` of :math:`R(alpha, beta, gamma)`, angle in [0, pi]; see :func:`matrix_to_axis_angle`.

    >>> axis, angle = angles_to_axis_angle(torch.tensor(0.5), torch.tensor(0.0), torch.tensor(0.0))
    >>> axis, round(float(angle), 6)
    (tensor([0., 1., 0.]), 0.5)
    """
    return matrix_to_axis_angle(angles_to_matrix(alpha, beta, gamma))


def axis_angle_to_angles(axis: torch.Tensor, angle: torch.Tensor) -> Angles:
    """Angles of the rotation by ``angle`` about ``axis``; see :func:`axis_angle_to_matrix`.

    >>> [round(float(t), 6) for t in axis_angle_to_angles(torch.tensor([0.0, 1.0, 0.0]), torch.tensor(0.5))]
    [0.0, 0.0, 0.5]
    """
    return matrix_to_angles(axis_angle_to_matrix(axis, angle))
