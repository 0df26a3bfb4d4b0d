r"""e3nn's ``nn.models.v2106.gate_points_networks``: ``SimpleNetwork`` (positions and node features in, radius
graph, harmonics of degree <= lmax on the edges) and ``NetworkForAGraphWithAttributes`` (given node and edge
attributes, optional given edges).

>>> import torch
>>> net = SimpleNetwork("3x0e + 2x1o", "4x0e + 1x1o", max_radius=2.0, num_neighbors=3.0, num_nodes=5.0, mul=4)
>>> net({"pos": torch.randn(5, 3), "x": torch.randn(5, 9)}).shape
torch.Size([1, 7])
"""

from __future__ import annotations

import torch
from torch import nn

from ....group._spherical_harmonics import spherical_harmonics
from ....math import soft_one_hot_linspace
from ....o3 import Irreps
from .._common import radius_graph, scatter
from .gate_points_message_passing import MessagePassing

__all__ = ["SimpleNetwork", "NetworkForAGraphWithAttributes", "scatter", "radius_graph"]


def _hidden(mul: int, lmax: int) -> Irreps:
    return Irreps([(mul, (l, p)) for l in range(lmax + 1) for p in [-1, 1]])


def _edge_length_embedding(edge_vec: torch.Tensor, max_radius: float, number_of_basis: int) -> torch.Tensor:
    return soft_one_hot_linspace(edge_vec.norm(dim=1), 0.0, max_radius, number_of_basis, basis="smooth_finite",
                                 cutoff=True).mul(number_of_basis**0.5)


def _pool(x: torch.Tensor, batch: torch.Tensor, num_nodes: float) -> torch.Tensor:
    n_graphs = int(batch.max()) + 1 if batch.numel() else 0
    return scatter(x, batch, n_graphs).div(num_nodes**0.5)


class SimpleNetwork(nn.Module):
    r"""e3nn's v2106 ``SimpleNetwork``: :class:`MessagePassing` through ``layers`` hidden irreps
    ``mul x (0o + 0e + 1o + 1e + ... + lmax)``, edges within ``max_radius`` (same graph of ``data["batch"]``),
    edge attributes the harmonics 0..lmax ("component") of ``pos[src] - pos[dst]``, edge scalars 10
    "smooth_finite" functions of the length (zero at ``max_radius``), node attributes 1. ``data``: ``pos``,
    ``x`` (``irreps_in``), optional ``batch``. Output pooled per graph / :math:`\sqrt{\text{num\_nodes}}`
    (``pool_nodes``) or per node.
    """

    def __init__(self, irreps_in: object, irreps_out: object, max_radius: float, num_neighbors: float,
                 num_nodes: float, mul: int = 50, layers: int = 3, lmax: int = 2, pool_nodes: bool = True) -> None:
        super().__init__()
        self.lmax = lmax
        self.max_radius = max_radius
        self.number_of_basis = 10
        self.num_nodes = num_nodes
        self.pool_nodes = pool_nodes
        self.mp = MessagePassing([irreps_in] + layers * [_hidden(mul, lmax)] + [irreps_out], "0e",
                                 Irreps.spherical_harmonics(lmax), [self.number_of_basis, 100], num_neighbors)
        self.irreps_in = self.mp.irreps_node_input
        self.irreps_out = self.mp.irreps_node_output

    def preprocess(self, data: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """``(batch, x, edge_src, edge_dst, edge_vec)``."""
        pos = data["pos"]
        batch = data["batch"] if "batch" in data else pos.new_zeros(pos.shape[0], dtype=torch.long)
        edge_src, edge_dst = radius_graph(pos, self.max_radius, batch)
        return batch, data["x"], edge_src, edge_dst, pos[edge_src] - pos[edge_dst]

    def forward(self, data: dict[str, torch.Tensor]) -> torch.Tensor:
        batch, node_inputs, edge_src, edge_dst, edge_vec = self.preprocess(data)
        edge_attr = spherical_harmonics(list(range(self.lmax + 1)), edge_vec, True, normalization="component")
        edge_scalars = _edge_length_embedding(edge_vec, self.max_radius, self.number_of_basis)
        node_attr = node_inputs.new_ones(node_inputs.shape[0], 1)
        out = self.mp(node_inputs, node_attr, edge_src, edge_dst, edge_attr, edge_scalars)
        return _pool(out, batch, self.num_nodes) if self.pool_nodes else out


class NetworkForAGraphWithAttributes(nn.Module):
    r"""e3nn's v2106 network for a graph with node attributes (``irreps_node_attr``) and edge attributes
    (``irreps_edge_attr``, concatenated with the harmonics 0..lmax of the edge vectors). ``data``: ``pos``,
    ``x`` or ``node_input``, ``node_attr``, ``edge_attr``, optional ``edge_index`` (else the radius graph) and
    ``batch``.
    """

    def __init__(self, irreps_node_input: object, irreps_node_attr: object, irreps_edge_attr: object,
                 irreps_node_output: object, max_radius: float, num_neighbors: float, num_nodes: float,
                 mul: int = 50, layers: int = 3, lmax: int = 2, pool_nodes: bool = True) -> None:
        super().__init__()
        self.lmax = lmax
        self.max_radius = max_radius
        self.number_of_basis = 10
        self.num_nodes = num_nodes
        self.irreps_edge_attr = Irreps(irreps_edge_attr)
        self.pool_nodes = pool_nodes
        self.mp = MessagePassing([irreps_node_input] + layers * [_hidden(mul, lmax)] + [irreps_node_output],
                                 irreps_node_attr, self.irreps_edge_attr + Irreps.spherical_harmonics(lmax),
                                 [self.number_of_basis, 100], num_neighbors)
        self.irreps_node_input = self.mp.irreps_node_input
        self.irreps_node_attr = self.mp.irreps_node_attr
        self.irreps_node_output = self.mp.irreps_node_output

    def preprocess(self, data: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """``(batch, node_input, node_attr, edge_attr, edge_src, edge_dst, edge_vec)``."""
        pos = data["pos"]
        batch = data["batch"] if "batch" in data else pos.new_zeros(pos.shape[0], dtype=torch.long)
        if "edge_index" in data:
            edge_src, edge_dst = data["edge_index"][0], data["edge_index"][1]
        else:
            edge_src, edge_dst = radius_graph(pos, self.max_radius, batch)
        node_input = data["x"] if "x" in data else data["node_input"]
        return (batch, node_input, data["node_attr"], data["edge_attr"], edge_src, edge_dst,
                pos[edge_src] - pos[edge_dst])

    def forward(self, data: dict[str, torch.Tensor]) -> torch.Tensor:
        batch, node_input, node_attr, edge_attr, edge_src, edge_dst, edge_vec = self.preprocess(data)
        edge_sh = spherical_harmonics(list(range(self.lmax + 1)), edge_vec, True, normalization="component")
        edge_attr = torch.cat([edge_attr, edge_sh], dim=1)
        edge_scalars = _edge_length_embedding(edge_vec, self.max_radius, self.number_of_basis)
        out = self.mp(node_input, node_attr, edge_src, edge_dst, edge_attr, edge_scalars)
        return _pool(out, batch, self.num_nodes) if self.pool_nodes else out
