import copy

import pytest
import torch

from steertorch.group import GroupFourierTransform, Representation, bl_quotient_representation, o2_group
from steertorch.group._group import float64_default
from steertorch.gspaces import flipRot2dOnR2, flipRot3dOnR3, rot2dOnR2, rot3dOnR3
from steertorch.nn import (
    FieldType,
    FourierELU,
    FourierPointwise,
    InducedNormNonLinearity,
    NormNonLinearity,
    PointwiseNonLinearity,
    QuotientFourierPointwise,
    TensorProductNonLinearity,
)
from steertorch.testing import field_equivariance_error, grid_symmetries

torch.set_num_threads(1)
F64 = torch.float64


def square(t: torch.Tensor) -> torch.Tensor:
    return t * t


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _x(module, d: int, seed: int = 0, size: int = 4, batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, module.in_type.size, *([size] * d), dtype=F64, generator=_gen(seed))


def _elements(gs, n: int = 6, seed: int = 1) -> list:
    G = gs.fibergroup
    if G.is_finite:
        return list(G.elements())
    return list(G.sample(n, generator=_gen(seed), dtype=F64))


def fibre_error(module, x: torch.Tensor, elements) -> float:
    """max_g |f(rho(g) x) - rho(g) f(x)| / max |f(x)|: the fibre action only (the modules are pointwise in space)."""
    return field_equivariance_error(module, x, elements, fibers_only=True)


# ----------------------------------------------------------------------------- FourierPointwise
FOURIER_CASES = {
    "C4": (lambda f, **k: FourierPointwise(rot2dOnR2(4), 2, None, f, **k), 2),
    "C8": (lambda f, **k: FourierPointwise(rot2dOnR2(8), 2, None, f, **k), 2),
    "D4": (lambda f, **k: FourierPointwise(flipRot2dOnR2(4), 2, None, f, **k), 2),
    "SO2": (lambda f, **k: FourierPointwise(rot2dOnR2(-1), 2, 2, f, **k), 2),
    "O2": (lambda f, **k: FourierPointwise(flipRot2dOnR2(-1), 2, 2, f, **k), 2),
    "SO3": (lambda f, **k: FourierPointwise(rot3dOnR3(), 1, 1, f, **k), 3),
    "O3": (lambda f, **k: FourierPointwise(flipRot3dOnR3(), 1, 1, f, **k), 3),
}


@pytest.mark.parametrize("name", list(FOURIER_CASES))
@pytest.mark.parametrize("function", ["p_elu", "p_relu"])
def test_fourier_exact_under_grid_symmetries(name, function):
    make, d = FOURIER_CASES[name]
    with float64_default():
        act = make(function)
    x = _x(act, d)
    assert field_equivariance_error(act, x, grid_symmetries(act.in_type.gspace)) <= 1e-10


@pytest.mark.parametrize("name", ["C4", "C8", "D4"])
def test_fourier_finite_groups_exact_for_every_element(name):
    make, d = FOURIER_CASES[name]
    with float64_default():
        act = make("p_elu")
    x = _x(act, d)
    assert fibre_error(act, x, _elements(act.in_type.gspace)) <= 1e-10


@pytest.mark.parametrize("name, bound", [("SO2", 3e-2), ("O2", 3e-2), ("SO3", 5e-2), ("O3", 5e-2)])
def test_fourier_elu_continuous_elements_measured(name, bound):
    # ELU on a finite grid is only approximately equivariant for continuous groups (numbers in the docstring)
    make, d = FOURIER_CASES[name]
    with float64_default():
        act = make("p_elu")
    err = fibre_error(act, _x(act, d), _elements(act.in_type.gspace))
    assert 1e-6 < err < bound


@pytest.mark.parametrize("name, kwargs", [("SO2", {}), ("O2", {}), ("SO3", {"degree": 3}), ("O3", {"degree": 3}),
                                          ("SO2", {"N": 8})])
def test_fourier_polynomial_exact_for_continuous_elements(name, kwargs):
    # sigma(t) = t^2 of a degree-L function has degree 2L: an exact quadrature of degree 3L projects it exactly
    make, d = FOURIER_CASES[name]
    with float64_default():
        act = make(square, **kwargs)
    assert fibre_error(act, _x(act, d), _elements(act.in_type.gspace)) <= 1e-11


def test_fourier_polynomial_on_too_coarse_so3_grid_is_not_exact():
    # the test above can fail: degree 2 L is not enough for x**2 with L = 2
    with float64_default():
        act = FourierPointwise(rot3dOnR3(), 1, 2, square, degree=4)
    assert fibre_error(act, _x(act, 3, size=2), _elements(act.in_type.gspace)) > 1e-4


@pytest.mark.parametrize("gs", [rot2dOnR2(8), flipRot2dOnR2(4)], ids=lambda g: g.name)
def test_finite_fourier_elu_is_pointwise_elu_on_the_regular_representation(gs):
    G = gs.fibergroup
    with float64_default():
        act = FourierELU(gs, 3)
        ft = GroupFourierTransform(G)
        M = (ft.basis(G.elements(), dtype=F64) / G.order**0.5)  # [|G|, |G|] orthogonal: coefficients -> values
        # M intertwines the Fourier representation with the regular (permutation) one
        for g in G.elements():
            assert torch.allclose(gs.regular_repr(g).to(F64) @ M, M @ act.rep(g).to(F64), atol=1e-12)
    assert torch.allclose(M.T @ M, torch.eye(G.order, dtype=F64), atol=1e-12)
    reg = PointwiseNonLinearity(FieldType(gs, [gs.regular_repr] * 3), "p_elu")
    c = _x(act, 2)
    values = torch.einsum("gd,bcd...->bcg...", M, c.reshape(2, 3, G.order, 4, 4)).reshape(c.shape)
    expected = torch.einsum("gd,bcg...->bcd...", M, reg(values).reshape(2, 3, G.order, 4, 4)).reshape(c.shape)
    assert torch.allclose(act(c), expected, atol=1e-12)


def test_fourier_field_type_and_buffers():
    with float64_default():
        act = FourierPointwise(rot2dOnR2(-1), 3, [0, 2], "p_relu", N=8)
    assert [psi.label for psi in act.rep.irreps] == [0, 2]  # frequency 2 complex type: one copy
    assert act.in_type == act.out_type and act.in_type.size == 9
    assert act.A.shape == (8, 3) and act.Ainv.shape == (3, 8)
    assert torch.allclose(act.Ainv @ act.A, torch.eye(3, dtype=F64), atol=1e-12)  # projection: P A = I
    # layout of GroupFourierTransform: same rep as its bl regular representation for the full band
    with float64_default():
        full = FourierPointwise(rot3dOnR3(), 1, 2)
    regular = rot3dOnR3().fibergroup.bl_regular_representation(2)
    assert [p.label for p in full.rep.irreps] == [p.label for p in regular.irreps]
    assert "A" in dict(full.named_buffers()) and "Ainv" in dict(full.named_buffers())


def test_fourier_identity_function_is_identity_and_normalize():
    # sigma = id: P A c = c on the band limit, whatever the normalisation
    for normalize in (True, False):
        with float64_default():
            act = FourierPointwise(rot3dOnR3(), 2, 1, lambda t: t, normalize=normalize)
        x = _x(act, 3, size=2)
        assert torch.allclose(act(x), x, atol=1e-12)
    with float64_default():
        act = FourierPointwise(rot2dOnR2(-1), 1, 3)
    # normalize: unit-variance coefficients give unit-variance samples
    c = torch.randn(20000, act.rep.size, dtype=F64, generator=_gen(3))
    samples = c @ act.A.T
    assert 0.95 < float(samples.pow(2).mean()) < 1.05


@pytest.mark.parametrize("make", [lambda: FourierELU(flipRot2dOnR2(-1), 2, irreps=2),
                                  lambda: FourierELU(rot3dOnR3(), 1, irreps=1),
                                  lambda: QuotientFourierPointwise(rot3dOnR3(), "SO2", 1, irreps=2, function="p_elu")],
                         ids=["O2", "SO3", "SO3/SO2"])
def test_fourier_built_in_float32_is_exact_in_float64(make):
    """Built with the float32 default dtype, then used in float64: the grid is still float64, so the grid
    symmetries stay exact (a float32 grid gave 6e-8)."""
    act = make().to(F64)
    gs = act.in_type.gspace
    x = torch.randn(1, act.in_type.size, *([3] * gs.dimensionality), dtype=F64)
    assert field_equivariance_error(act, x, grid_symmetries(gs)) <= 1e-10


def test_fourier_float32_and_shapes():
    act = FourierELU(rot2dOnR2(-1), 2, 1, N=8)  # built with float32 default
    x = torch.randn(3, act.in_type.size, 5, 6)
    y = act(x)
    assert y.shape == x.shape and y.dtype == torch.float32
    with pytest.raises(ValueError, match="FourierELU: input x has dtype torch.float64"):
        act(x.double())
    assert torch.allclose(y.double(), copy.deepcopy(act).double()(x.double()), atol=1e-5)
    act3 = FourierELU(rot3dOnR3(), 2, 1)
    x3 = torch.randn(1, act3.in_type.size, 2, 3, 4)
    assert act3(x3).shape == x3.shape
    act.to(torch.float32)
    assert act.A.dtype == torch.float32 and act(x).dtype == torch.float32


def test_fourier_bad_input():
    act = FourierELU(rot2dOnR2(8), 2)
    with pytest.raises(ValueError, match="expected input of type"):
        act(torch.randn(1, 15, 4, 4))
    with pytest.raises(ValueError, match="spatial"):
        act(torch.randn(1, 16, 4))
    with pytest.raises(ValueError, match="unknown function"):
        FourierPointwise(rot2dOnR2(8), 2, None, "p_nope")
    with pytest.raises(ValueError, match="finite"):
        FourierPointwise(rot2dOnR2(8), 2, None, N=8)
    with pytest.raises(ValueError, match="continuous"):
        FourierPointwise(rot2dOnR2(-1), 2)
    with pytest.raises(ValueError, match="degree is for SO"):
        FourierPointwise(rot2dOnR2(-1), 2, 2, degree=4)
    with pytest.raises(ValueError, match="N .number of rotations. is for SO.2."):
        FourierPointwise(rot3dOnR3(), 2, 1, N=8)
    with pytest.raises(ValueError, match="cannot resolve"):
        FourierPointwise(rot2dOnR2(-1), 2, 2, N=3)
    with pytest.raises(ValueError, match="listed twice"):
        FourierPointwise(rot2dOnR2(-1), 2, [1, 1])
    with pytest.raises(ValueError, match="channels"):
        FourierPointwise(rot2dOnR2(-1), 0, 1)
    with pytest.raises(ValueError, match="gspace"):
        FourierPointwise("SO2", 2, 1)
    with pytest.raises(ValueError, match="irrep"):
        FourierPointwise(rot2dOnR2(-1), 2, ["x"])


# ----------------------------------------------------------------------------- quotients
QUOTIENT_CASES = {
    "SO3/SO2": (lambda f, **k: QuotientFourierPointwise(rot3dOnR3(), "SO2", 2, 2, f, **k), 3),
    "O3/O2zv": (lambda f, **k: QuotientFourierPointwise(flipRot3dOnR3(), o2_group(3, "mirror"), 1, 2, f, degree=6,
                                                           **k), 3),
    "O2/D1": (lambda f, **k: QuotientFourierPointwise(flipRot2dOnR2(-1), "D1", 2, 3, f, **k), 2),
    "O2/C4": (lambda f, **k: QuotientFourierPointwise(flipRot2dOnR2(-1), "C4", 1, 4, f, **k), 2),
    "D4/C4": (lambda f, **k: QuotientFourierPointwise(flipRot2dOnR2(4), "C4", 2, None, f, **k), 2),
    "C8/C2": (lambda f, **k: QuotientFourierPointwise(rot2dOnR2(8), "C2", 2, None, f, **k), 2),
    "D4/D1": (lambda f, **k: QuotientFourierPointwise(flipRot2dOnR2(4), "D1", 2, None, f, **k), 2),
}


@pytest.mark.parametrize("name", list(QUOTIENT_CASES))
def test_quotient_exact_under_grid_symmetries(name):
    make, d = QUOTIENT_CASES[name]
    with float64_default():
        act = make("p_elu")
    x = _x(act, d, size=3)
    assert field_equivariance_error(act, x, grid_symmetries(act.in_type.gspace)) <= 1e-10


@pytest.mark.parametrize("name", ["SO3/SO2", "O3/O2zv", "O2/D1", "O2/C4", "D4/C4", "C8/C2", "D4/D1"])
def test_quotient_polynomial_exact_for_every_element(name):
    make, d = QUOTIENT_CASES[name]
    with float64_default():
        act = make(square)
    assert fibre_error(act, _x(act, d, size=2), _elements(act.in_type.gspace)) <= 1e-11


@pytest.mark.parametrize("name, bound", [("SO3/SO2", 3e-2), ("O2/D1", 5e-2)])
def test_quotient_elu_continuous_measured(name, bound):
    make, d = QUOTIENT_CASES[name]
    with float64_default():
        act = make("p_elu")
    err = fibre_error(act, _x(act, d, size=2), _elements(act.in_type.gspace))
    assert 1e-6 < err < bound


def test_quotient_representation_and_right_invariance():
    gs = rot3dOnR3()
    G = gs.fibergroup
    with float64_default():
        act = QuotientFourierPointwise(gs, "SO2", 1, 3, degree=6)
        expected = bl_quotient_representation(G, "SO2", 3)
        sub, include = G.subgroup("SO2")
        g = G.sample(5, generator=_gen(4), dtype=F64)
        h = include(sub.sample(5, generator=_gen(5), dtype=F64))
        ft = act.group_transform
        lhs = ft.basis(G.compose(g, h), dtype=F64) @ act.embedding
        rhs = ft.basis(g, dtype=F64) @ act.embedding
        # the embedding intertwines: regular coefficients rho(g) Q = Q rho_quotient(g)
        reg = ft.representation(g).to(F64)
        assert torch.allclose(reg @ act.embedding, act.embedding @ act.rep(g).to(F64), atol=1e-10)
    assert [p.label for p in act.rep.irreps] == [p.label for p in expected.irreps] == [0, 1, 2, 3]
    assert torch.allclose(lhs, rhs, atol=1e-10)  # functions on G/H: f(g h) = f(g)
    assert torch.allclose(act.embedding.T @ act.embedding, torch.eye(16, dtype=F64), atol=1e-12)
    # the sphere: the grid points merged to distinct cosets (far fewer than the grid on SO(3))
    assert act.grid_size < act.group_transform.grid_size / 5


@pytest.mark.parametrize("gs, sub", [(flipRot2dOnR2(4), "C4"), (rot2dOnR2(8), "C2"), (flipRot2dOnR2(4), "D1")])
def test_finite_quotient_samples_cosets_as_a_permutation(gs, sub):
    G = gs.fibergroup
    with float64_default():
        act = QuotientFourierPointwise(gs, sub, 1, None, "p_elu")
        n_cosets = G.order // G.subgroup(sub)[0].order
        assert act.grid_size == n_cosets == act.rep.size
        A = act.A  # [cosets, D] normalised: orthogonal
        assert torch.allclose(A.T @ A, torch.eye(n_cosets, dtype=F64), atol=1e-12)
        for g in G.elements():
            p = A @ act.rep(g).to(F64) @ A.T  # the action on the coset samples
            assert torch.allclose(p, p.round(), atol=1e-12) and bool((p.round().abs().sum(0) == 1).all())
            assert bool((p.round() >= 0).all())


def test_quotient_bad_input():
    with pytest.raises(ValueError, match="do not occur"):
        QuotientFourierPointwise(flipRot3dOnR3(), o2_group(3, "mirror"), 1, [(1, 1)])  # only (l, (-1)^l) occur
    with pytest.raises(ValueError, match="bad subgroup"):
        QuotientFourierPointwise(rot2dOnR2(8), "C3", 1)
    act = QuotientFourierPointwise(rot2dOnR2(8), "C2", 1)
    with pytest.raises(ValueError, match="expected input of type"):
        act(torch.randn(1, 5, 3, 3))


# ----------------------------------------------------------------------------- induced norm
def _o2_flip_permutation():
    """O(2)/SO(2) in its permutation basis: e_1, e_2 swapped by the flip."""
    G = o2_group()
    q = torch.tensor([[1.0, 1.0], [1.0, -1.0]], dtype=F64) / 2**0.5
    return Representation([G.irrep(0, 0), G.irrep(1, 0)], q, name="perm_O2/SO2")


def _induced_types():
    c4, d4, o2, so3 = rot2dOnR2(4), flipRot2dOnR2(4), flipRot2dOnR2(-1), rot3dOnR3()
    with float64_default():
        return {
            "C4": (FieldType(c4, [c4.regular_repr.tensor(c4.irrep(1)), c4.regular_repr]), [2, 1], 2),
            "D4": (FieldType(d4, [d4.regular_repr.tensor(d4.irrep(1, 1))]), 2, 2),
            "O2": (FieldType(o2, [_o2_flip_permutation().tensor(o2.irrep(1, 1)), o2.irrep(1, 2)]), [2, 2], 2),
            "SO3": (FieldType(so3, [so3.irrep(1), so3.irrep(2)]), [3, 5], 3),
        }


@pytest.mark.parametrize("name", ["C4", "D4", "O2", "SO3"])
@pytest.mark.parametrize("function", ["n_relu", "n_sigmoid", "squash"])
def test_induced_norm_exactly_equivariant(name, function):
    ft, block, d = _induced_types()[name]
    act = InducedNormNonLinearity(ft, block, function).double()
    x = torch.randn(2, ft.size, *([4] * d), dtype=F64, generator=_gen(0))
    assert field_equivariance_error(act, x, grid_symmetries(ft.gspace)) <= 1e-10
    assert fibre_error(act, x, _elements(ft.gspace)) <= 1e-10


def test_induced_norm_is_norm_nonlinearity_per_block():
    gs = rot2dOnR2(4)
    with float64_default():
        ft = FieldType(gs, [gs.regular_repr.tensor(gs.irrep(1))])
    act = InducedNormNonLinearity(ft, 2).double()
    blocks = NormNonLinearity(FieldType(gs, [gs.irrep(1)] * 4)).double()
    with torch.no_grad():
        act.bias.fill_(0.7)
        blocks.bias.fill_(0.7)
    x = torch.randn(3, 8, 5, 5, dtype=F64, generator=_gen(2))
    assert torch.allclose(act(x), blocks(x), atol=1e-14)
    assert float((act(x) - x).detach().abs().max()) > 0.1  # it does something


def test_induced_norm_bad_input():
    gs = rot2dOnR2(4)
    with pytest.raises(ValueError, match="block permutations"):
        InducedNormNonLinearity(FieldType(gs, [gs.regular_repr]), 2)  # regular = 4 blocks of 1, not 2 of 2
    c8 = rot2dOnR2(8)
    with pytest.raises(ValueError, match="block permutations"):  # 45-degree rotations mix the two components
        InducedNormNonLinearity(FieldType(c8, [c8.irrep(1), c8.irrep(1)]), [2, 1])
    InducedNormNonLinearity(FieldType(gs, [gs.irrep(1)]), 1)  # quarter turns: signed permutations, blocks of 1 ok
    with pytest.raises(ValueError, match="cannot be cut"):
        InducedNormNonLinearity(FieldType(gs, [gs.irrep(1)]), 3)
    with pytest.raises(ValueError, match="one int per field"):
        InducedNormNonLinearity(FieldType(gs, [gs.irrep(1)]), [2, 2])
    with pytest.raises(ValueError, match="unknown function"):
        InducedNormNonLinearity(FieldType(gs, [gs.irrep(1)]), 2, "p_relu")
    act = InducedNormNonLinearity(FieldType(gs, [gs.irrep(1)]), 2)
    with pytest.raises(ValueError, match="expected input of type"):
        act(torch.randn(1, 3, 4, 4))


def test_induced_norm_zero_input_finite_gradients():
    gs = rot2dOnR2(4)
    with float64_default():
        act = InducedNormNonLinearity(FieldType(gs, [gs.regular_repr.tensor(gs.irrep(1))]), 2)
    x = torch.zeros(1, 8, 2, 2, dtype=F64, requires_grad=True)
    (g,) = torch.autograd.grad(act(x).pow(2).sum() + act(x).sum(), x)
    assert torch.isfinite(g).all()


# ----------------------------------------------------------------------------- tensor product
def _tp_types():
    c4, so2, o2, so3, o3 = rot2dOnR2(4), rot2dOnR2(-1), flipRot2dOnR2(-1), rot3dOnR3(), flipRot3dOnR3()
    return {
        "C4": (FieldType(c4, [c4.regular_repr, c4.irrep(1)]), FieldType(c4, [c4.regular_repr, c4.irrep(2)]), 2),
        "SO2": (FieldType(so2, [so2.irrep(0), so2.irrep(1)]), FieldType(so2, [so2.irrep(0), so2.irrep(2)]), 2),
        "O2": (FieldType(o2, [o2.irrep(1, 1), o2.irrep(1, 0)]), FieldType(o2, [o2.irrep(1, 2), o2.irrep(1, 1)]), 2),
        "SO3": (FieldType(so3, [so3.irrep(0), so3.irrep(1)]), FieldType(so3, [so3.irrep(1), so3.irrep(2)]), 3),
        "O3": (FieldType(o3, [o3.irrep(0, 1), o3.irrep(1, -1)]), FieldType(o3, [o3.irrep(1, -1), o3.irrep(0, 1)]), 3),
    }


@pytest.mark.parametrize("name", ["C4", "SO2", "O2", "SO3", "O3"])
def test_tensor_product_exactly_equivariant(name):
    ft_in, ft_out, d = _tp_types()[name]
    torch.manual_seed(0)
    with float64_default():
        tp = TensorProductNonLinearity(ft_in, ft_out, bias=True)
    x = torch.randn(2, ft_in.size, *([4] * d), dtype=F64, generator=_gen(0))
    assert field_equivariance_error(tp, x, grid_symmetries(ft_in.gspace)) <= 1e-10
    assert fibre_error(tp, x, _elements(ft_in.gspace)) <= 1e-10
    assert tp(x).shape == (2, ft_out.size, *([4] * d))


def test_tensor_product_is_quadratic_and_normalised():
    ft_in, ft_out, _ = _tp_types()["SO2"]
    torch.manual_seed(0)
    tp = TensorProductNonLinearity(ft_in, ft_out).double()
    x = torch.randn(64, ft_in.size, 4, 4, dtype=F64, generator=_gen(1))
    with torch.no_grad():
        y = tp(x)
        assert torch.allclose(tp(2 * x), 4 * y, atol=1e-10)
        assert torch.allclose(tp(-x), y, atol=1e-12)
    assert 0.2 < float(y.pow(2).mean()) < 5.0
    # float32
    y32 = copy.deepcopy(tp).float()(x.float())
    assert y32.dtype == torch.float32 and torch.allclose(y32.double(), y, atol=1e-4)


def test_tensor_product_bad_input():
    gs = rot2dOnR2(-1)
    with pytest.raises(ValueError, match="occur in no"):
        TensorProductNonLinearity(FieldType(gs, [gs.irrep(1)]), FieldType(gs, [gs.irrep(1)]))
    with pytest.raises(ValueError, match="out_type"):
        TensorProductNonLinearity(FieldType(gs, [gs.irrep(1)]), FieldType(rot2dOnR2(4), [rot2dOnR2(4).irrep(0)]))
    tp = TensorProductNonLinearity(FieldType(gs, [gs.irrep(1)]), FieldType(gs, [gs.irrep(0)]))
    with pytest.raises(ValueError, match="expected input of type"):
        tp(torch.randn(1, 3, 4, 4))
