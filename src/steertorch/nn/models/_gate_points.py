r"""The body shared by e3nn's ``gate_points_2101`` and ``gate_points_2102`` networks (they differ in the edge
scalars fed to the radial MLPs: the length embedding, or it and the scalar node attributes of both ends)."""

from __future__ import annotations

import torch
from torch import nn

from ...group._spherical_harmonics import spherical_harmonics
from ...math import soft_one_hot_linspace
from ...o3 import Irreps
from .._irreps._extract import ExtractIr
from .._irreps._gate import Gate
from ._common import Compose, PointsConvolution, radius_graph, scatter, smooth_cutoff, tp_path_exists

_ACT = {1: torch.nn.functional.silu, -1: torch.tanh}
_ACT_GATES = {1: torch.sigmoid, -1: torch.tanh}


class _AngleConvolution(PointsConvolution):
    def __init__(self, irreps_in: object, irreps_node_attr: object, irreps_edge_attr: object, irreps_out: object,
                 number_of_edge_features: int, radial_layers: int, radial_neurons: int, num_neighbors: float) -> None:
        super().__init__(irreps_in, irreps_node_attr, irreps_edge_attr, irreps_out,
                         [number_of_edge_features] + radial_layers * [radial_neurons], num_neighbors, "angle")
        self.irreps_in, self.irreps_node_attr = Irreps(irreps_in), Irreps(irreps_node_attr)
        self.irreps_edge_attr, self.irreps_out = Irreps(irreps_edge_attr), Irreps(irreps_out)


class _GatePointsNetwork(nn.Module):
    _with_attr_scalars = False
    _convolution: type = _AngleConvolution

    def __init__(self, irreps_in: object | None, irreps_hidden: object, irreps_out: object,
                 irreps_node_attr: object | None, irreps_edge_attr: object, layers: int, max_radius: float,
                 number_of_basis: int, radial_layers: int, radial_neurons: int, num_neighbors: float,
                 num_nodes: float, reduce_output: bool = True) -> None:
        super().__init__()
        self.max_radius = max_radius
        self.number_of_basis = number_of_basis
        self.num_neighbors = num_neighbors
        self.num_nodes = num_nodes
        self.reduce_output = reduce_output
        self.irreps_in = Irreps(irreps_in) if irreps_in is not None else None
        self.irreps_hidden = Irreps(irreps_hidden)
        self.irreps_out = Irreps(irreps_out)
        self.irreps_node_attr = Irreps(irreps_node_attr) if irreps_node_attr is not None else Irreps("0e")
        self.irreps_edge_attr = Irreps(irreps_edge_attr)
        self.input_has_node_in = irreps_in is not None
        self.input_has_node_attr = irreps_node_attr is not None
        n_edge = number_of_basis
        if self._with_attr_scalars:
            self.ext_z = ExtractIr(self.irreps_node_attr, "0e")
            n_edge = number_of_basis + 2 * self.irreps_node_attr.count("0e")

        irreps = self.irreps_in if self.irreps_in is not None else Irreps("0e")
        self.layers = nn.ModuleList()
        for _ in range(layers):
            scalars = Irreps([(mul, ir) for mul, ir in self.irreps_hidden
                              if ir.l == 0 and tp_path_exists(irreps, self.irreps_edge_attr, ir)])
            gated = Irreps([(mul, ir) for mul, ir in self.irreps_hidden
                            if ir.l > 0 and tp_path_exists(irreps, self.irreps_edge_attr, ir)])
            ir = "0e" if tp_path_exists(irreps, self.irreps_edge_attr, "0e") else "0o"
            gates = Irreps([(mul, ir) for mul, _ in gated])
            gate = Gate(scalars, [_ACT[ir.p] for _, ir in scalars], gates, [_ACT_GATES[ir.p] for _, ir in gates],
                        gated)
            conv = self._convolution(irreps, self.irreps_node_attr, self.irreps_edge_attr, gate.irreps_in, n_edge,
                                     radial_layers, radial_neurons, num_neighbors)
            irreps = gate.irreps_out
            self.layers.append(Compose(conv, gate))
        self.layers.append(self._convolution(irreps, self.irreps_node_attr, self.irreps_edge_attr, self.irreps_out,
                                             n_edge, radial_layers, radial_neurons, num_neighbors))

    def forward(self, data: dict[str, torch.Tensor]) -> torch.Tensor:
        """``data``: ``pos`` ``[N, 3]``, optional ``x`` (node features, ``irreps_in``), ``z`` (node attributes,
        ``irreps_node_attr``) and ``batch`` (graph index per node). Returns ``[graphs, irreps_out.dim]`` (summed
        over nodes, divided by :math:`\\sqrt{\\mathrm{num\\_nodes}}`) or ``[N, irreps_out.dim]`` without
        ``reduce_output``."""
        pos = data["pos"]
        batch = data["batch"] if "batch" in data else pos.new_zeros(pos.shape[0], dtype=torch.long)
        edge_src, edge_dst = radius_graph(pos, self.max_radius, batch)
        edge_vec = pos[edge_src] - pos[edge_dst]
        edge_sh = spherical_harmonics(self.irreps_edge_attr, edge_vec, True, normalization="component")
        edge_length = edge_vec.norm(dim=1)
        edge_length_embedded = soft_one_hot_linspace(edge_length, 0.0, self.max_radius, self.number_of_basis,
                                                     basis="gaussian", cutoff=False).mul(self.number_of_basis**0.5)
        edge_attr = smooth_cutoff(edge_length / self.max_radius)[:, None] * edge_sh

        if self.input_has_node_in and "x" in data:
            x = data["x"]
        elif self.irreps_in is None:
            x = pos.new_ones((pos.shape[0], 1))
        else:
            raise ValueError(f"{type(self).__name__}: irreps_in = {self.irreps_in}, so data needs node features 'x'")
        if self.input_has_node_attr and "z" in data:
            z = data["z"]
        elif self.irreps_node_attr == Irreps("0e"):
            z = pos.new_ones((pos.shape[0], 1))
        else:
            raise ValueError(f"{type(self).__name__}: irreps_node_attr = {self.irreps_node_attr}, so data needs "
                             f"node attributes 'z'")

        edge_scalars = edge_length_embedded
        if self._with_attr_scalars:
            scalar_z = self.ext_z(z)
            edge_scalars = torch.cat([edge_length_embedded, scalar_z[edge_src], scalar_z[edge_dst]], dim=1)
        for lay in self.layers:
            x = lay(x, z, edge_src, edge_dst, edge_attr, edge_scalars)
        if self.reduce_output:
            n_graphs = int(batch.max()) + 1 if batch.numel() else 0
            return scatter(x, batch, n_graphs).div(self.num_nodes**0.5)
        return x
