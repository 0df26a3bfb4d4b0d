r"""The product of features with the spherical harmonics of a vector, computed in the vector's frame (eSCN).

A point convolution multiplies the features :math:`x` of a neighbour with the harmonics of the edge
direction :math:`\hat r`, path by path (Passaro and Zitnick, ICML 2023, "eSCN"):

.. math::

    z^{(o)} = \sum_{p:\, (a, b) \to o} \sqrt{\alpha_p}\; W_p \cdot C^{(p)}\big(x^{(a)},\, Y^{l_b}(\hat r)\big),

with :math:`C^{(p)}` the Wigner 3j symbol of the path (:class:`~steertorch.o3.TensorProduct`). Take any rotation
:math:`R` with :math:`R\, e_y = \hat r` (:math:`e_y` is the polar axis of e3nn's harmonics, the eSCN paper's
:math:`z`). Then :math:`Y(\hat r) = D(R)\, Y(e_y)`, and the invariance of the 3j symbols,
:math:`C = C\,(D^{l_1} \otimes D^{l_2} \otimes D^{l_3})`, gives

.. math::

    z^{(o)} = D^{l_o}(R) \sum_p \sqrt{\alpha_p}\; W_p \cdot S^{(p)} \big(D^{l_a}(R)^\top x^{(a)}\big), \qquad
    S^{(p)}_{i k} = y_{l_b}\, C^{(p)}_{i,\, m_b = 0,\, k},

because :math:`Y^{l}(e_y)` has one nonzero entry, :math:`y_l` at :math:`m = 0` (:math:`\sqrt{2l + 1}` for
``"component"``, 1 for ``"norm"``, :math:`\sqrt{(2l+1)/4\pi}` for ``"integral"``). :math:`S^{(p)}` commutes with
the rotations about :math:`e_y`, so it couples only :math:`|m_1| = |m_3|`: when :math:`l_1 + l_2 + l_3` is even
:math:`S_{m, m} = S_{-m, -m} = a_p(m)` (and nothing else), when it is odd :math:`S_{-m, m} = -S_{m, -m} = b_p(m)`
(and :math:`S_{0, 0} = 0`). Per :math:`m \ge 1`, with :math:`X^\pm_m` the rotated inputs' :math:`\pm m` components
of every channel of degree :math:`\ge m`, the whole product is one SO(2)-linear map

.. math::

    \big[Z^+_m,\; Z^-_m\big] = \big[X^+_m,\; X^-_m\big]
    \begin{bmatrix} A_m & -B_m \\ B_m & A_m \end{bmatrix}, \qquad
    A_m = \sum_{p:\, \text{even}} \sqrt{\alpha_p}\, a_p(m)\, W_p, \quad
    B_m = \sum_{p:\, \text{odd}} \sqrt{\alpha_p}\, b_p(m)\, W_p,

(:math:`Z_0 = X_0 A_0`): the exact reparametrisation of the tensor product's weights into eSCN's SO(2)
weights. Parity needs no care: the path set is that of the tensor product (O(3) selection rules), and the
rotation :math:`R` is proper. Per edge, the rotations cost :math:`O(L^3)` per channel and the :math:`m`-blocks
:math:`O(L)` products of :math:`O(L C)`-sized matrices, instead of the :math:`O(L^6)` of the dense Clebsch-Gordan
contraction (whose per-path blocks are dense in :math:`m_1, m_2, m_3`).

Channel mixing after the product. A point convolution mixes the product's paths with a
:class:`~steertorch.o3.Linear` after summing the messages of a node. The linear map commutes with rotations
and with the sum, so ``linear=`` applies it in each edge's frame, before the rotation back: then only the
linear map's outputs are rotated back, not one block per path. With "uvu" paths and per-edge weights (a point
convolution: one output block per path, one radial weight per path and channel) the product in the frame is
elementwise, :math:`O(L^4)` per channel (the number of paths times :math:`2l + 1`, against :math:`O(L^6)`), and the
folded linear map one matrix product per component.

Frame. :math:`R = P\, R_y(\alpha)\, R_x(\beta)` with :math:`R_x(\beta) = Q R_y(\beta) Q^\top`, :math:`Q` the
cyclic permutation taking :math:`e_y` to :math:`e_x`, so :math:`D(R) = D(P)\, D_y(\alpha)\, K\, D_y(\beta)\,
K^\top` with the constant :math:`K = D(Q)` and :math:`D_y` a rotation by :math:`m\theta` of each
:math:`(m, -m)` pair: two constant matrix products and elementwise sines and cosines, no per-edge Wigner
matrix. :math:`P = 1` when :math:`|\hat r_y| \le 1/\sqrt 2`, :math:`P = Q` otherwise (then :math:`Q^\top \hat r`
is far from the poles), so :math:`\cos\alpha, \sin\alpha = (\tilde r_z, \tilde r_x)/\rho` with
:math:`\rho \ge 1/\sqrt 2`: values, gradients and second derivatives are those of a smooth function in each
chart, and the result does not depend on the chart. A zero vector has no direction: as for
:func:`~steertorch.o3.spherical_harmonics`, its harmonics are :math:`y_0` for :math:`l = 0` and 0 otherwise, so
only the paths through :math:`l_b = 0` contribute (they commute with every rotation, so any frame gives them),
with a zero gradient with respect to the vector.

Layout. Inside, every tensor is feature-major, ``[features, edges]``: the gathers that lay features out per
:math:`m` or per path copy whole rows, each rotation is one matrix product ``[2l+1, 2l+1] @ [2l+1, channels *
edges]``, and the channel mixing one product per component with the edges as the long dimension.
"""

from __future__ import annotations

import math

import torch

from .._dtype import ExactConstants, check_input_dtype
from ..group._spherical_harmonics import spherical_harmonics
from ..group._wigner import wigner_3j, wigner_D
from ._empty import connected_zeros
from ._irreps import Irreps
from ._linear import Linear
from ._tensor_product import TensorProduct

__all__ = ["SO2TensorProduct"]

_NORMALIZATIONS = ("component", "norm", "integral")
# the cyclic permutation e_x -> e_z, e_y -> e_x, e_z -> e_y: Q R_y(b) Q^T = R_x(b)
_Q = ((0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (1.0, 0.0, 0.0))
_TOL = 1e-12


def _path_matrix(l1: int, l2: int, l3: int, scale: float) -> torch.Tensor:
    """``S[i, k] = scale * C[i, m2 = 0, k]`` ``[2 l1 + 1, 2 l3 + 1]`` in float64, its SO(2) structure checked."""
    s = wigner_3j(l1, l2, l3, dtype=torch.float64)[:, l2, :] * scale
    odd = (l1 + l2 + l3) % 2
    m1 = torch.arange(-l1, l1 + 1)[:, None]
    m3 = torch.arange(-l3, l3 + 1)[None, :]
    allowed = (m1 == -m3) & (m1 != 0) if odd else (m1 == m3)
    if bool((s[~allowed].abs() > _TOL).any()):
        raise RuntimeError(f"3j symbol ({l1}, {l2}, {l3}) at m2 = 0 is not SO(2)-structured")
    return s


class _Groups:
    """Blocks of irreps grouped by degree (``by="l"``) or by irrep (``by="ir"``), laid out ``[group][component
    k][channel]`` (row-major).

    ``row(i, u, k)`` is the flat position of channel u, component k of block i; ``sizes`` the ``(key, dim,
    channels)`` of each group in order; ``perm`` the position of each e3nn (mul_ir) index.
    """

    def __init__(self, irreps: Irreps, by: str) -> None:
        self.irreps = irreps
        self.by = by
        members: dict = {}
        self.chan = {}
        for i, (_, ir) in enumerate(irreps):
            group = members.setdefault(self.key(ir), [])
            self.chan[i] = sum(irreps[j].mul for j in group)
            group.append(i)
        self.sizes = [(k, irreps[g[0]].ir.dim, sum(irreps[j].mul for j in g)) for k, g in members.items()]
        self.base, off = {}, 0
        for k, d, c in self.sizes:
            self.base[k] = off
            off += d * c
        self.numel = off
        self.perm = [self.row(i, u, k) for i, (mul, ir) in enumerate(irreps) for u in range(mul) for k in range(ir.dim)]

    def key(self, ir) -> object:
        return ir.l if self.by == "l" else ir

    def row(self, i: int, u: int, k: int) -> int:
        ir = self.irreps[i].ir
        channels = next(c for key, _, c in self.sizes if key == self.key(ir))
        return self.base[self.key(ir)] + k * channels + self.chan[i] + u


class SO2TensorProduct(ExactConstants):
    r"""A :class:`~steertorch.o3.TensorProduct` of features with spherical harmonics, through each vector's frame.

    ``SO2TensorProduct(tp, normalization)(x, vec, weight)`` equals
    ``tp(x, spherical_harmonics(tp.irreps_in2, vec, normalize=True, normalization=normalization), weight)``
    (to float rounding; values, gradients and higher derivatives with respect to ``x``, ``vec`` and ``weight``),
    computed as an SO(2)-linear map in the frame where ``vec`` points along the polar axis (see the module
    docstring for the derivation and the weight map). It holds no weights and no reference to ``tp``: it copies
    its irreps, paths and normalisation, so a module may keep both and switch between them with the same
    parameters.

    Args:
        tp: the tensor product it reproduces: ``irreps_in2`` spherical harmonics (multiplicity 1, parity
            :math:`(-1)^l`, any degrees), weighted paths, all of mode ``"uvw"`` or all ``"uvu"``, shared or
            per-sample weights.
        normalization: of the harmonics, ``"component"`` (default), ``"norm"`` or ``"integral"``.
        linear: an :class:`~steertorch.o3.Linear` ``tp.irreps_out -> irreps`` without biases, applied after the
            product (its weights given to ``forward``): the result is ``linear(tp(...))``, computed before the
            rotation back. "uvu" paths only.

    ``forward(x, vec, weight, linear_weight=None)``: ``x`` ``[..., irreps_in1.dim]``, ``vec`` ``[..., 3]``,
    ``weight`` ``[weight_numel]`` (shared) or ``[..., weight_numel]`` (per sample), broadcast, and with ``linear``
    its ``[linear.weight_numel]`` weights; returns ``[..., irreps_out.dim]`` (``irreps_out`` is
    ``linear.irreps_out`` with ``linear``). Zero vectors contribute through the ``l = 0`` harmonic only (as
    :func:`~steertorch.o3.spherical_harmonics` at 0), with a zero gradient with respect to ``vec``.

    >>> tp = TensorProduct("4x0e + 2x1o + 2x2e", "0e + 1o + 2e", "4x0e + 2x1o + 2x2e",
    ...                    [(0, 1, 1, "uvw", True), (1, 1, 0, "uvw", True), (1, 2, 1, "uvw", True),
    ...                     (2, 0, 2, "uvw", True), (2, 2, 0, "uvw", True)])
    >>> so2 = SO2TensorProduct(tp)
    >>> x, vec = torch.randn(10, tp.irreps_in1.dim), torch.randn(10, 3)
    >>> ref = tp(x, spherical_harmonics(tp.irreps_in2, vec, normalization="component"))
    >>> bool(torch.allclose(so2(x, vec, tp.weight), ref, atol=1e-5))
    True
    """

    def __init__(self, tp: TensorProduct, normalization: str = "component", linear: Linear | None = None) -> None:
        super().__init__()
        if not isinstance(tp, TensorProduct):
            raise ValueError(f"SO2TensorProduct: expected a steertorch.o3.TensorProduct, got {type(tp).__name__}")
        if normalization not in _NORMALIZATIONS:
            raise ValueError(f"SO2TensorProduct: normalization must be one of {_NORMALIZATIONS}, "
                             f"got {normalization!r}")
        self.normalization = normalization
        self.irreps_in1, self.irreps_in2 = tp.irreps_in1, tp.irreps_in2
        self.irreps_tp_out = tp.irreps_out
        self.shared_weights = tp.shared_weights
        self.weight_numel = tp.weight_numel
        for mul, ir in self.irreps_in2:
            if mul != 1 or ir.p != (-1) ** ir.l:
                raise ValueError(f"SO2TensorProduct: irreps_in2 must be spherical harmonics (multiplicity 1, parity "
                                 f"(-1)^l), got {self.irreps_in2}")
        modes = {ins.connection_mode for ins in tp.instructions}
        if not modes <= {"uvw", "uvu"} or not all(ins.has_weight for ins in tp.instructions) or len(modes) > 1:
            raise ValueError(f"SO2TensorProduct: the paths must be weighted and all 'uvw' or all 'uvu', got "
                             f"{tp.instructions}")
        self.uvu = modes != {"uvw"}  # (no path at all: the "uvu" code, which takes a linear map)
        if linear is not None:
            if not self.uvu:
                raise ValueError("SO2TensorProduct: linear= needs 'uvu' paths")
            if not isinstance(linear, Linear) or linear.irreps_in != tp.irreps_out or linear.bias_numel \
                    or linear.f_in is not None:
                raise ValueError(f"SO2TensorProduct: linear must be an o3.Linear from {tp.irreps_out} without biases "
                                 f"or feature axis, got {linear!r}")
        self.has_linear = linear is not None
        self.linear_weight_numel = linear.weight_numel if linear is not None else 0
        self.irreps_out = linear.irreps_out if linear is not None else tp.irreps_out
        paths = [(n, ins) for n, ins in enumerate(tp.instructions)
                 if ins.path_weight != 0 and 0 not in ins.path_shape]
        lmax2 = self.irreps_in2.lmax if len(self.irreps_in2) else 0
        y_pole = spherical_harmonics(list(range(lmax2 + 1)), torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64),
                                     normalization=normalization)
        y0 = [float(y_pole[l * l + l]) for l in range(lmax2 + 1)]  # Y^l(e_y) at m = 0

        self._in = _Groups(self.irreps_in1, "l")  # inputs per degree
        self.register_buffer("perm_in", torch.tensor(self._perm_to(self._in), dtype=torch.long), persistent=False)
        degrees = {ir.l for _, ir in self.irreps_in1} | {ir.l for _, ir in self.irreps_out}
        degrees |= {ir.l for _, ir in self.irreps_tp_out}
        self.lmax = max(degrees, default=0)
        for l in sorted(degrees):
            if l > 0:
                self.register_constant(f"K_{l}", wigner_D(l, torch.tensor(_Q, dtype=torch.float64)))
        if self.uvu:
            self._build_uvu(paths, y0, tp._w_offsets, linear)
        else:
            self._build_uvw(paths, y0, tp._w_offsets)

    @staticmethod
    def _perm_to(groups: _Groups) -> list[int]:
        """``perm[row] = mul_ir index``: ``x_mul_ir.index_select(-1, perm)`` lays ``x`` out as ``groups``."""
        perm = [0] * groups.numel
        for j, row in enumerate(groups.perm):
            perm[row] = j
        return perm

    # ------------------------------------------------------------------ set-up: "uvu"
    def _build_uvu(self, paths, y0, w_off, linear: Linear | None) -> None:
        """Gathers of the "uvu" product in the frame, per output irrep ``g`` laid out ``[2l + 1, channels]``.

        Layer j of group g holds, for each output channel (block o, channel u), the j-th path into o (one layer
        when each output block has one path, as in a point convolution): ``t[k, c] = x'[src[k, c]] * w[widx[c]]``
        (``src`` a zero row where the path has no term), to be multiplied by ``coef[k, c]``, which ``linear``
        folds into its matrix.
        """
        i1s, i2s = self.irreps_in1, self.irreps_in2
        self._mid = _Groups(self.irreps_tp_out, "ir")
        into: dict[int, list] = {}
        for n, ins in paths:
            into.setdefault(ins.i_out, []).append((n, ins))
        src, widx, coef, self._uvu_layers = [], [], [], []
        rot_w = [False] * self.weight_numel
        for ir, d, chans in self._mid.sizes:
            blocks = [o for o, (_, ir_o) in enumerate(self.irreps_tp_out) if ir_o == ir]
            for j in range(max((len(into.get(o, [])) for o in blocks), default=0)):
                s_j = torch.full((d, chans), self._in.numel, dtype=torch.long)
                c_j = torch.zeros(d, chans, dtype=torch.float64)
                w_j = torch.zeros(chans, dtype=torch.long)
                for o in blocks:
                    if j >= len(into.get(o, [])):
                        continue
                    n, ins = into[o][j]
                    (mul, ir1), ir2 = i1s[ins.i_in1], i2s[ins.i_in2].ir
                    s = _path_matrix(ir1.l, ir2.l, ir.l, ins.path_weight * y0[ir2.l])
                    c0 = self._mid.chan[o]
                    for u in range(mul):
                        w_j[c0 + u] = w_off[n] + u
                        rot_w[w_off[n] + u] = ir2.l > 0
                    for i, k in (s.abs() > _TOL).nonzero().tolist():
                        for u in range(mul):
                            s_j[k, c0 + u] = self._in.row(ins.i_in1, u, i)
                            c_j[k, c0 + u] = s[i, k]
                src.append(s_j.reshape(-1))
                coef.append(c_j.reshape(-1))
                widx.append(w_j)
                self._uvu_layers.append((ir, d, chans))
        def cat(ts: list[torch.Tensor], dt: torch.dtype) -> torch.Tensor:
            return torch.cat(ts) if ts else torch.zeros(0, dtype=dt)

        self.register_buffer("u_src", cat(src, torch.long), persistent=False)
        self.register_buffer("u_widx", cat(widx, torch.long), persistent=False)
        self.register_constant("u_coef", cat(coef, torch.float64))
        self.register_buffer("rot_w", torch.tensor(rot_w, dtype=torch.bool)[:, None], persistent=False)
        self._out = _Groups(self.irreps_out, "ir")
        self.register_buffer("perm_out", torch.tensor(self._out.perm, dtype=torch.long), persistent=False)
        if linear is None:
            return
        # the linear map per irrep: [channels out, channels in] (it multiplies [channels in, edges])
        mid_channels = {ir: c for ir, _, c in self._mid.sizes}
        self._lin_offsets, off = {}, 0
        for ir, _, cols in self._out.sizes:
            if ir in mid_channels:
                self._lin_offsets[ir] = off
                off += mid_channels[ir] * cols
        self._lin_numel = off
        tgt, wsrc, lcoef, woff = [], [], [], 0
        for a, o, numel, pw in linear.instructions:
            ir, mul_in, mul_out = self.irreps_out[o].ir, self.irreps_tp_out[a].mul, self.irreps_out[o].mul
            rows = mid_channels[ir]
            for u in range(mul_in):
                for w in range(mul_out):
                    tgt.append(self._lin_offsets[ir] + (self._out.chan[o] + w) * rows + self._mid.chan[a] + u)
                    wsrc.append(woff + u * mul_out + w)
                    lcoef.append(pw)
            woff += numel
        self.register_buffer("lin_tgt", torch.tensor(tgt, dtype=torch.long), persistent=False)
        self.register_buffer("lin_src", torch.tensor(wsrc, dtype=torch.long), persistent=False)
        self.register_constant("lin_coef", torch.tensor(lcoef, dtype=torch.float64).reshape(-1))

    # ------------------------------------------------------------------ set-up: "uvw"
    def _build_uvw(self, paths, y0, w_off) -> None:
        """Rows of the m-blocks, and where each weight goes in the SO(2) matrices ``[[A, -B], [B, A]]``.

        Paths through l = 0 (no rotation needed) go to one ``[C'_l, C_l]`` matrix per degree instead.
        """
        i1s, i2s, ios = self.irreps_in1, self.irreps_in2, self.irreps_tp_out
        self._out = _Groups(ios, "l")
        self.register_buffer("perm_out", torch.tensor(self._out.perm, dtype=torch.long), persistent=False)
        mmax = max((ir.l for _, ir in ios), default=0)
        rows_of, cols_of, gather, scatter = [], [], [], []
        self._m_sizes = []
        for m in range(mmax + 1):
            signs = (1,) if m == 0 else (1, -1)
            rows = [(sg, a, u) for sg in signs for a, (mul, ir) in enumerate(i1s) if ir.l >= m for u in range(mul)]
            cols = [(sg, o, w) for sg in signs for o, (mul, ir) in enumerate(ios) if ir.l >= m for w in range(mul)]
            gather += [self._in.row(a, u, i1s[a].ir.l + sg * m) for sg, a, u in rows]
            scatter += [self._out.row(o, w, ios[o].ir.l + sg * m) for sg, o, w in cols]
            rows_of.append({key: i for i, key in enumerate(rows)})
            cols_of.append({key: i for i, key in enumerate(cols)})
            self._m_sizes.append((len(rows), len(cols)))
        # each output component appears once among the columns (m = 0..max degree): a permutation
        inv = [0] * len(scatter)
        for j, p in enumerate(scatter):
            inv[p] = j
        self.register_buffer("m_gather", torch.tensor(gather, dtype=torch.long), persistent=False)
        self.register_buffer("m_scatter", torch.tensor(inv, dtype=torch.long), persistent=False)
        self._m_offsets, off = [], 0
        for r, c in self._m_sizes:
            self._m_offsets.append(off)
            off += r * c
        self._m_numel = off
        in_channels = {l: c for l, _, c in self._in.sizes}
        self._flat_offsets, off = {}, 0
        for l, _, c in self._out.sizes:
            if l in in_channels:
                self._flat_offsets[l] = off
                off += in_channels[l] * c
        self._flat_numel = off
        tgt_m, src_m, coef_m, tgt_f, src_f, coef_f = [], [], [], [], [], []
        for n, ins in paths:
            (mul1, ir1), ir2, (mulo, ir3) = i1s[ins.i_in1], i2s[ins.i_in2].ir, ios[ins.i_out]
            s = _path_matrix(ir1.l, ir2.l, ir3.l, ins.path_weight * y0[ir2.l])
            a, o = ins.i_in1, ins.i_out
            uw = [(u, w) for u in range(mul1) for w in range(mulo)]
            wsrc = [w_off[n] + u * mulo + w for u, w in uw]
            if ir2.l == 0:  # S = c * identity (l1 == l3): [C'_l, C_l] matrix, transposed
                rows = in_channels[ir1.l]
                tgt_f += [self._flat_offsets[ir1.l] + (self._out.chan[o] + w) * rows + self._in.chan[a] + u
                          for u, w in uw]
                src_f += wsrc
                coef_f += [float(s[0, 0])] * len(wsrc)
                continue
            odd = (ir1.l + ir2.l + ir3.l) % 2
            for m in range(min(ir1.l, ir3.l) + 1):
                rows, cols, nrow = rows_of[m], cols_of[m], self._m_sizes[m][0]
                if odd:
                    if m == 0:
                        continue
                    b = float(s[ir1.l - m, ir3.l + m])
                    entries = [((-1, 1), b), ((1, -1), -b)]  # Z+ += b X-, Z- -= b X+
                else:
                    c = float(s[ir1.l + m, ir3.l + m])
                    entries = [((1, 1), c)] + ([((-1, -1), c)] if m else [])
                for (sr, sc), c in entries:  # matrices stored transposed: [cols, rows]
                    tgt_m += [self._m_offsets[m] + cols[(sc, o, w)] * nrow + rows[(sr, a, u)] for u, w in uw]
                    src_m += wsrc
                    coef_m += [c] * len(wsrc)
        for tag, t, s, c in (("m", tgt_m, src_m, coef_m), ("flat", tgt_f, src_f, coef_f)):
            self.register_buffer(f"w_tgt_{tag}", torch.tensor(t, dtype=torch.long), persistent=False)
            self.register_buffer(f"w_src_{tag}", torch.tensor(s, dtype=torch.long), persistent=False)
            self.register_constant(f"w_coef_{tag}", torch.tensor(c, dtype=torch.float64).reshape(-1))

    # ------------------------------------------------------------------ frames
    def _frame(self, vec: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``(nonzero [z], chart [z], cos m alpha, sin m alpha, cos m beta, sin m beta)``, the tables
        ``[lmax + 1, z]``, for vectors ``vec`` ``[z, 3]``."""
        n2 = vec.pow(2).sum(-1)
        nonzero = n2 > torch.finfo(vec.dtype).tiny
        inv = torch.where(nonzero, torch.where(nonzero, n2, 1.0).rsqrt(), 0.0)
        x, y, z = (vec * inv[:, None]).unbind(-1)
        y = torch.where(nonzero, y, 1.0)  # a zero vector: e_y (any frame will do)
        chart = y * y > 0.5  # near the poles +-e_y: Q^T r = (r_z, r_x, r_y) instead, whose y is r_x
        x, y, z = torch.where(chart, z, x), torch.where(chart, x, y), torch.where(chart, y, z)
        rho = torch.addcmul(x * x, z, z).sqrt()  # >= 1 / sqrt(2)
        c1 = torch.stack([z / rho, y])  # cos alpha, cos beta
        s1 = torch.stack([x / rho, rho])  # sin alpha, sin beta
        cos, sin = [torch.ones_like(c1)], [torch.zeros_like(s1)]
        for _ in range(self.lmax):
            c, s = cos[-1], sin[-1]
            cos.append(c * c1 - s * s1)
            sin.append(s * c1 + c * s1)
        cos, sin = torch.stack(cos, 1), torch.stack(sin, 1)  # [2, lmax + 1, z]
        return nonzero, chart, cos[0], sin[0], cos[1], sin[1]

    @staticmethod
    def _tables(l: int, cos: torch.Tensor, sin: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cos(|m| t) and sign(m) sin(|m| t) for m = -l..l, ``[2l + 1, 1, z]``: ``D_y(t)^T x = x c + flip(x) s``."""
        m = torch.arange(-l, l + 1, device=cos.device)
        c = cos.index_select(0, m.abs())
        s = sin.index_select(0, m.abs()) * m.sign().to(sin.dtype)[:, None]
        return c[:, None], s[:, None]

    @staticmethod
    def _mm(k: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``k @ x`` over the first dimension of ``x`` ``[d, C, z]``: one matrix product."""
        return (k @ x.reshape(x.shape[0], -1)).reshape(x.shape)

    def _rotate(self, x: torch.Tensor, l: int, frame: tuple[torch.Tensor, ...], back: bool) -> torch.Tensor:
        """Degree-l features ``[2l + 1, C, z]`` into each frame (:math:`D(R)^\\top x`), or ``back``: :math:`D(R) x`."""
        if l == 0:
            return x
        _, chart, ca, sa, cb, sb = frame
        k = getattr(self, f"K_{l}")
        ca, sa = self._tables(l, ca, sa)
        cb, sb = self._tables(l, cb, sb)
        chart = chart[None, None]
        if not back:  # D(R)^T = K D_y(b)^T K^T D_y(a)^T D(P)^T
            x = torch.where(chart, self._mm(k.T, x), x)
            x = x * ca + x.flip(0) * sa
            x = self._mm(k.T, x)
            x = x * cb + x.flip(0) * sb
            return self._mm(k, x)
        x = self._mm(k.T, x)  # D(R) = D(P) D_y(a) K D_y(b) K^T
        x = x * cb - x.flip(0) * sb
        x = self._mm(k, x)
        x = x * ca - x.flip(0) * sa
        return torch.where(chart, self._mm(k, x), x)

    def _rotate_all(self, flat: torch.Tensor, groups: _Groups, frame, back: bool) -> torch.Tensor:
        """Rotate every group of ``flat`` ``[groups.numel, z]`` (laid out as ``groups``)."""
        z = flat.shape[-1]
        if not groups.sizes:
            return flat
        parts = flat.split([d * c for _, d, c in groups.sizes])
        return torch.cat([self._rotate(p.reshape(d, c, z), (d - 1) // 2, frame, back).reshape(d * c, z)
                          for p, (_, d, c) in zip(parts, groups.sizes)])

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor, vec: torch.Tensor, weight: torch.Tensor,
                linear_weight: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` ``[..., irreps_in1.dim]``, ``vec`` ``[..., 3]``, ``weight`` (and the linear map's
        ``linear_weight``) -> ``[..., irreps_out.dim]``."""
        if x.shape[-1] != self.irreps_in1.dim:
            raise ValueError(f"SO2TensorProduct: expected x of irreps {self.irreps_in1} (last dim "
                             f"{self.irreps_in1.dim}), got shape {list(x.shape)}")
        if vec.dim() == 0 or vec.shape[-1] != 3:
            raise ValueError(f"SO2TensorProduct: expected vectors [..., 3], got shape {list(vec.shape)}")
        if not isinstance(weight, torch.Tensor) or weight.dim() == 0 or weight.shape[-1] != self.weight_numel:
            shape = list(weight.shape) if isinstance(weight, torch.Tensor) else weight
            raise ValueError(f"SO2TensorProduct: expected weight [..., {self.weight_numel}], got {shape}")
        if self.shared_weights and weight.dim() != 1:
            raise ValueError(f"SO2TensorProduct: shared weights must have shape [{self.weight_numel}], "
                             f"got {list(weight.shape)}")
        if self.has_linear and (not isinstance(linear_weight, torch.Tensor)
                                or linear_weight.shape != (self.linear_weight_numel,)):
            shape = list(linear_weight.shape) if isinstance(linear_weight, torch.Tensor) else linear_weight
            raise ValueError(f"SO2TensorProduct: expected linear_weight [{self.linear_weight_numel}], got {shape}")
        if not self.has_linear and linear_weight is not None:
            raise ValueError("SO2TensorProduct: linear_weight given, but built without linear=")
        consts = [t for t in self._buffers.values() if t is not None and t.is_floating_point()]
        dtype = consts[0].dtype if consts else None
        for what, t in (("input x", x), ("vec", vec), ("weight", weight), ("linear_weight", linear_weight)):
            check_input_dtype("SO2TensorProduct", what, t, dtype)
        batch = torch.broadcast_shapes(x.shape[:-1], vec.shape[:-1])
        if not self.shared_weights:
            batch = torch.broadcast_shapes(batch, weight.shape[:-1])
        z = math.prod(batch)
        x = x.expand(*batch, x.shape[-1]).reshape(z, x.shape[-1])
        vec = vec.expand(*batch, 3).reshape(z, 3)
        w = weight if self.shared_weights else weight.expand(*batch, self.weight_numel).reshape(z, self.weight_numel)
        if z == 0 or self.irreps_out.dim == 0:
            return x.new_zeros(*batch, self.irreps_out.dim) + connected_zeros(x, vec, w, linear_weight)
        frame = self._frame(vec)
        xd = x.index_select(1, self.perm_in).T  # [features, z], grouped by degree
        rotated = self._rotate_all(xd, self._in, frame, back=False)
        if self.uvu:
            out = self._forward_uvu(rotated, w, frame, linear_weight)
        else:
            out = self._forward_uvw(xd, rotated, w, frame)
        out = out.index_select(0, self.perm_out).T.reshape(*batch, self.irreps_out.dim)
        # no path reaches the output: keep the zeros on the autograd graph of the inputs and weights
        if not out.requires_grad and torch.is_grad_enabled() and not torch.jit.is_tracing():
            out = out + connected_zeros(x, vec, w, linear_weight)
        return out

    def _forward_uvu(self, rotated: torch.Tensor, w: torch.Tensor, frame,
                     linear_weight: torch.Tensor | None) -> torch.Tensor:
        z = rotated.shape[-1]
        # zero vectors: only the paths through l = 0 (their weights kept)
        w = w[:, None] if self.shared_weights else w.T
        w = torch.where(self.rot_w & ~frame[0], 0.0, w)  # [weight_numel, z]
        xs = torch.cat([rotated, rotated.new_zeros(1, z)]).index_select(0, self.u_src)
        xs = xs.split([d * c for _, d, c in self._uvu_layers])
        ws = w.index_select(0, self.u_widx).split([c for _, _, c in self._uvu_layers])
        coefs = self.u_coef.split([d * c for _, d, c in self._uvu_layers])
        mats = {}
        if linear_weight is not None:
            vals = linear_weight.index_select(0, self.lin_src) * self.lin_coef
            flat = linear_weight.new_zeros(self._lin_numel).index_add(0, self.lin_tgt, vals)
            mid_channels = {ir: c for ir, _, c in self._mid.sizes}
            mats = {ir: flat.narrow(0, off, mid_channels[ir] * cols).reshape(cols, mid_channels[ir])
                    for (ir, _, cols) in self._out.sizes if (off := self._lin_offsets.get(ir)) is not None}
        acc: dict = {}
        for (ir, d, c), xg, wg, coef in zip(self._uvu_layers, xs, ws, coefs):
            if linear_weight is not None and ir not in mats:
                continue  # no output of the linear map has this irrep
            t = xg.reshape(d, c, z) * wg  # [d, c, z]
            if linear_weight is None:
                t = t * coef.reshape(d, c, 1)
            else:  # the coefficients folded into the linear map, one matrix per component
                t = (coef.reshape(d, 1, c) * mats[ir]) @ t  # [d, cols, z]
            acc[ir] = t if ir not in acc else acc[ir] + t
        outs = []
        for ir, d, cols in self._out.sizes:
            y = acc.get(ir)
            outs.append(rotated.new_zeros(d * cols, z) if y is None
                        else self._rotate(y, ir.l, frame, back=True).reshape(d * cols, z))
        return torch.cat(outs) if outs else rotated.new_zeros(0, z)

    def _assemble(self, w: torch.Tensor, tag: str, numel: int) -> torch.Tensor:
        """The SO(2) (or l = 0) matrices from the tensor product's weights: ``[numel]`` or ``[z, numel]``."""
        vals = w.index_select(-1, getattr(self, f"w_src_{tag}")) * getattr(self, f"w_coef_{tag}")
        return w.new_zeros(*w.shape[:-1], numel).index_add(w.dim() - 1, getattr(self, f"w_tgt_{tag}"), vals)

    def _forward_uvw(self, xd: torch.Tensor, rotated: torch.Tensor, w: torch.Tensor, frame) -> torch.Tensor:
        z = rotated.shape[-1]
        # the m-blocks in the frame (paths through l > 0 only, zero for zero vectors)
        mats = self._assemble(w, "m", self._m_numel)
        xs = rotated.index_select(0, self.m_gather).split([r for r, _ in self._m_sizes])
        outs = []
        for xm, (r, c), off in zip(xs, self._m_sizes, self._m_offsets):
            mat = mats.narrow(-1, off, r * c)
            if self.shared_weights:
                outs.append(mat.reshape(c, r) @ xm)
            else:
                outs.append(torch.bmm(mat.reshape(z, c, r), xm.T[:, :, None])[:, :, 0].T)
        zr = torch.cat(outs).index_select(0, self.m_scatter) * frame[0].to(rotated.dtype)
        out = self._rotate_all(zr, self._out, frame, back=True)
        # the paths through l = 0, without rotation: one matrix per degree
        mats = self._assemble(w, "flat", self._flat_numel)
        in_parts = dict(zip([l for l, _, _ in self._in.sizes], xd.split([d * c for _, d, c in self._in.sizes])))
        in_channels = {l: c for l, _, c in self._in.sizes}
        flat = []
        for l, d, cols in self._out.sizes:
            if l not in in_parts:
                flat.append(xd.new_zeros(d * cols, z))
                continue
            rows = in_channels[l]
            mat = mats.narrow(-1, self._flat_offsets[l], rows * cols)
            xl = in_parts[l].reshape(d, rows, z)
            if self.shared_weights:
                y = mat.reshape(cols, rows) @ xl
            else:
                y = torch.einsum("zcr,drz->dcz", mat.reshape(z, cols, rows), xl)
            flat.append(y.reshape(d * cols, z))
        return out + torch.cat(flat) if flat else out

    def extra_repr(self) -> str:
        linear = f" -> linear -> {self.irreps_out}" if self.has_linear else ""
        return (f"{self.irreps_in1} x Y({self.irreps_in2}) -> {self.irreps_tp_out}{linear}, "
                f"normalization={self.normalization!r}, {'uvu' if self.uvu else 'uvw'}, "
                f"{'shared' if self.shared_weights else 'per-sample'} weights")
