r"""Steerable E(3)-equivariant message passing (SEGNN; Brandstetter et al., ICLR 2022).

A *steerable linear layer* conditioned on a steerable attribute :math:`a` is the weighted
Clebsch-Gordan tensor product of the features with the attribute,

.. math::

    \mathrm{TP}_a(h) = h \otimes_W a \;(+\, b \text{ on the 0e outputs}),

(:class:`O3TensorProduct`; with a gated nonlinearity after it, :class:`O3TensorProductGate`).
A :class:`SEGNNLayer` passes messages along the edges ``j -> i`` of a graph,

.. math::

    m_{ij} &= \phi_m\big(h_i \oplus h_j \oplus \|x_i - x_j\|^2 \oplus e_{ij};\; a_{ij}\big), \qquad
    m_i = \sum_{j \in N(i)} m_{ij} \;\text{(or the mean)}, \\
    h_i' &= h_i + \phi_f\big(h_i \oplus m_i;\; a_i\big),

with :math:`\phi_m` two gated steerable layers conditioned on the edge attribute
:math:`a_{ij} = Y(x_i - x_j)` (spherical harmonics up to ``lmax_attr``), :math:`\phi_f` a gated
and a linear steerable layer conditioned on the node attribute
:math:`a_i = \frac{1}{|N(i)|}\sum_j a_{ij}` (with its scalar part set to 1, also for isolated
nodes), and :math:`e_{ij}` optional extra invariant edge features. Positions enter only
through :math:`x_i - x_j`: the layer is E(3)-equivariant (features transform by their irreps,
parity included) and permutation-equivariant.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .._dtype import ExactConstants, check_input_dtype, module_dtype
from ..nn import BatchNorm, Gate
from ..o3 import FullyConnectedTensorProduct, Irreps, SO2TensorProduct
from ._edge_embedding import spherical_edge_attributes
from ._scatter import scatter_mean, scatter_sum

__all__ = [
    "balanced_irreps",
    "weight_balanced_irreps",
    "segnn_attributes",
    "segnn_node_attributes",
    "O3TensorProduct",
    "O3TensorProductGate",
    "SEGNNLayer",
]

_AGGRS = ("sum", "mean")
_NORMS = (None, "batch")
_EDGE_INVARIANTS = ("squared_distance", "distance", "none")
_PARAMETRIZATIONS = ("e3nn", "reference")
_CONVS = ("tp", "so2")


def balanced_irreps(lmax: int, feature_size: int, sh_type: bool = True) -> Irreps:
    r"""Irreps up to ``lmax`` sharing a feature budget of ``feature_size`` numbers equally between degrees.

    With ``k`` irrep types (``0e, 1o, 2e, ...`` when ``sh_type``, else ``0e, 1e, 1o, 2e, 2o, ...``),
    each type of dimension :math:`d` gets :math:`\lfloor \text{feature\_size} / (d k) \rfloor`
    copies, and the scalars fill what is left, so the total dimension is ``feature_size``
    (the reference SEGNN's ``BalancedIrreps``; multiplicities may be 0).

    >>> balanced_irreps(1, 64)
    34x0e+10x1o
    >>> balanced_irreps(2, 64, sh_type=False).dim
    64
    """
    if isinstance(lmax, bool) or not isinstance(lmax, int) or lmax < 0:
        raise ValueError(f"balanced_irreps: lmax must be an int >= 0, got {lmax!r}")
    if isinstance(feature_size, bool) or not isinstance(feature_size, int) or feature_size < 1:
        raise ValueError(f"balanced_irreps: feature_size must be an int >= 1, got {feature_size!r}")
    types = [(0, 1)]
    for l in range(1, lmax + 1):
        types += [(l, (-1) ** l)] if sh_type else [(l, 1), (l, -1)]
    copies = [int(feature_size / (2 * l + 1) / len(types)) for l, _ in types]
    copies[0] += feature_size - sum(c * (2 * l + 1) for c, (l, _) in zip(copies, types))
    return Irreps([(c, ir) for c, ir in zip(copies, types)])


def _fc_weight_numel(irreps_in1: Irreps, irreps_in2: Irreps, irreps_out: Irreps) -> int:
    """Number of weights of ``FullyConnectedTensorProduct(irreps_in1, irreps_in2, irreps_out)``."""
    return sum(m1 * m2 * mo for m1, ir1 in irreps_in1 for m2, ir2 in irreps_in2 for mo, iro in irreps_out
               if iro in ir1 * ir2)


def weight_balanced_irreps(scalar_units: int | object, irreps_attr: object, use_sh: bool = True,
                           lmax: int | None = None) -> Irreps:
    r"""Hidden irreps whose steerable layer has as many weights as a ``scalar_units``-wide linear layer.

    Finds the smallest ``n`` such that the fully connected tensor product
    ``H x irreps_attr -> H`` has at least as many weights as ``S x 0e -> S`` (that is
    ``scalar_units ** 2``), with ``H = n x (0e + 1o + 2e + ...)`` up to ``lmax`` (default
    ``irreps_attr.lmax``) when ``use_sh``, else ``H = balanced_irreps(lmax, n)``: the
    reference SEGNN's ``WeightBalancedIrreps``. ``scalar_units`` is an int or scalar irreps.

    >>> weight_balanced_irreps(64, "0e + 1o")  # "64 hidden features" at lmax 1, as in the SEGNN paper
    32x0e+32x1o
    >>> weight_balanced_irreps(64, "0e + 1o + 2e", lmax=1)
    29x0e+29x1o
    """
    if isinstance(scalar_units, int) and not isinstance(scalar_units, bool):
        if scalar_units < 1:
            raise ValueError(f"weight_balanced_irreps: scalar_units must be >= 1, got {scalar_units}")
        scalars = Irreps(f"{scalar_units}x0e")
    else:
        scalars = Irreps(scalar_units)
        if any(ir.l != 0 for _, ir in scalars) or scalars.dim == 0:
            raise ValueError(f"weight_balanced_irreps: scalar_units must be an int or scalar irreps, got {scalars}")
    irreps_attr = Irreps(irreps_attr)
    if lmax is None:
        lmax = irreps_attr.lmax
    target = _fc_weight_numel(scalars, Irreps("0e"), scalars)
    n = 0
    while True:
        n += 1
        hidden = (Irreps.spherical_harmonics(lmax) * n).regroup() if use_sh else balanced_irreps(lmax, n)
        if _fc_weight_numel(hidden, irreps_attr, hidden) >= target:
            return hidden
        if n > 100 * target:  # no path reaches the output (cannot happen with 0e in irreps_attr)
            raise ValueError(f"weight_balanced_irreps: no hidden irreps reach {target} weights with {irreps_attr}")


def segnn_attributes(pos: torch.Tensor, edge_index: torch.Tensor, lmax_attr: int | object = 1,
                     num_nodes: int | None = None, normalization: str = "component"
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Steerable edge and node attributes of SEGNN: :math:`a_{ij} = Y(x_i - x_j)` and their mean per node.

    ``edge_index`` ``[2, E]`` is ``[source j, target i]`` (PyG). The edge attribute is the
    spherical harmonics (up to ``lmax_attr``, an int or ``Irreps.spherical_harmonics`` irreps) of
    the unit vector along :math:`x_i - x_j` (l > 0 parts 0 for coincident points); the node
    attribute :math:`a_i` is the mean of :math:`a_{ij}` over the incoming edges, with its scalar
    (first) component set to 1 (also for isolated nodes).
    ``normalization`` is that of :func:`~steertorch.o3.spherical_harmonics` (``"component"``:
    :math:`Y^0 = 1`, :math:`\|Y^l\|^2 = 2l + 1`).

    Returns ``(edge_attr [E, dim], node_attr [N, dim])``.

    >>> pos = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 2.0]])
    >>> edge_attr, node_attr = segnn_attributes(pos, torch.tensor([[1], [0]]), lmax_attr=1)
    >>> edge_attr  # x_0 - x_1 points down z: Y^1 = sqrt(3) (0, 0, -1)
    tensor([[ 1.0000,  0.0000,  0.0000, -1.7321]])
    >>> node_attr
    tensor([[ 1.0000,  0.0000,  0.0000, -1.7321],
            [ 1.0000,  0.0000,  0.0000,  0.0000]])
    """
    if not isinstance(pos, torch.Tensor) or pos.dim() != 2 or pos.shape[-1] != 3:
        raise ValueError(f"segnn_attributes: expected pos [N, 3], got {getattr(pos, 'shape', type(pos))}")
    _check_edge_index(edge_index, pos.shape[0], "segnn_attributes")
    irreps = _attr_irreps(lmax_attr)
    n = pos.shape[0] if num_nodes is None else num_nodes
    src, dst = edge_index[0], edge_index[1]
    edge_attr = spherical_edge_attributes(pos[dst] - pos[src], irreps.lmax, normalization=normalization)
    return edge_attr, segnn_node_attributes(edge_attr, edge_index, n)


def segnn_node_attributes(edge_attr: torch.Tensor, edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """SEGNN's node attributes from edge attributes: the mean over each node's incoming edges, scalar part 1.

    >>> segnn_node_attributes(torch.tensor([[1.0, 2.0], [1.0, 4.0]]), torch.tensor([[0, 1], [2, 2]]), 3)
    tensor([[1., 0.],
            [1., 0.],
            [1., 3.]])
    """
    node_attr = scatter_mean(edge_attr, edge_index[1], dim=0, dim_size=num_nodes)
    return torch.cat([torch.ones_like(node_attr[:, :1]), node_attr[:, 1:]], dim=1)


def _attr_irreps(lmax_attr: int | object) -> Irreps:
    if isinstance(lmax_attr, int) and not isinstance(lmax_attr, bool):
        if lmax_attr < 0:
            raise ValueError(f"lmax_attr must be >= 0, got {lmax_attr}")
        return Irreps.spherical_harmonics(lmax_attr)
    irreps = Irreps(lmax_attr)
    if irreps != Irreps.spherical_harmonics(irreps.lmax):
        raise ValueError(f"attribute irreps must be spherical harmonics 0e + 1o + 2e + ..., got {irreps}")
    return irreps


def _check_edge_index(edge_index: torch.Tensor, num_nodes: int, who: str) -> None:
    if not isinstance(edge_index, torch.Tensor) or edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"{who}: expected edge_index [2, E], got {getattr(edge_index, 'shape', type(edge_index))}")
    if edge_index.is_floating_point() or edge_index.dtype == torch.bool:
        raise ValueError(f"{who}: edge_index must be an integer tensor, got {edge_index.dtype}")


def _gate_parts(irreps_out: Irreps) -> tuple[Irreps, Irreps, Irreps]:
    """``(scalars, gates, gated)`` for a gate whose output is ``irreps_out`` (one 0e gate per l > 0 copy)."""
    scalars = Irreps([(m, ir) for m, ir in irreps_out if ir.l == 0])
    gated = Irreps([(m, ir) for m, ir in irreps_out if ir.l > 0])
    gates = Irreps(f"{gated.num_irreps}x0e") if gated.num_irreps > 0 else Irreps()
    return scalars, gates, gated


class O3TensorProduct(ExactConstants):
    r"""Steerable linear layer conditioned on an attribute: :math:`y = x \otimes_W a + b`.

    A :class:`~steertorch.o3.FullyConnectedTensorProduct` ``irreps_in x irreps_attr -> irreps_out``
    (e3nn's weight initialisation and path normalisation: unit second moment out for unit
    second moment in) plus a learned bias on the ``0e`` outputs (zero at init; ``0o`` outputs
    get none, which would break parity). Without ``irreps_attr`` the attribute is the constant
    ``1x0e`` and the layer is an equivariant linear map. The input is permuted internally into
    sorted, merged blocks (fewer, larger products); that changes neither the function class nor
    the number of weights.

    ``parametrization``: ``"e3nn"`` (default: weights :math:`w \sim \mathcal N(0, 1)` used as
    they are, biases 0) or ``"reference"`` (the reference SEGNN code's: with :math:`k = 1/\text{fan-in}`
    of each output block, the sum of :math:`\text{mul}_1 \text{mul}_2` over the paths into it,
    stored weights :math:`w \sim U(-\sqrt k, \sqrt k)` and biases :math:`b \sim U(-\sqrt k, \sqrt k)`,
    the block's tensor-product output multiplied by :math:`1/\sqrt k` before the bias). The same
    function class, but gradients with respect to the stored weights are :math:`1/\sqrt k` times
    larger, so optimisers such as Adam, whose step size does not scale with the gradient, take
    steps :math:`1/\sqrt k` times larger in the function's effective weights.

    ``conv``: ``"tp"`` (default) or ``"so2"``. With ``"so2"`` (``irreps_attr`` spherical harmonics
    ``0e + 1o + ...``), ``forward(x, edge_vec=r)`` computes the layer for the attribute :math:`Y(r)`
    (``"component"`` normalisation, as :func:`segnn_attributes`) in the frame of each vector ``r``
    (:class:`~steertorch.o3.SO2TensorProduct`, eSCN): the same function of the same weights, faster for high
    attribute degrees. ``forward(x, attr)`` still works.

    ``forward(x, attr=None, edge_vec=None)``: ``x`` ``[..., irreps_in.dim]``, ``attr`` ``[..., irreps_attr.dim]``
    or (``conv="so2"`` only) ``edge_vec`` ``[..., 3]`` instead.

    >>> layer = O3TensorProduct("4x0e + 2x1o", "3x0e + 1x1o", irreps_attr="0e + 1o")
    >>> layer(torch.randn(10, 10), torch.randn(10, 4)).shape
    torch.Size([10, 6])
    >>> ref = O3TensorProduct("4x0e + 2x1o", "3x0e + 1x1o", irreps_attr="0e + 1o", parametrization="reference")
    >>> float(ref.tp.weight.detach().abs().max()) <= 1 / (4 + 2) ** 0.5  # fan-in of the 0e outputs: 4 * 1 + 2 * 1
    True
    """

    def __init__(self, irreps_in: object, irreps_out: object, irreps_attr: object | None = None,
                 bias: bool = True, parametrization: str = "e3nn", conv: str = "tp") -> None:
        super().__init__()
        if conv not in _CONVS:
            raise ValueError(f"O3TensorProduct: conv must be one of {_CONVS}, got {conv!r}")
        if parametrization not in _PARAMETRIZATIONS:
            raise ValueError(f"O3TensorProduct: parametrization must be one of {_PARAMETRIZATIONS}, "
                             f"got {parametrization!r}")
        self.parametrization = parametrization
        self.irreps_in = Irreps(irreps_in)
        self.irreps_out = Irreps(irreps_out)
        self.has_attr = irreps_attr is not None
        self.irreps_attr = Irreps(irreps_attr) if irreps_attr is not None else Irreps("0e")
        # permutation of the input features into sorted, merged blocks
        sorted_in = self.irreps_in.sort()
        starts = [s.start for s in self.irreps_in.slices()]
        perm = [starts[i] + k for i in sorted_in.inv for k in range(self.irreps_in[i].dim)]
        self._permute = perm != list(range(self.irreps_in.dim))
        self.register_buffer("perm", torch.tensor(perm, dtype=torch.long), persistent=False)
        self.tp = FullyConnectedTensorProduct(sorted_in.irreps.simplify(), self.irreps_attr, self.irreps_out)
        self.conv = conv
        self.so2 = None
        if conv == "so2":
            if not self.has_attr or self.irreps_attr != Irreps.spherical_harmonics(self.irreps_attr.lmax):
                raise ValueError(f"O3TensorProduct: conv='so2' needs spherical-harmonic attributes 0e + 1o + ..., "
                                 f"got {irreps_attr}")
            self.so2 = SO2TensorProduct(self.tp, "component")
        bias_idx = [i for (mul, ir), s in zip(self.irreps_out, self.irreps_out.slices()) if ir == (0, 1)
                    for i in range(s.start, s.stop)] if bias else []
        self.register_buffer("bias_idx", torch.tensor(bias_idx, dtype=torch.long), persistent=False)
        self.bias = nn.Parameter(torch.zeros(len(bias_idx))) if bias_idx else None
        if parametrization == "reference":
            self._reference_init(bias_idx)
        else:
            self.register_buffer("out_scale", torch.empty(0), persistent=False)

    def _reference_init(self, bias_idx: list[int]) -> None:
        """Weights and biases uniform in (-sqrt(k), sqrt(k)) per output block, outputs scaled by 1/sqrt(k)."""
        fan_in = [0] * len(self.irreps_out)
        for ins in self.tp.instructions:
            fan_in[ins.i_out] += ins.path_shape[0] * ins.path_shape[1]
        sqrt_k = [1.0 / math.sqrt(f) if f > 0 else 1.0 for f in fan_in]
        scale = torch.ones(self.irreps_out.dim, dtype=torch.float64)
        for sl, sk in zip(self.irreps_out.slices(), sqrt_k):
            scale[sl] = 1.0 / sk
        self.register_constant("out_scale", scale)  # float64 master: .float() then .double() does not round it
        with torch.no_grad():
            for n, ins in enumerate(self.tp.instructions):
                if ins.has_weight:
                    numel = math.prod(ins.path_shape)
                    sk = sqrt_k[ins.i_out]
                    self.tp.weight.narrow(0, self.tp._w_offsets[n], numel).uniform_(-sk, sk)
            if self.bias is not None:
                element_sqrt_k = torch.cat([torch.full((sl.stop - sl.start,), sk)
                                            for sl, sk in zip(self.irreps_out.slices(), sqrt_k)])
                bound = element_sqrt_k[torch.tensor(bias_idx, dtype=torch.long)]
                self.bias.copy_((torch.rand(len(bias_idx)) * 2 - 1) * bound)

    def forward(self, x: torch.Tensor, attr: torch.Tensor | None = None,
                edge_vec: torch.Tensor | None = None) -> torch.Tensor:
        """``[..., irreps_in.dim]`` (attributes ``[..., irreps_attr.dim]``, or with ``conv="so2"`` the vectors
        ``edge_vec`` ``[..., 3]`` whose harmonics they are) -> ``[..., irreps_out.dim]``."""
        if x.shape[-1] != self.irreps_in.dim:
            raise ValueError(f"O3TensorProduct: expected features of irreps {self.irreps_in} "
                             f"(last dim {self.irreps_in.dim}), got shape {list(x.shape)}")
        if edge_vec is not None:
            if self.so2 is None:
                raise ValueError("O3TensorProduct: edge_vec needs conv='so2' (give the attributes attr otherwise)")
            if attr is not None:
                raise ValueError("O3TensorProduct: give attr or edge_vec, not both")
            check_input_dtype("O3TensorProduct", "input x", x, module_dtype(self))
            if self._permute:
                x = x.index_select(-1, self.perm)
            return self._finish(self.so2(x, edge_vec, self.tp.weight))
        if attr is None:
            if self.has_attr:
                raise ValueError(f"O3TensorProduct: attributes of irreps {self.irreps_attr} are required")
            attr = x.new_ones(*x.shape[:-1], 1)
        elif attr.shape[-1] != self.irreps_attr.dim:
            raise ValueError(f"O3TensorProduct: expected attributes of irreps {self.irreps_attr} "
                             f"(last dim {self.irreps_attr.dim}), got shape {list(attr.shape)}")
        dtype = module_dtype(self)
        check_input_dtype("O3TensorProduct", "input x", x, dtype)
        check_input_dtype("O3TensorProduct", "attributes attr", attr, dtype)
        if self._permute:
            x = x.index_select(-1, self.perm)
        return self._finish(self.tp(x, attr))

    def _finish(self, out: torch.Tensor) -> torch.Tensor:
        """The reference parametrisation's output scale, and the biases."""
        if self.out_scale.numel():
            out = out * self.out_scale.to(out.dtype)
        if self.bias is not None:
            out = out.index_add(-1, self.bias_idx, self.bias.expand(*out.shape[:-1], -1))
        return out

    def extra_repr(self) -> str:
        attr = self.irreps_attr if self.has_attr else None
        return (f"{self.irreps_in} x {attr} -> {self.irreps_out}, bias={self.bias is not None}, "
                f"parametrization={self.parametrization!r}, conv={self.conv!r}")


class O3TensorProductGate(nn.Module):
    r"""Steerable linear layer conditioned on an attribute, then a gated nonlinearity.

    The tensor product (:class:`O3TensorProduct`) produces the scalars of ``irreps_out``, one extra
    ``0e`` gate per ``l > 0`` copy, and the ``l > 0`` copies; :class:`~steertorch.nn.Gate` applies
    SiLU to the ``0e`` scalars, tanh to the ``0o`` scalars (odd, so parity is kept) and multiplies
    each ``l > 0`` copy by the sigmoid of its gate. ``self.irreps_out`` is ``irreps_out``
    sorted and merged (the gate's output order).

    >>> layer = O3TensorProductGate("4x0e + 2x1o", "3x0e + 1x1o", irreps_attr="0e + 1o")
    >>> layer(torch.randn(10, 10), torch.randn(10, 4)).shape, layer.irreps_out
    (torch.Size([10, 6]), 3x0e+1x1o)
    """

    def __init__(self, irreps_in: object, irreps_out: object, irreps_attr: object | None = None,
                 bias: bool = True, parametrization: str = "e3nn", conv: str = "tp") -> None:
        super().__init__()
        scalars, gates, gated = _gate_parts(Irreps(irreps_out).regroup())
        acts = [torch.nn.functional.silu if ir.p == 1 else torch.tanh for _, ir in scalars]
        self.gate = Gate(scalars, acts, gates, [torch.sigmoid] * len(gates), gated)
        self.tp = O3TensorProduct(irreps_in, self.gate.irreps_in, irreps_attr, bias=bias,
                                  parametrization=parametrization, conv=conv)
        self.irreps_in = self.tp.irreps_in
        self.irreps_attr = self.tp.irreps_attr
        self.irreps_out = self.gate.irreps_out

    def forward(self, x: torch.Tensor, attr: torch.Tensor | None = None,
                edge_vec: torch.Tensor | None = None) -> torch.Tensor:
        """Features ``[..., irreps_in.dim]`` (and attributes, or ``edge_vec``) -> gated ``[..., irreps_out.dim]``."""
        return self.gate(self.tp(x, attr, edge_vec=edge_vec))


class SEGNNLayer(nn.Module):
    r"""One SEGNN message-passing layer (steerable messages and updates, residual).

    Args:
        irreps_in: irreps of the node features :math:`h`.
        irreps_hidden: irreps of the messages (sorted and merged: ``self.irreps_hidden``).
        irreps_out: irreps of the output (default ``irreps_in``).
        lmax_attr: degree of the steerable attributes (an int, or irreps ``0e + 1o + ...``).
        irreps_edge_features: irreps of extra invariant edge features :math:`e_{ij}` (scalars
            such as charge products), appended to each message input after
            :math:`\|x_i - x_j\|^2`; default none.
        aggr: ``"mean"`` (default) or ``"sum"`` (the reference's choice) of the incoming messages.
            At initialisation the feature second moment grows by a factor of about the number of
            neighbours squared per layer with ``"sum"`` (about 30x per layer on 5-node fully
            connected graphs), by about 2.5x with ``"mean"``.
        norm: ``None`` or ``"batch"`` (:class:`~steertorch.nn.BatchNorm` on messages and outputs).
        residual: add :math:`h_i` to the update (``None``: when ``irreps_out == irreps_in``).
        edge_invariant: the invariant of :math:`x_i - x_j` each message receives:
            ``"squared_distance"`` (default), ``"distance"`` or ``"none"`` (the reference n-body code
            passes the distance among its own edge features).
        parametrization: of every steerable layer, ``"e3nn"`` or ``"reference"`` (see
            :class:`O3TensorProduct`).
        conv: ``"tp"`` (default) or ``"so2"``: the two message layers, conditioned on :math:`Y(x_i - x_j)`, are
            computed in each edge's frame (:class:`~steertorch.o3.SO2TensorProduct`, eSCN; see
            :class:`O3TensorProduct`): the same function of the same parameters, faster for high ``lmax_attr``.
            The harmonics then come from ``pos``: ``edge_attr`` must not be given (the node attributes may).

    ``forward(x, pos, edge_index, edge_attr=None, node_attr=None, edge_features=None)``:
    ``x`` ``[N, irreps_in.dim]``, ``pos`` ``[N, 3]``, ``edge_index`` ``[2, E]`` (``[source j,
    target i]``), attributes as returned by :func:`segnn_attributes` (computed from ``pos``
    when not given; pass them to share the work between layers), ``edge_features``
    ``[E, irreps_edge_features.dim]``. Returns ``[N, irreps_out.dim]``.

    >>> layer = SEGNNLayer("4x0e + 2x1o", "8x0e + 4x1o", lmax_attr=1)
    >>> pos = torch.randn(5, 3)
    >>> edge_index = torch.tensor([[0, 1, 2, 3], [1, 0, 3, 2]])
    >>> layer(torch.randn(5, 10), pos, edge_index).shape
    torch.Size([5, 10])
    """

    def __init__(self, irreps_in: object, irreps_hidden: object, irreps_out: object | None = None,
                 lmax_attr: int | object = 1, irreps_edge_features: object | None = None, aggr: str = "mean",
                 norm: str | None = None, residual: bool | None = None, edge_invariant: str = "squared_distance",
                 parametrization: str = "e3nn", conv: str = "tp") -> None:
        super().__init__()
        if conv not in _CONVS:
            raise ValueError(f"SEGNNLayer: conv must be one of {_CONVS}, got {conv!r}")
        self.conv = conv
        if edge_invariant not in _EDGE_INVARIANTS:
            raise ValueError(f"SEGNNLayer: edge_invariant must be one of {_EDGE_INVARIANTS}, got {edge_invariant!r}")
        if aggr not in _AGGRS:
            raise ValueError(f"SEGNNLayer: aggr must be one of {_AGGRS}, got {aggr!r}")
        if norm not in _NORMS:
            raise ValueError(f"SEGNNLayer: norm must be one of {_NORMS}, got {norm!r}")
        self.irreps_in = Irreps(irreps_in)
        self.irreps_out = Irreps(irreps_out) if irreps_out is not None else self.irreps_in
        self.irreps_attr = _attr_irreps(lmax_attr)
        self.irreps_edge_features = Irreps(irreps_edge_features) if irreps_edge_features is not None else Irreps()
        if any(ir != (0, 1) for _, ir in self.irreps_edge_features):
            raise ValueError(f"SEGNNLayer: irreps_edge_features must be invariant scalars 0e, "
                             f"got {self.irreps_edge_features}")
        if residual is None:
            residual = self.irreps_out == self.irreps_in
        elif residual and self.irreps_out != self.irreps_in:
            raise ValueError(f"SEGNNLayer: a residual connection needs irreps_out == irreps_in, got "
                             f"{self.irreps_in} -> {self.irreps_out}")
        self.residual = residual
        self.aggr = aggr
        self.norm = norm
        self.edge_invariant = edge_invariant
        invariant = Irreps() if edge_invariant == "none" else Irreps("0e")
        msg_in = self.irreps_in + self.irreps_in + invariant + self.irreps_edge_features
        p = dict(parametrization=parametrization)
        self.message_1 = O3TensorProductGate(msg_in, irreps_hidden, self.irreps_attr, conv=conv, **p)
        self.irreps_hidden = self.message_1.irreps_out
        self.message_2 = O3TensorProductGate(self.irreps_hidden, self.irreps_hidden, self.irreps_attr, conv=conv, **p)
        self.update_1 = O3TensorProductGate(self.irreps_in + self.irreps_hidden, self.irreps_hidden, self.irreps_attr,
                                            **p)
        self.update_2 = O3TensorProduct(self.irreps_hidden, self.irreps_out, self.irreps_attr, **p)
        self.message_norm = BatchNorm(self.irreps_hidden) if norm == "batch" else None
        self.feature_norm = BatchNorm(self.irreps_out) if norm == "batch" else None

    def forward(self, x: torch.Tensor, pos: torch.Tensor, edge_index: torch.Tensor,
                edge_attr: torch.Tensor | None = None, node_attr: torch.Tensor | None = None,
                edge_features: torch.Tensor | None = None) -> torch.Tensor:
        """Node features ``[N, irreps_in.dim]`` -> updated node features ``[N, irreps_out.dim]``."""
        n = x.shape[0]
        if x.dim() != 2 or x.shape[-1] != self.irreps_in.dim:
            raise ValueError(f"SEGNNLayer: expected x [N, {self.irreps_in.dim}] of irreps {self.irreps_in}, "
                             f"got {list(x.shape)}")
        if pos.shape != (n, 3):
            raise ValueError(f"SEGNNLayer: expected pos [{n}, 3], got {list(pos.shape)}")
        _check_edge_index(edge_index, n, "SEGNNLayer")
        dtype = module_dtype(self)
        for what, t in (("node features x", x), ("pos", pos), ("edge_attr", edge_attr), ("node_attr", node_attr),
                        ("edge_features", edge_features)):
            check_input_dtype("SEGNNLayer", what, t, dtype)
        so2 = self.conv == "so2"
        if so2 and edge_attr is not None:
            raise ValueError("SEGNNLayer: conv='so2' computes the edge harmonics from pos in each edge's frame; do "
                             "not pass edge_attr (node_attr may be given)")
        if (edge_attr is None and not so2) or node_attr is None:
            ea, na = segnn_attributes(pos, edge_index, self.irreps_attr, num_nodes=n)
            edge_attr = ea if edge_attr is None and not so2 else edge_attr
            node_attr = na if node_attr is None else node_attr
        e = edge_index.shape[1]
        if (edge_attr is not None and edge_attr.shape != (e, self.irreps_attr.dim)) \
                or node_attr.shape != (n, self.irreps_attr.dim):
            got = "(not used)" if edge_attr is None else list(edge_attr.shape)
            raise ValueError(f"SEGNNLayer: expected edge_attr [{e}, {self.irreps_attr.dim}] and node_attr "
                             f"[{n}, {self.irreps_attr.dim}] of irreps {self.irreps_attr}, got "
                             f"{got} and {list(node_attr.shape)}")
        src, dst = edge_index[0], edge_index[1]
        parts = [x[dst], x[src]]
        if self.edge_invariant != "none":
            dist2 = (pos[dst] - pos[src]).pow(2).sum(-1, keepdim=True)
            parts.append(dist2 if self.edge_invariant == "squared_distance" else dist2.clamp_min(1e-30).sqrt())
        if self.irreps_edge_features.dim > 0:
            if edge_features is None or edge_features.shape != (e, self.irreps_edge_features.dim):
                got = None if edge_features is None else list(edge_features.shape)
                raise ValueError(f"SEGNNLayer: expected edge_features [{e}, {self.irreps_edge_features.dim}] of "
                                 f"irreps {self.irreps_edge_features}, got {got}")
            parts.append(edge_features)
        elif edge_features is not None:
            raise ValueError("SEGNNLayer: edge_features given but irreps_edge_features is empty")
        if so2:  # x_i - x_j, whose harmonics are the attributes
            vec = pos[dst] - pos[src]
            m = self.message_2(self.message_1(torch.cat(parts, dim=-1), edge_vec=vec), edge_vec=vec)
        else:
            m = self.message_2(self.message_1(torch.cat(parts, dim=-1), edge_attr), edge_attr)
        if self.message_norm is not None:
            m = self.message_norm(m)
        agg = scatter_sum if self.aggr == "sum" else scatter_mean
        m = agg(m, dst, dim=0, dim_size=n)
        update = self.update_2(self.update_1(torch.cat([x, m], dim=-1), node_attr), node_attr)
        out = x + update if self.residual else update
        if self.feature_norm is not None:
            out = self.feature_norm(out)
        return out

    def extra_repr(self) -> str:
        return (f"{self.irreps_in} -> [{self.irreps_hidden}] -> {self.irreps_out}, attr={self.irreps_attr}, "
                f"edge_features={self.irreps_edge_features}, aggr={self.aggr!r}, norm={self.norm!r}, "
                f"residual={self.residual}, edge_invariant={self.edge_invariant!r}, conv={self.conv!r}")
