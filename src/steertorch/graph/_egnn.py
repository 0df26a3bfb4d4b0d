r"""E(n)-equivariant graph neural network layer (EGNN; Satorras, Hoogeboom, Welling, ICML 2021).

For the edges ``j -> i`` of a graph (``edge_index = [source j, target i]``, PyG), invariant node
features :math:`h_i` and coordinates :math:`x_i`:

.. math::

    m_{ij} &= \phi_e\big(h_i, h_j, \|x_i - x_j\|^2, a_{ij}\big), \\
    x_i' &= x_i + C \sum_{j \in N(i)} (x_i - x_j)\, \phi_x(m_{ij})
        \;\big[+\, \phi_v(h_i)\, v_i\big], \\
    h_i' &= h_i + \phi_h\Big(h_i, \sum_{j \in N(i)} m_{ij}\Big),

with :math:`C = 1 / |N(i)|` (``coords_agg="mean"``, the paper's :math:`1/(N-1)` on a fully
connected graph) or 1 (``"sum"``), :math:`\phi_e, \phi_x, \phi_h, \phi_v` small MLPs and
:math:`v_i` the initial velocity (``use_velocity``). :math:`h` and the messages depend on
coordinates only through squared distances: under :math:`x \mapsto Rx + t` (R any orthogonal
matrix, reflections included) and :math:`v \mapsto Rv`, :math:`h'` is invariant and
:math:`x' \mapsto R x' + t`. Permuting the nodes permutes the outputs.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .._dtype import check_input_dtype, module_dtype
from ._scatter import scatter_mean, scatter_sum

__all__ = ["EGNNLayer"]

_COORDS_AGGS = ("mean", "sum")


def _mlp(sizes: list[int], act: Callable[[], nn.Module], last_act: bool, last_bias: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = []
    for k in range(len(sizes) - 1):
        last = k == len(sizes) - 2
        layers.append(nn.Linear(sizes[k], sizes[k + 1], bias=last_bias or not last))
        if not last or last_act:
            layers.append(act())
    return nn.Sequential(*layers)


class EGNNLayer(nn.Module):
    r"""One EGNN layer (equivariant coordinate update, invariant feature update).

    Args:
        hidden: size of the node features :math:`h` (input and output) and of the messages.
        edge_attr_dim: size of the invariant edge attributes :math:`a_{ij}` (0: none).
        act: activation module class (default :class:`torch.nn.SiLU`).
        update_coords: update the coordinates (otherwise they are returned unchanged).
        use_velocity: add :math:`\phi_v(h_i)\, v_i` to the coordinate update (``vel`` required).
        attention: multiply each message by a learned gate :math:`\sigma(w^\top m_{ij})`.
        normalize: use :math:`(x_i - x_j) / (\|x_i - x_j\| + 1)` in the coordinate update (bounded;
            smooth, with finite gradients, at coincident points).
        tanh: bound :math:`\phi_x` by :math:`\mathrm{tanh}` times ``coords_range``.
        coords_agg: ``"mean"`` (default) or ``"sum"`` of the coordinate messages.
        residual: :math:`h' = h + \phi_h(\cdot)` (otherwise :math:`h' = \phi_h(\cdot)`).
        coords_range: scale of :math:`\phi_x` with ``tanh``.
        update_features: update the node features (otherwise they are returned unchanged and the layer has no
            :math:`\phi_h`: the last layer of a model that predicts only coordinates, whose feature update
            nothing would read).
        coords_clamp: clamp each edge's coordinate message :math:`(x_i - x_j)\,\phi_x(m_{ij})`
            elementwise to ``[-coords_clamp, coords_clamp]`` before aggregating (``None``: no clamp).
            The reference n-body code clamps to [-100, 100], which keeps a rare close encounter
            from sending a long run's loss to 1e13.

    The last layer of :math:`\phi_x` starts small (Xavier-uniform with gain 0.001, as the
    reference implementation), so coordinates move little at initialisation.

    ``forward(h, pos, edge_index, edge_attr=None, vel=None)``: ``h`` ``[N, hidden]``, ``pos``
    ``[N, 3]`` (any dimension ``[N, d]`` works), ``edge_index`` ``[2, E]``, ``edge_attr``
    ``[E, edge_attr_dim]``, ``vel`` ``[N, d]``. Returns ``(h', pos')``.

    >>> layer = EGNNLayer(8)
    >>> h, pos = layer(torch.randn(4, 8), torch.randn(4, 3), torch.tensor([[0, 1, 2, 3], [1, 0, 3, 2]]))
    >>> h.shape, pos.shape
    (torch.Size([4, 8]), torch.Size([4, 3]))
    """

    def __init__(self, hidden: int, edge_attr_dim: int = 0, act: Callable[[], nn.Module] = nn.SiLU,
                 update_coords: bool = True, use_velocity: bool = False, attention: bool = False,
                 normalize: bool = False, tanh: bool = False, coords_agg: str = "mean", residual: bool = True,
                 coords_range: float = 1.0, update_features: bool = True,
                 coords_clamp: float | None = None) -> None:
        super().__init__()
        for name, v, lo in (("hidden", hidden, 1), ("edge_attr_dim", edge_attr_dim, 0)):
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"EGNNLayer: {name} must be an int >= {lo}, got {v!r}")
        if coords_agg not in _COORDS_AGGS:
            raise ValueError(f"EGNNLayer: coords_agg must be one of {_COORDS_AGGS}, got {coords_agg!r}")
        if use_velocity and not update_coords:
            raise ValueError("EGNNLayer: use_velocity needs update_coords=True")
        if not (update_coords or update_features):
            raise ValueError("EGNNLayer: update_coords=False and update_features=False leave nothing to compute")
        self.hidden = hidden
        self.edge_attr_dim = edge_attr_dim
        self.update_coords = update_coords
        self.use_velocity = use_velocity
        self.normalize = normalize
        self.tanh = tanh
        self.coords_agg = coords_agg
        self.residual = residual
        self.coords_range = float(coords_range)
        if coords_clamp is not None and not (isinstance(coords_clamp, (int, float)) and coords_clamp > 0):
            raise ValueError(f"EGNNLayer: coords_clamp must be None or a number > 0, got {coords_clamp!r}")
        self.coords_clamp = None if coords_clamp is None else float(coords_clamp)
        self.phi_e = _mlp([2 * hidden + 1 + edge_attr_dim, hidden, hidden], act, last_act=True)
        self.update_features = update_features
        self.phi_h = _mlp([2 * hidden, hidden, hidden], act, last_act=False) if update_features else None
        self.att = nn.Linear(hidden, 1) if attention else None
        if update_coords:
            self.phi_x = _mlp([hidden, hidden, 1], act, last_act=False, last_bias=False)
            nn.init.xavier_uniform_(self.phi_x[-1].weight, gain=0.001)
        else:
            self.phi_x = None
        self.phi_v = _mlp([hidden, hidden, 1], act, last_act=False) if use_velocity else None

    def forward(self, h: torch.Tensor, pos: torch.Tensor, edge_index: torch.Tensor,
                edge_attr: torch.Tensor | None = None, vel: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(h [N, hidden], pos [N, d])`` -> ``(h' [N, hidden], pos' [N, d])``."""
        if h.dim() != 2 or h.shape[-1] != self.hidden:
            raise ValueError(f"EGNNLayer: expected h [N, {self.hidden}], got {list(h.shape)}")
        n = h.shape[0]
        if pos.dim() != 2 or pos.shape[0] != n:
            raise ValueError(f"EGNNLayer: expected pos [{n}, d], got {list(pos.shape)}")
        if not isinstance(edge_index, torch.Tensor) or edge_index.dim() != 2 or edge_index.shape[0] != 2 \
                or edge_index.is_floating_point():
            raise ValueError(f"EGNNLayer: expected an integer edge_index [2, E], got "
                             f"{getattr(edge_index, 'shape', type(edge_index))}")
        dtype = module_dtype(self)
        for what, t in (("node features h", h), ("pos", pos), ("edge_attr", edge_attr), ("vel", vel)):
            check_input_dtype("EGNNLayer", what, t, dtype)
        e = edge_index.shape[1]
        src, dst = edge_index[0], edge_index[1]
        diff = pos[dst] - pos[src]  # x_i - x_j
        radial = diff.pow(2).sum(-1, keepdim=True)
        parts = [h[dst], h[src], radial]
        if self.edge_attr_dim > 0:
            if edge_attr is None or edge_attr.shape != (e, self.edge_attr_dim):
                got = None if edge_attr is None else list(edge_attr.shape)
                raise ValueError(f"EGNNLayer: expected edge_attr [{e}, {self.edge_attr_dim}], got {got}")
            parts.append(edge_attr)
        elif edge_attr is not None:
            raise ValueError(f"EGNNLayer: edge_attr given ({list(edge_attr.shape)}) but edge_attr_dim=0")
        m = self.phi_e(torch.cat(parts, dim=-1))
        if self.att is not None:
            m = m * torch.sigmoid(self.att(m))

        if self.update_coords:
            if self.normalize:
                # |x_i - x_j| with a zero (not infinite) derivative at coincident points
                diff = diff / (radial.clamp_min(1e-30).sqrt() + 1.0)
            w = self.phi_x(m)
            if self.tanh:
                w = torch.tanh(w) * self.coords_range
            trans = diff * w
            if self.coords_clamp is not None:
                trans = trans.clamp(-self.coords_clamp, self.coords_clamp)
            agg = scatter_mean if self.coords_agg == "mean" else scatter_sum
            pos_out = pos + agg(trans, dst, dim=0, dim_size=n)
            if self.use_velocity:
                if vel is None or vel.shape != pos.shape:
                    got = None if vel is None else list(vel.shape)
                    raise ValueError(f"EGNNLayer: use_velocity needs vel {list(pos.shape)}, got {got}")
                pos_out = pos_out + self.phi_v(h) * vel
        else:
            pos_out = pos

        if self.phi_h is None:
            return h, pos_out
        m_i = scatter_sum(m, dst, dim=0, dim_size=n)
        update = self.phi_h(torch.cat([h, m_i], dim=-1))
        h_out = h + update if self.residual else update
        return h_out, pos_out

    def extra_repr(self) -> str:
        return (f"hidden={self.hidden}, edge_attr_dim={self.edge_attr_dim}, update_coords={self.update_coords}, "
                f"update_features={self.update_features}, use_velocity={self.use_velocity}, "
                f"attention={self.att is not None}, normalize={self.normalize}, "
                f"tanh={self.tanh}, coords_agg={self.coords_agg!r}, residual={self.residual}")
