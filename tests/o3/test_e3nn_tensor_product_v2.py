"""e3nn's experimental weightless tensor products (``FullTensorProductv2``, ``ElementwiseTensorProductv2``): e3nn
0.6's irreps_out, values and state-dict keys on the same float64 inputs; equivariance; module rules."""

import copy
import pickle

import pytest
import torch

from steertorch import o3
from steertorch.o3.experimental import ElementwiseTensorProductv2, FullTensorProductv2

e3o3 = pytest.importorskip("e3nn.o3")
e3exp = pytest.importorskip("e3nn.o3.experimental")

F64 = torch.float64


# e3nn builds its constants in the default dtype: float64 for exact reference values
pytestmark = pytest.mark.usefixtures("float64_default")


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


FULL = [("2x1o + 0e + 3x2e", "1o + 0e + 1e", {}), ("2x1o + 1x0e", "3x1e + 2x0o", {"filter_ir_out": "0e + 1o + 2e"}),
        ("1o + 2x0e + 1o", "0e + 2e", {"irrep_normalization": "norm"}), ("0e", "0e", {})]
ELEMENTWISE = [("2x1o + 0e", "1o + 2x0e", {}), ("3x1o", "1x0e + 2x2e", {"irrep_normalization": "norm"}),
               ("2x0e + 1x1e", "1o + 2x1o", {"filter_ir_out": "0o + 1e"})]


def _theirs_kwargs(kw):
    kw = dict(kw)
    if "filter_ir_out" in kw:
        kw["filter_ir_out"] = e3o3.Irreps(kw["filter_ir_out"])
    return kw


@pytest.mark.parametrize("cls,e3cls,cases", [(FullTensorProductv2, "FullTensorProductv2", FULL),
                                             (ElementwiseTensorProductv2, "ElementwiseTensorProductv2", ELEMENTWISE)])
def test_match_e3nn(cls, e3cls, cases):
    for a, b, kw in cases:
        ours = cls(a, b, **kw)
        theirs = getattr(e3exp, e3cls)(e3o3.Irreps(a), e3o3.Irreps(b), **_theirs_kwargs(kw))
        assert str(ours.irreps_out) == str(theirs.irreps_out)
        assert str(ours.irreps_in1) == str(theirs.irreps_in1) and str(ours.irreps_in2) == str(theirs.irreps_in2)
        x = torch.randn(4, 1, ours.irreps_in1.dim, generator=_gen())
        y = torch.randn(3, ours.irreps_in2.dim, generator=_gen(1))  # leading dimensions broadcast
        assert float((ours(x, y) - theirs(x, y)).abs().max()) < 1e-14
        sd = theirs.state_dict()
        assert set(ours.state_dict()) == set(sd)
        for k, v in ours.state_dict().items():
            assert float((v - sd[k]).abs().max()) < 1e-14


def test_the_names():
    assert o3.FullTensorProductv2 is FullTensorProductv2 and o3.experimental.FullTensorProductv2 is FullTensorProductv2


@pytest.mark.parametrize("make", [lambda: FullTensorProductv2("2x1o + 0e + 2e", "1o + 1e"),
                                  lambda: ElementwiseTensorProductv2("2x1o + 0e", "1e + 2x2o")])
def test_equivariance_and_module_rules(make):
    tp = make()
    R = o3.rand_matrix(generator=_gen(3))
    R = -R  # an improper rotation: parities are tested too
    D1, D2, Do = (ir.D_from_matrix(R) for ir in (tp.irreps_in1, tp.irreps_in2, tp.irreps_out))
    x = torch.randn(5, tp.irreps_in1.dim, generator=_gen())
    y = torch.randn(5, tp.irreps_in2.dim, generator=_gen(1))
    assert float((tp(x @ D1.T, y @ D2.T) - tp(x, y) @ Do.T).abs().max()) < 1e-12
    for clone in (copy.deepcopy(tp), pickle.loads(pickle.dumps(tp))):
        assert torch.equal(clone(x, y), tp(x, y))
    x0 = torch.randn(0, tp.irreps_in1.dim, requires_grad=True)
    out = tp(x0, torch.randn(0, tp.irreps_in2.dim))
    assert out.shape == (0, tp.irreps_out.dim)
    out.sum().backward()
    with pytest.raises(ValueError):
        tp(x.float(), y.float())
    with pytest.raises(ValueError):
        tp(x[:, 1:], y)
    assert tp.float()(x.float(), y.float()).dtype == torch.float32


def test_errors():
    with pytest.raises(ValueError):
        ElementwiseTensorProductv2("2x1o", "3x0e")
    with pytest.raises(ValueError):
        FullTensorProductv2("1o", "1o", irrep_normalization="none")
