"""steertorch.testing: the helper passes equivariant functions and catches non-equivariant ones."""

import pytest
import torch

from steertorch import o3
from steertorch.group import cyclic_group, dihedral_group, directsum, o2_group, o3_group, so2_group, so3_group
from steertorch.testing import CARTESIAN_POINTS, assert_equivariant, equivariance_error, random_elements


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def scale_by_norm(x):
    return x * x.norm(dim=-1, keepdim=True)


def test_equivariant_function_passes():
    G = so3_group()
    vec = G.irrep(1)
    err = assert_equivariant(scale_by_norm, G, [vec], [vec], generator=_gen())
    assert 0.0 <= err < 1e-12


def test_non_equivariant_function_fails():
    G = so3_group()
    vec = G.irrep(1)

    def shift(x):
        return x + torch.tensor([1.0, 0.0, 0.0], dtype=x.dtype)

    with pytest.raises(AssertionError, match=r"not equivariant under SO\(3\): sample \d+ of 8"):
        assert_equivariant(shift, G, [vec], [vec], generator=_gen())
    errors, elements = equivariance_error(shift, G, [vec], [vec], generator=_gen())
    assert errors.shape == (8, 1) and elements.shape == (8, 3, 3)
    assert bool((errors > 1e-2).all())


def test_wrong_output_representation_fails():
    G = so3_group()
    # x -> x is equivariant as 1 -> 1, not as 1 -> 0 + 0 + 0
    assert_equivariant(lambda x: x, G, [G.irrep(1)], [G.irrep(1)])
    with pytest.raises(AssertionError):
        assert_equivariant(lambda x: x, G, [G.irrep(1)], [directsum(*[G.irrep(0)] * 3)])


def test_small_errors_respect_atol():
    G = so3_group()
    vec = G.irrep(1)

    def almost(x):
        return x + 1e-7 * x[..., :1]

    with pytest.raises(AssertionError):
        assert_equivariant(almost, G, [vec], [vec])
    err = assert_equivariant(almost, G, [vec], [vec], atol=1e-5)
    assert 1e-9 < err < 1e-5


def test_o3_parity_with_irreps_strings_and_two_inputs():
    G = o3_group()

    def cross(a, b):
        return torch.linalg.cross(a, b)

    assert assert_equivariant(cross, G, ["1o", "1o"], ["1e"], generator=_gen()) < 1e-12
    # the cross product of two vectors is a pseudo-vector: "1o" is wrong under inversion
    with pytest.raises(AssertionError, match="O\\(3\\)"):
        assert_equivariant(cross, G, ["1o", "1o"], ["1o"], n_samples=16, generator=_gen())  # seeded: has -I
    # under SO(3) parity does not matter
    assert_equivariant(cross, so3_group(), ["1o", "1o"], ["1o"])


def test_e3nn_irreps_objects_are_accepted():
    e3nn_o3 = pytest.importorskip("e3nn.o3")
    G = o3_group()
    irreps = e3nn_o3.Irreps("2x0e + 1o")
    x = torch.randn(4, irreps.dim, dtype=torch.float64)
    assert_equivariant(lambda x: x * x[..., :1], G, [irreps], [irreps], inputs=(x,))
    with pytest.raises(AssertionError):
        assert_equivariant(lambda x: x * x[..., :1], G, [irreps], [e3nn_o3.Irreps("2x0e + 1e")], inputs=(x,),
                           n_samples=16, generator=_gen())


def test_multiple_outputs_and_mul_ir_layout():
    G = o3_group()

    def fn(s, v):  # s: 2x0e, v: 2x1o (e3nn's mul_ir layout)
        vv = v.reshape(*v.shape[:-1], 2, 3)
        norms = vv.norm(dim=-1)
        return s * norms, (s[..., :, None] * vv).reshape(v.shape)

    assert_equivariant(fn, G, ["2x0e", "2x1o"], ["2x0e", "2x1o"], generator=_gen())
    with pytest.raises(AssertionError, match="output 1"):
        assert_equivariant(fn, G, ["2x0e", "2x1o"], ["2x0e", "2x1e"], n_samples=16, generator=_gen())


def test_cartesian_points_with_spherical_harmonics():
    """Positions move by the standard action; the harmonics of relative vectors are 0e + 1o + 2e."""
    G = o3_group()

    def edge_sh(pos):
        rel = pos[:, None, :] - pos[None, :, :]
        return o3.spherical_harmonics("0e + 1o + 2e", rel, normalize=False, normalization="component")

    pos = torch.randn(5, 3, generator=_gen(), dtype=torch.float64)
    assert_equivariant(edge_sh, G, [CARTESIAN_POINTS], ["0e + 1o + 2e"], inputs=(pos,), generator=_gen())
    # a wrong parity for l = 1 is caught (inversion flips the vector)
    with pytest.raises(AssertionError):
        assert_equivariant(edge_sh, G, ["cartesian_points"], ["0e + 1e + 2e"], inputs=(pos,), n_samples=16,
                           generator=_gen())


def test_untouched_arguments():
    G = so3_group()
    vec = G.irrep(1)
    idx = torch.tensor([2, 0, 1])

    def fn(x, weight, index):  # weight invariant, index an integer tensor
        return weight * x[index]

    weight = torch.rand(3, 1, dtype=torch.float64)
    x = torch.randn(3, 3, dtype=torch.float64)
    assert_equivariant(fn, G, [vec, None, None], [vec], inputs=(x, weight, idx))
    with pytest.raises(ValueError, match="inputs"):
        assert_equivariant(fn, G, [vec, None, None], [vec])  # None inputs cannot be generated
    # an invariant output
    assert_equivariant(lambda x: x.norm(dim=-1), G, [vec], [None])


@pytest.mark.parametrize("group", [cyclic_group(4), dihedral_group(4), cyclic_group(8, ambient_dim=3)],
                         ids=str)
def test_finite_groups_points_and_standard_representation(group):
    def fn(x):
        return x * x.norm(dim=-1, keepdim=True) ** 2

    errors, elements = equivariance_error(fn, group, [CARTESIAN_POINTS], [CARTESIAN_POINTS], n_samples=group.order)
    assert elements.dtype == torch.long and sorted(elements.tolist()) == list(range(group.order))
    assert float(errors.max()) < 1e-12
    std = group.standard_representation
    assert_equivariant(fn, group, [std], [std])
    # a fixed linear map that does not commute with the group
    m = torch.zeros(group.ambient_dim, group.ambient_dim, dtype=torch.float64)
    m[0, 0] = 1.0
    with pytest.raises(AssertionError, match=group.name):
        assert_equivariant(lambda x: x @ m.T, group, [std], [std], n_samples=group.order)


def test_planar_continuous_groups():
    for G in (so2_group(), o2_group()):
        assert_equivariant(lambda x: x * x.norm(dim=-1, keepdim=True), G, [CARTESIAN_POINTS], [CARTESIAN_POINTS])
    G = so2_group()
    # the map z -> z^2 on C = R^2 sends frequency 1 to frequency 2
    psi1, psi2 = G.irrep(1), G.irrep(2)

    def square(x):
        return torch.stack([x[..., 0] ** 2 - x[..., 1] ** 2, 2 * x[..., 0] * x[..., 1]], -1)

    assert_equivariant(square, G, [psi1], [psi2])
    with pytest.raises(AssertionError):
        assert_equivariant(square, G, [psi1], [psi1])
    # under O(2), z -> z^2 intertwines (1, 1) and (1, 2)
    H = o2_group()
    assert_equivariant(square, H, [H.irrep(1, 1)], [H.irrep(1, 2)])


def test_explicit_elements_and_reproducibility():
    G = so3_group()
    vec = G.irrep(1)
    rot90 = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)

    def swap(x):  # equivariant under the 90-degree rotation about z only
        return torch.stack([x[..., 0], x[..., 1], 2 * x[..., 2]], -1)

    assert_equivariant(swap, G, [vec], [vec], elements=rot90)
    with pytest.raises(AssertionError):
        assert_equivariant(swap, G, [vec], [vec])
    e1, g1 = equivariance_error(swap, G, [vec], [vec], generator=_gen(3))
    e2, g2 = equivariance_error(swap, G, [vec], [vec], generator=_gen(3))
    assert torch.equal(e1, e2) and torch.equal(g1, g2)


def test_float32():
    G = so3_group()
    vec = G.irrep(1)
    err = assert_equivariant(scale_by_norm, G, [vec], [vec], atol=1e-4, dtype=torch.float32)
    assert err < 1e-4


def test_nan_output_fails():
    G = so3_group()
    with pytest.raises(AssertionError):
        assert_equivariant(lambda x: x / 0.0 * 0.0, G, [G.irrep(1)], [G.irrep(1)])


def test_bad_arguments():
    G = so3_group()
    vec = G.irrep(1)
    with pytest.raises(ValueError, match="dimension 3"):
        assert_equivariant(lambda x: x, G, [vec], [vec], inputs=(torch.randn(4, 5),))
    with pytest.raises(ValueError, match="outputs"):
        assert_equivariant(lambda x: (x, x), G, [vec], [vec])
    with pytest.raises(ValueError, match="inputs"):
        assert_equivariant(lambda x: x, G, [vec], [vec], inputs=(torch.randn(4, 3), torch.randn(4, 3)))
    with pytest.raises(ValueError, match="C4"):
        assert_equivariant(lambda x: x, cyclic_group(4), ["1o"], ["1o"])
    with pytest.raises(ValueError, match="Group"):
        assert_equivariant(lambda x: x, "SO3", [vec], [vec])
    with pytest.raises(ValueError, match="tensor"):
        assert_equivariant(lambda x: x.tolist(), G, [vec], [vec])


def test_random_elements():
    G = so3_group()
    g = random_elements(G, 16, generator=_gen())
    assert g.shape == (16, 3, 3) and g.dtype == torch.float64
    eye = torch.eye(3, dtype=torch.float64)
    assert torch.allclose(g @ g.transpose(-1, -2), eye.expand(16, 3, 3), atol=1e-12)
    assert bool((torch.linalg.det(g) > 0).all())
    h = random_elements(o3_group(), 64, generator=_gen())
    assert bool((torch.linalg.det(h) < 0).any()) and bool((torch.linalg.det(h) > 0).any())
    assert random_elements(G, 2, dtype=torch.float32).dtype == torch.float32
    c = random_elements(cyclic_group(6), 100, generator=_gen())
    assert c.dtype == torch.long and int(c.min()) >= 0 and int(c.max()) < 6
    with pytest.raises(ValueError):
        random_elements(G, -1)
