"""Numerical equality with e3nn (>= 0.5): harmonics, 3j symbols, Wigner D, change of basis.

e3nn is a test-only dependency; these tests are skipped when it is not installed.
"""


import pytest
import torch
from _equivariance_helpers import float64, gen

from steertorch import o3

e3nn_o3 = pytest.importorskip("e3nn.o3")

NORMALIZATIONS = ["integral", "component", "norm"]


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_spherical_harmonics_equal_e3nn(normalization, normalize):
    ls = list(range(12))  # e3nn's generated polynomials stop at l = 11
    x = torch.randn(200, 3, generator=gen(), dtype=torch.float64)
    x = torch.cat([x, torch.eye(3, dtype=torch.float64), -torch.eye(3, dtype=torch.float64)])  # the axes too
    ours = o3.spherical_harmonics(ls, x, normalize=normalize, normalization=normalization)
    with float64():
        ref = e3nn_o3.spherical_harmonics(ls, x, normalize=normalize, normalization=normalization)
    assert ours.shape == ref.shape
    i = 0
    for l in ls:
        a, b = ours[:, i:i + 2 * l + 1], ref[:, i:i + 2 * l + 1]
        assert float((a - b).abs().max() / b.abs().max()) < 1e-12, l
        i += 2 * l + 1


def test_spherical_harmonics_irreps_strings_equal_e3nn():
    x = torch.randn(20, 3, generator=gen(1), dtype=torch.float64)
    with float64():
        ref = e3nn_o3.spherical_harmonics("1o + 3o + 2e", x, normalize=True)
    assert torch.allclose(o3.spherical_harmonics("1o + 3o + 2e", x), ref, atol=1e-13)


def test_wigner_3j_equal_e3nn():
    count = 0
    for l1 in range(7):
        for l2 in range(7):
            for l3 in range(abs(l1 - l2), min(l1 + l2, 6) + 1):
                with float64():
                    ref = e3nn_o3.wigner_3j(l1, l2, l3)
                ours = o3.wigner_3j(l1, l2, l3, dtype=torch.float64)
                assert float((ours - ref).abs().max()) < 1e-12, (l1, l2, l3)
                count += 1
    assert count == 175


@pytest.mark.parametrize("l", [0, 1, 2, 3, 5, 8])
def test_wigner_D_equals_e3nn_euler_angles(l):
    """e3nn takes Euler angles (matrix_to_angles is its own convention); both give the same matrix."""
    R = o3.rand_matrix(32, generator=gen(2), dtype=torch.float64)
    with float64():
        ref = e3nn_o3.wigner_D(l, *e3nn_o3.matrix_to_angles(R))
    assert float((o3.wigner_D(l, R) - ref).abs().max()) < 1e-10


def test_degree_one_is_the_matrix_in_both_libraries():
    R = o3.rand_matrix(8, generator=gen(3), dtype=torch.float64)
    with float64():
        ref = e3nn_o3.wigner_D(1, *e3nn_o3.matrix_to_angles(R))
    assert torch.equal(o3.wigner_D(1, R), R)
    assert float((ref - R).abs().max()) < 1e-12


def test_e3nn_harmonics_are_equivariant_with_our_wigner_D():
    x = torch.randn(50, 3, generator=gen(4), dtype=torch.float64)
    R = o3.rand_matrix(generator=gen(5), dtype=torch.float64)
    for l in range(12):
        with float64():
            y = e3nn_o3.spherical_harmonics(l, x, normalize=True)
            y_rot = e3nn_o3.spherical_harmonics(l, x @ R.T, normalize=True)
        assert float((y_rot - y @ o3.wigner_D(l, R).T).abs().max()) < 1e-12, l


def test_change_of_basis_and_su2_coefficients_equal_e3nn():
    from e3nn.o3 import _wigner as e3nn_wigner

    for l in range(6):
        ref = e3nn_wigner.change_basis_real_to_complex(l, dtype=torch.float64)
        assert torch.allclose(o3.change_basis_real_to_complex(l, dtype=torch.float64), ref, atol=1e-15)
    for j1, j2, j3 in [(1, 1, 2), (2, 1, 3), (3, 2, 2), (2, 2, 0), (4, 3, 5)]:
        ref = e3nn_wigner._su2_clebsch_gordan(j1, j2, j3)
        assert torch.allclose(o3.su2_clebsch_gordan(j1, j2, j3), ref.to(torch.float64), atol=1e-14)


def test_irreps_strings_parse_like_e3nn():
    for text in ["16x0e + 8x1o + 4x2e", "0e", "1o + 1e + 2y", "3x3y"]:
        ref = [(mul, (ir.l, ir.p)) for mul, ir in e3nn_o3.Irreps(text)]
        assert o3.parse_irreps(text) == ref
