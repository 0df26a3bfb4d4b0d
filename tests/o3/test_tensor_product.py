"""Tensor products: O(3) equivariance (improper elements included), e3nn conformance, normalisation at init,
gradients (double backward, zero-length vectors), torch.compile, bad input and ``right``."""


import pytest
import torch
from _equivariance_helpers import check_irreps_equivariant, default_dtype, gen

from steertorch import o3
from steertorch.o3 import (
    ElementwiseTensorProduct,
    FullTensorProduct,
    FullyConnectedTensorProduct,
    Irreps,
    TensorProduct,
    TensorSquare,
    load_e3nn_state_dict,
)

# ----------------------------------------------------------------------------- a product in every mode
IN1 = "3x0e + 3x1o + 2x2e"
IN2 = "3x0e + 3x1o + 2x1e"
OUT = "4x0e + 3x1o + 3x1e + 9x1o + 1x2e + 2x3e"
ALL_MODES = [
    (1, 1, 0, "uvw", True),
    (0, 0, 0, "uvw", True),
    (1, 0, 1, "uvu", True, 0.5),
    (1, 0, 1, "uvu", False),
    (0, 1, 1, "uvv", True),
    (0, 1, 1, "uvv", False),
    (1, 1, 2, "uuu", True),
    (1, 1, 2, "uuu", False),
    (1, 1, 2, "uvu<v", True),
    (1, 1, 2, "uvu<v", False),
    (0, 1, 3, "uvuv", True),
    (0, 1, 3, "uvuv", False, 2.0),
    (1, 1, 0, "uuw", True),
    (1, 1, 4, "uuw", False),
    (1, 1, 0, "u<vw", True),
    (2, 2, 5, "uuu", True),
    (2, 2, 5, "uvu", True),
    (2, 2, 4, "uvw", True),
]
MODES = ["uvw", "uvu", "uvv", "uuw", "uuu", "uvuv", "uvu<v", "u<vw"]


def test_the_custom_product_covers_every_mode():
    assert {ins[3] for ins in ALL_MODES} == set(MODES)


def _variants():
    """(name, factory) of every product tested for equivariance, conformance and normalisation."""
    return {
        "custom_all_modes": lambda **kw: TensorProduct(IN1, IN2, OUT, ALL_MODES, **kw),
        "fully_connected": lambda **kw: FullyConnectedTensorProduct("3x0e + 2x1o + 2e + 0o", "0e + 1o + 2e",
                                                                    "2x0e + 3x1o + 2x1e + 2e + 2o", **kw),
        "elementwise": lambda **kw: ElementwiseTensorProduct("3x0e + 2x1o + 1x2e", "1x1o + 4x1e + 1x0o", **kw),
        "full": lambda **kw: FullTensorProduct("2x0e + 2x1o + 1x2e", "0e + 1o + 2x1e", **kw),
        "square": lambda **kw: TensorSquare("2x0e + 3x1o + 1x2e", **kw),
        "square_weighted": lambda **kw: TensorSquare("2x0e + 3x1o + 1x2e", "3x0e + 2x1e + 1x1o + 2x2e", **kw),
    }


VARIANTS = list(_variants())


def _inputs(tp, batch=4, seed=0, dtype=torch.float64):
    g = gen(seed)
    x = tp.irreps_in1.randn(batch, -1, generator=g, dtype=dtype)
    if isinstance(tp, TensorSquare):
        return [x]
    return [x, tp.irreps_in2.randn(batch, -1, generator=g, dtype=dtype)]


@pytest.mark.parametrize("name", VARIANTS)
def test_equivariance_shared_weights(name):
    with default_dtype(torch.float64):
        tp = _variants()[name]()
    ins = _inputs(tp)
    irreps_in = [tp.irreps_in1] if len(ins) == 1 else [tp.irreps_in1, tp.irreps_in2]
    err = check_irreps_equivariant(tp, irreps_in, tp.irreps_out, ins)
    assert err <= 1e-10


@pytest.mark.parametrize("name", ["custom_all_modes", "fully_connected", "square_weighted"])
def test_equivariance_per_sample_weights(name):
    with default_dtype(torch.float64):
        tp = _variants()[name](shared_weights=False)
    assert not tp.internal_weights and tp.weight_numel > 0
    ins = _inputs(tp)
    w = torch.randn(4, tp.weight_numel, generator=gen(5), dtype=torch.float64)
    irreps_in = [tp.irreps_in1] if len(ins) == 1 else [tp.irreps_in1, tp.irreps_in2]
    err = check_irreps_equivariant(lambda *a: tp(*a[:-1], weight=a[-1]), irreps_in + [None], tp.irreps_out, ins + [w])
    assert err <= 1e-10


@pytest.mark.parametrize("mode", MODES)
def test_equivariance_each_mode_alone(mode):
    instr = [ins for ins in ALL_MODES if ins[3] == mode]
    with default_dtype(torch.float64):
        tp = TensorProduct(IN1, IN2, OUT, instr)
    err = check_irreps_equivariant(tp, [IN1, IN2], OUT, _inputs(tp))
    assert err <= 1e-10


def test_paths_without_inputs_give_zero_output_blocks():
    tp = TensorProduct("1o", "1o", "0e + 1e + 2o", [(0, 0, 0, "uvw", True)])
    out = tp(torch.randn(3, 3), torch.randn(3, 3))
    assert torch.equal(out[:, 1:], torch.zeros(3, 8))


def test_full_tensor_product_is_the_outer_product_of_scalars():
    tp = FullTensorProduct("2x0e", "3x0e")
    x, y = torch.randn(5, 2), torch.randn(5, 3)
    torch.testing.assert_close(tp(x, y), (x[:, :, None] * y[:, None, :]).reshape(5, 6))


def test_elementwise_of_vectors_is_dot_and_cross_product():
    """1o x 1o -> 0e is the dot product and -> 1e the cross product, up to one constant each (norm: |C| 3 = 3)."""
    tp = ElementwiseTensorProduct("2x1o", "2x1o", ["0e", "1e"], irrep_normalization="norm")
    assert tp.irreps_out == Irreps("2x0e + 2x1e")
    x, y = torch.randn(4, 6, dtype=torch.float64), torch.randn(4, 6, dtype=torch.float64)
    out = tp.double()(x, y)
    xs, ys = x.reshape(4, 2, 3), y.reshape(4, 2, 3)
    dot = (xs * ys).sum(-1)
    cross = torch.linalg.cross(xs, ys)
    c0 = out[:, :2] / dot
    c1 = out[:, 2:].reshape(4, 2, 3) / cross
    torch.testing.assert_close(c0.abs(), torch.full_like(c0, 3**0.5), atol=1e-6, rtol=0)  # 3 / sqrt(3)
    torch.testing.assert_close(c1.abs(), torch.full_like(c1, 1.5**0.5), atol=1e-6, rtol=0)  # 3 / sqrt(6)
    assert float(c0.std()) < 1e-6 and float(c1.std()) < 1e-6


def test_tensor_square_equals_full_product_of_x_with_itself_on_scalars():
    sq = TensorSquare("3x0e", irrep_normalization="none")
    x = torch.randn(2, 3)
    out = sq(x)
    iu, iv = torch.triu_indices(3, 3, 1)
    torch.testing.assert_close(out[:, :3], x[:, iu] * x[:, iv])  # pairs u < v
    torch.testing.assert_close(out[:, 3:], x * x)  # each copy squared


# ----------------------------------------------------------------------------- e3nn conformance
def _e3nn_variants(e3o):
    return {
        "custom_all_modes": lambda **kw: e3o.TensorProduct(IN1, IN2, OUT, ALL_MODES, **kw),
        "fully_connected": lambda **kw: e3o.FullyConnectedTensorProduct("3x0e + 2x1o + 2e + 0o", "0e + 1o + 2e",
                                                                        "2x0e + 3x1o + 2x1e + 2e + 2o", **kw),
        "elementwise": lambda **kw: e3o.ElementwiseTensorProduct("3x0e + 2x1o + 1x2e", "1x1o + 4x1e + 1x0o", **kw),
        "full": lambda **kw: e3o.FullTensorProduct("2x0e + 2x1o + 1x2e", "0e + 1o + 2x1e", **kw),
        "square": lambda **kw: e3o.TensorSquare("2x0e + 3x1o + 1x2e", **kw),
        "square_weighted": lambda **kw: e3o.TensorSquare("2x0e + 3x1o + 1x2e", "3x0e + 2x1e + 1x1o + 2x2e", **kw),
    }


TOL = {torch.float32: 1e-6, torch.float64: 1e-12}


def _rel_err(a, b):
    return float((a - b).abs().max() / b.abs().max().clamp_min(1))


def _compare_with_e3nn(ours, theirs, dtype, weight=None, seed=0):
    assert str(ours.irreps_in1) == str(theirs.irreps_in1) and str(ours.irreps_in2) == str(theirs.irreps_in2)
    assert str(ours.irreps_out) == str(theirs.irreps_out)
    assert ours.weight_numel == theirs.weight_numel
    assert len(ours.instructions) == len(theirs.instructions)
    for a, b in zip(ours.instructions, theirs.instructions):
        assert (a.i_in1, a.i_in2, a.i_out, a.connection_mode, a.has_weight) == \
            (b.i_in1, b.i_in2, b.i_out, b.connection_mode, b.has_weight)
        assert tuple(a.path_shape) == tuple(b.path_shape)
        assert abs(a.path_weight - b.path_weight) < 1e-12
    ins = _inputs(ours, batch=10, seed=seed, dtype=dtype)
    extra = {} if weight is None else {"weight": weight}
    with torch.no_grad():
        out, ref = ours(*ins, **extra), theirs(*ins, **extra)
    assert out.dtype == dtype
    return _rel_err(out, ref)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", VARIANTS)
def test_matches_e3nn(name, dtype):
    e3o = pytest.importorskip("e3nn.o3")
    with default_dtype(dtype):
        torch.manual_seed(0)
        theirs = _e3nn_variants(e3o)[name]()
        ours = _variants()[name]()
    load_e3nn_state_dict(ours, theirs.state_dict())
    if ours.weight_numel:
        assert torch.equal(ours.weight, theirs.weight)
    assert _compare_with_e3nn(ours, theirs, dtype) <= TOL[dtype]


NORMALISATIONS = [
    dict(irrep_normalization="norm"),
    dict(path_normalization="path"),
    dict(path_normalization="none", irrep_normalization="norm"),
    dict(in1_var=[1.0, 2.0, 0.5], in2_var=[3.0, 1.0, 0.25], out_var=[1.0, 2.0, 1.0, 0.5, 1.0, 4.0]),
]


@pytest.mark.parametrize("kwargs", NORMALISATIONS, ids=["norm", "path", "none", "vars"])
def test_custom_instructions_match_e3nn_under_every_normalisation(kwargs):
    e3o = pytest.importorskip("e3nn.o3")
    with default_dtype(torch.float64):
        theirs = e3o.TensorProduct(IN1, IN2, OUT, ALL_MODES, **kwargs)
        ours = TensorProduct(IN1, IN2, OUT, ALL_MODES, **kwargs)
    load_e3nn_state_dict(ours, theirs.state_dict())
    assert _compare_with_e3nn(ours, theirs, torch.float64) <= 1e-12


@pytest.mark.parametrize("name", ["elementwise", "full", "square"])
def test_unweighted_variants_match_e3nn_with_norm_normalisation(name):
    e3o = pytest.importorskip("e3nn.o3")
    with default_dtype(torch.float64):
        theirs = _e3nn_variants(e3o)[name](irrep_normalization="norm")
        ours = _variants()[name](irrep_normalization="norm")
    assert _compare_with_e3nn(ours, theirs, torch.float64) <= 1e-12


@pytest.mark.parametrize("name", ["elementwise", "full", "square"])
def test_filter_ir_out_matches_e3nn(name):
    e3o = pytest.importorskip("e3nn.o3")
    keep = ["0e", "1e", "2o"]
    with default_dtype(torch.float64):
        theirs = _e3nn_variants(e3o)[name](filter_ir_out=keep)
        ours = _variants()[name](filter_ir_out=keep)
    assert _compare_with_e3nn(ours, theirs, torch.float64) <= 1e-12


@pytest.mark.parametrize("name", ["custom_all_modes", "fully_connected", "square_weighted"])
def test_per_sample_weights_match_e3nn(name):
    e3o = pytest.importorskip("e3nn.o3")
    with default_dtype(torch.float64):
        theirs = _e3nn_variants(e3o)[name](shared_weights=False)
        ours = _variants()[name](shared_weights=False)
    w = torch.randn(10, ours.weight_numel, generator=gen(3), dtype=torch.float64)
    assert _compare_with_e3nn(ours, theirs, torch.float64, weight=w) <= 1e-12


def test_e3nn_state_dict_keys_and_converter():
    e3o = pytest.importorskip("e3nn.o3")
    theirs = e3o.FullyConnectedTensorProduct("2x0e + 1o", "0e + 1o", "3x0e + 2x1o")
    ours = FullyConnectedTensorProduct("2x0e + 1o", "0e + 1o", "3x0e + 2x1o")
    # the only difference: e3nn's internal buffers
    result = ours.load_state_dict(theirs.state_dict(), strict=False)
    assert result.missing_keys == [] and result.unexpected_keys == ["output_mask"]
    with pytest.raises(RuntimeError):
        ours.load_state_dict(theirs.state_dict())
    # weightless products: e3nn keeps an empty weight and its 3j constants in the state dict
    theirs_full, ours_full = e3o.FullTensorProduct("2x1o", "1o"), FullTensorProduct("2x1o", "1o")
    assert any(k.startswith("_compiled_main") for k in theirs_full.state_dict())
    load_e3nn_state_dict(ours_full, theirs_full.state_dict())
    # a model made of several modules
    model_theirs = torch.nn.Sequential(theirs, e3o.Linear("3x0e + 2x1o", "1x0e", biases=True))
    model_ours = torch.nn.Sequential(FullyConnectedTensorProduct("2x0e + 1o", "0e + 1o", "3x0e + 2x1o"),
                                     o3.Linear("3x0e + 2x1o", "1x0e", biases=True))
    load_e3nn_state_dict(model_ours, model_theirs.state_dict())
    assert torch.equal(model_ours[0].weight, theirs.weight)
    # mismatches raise and name the problem
    with pytest.raises(ValueError, match="shape"):
        load_e3nn_state_dict(FullyConnectedTensorProduct("2x0e + 1o", "0e + 1o", "4x0e + 2x1o"), theirs.state_dict())
    with pytest.raises(ValueError, match="missing"):
        load_e3nn_state_dict(ours, {"output_mask": torch.ones(9)})
    with pytest.raises(ValueError, match="unexpected"):
        load_e3nn_state_dict(ours, {**theirs.state_dict(), "other.weight": torch.ones(2)})


# ----------------------------------------------------------------------------- normalisation at init
def _second_moments(out, irreps):
    return [float(out[:, s].pow(2).mean()) for s in Irreps(irreps).slices()]


@pytest.mark.parametrize("second", ["randn", "sh"])
def test_fully_connected_output_has_unit_second_moment(second):
    torch.manual_seed(0)
    irreps = "16x0e + 16x1o + 16x2e"
    tp = FullyConnectedTensorProduct(irreps, "0e + 1o + 2e", irreps)
    x = Irreps(irreps).randn(2000, -1, generator=gen(1))
    if second == "randn":
        y = Irreps("0e + 1o + 2e").randn(2000, -1, generator=gen(2))
    else:
        y = o3.spherical_harmonics("0e + 1o + 2e", torch.randn(2000, 3, generator=gen(2)), normalization="component")
    with torch.no_grad():
        moments = _second_moments(tp(x, y), irreps)
    assert all(0.8 < m < 1.2 for m in moments), moments


@pytest.mark.parametrize("name", ["elementwise", "full", "square", "square_weighted"])
def test_variants_output_has_unit_second_moment(name):
    torch.manual_seed(0)
    if name == "square_weighted":  # enough weights per output for their random draw to average out
        tp = TensorSquare("8x0e + 8x1o + 4x2e", "16x0e + 16x1e + 16x1o + 16x2e")
    else:
        tp = _variants()[name]()
    with torch.no_grad():
        out = tp(*_inputs(tp, batch=2000, dtype=torch.float32))
    moments = _second_moments(out, tp.irreps_out)
    assert all(0.7 < m < 1.3 for m in moments), moments


# ----------------------------------------------------------------------------- gradients
def _energy_model():
    torch.manual_seed(0)
    return FullyConnectedTensorProduct("4x0e + 2x1o + 2e", "0e + 1o + 2e", "3x0e")


def test_double_backward_trains_on_forces():
    tp = _energy_model()
    pos = torch.randn(6, 3, generator=gen(1), requires_grad=True)
    x = Irreps("4x0e + 2x1o + 2e").randn(6, -1, generator=gen(2))
    energy = tp(x, o3.spherical_harmonics("0e + 1o + 2e", pos, normalization="component")).sum()
    forces = -torch.autograd.grad(energy, pos, create_graph=True)[0]
    loss = forces.pow(2).sum()
    loss.backward()
    assert torch.isfinite(tp.weight.grad).all() and tp.weight.grad.abs().sum() > 0


def test_gradients_finite_at_zero_length_vector():
    tp = _energy_model()
    pos = torch.randn(4, 3, generator=gen(1))
    pos[0] = 0.0
    pos.requires_grad_(True)
    x = Irreps("4x0e + 2x1o + 2e").randn(4, -1, generator=gen(2))
    energy = tp(x, o3.spherical_harmonics("0e + 1o + 2e", pos, normalization="component")).sum()
    forces = -torch.autograd.grad(energy, pos, create_graph=True)[0]
    assert torch.isfinite(forces).all()
    forces.pow(2).sum().backward()
    assert torch.isfinite(tp.weight.grad).all()
    assert torch.isfinite(pos.grad).all()


def test_gradcheck_custom_product_in_every_mode():
    with default_dtype(torch.float64):
        tp = TensorProduct("2x0e + 2x1o", "2x0e + 2x1o", "2x0e + 1x1e + 4x1o + 2x1e + 2x1o",
                           [(1, 1, 0, "uvw", True), (1, 1, 1, "uvu<v", True), (0, 1, 2, "uvuv", True),
                            (1, 1, 3, "uuu", True), (1, 0, 4, "uvu", True), (0, 1, 4, "uvv", True),
                            (1, 1, 0, "uuw", True), (1, 1, 0, "u<vw", True)])
    x, y = _inputs(tp, batch=2)
    w = tp.weight.detach().clone()
    assert torch.autograd.gradcheck(lambda a, b, c: tp(a, b, c), (x.requires_grad_(), y.requires_grad_(),
                                                                  w.requires_grad_()))


# ----------------------------------------------------------------------------- torch.compile
def test_compile_fullgraph_matches_eager():
    # aot_eager: dynamo traces the whole forward (fullgraph=True fails on any graph break) without
    # the C++ code generation of inductor, which alone takes about 45 s on two cores
    torch.manual_seed(0)
    tp = FullyConnectedTensorProduct("4x0e + 2x1o", "0e + 1o", "3x0e + 2x1o")
    x, y = torch.randn(5, 10), torch.randn(5, 4)
    compiled = torch.compile(tp, fullgraph=True, backend="aot_eager")
    with torch.no_grad():
        torch.testing.assert_close(compiled(x, y), tp(x, y), atol=1e-5, rtol=0)


# ----------------------------------------------------------------------------- bad input
def test_wrong_feature_sizes_raise():
    tp = FullyConnectedTensorProduct("2x0e + 1o", "0e + 1o", "2x0e")
    with pytest.raises(ValueError, match=r"2x0e\+1x1o.*last dim 5.*got shape \[3, 4\]"):
        tp(torch.randn(3, 4), torch.randn(3, 4))
    with pytest.raises(ValueError, match=r"input 2.*last dim 4.*got shape \[3, 3\]"):
        tp(torch.randn(3, 5), torch.randn(3, 3))
    with pytest.raises(ValueError, match=r"last dim 3"):
        TensorSquare("1o")(torch.randn(2, 4))


def test_instruction_that_cannot_couple_raises():
    with pytest.raises(ValueError, match="cannot produce 1o"):
        TensorProduct("1o", "1o", "1o", [(0, 0, 0, "uvw", True)])
    with pytest.raises(ValueError, match="cannot produce 3e"):
        TensorProduct("1o", "1o", "3e", [(0, 0, 0, "uvw", True)])


def test_bad_instructions_raise():
    with pytest.raises(ValueError, match="out of range"):
        TensorProduct("1o", "1o", "0e", [(1, 0, 0, "uvw", True)])
    with pytest.raises(ValueError, match="mode"):
        TensorProduct("1o", "1o", "0e", [(0, 0, 0, "xyz", True)])
    with pytest.raises(ValueError, match="multiplicities"):
        TensorProduct("2x1o", "3x1o", "2x0e", [(0, 0, 0, "uuu", False)])
    with pytest.raises(ValueError, match="multiplicit"):
        TensorProduct("3x1o", "3x1o", "2x1e", [(0, 0, 0, "uvu<v", False)])
    with pytest.raises(ValueError):
        TensorProduct("1o", "1o", "0e", [(0, 0, 0, "uvw", True)], irrep_normalization="unit")
    with pytest.raises(ValueError):
        ElementwiseTensorProduct("2x1o", "3x1o")
    with pytest.raises(ValueError, match="not both"):
        TensorSquare("2x1o", "0e", filter_ir_out=["0e"])
    with pytest.raises(ValueError, match="filter_ir_out"):
        FullTensorProduct("1o", "1o", filter_ir_out=[3.5])


def test_wrong_weight_sizes_raise():
    tp = FullyConnectedTensorProduct("2x0e + 1o", "0e + 1o", "2x0e")  # 2 * 2 + 1 * 2 = 6 weights
    x, y = torch.randn(3, 5), torch.randn(3, 4)
    with pytest.raises(ValueError, match=r"expected weight \[\.\.\., 6\], got \[7\]"):
        tp(x, y, torch.randn(7))
    with pytest.raises(ValueError, match="shared weights"):
        tp(x, y, torch.randn(3, 6))
    per_sample = FullyConnectedTensorProduct("2x0e + 1o", "0e + 1o", "2x0e", shared_weights=False)
    with pytest.raises(ValueError, match="no internal weights"):
        per_sample(x, y)
    with pytest.raises(ValueError, match=r"expected weight \[\.\.\., 6\], got \[3, 9\]"):
        per_sample(x, y, torch.randn(3, 9))


# ----------------------------------------------------------------------------- right
@pytest.mark.parametrize("name", VARIANTS)
def test_right_is_the_matrix_of_the_first_argument(name):
    with default_dtype(torch.float64):
        tp = _variants()[name]()
    ins = _inputs(tp, batch=3)
    if isinstance(tp, TensorSquare):
        x = ins[0]
        y = tp.irreps_in2.randn(3, -1, generator=gen(7), dtype=torch.float64)
        # the underlying bilinear map B(x, y) = x @ right(y); the square is B(x, x)
        torch.testing.assert_close((x[:, None, :] @ tp.right(x))[:, 0], tp(x), atol=1e-12, rtol=0)
        assert tp.right(y).shape == (3, tp.irreps_in1.dim, tp.irreps_out.dim)
        return
    x, y = ins
    torch.testing.assert_close((x[:, None, :] @ tp.right(y))[:, 0], tp(x, y), atol=1e-12, rtol=0)


def test_right_with_per_sample_weights():
    with default_dtype(torch.float64):
        tp = TensorProduct(IN1, IN2, OUT, ALL_MODES, shared_weights=False)
    x, y = _inputs(tp, batch=3)
    w = torch.randn(3, tp.weight_numel, generator=gen(4), dtype=torch.float64)
    torch.testing.assert_close((x[:, None, :] @ tp.right(y, w))[:, 0], tp(x, y, w), atol=1e-12, rtol=0)


def test_right_of_a_subclass_with_another_forward_signature():
    """``right`` goes through ``TensorProduct.forward``, so a subclass's one-argument ``forward`` does not break it."""

    class Squared(TensorProduct):
        def forward(self, x, weight=None):  # noqa: D102
            return super().forward(x, x, weight)

    with default_dtype(torch.float64):
        sq = Squared("2x0e + 1o", "2x0e + 1o", "3x0e + 1e + 1o",
                     [(0, 0, 0, "uvw", True), (1, 1, 0, "uvw", True), (1, 1, 1, "uvw", True), (0, 1, 2, "uvw", True)])
    x = sq.irreps_in1.randn(4, -1, generator=gen(2), dtype=torch.float64)
    assert sq.right(x).shape == (4, 5, 9)
    torch.testing.assert_close((x[:, None, :] @ sq.right(x))[:, 0], sq(x), atol=1e-12, rtol=0)


# ----------------------------------------------------------------------------- fast path (uvw, mul_2 = 1)
# blocks big enough for both kernels of the fast path: batched matmul (d1 * rows * mul >= 400) and broadcast products
FAST_IN1, FAST_SH, FAST_OUT = "5x0e + 20x1o + 9x2e + 3x3o", "0e + 1o + 2e + 3o", "7x0e + 4x1o + 30x2e + 2x3o + 3x1e"


def _fast_pair(**kwargs):
    e3o = pytest.importorskip("e3nn.o3")
    with default_dtype(torch.float64):
        theirs = e3o.FullyConnectedTensorProduct(FAST_IN1, FAST_SH, FAST_OUT, **kwargs)
        ours = FullyConnectedTensorProduct(FAST_IN1, FAST_SH, FAST_OUT, **kwargs)
    assert ours._fast_groups is not None  # the products below take the fast path
    big = [g for g in ours._fast_groups if g.d1 * g.d_out * g.n_paths * g.mul1 >= 400]
    small = [g for g in ours._fast_groups if g.d1 * g.d_out * g.n_paths * g.mul1 < 400 and g.d1 > 1]
    assert big and small
    return ours, theirs


def test_fast_path_matches_e3nn_with_spherical_harmonics():
    ours, theirs = _fast_pair()
    load_e3nn_state_dict(ours, theirs.state_dict())
    x = Irreps(FAST_IN1).randn(7, -1, generator=gen(1), dtype=torch.float64)
    y = o3.spherical_harmonics(FAST_SH, torch.randn(7, 3, generator=gen(2), dtype=torch.float64), normalize=True)
    with torch.no_grad():
        assert _rel_err(ours(x, y), theirs(x, y)) <= 1e-12
        # broadcasting: one y for the whole batch
        assert _rel_err(ours(x, y[:1]), theirs(x, y[:1])) <= 1e-12


def test_fast_path_per_sample_weights_match_e3nn():
    ours, theirs = _fast_pair(shared_weights=False)
    w = torch.randn(10, ours.weight_numel, generator=gen(3), dtype=torch.float64)
    assert _compare_with_e3nn(ours, theirs, torch.float64, weight=w) <= 1e-12


def test_fast_path_equivariant_and_gradcheck():
    with default_dtype(torch.float64):
        tp = FullyConnectedTensorProduct("2x0e + 2x1o + 8x2e", "0e + 1o + 2e", "2x0e + 2x1o + 1x1e + 2x2e")
    assert tp._fast_groups is not None
    assert any(g.d1 * g.d_out * g.n_paths * g.mul1 >= 400 for g in tp._fast_groups)
    assert check_irreps_equivariant(tp, [tp.irreps_in1, tp.irreps_in2], tp.irreps_out, _inputs(tp)) <= 1e-10
    x, y = _inputs(tp, batch=2)
    w = tp.weight.detach().clone()
    args = (x.requires_grad_(), y.requires_grad_(), w.requires_grad_())
    assert torch.autograd.gradcheck(lambda a, b, c: tp(a, b, c), args, fast_mode=True)
    assert torch.autograd.gradgradcheck(lambda a, b, c: tp(a, b, c), args, fast_mode=True)


def test_fast_path_compiles_fullgraph_with_gradients():
    """The fast path's batched-matmul branch (a custom autograd function) traces whole, forward and backward."""
    torch.manual_seed(0)
    tp = FullyConnectedTensorProduct("2x0e + 30x1o", "0e + 1o + 2e", "3x0e + 2x1o + 2x2e")
    assert any(g.d1 * g.d_out * g.n_paths * g.mul1 >= 400 for g in tp._fast_groups)
    x, y = Irreps("2x0e + 30x1o").randn(5, -1), torch.randn(5, 9, requires_grad=True)
    compiled = torch.compile(tp, fullgraph=True, backend="aot_eager")
    with torch.no_grad():
        torch.testing.assert_close(compiled(x, y), tp(x, y), atol=1e-5, rtol=0)
    grads = torch.autograd.grad(compiled(x, y).pow(2).sum(), [y, tp.weight])
    expected = torch.autograd.grad(tp(x, y).pow(2).sum(), [y, tp.weight])
    for a, b in zip(grads, expected):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_double_after_float32_build_is_exact_and_empty_batch_works():
    from steertorch.o3 import FullyConnectedTensorProduct, Irreps, rand_matrix, spherical_harmonics

    irreps = Irreps("4x0e + 4x1o + 2x2e")
    torch.manual_seed(0)
    tp = FullyConnectedTensorProduct(irreps, "0e + 1o + 2e", irreps).double()  # built in float32
    R = rand_matrix(dtype=torch.float64)
    x = irreps.randn(6, -1, dtype=torch.float64)
    vec = torch.randn(6, 3, dtype=torch.float64)
    y = spherical_harmonics([0, 1, 2], vec, normalize=True)
    D = irreps.D_from_matrix(R)
    out_rot = tp(x @ D.T, spherical_harmonics([0, 1, 2], vec @ R.T, normalize=True))
    assert (out_rot - tp(x, y) @ D.T).abs().max() < 1e-12
    assert tp(x[:0], y[:0]).shape == (0, irreps.dim)
