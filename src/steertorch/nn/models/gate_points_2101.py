r"""e3nn's ``nn.models.gate_points_2101`` (January 2021) on steertorch's modules: a point network of gated
convolutions, exactly equivariant under E(3). The same constructor arguments, input dict, module names and
state-dict layout as e3nn 0.6, so e3nn's trained weights load with :func:`~steertorch.o3.load_e3nn_state_dict`.

The edge scalars of the radial MLPs are the Gaussian embedding of the edge length (``number_of_basis`` of them).
Build inside :func:`steertorch.math.e3nn_compatible_constants` to reproduce e3nn's outputs exactly (e3nn's
activation constants differ from the exact ones by about 1e-3).

>>> import torch
>>> net = Network("0e", "4x0e + 2x1o", "1o", None, "0e + 1o", layers=2, max_radius=2.0, number_of_basis=4,
...               radial_layers=1, radial_neurons=8, num_neighbors=2.0, num_nodes=4.0)
>>> net({"pos": torch.randn(4, 3), "x": torch.ones(4, 1)}).shape
torch.Size([1, 3])
"""

from __future__ import annotations

from ._common import Compose, radius_graph, scatter, smooth_cutoff, tp_path_exists
from ._gate_points import _AngleConvolution, _GatePointsNetwork

__all__ = ["Convolution", "Network", "Compose", "scatter", "radius_graph", "smooth_cutoff", "tp_path_exists"]


class Convolution(_AngleConvolution):
    r"""e3nn's equivariant convolution of ``gate_points_2101`` (see
    :class:`~steertorch.nn.models._common.PointsConvolution`, mixing ``"angle"``): the radial MLP takes
    ``number_of_basis`` edge scalars, has ``radial_layers`` hidden layers of ``radial_neurons``, silu.
    ``forward(node_input, node_attr, edge_src, edge_dst, edge_attr, edge_length_embedded)``.
    """

    def __init__(self, irreps_in: object, irreps_node_attr: object, irreps_edge_attr: object, irreps_out: object,
                 number_of_basis: int, radial_layers: int, radial_neurons: int, num_neighbors: float) -> None:
        super().__init__(irreps_in, irreps_node_attr, irreps_edge_attr, irreps_out, number_of_basis, radial_layers,
                         radial_neurons, num_neighbors)


class Network(_GatePointsNetwork):
    r"""e3nn's gate-points network of January 2021.

    ``layers`` blocks ``Compose(Convolution, Gate)`` (hidden irreps: those of ``irreps_hidden`` reachable from the
    previous layer; scalars through silu / tanh by parity, higher degrees gated by sigmoid / tanh of extra scalars)
    then a last ``Convolution`` to ``irreps_out``. Edges: pairs of one graph closer than ``max_radius``; edge
    attributes :math:`h(|r|/r_{max})\, Y(r/|r|)` (``irreps_edge_attr`` harmonics, "component", ``r = pos[src] -
    pos[dst]``, h a smooth cutoff). ``irreps_in=None``: nodes start with the constant 1; ``irreps_node_attr=None``:
    attributes are the constant 1. Output summed over the nodes of each graph divided by
    :math:`\sqrt{\text{num\_nodes}}` (``reduce_output``).
    """

    _convolution = Convolution
