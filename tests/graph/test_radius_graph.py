import itertools

import pytest
import torch

from steertorch.graph import edge_vectors, radius, radius_graph


def _brute(pos, r, batch, loop):
    d2 = (pos[:, None] - pos[None]).pow(2).sum(-1)
    m = (d2 < r * r) & (batch[:, None] == batch[None])
    if not loop:
        m.fill_diagonal_(False)
    i, j = m.nonzero(as_tuple=True)
    return torch.stack([j, i])


def _cloud(n, d=3, seed=0, dtype=torch.float64, graphs=3, scale=4.0):
    g = torch.Generator().manual_seed(seed)
    pos = (torch.rand(n, d, generator=g, dtype=torch.float64) * scale).to(dtype)
    batch = torch.sort(torch.randint(0, graphs, (n,), generator=g)).values
    return pos, batch


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n", [40, 700])  # brute-force path and cell-list path
@pytest.mark.parametrize("loop", [False, True])
def test_radius_graph_equals_brute_force(dtype, n, loop):
    pos, batch = _cloud(n, dtype=dtype, seed=n)
    for b in (None, batch):
        ref = _brute(pos, 0.7, torch.zeros(n, dtype=torch.long) if b is None else b, loop)
        assert torch.equal(radius_graph(pos, 0.7, b, loop=loop), ref)
    flipped = radius_graph(pos, 0.7, batch, loop=loop, flow="target_to_source")
    assert torch.equal(flipped, _brute(pos, 0.7, batch, loop).flip(0))


def test_radius_graph_other_dimensions_and_unsorted_batch():
    for d in (1, 2, 4):
        pos, _ = _cloud(400, d=d, seed=d, scale=3.0)
        batch = torch.randint(0, 3, (400,), generator=torch.Generator().manual_seed(d))  # not sorted
        assert torch.equal(radius_graph(pos, 0.5, batch), _brute(pos, 0.5, batch, False))


def test_radius_graph_sparse_and_degenerate_clouds():
    # far-apart clusters (very many empty cells) and all points identical
    pos, batch = _cloud(300, seed=7, scale=1.0)
    pos[::3] += 1e12
    assert torch.equal(radius_graph(pos, 0.3, batch), _brute(pos, 0.3, batch, False))
    same = torch.zeros(200, 3, dtype=torch.float64)
    e = radius_graph(same, 0.1)
    assert e.shape[1] == 200 * 199
    assert radius_graph(torch.zeros(0, 3), 1.0).shape == (2, 0)


@pytest.mark.parametrize("scale", [4.0, 0.5])  # ~ 10 and ~ all points per cell
def test_radius_graph_small_chunks(monkeypatch, scale):
    import steertorch.graph._radius as radius_module

    monkeypatch.setattr(radius_module, "_CHUNK_CANDIDATES", 997)
    pos, batch = _cloud(500, seed=9, scale=scale)
    for loop in (False, True):
        assert torch.equal(radius_graph(pos, 0.7, batch, loop=loop), _brute(pos, 0.7, batch, loop))
    x, bx = _cloud(300, seed=10, scale=scale)
    d2 = (pos[:, None] - x[None]).pow(2).sum(-1)
    i, j = ((d2 < 0.49) & (batch[:, None] == bx[None])).nonzero(as_tuple=True)
    assert torch.equal(radius(x, pos, 0.7, bx, batch), torch.stack([i, j]))


def test_max_num_neighbors_keeps_the_nearest():
    pos, batch = _cloud(500, seed=3)
    full = radius_graph(pos, 1.0, batch)
    k = 5
    kept = radius_graph(pos, 1.0, batch, max_num_neighbors=k)
    dist_full = (pos[full[0]] - pos[full[1]]).norm(dim=1)
    for i in range(0, 500, 37):
        mine = full[1] == i
        expected = full[0][mine][torch.argsort(dist_full[mine])[:k]].sort().values
        assert torch.equal(kept[0][kept[1] == i], expected)


def test_permutation_consistency():
    pos, batch = _cloud(600, seed=4)
    perm = torch.randperm(600, generator=torch.Generator().manual_seed(1))
    e = radius_graph(pos, 0.8, batch)
    ep = radius_graph(pos[perm], 0.8, batch[perm])
    mapped = {(int(a), int(b)) for a, b in perm[ep].T}
    assert mapped == {(int(a), int(b)) for a, b in e.T}


def test_radius_bipartite():
    x, bx = _cloud(300, seed=5)
    y, by = _cloud(200, seed=6)
    e = radius(x, y, 0.6, bx, by)
    d2 = (y[:, None] - x[None]).pow(2).sum(-1)
    i, j = ((d2 < 0.36) & (by[:, None] == bx[None])).nonzero(as_tuple=True)
    assert torch.equal(e, torch.stack([i, j]))


def _brute_periodic(pos, r, batch, cell, pbc, loop):
    pos = pos.double()
    num_graphs = int(batch.max()) + 1
    cell = cell.double().expand(num_graphs, 3, 3) if cell.dim() == 2 else cell.double()
    # every shift that can matter for points at most 0.3 cells outside the cell, with a margin
    reach = (r * torch.linalg.inv(cell).norm(dim=1).max(0).values).ceil().long() + 2
    ranges = [range(-m, m + 1) if p else range(1) for p, m in zip(pbc, reach.tolist())]
    shifts = torch.tensor(list(itertools.product(*ranges)), dtype=torch.float64)  # [S, 3]
    same_graph = batch[:, None] == batch[None]
    edges = set()
    for chunk in shifts.split(64):
        lattice = torch.einsum("si,nij->snj", chunk, cell[batch])  # shift of each target's cell
        vec = pos[None, None, :, :] - pos[None, :, None, :] + lattice[:, :, None, :]  # [S, i, j, 3]
        m = (vec.pow(2).sum(-1) < r * r) & same_graph
        if not loop:
            m &= ~((chunk == 0).all(1)[:, None, None] & torch.eye(len(pos), dtype=torch.bool))
        for k, i, j in m.nonzero().tolist():
            edges.add((j, i, *chunk[k].long().tolist()))
    return edges


def _as_set(edge_index, shifts):
    return {(a, b, *s) for a, b, s in zip(edge_index[0].tolist(), edge_index[1].tolist(), shifts.long().tolist())}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("loop", [False, True])
@pytest.mark.parametrize("case", ["cell_larger_than_r", "cell_smaller_than_r", "slab", "many_points"])
def test_periodic_radius_graph_equals_brute_force(dtype, loop, case):
    g = torch.Generator().manual_seed(len(case))
    n, r, scale, pbc = {"cell_larger_than_r": (30, 0.9, 2.0, [True] * 3),
                        "cell_smaller_than_r": (4, 2.3, 1.0, [True] * 3),
                        "slab": (25, 1.2, 1.5, [True, False, True]),
                        "many_points": (130, 0.7, 3.0, [True] * 3)}[case]
    cell = (torch.eye(3, dtype=torch.float64) * scale + 0.3 * torch.rand(3, 3, generator=g, dtype=torch.float64))
    frac = torch.rand(n, 3, generator=g, dtype=torch.float64) * 1.6 - 0.3  # some points outside the cell
    pos = (frac @ cell).to(dtype)
    cell = cell.to(dtype)
    batch = torch.zeros(n, dtype=torch.long)
    e, shifts = radius_graph(pos, r, cell=cell, pbc=pbc, loop=loop)
    assert shifts.dtype == dtype and torch.equal(shifts, shifts.round())
    assert _as_set(e, shifts) == _brute_periodic(pos, r, batch, cell, pbc, loop)
    assert len(_as_set(e, shifts)) == e.shape[1]  # no duplicates
    assert torch.equal(e[1], e[1].sort().values)  # sorted by target
    vec = edge_vectors(pos.double(), e, shifts, cell.double())
    assert (vec.norm(dim=1) < r).all()
    if case == "cell_smaller_than_r":
        assert (e[0] == e[1]).sum() > 2  # self-images present


def test_periodic_batched_cells():
    g = torch.Generator().manual_seed(11)
    cells = torch.eye(3, dtype=torch.float64) * torch.tensor([1.5, 2.5, 1.0], dtype=torch.float64)[:, None, None]
    cells = cells + 0.2 * torch.rand(3, 3, 3, generator=g, dtype=torch.float64)
    batch = torch.tensor([0] * 6 + [1] * 9 + [2] * 3)
    pos = torch.einsum("ni,nij->nj", torch.rand(18, 3, generator=g, dtype=torch.float64), cells[batch])
    e, shifts = radius_graph(pos, 1.3, batch, cell=cells)
    assert _as_set(e, shifts) == _brute_periodic(pos, 1.3, batch, cells, [True] * 3, False)
    assert (batch[e[0]] == batch[e[1]]).all()
    vec = edge_vectors(pos, e, shifts, cells, batch)
    assert (vec.norm(dim=1) < 1.3).all()


def test_periodic_max_num_neighbors_and_lattice():
    # simple cubic lattice, one atom per cell of side 1: 6 neighbours at distance 1, 12 at sqrt(2)
    pos = torch.zeros(1, 3, dtype=torch.float64)
    e, shifts = radius_graph(pos, 1.5, cell=torch.eye(3, dtype=torch.float64))
    assert e.shape[1] == 18
    e, shifts = radius_graph(pos, 1.5, cell=torch.eye(3, dtype=torch.float64), max_num_neighbors=6)
    assert shifts.abs().sum(1).eq(1).all() and e.shape[1] == 6


def test_radius_graph_bad_input():
    pos = torch.rand(5, 3)
    with pytest.raises(ValueError, match="r must be"):
        radius_graph(pos, -1.0)
    with pytest.raises(ValueError, match="pos must be"):
        radius_graph(torch.rand(5), 1.0)
    with pytest.raises(ValueError, match="batch must be"):
        radius_graph(pos, 1.0, torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="flow"):
        radius_graph(pos, 1.0, flow="up")
    with pytest.raises(ValueError, match="cell must be"):
        radius_graph(pos, 1.0, cell=torch.eye(2))
    with pytest.raises(ValueError, match="invertible"):
        radius_graph(pos, 1.0, cell=torch.zeros(3, 3))
    with pytest.raises(ValueError, match="NaN"):
        radius_graph(torch.tensor([[0.0, float("nan"), 0.0]]), 1.0)
    with pytest.raises(ValueError, match="pbc needs a cell"):
        radius_graph(pos, 1.0, pbc=True)
