"""The compiled radius search equals the torch cell list it replaces on CPU: same pairs in the same order, every
option (batches, self-loops, nearest neighbours, periodic cells, two point sets), dimensions 1 to 3, both
precisions, with its sparse-grid fallback."""

from __future__ import annotations

import os

import pytest
import torch

import steertorch.graph._radius as radius_module
from steertorch.graph import radius, radius_graph
from steertorch.graph._radius_kernel import kernel_pairs, radius_kernel_info

pytestmark = pytest.mark.skipif(os.environ.get("STEERTORCH_CPU_KERNEL") == "0", reason="kernel switched off")


def _torch_path(fn, *args, **kwargs):
    saved = radius_module.kernel_pairs
    radius_module.kernel_pairs = lambda *a, **k: None
    try:
        return fn(*args, **kwargs)
    finally:
        radius_module.kernel_pairs = saved


def _cloud(n, d, dtype=torch.float64, seed=0, scale=5.0):
    return torch.rand(n, d, generator=torch.Generator().manual_seed(seed), dtype=dtype) * scale


def _kernel_or_skip():
    if not radius_kernel_info()["available"]:
        pytest.skip("kernel not available")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("loop", [False, True])
@pytest.mark.parametrize("options", [{}, {"batch": True}, {"max_num_neighbors": 4}, {"flow": "target_to_source"}])
def test_radius_graph_equals_the_torch_path(dtype, d, loop, options):
    _kernel_or_skip()
    pos = _cloud(1500, d, dtype)
    kwargs = dict(options)
    if kwargs.pop("batch", False):
        kwargs["batch"] = torch.randint(0, 3, (1500,), generator=torch.Generator().manual_seed(1))  # unsorted
    fast = radius_graph(pos, 0.6, loop=loop, **kwargs)
    slow = _torch_path(radius_graph, pos, 0.6, loop=loop, **kwargs)
    assert fast.shape[1] > 1500 and torch.equal(fast, slow)


def test_the_kernel_ran_and_edge_index_is_its_output():
    _kernel_or_skip()
    pos = _cloud(2000, 3)
    b = torch.zeros(2000, dtype=torch.long)
    q, s, d2 = kernel_pairs(pos, pos, 0.7, b, b, False, True)
    assert q._base is s._base and q._base.shape == (2, q.numel())
    assert torch.allclose(d2, (pos[q] - pos[s]).pow(2).sum(1), rtol=1e-12)
    assert bool((d2 < 0.49).all()) and not bool((q == s).any())
    edge_index = radius_graph(pos, 0.7)
    assert edge_index._base is None and edge_index.is_contiguous()  # the kernel's [2, E] tensor itself
    assert torch.equal(edge_index, torch.stack([s, q]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_radius_between_two_sets(dtype):
    _kernel_or_skip()
    x, y = _cloud(1200, 3, dtype, seed=2), _cloud(700, 3, dtype, seed=3, scale=6.0)  # y reaches outside x's box
    bx = torch.randint(0, 2, (1200,), generator=torch.Generator().manual_seed(4))
    by = torch.randint(0, 2, (700,), generator=torch.Generator().manual_seed(5))
    for kwargs in ({}, {"max_num_neighbors": 3}, {"batch_x": bx, "batch_y": by}):
        assert torch.equal(radius(x, y, 0.8, **kwargs), _torch_path(radius, x, y, 0.8, **kwargs))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_periodic_cells(dtype):
    _kernel_or_skip()
    pos = _cloud(800, 3, dtype, scale=4.0)
    cell = torch.tensor([[4.0, 0.0, 0.0], [0.5, 4.0, 0.0], [0.0, 0.3, 4.0]])
    for kwargs in ({"cell": cell}, {"cell": cell, "pbc": [True, False, True]}, {"cell": cell, "loop": True}):
        fast, fast_shift = radius_graph(pos, 1.1, **kwargs)
        slow, slow_shift = _torch_path(radius_graph, pos, 1.1, **kwargs)
        assert torch.equal(fast, slow) and torch.equal(fast_shift, slow_shift)


def test_sparse_clouds_fall_back_to_the_torch_path():
    _kernel_or_skip()
    pos = torch.cat([_cloud(300, 3), _cloud(300, 3) + 1e6])  # two clusters far apart: a huge, empty grid
    b = torch.zeros(600, dtype=torch.long)
    assert kernel_pairs(pos, pos, 0.5, b, b, False, False) is None
    assert torch.equal(radius_graph(pos, 0.5), _torch_path(radius_graph, pos, 0.5))


def test_threads_and_non_contiguous_input():
    _kernel_or_skip()
    pos = _cloud(20000, 3, scale=20.0).T.contiguous().T
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        fast = radius_graph(pos, 0.9)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(fast, _torch_path(radius_graph, pos.contiguous(), 0.9))


def test_dense_cluster_grows_the_buffer():
    _kernel_or_skip()
    pos = torch.cat([_cloud(600, 3, scale=0.05), _cloud(600, 3, seed=1)])  # 600 points in one cell
    assert torch.equal(radius_graph(pos, 0.5), _torch_path(radius_graph, pos, 0.5))
