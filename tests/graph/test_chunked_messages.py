"""Message passing in chunks of edges equals the all-at-once step: values, gradients, double backward (forces),
empty graphs; and it keeps less memory for the backward pass."""

from __future__ import annotations

import pytest
import torch

from steertorch.graph import PointConv, chunked_message_sum, radius_graph
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
