"""Every module accepts 0 rows (points, nodes, samples, grid batch), graphs without edges, and empty irreps,
and stays differentiable: the output keeps its graph, ``backward`` works and gradients are finite (zero where
the output is empty), as in e3nn.

The modules and their inputs are those of ``tests/_module_zoo.py`` (every public module of the package).
"""

from __future__ import annotations

import pytest
import torch
from _module_zoo import case_names, cases, float_outputs

from steertorch import graph, o3
from steertorch import nn as snn

pytestmark = pytest.mark.usefixtures("seeded")
torch.set_num_threads(1)

_CASES = {c.name: c for c in cases()}


def _check_differentiable(module: torch.nn.Module, outs: list[torch.Tensor],
                          inputs: list[torch.Tensor]) -> tuple[torch.Tensor | None, ...]:
    """Each output has a grad_fn; the gradients of their sum w.r.t. parameters and inputs are finite, and zero
    where every output is empty. Returns the gradients (parameters first, None if unused)."""
    for out in outs:
        assert out.requires_grad, f"output {list(out.shape)} is detached from the graph"
    wrt = [p for p in module.parameters()] + inputs
    grads = torch.autograd.grad(sum(o.sum() for o in outs), wrt, allow_unused=True)
    empty = all(o.numel() == 0 for o in outs)
    for g, t in zip(grads, wrt):
        if g is None:
            continue
        assert g.shape == t.shape
        assert torch.isfinite(g).all()
        if empty:
            assert torch.all(g == 0)
    return grads


@pytest.mark.parametrize("name", case_names())
def test_zero_rows(name):
    """A batch / point cloud / graph of 0 rows: the output has the shape of a non-empty call with 0 rows (pooled
    outputs keep their ``num_graphs`` rows) and stays differentiable. Training mode: batch norms must not take
    statistics of nothing (NaN running statistics and gradients)."""
    case = _CASES[name]
    module = case.build().train()
    full = case.outputs(module, 4)
    state = {k: v.clone() for k, v in module.state_dict().items()}
    inputs: list[torch.Tensor] = []
    outs = case.outputs(module, 0, grad_inputs=inputs)
    assert len(outs) == len(full)
    for o, f in zip(outs, full):
        assert o.shape[1:] == f.shape[1:] and o.shape[0] == (0 if f.shape[0] == 4 else f.shape[0]), (o.shape, f.shape)
    _check_differentiable(module, outs, inputs)
    for k, v in module.state_dict().items():  # running statistics unchanged by an empty batch
        if v.is_floating_point():
            assert torch.equal(v, state[k]), k


@pytest.mark.parametrize("name", [n for n in case_names() if "(no edges)" in n])
def test_graph_without_edges(name):
    """Nodes but no edges: outputs for every node, differentiable, every parameter gets a (finite) gradient."""
    case = _CASES[name]
    module = case.build()
    inputs: list[torch.Tensor] = []
    outs = case.outputs(module, 5, grad_inputs=inputs)
    grads = _check_differentiable(module, outs, inputs)
    assert all(g is not None for g, _ in zip(grads, module.parameters()))


def _call(module, *dims, rows=3, pos=False):
    xs = [torch.randn(rows, d, requires_grad=True) for d in dims]
    args = list(xs)
    if pos:  # graph layers: positions and a small graph
        args += [torch.randn(rows, 3), torch.tensor([[0, 1, 2], [1, 2, 0]])]
    return float_outputs(module(*args)), xs


_EMPTY_IRREPS = {
    "Linear(empty in)": (lambda: o3.Linear("", "2x1o + 1x0e", biases=True), (0,)),
    "Linear(empty out)": (lambda: o3.Linear("2x1o", ""), (6,)),
    "FullyConnectedTensorProduct(empty in1)": (lambda: o3.FullyConnectedTensorProduct("", "1o", "2x1o"), (0, 3)),
    "FullyConnectedTensorProduct(empty in2)": (lambda: o3.FullyConnectedTensorProduct("2x0e", "", "2x0e"), (2, 0)),
    "FullyConnectedTensorProduct(empty out)": (lambda: o3.FullyConnectedTensorProduct("2x0e", "0e", ""), (2, 1)),
    "TensorProduct(per-sample weights, empty block)": (lambda: _PerSample(o3.TensorProduct(
        "0x0e + 0x1o", "1o", "0x1o + 0x0e", [(0, 0, 0, "uvu", True), (1, 0, 1, "uvu", True)], shared_weights=False,
        internal_weights=False)), (0, 3)),
    "FullTensorProduct": (lambda: o3.FullTensorProduct("", "1o"), (0, 3)),
    "ElementwiseTensorProduct": (lambda: o3.ElementwiseTensorProduct("", ""), (0, 0)),
    "TensorSquare": (lambda: o3.TensorSquare(""), (0,)),
    "TensorSquare(weighted)": (lambda: o3.TensorSquare("", "2x0e"), (0,)),
    "Gate": (lambda: snn.Gate("", [], "", [], ""), (0,)),
    "Activation": (lambda: snn.Activation("", []), (0,)),
    "NormActivation": (lambda: snn.NormActivation("", torch.sigmoid, bias=True), (0,)),
    "BatchNorm": (lambda: snn.BatchNorm(""), (0,)),
    "Dropout": (lambda: snn.Dropout("", 0.5), (0,)),
    "ExtractIr(absent irrep)": (lambda: snn.ExtractIr("2x1o", "0e"), (6,)),
    "FullyConnectedNet": (lambda: snn.FullyConnectedNet([0, 4]), (0,)),
    "O3TensorProduct(empty in)": (lambda: graph.O3TensorProduct("", "2x0e + 1o", "0e + 1o"), (0, 4)),
    "O3TensorProductGate(empty attr)": (lambda: graph.O3TensorProductGate("2x0e", "2x0e + 1o", ""), (2, 0)),
    "PointConv(empty in)": (lambda: graph.PointConv("", "4x0e + 2x1o", irreps_sh=1), (0,)),
    "SEGNNLayer(empty in)": (lambda: graph.SEGNNLayer("", "4x0e + 2x1o", "2x0e", lmax_attr=1), (0,)),
    "PointConv(so2, empty in)": (lambda: graph.PointConv("", "4x0e + 2x1o", irreps_sh=1, conv="so2"), (0,)),
    "SEGNNLayer(so2, empty in)": (lambda: graph.SEGNNLayer("", "4x0e + 2x1o", "2x0e", lmax_attr=1, conv="so2"),
                                  (0,)),
}


class _PerSample(torch.nn.Module):
    def __init__(self, tp: o3.TensorProduct) -> None:
        super().__init__()
        self.tp = tp

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.tp(x, y, x.new_zeros(x.shape[0], self.tp.weight_numel))


@pytest.mark.parametrize("name", list(_EMPTY_IRREPS))
def test_empty_irreps(name):
    """Modules with an empty input or output irreps: outputs of the right shape (zeros, plus biases), on the
    graph, finite gradients."""
    build, dims = _EMPTY_IRREPS[name]
    module = build().train()
    outs, xs = _call(module, *dims, pos=name.startswith(("PointConv", "SEGNNLayer")))
    out_dim = getattr(module, "irreps_out", None)
    if isinstance(out_dim, o3.Irreps):
        assert outs[0].shape == (3, out_dim.dim)
    _check_differentiable(module, outs, xs)
    assert all(p.numel() > 0 for p in module.parameters()), "a zero-size parameter"


def test_empty_batch_of_tensor_product_is_on_the_graph():
    """The empty batch of a graph without edges used to return detached zeros: backward raised."""
    tp = o3.FullyConnectedTensorProduct("2x0e + 1o", "0e + 1o", "2x1o")
    x, y = torch.zeros(0, 5, requires_grad=True), torch.zeros(0, 4, requires_grad=True)
    out = tp(x, y)
    assert out.shape == (0, 6) and out.requires_grad
    gw, gx, gy = torch.autograd.grad(out.sum(), [tp.weight, x, y])
    assert torch.equal(gw, torch.zeros_like(tp.weight)) and gx.shape == (0, 5) and gy.shape == (0, 4)


def test_linear_zero_rows_any_batch_shape():
    lin = o3.Linear("4x0e + 2x1o", "3x0e + 1x1o", biases=True)
    for shape in [(0,), (2, 0), (0, 3)]:
        out = lin(torch.randn(*shape, 10))
        assert out.shape == (*shape, 6) and out.requires_grad
