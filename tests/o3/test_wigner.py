"""Wigner D matrices, Wigner 3j symbols and SU(2) Clebsch-Gordan coefficients."""

import math

import pytest
import torch

from steertorch import o3
from steertorch.group import o3_group, so3_group

LMAX_3J = 6


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _rotations(n, seed=0):
    return o3.rand_matrix(n, generator=_gen(seed), dtype=torch.float64)


def _eye(n, *batch):
    return torch.eye(n, dtype=torch.float64).expand(*batch, n, n)


def test_degree_one_is_the_rotation_matrix_exactly():
    R = _rotations(16)
    assert torch.equal(o3.wigner_D(1, R), R)
    assert torch.equal(o3.wigner_D(0, R), torch.ones(16, 1, 1, dtype=torch.float64))


@pytest.mark.parametrize("l", [2, 3, 5, 8, 12])
def test_homomorphism(l):
    R1, R2 = _rotations(8, 1), _rotations(8, 2)
    lhs = o3.wigner_D(l, R1 @ R2)
    rhs = o3.wigner_D(l, R1) @ o3.wigner_D(l, R2)
    assert float((lhs - rhs).abs().max()) < 1e-12


@pytest.mark.parametrize("l", [0, 1, 2, 4, 7, 12, 20])
def test_orthogonal_identity_inverse(l):
    R = _rotations(8)
    D = o3.wigner_D(l, R)
    n = 2 * l + 1
    assert D.shape == (8, n, n)
    assert float((D @ D.transpose(-1, -2) - _eye(n, 8)).abs().max()) < 1e-12
    assert torch.allclose(torch.linalg.det(D), torch.ones(8, dtype=torch.float64), atol=1e-10)
    assert float((o3.wigner_D(l, torch.eye(3, dtype=torch.float64)) - _eye(n)).abs().max()) < 1e-13
    assert float((o3.wigner_D(l, R.transpose(-1, -2)) - D.transpose(-1, -2)).abs().max()) < 1e-12


def test_rotation_about_the_polar_axis_is_block_diagonal():
    """In e3nn's basis the polar axis is y: D^l of a rotation about y by t mixes only m and -m,
    with cos(m t) / sin(m t) entries."""
    t = 0.37
    R = o3.axis_angle_to_matrix(torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64), torch.tensor(t,
                                                                                                 dtype=torch.float64))
    l = 3
    D = o3.wigner_D(l, R)
    for m in range(-l, l + 1):
        assert math.isclose(float(D[l + m, l + m]), math.cos(m * t), abs_tol=1e-12)
        others = [j for j in range(2 * l + 1) if j not in (l + m, l - m)]
        assert float(D[l + m, others].abs().max()) < 1e-12


@pytest.mark.parametrize("l", [1, 2, 6])
def test_quaternion_and_axis_angle_inputs(l):
    q = o3.rand_quaternion(10, generator=_gen(3), dtype=torch.float64)
    R = o3.quaternion_to_matrix(q)
    D = o3.wigner_D(l, R)
    assert float((o3.wigner_D(l, quaternion=q) - D).abs().max()) < 1e-13
    assert float((o3.wigner_D(l, quaternion=-q) - D).abs().max()) < 1e-13  # q and -q: the same rotation
    axis, angle = o3.matrix_to_axis_angle(R)
    assert float((o3.wigner_D(l, axis_angle=(axis, angle)) - D).abs().max()) < 1e-12


def test_batch_shapes_and_float32():
    R = _rotations(6).reshape(2, 3, 3, 3)
    assert o3.wigner_D(2, R).shape == (2, 3, 5, 5)
    assert o3.wigner_D(2, R[0, 0]).shape == (5, 5)
    R32 = R.float()
    D32 = o3.wigner_D(4, R32)
    assert D32.dtype == torch.float32
    assert float((D32.double() - o3.wigner_D(4, R32.double(), check=False)).abs().max()) < 1e-5


def test_non_rotations_are_rejected():
    reflection = torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="det"):
        o3.wigner_D(2, reflection)
    with pytest.raises(ValueError, match="det"):
        o3.wigner_D(1, -torch.eye(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="R R\\^T"):
        o3.wigner_D(2, 2 * _rotations(1))
    with pytest.raises(ValueError, match="R R\\^T"):
        o3.wigner_D(2, (1 + 1e-6) * torch.eye(3, dtype=torch.float64))
    with pytest.raises(ValueError):
        o3.wigner_D(2, torch.randn(4, 2, 2))
    with pytest.raises(ValueError, match="exactly one"):
        o3.wigner_D(2)
    with pytest.raises(ValueError, match="exactly one"):
        o3.wigner_D(2, _rotations(1), quaternion=o3.rand_quaternion(1))
    with pytest.raises(ValueError):
        o3.wigner_D(-1, _rotations(1))


def test_wigner_3j_invariance_all_degrees_up_to_6():
    """C_lmn = C_ijk D1_il D2_jm D3_kn for every triple l1, l2, l3 <= 6."""
    R = _rotations(2, 4)
    D = {l: o3.wigner_D(l, R) for l in range(LMAX_3J + 1)}
    count = 0
    for l1 in range(LMAX_3J + 1):
        for l2 in range(LMAX_3J + 1):
            for l3 in range(abs(l1 - l2), min(l1 + l2, LMAX_3J) + 1):
                C = o3.wigner_3j(l1, l2, l3, dtype=torch.float64)
                assert C.shape == (2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1)
                assert math.isclose(float(C.norm()), 1.0, abs_tol=1e-14)
                rotated = torch.einsum("ijk,bil,bjm,bkn->blmn", C, D[l1], D[l2], D[l3])
                assert float((rotated - C).abs().max()) < 1e-12, (l1, l2, l3)
                count += 1
    assert count == 175  # every admissible triple


def test_wigner_3j_special_values_and_symmetries():
    for l in range(5):
        C = o3.wigner_3j(l, l, 0, dtype=torch.float64)[:, :, 0]
        assert torch.allclose(C, _eye(2 * l + 1) / math.sqrt(2 * l + 1), atol=1e-15)
    # C(1, 1, 1) is the Levi-Civita symbol / sqrt(6)
    eps = torch.zeros(3, 3, 3, dtype=torch.float64)
    for i, j, k in [(0, 1, 2), (1, 2, 0), (2, 0, 1)]:
        eps[i, j, k], eps[j, i, k] = 1.0, -1.0
    C111 = o3.wigner_3j(1, 1, 1, dtype=torch.float64)
    assert torch.allclose(C111.abs(), eps.abs() / math.sqrt(6), atol=1e-15)
    assert torch.allclose(C111, eps / math.sqrt(6), atol=1e-15) or torch.allclose(C111, -eps / math.sqrt(6),
                                                                                   atol=1e-15)
    # permutations: cyclic ones leave C unchanged, swaps multiply it by (-1)^(l1 + l2 + l3)
    for l1, l2, l3 in [(1, 2, 3), (2, 2, 2), (3, 4, 2), (1, 1, 2)]:
        C = o3.wigner_3j(l1, l2, l3, dtype=torch.float64)
        s = (-1) ** (l1 + l2 + l3)
        assert torch.allclose(o3.wigner_3j(l2, l3, l1, dtype=torch.float64), C.permute(1, 2, 0), atol=1e-15)
        assert torch.allclose(o3.wigner_3j(l2, l1, l3, dtype=torch.float64), s * C.transpose(0, 1), atol=1e-15)


def test_wigner_3j_dtype_and_errors():
    assert o3.wigner_3j(1, 1, 2, dtype=torch.float32).dtype == torch.float32
    assert o3.wigner_3j(1, 1, 2, dtype=torch.float64).dtype == torch.float64
    for bad in [(1, 1, 3), (0, 2, 1), (4, 1, 2), (2, 0, 0)]:
        with pytest.raises(ValueError, match="triangle"):
            o3.wigner_3j(*bad)
    with pytest.raises(ValueError):
        o3.wigner_3j(-1, 1, 1)
    with pytest.raises(ValueError):
        o3.wigner_3j(1.0, 1, 1)


def test_su2_clebsch_gordan_known_values():
    c112 = o3.su2_clebsch_gordan(1, 1, 2)  # index m + j
    assert c112.dtype == torch.float64 and c112.shape == (3, 3, 5)
    assert math.isclose(float(c112[1, 1, 2]), math.sqrt(2 / 3), rel_tol=1e-15)  # <1 0 1 0 | 2 0>
    assert math.isclose(float(c112[2, 2, 4]), 1.0, rel_tol=1e-15)  # <1 1 1 1 | 2 2>
    assert math.isclose(float(c112[2, 1, 3]), math.sqrt(1 / 2), rel_tol=1e-15)  # <1 1 1 0 | 2 1>
    c110 = o3.su2_clebsch_gordan(1, 1, 0)
    assert math.isclose(float(c110[2, 0, 0]), 1 / math.sqrt(3), rel_tol=1e-15)  # <1 1 1 -1 | 0 0>
    assert math.isclose(float(c110[1, 1, 0]), -1 / math.sqrt(3), rel_tol=1e-15)  # <1 0 1 0 | 0 0>
    c011 = o3.su2_clebsch_gordan(1, 1, 1)
    assert math.isclose(float(c011[2, 1, 2]), 1 / math.sqrt(2), rel_tol=1e-15)  # <1 1 1 0 | 1 1>
    assert float(c011[1, 1, 1]) == 0.0  # <1 0 1 0 | 1 0>
    with pytest.raises(ValueError, match="triangle"):
        o3.su2_clebsch_gordan(1, 1, 3)


@pytest.mark.parametrize("j1,j2", [(1, 1), (2, 1), (3, 2), (4, 4)])
def test_su2_clebsch_gordan_is_unitary(j1, j2):
    """The coefficients of all j3 together form an orthogonal change of basis of (2j1+1)(2j2+1) dims."""
    cols = [o3.su2_clebsch_gordan(j1, j2, j3).reshape(-1, 2 * j3 + 1) for j3 in range(abs(j1 - j2), j1 + j2 + 1)]
    U = torch.cat(cols, 1)
    n = (2 * j1 + 1) * (2 * j2 + 1)
    assert U.shape == (n, n)
    assert torch.allclose(U.T @ U, _eye(n), atol=1e-13)


def test_change_basis_real_to_complex_is_unitary():
    for l in range(6):
        Q = o3.change_basis_real_to_complex(l, dtype=torch.float64)
        assert Q.dtype == torch.complex128
        assert o3.change_basis_real_to_complex(l, dtype=torch.float32).dtype == torch.complex64
        assert torch.allclose(Q.conj().T @ Q, torch.eye(2 * l + 1, dtype=torch.complex128), atol=1e-15)


def test_group_clebsch_gordan_is_scaled_wigner_3j():
    """The groups' Clebsch-Gordan coefficients are isometries: C = sqrt(2 l3 + 1) wigner_3j for SO(3);
    O(3) adds parity selection."""
    G = so3_group()
    cg = G.clebsch_gordan(1, 2, 3)
    assert cg.shape == (1, 3, 5, 7)
    assert torch.allclose(cg[0], math.sqrt(7) * o3.wigner_3j(1, 2, 3, dtype=torch.float64), atol=1e-15)
    m = cg[0].reshape(15, 7)
    assert torch.allclose(m.T @ m, _eye(7), atol=1e-14)
    H = o3_group()
    assert H.clebsch_gordan("1o", "1o", "1e").shape == (1, 3, 3, 3)
    assert H.clebsch_gordan("1o", "1o", "1o").shape[0] == 0
    assert G.clebsch_gordan(1, 1, 3).shape[0] == 0
