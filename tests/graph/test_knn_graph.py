import pytest
import torch

from steertorch.graph import knn_graph


def _brute_knn(pos, k, batch, loop):
    n = pos.shape[0]
    d = (pos[:, None] - pos[None]).pow(2).sum(-1)
    d[batch[:, None] != batch[None]] = float("inf")
    if not loop:
        d.fill_diagonal_(float("inf"))
    val, idx = torch.topk(d, min(k, n), dim=1, largest=False)
    ok = torch.isfinite(val)
    i = torch.arange(n)[:, None].expand_as(idx)[ok]
    j = idx[ok]
    order = torch.argsort(i * n + j)
    return torch.stack([j[order], i[order]])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("loop", [False, True])
@pytest.mark.parametrize("k", [1, 6, 40])
def test_knn_equals_brute_force(dtype, loop, k):
    g = torch.Generator().manual_seed(k)
    pos = torch.rand(300, 3, generator=g, dtype=torch.float64).to(dtype)
    batch = torch.randint(0, 4, (300,), generator=g)  # unsorted batch
    assert torch.equal(knn_graph(pos, k, batch, loop=loop), _brute_knn(pos, k, batch, loop))
    assert torch.equal(knn_graph(pos, k, loop=loop), _brute_knn(pos, k, torch.zeros(300, dtype=torch.long), loop))


def test_knn_counts_and_small_graphs():
    pos = torch.rand(12, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    batch = torch.tensor([0] * 3 + [1] * 9)
    e = knn_graph(pos, 4, batch)
    counts = torch.bincount(e[1], minlength=12)
    assert counts[:3].tolist() == [2, 2, 2] and (counts[3:] == 4).all()
    assert (batch[e[0]] == batch[e[1]]).all()
    assert torch.equal(knn_graph(pos, 4, batch, flow="target_to_source"), e.flip(0))


def test_knn_many_small_graphs_chunking():
    g = torch.Generator().manual_seed(1)
    pos = torch.rand(3000, 3, generator=g, dtype=torch.float64)
    batch = torch.arange(3000) // 7
    e = knn_graph(pos, 3, batch)
    assert e.shape[1] == 3000 * 3
    sel = batch < 20
    sub = knn_graph(pos[sel], 3, batch[sel])
    assert torch.equal(e[:, : sub.shape[1]], sub)


def test_knn_bad_input():
    with pytest.raises(ValueError, match="k must be"):
        knn_graph(torch.rand(4, 3), 0)
    with pytest.raises(ValueError, match="pos must be"):
        knn_graph(torch.rand(4), 2)
    assert knn_graph(torch.zeros(0, 3), 2).shape == (2, 0)
