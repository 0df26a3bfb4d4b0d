"""e3nn's reference models rebuilt on steertorch (``steertorch.nn.models``): built with e3nn's arguments, e3nn's
state dict loads, and with e3nn's activation constants (``e3nn_compatible_constants``) the outputs equal e3nn
0.6's on the same float64 data; E(3) equivariance, empty inputs, float32, pickling."""

import copy
import pickle

import pytest
import torch

from steertorch import o3
from steertorch.math import e3nn_compatible_constants
from steertorch.nn.models import gate_points_2101, gate_points_2102
from steertorch.nn.models.v2106 import gate_points_message_passing, gate_points_networks

e3models = pytest.importorskip("e3nn.nn.models")
pytest.importorskip("e3nn.nn.models.v2106.gate_points_networks")
from e3nn.nn.models import gate_points_2101 as e3_2101  # noqa: E402
from e3nn.nn.models import gate_points_2102 as e3_2102  # noqa: E402
from e3nn.nn.models.v2106 import gate_points_message_passing as e3_mp  # noqa: E402
from e3nn.nn.models.v2106 import gate_points_networks as e3_net  # noqa: E402

F64 = torch.float64


# e3nn builds its constants in the default dtype: float64 for exact reference values
pytestmark = pytest.mark.usefixtures("float64_default")


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


KW = dict(layers=2, max_radius=2.5, number_of_basis=5, radial_layers=1, radial_neurons=16, num_neighbors=3.0,
          num_nodes=5.0)


def _points(n=10, seed=0):
    g = _gen(seed)
    return 1.2 * torch.randn(n, 3, generator=g), torch.tensor([0] * (n // 2) + [1] * (n - n // 2))


def _data(kind, seed=0):
    """(our module, e3nn's class, args, kwargs, data) for each model."""
    pos, batch = _points(seed=seed)
    g = _gen(seed + 1)
    if kind == "2101":
        args = ("2x0e + 1o", "8x0e + 8x0o + 4x1e + 4x1o + 2x2e", "0e + 1o + 2e", "2x0e", "0e + 1o + 2e")
        return gate_points_2101.Network, e3_2101.Network, args, KW, {
            "pos": pos, "x": torch.randn(10, 5, generator=g), "z": torch.randn(10, 2, generator=g), "batch": batch}
    if kind == "2101(no inputs)":
        args = (None, "8x0e + 4x1o", "0e + 1o", None, "0e + 1o")
        return gate_points_2101.Network, e3_2101.Network, args, dict(KW, reduce_output=False), {"pos": pos}
    if kind == "2102":
        args = ("2x0e + 1o", "8x0e + 8x0o + 4x1e + 4x1o", "1e + 0o", "2x0e + 1o", "0e + 1o + 2e")
        return gate_points_2102.Network, e3_2102.Network, args, KW, {
            "pos": pos, "x": torch.randn(10, 5, generator=g), "z": torch.randn(10, 5, generator=g), "batch": batch}
    if kind == "v2106.SimpleNetwork":
        kw = dict(max_radius=2.0, num_neighbors=3.0, num_nodes=5.0, mul=6)
        return gate_points_networks.SimpleNetwork, e3_net.SimpleNetwork, ("3x0e + 2x1o", "4x0e + 1x1o"), kw, {
            "pos": pos, "x": torch.randn(10, 9, generator=g), "batch": batch}
    if kind == "v2106.NetworkForAGraphWithAttributes":
        kw = dict(max_radius=2.0, num_neighbors=3.0, num_nodes=5.0, mul=6, layers=2)
        args = ("3x0e + 2x1o", "4x0e + 1x1o", "1e", "3x0o + 1e")
        return gate_points_networks.NetworkForAGraphWithAttributes, e3_net.NetworkForAGraphWithAttributes, args, kw, {
            "pos": pos[:4], "edge_index": torch.tensor([[0, 1, 2, 3], [1, 2, 0, 0]]),
            "node_input": torch.randn(4, 9, generator=g), "node_attr": torch.randn(4, 7, generator=g),
            "edge_attr": torch.randn(4, 3, generator=g)}
    raise KeyError(kind)


KINDS = ["2101", "2101(no inputs)", "2102", "v2106.SimpleNetwork", "v2106.NetworkForAGraphWithAttributes"]


def _pair(kind, seed=0):
    ours_cls, theirs_cls, args, kw, data = _data(kind, seed)
    torch.manual_seed(seed)
    theirs = theirs_cls(*args, **kw)
    with e3nn_compatible_constants():
        ours = ours_cls(*args, **kw)
    o3.load_e3nn_state_dict(ours, theirs.state_dict())
    return ours, theirs, data


@pytest.mark.parametrize("kind", KINDS)
def test_outputs_equal_e3nn_with_e3nn_weights(kind):
    ours, theirs, data = _pair(kind)
    want = theirs(data)
    got = ours(data)
    assert got.shape == want.shape and float(want.abs().max()) > 1e-2
    assert float((got - want).abs().max()) < 1e-10
    # every parameter has e3nn's name and shape (load_e3nn_state_dict checked it); the default constants are the
    # exact second moments, about 1e-3 away from e3nn's estimates
    ours_cls, _, args, kw, _ = _data(kind)
    exact = ours_cls(*args, **kw)
    o3.load_e3nn_state_dict(exact, theirs.state_dict())
    diff = float((exact(data) - want).abs().max())
    assert 1e-7 < diff < 1e-2 * float(want.abs().max())


def test_message_passing_matches_e3nn():
    kw = dict(irreps_node_sequence=["0e", "0e + 1e", "0e + 1e", "1e"], irreps_node_attr="0e + 1e",
              irreps_edge_attr="0e + 1e", fc_neurons=[2, 16], num_neighbors=3.0)
    torch.manual_seed(0)
    theirs = e3_mp.MessagePassing(**kw)
    with e3nn_compatible_constants():
        ours = gate_points_message_passing.MessagePassing(**kw)
    o3.load_e3nn_state_dict(ours, theirs.state_dict())
    assert [str(i) for i in ours.irreps_node_sequence] == [str(i) for i in theirs.irreps_node_sequence]
    g = _gen()
    pos = torch.randn(4, 3, generator=g)
    src, dst = gate_points_message_passing.radius_graph(pos, 3.0)
    sh = o3.spherical_harmonics([0, 1], pos[src] - pos[dst], True, normalization="component")
    args = (torch.randn(4, 1, generator=g), torch.randn(4, 4, generator=g), src, dst, sh,
            torch.randn(len(src), 2, generator=g))
    assert float((ours(*args) - theirs(*args)).abs().max()) < 1e-12


@pytest.mark.parametrize("kind", ["2101", "2102", "v2106.SimpleNetwork"])
def test_e3_equivariance(kind):
    ours, _, data = _pair(kind)
    R = -o3.rand_matrix(generator=_gen(5))  # rotation and inversion
    t = torch.randn(3, generator=_gen(6))
    moved = dict(data, pos=data["pos"] @ R.T + t)
    if "x" in data:
        moved["x"] = data["x"] @ ours.irreps_in.D_from_matrix(R).T
    if "z" in data:
        moved["z"] = data["z"] @ ours.irreps_node_attr.D_from_matrix(R).T
    D_out = ours.irreps_out.D_from_matrix(R)
    assert float((ours(moved) - ours(data) @ D_out.T).abs().max()) < 1e-10


@pytest.mark.parametrize("kind", ["2101", "2102", "v2106.SimpleNetwork"])
def test_module_rules(kind):
    ours, _, data = _pair(kind)
    for clone in (copy.deepcopy(ours), pickle.loads(pickle.dumps(ours))):
        assert torch.equal(clone(data), ours(data))
    empty = {k: v[:0] for k, v in data.items()}
    for key in ("x", "z"):
        if key in empty:
            empty[key].requires_grad_(True)
    out = ours(empty)
    assert out.shape == (0, ours.irreps_out.dim)
    out.sum().backward()
    # float32 throughout
    ours_cls, _, args, kw, data = _data(kind)
    net = ours_cls(*args, **kw).float()
    out = net({k: v.float() if v.is_floating_point() else v for k, v in data.items()})
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


def test_missing_inputs_raise():
    net = gate_points_2101.Network("2x0e", "4x0e + 2x1o", "0e", "1o", "0e + 1o", **KW)
    with pytest.raises(ValueError, match="'x'"):
        net({"pos": torch.randn(3, 3)})
    with pytest.raises(ValueError, match="'z'"):
        net({"pos": torch.randn(3, 3), "x": torch.randn(3, 2)})
