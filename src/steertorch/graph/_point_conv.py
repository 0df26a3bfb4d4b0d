r"""Point convolution: the tensor field network layer (Thomas et al. 2018), in e3nn's layout.

For a target node :math:`a` with neighbours :math:`N(a)` (edges ``b -> a`` of ``edge_index``) and
the edge vector :math:`r_{ab} = x_b - x_a`, the convolution is

.. math::

    C_a = \frac{1}{n_a} \sum_{b \in N(a)}
        \mathrm{TP}\big(V_b,\; Y(\hat r_{ab});\; R(|r_{ab}|)\big),

with :math:`Y` the real spherical harmonics (``"component"`` normalisation), TP the
Clebsch-Gordan tensor product with one learned radial function per channel and path
(mode ``"uvu"``), :math:`R` a scalar MLP (:class:`~steertorch.nn.FullyConnectedNet`) on a
radial embedding of the distance (:class:`~steertorch.graph.RadialEmbedding`), and
:math:`n_a` the neighbour normalisation. The layer output is

.. math::

    \mathrm{out}_a = \mathrm{Gate}\Big(\tfrac{1}{\sqrt 2}\big(\mathrm{Lin}_1(C_a) + \mathrm{Lin}_2(V_a)\big)\Big),

the channel mixing :math:`\mathrm{Lin}_1` and the self-interaction :math:`\mathrm{Lin}_2`
(:class:`~steertorch.o3.Linear`) feeding the gated nonlinearity (:class:`~steertorch.nn.Gate`),
or the plain sum when ``gate=False``. With ``conv="so2"`` the messages and :math:`\mathrm{Lin}_1` are computed in
each edge's frame (:class:`~steertorch.o3.SO2TensorProduct`, eSCN): the same function of the same parameters,
cheaper from about l = 4 on (``docs/performance.md``). Every piece is O(3)-equivariant and sees positions only
through :math:`r_{ab}`: the layer is E(3)-equivariant and permutation-equivariant.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .._dtype import check_input_dtype, module_dtype
from ..nn import FullyConnectedNet, Gate
from ..o3 import Irreps, Linear, SO2TensorProduct, TensorProduct
from ._chunked import chunked_message_sum
from ._edge_embedding import RadialEmbedding, edge_lengths, spherical_edge_attributes
from ._scatter import scatter_sum

__all__ = ["PointConv", "TFNLayer", "gate_irreps"]

_NORMALIZATIONS = ("sqrt_degree", "degree", "none")
_CONVS = ("tp", "so2")


def gate_irreps(irreps_out: object) -> tuple[Irreps, Irreps, Irreps]:
    """Split ``irreps_out`` for a :class:`~steertorch.nn.Gate`: ``(scalars, gates, gated)``.

    Scalars (l = 0) pass through their activation, every copy with l > 0 is gated by one even
    scalar (``0e``).

    >>> gate_irreps("8x0e + 4x0o + 2x1o + 3x2e")
    (8x0e+4x0o, 5x0e, 2x1o+3x2e)
    """
    irreps_out = Irreps(irreps_out)
    scalars = Irreps([(mul, ir) for mul, ir in irreps_out if ir.l == 0])
    gated = Irreps([(mul, ir) for mul, ir in irreps_out if ir.l > 0])
    gates = Irreps(f"{gated.num_irreps}x0e") if gated.num_irreps > 0 else Irreps()
    return scalars, gates, gated


def _make_gate(irreps_out: Irreps) -> Gate:
    scalars, gates, gated = gate_irreps(irreps_out)
    act_scalars = [torch.nn.functional.silu if ir.p == 1 else torch.tanh for _, ir in scalars]
    return Gate(scalars, act_scalars, gates, [torch.sigmoid] * len(gates), gated)


class PointConv(nn.Module):
    r"""Tensor field network layer on a graph of points (also exported as ``TFNLayer``).

    Args:
        irreps_in: irreps of the node features.
        irreps_out: irreps of the output features. With ``gate=True`` the layer output is the
            :class:`~steertorch.nn.Gate`'s output, ``irreps_out`` with the scalars first (see
            ``self.irreps_out``); 0e scalars go through SiLU, 0o through tanh, l > 0 copies are
            gated by sigmoids of extra 0e scalars.
        irreps_sh: irreps of the edge spherical harmonics, or ``lmax`` (an int: ``0e + 1o + 2e + ...``).
        r_max: cutoff radius of the radial embedding (edges longer than that contribute 0).
        num_basis: size of the radial embedding.
        radial_neurons: hidden sizes of the radial MLP.
        radial_basis, radial_cutoff: ``basis`` / ``cutoff`` of :class:`~steertorch.graph.RadialEmbedding`.
        normalization: neighbour normalisation :math:`n_a`: ``"sqrt_degree"`` (default,
            :math:`\sqrt{\max(1, \deg a)}`: unit second moment for independent messages),
            ``"degree"`` (the mean over neighbours), ``"none"`` (the sum), or a number
            :math:`\bar n` (the expected number of neighbours, :math:`n_a = \sqrt{\bar n}` as in
            e3nn: a constant, so energies stay smooth when neighbours enter the cutoff; prefer it
            for energy and force models, since a per-node count jumps when a neighbour crosses
            ``r_max``). Messages that agree across neighbours (smooth inputs, dense graphs) add
            coherently, so the second moment then grows with the degree under the square roots.
        self_interaction: add the linear self-interaction :math:`\mathrm{Lin}_2(V_a)`.
        gate: apply the gated nonlinearity.
        edge_chunk_size: compute the messages in slices of this many edges, recomputing each slice in
            the backward pass (:func:`~steertorch.graph.chunked_message_sum`): peak memory grows with the
            slice instead of the number of edges, for graphs too large for their edge features. ``None``
            (default): all edges at once. Same values and gradients (up to summation order).
        conv: how the messages are computed. ``"tp"`` (default): the Clebsch-Gordan tensor product above, then
            :math:`\mathrm{Lin}_1` on the sums. ``"so2"``: each edge's features rotated into the frame where the
            edge is the polar axis, where the product with the harmonics is an SO(2)-linear map (block-diagonal
            in :math:`|m|`), with :math:`\mathrm{Lin}_1` applied there before rotating back
            (:class:`~steertorch.o3.SO2TensorProduct`, eSCN). Same parameters, state dict and outputs (to float
            rounding, derivatives included); faster for high ``irreps_sh`` degrees, slower for low ones
            (``docs/performance.md``).

    ``forward(x, pos, edge_index, edge_vec=None)``: ``x`` ``[N, irreps_in.dim]``, ``pos``
    ``[N, 3]``, ``edge_index`` ``[2, E]`` (row 0 sources b, row 1 targets a, PyG's convention);
    ``edge_vec`` ``[E, 3]`` overrides :math:`x_b - x_a` (periodic images). Returns
    ``[N, irreps_out.dim]``. Isolated nodes receive no message; coincident points
    (:math:`r_{ab} = 0`) only carry the l = 0 harmonic; gradients stay finite in both cases.
    The Clebsch-Gordan buffers follow the module's dtype and are re-derived from float64 masters on
    ``.double()``: a float32 build moved with ``.double()`` is float64-exact. Inputs of another dtype
    than the module's raise ``ValueError``.

    >>> conv = PointConv("0e", "4x0e + 2x1o", irreps_sh=2, r_max=2.0)
    >>> pos = torch.randn(5, 3)
    >>> edge_index = torch.tensor([[0, 1, 2, 3], [1, 0, 3, 2]])
    >>> conv(torch.ones(5, 1), pos, edge_index).shape, conv.irreps_out
    (torch.Size([5, 10]), 4x0e+2x1o)
    """

    def __init__(
        self,
        irreps_in: object,
        irreps_out: object,
        irreps_sh: object = 2,
        r_max: float = 2.0,
        num_basis: int = 8,
        radial_neurons: Sequence[int] = (16,),
        radial_basis: str = "bessel",
        radial_cutoff: str | None = "polynomial",
        normalization: str | float = "sqrt_degree",
        self_interaction: bool = True,
        gate: bool = True,
        edge_chunk_size: int | None = None,
        conv: str = "tp",
    ) -> None:
        super().__init__()
        if conv not in _CONVS:
            raise ValueError(f"PointConv: conv must be one of {_CONVS}, got {conv!r}")
        self.conv = conv
        if edge_chunk_size is not None and (isinstance(edge_chunk_size, bool) or not isinstance(edge_chunk_size, int)
                                            or edge_chunk_size < 1):
            raise ValueError(f"edge_chunk_size must be None or an int >= 1, got {edge_chunk_size!r}")
        self.edge_chunk_size = edge_chunk_size
        self.irreps_in = Irreps(irreps_in)
        if isinstance(irreps_sh, int) and not isinstance(irreps_sh, bool):
            if irreps_sh < 0:
                raise ValueError(f"irreps_sh as lmax must be >= 0, got {irreps_sh}")
            irreps_sh = Irreps.spherical_harmonics(irreps_sh)
        self.irreps_sh = Irreps(irreps_sh)
        for _, ir in self.irreps_sh:
            if ir.p != (-1) ** ir.l:
                raise ValueError(f"irreps_sh must hold spherical harmonics (parity (-1)^l), got {self.irreps_sh}")
        if isinstance(normalization, str):
            if normalization not in _NORMALIZATIONS:
                raise ValueError(f"normalization must be one of {_NORMALIZATIONS} or a number > 0, "
                                 f"got {normalization!r}")
        elif not (isinstance(normalization, (int, float)) and normalization > 0):
            raise ValueError(f"normalization must be one of {_NORMALIZATIONS} or a number > 0, got {normalization!r}")
        self.normalization = normalization
        self.r_max = float(r_max)

        target = Irreps(irreps_out)
        if gate:
            self.gate = _make_gate(target)
            irreps_pre = self.gate.irreps_in
            self.irreps_out = self.gate.irreps_out
        else:
            self.gate = None
            irreps_pre = target
            self.irreps_out = target
        self.irreps_pre = irreps_pre
        wanted = {ir for _, ir in irreps_pre}

        # tensor product V (x) Y -> irreps_mid: one path per (input block, harmonic, output irrep) reaching
        # an irrep the layer produces, one radial weight per channel and path ("uvu")
        mid, instructions = [], []
        for i, (mul, ir_in) in enumerate(self.irreps_in):
            for j, (_, ir_sh) in enumerate(self.irreps_sh):
                for ir_out in ir_in * ir_sh:
                    if ir_out in wanted:
                        instructions.append((i, j, len(mid), "uvu", True))
                        mid.append((mul, ir_out))
        self.irreps_mid = Irreps(mid)
        self.tp = TensorProduct(self.irreps_in, self.irreps_sh, self.irreps_mid, instructions,
                                shared_weights=False, internal_weights=False)
        self.radial_embedding = RadialEmbedding(num_basis, self.r_max, basis=radial_basis, cutoff=radial_cutoff)
        self.radial = FullyConnectedNet([num_basis, *radial_neurons, self.tp.weight_numel],
                                        torch.nn.functional.silu)
        self.lin_conv = Linear(self.irreps_mid, irreps_pre)
        # the same product and channel mixing through each edge's frame (no parameters of its own)
        self.so2 = SO2TensorProduct(self.tp, "component", linear=self.lin_conv) if conv == "so2" else None
        self.self_interaction = Linear(self.irreps_in, irreps_pre) if self_interaction else None
        self._scale = 1 / math.sqrt(2) if self_interaction else 1.0

    def _check(self, x: torch.Tensor, pos: torch.Tensor, edge_index: torch.Tensor,
               edge_vec: torch.Tensor | None) -> None:
        if x.dim() != 2 or x.shape[-1] != self.irreps_in.dim:
            raise ValueError(f"PointConv: expected node features [N, {self.irreps_in.dim}] of irreps "
                             f"{self.irreps_in}, got shape {list(x.shape)}")
        if pos.dim() != 2 or pos.shape != (x.shape[0], 3):
            raise ValueError(f"PointConv: expected pos [{x.shape[0]}, 3] (one point per node), got {list(pos.shape)}")
        if edge_index.dim() != 2 or edge_index.shape[0] != 2 or edge_index.is_floating_point():
            raise ValueError(f"PointConv: expected an integer edge_index [2, E], got {edge_index.dtype} "
                             f"{list(edge_index.shape)}")
        if edge_vec is not None and edge_vec.shape != (edge_index.shape[1], 3):
            raise ValueError(f"PointConv: expected edge_vec [{edge_index.shape[1]}, 3], got {list(edge_vec.shape)}")
        dtype = module_dtype(self)
        for what, t in (("node features x", x), ("pos", pos), ("edge_vec", edge_vec)):
            check_input_dtype("PointConv", what, t, dtype)

    def forward(self, x: torch.Tensor, pos: torch.Tensor, edge_index: torch.Tensor,
                edge_vec: torch.Tensor | None = None) -> torch.Tensor:
        """Node features ``[N, irreps_in.dim]`` -> ``[N, irreps_out.dim]`` (see the class docstring)."""
        self._check(x, pos, edge_index, edge_vec)
        num_nodes = x.shape[0]
        src, dst = edge_index[0], edge_index[1]
        # no edges at all: the tensor product's empty batch is on the graph, so every parameter gets a zero gradient
        if edge_vec is None:  # the edge vectors of each slice of edges are computed with its messages
            out = chunked_message_sum(self._messages_from_positions, [x, pos], [src, dst], dst, num_nodes,
                                      self.edge_chunk_size)
        else:
            out = chunked_message_sum(self._messages, [x], [src, edge_vec], dst, num_nodes, self.edge_chunk_size)
        if isinstance(self.normalization, str):
            if self.normalization != "none":
                degree = scatter_sum(x.new_ones(dst.shape[0]), dst, dim=0, dim_size=num_nodes).clamp(min=1)
                out = out / (degree.sqrt() if self.normalization == "sqrt_degree" else degree)[:, None]
        else:
            out = out / math.sqrt(self.normalization)
        if self.so2 is None:
            out = self.lin_conv(out)  # the "so2" messages are already mixed (a linear map commutes with the sum)
        if self.self_interaction is not None:
            out = self._scale * (out + self.self_interaction(x))
        if self.gate is not None:
            out = self.gate(out)
        return out

    def _messages_from_positions(self, x: torch.Tensor, pos: torch.Tensor, src: torch.Tensor,
                                 dst: torch.Tensor) -> torch.Tensor:
        """:meth:`_messages` of the edges ``src -> dst``, with the edge vectors ``pos[src] - pos[dst]``
        (:func:`~steertorch.graph.edge_vectors`) computed here, for these edges only."""
        return self._messages(x, src, pos.index_select(0, src) - pos.index_select(0, dst))

    def _messages(self, x: torch.Tensor, src: torch.Tensor, edge_vec: torch.Tensor) -> torch.Tensor:
        """The messages ``TP(V_b, Y(r_ab); R(|r_ab|))`` of the edges ``src -> .`` with vectors ``edge_vec``
        (with ``conv="so2"``: ``Lin_1`` of them)."""
        if self.so2 is not None:
            weight = self.radial(self.radial_embedding(edge_lengths(edge_vec)))
            return self.so2(x.index_select(0, src), edge_vec, weight, self.lin_conv.weight)
        edge_sh = spherical_edge_attributes(edge_vec, self.irreps_sh.ls, normalization="component")
        length = edge_lengths(edge_vec)  # finite gradients at coincident points
        weight = self.radial(self.radial_embedding(length))
        return self.tp(x.index_select(0, src), edge_sh, weight)

    def extra_repr(self) -> str:
        return (f"{self.irreps_in} x {self.irreps_sh} -> {self.irreps_out}, r_max={self.r_max}, "
                f"normalization={self.normalization!r}, conv={self.conv!r}")


TFNLayer = PointConv
