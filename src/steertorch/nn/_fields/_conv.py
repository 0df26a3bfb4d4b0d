r"""Steerable convolutions on grids: :class:`R2Conv`, :class:`R3Conv` and their transposed versions.

A steerable convolution maps a field of type ``in_type`` to a field of type ``out_type`` by cross-correlation
with a kernel :math:`K: \mathbb{R}^d \to \mathbb{R}^{C_{out} \times C_{in}}` that satisfies the steerability
constraint

.. math::  K(M(g)\,q) = \rho_{out}(g)\, K(q)\, \rho_{in}(g)^{-1} \qquad \forall g \in G,

so that :math:`y(p) = \sum_q K(q)\, x(p + q)` is equivariant: transforming ``x`` by g (``FieldType.transform``)
transforms ``y`` by g. The kernel is a learned linear combination of the steerable basis
(:func:`steertorch.kernels.kernel_basis`) of every pair (out field, in field), sampled at the kernel's grid
points (:func:`steertorch.kernels.grid_points`). Fields carrying the same representation share the basis: the
weights of all pairs with representations :math:`(\rho_a, \rho_b)` form one tensor ``[n_a, n_b, dim]`` and the
kernel is expanded by one matrix product per distinct pair of representations (small representations) or per
pair of irrep labels followed by the changes of basis (large ones, e.g. regular fields of the octahedral and
icosahedral groups, whose dense sampled basis grows as :math:`|G|^2`; see ``_BasisExpansion``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..._dtype import ExactConstants, check_input_dtype
from ...group import Representation
from ...group._group import float64_default
from ...kernels import EscnnFrequencyCutoff, default_rings, escnn_ring_widths, grid_points, kernel_basis
from ...o3._empty import register_weight
from ._expansion_cache import ExpansionCache
from ._module import EquivariantModule
from ._type import FieldType

__all__ = ["R2Conv", "R3Conv", "R2ConvTransposed", "R3ConvTransposed", "R3IcoConv", "R3IcoConvTransposed"]

_BASIS_TOL = 1e-6  # sampled basis kernels with a smaller norm (relative to the largest) are dropped


def _tuple(v: int | Sequence[int], d: int, what: str, minimum: int) -> tuple[int, ...]:
    t = [v] * d if isinstance(v, int) and not isinstance(v, bool) else list(v)
    if len(t) != d or any(isinstance(a, bool) or not isinstance(a, int) or a < minimum for a in t):
        raise ValueError(f"{what} must be an int >= {minimum} or {d} of them, got {v!r}")
    return tuple(t)


def _invariant_basis(rep: Representation) -> torch.Tensor:
    """``[size, n]`` float64: an orthonormal basis of the invariant vectors of ``rep`` (its trivial irreps)."""
    trivial = rep.group.trivial_representation
    cols, start = [], 0
    for psi in rep.irreps:
        if psi.label == trivial.label:
            cols.append(start)
        start += psi.size
    e = torch.zeros(rep.size, len(cols), dtype=torch.float64)
    for j, c in enumerate(cols):
        e[c, j] = 1.0
    if rep.change_of_basis is not None:
        e = rep.change_of_basis.to(torch.float64) @ e
    return e


def _register_invariant_bias(module: ExactConstants, out_type: FieldType, bias: bool) -> None:
    """A learnable bias on the invariant directions of ``out_type`` only (``module.bias``; None if there are none)."""
    e = torch.block_diag(*[_invariant_basis(r) for r in out_type.representations]) if bias else None
    if e is not None and e.shape[1]:
        module.register_constant("_bias_expansion", e)
        module.bias = nn.Parameter(torch.zeros(e.shape[1]))
    else:
        module.register_parameter("bias", None)


_DENSE_MAX_FLOATS = 1 << 20  # dense bases up to this many floats are always kept (the fastest expansion)
_COMPACT_RATIO = 4.0  # above it, the compact (block) basis is used when it is this many times smaller


class _PairBlocks(NamedTuple):
    """How the kernel of one pair of representations (a <- b) is expanded."""

    n_o: int  # out fields with representation a (per group)
    s_o: int
    n_i: int
    s_i: int
    dim: int  # basis kernels kept
    offset: int  # first weight in the flat parameter
    row: int  # index of a among the distinct out representations
    buf: str  # buffer name prefix
    compact: bool
    out_layout: tuple  # ((multiplicity, size), ...) per out irrep label, in the order of Q'_out's columns
    in_layout: tuple
    pairs: tuple  # ((out label index, in label index, dim_p, d_o, d_i, m_o, m_i, gather offset), ...)


def _check_type_pair(in_type: FieldType, out_type: FieldType) -> None:
    """ValueError unless both are FieldTypes over the same G-space (shared by the convolutions and FieldLinear)."""
    for what, ft in (("in_type", in_type), ("out_type", out_type)):
        if not isinstance(ft, FieldType):
            raise ValueError(f"{what} must be a FieldType, got {type(ft).__name__}")
    if in_type.gspace != out_type.gspace:
        raise ValueError(f"in_type and out_type must share the G-space, got {in_type.gspace.name} and "
                         f"{out_type.gspace.name}")


class _BasisExpansion(ExactConstants):
    r"""Learnable steerable kernel ``[groups, C_out_g, C_in_g, P]`` from basis coefficients.

    For every distinct pair of representations (a, b) with ``n_a`` out fields and ``n_b`` in fields, the weights
    ``[groups, n_a, n_b, dim]`` are one slice of the flat parameter ``weights`` (the order of
    :meth:`KernelBasis.sample`'s basis kernels, those with a negligible norm on the grid dropped). The kernel of
    the pair is built in one of two ways, chosen per pair from the memory they need:

    * compact (the general form): in the irreps bases every basis kernel lives in one (out irrep copy, in irrep
      copy) block and all copies of the same pair of irrep labels (L_o, L_i) share the block basis
      ``B_p`` ``[dim_p, d_o, d_i, P]`` (:meth:`KernelBasis.sample_blocks`). One matrix product per label pair,
      weights ``[groups * n_a * m_o * n_b * m_i, dim_p]`` (gathered from ``weights``) times ``B_p``, gives the
      kernel in the irreps bases (copies of a label consecutive), which is rotated by the changes of basis:
      :math:`K = Q'_{out}\, K_{irreps}\, Q'^\top_{in}`. Memory :math:`\sum_p dim_p\, d_o d_i P` plus the
      two changes of basis: linear in the sizes of regular representations instead of quadratic.
    * dense: the sampled basis ``[dim, size_a * size_b * P]`` precomputed as the compact expansion of the
      identity weights, and one matrix product (the fastest for small representations).

    Rule: dense unless its basis has more than ``_DENSE_MAX_FLOATS`` (2^20) floats and more than
    ``_COMPACT_RATIO`` (4) times the floats of the compact form (``storage`` = ``"dense"`` / ``"compact"``
    forces one). Both give the same kernel up to rounding. The blocks of all pairs are concatenated and
    permuted back to the channel order of the field types with one ``index_select`` per side.
    """

    def __init__(self, in_type: FieldType, out_type: FieldType, points: torch.Tensor,
                 basis_fn: Callable[[Representation, Representation], object], groups: int,
                 storage: str = "auto") -> None:
        super().__init__()
        if storage not in ("auto", "dense", "compact"):
            raise ValueError(f"storage must be 'auto', 'dense' or 'compact', got {storage!r}")
        self.groups = groups
        self.n_points = points.shape[0]
        in_reps, out_reps = _distinct(in_type), _distinct(out_type)
        # channel lists per distinct representation, in the order of the concatenated blocks
        out_perm = [c for rep in out_reps for c in _channels(out_type, rep)]
        in_perm = [c for rep in in_reps for c in _channels(in_type, rep)]
        self.register_buffer("_out_inv", torch.argsort(torch.tensor(out_perm, dtype=torch.long)), persistent=False)
        self.register_buffer("_in_inv", torch.argsort(torch.tensor(in_perm, dtype=torch.long)), persistent=False)
        self._permute_out = out_perm != list(range(len(out_perm)))
        self._permute_in = in_perm != list(range(len(in_perm)))
        self._blocks: list[_PairBlocks] = []
        offset, n_gather = 0, 0
        gathers: list[torch.Tensor] = []
        sq_norm_per_out: dict[int, float] = {}
        with float64_default():
            pts = points.to(torch.float64)
            for ai, rep_o in enumerate(out_reps):
                for rep_i in in_reps:
                    n_o, n_i = _count(out_type, rep_o), _count(in_type, rep_i)
                    buf = f"_basis{len(self._blocks)}"
                    basis = basis_fn(rep_i, rep_o)
                    plan = _compact_plan(basis, pts)
                    dim = plan["dim"]
                    # constants with float64 masters: a float32-built module moved with .double() gets bases exact
                    # to float64 rounding (a float32 copy is only exact for grid symmetries that permute the sample
                    # points, not e.g. for the Wigner matrices of SO(3))
                    dense_floats = dim * rep_o.size * rep_i.size * self.n_points
                    compact = storage == "compact" or (storage == "auto" and dense_floats > _DENSE_MAX_FLOATS
                                                       and dense_floats > _COMPACT_RATIO * plan["floats"])
                    pairs = []
                    for q, (lo, li, blk, gidx) in enumerate(plan["pairs"]):
                        (m_o, d_o), (m_i, d_i) = plan["out_layout"][lo], plan["in_layout"][li]
                        pairs.append((lo, li, blk.shape[0], d_o, d_i, m_o, m_i, n_gather))
                        if compact:
                            # flat weight index of (group x out field, out copy, in field, in copy, block kernel)
                            base = (torch.arange(groups * n_o)[:, None] * n_i + torch.arange(n_i)[None, :]) * dim
                            gathers.append((offset + base.view(groups * n_o, 1, n_i, 1, 1)
                                            + gidx.view(1, m_o, 1, m_i, -1)).reshape(-1))
                            n_gather += gathers[-1].numel()
                            self.register_constant(f"{buf}_{q}", blk.reshape(blk.shape[0], -1))
                    block = _PairBlocks(n_o, rep_o.size, n_i, rep_i.size, dim, offset, ai, buf, compact,
                                        tuple(plan["out_layout"]), tuple(plan["in_layout"]), tuple(pairs))
                    if compact:
                        for side in ("out", "in"):
                            if plan[f"q_{side}"] is not None:
                                self.register_constant(f"{buf}_q{side}", plan[f"q_{side}"])
                    elif dim:
                        # the dense basis: the compact expansion of the identity weights (dim x "out field")
                        eye = torch.eye(dim, dtype=torch.float64)
                        ws = [eye[:, gidx.reshape(-1)].view(dim, gidx.shape[0], 1, gidx.shape[1], gidx.shape[2])
                              for _, _, _, gidx in plan["pairs"]]
                        bs = [blk.reshape(blk.shape[0], -1) for _, _, blk, _ in plan["pairs"]]
                        kern = _expand_compact(block, ws, bs, plan["q_out"], plan["q_in"], dim, 1, self.n_points)
                        self.register_constant(buf, kern.reshape(dim, -1))
                    self._blocks.append(block)
                    offset += groups * n_o * n_i * dim
                    # expected squared norm of one row of the kernel, summed over in fields, per unit weight var
                    sq_norm_per_out[ai] = sq_norm_per_out.get(ai, 0.0) + n_i * plan["sq_norm"] / rep_o.size
        self.n_weights = offset
        self.register_buffer("_gather", torch.cat(gathers) if gathers else torch.zeros(0, dtype=torch.long),
                             persistent=False)
        register_weight(self, "weights", torch.zeros(offset))  # a buffer if no kernel is equivariant
        self._sq_norm_per_out = sq_norm_per_out
        self._n_out_reps = len(out_reps)
        self.c_out = out_type.size // groups
        self.c_in = in_type.size // groups

    @property
    def basis_floats(self) -> int:
        """Number of floats of the stored bases and changes of basis (buffers in the module's dtype; their float64
        masters are kept on the CPU)."""
        return sum(b.numel() for name, b in self.named_buffers() if name.startswith("_basis"))

    def _basis(self, name: str, dtype: torch.dtype) -> torch.Tensor:
        """Buffer ``name`` (a basis or change of basis) in ``dtype`` (a no-op unless only the weights were cast)."""
        return getattr(self, name).to(dtype)

    def dense_basis(self, i: int) -> torch.Tensor:
        """float64 ``[dim, s_o * s_i * P]``: the basis kernels of pair block ``i`` (``self._blocks[i]``), dense,
        rows in the order of its weights: block i's kernel of (out field a, in field b) is ``w[a, b] @ basis``
        with ``w = weights[offset:offset + groups * n_o * n_i * dim].view(groups * n_o, n_i, dim)``. Built from
        the float64 masters (whatever the module's dtype); used to fit weights to a given kernel."""
        b = self._blocks[i]
        masters = self.__dict__["_constant_masters"]
        size = b.s_o * b.s_i * self.n_points
        if not b.dim:
            return torch.zeros(0, size, dtype=torch.float64)
        if not b.compact:
            return masters[b.buf].reshape(b.dim, size)
        # compact: the expansion of the identity weights, as __init__ builds the dense basis
        eye = torch.eye(b.dim, dtype=torch.float64)
        ws, bs = [], []
        for q, (_, _, dim_p, _, _, m_o, m_i, start) in enumerate(b.pairs):
            n = self.groups * b.n_o * m_o * b.n_i * m_i * dim_p
            gidx = self._gather[start:start + n].view(self.groups * b.n_o, m_o, b.n_i, m_i, dim_p)[0, :, 0]
            gidx = gidx.cpu() - b.offset
            ws.append(eye[:, gidx.reshape(-1)].view(b.dim, m_o, 1, m_i, dim_p))
            bs.append(masters[f"{b.buf}_{q}"])
        kern = _expand_compact(b, ws, bs, masters.get(f"{b.buf}_qout"), masters.get(f"{b.buf}_qin"), b.dim, 1,
                               self.n_points)
        return kern.reshape(b.dim, size)

    def init_std(self) -> torch.Tensor:
        """Per-weight standard deviation of the He-like initialisation: each output channel gets unit expected
        second moment for i.i.d. unit-variance inputs."""
        std = torch.zeros(self.n_weights)
        for b in self._blocks:
            s = self._sq_norm_per_out.get(b.row, 0.0)
            std[b.offset:b.offset + self.groups * b.n_o * b.n_i * b.dim] = 1.0 / math.sqrt(s) if s > 0 else 0.0
        return std

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.weights.copy_(torch.randn(self.n_weights, dtype=self.weights.dtype) * self.init_std())

    def forward(self) -> torch.Tensor:
        """The kernel ``[groups, C_out_g, C_in_g, P]``."""
        g, p = self.groups, self.n_points
        dtype = self.weights.dtype
        gathered = self.weights.index_select(0, self._gather) if self._gather.numel() else None
        rows: list[torch.Tensor] = []
        row: list[torch.Tensor] = []
        current = 0
        for b in self._blocks:
            if b.row != current:
                rows.append(torch.cat(row, dim=2) if len(row) > 1 else row[0])
                row, current = [], b.row
            n_o, s_o, n_i, s_i, dim = b.n_o, b.s_o, b.n_i, b.s_i, b.dim
            if not dim:
                blk = self.weights.new_zeros(g, n_o * s_o, n_i * s_i, p)
            elif b.compact:
                ws, bs = [], []
                for q, (_, _, dim_p, _, _, m_o, m_i, start) in enumerate(b.pairs):
                    n = g * n_o * m_o * n_i * m_i * dim_p
                    ws.append(gathered[start:start + n].view(g * n_o, m_o, n_i, m_i, dim_p))
                    bs.append(self._basis(f"{b.buf}_{q}", dtype))
                q_out = self._basis(f"{b.buf}_qout", dtype) if hasattr(self, f"{b.buf}_qout") else None
                q_in = self._basis(f"{b.buf}_qin", dtype) if hasattr(self, f"{b.buf}_qin") else None
                blk = _expand_compact(b, ws, bs, q_out, q_in, g * n_o, n_i, p).reshape(g, n_o * s_o, n_i * s_i, p)
            else:
                w = self.weights[b.offset:b.offset + g * n_o * n_i * dim].view(g * n_o * n_i, dim)
                blk = (w @ self._basis(b.buf, dtype)).view(g, n_o, n_i, s_o, s_i, p)
                blk = blk.permute(0, 1, 3, 2, 4, 5).reshape(g, n_o * s_o, n_i * s_i, p)
            row.append(blk)
        rows.append(torch.cat(row, dim=2) if len(row) > 1 else row[0])
        kernel = torch.cat(rows, dim=1) if len(rows) > 1 else rows[0]
        if self._permute_out:
            kernel = kernel.index_select(1, self._out_inv)
        if self._permute_in:
            kernel = kernel.index_select(2, self._in_inv)
        return kernel


def _compact_plan(basis, points: torch.Tensor) -> dict:
    """The block form of ``basis`` sampled at ``points`` (float64), its negligible kernels dropped: block bases
    and the dense index of every (out copy, in copy, block kernel), label layouts, changes of basis, sizes."""
    blocks = basis.sample_blocks(points)  # [dim_p, d_o, d_i, P] per label pair
    out_layout, q_out, in_layout, q_in = basis.changes_of_basis()
    norms = [b.flatten(1).norm(dim=1) for b in blocks]
    top = max([float(n.max()) for n in norms if n.numel()], default=0.0)
    keep = [n > _BASIS_TOL * max(top, 1e-300) for n in norms]
    index = basis.block_index  # [dim, 4]: (pair, block kernel, out copy, in copy)
    if index.shape[0]:
        starts = torch.tensor([0] + [len(k) for k in keep], dtype=torch.long).cumsum(0)
        index = index[torch.cat(keep)[starts[index[:, 0]] + index[:, 1]]]
    dim = index.shape[0]
    out_pos = {label: i for i, (label, _, _) in enumerate(out_layout)}
    in_pos = {label: i for i, (label, _, _) in enumerate(in_layout)}
    pairs, floats, sq_norm = [], 0, 0.0
    for p, ((lo, li), blk, k) in enumerate(zip(basis.block_labels, blocks, keep)):
        if not bool(k.any()):
            continue
        m_o, m_i = out_layout[out_pos[lo]][1], in_layout[in_pos[li]][1]
        local = torch.cumsum(k.long(), 0) - 1  # new position of a kept block kernel
        sel = (index[:, 0] == p).nonzero().flatten()
        gidx = torch.full((m_o, m_i, int(k.sum())), -1, dtype=torch.long)
        gidx[index[sel, 2], index[sel, 3], local[index[sel, 1]]] = sel
        if bool((gidx < 0).any()) or sel.numel() != gidx.numel():
            raise RuntimeError("internal error: the block kernels and the dense basis kernels do not match")
        blk = blk[k]
        pairs.append((out_pos[lo], in_pos[li], blk, gidx))
        floats += blk.numel()
        sq_norm += m_o * m_i * float((blk**2).sum())
    floats += sum(q.numel() for q in (q_out, q_in) if q is not None)
    return {"pairs": pairs, "dim": dim, "floats": floats, "sq_norm": sq_norm, "q_out": q_out, "q_in": q_in,
            "out_layout": [(m, d) for _, m, d in out_layout], "in_layout": [(m, d) for _, m, d in in_layout]}


def _expand_compact(b: _PairBlocks, ws: Sequence[torch.Tensor], bs: Sequence[torch.Tensor],
                    q_out: torch.Tensor | None, q_in: torch.Tensor | None, n_rows: int, n_i: int,
                    n_points: int) -> torch.Tensor:
    r"""``[n_rows, S_o, n_i, S_i, P]``: :math:`Q'_{out} K_{irreps} Q'^\top_{in}` from the weights of every label
    pair ``ws[q]`` ``[n_rows, m_o, n_i, m_i, dim_p]`` and its block basis ``bs[q]`` ``[dim_p, d_o * d_i * P]``."""
    p = n_points
    out_sizes = [m * d for m, d in b.out_layout]
    in_sizes = [m * d for m, d in b.in_layout]
    blocks: dict[tuple[int, int], torch.Tensor] = {}
    for (lo, li, dim_p, d_o, d_i, m_o, m_i, _), w, basis in zip(b.pairs, ws, bs):
        k = (w.reshape(-1, dim_p) @ basis).view(n_rows, m_o, n_i, m_i, d_o, d_i, p)
        blocks[(lo, li)] = k.permute(0, 1, 4, 2, 3, 5, 6).reshape(n_rows, m_o * d_o, n_i, m_i * d_i, p)
    like = ws[0]
    rows = []
    for lo, so in enumerate(out_sizes):
        cols = [blocks[(lo, li)] if (lo, li) in blocks else like.new_zeros(n_rows, so, n_i, si, p)
                for li, si in enumerate(in_sizes)]
        rows.append(torch.cat(cols, dim=3) if len(cols) > 1 else cols[0])
    kern = torch.cat(rows, dim=1) if len(rows) > 1 else rows[0]  # [n_rows, S_o, n_i, S_i, P] (irreps bases)
    s_o, s_i = kern.shape[1], kern.shape[3]
    if q_in is not None:
        kern = torch.matmul(q_in, kern.reshape(-1, s_i, p))
    if q_out is not None:
        kern = torch.matmul(q_out, kern.reshape(n_rows, s_o, -1))
    return kern.reshape(n_rows, s_o, n_i, s_i, p)


def _distinct(ft: FieldType) -> list[Representation]:
    out: list[Representation] = []
    for rep in ft.representations:
        if not any(rep == r for r in out):
            out.append(rep)
    return out


def _count(ft: FieldType, rep: Representation) -> int:
    return sum(1 for r in ft.representations if r == rep)


def _channels(ft: FieldType, rep: Representation) -> list[int]:
    return [c for r, s, e in zip(ft.representations, ft.fields_start, ft.fields_end) if r == rep
            for c in range(s, e)]


def _group_types(ft: FieldType, groups: int, what: str) -> FieldType:
    """The type of one of ``groups`` equal consecutive blocks of ``ft``'s fields."""
    n = len(ft.representations)
    if n % groups:
        raise ValueError(f"{what} has {n} fields, not divisible by groups={groups}")
    m = n // groups
    first = ft.representations[:m]
    for j in range(1, groups):
        if not all(a == b for a, b in zip(first, ft.representations[j * m:(j + 1) * m])):
            raise ValueError(f"groups={groups}: the {groups} blocks of fields of {what} must carry the same "
                             f"representations")
    return FieldType(ft.gspace, first)


def _check_escnn_arguments(who: str, maximum_offset: int | None, recompute: bool, basis_filter: Callable | None,
                            basisexpansion: str) -> None:
    """escnn's arguments of the convolutions that have no counterpart here: accepted at the values that mean what
    steertorch does, refused (``ValueError``) otherwise, never silently ignored. ``recompute`` (escnn: build the
    basis again instead of reusing escnn's cached one) has no effect: each module builds its bases once."""
    if maximum_offset is not None:
        raise ValueError(f"{who}: maximum_offset={maximum_offset!r} is not supported; the basis always holds every "
                         "frequency the frequencies_cutoff allows (escnn's maximum_offset=None)")
    if basis_filter is not None:
        raise ValueError(f"{who}: basis_filter is not supported; choose the basis with rings, sigma and "
                         "frequencies_cutoff")
    if basisexpansion != "blocks":
        raise ValueError(f"{who}: basisexpansion must be 'blocks' (escnn's only expansion), got {basisexpansion!r}")
    if not isinstance(recompute, bool):
        raise ValueError(f"{who}: recompute must be a bool, got {recompute!r}")


class _RdConv(EquivariantModule, ExpansionCache, ExactConstants):
    _d = 2
    _transposed = False

    def __init__(self, in_type: FieldType, out_type: FieldType, kernel_size: int | Sequence[int],
                 padding: int | Sequence[int] = 0, stride: int | Sequence[int] = 1,
                 dilation: int | Sequence[int] = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", sigma: float | Sequence[float] | None = None,
                 frequencies_cutoff: float | str | Callable[[float], int] | None = None,
                 rings: Sequence[float] | None = None, initialize: bool = True,
                 output_padding: int | Sequence[int] = 0, kernel: nn.Module | None = None) -> None:
        super().__init__()
        d = self._d
        _check_type_pair(in_type, out_type)
        if in_type.gspace.dimensionality != d:
            raise ValueError(f"{type(self).__name__} needs a G-space on R^{d}, got {in_type.gspace.name} "
                             f"(R^{in_type.gspace.dimensionality})")
        if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
            raise ValueError(f"groups must be an int >= 1, got {groups!r}")
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(f"padding_mode must be 'zeros', 'reflect', 'replicate' or 'circular', got "
                             f"{padding_mode!r}")
        if self._transposed and padding_mode != "zeros":
            raise ValueError(f"{type(self).__name__} only supports padding_mode='zeros', got {padding_mode!r}")
        self.in_type, self.out_type = in_type, out_type
        self.kernel_size = _tuple(kernel_size, d, "kernel_size", 1)
        self.padding = _tuple(padding, d, "padding", 0)
        self.stride = _tuple(stride, d, "stride", 1)
        self.dilation = _tuple(dilation, d, "dilation", 1)
        self.output_padding = _tuple(output_padding, d, "output_padding", 0)
        self.groups, self.padding_mode = groups, padding_mode
        in_g, out_g = _group_types(in_type, groups, "in_type"), _group_types(out_type, groups, "out_type")

        # rings and widths in grid units of the undilated kernel, scaled by the dilation
        dil = self.dilation[0]
        if any(v != dil for v in self.dilation):
            raise ValueError(f"the steerable basis needs the same dilation along every axis, got {self.dilation}")
        if any(k != self.kernel_size[0] for k in self.kernel_size):
            raise ValueError(f"the steerable basis needs a square / cubic kernel, got {self.kernel_size}")
        k = self.kernel_size[0]
        radii = default_rings(k, dil)[0] if rings is None else [float(r) * dil for r in rings]
        sig_t: float | tuple[float, ...]
        if sigma is None:  # escnn's widths (not scaled by the dilation, as in escnn)
            sig_t = tuple(escnn_ring_widths(radii))
        elif isinstance(sigma, (int, float)):
            sig_t = float(sigma) * dil
        else:
            sig_t = tuple(float(s) * dil for s in sigma)
        if frequencies_cutoff is None or frequencies_cutoff == "escnn":  # escnn's default band limit
            cutoff = EscnnFrequencyCutoff(k, d)
        elif frequencies_cutoff == "steertorch":  # floor(2 r) on every ring
            cutoff = 2.0
        else:
            cutoff = frequencies_cutoff
        gspace = in_type.gspace

        def basis_fn(rep_i: Representation, rep_o: Representation):
            return kernel_basis(gspace, rep_i, rep_o, radii, sig_t, frequency_cutoff=cutoff)

        points = grid_points(self.kernel_size, d, self.dilation, dtype=torch.float64)
        if kernel is not None:  # a kernel module (ImplicitKernel, BasisKernel) sampled at the lattice offsets
            from ._implicit_kernel import _KernelExpansion

            self.expansion = _KernelExpansion(kernel, in_g, out_g, points, groups)
        else:
            self.expansion = _BasisExpansion(in_g, out_g, points, basis_fn, groups)
        _register_invariant_bias(self, out_type, bias)
        if initialize:
            self.expansion.reset_parameters()

    @property
    def weights(self) -> torch.Tensor:
        """The learnable basis coefficients (one flat parameter)."""
        return self.expansion.weights

    def reset_parameters(self) -> None:
        """He-like initialisation (unit second moment of the outputs for unit inputs) and zero bias."""
        self.expansion.reset_parameters()
        if self.bias is not None:
            with torch.no_grad():
                self.bias.zero_()

    # ------------------------------------------------------------------ kernel
    def _kernel_and_bias(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        k = self.expansion()  # [G, Co_g, Ci_g, P]
        g, co, ci, _ = k.shape
        if self._transposed:
            w = k.permute(0, 2, 1, 3).reshape(g * ci, co, *self.kernel_size)
        else:
            w = k.reshape(g * co, ci, *self.kernel_size)
        b = None
        if self.bias is not None:
            b = self._bias_expansion.to(self.bias.dtype) @ self.bias
        return w, b

    def expand_parameters(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The full kernel (``Conv`` / ``ConvTranspose`` weight layout) and bias ``[C_out]`` (or None), expanded
        from the current weights: on every call in training and whenever a gradient may flow to the weights; in
        eval mode without gradients to the weights (``torch.no_grad()``, ``torch.inference_mode()``, frozen
        weights) the last expansion is served again while no parameter, buffer or setting has changed (as escnn
        does in eval mode; see :class:`~steertorch.nn._fields._expansion_cache.ExpansionCache`). For deployment,
        :meth:`export` gives a plain convolution with the kernel expanded once."""
        return self._cached_expansion(self._kernel_and_bias)

    # ------------------------------------------------------------------ forward
    def _check(self, x: torch.Tensor) -> None:
        d = self._d
        if not isinstance(x, torch.Tensor) or x.dim() != 2 + d:
            shape = list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{type(self).__name__}: expected a tensor [batch, {self.in_type.size}, "
                             f"{', '.join('*' * d)}], got {shape}")
        if x.shape[1] != self.in_type.size:
            raise ValueError(f"{type(self).__name__}: expected {self.in_type.size} input channels (in_type.size), "
                             f"got {x.shape[1]}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        check_input_dtype(type(self).__name__, "input x", x, self.expansion.weights.dtype)
        w, b = self.expand_parameters()
        if self._transposed:
            fn = F.conv_transpose2d if self._d == 2 else F.conv_transpose3d
            return fn(x, w, b, self.stride, self.padding, self.output_padding, self.groups, self.dilation)
        fn = F.conv2d if self._d == 2 else F.conv3d
        if self.padding_mode != "zeros":
            pad = [p for a in reversed(self.padding) for p in (a, a)]
            return fn(F.pad(x, pad, mode=self.padding_mode), w, b, self.stride, 0, self.dilation, self.groups)
        return fn(x, w, b, self.stride, self.padding, self.dilation, self.groups)

    def export(self) -> nn.Module:
        """A plain ``torch.nn.Conv{d}d`` / ``ConvTranspose{d}d`` with the expanded kernel and bias."""
        with torch.no_grad():
            w, b = self._kernel_and_bias()
        cin, cout = self.in_type.size, self.out_type.size
        common = dict(kernel_size=self.kernel_size, stride=self.stride, padding=self.padding,
                      dilation=self.dilation, groups=self.groups, bias=b is not None, dtype=w.dtype,
                      device=w.device)
        if self._transposed:
            cls = nn.ConvTranspose2d if self._d == 2 else nn.ConvTranspose3d
            conv = cls(cin, cout, output_padding=self.output_padding, **common)
        else:
            cls = nn.Conv2d if self._d == 2 else nn.Conv3d
            conv = cls(cin, cout, padding_mode=self.padding_mode, **common)
        with torch.no_grad():
            conv.weight.copy_(w)
            if b is not None:
                conv.bias.copy_(b)
        return conv.train(self.training)

    def extra_repr(self) -> str:
        return (f"{self.in_type!r} -> {self.out_type!r}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, groups={self.groups}, "
                f"basis_weights={self.expansion.n_weights}")


class R2Conv(_RdConv):
    r"""Steerable 2D convolution between field types over a G-space on the plane (see the module docstring).

    Args:
        in_type, out_type: :class:`~steertorch.nn.FieldType` of the input / output (same G-space, d = 2).
        kernel_size, padding, stride, dilation, groups, padding_mode: as ``torch.nn.Conv2d`` (``groups`` splits
            the fields into equal consecutive blocks that carry the same representations).
        bias: a learned bias on the invariant (trivial-irrep) components of the output only.
        sigma, rings: width and radii of the Gaussian rings of the basis, in grid units of the undilated kernel
            (scaled by ``dilation``); default radii ``0, 1, ..., (k - 1) // 2``. ``sigma=None`` (the default) gives
            escnn's widths (:func:`~steertorch.kernels.escnn_ring_widths`: 0.6, 0.4 on the outermost ring, 0.005 on
            the ring of radius 0, not scaled by the dilation), so the default kernel space is escnn's and escnn's
            weights load (:func:`~steertorch.nn.load_escnn_state_dict`); a number or one number per ring sets them.
        frequencies_cutoff: band limit of a ring of radius r: ``floor(c * r)`` for a number c, a callable
            ``r -> J_max``, ``"escnn"`` (the default, ``None``: escnn's rule,
            :class:`~steertorch.kernels.EscnnFrequencyCutoff`, so default parameter counts equal escnn's) or
            ``"steertorch"`` (``floor(2 r)``: more frequencies on the outer ring).
        initialize: He-like initialisation (unit expected second moment of every output channel for i.i.d.
            unit inputs); otherwise weights start at zero.
        maximum_offset, recompute, basis_filter, basisexpansion: escnn's arguments, accepted at the values that
            match what this module does (``None``, any bool, ``None``, ``"blocks"``), ``ValueError`` otherwise;
            the positional order of all arguments is escnn's.
        kernel: a kernel module in place of the basis expansion: an :class:`~steertorch.nn.ImplicitKernel` (or
            :class:`~steertorch.nn.BasisKernel`) of the same types, sampled at the lattice offsets (grid units);
            ``initialize`` then re-draws its weights and calibrates its gain on the lattice. Needs ``groups=1``.

    Takes and returns plain tensors ``[B, C, H, W]`` of the weights' dtype (another dtype raises ``ValueError``).
    The kernel is expanded from the weights on every call in training; in eval mode without gradients to the
    weights the last expansion is reused while nothing it depends on has changed (:meth:`expand_parameters`);
    :meth:`export` gives a plain ``Conv2d`` for deployment.

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> from steertorch.nn import FieldType
    >>> gs = rot2dOnR2(4)
    >>> conv = R2Conv(FieldType(gs, [gs.trivial_repr]), FieldType(gs, 2 * [gs.regular_repr]), 3, padding=1)
    >>> x = torch.randn(1, 1, 8, 8)
    >>> conv(x).shape
    torch.Size([1, 8, 8, 8])
    >>> y1 = conv(torch.rot90(x, 1, (2, 3)))
    >>> y2 = conv.out_type.transform(conv(x), 1)
    >>> bool(torch.allclose(y1, y2, atol=1e-5))
    True
    """

    _d = 2

    def __init__(self, in_type: FieldType, out_type: FieldType, kernel_size: int, padding: int = 0,
                 stride: int = 1, dilation: int = 1, padding_mode: str = "zeros", groups: int = 1,
                 bias: bool = True, sigma: float | Sequence[float] | None = None,
                 frequencies_cutoff: float | str | Callable[[float], int] | None = None,
                 rings: Sequence[float] | None = None, maximum_offset: int | None = None, recompute: bool = False,
                 basis_filter: Callable | None = None, initialize: bool = True, *,
                 kernel: nn.Module | None = None, basisexpansion: str = "blocks") -> None:
        _check_escnn_arguments(type(self).__name__, maximum_offset, recompute, basis_filter, basisexpansion)
        super().__init__(in_type, out_type, kernel_size, padding, stride, dilation, groups, bias, padding_mode,
                         sigma, frequencies_cutoff, rings, initialize, kernel=kernel)


class R3Conv(_RdConv):
    r"""Steerable 3D convolution between field types over a G-space on space; arguments as :class:`R2Conv`,
    tensors ``[B, C, D, H, W]``.

    >>> import torch
    >>> from steertorch.gspaces import rot3dOnR3
    >>> from steertorch.nn import FieldType
    >>> gs = rot3dOnR3()
    >>> conv = R3Conv(FieldType(gs, [gs.irrep(0)]), FieldType(gs, [gs.irrep(1)]), 3, padding=1)
    >>> conv(torch.randn(1, 1, 5, 5, 5)).shape
    torch.Size([1, 3, 5, 5, 5])
    """

    _d = 3

    def __init__(self, in_type: FieldType, out_type: FieldType, kernel_size: int, padding: int = 0,
                 stride: int = 1, dilation: int = 1, padding_mode: str = "zeros", groups: int = 1,
                 bias: bool = True, sigma: float | Sequence[float] | None = None,
                 frequencies_cutoff: float | str | Callable[[float], int] | None = None,
                 rings: Sequence[float] | None = None, recompute: bool = False,
                 basis_filter: Callable | None = None, initialize: bool = True, *,
                 kernel: nn.Module | None = None, maximum_offset: int | None = None,
                 basisexpansion: str = "blocks") -> None:
        _check_escnn_arguments(type(self).__name__, maximum_offset, recompute, basis_filter, basisexpansion)
        super().__init__(in_type, out_type, kernel_size, padding, stride, dilation, groups, bias, padding_mode,
                         sigma, frequencies_cutoff, rings, initialize, kernel=kernel)


class R2ConvTransposed(_RdConv):
    r"""Transposed steerable 2D convolution (``conv_transpose2d``): :math:`y(p) = \sum_q K(q)\, x(p - q)` (for
    stride 1) with the same steerable kernel basis, so it is equivariant too. Arguments as :class:`R2Conv` plus
    ``output_padding``; only ``padding_mode="zeros"``.

    >>> import torch
    >>> from steertorch.gspaces import flipRot2dOnR2
    >>> from steertorch.nn import FieldType
    >>> gs = flipRot2dOnR2(4)
    >>> up = R2ConvTransposed(FieldType(gs, [gs.regular_repr]), FieldType(gs, [gs.trivial_repr]), 4, stride=2,
    ...                       padding=1)
    >>> up(torch.randn(1, 8, 5, 5)).shape
    torch.Size([1, 1, 10, 10])
    """

    _d = 2
    _transposed = True

    def __init__(self, in_type: FieldType, out_type: FieldType, kernel_size: int, padding: int = 0,
                 output_padding: int = 0, stride: int = 1, dilation: int = 1, groups: int = 1, bias: bool = True,
                 sigma: float | Sequence[float] | None = None,
                 frequencies_cutoff: float | str | Callable[[float], int] | None = None,
                 rings: Sequence[float] | None = None, maximum_offset: int | None = None, recompute: bool = False,
                 basis_filter: Callable | None = None, initialize: bool = True, *,
                 basisexpansion: str = "blocks") -> None:
        _check_escnn_arguments(type(self).__name__, maximum_offset, recompute, basis_filter, basisexpansion)
        super().__init__(in_type, out_type, kernel_size, padding, stride, dilation, groups, bias, "zeros",
                         sigma, frequencies_cutoff, rings, initialize, output_padding)


class R3ConvTransposed(_RdConv):
    r"""Transposed steerable 3D convolution; see :class:`R2ConvTransposed`.

    >>> import torch
    >>> from steertorch.gspaces import octaOnR3
    >>> from steertorch.nn import FieldType
    >>> gs = octaOnR3()
    >>> up = R3ConvTransposed(FieldType(gs, [gs.trivial_repr]), FieldType(gs, [gs.irrep(1)]), 3, padding=1)
    >>> up(torch.randn(1, 1, 4, 4, 4)).shape[1]
    3
    """

    _d = 3
    _transposed = True

    def __init__(self, in_type: FieldType, out_type: FieldType, kernel_size: int, padding: int = 0,
                 output_padding: int = 0, stride: int = 1, dilation: int = 1, groups: int = 1, bias: bool = True,
                 sigma: float | Sequence[float] | None = None,
                 frequencies_cutoff: float | str | Callable[[float], int] | None = None,
                 rings: Sequence[float] | None = None, maximum_offset: int | None = None, recompute: bool = False,
                 basis_filter: Callable | None = None, initialize: bool = True, *,
                 basisexpansion: str = "blocks") -> None:
        _check_escnn_arguments(type(self).__name__, maximum_offset, recompute, basis_filter, basisexpansion)
        super().__init__(in_type, out_type, kernel_size, padding, stride, dilation, groups, bias, "zeros",
                         sigma, frequencies_cutoff, rings, initialize, output_padding)


class R3IcoConv(R3Conv):
    r"""escnn's ``R3IcoConv``: the steerable 3D convolution for the icosahedral group (``icoOnR3``), with escnn's
    signature and its wide band limit (``frequencies_cutoff=5``: ring r carries frequencies up to ``floor(5 r)``).

    escnn builds this layer's kernels from functions on the vertices of an icosahedron (``samples="ico"``), a
    dodecahedron or an icosidodecahedron, interpolated by Gaussians ("aliased" bases). Here the kernel is the
    analytic harmonic basis restricted to I (the one mechanism of :func:`~steertorch.kernels.kernel_basis`): the
    layer is equivariant in the same way, but its basis and parameter count differ from escnn's, and ``samples``
    (checked to be one of escnn's three values) does not change it.

    >>> import torch
    >>> from steertorch.gspaces import icoOnR3
    >>> gs = icoOnR3()
    >>> t = FieldType(gs, [gs.trivial_repr, gs.irrep(1)])
    >>> conv = R3IcoConv(t, t, 3, padding=1)
    >>> conv(torch.randn(1, 4, 5, 5, 5)).shape
    torch.Size([1, 4, 5, 5, 5])
    """

    def __init__(self, in_type: FieldType, out_type: FieldType, kernel_size: int, padding: int = 0,
                 stride: int = 1, dilation: int = 1, padding_mode: str = "zeros", groups: int = 1,
                 bias: bool = True, samples: str = "ico", sigma: float | Sequence[float] | None = None,
                 rings: Sequence[float] | None = None, recompute: bool = False,
                 basis_filter: Callable | None = None, initialize: bool = True) -> None:
        _check_ico("R3IcoConv", in_type, out_type, samples)
        self.samples = samples
        super().__init__(in_type, out_type, kernel_size, padding, stride, dilation, padding_mode, groups, bias,
                         sigma, _ICO_CUTOFF, rings, recompute, basis_filter, initialize)


class R3IcoConvTransposed(R3ConvTransposed):
    r"""escnn's ``R3IcoConvTransposed``: the transposed steerable 3D convolution (:class:`R3ConvTransposed`) for the
    icosahedral group, with escnn's signature and the band limit of :class:`R3IcoConv` (ring r carries frequencies up
    to ``floor(5 r)``). As there, the kernel is the analytic harmonic basis restricted to I, not escnn's
    polyhedron-sampled basis, and ``samples`` is checked but changes nothing.

    >>> import torch
    >>> from steertorch.gspaces import icoOnR3
    >>> gs = icoOnR3()
    >>> up = R3IcoConvTransposed(FieldType(gs, [gs.irrep(1)]), FieldType(gs, [gs.trivial_repr]), 4, stride=2,
    ...                          padding=1)
    >>> up(torch.randn(1, 3, 3, 3, 3)).shape
    torch.Size([1, 1, 6, 6, 6])
    """

    def __init__(self, in_type: FieldType, out_type: FieldType, kernel_size: int, padding: int = 0,
                 output_padding: int = 0, stride: int = 1, dilation: int = 1, groups: int = 1, bias: bool = True,
                 samples: str = "ico", sigma: float | Sequence[float] | None = None,
                 rings: Sequence[float] | None = None, recompute: bool = False,
                 basis_filter: Callable | None = None, initialize: bool = True) -> None:
        _check_ico("R3IcoConvTransposed", in_type, out_type, samples)
        self.samples = samples
        super().__init__(in_type, out_type, kernel_size, padding, output_padding, stride, dilation, groups, bias,
                         sigma, _ICO_CUTOFF, rings, None, recompute, basis_filter, initialize)


_ICO_CUTOFF = 5.0  # escnn's icosahedral convolutions: frequencies up to floor(5 r) on the ring of radius r


def _check_ico(who: str, in_type: FieldType, out_type: FieldType, samples: str) -> None:
    from ...group import ico_group

    for what, t in (("in_type", in_type), ("out_type", out_type)):
        if not isinstance(t, FieldType) or t.fibergroup != ico_group():
            raise ValueError(f"{who}: {what} must be a FieldType of the icosahedral group (icoOnR3), got {t!r}")
    if samples not in ("ico", "dodeca", "icosidodeca"):
        raise ValueError(f"{who}: samples must be 'ico', 'dodeca' or 'icosidodeca', got {samples!r}")
