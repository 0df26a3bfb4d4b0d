"""BatchNorm: e3nn's values in train and eval mode (running statistics included), equivariance under O(3),
normalisation, finite gradients at zero, bad input."""

import pytest
import torch

from steertorch import o3
from steertorch.nn import BatchNorm

IRREPS = "4x0e + 2x0o + 3x1o + 2x2e + 1x1e"


def _o3_elements(n, seed=0):
    R = o3.rand_matrix(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    signs = torch.tensor([(-1.0) ** k for k in range(n)], dtype=torch.float64)
    return R * signs[:, None, None]


def _features(irreps, *shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = o3.Irreps(irreps).randn(*shape, -1, dtype=torch.float64, generator=g)
    return 2.5 * x + 0.7  # non-zero mean and non-unit variance


OPTIONS = [
    dict(),
    dict(reduce="max"),
    dict(normalization="norm"),
    dict(affine=False),
    dict(include_bias=False),
    dict(instance=True),
    dict(instance=True, reduce="max", normalization="norm"),
    dict(momentum=0.3, eps=1e-3),
]


@pytest.mark.parametrize("options", OPTIONS, ids=[str(o) for o in OPTIONS])
def test_matches_e3nn_train_and_eval(options):
    e3nn_nn = pytest.importorskip("e3nn.nn")
    theirs = e3nn_nn.BatchNorm(IRREPS, **options).double()
    ours = BatchNorm(IRREPS, **options).double()
    if options.get("affine", True):
        with torch.no_grad():
            theirs.weight.normal_()
            if options.get("include_bias", True):
                theirs.bias.normal_()
    ours.load_state_dict(theirs.state_dict())
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
    for step in range(3):
        x = _features(IRREPS, 16, 5, seed=step)
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-12, atol=1e-12)
    for a, b in zip(ours.buffers(), theirs.buffers()):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    ours.eval()
    theirs.eval()
    x = _features(IRREPS, 7, seed=10)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("options", [dict(), dict(instance=True), dict(reduce="max", normalization="norm")])
def test_equivariance(training, options):
    bn = BatchNorm(IRREPS, **options).double()
    with torch.no_grad():
        bn.weight.normal_()
        bn.bias.normal_()
    if not training:
        bn(_features(IRREPS, 32, 3, seed=5))  # non-trivial running statistics
        bn.eval()
    irreps = o3.Irreps(IRREPS)
    x = _features(IRREPS, 8, 3, seed=1)
    # one O(3) element per sample (the statistics are invariant even then), shared by its middle dimension
    D = irreps.D_from_matrix(_o3_elements(8))[:, None]
    lhs = bn(torch.einsum("nsij,nsj->nsi", D, x))
    rhs = torch.einsum("nsij,nsj->nsi", D, bn(x))
    assert float((lhs - rhs).detach().abs().max()) <= 1e-10


@pytest.mark.parametrize("normalization", ["component", "norm"])
def test_output_normalised_in_training(normalization):
    bn = BatchNorm(IRREPS, normalization=normalization).double()
    x = _features(IRREPS, 512, seed=3)
    y = bn(x).detach()
    irreps = o3.Irreps(IRREPS)
    for (mul, ir), sl in zip(irreps, irreps.slices()):
        block = y[:, sl].reshape(-1, mul, ir.dim)
        if ir.is_scalar():
            assert float(block.mean(0).abs().max()) < 1e-10
        per_copy = block.pow(2).sum(-1).mean(0)
        expected = 1.0 if normalization == "norm" else float(ir.dim)
        torch.testing.assert_close(per_copy, torch.full_like(per_copy, expected), rtol=1e-3, atol=0)
    assert 0.8 < float(y.pow(2).mean()) < 1.2 or normalization == "norm"


def test_running_statistics_converge():
    bn = BatchNorm("2x0e + 1x1o", momentum=0.5).double()
    for step in range(30):
        bn(torch.randn(256, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(step)) * 2 + 1)
    # 0e: mean 1, variance 4; 1o: no centring, mean square per component 4 + 1
    torch.testing.assert_close(bn.running_mean, torch.ones(2, dtype=torch.float64), atol=0.3, rtol=0)
    torch.testing.assert_close(bn.running_var, torch.tensor([4.0, 4.0, 5.0], dtype=torch.float64), atol=0.8, rtol=0)


@pytest.mark.parametrize("training", [True, False])
def test_zero_input_gradients_finite(training):
    bn = BatchNorm(IRREPS).double()
    bn.train(training)
    x = torch.zeros(4, o3.Irreps(IRREPS).dim, dtype=torch.float64, requires_grad=True)
    y = bn(x)
    assert torch.isfinite(y).all()
    (g,) = torch.autograd.grad(y.pow(2).sum() + y.sum(), x, create_graph=True)
    assert torch.isfinite(g).all()
    (gg,) = torch.autograd.grad(g.sum(), x)
    assert torch.isfinite(gg).all()


def test_bad_input():
    bn = BatchNorm("2x0e + 1x1o")
    with pytest.raises(ValueError, match=r"expected features \[batch, \.\.\., 5\] of irreps 2x0e\+1x1o, got shape"):
        bn(torch.randn(4, 6))
    with pytest.raises(ValueError, match=r"got shape \[5\]"):
        bn(torch.randn(5))
    with pytest.raises(ValueError, match="reduce"):
        BatchNorm("2x0e", reduce="sum")
    with pytest.raises(ValueError, match="normalization"):
        BatchNorm("2x0e", normalization="integral")


def test_float32():
    bn = BatchNorm("2x0e + 1x1o")
    assert bn(torch.randn(8, 3, 5)).dtype == torch.float32
