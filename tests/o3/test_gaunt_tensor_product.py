"""GauntTensorProduct: the FFT method equals the dense Gaunt coefficients, which are Clebsch-Gordan paths l1 + l2 + l3
even with positive weights (our TensorProduct and e3nn's give the same), and the product of functions on the sphere."""

import copy
import math
import pickle

import pytest
import torch

from steertorch.o3 import (
    GauntTensorProduct,
    Irreps,
    TensorProduct,
    gaunt_coefficients,
    rand_matrix,
    spherical_harmonics,
    wigner_3j,
)

pytestmark = pytest.mark.usefixtures("float64_seeded")


def _sh_irreps(mul, lmax):
    return Irreps([(mul, (l, (-1) ** l)) for l in range(lmax + 1)])


def _path_weights(lmax1, lmax2, lmax_out, normalization="component"):
    """g(l1, l2, l3) with G = g * wigner_3j, read off the dense Gaunt coefficients; checks the rest of G is 0."""
    G = gaunt_coefficients(lmax1, lmax2, lmax_out, normalization)
    g = {}
    for l1 in range(lmax1 + 1):
        for l2 in range(lmax2 + 1):
            for l3 in range(lmax_out + 1):
                block = G[l1 * l1:(l1 + 1) ** 2, l2 * l2:(l2 + 1) ** 2, l3 * l3:(l3 + 1) ** 2]
                if not abs(l1 - l2) <= l3 <= l1 + l2 or (l1 + l2 + l3) % 2:
                    assert block.abs().max() <= 1e-13, (l1, l2, l3)
                    continue
                c = wigner_3j(l1, l2, l3, dtype=torch.float64)
                g[l1, l2, l3] = float((block * c).sum())
                assert (block - g[l1, l2, l3] * c).abs().max() <= 1e-13, (l1, l2, l3)
    return g


def test_gaunt_coefficients_are_clebsch_gordan_paths_with_even_sum():
    g = _path_weights(4, 4, 6)
    assert min(g.values()) > 0.1  # every even path present, with a positive weight
    assert g[0, 3, 3] == pytest.approx(math.sqrt(7))  # Y_0 = 1: the identity on degree 3, norm sqrt(2l + 1)
    assert g[1, 1, 2] == pytest.approx(math.sqrt(6))


@pytest.mark.parametrize("normalization", ["component", "norm", "integral"])
@pytest.mark.parametrize("lmax", [(1, 2, None), (3, 2, 2), (4, 4, 4), (0, 3, 3)])
def test_fft_equals_dense_values_gradients_double_backward(lmax, normalization):
    g = torch.Generator().manual_seed(0)
    l1, l2, lo = lmax
    fft = GauntTensorProduct(_sh_irreps(3, l1), _sh_irreps(3, l2), lo, normalization)
    dense = GauntTensorProduct(_sh_irreps(3, l1), _sh_irreps(3, l2), lo, normalization, method="dense")
    assert fft.irreps_out == dense.irreps_out == _sh_irreps(3, l1 + l2 if lo is None else lo)
    x = torch.randn(6, fft.irreps_in1.dim, generator=g, requires_grad=True)
    y = torch.randn(6, fft.irreps_in2.dim, generator=g, requires_grad=True)
    grad_out = torch.randn(6, fft.irreps_out.dim, generator=g)

    def derivatives(module):
        out = module(x, y)
        gx, gy = torch.autograd.grad((out * grad_out).sum(), [x, y], create_graph=True)
        return [out, gx, gy, *torch.autograd.grad(gx.pow(2).sum() + gy.pow(2).sum(), [x, y])]

    for a, b in zip(derivatives(fft), derivatives(dense)):
        assert (a - b).abs().max() <= 1e-13 * max(1.0, b.abs().max().item())


def test_high_degree():
    fft, dense = (GauntTensorProduct(8, 8, 8, method=m) for m in ("fft", "dense"))
    x, y = torch.randn(4, 81), torch.randn(4, 81)
    ref = dense(x, y)
    assert (fft(x, y) - ref).abs().max() <= 1e-12 * ref.abs().max()


def test_equals_the_tensor_product_with_the_gaunt_paths():
    """The same product as a TensorProduct: "uuu" paths l1 + l2 + l3 even, weights g (no normalisation)."""
    mul, l1, l2, lo = 2, 2, 3, 3
    g = _path_weights(l1, l2, lo)
    i1, i2, io = _sh_irreps(mul, l1), _sh_irreps(mul, l2), _sh_irreps(mul, lo)
    ins = [(a, b, c, "uuu", False, g[a, b, c] ** 2) for (a, b, c) in g]
    tp = TensorProduct(i1, i2, io, ins, irrep_normalization="none", path_normalization="none")
    gaunt = GauntTensorProduct(i1, i2, io)
    x, y = torch.randn(5, i1.dim), torch.randn(5, i2.dim)
    ref = tp(x, y)
    assert (gaunt(x, y) - ref).abs().max() <= 1e-13 * ref.abs().max()
    e3nn_o3 = pytest.importorskip("e3nn.o3")
    theirs = e3nn_o3.TensorProduct(str(i1), str(i2), str(io), ins, irrep_normalization="none",
                                   path_normalization="none").double()
    assert (theirs(x, y) - ref).abs().max() <= 1e-13 * ref.abs().max()


@pytest.mark.parametrize("normalization", ["component", "integral"])
def test_is_the_product_of_functions_on_the_sphere(normalization):
    """With lmax_out = lmax1 + lmax2 nothing is truncated: sum z_LM Y_LM(s) = f(s) g(s) at every point."""
    l1, l2 = 3, 2
    tp = GauntTensorProduct(l1, l2, normalization=normalization)
    x, y = torch.randn(l1 * l1 + 2 * l1 + 1), torch.randn((l2 + 1) ** 2)
    pts = torch.randn(50, 3)
    lmax = l1 + l2

    def values(coef, l):
        return spherical_harmonics(list(range(l + 1)), pts, normalization=normalization) @ coef

    assert (values(tp(x, y), lmax) - values(x, l1) * values(y, l2)).abs().max() <= 1e-12


@pytest.mark.parametrize("improper", [False, True])
def test_equivariance(improper):
    tp = GauntTensorProduct(_sh_irreps(2, 3), _sh_irreps(2, 2), 4)
    x, y = torch.randn(5, tp.irreps_in1.dim), torch.randn(5, tp.irreps_in2.dim)
    out = tp(x, y)
    R = rand_matrix(dtype=torch.float64) * (-1 if improper else 1)
    d1, d2, do = (i.D_from_matrix(R) for i in (tp.irreps_in1, tp.irreps_in2, tp.irreps_out))
    assert (tp(x @ d1.T, y @ d2.T) - out @ do.T).abs().max() <= 1e-12


def test_batches_plain_data_and_errors():
    tp = GauntTensorProduct(_sh_irreps(2, 2), _sh_irreps(2, 1), 2)
    x = torch.randn(0, tp.irreps_in1.dim, requires_grad=True)
    out = tp(x, torch.randn(0, tp.irreps_in2.dim))
    assert out.shape == (0, tp.irreps_out.dim)
    out.sum().backward()
    x, y = torch.randn(3, 1, tp.irreps_in1.dim), torch.randn(4, tp.irreps_in2.dim)  # broadcast
    out = tp(x, y)
    assert out.shape == (3, 4, tp.irreps_out.dim)
    assert (out[1, 2] - tp(x[1, 0], y[2])).abs().max() <= 1e-14
    assert tp.state_dict() == {} and list(tp.parameters()) == []
    for twin in (pickle.loads(pickle.dumps(tp)), copy.deepcopy(tp), copy.deepcopy(tp).float().double()):
        assert (twin(x, y) - out).abs().max() <= 1e-13
    with pytest.raises(ValueError, match="dtype"):
        copy.deepcopy(tp).float()(x, y)
    with pytest.raises(ValueError, match="functions on the sphere"):
        GauntTensorProduct("2x0e + 2x1e", "2x0e")
    with pytest.raises(ValueError, match="functions on the sphere"):
        GauntTensorProduct("2x0e + 2x2e", "2x0e")
    with pytest.raises(ValueError, match="multiplicity"):
        GauntTensorProduct("2x0e", "3x0e")
    with pytest.raises(ValueError, match="method"):
        GauntTensorProduct(1, 1, method="grid")
    with pytest.raises(ValueError, match="last dim"):
        tp(torch.randn(2, 5), torch.randn(2, tp.irreps_in2.dim))
