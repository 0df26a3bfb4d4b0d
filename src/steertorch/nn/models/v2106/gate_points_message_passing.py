r"""e3nn's ``nn.models.v2106.gate_points_message_passing``: a stack of ``Compose(Convolution, Gate)`` through the
hidden irreps of ``irreps_node_sequence``, then a last convolution.

>>> import torch
>>> mp = MessagePassing(["0e", "0e + 1e", "1e"], "0e", "0e + 1e", fc_neurons=[2, 8], num_neighbors=2.0)
>>> src, dst = torch.tensor([0, 1]), torch.tensor([1, 0])
>>> mp(torch.randn(2, 1), torch.ones(2, 1), src, dst, torch.randn(2, 4), torch.randn(2, 2)).shape
torch.Size([2, 3])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ....o3 import Irreps
from ..._irreps._gate import Gate
from .._common import Compose, radius_graph, tp_path_exists
from .points_convolution import Convolution

__all__ = ["MessagePassing", "Compose", "tp_path_exists", "radius_graph"]

_ACT = {1: torch.nn.functional.silu, -1: torch.tanh}
_ACT_GATES = {1: torch.sigmoid, -1: torch.tanh}


class MessagePassing(nn.Module):
    r"""e3nn's v2106 message passing: for each hidden irreps of ``irreps_node_sequence[1:-1]``, a convolution to the
    gate's input then the gate (scalars through silu / tanh by parity, degrees > 0 gated by sigmoid / tanh of
    ``0e`` or ``0o`` gates, whichever the product can make), and a last convolution to
    ``irreps_node_sequence[-1]``. ``irreps_node_sequence`` (attribute) lists the irreps actually used.
    ``forward(node_features, node_attr, edge_src, edge_dst, edge_attr, edge_scalars)``.
    """

    def __init__(self, irreps_node_sequence: Sequence[object], irreps_node_attr: object, irreps_edge_attr: object,
                 fc_neurons: Sequence[int], num_neighbors: float) -> None:
        super().__init__()
        self.num_neighbors = num_neighbors
        sequence = [Irreps(irreps) for irreps in irreps_node_sequence]
        self.irreps_node_attr = Irreps(irreps_node_attr)
        self.irreps_edge_attr = Irreps(irreps_edge_attr)
        self.layers = nn.ModuleList()
        self.irreps_node_sequence = [sequence[0]]
        irreps_node = sequence[0]
        edge = self.irreps_edge_attr
        for hidden in sequence[1:-1]:
            scalars = Irreps([(mul, ir) for mul, ir in hidden
                              if ir.l == 0 and tp_path_exists(irreps_node, edge, ir)]).simplify()
            gated = Irreps([(mul, ir) for mul, ir in hidden if ir.l > 0 and tp_path_exists(irreps_node, edge, ir)])
            ir = None
            if gated.dim > 0:
                if tp_path_exists(irreps_node, edge, "0e"):
                    ir = "0e"
                elif tp_path_exists(irreps_node, edge, "0o"):
                    ir = "0o"
                else:
                    raise ValueError(f"irreps_node={irreps_node} times irreps_edge_attr={edge} is unable to produce "
                                     f"gates needed for irreps_gated={gated}")
            gates = Irreps([(mul, ir) for mul, _ in gated]).simplify()
            gate = Gate(scalars, [_ACT[ir.p] for _, ir in scalars], gates, [_ACT_GATES[ir.p] for _, ir in gates],
                        gated)
            conv = Convolution(irreps_node, self.irreps_node_attr, edge, gate.irreps_in, fc_neurons, num_neighbors)
            self.layers.append(Compose(conv, gate))
            irreps_node = gate.irreps_out
            self.irreps_node_sequence.append(irreps_node)
        self.layers.append(Convolution(irreps_node, self.irreps_node_attr, edge, sequence[-1], fc_neurons,
                                       num_neighbors))
        self.irreps_node_sequence.append(sequence[-1])
        self.irreps_node_input = self.irreps_node_sequence[0]
        self.irreps_node_output = self.irreps_node_sequence[-1]

    def forward(self, node_features: torch.Tensor, node_attr: torch.Tensor, edge_src: torch.Tensor,
                edge_dst: torch.Tensor, edge_attr: torch.Tensor, edge_scalars: torch.Tensor) -> torch.Tensor:
        for lay in self.layers:
            node_features = lay(node_features, node_attr, edge_src, edge_dst, edge_attr, edge_scalars)
        return node_features
