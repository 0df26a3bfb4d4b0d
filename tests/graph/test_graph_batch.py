import sys
import types

import pytest
import torch

from steertorch.graph import Graph, from_pyg, radius_graph, to_pyg


def _graph(n, seed, cell=False):
    g = torch.Generator().manual_seed(seed)
    pos = torch.rand(n, 3, generator=g, dtype=torch.float64) * 2
    kwargs = {"cell": torch.eye(3, dtype=torch.float64) * 2} if cell else {}
    return Graph(pos=pos, x=torch.randn(n, 4, generator=g, dtype=torch.float64), y=torch.tensor([float(seed)]),
                 **kwargs).with_radius_graph(1.0)


def test_collate_matches_batched_radius_graph():
    graphs = [_graph(n, s) for s, n in enumerate([5, 9, 1, 7])]
    batch = Graph.collate(graphs)
    assert batch.num_graphs == 4 and batch.num_nodes == 22 and batch.batch.tolist()[:6] == [0] * 5 + [1]
    assert torch.equal(batch.edge_index, radius_graph(batch.pos, 1.0, batch.batch))
    assert batch.y.tolist() == [0.0, 1.0, 2.0, 3.0]
    torch.testing.assert_close(batch.x[5:14], graphs[1].x)
    # collating batches offsets the graph ids
    again = Graph.collate([batch, graphs[0]])
    assert again.num_graphs == 5 and again.batch[-1] == 4
    assert torch.equal(again.edge_index[:, -graphs[0].num_edges:], graphs[0].edge_index + 22)


def test_collate_periodic_cells_and_shifts():
    graphs = [_graph(n, s, cell=True) for s, n in enumerate([4, 6])]
    assert graphs[0].shifts is not None and graphs[0].cell.shape == (1, 3, 3)
    batch = Graph.collate(graphs)
    assert batch.cell.shape == (2, 3, 3)
    e, shifts = radius_graph(batch.pos, 1.0, batch.batch, cell=batch.cell)
    assert torch.equal(batch.edge_index, e) and torch.equal(batch.shifts, shifts)


def test_graph_to_keeps_index_dtypes():
    g = _graph(6, 0).to(torch.float32)
    assert g.pos.dtype == torch.float32 and g.edge_index.dtype == torch.long and g.batch.dtype == torch.long


def test_graph_bad_input():
    with pytest.raises(ValueError, match="pos must be"):
        Graph(pos=torch.zeros(3))
    with pytest.raises(ValueError, match="x must have one row per node"):
        Graph(pos=torch.zeros(3, 3), x=torch.zeros(2, 1))
    with pytest.raises(ValueError, match="edge_index must be"):
        Graph(pos=torch.zeros(3, 3), edge_index=torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="only some have 'x'"):
        Graph.collate([Graph(pos=torch.zeros(1, 3), x=torch.zeros(1, 2)), Graph(pos=torch.zeros(1, 3))])


def test_from_pyg_duck_typed():
    data = types.SimpleNamespace(pos=torch.rand(5, 3), x=torch.rand(5, 2), edge_index=torch.tensor([[0, 1], [1, 0]]),
                                 batch=torch.tensor([0, 0, 1, 1, 1]), num_graphs=2, y=None)
    g = from_pyg(data)
    assert g.num_graphs == 2 and g.x is data.x and g.edge_index is data.edge_index
    with pytest.raises(ValueError, match="pos"):
        from_pyg(types.SimpleNamespace(x=torch.rand(2, 1)))


def test_to_pyg_with_stub_module(monkeypatch):
    class Data:
        def __init__(self, **kwargs):
            self.__dict__.update(kwargs)

    pkg = types.ModuleType("torch_geometric")
    data_mod = types.ModuleType("torch_geometric.data")
    data_mod.Data = Data
    pkg.data = data_mod
    monkeypatch.setitem(sys.modules, "torch_geometric", pkg)
    monkeypatch.setitem(sys.modules, "torch_geometric.data", data_mod)
    g = _graph(5, 3)
    d = to_pyg(g)
    assert d.pos is g.pos and d.edge_index is g.edge_index and torch.equal(d.batch, g.batch)
    back = from_pyg(d)
    assert torch.equal(back.edge_index, g.edge_index) and back.num_graphs == 1


def test_to_pyg_without_torch_geometric(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch_geometric", None)
    monkeypatch.setitem(sys.modules, "torch_geometric.data", None)
    with pytest.raises(ImportError, match="pip install torch_geometric"):
        to_pyg(_graph(3, 0))
