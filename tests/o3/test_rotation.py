"""Rotations: sampling, checks and converters (quaternions (w, x, y, z), axis-angle)."""

import math

import pytest
import torch

from steertorch import o3


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _f64(*v):
    return torch.tensor(v, dtype=torch.float64)


def _hamilton(p, q):
    w1, x1, y1, z1 = p.unbind(-1)
    w2, x2, y2, z2 = q.unbind(-1)
    return torch.stack([w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2, w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
                        w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2, w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2], -1)


def _same_up_to_sign(q1, q2, atol):
    return bool(torch.minimum((q1 - q2).abs().amax(-1), (q1 + q2).abs().amax(-1)).max() < atol)


def test_rand_matrix_is_a_rotation():
    R = o3.rand_matrix(1000, generator=_gen(), dtype=torch.float64)
    assert R.shape == (1000, 3, 3) and R.dtype == torch.float64
    eye = torch.eye(3, dtype=torch.float64)
    assert float((R @ R.transpose(-1, -2) - eye).abs().max()) < 1e-14
    assert torch.allclose(torch.linalg.det(R), torch.ones(1000, dtype=torch.float64), atol=1e-14)
    # Haar: E[R] = 0 and E[tr R] = 0 (loose Monte-Carlo bounds, 1000 samples)
    assert float(R.mean(0).abs().max()) < 0.1
    assert o3.rand_matrix().shape == (3, 3)
    assert o3.rand_matrix((2, 5)).shape == (2, 5, 3, 3)
    assert o3.rand_matrix(2, dtype=torch.float32).dtype == torch.float32
    assert torch.equal(o3.rand_matrix(4, generator=_gen(7)), o3.rand_matrix(4, generator=_gen(7)))
    o3.check_rotation(o3.rand_matrix(100))  # float32 passes its own check


def test_rand_quaternion():
    q = o3.rand_quaternion(1000, generator=_gen(), dtype=torch.float64)
    assert q.shape == (1000, 4)
    assert bool((q[:, 0] >= 0).all())
    assert torch.allclose(q.norm(dim=-1), torch.ones(1000, dtype=torch.float64), atol=1e-15)
    assert float(q[:, 1:].mean(0).abs().max()) < 0.1


def test_quaternion_convention_is_hamilton_w_first():
    """(w, x, y, z); the product of quaternions is the product of matrices; right-hand rule."""
    p = o3.rand_quaternion(20, generator=_gen(1), dtype=torch.float64)
    q = o3.rand_quaternion(20, generator=_gen(2), dtype=torch.float64)
    lhs = o3.quaternion_to_matrix(_hamilton(p, q))
    rhs = o3.quaternion_to_matrix(p) @ o3.quaternion_to_matrix(q)
    assert float((lhs - rhs).abs().max()) < 1e-14
    # a quarter turn about z, q = (cos 45, 0, 0, sin 45), sends x to y
    s = math.sqrt(0.5)
    R = o3.quaternion_to_matrix(_f64(s, 0.0, 0.0, s))
    assert torch.allclose(R @ _f64(1.0, 0.0, 0.0), _f64(0.0, 1.0, 0.0), atol=1e-15)
    assert torch.equal(o3.quaternion_to_matrix(_f64(1.0, 0.0, 0.0, 0.0)), torch.eye(3, dtype=torch.float64))


def test_quaternion_round_trips():
    q = o3.rand_quaternion(500, generator=_gen(3), dtype=torch.float64)
    R = o3.quaternion_to_matrix(q)
    q2 = o3.matrix_to_quaternion(R)
    assert bool((q2[:, 0] >= 0).all())
    assert float((q2 - q).abs().max()) < 1e-13  # both have w >= 0
    assert float((o3.quaternion_to_matrix(q2) - R).abs().max()) < 1e-14


def _half_turns():
    axes = torch.cat([torch.eye(3, dtype=torch.float64), _f64(1.0, 1.0, 0.0)[None], _f64(1.0, -2.0, 3.0)[None],
                      _f64(0.0, 1.0, -1.0)[None], torch.randn(20, 3, generator=_gen(4), dtype=torch.float64)])
    return torch.nn.functional.normalize(axes, dim=-1)


def test_half_turns_round_trip():
    """At 180 degrees w = 0 and q, -q are both valid: the rotation must survive exactly."""
    axes = _half_turns()
    q = torch.cat([torch.zeros(len(axes), 1, dtype=torch.float64), axes], -1)
    R = o3.quaternion_to_matrix(q)
    assert torch.allclose(torch.diagonal(R, dim1=-2, dim2=-1).sum(-1), torch.full((len(axes),), -1.0,
                                                                                  dtype=torch.float64), atol=1e-14)
    q2 = o3.matrix_to_quaternion(R)
    assert _same_up_to_sign(q2, q, 1e-14)
    assert float((o3.quaternion_to_matrix(q2) - R).abs().max()) < 1e-14
    axis, angle = o3.matrix_to_axis_angle(R)
    assert torch.allclose(angle, torch.full_like(angle, math.pi), atol=1e-14)
    assert _same_up_to_sign(axis, axes, 1e-14)
    assert float((o3.axis_angle_to_matrix(axis, angle) - R).abs().max()) < 1e-14


def test_near_half_turns_and_near_identity():
    axes = _half_turns()
    for angle in [math.pi - 1e-7, 1e-7, 1e-12, 0.0]:
        R = torch.stack([o3.axis_angle_to_matrix(a, torch.tensor(angle, dtype=torch.float64)) for a in axes])
        q = o3.matrix_to_quaternion(R)
        assert float((o3.quaternion_to_matrix(q) - R).abs().max()) < 1e-14, angle
        axis, got = o3.matrix_to_axis_angle(R)
        assert torch.allclose(got, torch.full_like(got, angle), atol=1e-12), angle
        assert float((o3.axis_angle_to_matrix(axis, got) - R).abs().max()) < 1e-14, angle


def test_axis_angle_round_trip():
    R = o3.rand_matrix(300, generator=_gen(5), dtype=torch.float64)
    axis, angle = o3.matrix_to_axis_angle(R)
    assert axis.shape == (300, 3) and angle.shape == (300,)
    assert bool(((angle >= 0) & (angle <= math.pi)).all())
    assert torch.allclose(axis.norm(dim=-1), torch.ones(300, dtype=torch.float64), atol=1e-14)
    assert float((o3.axis_angle_to_matrix(axis, angle) - R).abs().max()) < 1e-14
    # the axis is fixed by R
    assert torch.allclose((R @ axis[..., None])[..., 0], axis, atol=1e-14)
    # identity: angle 0 and, as in e3nn, a zero axis, which axis_angle_to_matrix reads back as the identity
    eye = torch.eye(3, dtype=torch.float64)
    axis0, angle0 = o3.matrix_to_axis_angle(eye)
    assert float(angle0) == 0.0 and torch.equal(axis0, torch.zeros(3, dtype=torch.float64))
    assert torch.equal(o3.axis_angle_to_matrix(axis0, angle0), eye)


def test_axis_angle_right_hand_rule_and_unnormalised_axis():
    R = o3.axis_angle_to_matrix(_f64(0.0, 0.0, 2.0), torch.tensor(math.pi / 2, dtype=torch.float64))
    assert torch.allclose(R @ _f64(1.0, 0.0, 0.0), _f64(0.0, 1.0, 0.0), atol=1e-15)
    R = o3.axis_angle_to_matrix(_f64(1.0, 0.0, 0.0), torch.tensor(math.pi / 2, dtype=torch.float64))
    assert torch.allclose(R @ _f64(0.0, 1.0, 0.0), _f64(0.0, 0.0, 1.0), atol=1e-15)


def test_axis_angle_batched():
    axes = torch.randn(5, 3, generator=_gen(6), dtype=torch.float64)
    angles = torch.rand(5, generator=_gen(7), dtype=torch.float64)
    R = o3.axis_angle_to_matrix(axes, angles)
    assert R.shape == (5, 3, 3)
    for i in range(5):
        assert torch.allclose(R[i], o3.axis_angle_to_matrix(axes[i], angles[i]), atol=1e-15)
    # one axis, many angles
    R = o3.axis_angle_to_matrix(axes[0], angles)
    assert R.shape == (5, 3, 3)
    assert torch.allclose(R[3], o3.axis_angle_to_matrix(axes[0], angles[3]), atol=1e-15)


@pytest.mark.parametrize("axis_shape,angle_shape,expected", [((5, 3), (), (5,)), ((5, 3), (4, 1), (4, 5))])
def test_axis_angle_broadcast(axis_shape, angle_shape, expected):
    axis = torch.randn(axis_shape, dtype=torch.float64)
    angle = torch.rand(angle_shape, dtype=torch.float64)
    assert o3.axis_angle_to_matrix(axis, angle).shape == (*expected, 3, 3)


def test_checks_reject_non_rotations():
    with pytest.raises(ValueError, match="det"):
        o3.check_rotation(torch.diag(_f64(1.0, -1.0, 1.0)))
    with pytest.raises(ValueError, match="R R\\^T"):
        o3.check_rotation(2 * torch.eye(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="shape"):
        o3.check_rotation(torch.eye(2, dtype=torch.float64))
    with pytest.raises(ValueError, match="floating"):
        o3.check_rotation(torch.eye(3, dtype=torch.long))
    with pytest.raises(ValueError, match="det"):
        o3.matrix_to_quaternion(-torch.eye(3, dtype=torch.float64))
    o3.check_orthogonal(torch.diag(_f64(1.0, -1.0, 1.0)))  # a reflection is orthogonal
    with pytest.raises(ValueError, match="quaternions"):
        o3.quaternion_to_matrix(torch.randn(3))
    with pytest.raises(ValueError, match="axes"):
        o3.axis_angle_to_matrix(torch.randn(2), torch.tensor(0.1))


def test_zero_axis_is_the_z_axis_as_in_e3nn():
    """e3nn's axis_angle_to_matrix reads a zero axis as z (its xyz_to_angles(0) is (0, pi/2))."""
    R = o3.axis_angle_to_matrix(torch.zeros(3, dtype=torch.float64), torch.tensor(0.7, dtype=torch.float64))
    assert torch.allclose(R, o3.matrix_z(torch.tensor(0.7, dtype=torch.float64)), atol=1e-15)


def test_zero_quaternion_is_rejected():
    with pytest.raises(ValueError):
        o3.wigner_D(2, quaternion=torch.zeros(4, dtype=torch.float64))
