"""Message passing in chunks of edges equals the all-at-once step: values, gradients, double backward (forces),
empty graphs; and it keeps less memory for the backward pass."""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from steertorch.graph import PointConv, chunked_message_sum, edge_vectors, radius_graph
from steertorch.models import TensorFieldNetwork

F64 = torch.float64


def _graph(n: int = 30, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    pos = 2.0 * torch.rand(n, 3, generator=g, dtype=F64)
    src, dst = radius_graph(pos, r=1.2)
    return pos, torch.stack([src, dst])


def _conv(chunk):
    torch.manual_seed(0)
    return PointConv("4x0e + 2x1o + 1x2e", "4x0e + 2x1o + 1x2e", irreps_sh=2, r_max=1.2,
                     edge_chunk_size=chunk).double()


@pytest.mark.parametrize("chunk", [16, 40])
def test_chunked_point_conv_equals_the_unchunked_one_with_forces(chunk: int):
    pos, edge_index = _graph()
    assert edge_index.shape[1] > 2 * 40  # several slices for each chunk size
    x = torch.randn(pos.shape[0], 4 + 6 + 5, dtype=F64)
    results = []
    for conv in (_conv(None), _conv(chunk)):
        p = pos.clone().requires_grad_()
        xx = x.clone().requires_grad_()
        out = conv(xx, p, edge_index)
        energy = out[:, :4].sum() + out.pow(2).sum()
        forces = -torch.autograd.grad(energy, p, create_graph=True)[0]
        loss = energy + forces.pow(2).sum()  # trained on energies and forces: double backward
        grads = torch.autograd.grad(loss, [xx, *conv.parameters()])
        results.append((out.detach(), forces.detach(), grads))
    (out0, f0, g0), (out1, f1, g1) = results
    torch.testing.assert_close(out1, out0, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(f1, f0, rtol=1e-11, atol=1e-12)
    for a, b in zip(g1, g0):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-11)


def test_chunked_model_and_no_grad_and_empty_graph():
    pos, edge_index = _graph(20, 1)
    batch = torch.zeros(20, dtype=torch.long)
    models = []
    for chunk in (None, 5):
        torch.manual_seed(0)
        models.append(TensorFieldNetwork(irreps_out="0e + 1o", lmax=1, mul=4, num_layers=2, r_max=1.2,
                                         edge_chunk_size=chunk).double())
    with torch.no_grad():
        torch.testing.assert_close(models[1](pos, edge_index=edge_index, batch=batch),
                                   models[0](pos, edge_index=edge_index, batch=batch), rtol=1e-12, atol=1e-12)
    empty = torch.zeros(2, 0, dtype=torch.long)
    out = models[1](pos, edge_index=empty, batch=batch)
    out.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in models[1].parameters())


def test_chunked_message_sum_checks_its_arguments():
    x = torch.ones(3, 1)
    with pytest.raises(ValueError, match="chunk_size"):
        chunked_message_sum(lambda x, s: x[s], [x], [torch.tensor([0])], torch.tensor([1]), 3, chunk_size=0)
    with pytest.raises(ValueError, match="one per edge"):
        chunked_message_sum(lambda x, s: x[s], [x], [torch.tensor([0, 1])], torch.tensor([1]), 3, chunk_size=1)
    with pytest.raises(ValueError, match="edge_chunk_size"):
        PointConv("0e", "0e", edge_chunk_size=-1)


def test_chunks_keep_less_for_the_backward_pass(monkeypatch):
    """Bytes of the tensors autograd keeps for the backward pass (counted with saved-tensor hooks): the chunked step
    keeps its slices' inputs only, a fraction of the unchunked step's per-edge intermediates. Measured on the torch
    path of the tensor product; the compiled CPU kernel keeps only the product's inputs (it recomputes the rest),
    about half of what the torch path keeps unchunked."""
    import steertorch.o3._tensor_product_kernel as kernel

    pos, edge_index = _graph(60, 2)
    x = torch.randn(60, 15, dtype=F64, requires_grad=True)

    def saved_bytes(conv) -> int:
        seen: dict[int, int] = {}

        def pack(t: torch.Tensor) -> torch.Tensor:
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            conv(x, pos, edge_index).sum()
        return sum(seen.values())

    with_kernel = saved_bytes(_conv(None)) if kernel.cpu_kernel_available() else None
    monkeypatch.setattr(kernel, "cpu_kernel_available", lambda: False)
    whole, chunked = saved_bytes(_conv(None)), saved_bytes(_conv(16))
    assert chunked < whole / 3, (chunked, whole)
    assert with_kernel is None or with_kernel < 0.6 * whole, (with_kernel, whole)  # (about half, 60 nodes)


@pytest.mark.parametrize("chunk", [None, 16])
def test_message_sum_keeps_no_messages_for_the_backward_pass(chunk):
    """The messages are summed into their nodes without keeping them for the backward pass (index_add would keep
    them, all of them, up to the backward pass): the sum keeps the target indices only, and the checkpointed
    slices their inputs (the node features themselves, not a copy, and the slices' indices)."""
    pos, edge_index = _graph()
    x = torch.randn(pos.shape[0], 5, dtype=F64, requires_grad=True)
    kept = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: kept.append(t) or t, lambda t: t):
        out = chunked_message_sum(lambda x, s: 3.0 * x.index_select(0, s), [x], [edge_index[0]], edge_index[1],
                                  pos.shape[0], chunk)
    floats = [t for t in kept if t.is_floating_point()]
    assert kept and all(t.untyped_storage().data_ptr() == x.untyped_storage().data_ptr() for t in floats), \
        [(t.dtype, t.shape) for t in floats]
    torch.testing.assert_close(out, torch.zeros_like(x).index_add(0, edge_index[1], 3.0 * x[edge_index[0]]))


@pytest.mark.parametrize("chunk", [None, 16])
def test_edge_vectors_from_positions_equal_given_edge_vectors(chunk):
    """Without ``edge_vec`` the layer computes ``pos[src] - pos[dst]`` slice by slice: the same values, gradients and
    forces as with the edge vectors of :func:`edge_vectors` given."""
    pos, edge_index = _graph(seed=3)
    x = torch.randn(pos.shape[0], 15, dtype=F64)
    conv = _conv(chunk)
    results = []
    for given in (False, True):
        p = pos.clone().requires_grad_()
        xx = x.clone().requires_grad_()
        out = conv(xx, p, edge_index, edge_vectors(p, edge_index) if given else None)
        forces = -torch.autograd.grad(out.pow(2).sum(), p, create_graph=True)[0]
        grads = torch.autograd.grad(forces.pow(2).sum() + out.sum(), [xx, p, *conv.parameters()])
        results.append((out, forces, grads))
    (out0, f0, g0), (out1, f1, g1) = results
    torch.testing.assert_close(out0, out1, rtol=0, atol=1e-13)
    torch.testing.assert_close(f0, f1, rtol=0, atol=1e-12)
    for a, b in zip(g0, g1):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-11)  # summed in another order


class _FloatShapes(TorchDispatchMode):
    """Records the shape of every floating-point tensor an operator returns (forward and backward)."""

    def __init__(self) -> None:
        super().__init__()
        self.shapes: list[tuple[str, tuple[int, ...]]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.is_floating_point():
                self.shapes.append((str(func), tuple(t.shape)))
        return out


def test_chunked_step_makes_no_tensor_of_all_edges():
    """In chunks, a training step (forward, forces and backward) never builds a feature tensor over all edges at once:
    edge vectors, harmonics, radial weights and messages exist one slice at a time. The only float tensor with one
    entry per edge is the 1-D count of the degree normalisation (4 bytes per edge in float32, freed at once)."""
    pos, edge_index = _graph(60, 2)
    num_edges = edge_index.shape[1]
    assert num_edges > 16 * 20 and num_edges not in (60, 16)
    conv = _conv(16)
    x = torch.randn(60, 15, dtype=F64, requires_grad=True)
    p = pos.clone().requires_grad_()
    mode = _FloatShapes()
    with mode:
        out = conv(x, p, edge_index)
        forces = -torch.autograd.grad(out.pow(2).sum(), p, create_graph=True)[0]
        (out.sum() + forces.pow(2).sum()).backward()
    assert len(mode.shapes) > 1000  # the mode saw the backward passes too
    per_edge = [(f, s) for f, s in mode.shapes if s and s[0] == num_edges]
    assert per_edge == [("aten.new_ones.default", (num_edges,))], per_edge[:10]


def test_chunked_model_makes_no_tensor_of_all_edges():
    """The same for a whole TensorFieldNetwork in chunks (its layers compute their slices' edge vectors), with
    forces: per-edge float tensors are the degree counts only, one per layer."""
    pos, edge_index = _graph(60, 2)
    num_edges = edge_index.shape[1]
    torch.manual_seed(0)
    model = TensorFieldNetwork(irreps_out="0e", lmax=1, mul=4, num_layers=2, r_max=1.2, edge_chunk_size=16).double()
    p = pos.clone().requires_grad_()
    mode = _FloatShapes()
    with mode:
        energy = model(p, edge_index=edge_index).sum()
        forces = -torch.autograd.grad(energy, p, create_graph=True)[0]
        (energy + forces.pow(2).sum()).backward()
    per_edge = [f for f, s in mode.shapes if s and s[0] == num_edges]
    assert per_edge == ["aten.new_ones.default"] * 3, per_edge[:10]
    torch.manual_seed(0)
    whole = TensorFieldNetwork(irreps_out="0e", lmax=1, mul=4, num_layers=2, r_max=1.2).double()
    q = pos.clone().requires_grad_()
    energy_whole = whole(q, edge_index=edge_index).sum()
    forces_whole = -torch.autograd.grad(energy_whole, q)[0]
    torch.testing.assert_close(energy.detach(), energy_whole.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(forces.detach(), forces_whole, rtol=1e-10, atol=1e-12)
