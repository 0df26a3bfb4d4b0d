import pytest
import torch

from steertorch.graph import scatter_max, scatter_mean, scatter_softmax, scatter_sum
from steertorch.graph._scatter import add_rows_


def _data(seed=0, n=17, groups=6, feat=(3, 2)):
    g = torch.Generator().manual_seed(seed)
    src = torch.randn(n, *feat, generator=g, dtype=torch.float64)
    index = torch.randint(0, groups - 1, (n,), generator=g)  # the last group stays empty
    return src, index, groups


def _naive(src, index, groups, reduce):
    out = []
    for k in range(groups):
        rows = src[index == k]
        if rows.shape[0] == 0:
            out.append(torch.zeros_like(src[0]))
        elif reduce == "sum":
            out.append(rows.sum(0))
        elif reduce == "mean":
            out.append(rows.mean(0))
        else:
            out.append(rows.max(0).values)
    return torch.stack(out)


@pytest.mark.parametrize("reduce,fn", [("sum", scatter_sum), ("mean", scatter_mean), ("max", scatter_max)])
def test_scatter_equals_naive_loop(reduce, fn):
    src, index, groups = _data()
    out = fn(src, index, dim=0, dim_size=groups)
    torch.testing.assert_close(out, _naive(src, index, groups, reduce), rtol=0, atol=1e-14)
    assert out[-1].abs().max() == 0  # empty group gives 0
    # dim_size inferred from index
    assert fn(src, index).shape[0] == int(index.max()) + 1


@pytest.mark.parametrize("fn", [scatter_sum, scatter_mean, scatter_max])
def test_scatter_other_dim_and_full_index(fn):
    src, index, groups = _data(seed=1)
    moved = fn(src.movedim(0, 1), index, dim=1, dim_size=groups)
    torch.testing.assert_close(moved, fn(src, index, 0, groups).movedim(0, 1))
    moved = fn(src.movedim(0, -1), index, dim=-1, dim_size=groups)
    torch.testing.assert_close(moved, fn(src, index, 0, groups).movedim(0, -1))
    full = index.view(-1, 1, 1).expand_as(src).contiguous()
    torch.testing.assert_close(fn(src, full, 0, groups), fn(src, index, 0, groups))


def test_scatter_softmax():
    src, index, groups = _data(seed=2, feat=(4,))
    out = scatter_softmax(src, index, dim_size=groups)
    for k in range(groups):
        rows = index == k
        if rows.any():
            torch.testing.assert_close(out[rows], torch.softmax(src[rows], dim=0), rtol=0, atol=1e-14)
    # numerically stable for huge inputs
    big = scatter_softmax(src * 1e4, index, dim_size=groups)
    assert torch.isfinite(big).all()
    torch.testing.assert_close(scatter_sum(big, index, dim_size=groups)[:-1], torch.ones(groups - 1, 4,
                               dtype=torch.float64))


@pytest.mark.parametrize("fn", [scatter_sum, scatter_mean, scatter_max, scatter_softmax])
def test_scatter_gradcheck(fn):
    src, index, groups = _data(seed=3, n=9, feat=(2,))
    src.requires_grad_(True)
    f = lambda s: fn(s, index, 0, groups)  # noqa: E731
    assert torch.autograd.gradcheck(f, (src,))
    assert torch.autograd.gradgradcheck(f, (src,))


def test_scatter_max_gradient_goes_to_the_max():
    src = torch.tensor([1.0, 3.0, 2.0, -1.0], dtype=torch.float64, requires_grad=True)
    index = torch.tensor([0, 0, 0, 1])
    scatter_max(src, index, dim_size=3).sum().backward()
    assert src.grad.tolist() == [0.0, 1.0, 0.0, 1.0]


def test_scatter_permutation_consistency():
    src, index, groups = _data(seed=4)
    perm = torch.randperm(src.shape[0], generator=torch.Generator().manual_seed(0))
    for fn in (scatter_sum, scatter_mean, scatter_max):
        torch.testing.assert_close(fn(src[perm], index[perm], 0, groups), fn(src, index, 0, groups))
    torch.testing.assert_close(scatter_softmax(src[perm], index[perm], 0, groups),
                               scatter_softmax(src, index, 0, groups)[perm])


def test_scatter_float32_and_compile_friendly_shapes():
    src, index, groups = _data(seed=5)
    out = scatter_mean(src.float(), index, dim_size=groups)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.double(), scatter_mean(src, index, dim_size=groups), rtol=1e-5, atol=1e-6)


def test_scatter_bad_input():
    src = torch.randn(4, 2)
    with pytest.raises(ValueError, match="index has 3 entries, expected"):
        scatter_sum(src, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="integer"):
        scatter_sum(src, torch.zeros(4))
    with pytest.raises(ValueError, match="dim"):
        scatter_sum(src, torch.zeros(4, dtype=torch.long), dim=2)
    with pytest.raises(ValueError, match="src's shape"):
        scatter_max(src, torch.zeros(4, 3, dtype=torch.long))


def test_scatter_compiles_without_graph_breaks():
    src, index, groups = _data(seed=6, feat=(4,))
    for fn in (scatter_mean, scatter_softmax):
        compiled = torch.compile(lambda s, i, fn=fn: fn(s, i, 0, groups), backend="aot_eager", fullgraph=True)
        torch.testing.assert_close(compiled(src, index), fn(src, index, 0, groups))


def _saved_tensors(fn) -> list[torch.Tensor]:
    """The tensors autograd keeps for the backward pass of ``fn()`` (seen by saved-tensor hooks)."""
    seen = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: seen.append(t) or t, lambda t: t):
        fn()
    return seen


@pytest.mark.parametrize("index_dtype", [torch.int64, torch.int32])
def test_add_rows_equals_index_add(index_dtype):
    src, index, groups = _data(seed=7)
    start = torch.randn(groups, *src.shape[1:], dtype=src.dtype, generator=torch.Generator().manual_seed(1))
    out = start.clone()
    returned = add_rows_(out, index.to(index_dtype), src)
    assert returned is out  # in place
    torch.testing.assert_close(out, start.index_add(0, index, src), rtol=0, atol=1e-14)
    one_d = add_rows_(torch.zeros(groups, dtype=src.dtype), index.to(index_dtype), src[:, 0, 0])
    torch.testing.assert_close(one_d, torch.zeros(groups, dtype=src.dtype).index_add(0, index, src[:, 0, 0]))


@pytest.mark.parametrize("rows", [9, 0])
def test_add_rows_gradients_and_double_backward(rows):
    src, index, groups = _data(seed=8, n=rows, feat=(2,))
    src.requires_grad_(True)
    start = torch.randn(groups, 2, dtype=torch.float64, requires_grad=True)
    f = lambda s, o: add_rows_(o * 1.0, index.int(), s)  # noqa: E731  (a copy: gradcheck reruns f)
    assert torch.autograd.gradcheck(f, (src, start))
    assert torch.autograd.gradgradcheck(f, (src, start))


def test_add_rows_keeps_only_the_index_for_backward():
    """index_add keeps its source (every message, in message passing) for the backward pass; add_rows_ keeps
    only the index."""
    src, index, groups = _data(seed=9)
    src.requires_grad_(True)
    kept = _saved_tensors(lambda: torch.zeros(groups, 3, 2, dtype=src.dtype).index_add(0, index, src * 2))
    assert any(t.is_floating_point() for t in kept)  # what add_rows_ avoids
    kept = _saved_tensors(lambda: add_rows_(torch.zeros(groups, 3, 2, dtype=src.dtype), index, src * 2))
    assert kept and not any(t.is_floating_point() for t in kept)
    assert sum(t.untyped_storage().nbytes() for t in kept) == index.numel() * 8  # an expanded view, no copy


def test_add_rows_bad_input():
    with pytest.raises(ValueError, match="one entry per row"):
        add_rows_(torch.zeros(3, 2), torch.tensor([0, 1]), torch.ones(3, 2))
    with pytest.raises(ValueError, match="agree after dimension 0"):
        add_rows_(torch.zeros(3, 2), torch.tensor([0, 1, 2]), torch.ones(3, 4))
