r"""e3nn's ``nn.models.v2106.points_convolution``: the point convolution whose self-connection is added to the
convolution scaled by a learned scalar :math:`\alpha` (initialised at 0, as in arXiv:2002.10444).

>>> import torch
>>> conv = Convolution("2x0e + 1o", "0e", "0e + 1o", "2x0e + 1o", [3, 8], num_neighbors=2.0)
>>> src, dst = torch.tensor([0, 1]), torch.tensor([1, 0])
>>> conv(torch.randn(2, 5), torch.ones(2, 1), src, dst, torch.randn(2, 4), torch.randn(2, 3)).shape
torch.Size([2, 5])
"""

from __future__ import annotations

from collections.abc import Sequence

from ....o3 import Irreps
from .._common import PointsConvolution, scatter

__all__ = ["Convolution", "scatter"]


class Convolution(PointsConvolution):
    r"""e3nn's v2106 convolution (:class:`~steertorch.nn.models._common.PointsConvolution`, mixing ``"alpha"``):

    .. math::

        x'_i = \mathrm{sc}(x_i, z_i) + \alpha(m_i, z_i)\, \mathrm{lin_2}(m_i, z_i), \qquad
        m_i = \frac{1}{\sqrt n} \sum_{j \to i} \mathrm{tp}(\mathrm{lin_1}(x_j, z_j), e_{ij}, \mathrm{fc}(s_{ij})),

    the middle irreps also keep ``0e`` (for :math:`\alpha`). ``fc_neurons``: input and hidden sizes of the radial
    MLP (silu). ``forward(node_input, node_attr, edge_src, edge_dst, edge_attr, edge_scalars)``.
    """

    def __init__(self, irreps_node_input: object, irreps_node_attr: object, irreps_edge_attr: object,
                 irreps_node_output: object, fc_neurons: Sequence[int], num_neighbors: float) -> None:
        super().__init__(irreps_node_input, irreps_node_attr, irreps_edge_attr, irreps_node_output, fc_neurons,
                         num_neighbors, "alpha")
        self.irreps_node_input, self.irreps_node_attr = Irreps(irreps_node_input), Irreps(irreps_node_attr)
        self.irreps_edge_attr, self.irreps_node_output = Irreps(irreps_edge_attr), Irreps(irreps_node_output)
