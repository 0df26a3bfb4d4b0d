"""SO2TensorProduct (eSCN): equal to the tensor product it replaces, values and derivatives of every order used."""

import copy
import pickle

import pytest
import torch

from steertorch.o3 import (
    FullyConnectedTensorProduct,
    Irreps,
    Linear,
    SO2TensorProduct,
    TensorProduct,
    rand_matrix,
    spherical_harmonics,
)

pytestmark = pytest.mark.usefixtures("float64_seeded")

IRREPS_IN = "3x0e + 2x0o + 2x1o + 1x1e + 2x2e + 1x3o"


def _uvu(irreps_in, lmax_sh, shared=False):
    """A point convolution's product: one "uvu" path per (input block, harmonic, output irrep)."""
    irreps_in, sh = Irreps(irreps_in), Irreps.spherical_harmonics(lmax_sh)
    mid, ins = [], []
    for i, (mul, ir) in enumerate(irreps_in):
        for j, (_, ir_sh) in enumerate(sh):
            for ir_out in ir * ir_sh:
                ins.append((i, j, len(mid), "uvu", True))
                mid.append((mul, ir_out))
    return TensorProduct(irreps_in, sh, Irreps(mid), ins, shared_weights=shared, internal_weights=shared)


def _vectors(n, g):
    """Random vectors, and the hard ones: zero, the poles +-e_y (and near them), the chart boundary, tiny, large."""
    special = torch.tensor([[0.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, -0.5, 0.0], [1e-9, 1.0, -1e-9],
                            [1.0, 1.0, 0.0], [0.0, -1.0, 1.0], [1e-7, 2e-7, -1e-7], [1e3, -2e3, 5e2]])
    return torch.cat([special, torch.randn(n, 3, generator=g)])


def _reference(tp, normalization="component", linear=None):
    def f(x, vec, w, lw=None):
        out = tp(x, spherical_harmonics(tp.irreps_in2, vec, normalization=normalization), w)
        return out if linear is None else torch.nn.functional.linear(out, _linear_matrix(linear, lw).T)
    return f


def _linear_matrix(linear, weight):
    """The matrix of ``linear`` with weights ``weight`` (differentiable in them)."""
    eye = torch.eye(linear.irreps_in.dim, dtype=weight.dtype)
    saved = linear.weight
    try:
        del linear.weight
        linear.weight = weight
        return linear(eye)
    finally:
        del linear.weight
        linear.weight = saved


def _derivatives(f, inputs, g):
    """Output, first derivatives of <out, g>, and the derivatives of a function of those (double backward)."""
    out = f(*inputs)
    first = torch.autograd.grad((out * g).sum(), inputs, create_graph=True)
    second = torch.autograd.grad(sum((d * d).sum() for d in first), inputs)
    return [out, *first, *second]


def _assert_close(ours, ref, rtol):
    for a, b in zip(ours, ref):
        scale = max(b.abs().max().item(), 1.0)
        assert (a - b).abs().max().item() <= rtol * scale, ((a - b).abs().max().item(), scale)


CASES = {
    "uvw shared (SEGNN)": lambda: FullyConnectedTensorProduct(IRREPS_IN, "0e + 1o + 2e + 3o",
                                                              "2x0e + 1x0o + 2x1o + 1x1e + 2x2e + 1x2o + 1x3o + 1x4e"),
    "uvw per sample": lambda: FullyConnectedTensorProduct("2x0e + 1x1o + 1x2e", "1o + 2e", "1x0e + 2x1o + 1x2o + 1x3o",
                                                          shared_weights=False, internal_weights=False),
    "uvu per sample (PointConv)": lambda: _uvu(IRREPS_IN, 3),
    "uvu shared": lambda: _uvu("2x0e + 1x1o + 1x2e", 2, shared=True),
}


@pytest.mark.parametrize("name", list(CASES))
def test_equals_the_tensor_product_values_gradients_double_backward(name):
    g = torch.Generator().manual_seed(1)
    tp = CASES[name]()
    so2 = SO2TensorProduct(tp)
    vec = _vectors(20, g).requires_grad_()
    x = torch.randn(vec.shape[0], tp.irreps_in1.dim, generator=g).requires_grad_()
    w = (tp.weight.detach().clone() if tp.shared_weights
         else torch.randn(vec.shape[0], tp.weight_numel, generator=g)).requires_grad_()
    grad_out = torch.randn(vec.shape[0], tp.irreps_out.dim, generator=g)
    ours = _derivatives(so2, [x, vec, w], grad_out)
    ref = _derivatives(_reference(tp), [x, vec, w], grad_out)
    assert ref[0].abs().max() > 1
    # values and gradients to 1e-13, second derivatives to 1e-11 (they grow as 1/|r|^2: the 1e-7 vector)
    _assert_close(ours[:4], ref[:4], 1e-13)
    _assert_close(ours[4:], ref[4:], 1e-11)
    assert all(torch.isfinite(t).all() for t in ours)


def test_with_the_linear_map_after_it():
    """linear=: linear(tp(...)), derivatives with respect to the linear map's weights included."""
    g = torch.Generator().manual_seed(2)
    tp = _uvu(IRREPS_IN, 4)
    lin = Linear(tp.irreps_out, "3x0e + 1x0o + 2x1o + 2x1e + 2x2e + 1x3o + 1x4e + 1x5o")  # 5o: no path reaches it
    so2 = SO2TensorProduct(tp, linear=lin)
    assert so2.irreps_out == lin.irreps_out
    vec = _vectors(12, g).requires_grad_()
    x = torch.randn(vec.shape[0], tp.irreps_in1.dim, generator=g).requires_grad_()
    w = torch.randn(vec.shape[0], tp.weight_numel, generator=g).requires_grad_()
    lw = lin.weight.detach().clone().requires_grad_()
    grad_out = torch.randn(vec.shape[0], lin.irreps_out.dim, generator=g)
    ours = _derivatives(so2, [x, vec, w, lw], grad_out)
    ref = _derivatives(_reference(tp, linear=lin), [x, vec, w, lw], grad_out)
    _assert_close(ours[:5], ref[:5], 1e-13)
    _assert_close(ours[5:], ref[5:], 1e-11)


@pytest.mark.parametrize("normalization", ["norm", "integral"])
def test_normalizations(normalization):
    g = torch.Generator().manual_seed(3)
    tp = CASES["uvw shared (SEGNN)"]()
    so2 = SO2TensorProduct(tp, normalization)
    vec = _vectors(10, g)
    x = torch.randn(vec.shape[0], tp.irreps_in1.dim, generator=g)
    _assert_close([so2(x, vec, tp.weight)], [_reference(tp, normalization)(x, vec, tp.weight)], 1e-13)


def test_high_degree():
    """l = 8 features and harmonics (the recurrences of cos m alpha, the constant Wigner matrices)."""
    g = torch.Generator().manual_seed(4)
    tp = _uvu("2x0e + 1x3o + 1x5o + 1x8e", 8)
    so2 = SO2TensorProduct(tp)
    vec = _vectors(6, g)
    x = torch.randn(vec.shape[0], tp.irreps_in1.dim, generator=g)
    w = torch.randn(vec.shape[0], tp.weight_numel, generator=g)
    _assert_close([so2(x, vec, w)], [_reference(tp)(x, vec, w)], 1e-12)


@pytest.mark.parametrize("improper", [False, True])
def test_equivariance(improper):
    """so2(D_in x, R r) = D_out so2(x, r), parity included (checked directly, not only through the equality)."""
    g = torch.Generator().manual_seed(5)
    tp = CASES["uvw shared (SEGNN)"]()
    so2 = SO2TensorProduct(tp)
    vec = _vectors(10, g)
    x = torch.randn(vec.shape[0], tp.irreps_in1.dim, generator=g)
    out = so2(x, vec, tp.weight)
    for _ in range(3):
        R = rand_matrix(generator=g, dtype=torch.float64) * (-1 if improper else 1)
        d_in, d_out = tp.irreps_in1.D_from_matrix(R), tp.irreps_out.D_from_matrix(R)
        assert (so2(x @ d_in.T, vec @ R.T, tp.weight) - out @ d_out.T).abs().max() <= 1e-12


def test_zero_vectors_only_l0_paths_and_zero_gradient():
    tp = CASES["uvu per sample (PointConv)"]()
    so2 = SO2TensorProduct(tp)
    vec = torch.zeros(3, 3, requires_grad=True)
    x = torch.randn(3, tp.irreps_in1.dim, requires_grad=True)
    w = torch.randn(3, tp.weight_numel)
    out = so2(x, vec, w)
    y0 = torch.zeros(tp.irreps_in2.dim)
    y0[0] = 1.0
    assert (out - tp(x, y0.expand(3, -1), w)).abs().max() <= 1e-13
    gv, gx = torch.autograd.grad(out.pow(2).sum(), [vec, x], create_graph=True)
    assert torch.equal(gv, torch.zeros_like(gv)) and torch.isfinite(gx).all()
    (h,) = torch.autograd.grad((gx * gx).sum() + gv.sum(), [vec], allow_unused=True)
    assert h is None or torch.equal(h, torch.zeros_like(h))


@pytest.mark.parametrize("name", ["uvw shared (SEGNN)", "uvu per sample (PointConv)"])
def test_no_vectors_and_batch_shapes(name):
    tp = CASES[name]()
    so2 = SO2TensorProduct(tp)
    w = tp.weight if tp.shared_weights else torch.randn(0, tp.weight_numel, requires_grad=True)
    x = torch.randn(0, tp.irreps_in1.dim, requires_grad=True)
    out = so2(x, torch.zeros(0, 3), w)
    assert out.shape == (0, tp.irreps_out.dim)
    out.sum().backward()
    assert torch.equal(x.grad, torch.zeros_like(x))
    if not tp.shared_weights:  # leading dimensions broadcast, as the tensor product's
        x = torch.randn(2, 3, tp.irreps_in1.dim)
        vec = torch.randn(3, 3)
        w = torch.randn(2, 1, tp.weight_numel)
        assert (so2(x, vec, w) - _reference(tp)(x, vec, w)).abs().max() <= 1e-12


def test_plain_data_no_state_and_float64_masters():
    tp = CASES["uvu per sample (PointConv)"]()
    so2 = SO2TensorProduct(tp)
    assert so2.state_dict() == {} and list(so2.parameters()) == []
    x, vec, w = torch.randn(4, tp.irreps_in1.dim), torch.randn(4, 3), torch.randn(4, tp.weight_numel)
    out = so2(x, vec, w)
    for twin in (pickle.loads(pickle.dumps(so2)), copy.deepcopy(so2)):
        assert torch.equal(twin(x, vec, w), out)
    # a float32 copy moved back to float64 is float64-exact (constants re-derived from their masters)
    back = copy.deepcopy(so2).float().double()
    assert (back(x, vec, w) - out).abs().max() <= 1e-13
    with pytest.raises(ValueError, match="dtype"):
        so2.float()(x, vec, w)


def test_bad_arguments():
    with pytest.raises(ValueError, match="spherical harmonics"):
        SO2TensorProduct(FullyConnectedTensorProduct("1o", "2x1o", "1e"))
    with pytest.raises(ValueError, match="weighted"):
        SO2TensorProduct(TensorProduct("2x1o", "1o", "2x1e", [(0, 0, 0, "uvu", False)]))
    tp = _uvu("1o", 1)
    with pytest.raises(ValueError, match="without biases"):
        SO2TensorProduct(tp, linear=Linear(tp.irreps_out, "2x0e", biases=True))
    with pytest.raises(ValueError, match="normalization"):
        SO2TensorProduct(tp, "unit")
    so2 = SO2TensorProduct(tp)
    with pytest.raises(ValueError, match="vectors"):
        so2(torch.randn(2, 3), torch.randn(2, 2), torch.randn(2, tp.weight_numel))
    with pytest.raises(ValueError, match="weight"):
        so2(torch.randn(2, 3), torch.randn(2, 3), torch.randn(2, tp.weight_numel + 1))
    with pytest.raises(ValueError, match="linear_weight"):
        so2(torch.randn(2, 3), torch.randn(2, 3), torch.randn(2, tp.weight_numel), torch.randn(3))
