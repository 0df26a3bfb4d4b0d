"""GeometricTensor and escnn's way of using it (issue 18): field_type(x), .tensor / .type, transform, restrict,
slicing by fields, tensor_directsum, +, and field modules taking and returning GeometricTensors."""

import copy
import pickle

import pytest
import torch
from _module_zoo import cases

from steertorch.gspaces import flipRot2dOnR2, rot2dOnR2
from steertorch.nn import (
    EquivariantModule,
    FieldType,
    GeometricTensor,
    R2Conv,
    ReLU,
    SequentialModule,
    tensor_directsum,
)

F64 = torch.float64
GRID = [c for c in cases() if c.kind == "grid" and isinstance(c.build(), EquivariantModule)]


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _types():
    gs = flipRot2dOnR2(4)
    return gs, FieldType(gs, [gs.trivial_repr, gs.regular_repr, gs.irrep(1, 1)])


def test_wrap_and_attributes():
    gs, ft = _types()
    t = torch.randn(2, ft.size, 5, 5, dtype=F64, generator=_gen())
    x = ft(t)
    assert isinstance(x, GeometricTensor) and x.tensor is t and x.type == ft
    assert x.shape == t.shape and x.dtype == F64 and x.size(1) == ft.size
    with pytest.raises(ValueError, match="expected 11 channels"):
        ft(torch.randn(2, 10, 5, 5))
    with pytest.raises(ValueError, match="type must be a FieldType"):
        GeometricTensor(t, gs)


def test_transform_matches_field_type_and_composes():
    gs, ft = _types()
    x = ft(torch.randn(2, ft.size, 6, 6, dtype=F64, generator=_gen(1)))
    for g in gs.testing_elements:
        assert torch.equal(x.transform(g).tensor, ft.transform(x.tensor, g))
        assert torch.equal(x.transform_fibers(g).tensor, ft.transform_fibers(x.tensor, g))
    g, h = gs.testing_elements[1], gs.testing_elements[2]
    gh = gs.fibergroup.from_matrix(gs.fibergroup.matrix(g) @ gs.fibergroup.matrix(h))
    torch.testing.assert_close(x.transform(h).transform(g).tensor, x.transform(gh).tensor, rtol=0, atol=1e-12)


def test_restrict_keeps_data_and_changes_type():
    gs, ft = _types()
    x = ft(torch.randn(1, ft.size, 3, 3, dtype=F64))
    y = x.restrict("C4")
    assert y.tensor is x.tensor and y.type == ft.restrict("C4") and y.type.fibergroup.name == "C4"


def test_slicing_selects_fields_and_keeps_axes():
    gs, ft = _types()
    t = torch.randn(3, ft.size, 5, 5, dtype=F64, generator=_gen(2))
    x = ft(t)
    one = x[:, 1]
    assert one.type == FieldType(gs, [gs.regular_repr]) and torch.equal(one.tensor, t[:, 1:9])
    two = x[1, [0, 2], 1:4, 2]
    assert two.type == FieldType(gs, [gs.trivial_repr, gs.irrep(1, 1)])
    assert torch.equal(two.tensor, torch.cat([t[1:2, 0:1], t[1:2, 9:11]], 1)[:, :, 1:4, 2:3])
    assert torch.equal(x[0:2].tensor, t[0:2]) and x[0:2].type == ft
    last = x[:, -1]
    assert last.type.size == 2 and torch.equal(last.tensor, t[:, 9:11])
    assert [p.type.size for p in x.split([1, 2])] == [1, 8, 2]
    # slicing commutes with the group action
    g = gs.testing_elements[3]
    assert torch.equal(x.transform(g)[:, 1:].tensor, x[:, 1:].transform(g).tensor)


def test_directsum_and_arithmetic():
    gs, ft = _types()
    a, b = ft(torch.randn(1, ft.size, 3, 3)), ft(torch.randn(1, ft.size, 3, 3))
    s = tensor_directsum([a[:, 0], a[:, 1:]])
    assert s.type == ft and torch.equal(s.tensor, a.tensor)
    assert torch.equal((a + b).tensor, a.tensor + b.tensor) and (a + b).type == ft
    assert torch.equal((a - b).tensor, a.tensor - b.tensor)
    assert torch.equal((2.0 * a).tensor, 2 * a.tensor) and torch.equal((-a).tensor, -a.tensor)
    c = a.tensor.clone()
    a += b
    assert torch.equal(a.tensor, c + b.tensor)
    other = FieldType(gs, [gs.regular_repr, gs.trivial_repr, gs.irrep(1, 1)])  # same size, other type
    with pytest.raises(ValueError, match="types differ"):
        a + other(torch.randn(1, other.size, 3, 3))
    with pytest.raises(ValueError, match="scalar"):
        a * torch.ones(3)
    with pytest.raises(ValueError, match="non-empty"):
        tensor_directsum([])


def test_geometric_tensor_pickles():
    _, ft = _types()
    x = ft(torch.randn(1, ft.size, 3, 3))
    for y in (pickle.loads(pickle.dumps(x)), copy.deepcopy(x)):
        assert y.type == ft and torch.equal(y.tensor, x.tensor)


@pytest.mark.parametrize("case", GRID, ids=[c.name for c in GRID])
def test_field_modules_take_and_return_geometric_tensors(case):
    torch.manual_seed(0)
    m = case.build().eval()
    (x,), kwargs = case.inputs(2, torch.float32)
    y = m(m.in_type(x), **kwargs)
    assert isinstance(y, GeometricTensor) and y.type == m.out_type
    torch.testing.assert_close(y.tensor, m(x, **kwargs), rtol=0, atol=0)


def test_a_tensor_of_another_type_with_the_same_size_is_refused():
    gs = rot2dOnR2(4)
    t_in = FieldType(gs, [gs.regular_repr])
    t_other = FieldType(gs, [gs.irrep(0), gs.irrep(1), gs.irrep(2)])  # also 4 channels
    conv = R2Conv(t_in, t_in, 3)
    net = SequentialModule(conv, ReLU(t_in))
    x = torch.randn(1, 4, 5, 5)
    for m in (conv, net, net[1]):
        with pytest.raises(ValueError, match="in_type is"):
            m(t_other(x))
        m(x)  # plain tensors are accepted as before


def test_a_network_on_geometric_tensors_is_equivariant_in_float64():
    gs = rot2dOnR2(8)
    t_in, t_hid = FieldType(gs, [gs.trivial_repr]), FieldType(gs, [gs.regular_repr] * 2)
    torch.manual_seed(0)
    net = SequentialModule(R2Conv(t_in, t_hid, 5, padding=2), ReLU(t_hid)).double().eval()
    x = t_in(torch.randn(2, 1, 11, 11, dtype=F64, generator=_gen(3)))
    y = net(x)
    for g in gs.testing_elements:
        torch.testing.assert_close(net(x.transform(g)).tensor, y.transform(g).tensor, rtol=0, atol=1e-12)
    errors = net.check_equivariance(atol=1e-10, rtol=0)
    assert len(errors) == 4 and max(e for _, e in errors) < 1e-10
