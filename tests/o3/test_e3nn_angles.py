"""e3nn's rotation parametrizations (Y-X-Y Euler angles, quaternions, axis-angle) in steertorch.o3: the same
names, signatures and values as e3nn 0.6 on the same float64 inputs, round trips, finite gradients."""

import math

import pytest
import torch

from steertorch import o3

e3o3 = pytest.importorskip("e3nn.o3")

F64 = torch.float64
SHAPE = (4, 5)


# e3nn builds its constants in the default dtype: float64 for exact reference values
pytestmark = pytest.mark.usefixtures("float64_default")


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _close(a, b, tol=1e-12):
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b)
        for x, y in zip(a, b):
            _close(x, y, tol)
        return
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
    err = float((a - b).abs().max()) if a.numel() else 0.0
    assert err <= tol, err


def _angles(seed=0, shape=SHAPE):
    return o3.rand_angles(*shape, dtype=F64, generator=_gen(seed))


def _axis_angle(seed=1, shape=SHAPE):
    g = _gen(seed)
    return torch.randn(*shape, 3, dtype=F64, generator=g), 4 * math.pi * torch.rand(shape, dtype=F64, generator=g)


def _quaternions(seed=2, shape=SHAPE):
    """Unit quaternions of both signs of w (e3nn's rand_quaternion has any sign)."""
    q = torch.randn(*shape, 4, dtype=F64, generator=_gen(seed))
    return q / q.norm(dim=-1, keepdim=True)


def test_the_names_are_there():
    missing = set(e3o3.__all__) - set(dir(o3))
    # the grid classes are a later round of the e3nn-compatibility issue
    assert not missing, missing


@pytest.mark.parametrize("name", ["matrix_x", "matrix_y", "matrix_z"])
def test_axis_rotations(name):
    a = _angles()[0]
    _close(getattr(o3, name)(a), getattr(e3o3, name)(a), 0)
    R = getattr(o3, name)(a)
    _close(R @ R.transpose(-1, -2), torch.eye(3, dtype=F64).expand(*SHAPE, 3, 3), 1e-15)
    assert getattr(o3, name)(torch.tensor(0.3, dtype=torch.float32)).dtype == torch.float32


def test_angles_to_matrix_is_y_x_y():
    a, b, c = _angles()
    R = o3.angles_to_matrix(a, b, c)
    _close(R, e3o3.angles_to_matrix(a, b, c), 0)
    _close(R, o3.matrix_y(a) @ o3.matrix_x(b) @ o3.matrix_y(c), 1e-15)
    # broadcast: one beta for all
    _close(o3.angles_to_matrix(a, b[0, 0], c), e3o3.angles_to_matrix(a, b[0, 0], c), 0)


def test_matrix_to_angles_equals_e3nn_and_round_trips():
    a, b, c = _angles()
    R = o3.angles_to_matrix(a, b, c)
    got = o3.matrix_to_angles(R)
    _close(got, e3o3.matrix_to_angles(R))
    _close(got, (a - 2 * math.pi * (a > math.pi), b, c - 2 * math.pi * (c > math.pi)), 1e-12)
    _close(o3.angles_to_matrix(*got), R, 1e-14)
    with pytest.raises(ValueError, match="det"):
        o3.matrix_to_angles(-R)


def test_gimbal_lock_round_trips():
    """beta = 0 or pi: alpha and gamma are not unique, the rotation must come back anyway."""
    t = torch.linspace(-3, 3, 13, dtype=F64)
    for beta in (0.0, math.pi):
        R = o3.angles_to_matrix(t, torch.full_like(t, beta), 0.5 * t)
        _close(o3.angles_to_matrix(*o3.matrix_to_angles(R)), R, 1e-14)
    R = o3.matrix_y(t)
    a, b, c = o3.matrix_to_angles(R)
    assert float(b.abs().max()) == 0.0 and float(a.abs().max()) == 0.0
    _close(o3.angles_to_matrix(a, b, c), R, 1e-15)


def test_quaternion_conversions_equal_e3nn():
    a, b, c = _angles()
    q = o3.angles_to_quaternion(a, b, c)
    _close(q, e3o3.angles_to_quaternion(a, b, c), 0)  # the same q, not only the same rotation
    q = _quaternions()
    _close(o3.quaternion_to_matrix(q), e3o3.quaternion_to_matrix(q))
    _close(o3.quaternion_to_angles(q), e3o3.quaternion_to_angles(q))
    _close(o3.quaternion_to_axis_angle(q), e3o3.quaternion_to_axis_angle(q))
    R = o3.angles_to_matrix(a, b, c)
    _close(o3.matrix_to_quaternion(R), e3o3.matrix_to_quaternion(R))


def test_quaternion_algebra_equals_e3nn():
    q1, q2 = _quaternions(2), _quaternions(3)
    _close(o3.compose_quaternion(q1, q2), e3o3.compose_quaternion(q1, q2), 0)
    _close(o3.compose_quaternion(q1, q2[0, 0]), e3o3.compose_quaternion(q1, q2[0, 0]), 0)  # broadcast
    _close(o3.inverse_quaternion(q1), e3o3.inverse_quaternion(q1), 0)
    _close(o3.identity_quaternion(*SHAPE, dtype=F64), e3o3.identity_quaternion(*SHAPE, dtype=F64), 0)
    # composition is the matrix product; the inverse the transpose
    _close(o3.quaternion_to_matrix(o3.compose_quaternion(q1, q2)),
           o3.quaternion_to_matrix(q1) @ o3.quaternion_to_matrix(q2), 1e-14)
    _close(o3.quaternion_to_matrix(o3.inverse_quaternion(q1)), o3.quaternion_to_matrix(q1).transpose(-1, -2), 1e-14)


def test_axis_angle_conversions_equal_e3nn():
    axis, angle = _axis_angle()
    _close(o3.axis_angle_to_matrix(axis, angle), e3o3.axis_angle_to_matrix(axis, angle))
    _close(o3.axis_angle_to_quaternion(axis, angle), e3o3.axis_angle_to_quaternion(axis, angle))
    _close(o3.axis_angle_to_angles(axis, angle), e3o3.axis_angle_to_angles(axis, angle))
    a, b, c = _angles()
    _close(o3.angles_to_axis_angle(a, b, c), e3o3.angles_to_axis_angle(a, b, c))
    R = o3.angles_to_matrix(a, b, c)
    _close(o3.matrix_to_axis_angle(R), e3o3.matrix_to_axis_angle(R))
    axis2, angle2 = _axis_angle(5)
    _close(o3.compose_axis_angle(axis, angle, axis2, angle2), e3o3.compose_axis_angle(axis, angle, axis2, angle2))


def test_compose_and_inverse_angles_equal_e3nn():
    a1, b1, c1 = _angles(0)
    a2, b2, c2 = _angles(1)
    got = o3.compose_angles(a1, b1, c1, a2, b2, c2)
    _close(got, e3o3.compose_angles(a1, b1, c1, a2, b2, c2))
    _close(o3.angles_to_matrix(*got), o3.angles_to_matrix(a1, b1, c1) @ o3.angles_to_matrix(a2, b2, c2), 1e-14)
    _close(o3.inverse_angles(a1, b1, c1), e3o3.inverse_angles(a1, b1, c1), 0)
    _close(o3.angles_to_matrix(*o3.inverse_angles(a1, b1, c1)), o3.angles_to_matrix(a1, b1, c1).transpose(-1, -2),
           1e-14)
    _close(o3.identity_angles(*SHAPE, dtype=F64), e3o3.identity_angles(*SHAPE, dtype=F64), 0)


def test_points_of_the_sphere_equal_e3nn():
    a, b, _ = _angles()
    x = o3.angles_to_xyz(a, b)
    _close(x, e3o3.angles_to_xyz(a, b), 0)
    _close(x, o3.angles_to_matrix(a, b, torch.zeros_like(a)) @ torch.tensor([0.0, 1.0, 0.0], dtype=F64), 1e-15)
    _close(o3.xyz_to_angles(x), (a - 2 * math.pi * (a > math.pi), b), 1e-12)
    v = 3 * torch.randn(*SHAPE, 3, dtype=F64, generator=_gen(4))  # any length
    _close(o3.xyz_to_angles(v), e3o3.xyz_to_angles(v))


def test_degenerate_values_are_e3nns():
    zero = torch.zeros(3, dtype=F64)
    _close(o3.xyz_to_angles(zero), e3o3.xyz_to_angles(zero), 0)  # (0, pi/2)
    eye = torch.eye(3, dtype=F64)
    _close(o3.matrix_to_axis_angle(eye), e3o3.matrix_to_axis_angle(eye), 0)  # zero axis, angle 0
    q1 = o3.identity_quaternion(dtype=F64)
    _close(o3.quaternion_to_axis_angle(q1), e3o3.quaternion_to_axis_angle(q1), 0)
    _close(o3.quaternion_to_axis_angle(-q1), e3o3.quaternion_to_axis_angle(-q1), 0)  # angle 2 pi
    t = torch.tensor(0.7, dtype=F64)
    _close(o3.axis_angle_to_matrix(zero, t), e3o3.axis_angle_to_matrix(zero, t), 1e-15)  # about z
    _close(o3.axis_angle_to_quaternion(zero, t), e3o3.axis_angle_to_quaternion(zero, t), 0)
    for pole in ([0.0, 2.0, 0.0], [0.0, -2.0, 0.0]):
        p = torch.tensor(pole, dtype=F64)
        _close(o3.xyz_to_angles(p), e3o3.xyz_to_angles(p), 0)


def test_random_sampling():
    for f in (o3.rand_angles, o3.identity_angles):
        a, b, c = f(2, 3, dtype=F64, requires_grad=True)
        assert a.shape == b.shape == c.shape == (2, 3) and a.dtype == F64 and a.requires_grad and a.is_leaf
    assert o3.rand_angles()[0].shape == ()
    a, b, c = o3.rand_angles(20000, dtype=F64, generator=_gen(7))
    assert bool(((b >= 0) & (b <= math.pi)).all() and ((a >= 0) & (a < 2 * math.pi)).all())
    # Haar: the mean rotation is 0 (Monte-Carlo bound)
    assert float(o3.angles_to_matrix(a, b, c).mean(0).abs().max()) < 0.03
    axis, angle = o3.rand_axis_angle(4, 2, dtype=F64, requires_grad=True)
    assert axis.shape == (4, 2, 3) and angle.shape == (4, 2) and axis.requires_grad and angle.requires_grad
    assert bool(((angle >= 0) & (angle <= math.pi)).all())
    q = o3.identity_quaternion(3, requires_grad=True)
    assert q.shape == (3, 4) and q.requires_grad and q.is_leaf and q.dtype == torch.get_default_dtype()
    assert torch.equal(o3.rand_angles(3, generator=_gen(1))[0], o3.rand_angles(3, generator=_gen(1))[0])


def test_round_trips():
    q = _quaternions()
    for q2 in (o3.angles_to_quaternion(*o3.quaternion_to_angles(q)),
               o3.axis_angle_to_quaternion(*o3.quaternion_to_axis_angle(q))):
        assert float(torch.minimum((q2 - q).abs().amax(-1), (q2 + q).abs().amax(-1)).max()) < 1e-13
    axis, angle = _axis_angle()
    R = o3.axis_angle_to_matrix(axis, angle)
    _close(o3.axis_angle_to_matrix(*o3.angles_to_axis_angle(*o3.axis_angle_to_angles(axis, angle))), R, 1e-13)
    _close(o3.quaternion_to_matrix(o3.axis_angle_to_quaternion(axis, angle)), R, 1e-14)


def _grads_finite(f, *inputs):
    inputs = [t.detach().clone().requires_grad_(True) for t in inputs]
    out = f(*inputs)
    out = out if isinstance(out, tuple) else (out,)
    grads = torch.autograd.grad(sum(o.sum() for o in out), inputs, allow_unused=True)
    for g in grads:
        assert g is None or bool(torch.isfinite(g).all())


def test_gradients_are_finite_also_at_degenerate_points():
    a, b, c = _angles()
    axis, angle = _axis_angle()
    q = _quaternions()
    R = o3.angles_to_matrix(a, b, c)
    _grads_finite(o3.angles_to_matrix, a, b, c)
    _grads_finite(o3.matrix_to_angles, R)
    _grads_finite(o3.angles_to_quaternion, a, b, c)
    _grads_finite(o3.quaternion_to_angles, q)
    _grads_finite(o3.axis_angle_to_angles, axis, angle)
    _grads_finite(o3.angles_to_axis_angle, a, b, c)
    _grads_finite(o3.compose_angles, a, b, c, b, c, a)
    _grads_finite(o3.compose_axis_angle, axis, angle, axis.flip(-1), angle)
    _grads_finite(o3.xyz_to_angles, axis)
    _grads_finite(o3.angles_to_xyz, a, b)
    # degenerate points: the zero vector, the poles, a zero axis, the identity
    _grads_finite(o3.xyz_to_angles, torch.tensor([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=F64))
    _grads_finite(o3.axis_angle_to_matrix, torch.zeros(3, dtype=F64), torch.tensor(0.0, dtype=F64))
    _grads_finite(o3.axis_angle_to_quaternion, torch.zeros(3, dtype=F64), torch.tensor(0.3, dtype=F64))
    _grads_finite(o3.quaternion_to_axis_angle, o3.identity_quaternion(dtype=F64))
    _grads_finite(o3.matrix_to_axis_angle, torch.eye(3, dtype=F64))


def test_gradcheck():
    a, b, c = (t.requires_grad_(True) for t in _angles(shape=(3,)))
    assert torch.autograd.gradcheck(o3.angles_to_matrix, (a, b, c))
    assert torch.autograd.gradcheck(lambda x: o3.xyz_to_angles(x), (torch.randn(3, 3, dtype=F64, requires_grad=True),))
    q = _quaternions(shape=(3,)).requires_grad_(True)
    assert torch.autograd.gradcheck(o3.quaternion_to_axis_angle, (q,))
    assert torch.autograd.gradcheck(lambda *t: o3.wigner_D(2, *t), (a, b, c))


# ----------------------------------------------------------------------------- Wigner D and generators
@pytest.mark.parametrize("l", range(7))
def test_wigner_D_of_angles_equals_e3nn(l):
    a, b, c = _angles(shape=(7,))
    D = o3.wigner_D(l, a, b, c)
    _close(D, e3o3.wigner_D(l, a, b, c), 1e-12)
    _close(o3.wigner_D(l, alpha=a, beta=b, gamma=c), D, 0)
    _close(o3.wigner_D(l, o3.angles_to_matrix(a, b, c)), D, 0)
    _close(o3.wigner_D(l, R=o3.angles_to_matrix(a, b, c)), D, 0)
    # broadcast like e3nn
    _close(o3.wigner_D(l, a, b[0], c[:1]), e3o3.wigner_D(l, a, b[0], c[:1]), 1e-12)


def test_wigner_D_arguments():
    a = torch.tensor(0.1)
    with pytest.raises(ValueError, match="positional"):
        o3.wigner_D(1, a, a)
    with pytest.raises(ValueError, match="three angles"):
        o3.wigner_D(1, alpha=a, beta=a)
    with pytest.raises(ValueError, match="exactly one"):
        o3.wigner_D(1, torch.eye(3), quaternion=torch.tensor([1.0, 0.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match="both"):
        o3.wigner_D(1, torch.eye(3), R=torch.eye(3))


@pytest.mark.parametrize("j", [0, 0.5, 1, 1.5, 2, 3, 5])
def test_su2_generators_equal_e3nn(j):
    X = o3.su2_generators(j, dtype=F64)
    if j == int(j):
        _close(X, e3o3.su2_generators(int(j)).to(torch.complex128), 1e-15)
    # anti-Hermitian, [X0, X1] = X2 cyclically
    _close(X.conj().transpose(-1, -2), -X, 1e-15)
    for i in range(3):
        x, y, z = X[i], X[(i + 1) % 3], X[(i + 2) % 3]
        _close(x @ y - y @ x, z, 1e-13)


def test_generator_dtypes_follow_e3nn():
    assert o3.su2_generators(1).dtype == e3o3.su2_generators(1).dtype
    assert o3.so3_generators(1).dtype == e3o3.so3_generators(1).dtype
    assert o3.change_basis_real_to_complex(1).dtype == e3o3.change_basis_real_to_complex(1).dtype
    assert o3.so3_generators(2, dtype=F64).dtype == F64
    with pytest.raises(ValueError):
        o3.su2_generators(0.3)


@pytest.mark.parametrize("l", range(6))
def test_so3_generators_equal_e3nn_and_generate_wigner_D(l):
    X = o3.so3_generators(l, dtype=F64)
    _close(X, e3o3.so3_generators(l).to(F64), 1e-14)
    t = torch.tensor(0.4, dtype=F64)
    zero = torch.zeros((), dtype=F64)
    _close(torch.linalg.matrix_exp(t * X[1]), o3.wigner_D(l, t, zero, zero), 1e-13)
    _close(torch.linalg.matrix_exp(t * X[0]), o3.wigner_D(l, zero, t, zero), 1e-13)
    _close(torch.linalg.matrix_exp(t * X[2]), o3.wigner_D(l, o3.matrix_z(t)), 1e-13)


# ----------------------------------------------------------------------------- D_from_* of Irrep and Irreps
IRREPS = "2x0e + 0o + 1o + 2x1e + 2o + 3e"


def test_D_from_angles_quaternion_axis_angle_equal_e3nn():
    a, b, c = _angles(shape=(6,))
    k = torch.tensor([0, 1, 2, 3, 0, 1])
    q = _quaternions(shape=(6,))
    axis, angle = _axis_angle(shape=(6,))
    for ours, theirs in [(o3.Irreps(IRREPS), e3o3.Irreps(IRREPS))] + [
            (o3.Irrep(s), e3o3.Irrep(s)) for s in ("0e", "0o", "1o", "1e", "2o", "3e")]:
        _close(ours.D_from_angles(a, b, c), theirs.D_from_angles(a, b, c))
        _close(ours.D_from_angles(a, b, c, k), theirs.D_from_angles(a, b, c, k))
        _close(ours.D_from_quaternion(q), theirs.D_from_quaternion(q))
        _close(ours.D_from_quaternion(q, k), theirs.D_from_quaternion(q, k))
        _close(ours.D_from_axis_angle(axis, angle), theirs.D_from_axis_angle(axis, angle))
        R = o3.angles_to_matrix(a, b, c) * (1 - 2 * (k % 2)).to(F64)[:, None, None]
        _close(ours.D_from_matrix(R), theirs.D_from_matrix(R))
    assert o3.Irreps("").D_from_angles(a, b, c).shape == (6, 0, 0)
    assert o3.Irreps(IRREPS).D_from_angles(a, b, c, k[:1]).shape == (6, 24, 24)
