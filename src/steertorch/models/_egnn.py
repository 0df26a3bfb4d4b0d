r"""EGNN (Satorras, Hoogeboom, Welling 2021): a stack of E(n)-equivariant layers.

.. math::

    h^{(0)} = W_\mathrm{in} f, \qquad
    (h^{(k+1)}, x^{(k+1)}) = \mathrm{EGNNLayer}_k\big(h^{(k)}, x^{(k)}, \mathcal{E}, a, v\big), \qquad
    y = W_\mathrm{out} h^{(K)},

returning the invariant outputs :math:`y` (per node, or pooled per graph) and the final
coordinates :math:`x^{(K)}`, which transform as :math:`x \mapsto Rx + t` under rotations,
reflections and translations of the input coordinates (with velocities :math:`v \mapsto Rv`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .._dtype import check_input_dtype, module_dtype
from ..graph._egnn import EGNNLayer
from ._readout import pool_nodes

__all__ = ["EGNN"]

_POOLS = ("sum", "mean", None)


class EGNN(nn.Module):
    r"""E(n)-equivariant graph neural network.

    Args:
        in_features: size of the invariant input node features :math:`f` (n-body: 1, the speed
            :math:`|v_i|`).
        hidden_features: width of the node features and messages (64 in the paper).
        out_features: size of the invariant node outputs (default ``hidden_features``). ``0``: the model
            predicts coordinates only (n-body) and is built without the branch that only feature outputs read:
            no output layer, and no feature update (:math:`\phi_h`) in the last layer; ``y`` is then
            ``[N, 0]``.
        edge_attr_dim: size of the invariant edge attributes :math:`a_{ij}` (n-body, as the
            reference: 2, :math:`q_i q_j` and the squared distance :math:`\|x_i - x_j\|^2` of the
            input positions; every layer also adds the squared distance of its current positions).
        num_layers: number of :class:`~steertorch.graph.EGNNLayer` (4 in the paper's n-body).
        act, attention, normalize, tanh, coords_agg, residual, coords_clamp: passed to every layer
            (``coords_clamp=100.0`` is the reference n-body code's clamp of the coordinate messages).
        use_velocity: every layer adds :math:`\phi_v(h_i)\, v_i` to its coordinate update
            (the paper's EGNN-vel for n-body; ``vel`` is then required).
        update_coords: update the coordinates (otherwise they are returned unchanged). A model whose
            loss reads only ``y`` should not update coordinates (the paper's QM9 model): with
            ``update_coords=True`` the last layer's coordinate MLPs :math:`\phi_x, \phi_v` reach only ``pos_out``,
            so they get no gradient (``DistributedDataParallel`` with default settings then fails).
        pool: ``None`` (default: node outputs), ``"sum"`` or ``"mean"``: pool the invariant
            outputs per graph (``batch``).

    ``forward(h, pos, edge_index, edge_attr=None, vel=None, batch=None, num_graphs=None)``:
    ``h`` ``[N, in_features]``, ``pos`` ``[N, 3]`` (any ``[N, d]``), ``edge_index`` ``[2, E]``
    (``[source j, target i]``), ``edge_attr`` ``[E, edge_attr_dim]``, ``vel`` ``[N, d]``.
    Returns ``(y, pos_out)``: ``y`` ``[N, out_features]`` (``[num_graphs, out_features]`` with
    ``pool``), ``pos_out`` ``[N, d]``. N-body: the prediction of the future positions is
    ``pos_out``.

    >>> model = EGNN(1, hidden_features=16, num_layers=2, use_velocity=True)
    >>> pos, vel = torch.randn(5, 3), torch.randn(5, 3)
    >>> edge_index = torch.tensor([[i for i in range(5) for j in range(5) if i != j],
    ...                            [j for i in range(5) for j in range(5) if i != j]])
    >>> y, pos_out = model(vel.norm(dim=1, keepdim=True), pos, edge_index, vel=vel)
    >>> y.shape, pos_out.shape
    (torch.Size([5, 16]), torch.Size([5, 3]))
    """

    def __init__(self, in_features: int, hidden_features: int = 64, out_features: int | None = None,
                 edge_attr_dim: int = 0, num_layers: int = 4, act: Callable[[], nn.Module] = nn.SiLU,
                 use_velocity: bool = False, attention: bool = False, normalize: bool = False, tanh: bool = False,
                 coords_agg: str = "mean", residual: bool = True, update_coords: bool = True,
                 pool: str | None = None, coords_clamp: float | None = None) -> None:
        super().__init__()
        if isinstance(in_features, bool) or not isinstance(in_features, int) or in_features < 1:
            raise ValueError(f"EGNN: in_features must be an int >= 1, got {in_features!r}")
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 0:
            raise ValueError(f"EGNN: num_layers must be an int >= 0, got {num_layers!r}")
        if pool not in _POOLS:
            raise ValueError(f"EGNN: pool must be one of {_POOLS}, got {pool!r}")
        out_features = hidden_features if out_features is None else out_features
        if isinstance(out_features, bool) or not isinstance(out_features, int) or out_features < 0:
            raise ValueError(f"EGNN: out_features must be None or an int >= 0, got {out_features!r}")
        if out_features == 0 and (pool is not None or not update_coords or num_layers == 0):
            raise ValueError("EGNN: out_features=0 predicts coordinates only: it needs update_coords=True, "
                             f"num_layers >= 1 and pool=None, got update_coords={update_coords}, "
                             f"num_layers={num_layers}, pool={pool!r}")
        self.in_features = in_features
        self.out_features = out_features
        self.use_velocity = use_velocity
        self.pool = pool
        self.embedding_in = nn.Linear(in_features, hidden_features)
        self.layers = nn.ModuleList([
            EGNNLayer(hidden_features, edge_attr_dim, act=act, update_coords=update_coords,
                      use_velocity=use_velocity, attention=attention, normalize=normalize, tanh=tanh,
                      coords_agg=coords_agg, residual=residual, coords_clamp=coords_clamp,
                      update_features=out_features > 0 or k < num_layers - 1)
            for k in range(num_layers)
        ])
        self.embedding_out = nn.Linear(hidden_features, out_features) if out_features > 0 else None

    def forward(self, h: torch.Tensor, pos: torch.Tensor, edge_index: torch.Tensor,
                edge_attr: torch.Tensor | None = None, vel: torch.Tensor | None = None,
                batch: torch.Tensor | None = None, num_graphs: int | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(h [N, in_features], pos [N, d])`` -> ``(y, pos_out [N, d])``."""
        if h.dim() != 2 or h.shape[-1] != self.in_features:
            raise ValueError(f"EGNN: expected h [N, {self.in_features}], got {list(h.shape)}")
        if self.use_velocity and vel is None:
            raise ValueError("EGNN: use_velocity=True needs vel [N, d]")
        dtype = module_dtype(self)
        for what, t in (("node features h", h), ("pos", pos), ("edge_attr", edge_attr), ("vel", vel)):
            check_input_dtype("EGNN", what, t, dtype)
        h = self.embedding_in(h)
        for layer in self.layers:
            h, pos = layer(h, pos, edge_index, edge_attr, vel if self.use_velocity else None)
        if self.embedding_out is None:  # coordinates only
            return h[:, :0], pos
        y = self.embedding_out(h)
        if self.pool is not None:
            y = pool_nodes(y, batch, num_graphs, reduce=self.pool)
        return y, pos

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, pool={self.pool!r}"
