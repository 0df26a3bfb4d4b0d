r"""e3nn's ``nn.models.gate_points_2102`` (February 2021) on steertorch's modules: as ``gate_points_2101``, and
the radial MLPs also see the scalar (``0e``) node attributes of both ends of each edge. The same constructor
arguments, input dict, module names and state-dict layout as e3nn 0.6.

>>> import torch
>>> net = Network("0e", "4x0e + 2x1o", "1o", "2x0e", "0e + 1o", layers=2, max_radius=2.0, number_of_basis=4,
...               radial_layers=1, radial_neurons=8, num_neighbors=2.0, num_nodes=4.0)
>>> net({"pos": torch.randn(4, 3), "x": torch.ones(4, 1), "z": torch.randn(4, 2)}).shape
torch.Size([1, 3])
"""

from __future__ import annotations

from ._common import Compose, radius_graph, scatter, smooth_cutoff, tp_path_exists
from ._gate_points import _AngleConvolution, _GatePointsNetwork

__all__ = ["Convolution", "Network", "Compose", "scatter", "radius_graph", "smooth_cutoff", "tp_path_exists"]


class Convolution(_AngleConvolution):
    r"""e3nn's equivariant convolution of ``gate_points_2102``: as 2101's, the radial MLP takes
    ``number_of_edge_features`` edge scalars. ``forward(node_input, node_attr, edge_src, edge_dst, edge_attr,
    edge_features)``.
    """

    def __init__(self, irreps_in: object, irreps_node_attr: object, irreps_edge_attr: object, irreps_out: object,
                 number_of_edge_features: int, radial_layers: int, radial_neurons: int, num_neighbors: float) -> None:
        super().__init__(irreps_in, irreps_node_attr, irreps_edge_attr, irreps_out, number_of_edge_features,
                         radial_layers, radial_neurons, num_neighbors)


class Network(_GatePointsNetwork):
    r"""e3nn's gate-points network of February 2021: :class:`~steertorch.nn.models.gate_points_2101.Network` whose
    edge scalars are the length embedding and the ``0e`` node attributes of source and destination
    (``number_of_basis + 2 * irreps_node_attr.count("0e")`` of them; module ``ext_z`` extracts them).
    """

    _with_attr_scalars = True
    _convolution = Convolution
