r"""Pieces shared by e3nn's reference models (``gate_points_2101``, ``gate_points_2102``, ``v2106``): the naive
radius graph and scatter they use, the smooth cutoff, the point convolution with its self-connection, and the
``Compose`` wrapper (its ``first`` / ``second`` names are in e3nn's state-dict keys).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from ...o3 import FullyConnectedTensorProduct, Irrep, Irreps, TensorProduct
from .._irreps._fc import FullyConnectedNet

__all__ = ["scatter", "radius_graph", "smooth_cutoff", "tp_path_exists", "Compose", "PointsConvolution"]


def scatter(src: torch.Tensor, index: torch.Tensor, dim_size: int) -> torch.Tensor:
    r"""Sum of the rows of ``src`` ``[E, d]`` by destination, ``[dim_size, d]``:
    :math:`out_i = \sum_{e: index_e = i} src_e`.

    >>> scatter(torch.ones(3, 2), torch.tensor([0, 2, 0]), 3)[:, 0].tolist()
    [2.0, 0.0, 1.0]
    """
    out = src.new_zeros(dim_size, src.shape[1])
    return out.index_add_(0, index, src) if src.shape[0] else out + src.sum(0)


def radius_graph(pos: torch.Tensor, r_max: float, batch: torch.Tensor | None = None) -> torch.Tensor:
    r"""Edges ``[2, E]`` (source, destination) between distinct points closer than ``r_max``, in the same graph of
    ``batch``; all pairs by ``torch.cdist`` (e3nn's reference models' naive graph, in the same edge order).

    >>> radius_graph(torch.tensor([[0.0, 0, 0], [1, 0, 0], [5, 0, 0]]), 2.0).tolist()
    [[0, 1], [1, 0]]
    """
    r = torch.cdist(pos, pos)
    index = ((r < r_max) & (r > 0)).nonzero().T
    if batch is not None:
        index = index[:, batch[index[0]] == batch[index[1]]]
    return index


def smooth_cutoff(x: torch.Tensor) -> torch.Tensor:
    r"""1 for :math:`x \le 1/2`, 0 for :math:`x \ge 1`, and :math:`(1 - \cos(2\pi(x - 1)))/2` between (the cutoff
    of e3nn's ``gate_points_2101/2102``).

    >>> smooth_cutoff(torch.tensor([0.0, 0.75, 2.0])).tolist()
    [1.0, 0.5, 0.0]
    """
    u = 2 * (x - 1)
    y = (1 - torch.cos(math.pi * u)) / 2
    return torch.where(u > 0, torch.zeros_like(y), torch.where(u < -1, torch.ones_like(y), y))


def tp_path_exists(irreps_in1: object, irreps_in2: object, ir_out: object) -> bool:
    """Whether some irrep of ``irreps_in1`` times some irrep of ``irreps_in2`` contains ``ir_out``.

    >>> tp_path_exists("1o", "1o", "1e"), tp_path_exists("0e", "1o", "0e")
    (True, False)
    """
    ir_out = Irrep(ir_out)
    irreps_in2 = Irreps(irreps_in2).simplify()
    return any(ir_out in ir1 * ir2 for _, ir1 in Irreps(irreps_in1).simplify() for _, ir2 in irreps_in2)


class Compose(nn.Module):
    """``second(first(*inputs))``, with ``irreps_in`` of ``first`` and ``irreps_out`` of ``second`` when they have
    them (e3nn's ``Compose``).

    >>> Compose(nn.Identity(), nn.Identity())(torch.ones(1)).tolist()
    [1.0]
    """

    def __init__(self, first: nn.Module, second: nn.Module) -> None:
        super().__init__()
        self.first, self.second = first, second
        if hasattr(first, "irreps_in"):
            self.irreps_in = first.irreps_in
        if hasattr(second, "irreps_out"):
            self.irreps_out = second.irreps_out

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.second(self.first(*inputs))


def _output_mask(tp: TensorProduct) -> list[float]:
    """e3nn's ``output_mask``: 1 on the output components that some path reaches, 0 elsewhere."""
    reached = {ins.i_out for ins in tp.instructions if ins.path_weight != 0 and math.prod(ins.path_shape) > 0}
    return [1.0 if i in reached else 0.0 for i, mul_ir in enumerate(tp.irreps_out) for _ in range(mul_ir.dim)]


class PointsConvolution(nn.Module):
    r"""The point convolution of e3nn's gate-points models, with self-connection:

    .. math::

        x'_i = \mathrm{sc}(x_i, z_i)\, c_s + \mathrm{lin_2}\Big(\frac{1}{\sqrt{n}} \sum_{j \to i}
        \mathrm{tp}\big(\mathrm{lin_1}(x_j, z_j),\ Y(r_{ij}),\ \mathrm{fc}(s_{ij})\big),\ z_i\Big)\, c_x

    ``sc``, ``lin1``, ``lin2`` fully connected tensor products with the node attributes z, ``tp`` the "uvu" product
    with per-edge weights from the radial MLP ``fc`` of the edge scalars s, n = ``num_neighbors``. ``mixing``
    ``"angle"`` (2101/2102): :math:`c_s = \sin(\pi/8)`, :math:`c_x = \cos(\pi/8)` where ``sc`` has a path (1
    elsewhere); ``"alpha"`` (v2106): :math:`c_s = 1` and :math:`c_x = \alpha(\cdot, z_i)` a learned scalar tensor
    product initialised at 0 (1 where ``sc`` has no path).
    """

    def __init__(self, irreps_in: object, irreps_node_attr: object, irreps_edge_attr: object, irreps_out: object,
                 fc_neurons: Sequence[int], num_neighbors: float, mixing: str,
                 act: Callable[[torch.Tensor], torch.Tensor] = torch.nn.functional.silu) -> None:
        super().__init__()
        irreps_in, node_attr = Irreps(irreps_in), Irreps(irreps_node_attr)
        edge_attr, irreps_out = Irreps(irreps_edge_attr), Irreps(irreps_out)
        self.num_neighbors = num_neighbors
        self.mixing = mixing
        self.sc = FullyConnectedTensorProduct(irreps_in, node_attr, irreps_out)
        self.lin1 = FullyConnectedTensorProduct(irreps_in, node_attr, irreps_in)
        mid, instructions = [], []
        for i, (mul, ir_in) in enumerate(irreps_in):
            for j, (_, ir_edge) in enumerate(edge_attr):
                for ir_out in ir_in * ir_edge:
                    if ir_out in irreps_out or (mixing == "alpha" and ir_out == Irrep(0, 1)):
                        instructions.append((i, j, len(mid), "uvu", True))
                        mid.append((mul, ir_out))
        irreps_mid, p, _ = Irreps(mid).sort()
        if mixing == "alpha" and irreps_mid.dim == 0:
            raise ValueError(f"irreps_node_input={irreps_in} times irreps_edge_attr={edge_attr} produces nothing "
                             f"in irreps_node_output={irreps_out}")
        instructions = [(a, b, p[k], mode, w) for a, b, k, mode, w in instructions]
        tp = TensorProduct(irreps_in, edge_attr, irreps_mid, instructions, internal_weights=False,
                           shared_weights=False)
        self.fc = FullyConnectedNet(list(fc_neurons) + [tp.weight_numel], act)
        self.tp = tp
        self.lin2 = FullyConnectedTensorProduct(irreps_mid, node_attr, irreps_out)
        if mixing == "alpha":
            self.alpha = FullyConnectedTensorProduct(irreps_mid, node_attr, "0e")
            with torch.no_grad():
                self.alpha.weight.zero_()
            if _output_mask(self.alpha)[0] != 1.0:
                raise ValueError(f"irreps_mid={irreps_mid} and irreps_node_attr={node_attr} are not able to "
                                 f"generate scalars")
        elif mixing != "angle":
            raise ValueError(f"mixing must be 'angle' or 'alpha', got {mixing!r}")
        # e3nn's sc.output_mask (a constant 0 / 1: exact in every dtype; not in the state dict)
        self.register_buffer("_sc_mask", torch.tensor(_output_mask(self.sc)), persistent=False)

    def forward(self, node_input: torch.Tensor, node_attr: torch.Tensor, edge_src: torch.Tensor,
                edge_dst: torch.Tensor, edge_attr: torch.Tensor, edge_scalars: torch.Tensor) -> torch.Tensor:
        weight = self.fc(edge_scalars)
        s = self.sc(node_input, node_attr)
        x = self.lin1(node_input, node_attr)
        edge_features = self.tp(x[edge_src], edge_attr, weight)
        x = scatter(edge_features, edge_dst, node_input.shape[0]).div(self.num_neighbors**0.5)
        m = self._sc_mask.to(x.dtype)
        if self.mixing == "alpha":
            alpha = self.alpha(x, node_attr)
            return s + ((1 - m) + alpha * m) * self.lin2(x, node_attr)
        c_s, c_x = math.sin(math.pi / 8), math.cos(math.pi / 8)
        return c_s * s + ((1 - m) + c_x * m) * self.lin2(x, node_attr)
