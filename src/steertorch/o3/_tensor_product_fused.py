r"""Shared-weight "uvw" product with a multiplicity-1 second input on CPU, with a hand-written backward.

The computation is that of :func:`~steertorch.o3._tensor_product_plan.forward_uvw_single` (same groups, same
stacked Clebsch-Gordan matrix :math:`C`, same order of operations). Its value is trilinear,
:math:`B(x, y, W)`:

.. math::

    A = y\, C, \qquad T^{(a)}[z, r, u] = \sum_i A^{(a)}[z, r, i]\, x^{(a)}[z, u, i], \qquad
    B^{(o)}[(z, k), w] = \sum_{g \to o} T_g[(z, k), (b, u)]\, W_g[(b, u), w],

with :math:`T^{(a)}` one batched matmul per input block :math:`a` (its rows :math:`r` run over the block's groups'
(k, b)). The gradients are written by hand: :math:`\partial W_g = T_g^\top \partial B^{(o)}`,
:math:`\partial T_g = \partial B^{(o)} W_g^\top`, :math:`\partial x^{(a)} = (A^{(a)})^\top \partial T^{(a)}`,
:math:`\partial A^{(a)} = \partial T^{(a)} x^{(a)}` and :math:`\partial y = \partial A\, C^\top`. On CPU the
bookkeeping costs more than the arithmetic, so:

- temporaries live in a per-thread scratch buffer reused from call to call (a fresh multi-megabyte tensor
  page-faults on first touch, 4 KiB at a time, which on some machines takes longer than the products); a batch
  whose working set exceeds :data:`SCRATCH_BYTES` runs in row chunks;
- what the backward reads (:math:`A`, :math:`T`, the copied group slices) is written once by the forward into a
  buffer lent from a per-thread pool, and returned to the pool by the backward; a backward that finds its buffer
  lent again meanwhile (a retained graph run twice) recomputes it;
- each step writes into its destination (``out=``, in-place accumulation): no concatenation, and a group's slice of
  :math:`T` is copied only when a GEMM cannot read it in place (a group that is its whole block, or has one output
  component, is read as a view).

Higher derivatives follow from trilinearity: the backward is itself an autograd function whose backward, for
cotangents :math:`(h_x, h_y, h_W)` of :math:`(\partial x, \partial y, \partial W)`, is
:math:`\partial g = B(h_x, y, W) + B(x, h_y, W) + B(x, y, h_W)` and, for the inputs, the gradients of :math:`B` at
the points with one input replaced by its cotangent (for example
:math:`\partial x = \partial_x^\top B(\cdot, h_y, W)\,g + \partial_x^\top B(\cdot, y, h_W)\,g`). Both are evaluated
by these same functions, so forces-then-loss training (double backward) and any higher order work.

Where the compiled kernel of :mod:`._tensor_product_kernel` is available (a C compiler on the machine, CPU tensors of
float32 or float64), B and its gradients are computed by it instead of the torch operations below; it recomputes
what the backward reads, so nothing is kept between forward and backward (no pooled buffer).

The autograd functions take any trilinear product whose plan has a ``kernel`` method: the "uvu" (depthwise)
product of :mod:`._tensor_product_uvu` runs through them too (:func:`fused_product`), in its own kernel, with its
pure-torch twin ``plan.reference`` (differentiated by autograd) where the kernel cannot take the tensors.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import NamedTuple

import torch

from . import _tensor_product_kernel as _kernel
from ._irreps import Irreps
from ._tensor_product_plan import _BMM_MIN, UvwGroup

__all__ = ["FusedPlan", "fused_product", "fused_uvw_single", "release_buffers", "retained_bytes", "SCRATCH_BYTES",
           "POOL_BYTES"]

#: Largest scratch buffer (bytes, per thread, dtype and device) a product uses; larger batches run in chunks.
SCRATCH_BYTES = 32 << 20

#: Most bytes of returned buffers a thread's pool keeps for later forwards (all dtypes together); a returned buffer
#: that does not fit is freed, oldest first.
POOL_BYTES = 128 << 20

_POOL_SIZE = 16  # and at most this many returned buffers, per thread

_local = threading.local()


# ----------------------------------------------------------------------------------------------- buffers
def _normal_empty(numel: int, like: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode(False):  # a normal tensor: writable inside and outside inference mode
        return torch.empty(numel, dtype=like.dtype, device=like.device)


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def _scratch(numel: int, like: torch.Tensor) -> torch.Tensor:
    """A flat buffer of at least ``numel`` elements, kept per thread, dtype and device and reused (at most
    ``max(SCRATCH_BYTES, 256 rows)``: :meth:`FusedPlan.chunk`)."""
    bufs = getattr(_local, "bufs", None)
    if bufs is None:
        bufs = _local.bufs = {}
    key = (like.device, like.dtype)
    buf = bufs.get(key)
    if buf is None or buf.numel() < numel:
        bufs.pop(key, None)  # (freed before the larger one is allocated)
        buf = bufs[key] = _normal_empty(numel, like)
    return buf


class _Lease:
    """A flat buffer lent to one forward for what its backward reads; ``generation`` counts its loans."""

    def __init__(self, numel: int, like: torch.Tensor) -> None:
        self.buf = _normal_empty(numel, like)
        self.generation = 0
        self.free = False


def _pool() -> list[_Lease]:
    pool = getattr(_local, "pool", None)
    if pool is None:
        pool = _local.pool = []
    return pool


def _lend(numel: int, like: torch.Tensor) -> _Lease:
    """The smallest buffer of this thread's pool of returned ones that holds ``numel`` elements (or a new one)."""
    pool = _pool()
    fits = [n for n, lease in enumerate(pool) if lease.buf.numel() >= numel and lease.buf.dtype == like.dtype
            and lease.buf.device == like.device]
    if fits:
        lease = pool.pop(min(fits, key=lambda n: pool[n].buf.numel()))
    else:
        lease = _Lease(numel, like)
    lease.generation += 1
    lease.free = False
    return lease


def _give_back(lease: _Lease) -> None:
    """Return a buffer to the pool, which then keeps at most :data:`POOL_BYTES` and ``_POOL_SIZE`` buffers (the
    oldest go first; a buffer larger than the whole budget is not kept)."""
    if lease.free:
        return
    lease.free = True
    pool = _pool()
    pool.append(lease)
    total = sum(_nbytes(held.buf) for held in pool)
    while pool and (len(pool) > _POOL_SIZE or total > POOL_BYTES):
        total -= _nbytes(pool.pop(0).buf)


def retained_bytes() -> int:
    """Bytes this thread keeps between calls: its scratch buffers and its pool of returned buffers (not the buffers
    lent to graphs still alive, which autograd would keep anyway).

    >>> release_buffers()
    >>> retained_bytes()
    0
    """
    return sum(_nbytes(b) for b in getattr(_local, "bufs", {}).values()) + sum(_nbytes(held.buf) for held in
                                                                             getattr(_local, "pool", []))


def release_buffers() -> None:
    """Free this thread's scratch and pooled buffers of the CPU tensor products (otherwise kept for later calls).

    Public as ``steertorch.o3.release_tensor_product_buffers``. What a thread keeps (:func:`retained_bytes`) is
    bounded: the scratch is at most :data:`SCRATCH_BYTES` per dtype (or 256 rows' temporaries where one row needs
    more); the pool keeps at most :data:`POOL_BYTES` (and 16 buffers) returned by backward passes, each the size of
    what one product's backward reads (as autograd would keep between forward and backward, e.g. 28 MB for
    ``32x0e + 32x1o + 32x2e`` times spherical harmonics up to l = 2 at batch 4096). Call it after a large
    evaluation, or lower the module constants ``SCRATCH_BYTES`` / ``POOL_BYTES`` of
    ``steertorch.o3._tensor_product_fused``, to return the memory sooner. Buffers are per thread: call it in the
    thread that ran the products.

    >>> release_buffers()
    """
    _local.bufs = {}
    _local.pool = []


class _Carve:
    """Consecutive views of a flat buffer."""

    def __init__(self, buf: torch.Tensor) -> None:
        self.buf, self.pos = buf, 0

    def take(self, *shape: int) -> torch.Tensor:
        n = 1
        for s in shape:
            n *= s
        t = self.buf[self.pos:self.pos + n].view(*shape)
        self.pos += n
        return t


# ----------------------------------------------------------------------------------------------- plan
class _Group(NamedTuple):
    g: UvwGroup
    r0: int  # its rows (k, b) in the block's T: [r0, r1)
    r1: int
    layout: str  # how a GEMM reads it: "whole" (the whole block), "rows" (d_out == 1: a strided view), "copy"


class _Block(NamedTuple):
    a: int
    start: int  # columns of x
    stop: int
    mul: int
    dim: int
    c0: int  # columns of A
    c1: int
    rows: int
    small: bool  # batched matmul below _BMM_MIN: broadcast products instead
    groups: tuple[_Group, ...]


class FusedPlan:
    """The groups of :func:`~steertorch.o3._tensor_product_plan.plan_uvw_single` arranged by input block.

    >>> from steertorch.o3 import FullyConnectedTensorProduct
    >>> tp = FullyConnectedTensorProduct("4x0e + 4x1o", "0e + 1o", "4x0e + 4x1o")
    >>> plan = FusedPlan(tp._fast_groups, tp.irreps_in1, tp.irreps_in2, tp.irreps_out)
    >>> [(b.a, b.rows, b.small, [grp.layout for grp in b.groups]) for b in plan.blocks]
    [(0, 4, False, ['whole', 'whole']), (1, 4, True, ['copy', 'rows'])]
    """

    def __init__(self, groups: Sequence[UvwGroup], irreps_in1: Irreps, irreps_in2: Irreps,
                 irreps_out: Irreps) -> None:
        self.irreps_in1, self.irreps_in2, self.irreps_out = irreps_in1, irreps_in2, irreps_out
        try:  # the compiled kernel's tables (used where the kernel is built)
            self._kernel_plan: _kernel.KernelPlan | None = _kernel.KernelPlan(groups, irreps_in1, irreps_in2,
                                                                               irreps_out)
        except ValueError:  # blocks too large for the kernel
            self._kernel_plan = None
        self.out_slices = [(s.start, s.stop) for s in irreps_out.slices()]
        in_slices = irreps_in1.slices()
        by_a: dict[int, list[UvwGroup]] = {}
        for g in groups:  # plan_uvw_single keeps the groups of one block adjacent
            by_a.setdefault(g.a, []).append(g)
        self.blocks: list[_Block] = []
        for a, members in by_a.items():
            mul, ir = irreps_in1[a]
            rows, arranged = 0, []
            for g in members:
                n = g.d_out * g.n_paths
                arranged.append((g, rows, rows + n))
                rows += n
            scalar = ir.dim == 1
            grps = tuple(_Group(g, r0, r1, "whole" if scalar or r1 - r0 == rows else
                                ("rows" if g.d_out == 1 else "copy")) for g, r0, r1 in arranged)
            self.blocks.append(_Block(a, in_slices[a].start, in_slices[a].stop, mul, ir.dim, members[0].cg_offset,
                                      members[-1].cg_offset + members[-1].cg_size, rows,
                                      not scalar and rows * ir.dim * mul < _BMM_MIN, grps))
        self.live_outputs = sorted({g.o for g in groups})
        self.dead_inputs = [(in_slices[a].start, in_slices[a].stop) for a in range(len(irreps_in1)) if a not in by_a]
        self.n_a = groups[-1].cg_offset + groups[-1].cg_size
        # floats per row of the batch: what the backward reads, and the temporaries
        tensor = [b for b in self.blocks if b.dim > 1]
        scalar = [grp.g for b in self.blocks if b.dim == 1 for grp in b.groups]
        self.saved_row = self.n_a + sum(b.rows * b.mul + sum((grp.r1 - grp.r0) * b.mul for grp in b.groups
                                                             if grp.layout == "copy") for b in tensor)
        t_max = max((b.rows * b.mul for b in tensor), default=0)
        copy_max = max(((grp.r1 - grp.r0) * b.mul for b in tensor for grp in b.groups), default=0)
        ga_max = max((b.rows * b.dim for b in tensor), default=0)
        xt_max = max((b.dim * b.mul for b in tensor), default=0)
        xw_max = max((g.n_paths * g.mul_out for g in scalar), default=0)
        tmp_max = max((g.d_out * g.mul_out for g in scalar), default=0)
        sga_max = max((g.d_out * g.n_paths for g in scalar), default=0)
        out_dim = sum(mo * ir.dim for mo, ir in irreps_out if ir.dim > 1)
        # backward of a tensor block: gT, one copied group's slice, gA and (small blocks) a broadcast temporary; of a
        # scalar group: gxw, xw, a temporary and gA; plus x transposed and the output gradient in GEMM rows
        self.temp_row = xt_max + out_dim + max(t_max + copy_max + ga_max + t_max, 2 * xw_max + tmp_max + sga_max)

    def kernel(self, *tensors: torch.Tensor) -> _kernel.KernelPlan | None:
        """The compiled kernel's plan when it can take these tensors (CPU, one dtype of float32 / float64, the
        kernel compiled), else None: the pure-torch path runs."""
        dtype = tensors[0].dtype
        if self._kernel_plan is None or dtype not in (torch.float32, torch.float64) or any(
                t.dtype != dtype or t.device.type != "cpu" for t in tensors):
            return None
        return self._kernel_plan if _kernel.cpu_kernel_available() else None

    def row(self, kept: bool) -> int:
        """Scratch floats per row: the temporaries, and what the backward reads unless it is kept elsewhere."""
        return self.temp_row + (0 if kept else self.saved_row)

    def chunk(self, n_rows: int, dtype: torch.dtype, kept: bool = False) -> int:
        """Rows per chunk so that the scratch stays under :data:`SCRATCH_BYTES` (at least 256 rows)."""
        size = torch.empty((), dtype=dtype).element_size()
        return max(256, min(n_rows, SCRATCH_BYTES // max(1, self.row(kept) * size)))


class _Saved(NamedTuple):
    """What the backward reads, for rows of the batch: A, T per tensor block, the copied group slices."""

    amat: torch.Tensor
    ts: list  # per block: [z, rows, mul] or None (scalar block)
    copies: list  # per block: per group [z, rows_g, mul] or None

    def rows(self, c0: int, c1: int) -> _Saved:
        return _Saved(self.amat[c0:c1], [None if t is None else t[c0:c1] for t in self.ts],
                      [None if cs is None else [None if c is None else c[c0:c1] for c in cs] for cs in self.copies])


def _saved_views(plan: FusedPlan, car: _Carve, z: int) -> _Saved:
    amat = car.take(z, plan.n_a)
    ts, copies = [], []
    for b in plan.blocks:
        if b.dim == 1:
            ts.append(None)
            copies.append(None)
            continue
        ts.append(car.take(z, b.rows, b.mul))
        copies.append([car.take(z, grp.r1 - grp.r0, b.mul) if grp.layout == "copy" else None for grp in b.groups])
    return _Saved(amat, ts, copies)


# ----------------------------------------------------------------------------------------------- kernels
def _group_weights(w: torch.Tensor, g: UvwGroup, scalar: bool) -> torch.Tensor:
    """``W_g``: rows (b, u), columns w (``[n_b mul1, mul_out]``); for a scalar block ``[mul1, (b, w)]``. Views when
    the group has one path."""
    blocks = [w[off:off + g.mul1 * g.mul_out].view(g.mul1, g.mul_out) for off in g.path_offsets]
    if len(blocks) == 1:
        return blocks[0]
    return torch.cat(blocks, dim=1 if scalar else 0)


def _group_matrix(grp: _Group, t: torch.Tensor, copy: torch.Tensor | None, zc: int) -> torch.Tensor:
    """The group's slice of T (or of its gradient) as a ``[(z, k), (b, u)]`` matrix."""
    g = grp.g
    if grp.layout == "whole":
        return t.view(zc * g.d_out, g.n_paths * g.mul1)
    if grp.layout == "rows":
        return t[:, grp.r0:grp.r1].flatten(1)
    return copy.view(zc * g.d_out, g.n_paths * g.mul1)


def _mm_into(dst: torch.Tensor, first: bool, a: torch.Tensor, b: torch.Tensor) -> None:
    if first:
        torch.mm(a, b, out=dst)
    else:
        dst.addmm_(a, b)


def _fill(plan: FusedPlan, x: torch.Tensor, y: torch.Tensor, cg: torch.Tensor, sv: _Saved, car: _Carve) -> None:
    """A, T of every tensor block and the copied group slices (what the GEMMs and the backward read)."""
    zc = x.shape[0]
    torch.mm(y, cg, out=sv.amat)
    for blk, t, copies in zip(plan.blocks, sv.ts, sv.copies):
        if t is None:
            continue
        a3 = sv.amat[:, blk.c0:blk.c1].view(zc, blk.rows, blk.dim)
        x3 = x[:, blk.start:blk.stop].view(zc, blk.mul, blk.dim)
        if blk.small:  # t[z, r, u] = sum_i A[z, r, i] x[z, u, i] by broadcast products
            pos = car.pos
            xt = car.take(zc, blk.dim, blk.mul)
            xt.copy_(x3.transpose(1, 2))
            torch.mul(a3[:, :, 0:1], xt[:, 0:1, :], out=t)
            for i in range(1, blk.dim):
                t.addcmul_(a3[:, :, i:i + 1], xt[:, i:i + 1, :])
            car.pos = pos
        else:
            torch.bmm(a3, x3.transpose(1, 2), out=t)
        for grp, copy in zip(blk.groups, copies):
            if copy is not None:
                copy.copy_(t[:, grp.r0:grp.r1])


def _mix(plan: FusedPlan, x: torch.Tensor, w: torch.Tensor, sv: _Saved, out: torch.Tensor, car: _Carve) -> None:
    """out = the channel mixing of T (and of the scalar blocks), in e3nn's layout."""
    zc = x.shape[0]
    touched: set[int] = set()
    acc: dict[int, torch.Tensor] = {}  # per output block: [z * d_out, mul_out] (d_out == 1: a view of ``out``)
    for o, (mo, iro) in enumerate(plan.irreps_out):
        s0, s1 = plan.out_slices[o]
        acc[o] = out[:, s0:s1] if iro.dim == 1 else car.take(zc * iro.dim, mo)
    for blk, t, copies in zip(plan.blocks, sv.ts, sv.copies):
        if t is not None:
            for grp, copy in zip(blk.groups, copies):
                o = grp.g.o
                _mm_into(acc[o], o not in touched, _group_matrix(grp, t, copy, zc), _group_weights(w, grp.g, False))
                touched.add(o)
            continue
        xa = x[:, blk.start:blk.stop]  # scalar block: mix channels first, then out[z, k, w] += A[z, k, b] (x W_b)
        for grp in blk.groups:
            g = grp.g
            pos = car.pos
            xw = car.take(zc, g.n_paths, g.mul_out)
            torch.mm(xa, _group_weights(w, g, True), out=xw.view(zc, -1))
            a3 = sv.amat[:, g.cg_offset:g.cg_offset + g.cg_size].view(zc, g.d_out, g.n_paths)
            dst = acc[g.o].view(zc, g.d_out, g.mul_out)
            for b in range(g.n_paths):
                if g.o in touched:
                    dst.addcmul_(a3[:, :, b:b + 1], xw[:, b:b + 1, :])
                else:
                    torch.mul(a3[:, :, b:b + 1], xw[:, b:b + 1, :], out=dst)
                    touched.add(g.o)
            car.pos = pos
    for o, (mo, iro) in enumerate(plan.irreps_out):
        s0, s1 = plan.out_slices[o]
        if o not in touched:
            out[:, s0:s1].zero_()
        elif iro.dim > 1:
            out[:, s0:s1].view(zc, mo, iro.dim).copy_(acc[o].view(zc, iro.dim, mo).transpose(1, 2))


def _grads(plan: FusedPlan, x: torch.Tensor, w: torch.Tensor, cg: torch.Tensor, sv: _Saved, grad: torch.Tensor,
           gx: torch.Tensor | None, gy: torch.Tensor | None, gw: list[torch.Tensor] | None, first_chunk: bool,
           car: _Carve) -> None:
    """Gradients of x, y (rows of this chunk) and of the weights (accumulated over chunks) from T and A."""
    zc = x.shape[0]
    go: dict[int, torch.Tensor] = {}  # per output block: [z * d_out, mul_out]
    for o in plan.live_outputs:
        mo, iro = plan.irreps_out[o]
        s0, s1 = plan.out_slices[o]
        if iro.dim == 1:
            go[o] = grad[:, s0:s1]
        else:
            go[o] = car.take(zc * iro.dim, mo)
            go[o].view(zc, iro.dim, mo).copy_(grad[:, s0:s1].view(zc, mo, iro.dim).transpose(1, 2))
    gy_first = True
    n = 0  # running index of the group, for gw
    for blk, t, copies in zip(plan.blocks, sv.ts, sv.copies):
        xa = x[:, blk.start:blk.stop]
        pos = car.pos
        if t is None:  # scalar block
            gx_first = True
            for grp in blk.groups:
                g = grp.g
                wg = _group_weights(w, g, True)  # [mul1, (b, w)]
                a3 = sv.amat[:, g.cg_offset:g.cg_offset + g.cg_size].view(zc, g.d_out, g.n_paths)
                go3 = go[g.o].view(zc, g.d_out, g.mul_out)
                gxw = car.take(zc, g.n_paths, g.mul_out)  # gxw[z, b, w] = sum_k A[z, k, b] go[z, k, w]
                tmp = car.take(zc, g.d_out, g.mul_out)
                for b in range(g.n_paths):
                    if g.d_out == 1:
                        torch.mul(a3[:, :, b], go3[:, 0], out=gxw[:, b])
                    else:
                        torch.mul(a3[:, :, b:b + 1], go3, out=tmp)
                        torch.sum(tmp, 1, out=gxw[:, b])
                if gw is not None:
                    _mm_into(gw[n], first_chunk, xa.t(), gxw.view(zc, -1))
                if gx is not None:
                    _mm_into(gx[:, blk.start:blk.stop], gx_first, gxw.view(zc, -1), wg.t())
                    gx_first = False
                if gy is not None:  # gA[z, k, b] = sum_w go[z, k, w] (x W_b)[z, w]
                    xw = car.take(zc, g.n_paths, g.mul_out)
                    torch.mm(xa, wg, out=xw.view(zc, -1))
                    ga = car.take(zc, g.d_out, g.n_paths)
                    for b in range(g.n_paths):
                        torch.mul(go3, xw[:, b:b + 1, :], out=tmp)
                        torch.sum(tmp, 2, out=ga[:, :, b])
                    _mm_into(gy, gy_first, ga.view(zc, -1), cg[:, g.cg_offset:g.cg_offset + g.cg_size].t())
                    gy_first = False
                car.pos = pos
                n += 1
            continue
        a3 = sv.amat[:, blk.c0:blk.c1].view(zc, blk.rows, blk.dim)
        gt = car.take(zc, blk.rows, blk.mul) if (gx is not None or gy is not None) else None
        for grp, copy in zip(blk.groups, copies):
            g = grp.g
            wg = _group_weights(w, g, False)
            if gw is not None:
                _mm_into(gw[n], first_chunk, _group_matrix(grp, t, copy, zc).t(), go[g.o])
            if gt is not None:
                if grp.layout == "copy":
                    inner = car.pos
                    tc = car.take(zc, grp.r1 - grp.r0, g.mul1)
                    torch.mm(go[g.o], wg.t(), out=tc.view(zc * g.d_out, -1))
                    gt[:, grp.r0:grp.r1].copy_(tc)
                    car.pos = inner
                else:
                    torch.mm(go[g.o], wg.t(), out=_group_matrix(grp, gt, None, zc))
            n += 1
        if gt is not None:
            xt = car.take(zc, blk.dim, blk.mul)
            tmp = car.take(zc, blk.rows, blk.mul) if blk.small else None
            if gx is not None:  # gx[z, u, i] = sum_r A[z, r, i] gT[z, r, u]
                if blk.small:
                    for i in range(blk.dim):
                        torch.mul(a3[:, :, i:i + 1], gt, out=tmp)
                        torch.sum(tmp, 1, out=xt[:, i])
                else:
                    torch.bmm(a3.transpose(1, 2), gt, out=xt)
                gx[:, blk.start:blk.stop].view(zc, blk.mul, blk.dim).copy_(xt.transpose(1, 2))
            if gy is not None:  # gA[z, r, i] = sum_u gT[z, r, u] x[z, u, i]; gy += gA C^T
                ga = car.take(zc, blk.rows, blk.dim)
                x3 = xa.view(zc, blk.mul, blk.dim)
                if blk.small:
                    xt.copy_(x3.transpose(1, 2))
                    for i in range(blk.dim):
                        torch.mul(gt, xt[:, i:i + 1, :], out=tmp)
                        torch.sum(tmp, 2, out=ga[:, :, i])
                else:
                    torch.bmm(gt, x3, out=ga)
                _mm_into(gy, gy_first, ga.view(zc, -1), cg[:, blk.c0:blk.c1].t())
                gy_first = False
        car.pos = pos
    if gy is not None and gy_first:
        gy.zero_()


# ----------------------------------------------------------------------------------------------- drivers
def _forward(plan: FusedPlan, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, cg: torch.Tensor,
             keep: _Saved | None) -> torch.Tensor:
    """B(x, y, w); with ``keep``, A and T are written there (for the backward) instead of the scratch."""
    kernel = plan.kernel(x, y, w, cg)
    if kernel is not None:
        return kernel.forward(x.contiguous(), y.contiguous(), w.contiguous(), cg.contiguous())
    if not isinstance(plan, FusedPlan):  # a plan with a kernel and a pure-torch twin only ("uvu")
        return plan.reference(x, y, w, cg)
    z = x.shape[0]
    out = x.new_empty(z, plan.irreps_out.dim)
    step = plan.chunk(z, x.dtype, keep is not None)
    buf = _scratch(step * plan.row(keep is not None), x)
    for c in range(0, z, step):
        car = _Carve(buf)
        sv = keep.rows(c, c + step) if keep is not None else _saved_views(plan, car, min(step, z - c))
        _fill(plan, x[c:c + step], y[c:c + step], cg, sv, car)
        _mix(plan, x[c:c + step], w, sv, out[c:c + step], car)
    return out


def _weight_grad_buffers(plan: FusedPlan, gw_flat: torch.Tensor) -> tuple[list[torch.Tensor], list]:
    """Per group, where its weight gradient is accumulated: a view of the flat gradient (one path) or a buffer
    scattered into it afterwards."""
    bufs, scatter = [], []
    for blk in plan.blocks:
        for grp in blk.groups:
            g = grp.g
            if g.n_paths == 1:
                off = g.path_offsets[0]
                bufs.append(gw_flat[off:off + g.mul1 * g.mul_out].view(g.mul1, g.mul_out))
            else:
                scalar = blk.dim == 1
                bufs.append(gw_flat.new_empty((g.mul1, g.n_paths * g.mul_out) if scalar
                                              else (g.n_paths * g.mul1, g.mul_out)))
                scatter.append((bufs[-1], g, scalar))
    return bufs, scatter


def _zero_dead_inputs(plan: FusedPlan, gx: torch.Tensor | None) -> None:
    """The gradient of the input blocks no path reads (the torch path does not write it)."""
    for s0, s1 in plan.dead_inputs if gx is not None else ():
        gx[:, s0:s1].zero_()


def _backward(plan: FusedPlan, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, cg: torch.Tensor,
              grad: torch.Tensor, kept: _Saved | None, needs: tuple[bool, bool, bool],
              value: bool = False) -> tuple:
    """(dx, dy, dw) of <grad, B(x, y, w)> (None where not needed); A and T from ``kept`` or recomputed. With
    ``value``, B(x, y, w) too (from the same A and T): (dx, dy, dw, B)."""
    kernel = plan.kernel(x, y, w, cg, grad)
    if kernel is not None:
        x, y, w, cg, grad = (t.contiguous() for t in (x, y, w, cg, grad))
        grads = kernel.backward(x, y, w, cg, grad, needs)  # (zeroes the inputs no path reads itself)
        return (*grads, kernel.forward(x, y, w, cg)) if value else grads
    if not isinstance(plan, FusedPlan):
        return _reference_backward(plan, x, y, w, cg, grad, needs, value)
    z = x.shape[0]
    out = x.new_empty(z, plan.irreps_out.dim) if value else None
    grad = grad.contiguous()
    gx = torch.empty_like(x) if needs[0] else None
    _zero_dead_inputs(plan, gx)
    gy = torch.empty_like(y) if needs[1] else None
    gw_flat, bufs, scatter = None, None, []
    if needs[2]:
        gw_flat = torch.zeros_like(w)
        bufs, scatter = _weight_grad_buffers(plan, gw_flat)
    step = plan.chunk(z, x.dtype, kept is not None)
    buf = _scratch(step * plan.row(kept is not None), x)
    for c in range(0, z, step):
        car = _Carve(buf)
        xc, yc = x[c:c + step], y[c:c + step]
        if kept is not None:
            sv = kept.rows(c, c + step)
        else:
            sv = _saved_views(plan, car, xc.shape[0])
            _fill(plan, xc, yc, cg, sv, car)
        if out is not None:
            pos = car.pos
            _mix(plan, xc, w, sv, out[c:c + step], car)
            car.pos = pos
        _grads(plan, xc, w, cg, sv, grad[c:c + step], None if gx is None else gx[c:c + step],
               None if gy is None else gy[c:c + step], bufs, c == 0, car)
    for b, g, scalar in scatter:
        for j, off in enumerate(g.path_offsets):
            part = b[:, j * g.mul_out:(j + 1) * g.mul_out] if scalar else b[j * g.mul1:(j + 1) * g.mul1]
            gw_flat[off:off + g.mul1 * g.mul_out].view(g.mul1, g.mul_out).copy_(part)
    return (gx, gy, gw_flat, out) if value else (gx, gy, gw_flat)


def _reference_backward(plan, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, cg: torch.Tensor, grad: torch.Tensor,
                        needs: tuple[bool, bool, bool], value: bool) -> tuple:
    """:func:`_backward` by autograd through the plan's pure-torch twin (``plan.reference``), for plans that have
    no torch implementation of their own here: where the kernel cannot take the tensors."""
    with torch.enable_grad():
        inputs = [t.detach().requires_grad_(n) for t, n in zip((x, y, w), needs)]
        out = plan.reference(*inputs, cg)
        wanted = [t for t, n in zip(inputs, needs) if n]
        found = iter(torch.autograd.grad(out, wanted, grad, allow_unused=True) if wanted else ())
    grads = []
    for t, n in zip(inputs, needs):
        g = next(found) if n else None
        grads.append(torch.zeros_like(t) if n and g is None else g)
    return (*grads, out.detach()) if value else tuple(grads)


def _not_leaf(t: torch.Tensor) -> torch.Tensor:
    """A view of a leaf that requires grad, so that the backward can ask the engine whether its gradient is wanted
    (``torch.autograd.grad`` of the inputs only: the forces of a potential skip the weights' gradient)."""
    return t.view_as(t) if t.requires_grad and t.grad_fn is None else t


def _wanted(ctx, n: int) -> tuple[bool, ...]:
    """``ctx.needs_input_grad`` less the inputs whose gradient this backward pass will not use."""
    needs = list(ctx.needs_input_grad[:n])
    try:
        edges = torch._C._current_autograd_node().next_functions
        for i in range(n):
            fn = edges[i][0]
            if needs[i] and fn is not None and not torch._C._will_engine_execute_node(fn):
                needs[i] = False
    except (AttributeError, IndexError, RuntimeError):  # private API changed or unavailable: compute them all
        return tuple(ctx.needs_input_grad[:n])
    return tuple(needs)


def _product(plan: FusedPlan, x, y, w, cg) -> torch.Tensor:
    """B(x, y, w), differentiable when autograd records."""
    if torch.is_grad_enabled() and (x.requires_grad or y.requires_grad or w.requires_grad):
        return _Product.apply(_not_leaf(x), _not_leaf(y), _not_leaf(w), cg, plan)
    return _forward(plan, x, y, w, cg, None)


def _product_grads(plan: FusedPlan, x, y, w, cg, grad, needs, lease=None, generation=0) -> tuple:
    """Gradients of <grad, B(x, y, w)>, differentiable when autograd records."""
    if torch.is_grad_enabled() and any(t.requires_grad for t in (x, y, w, grad)):
        return _ProductGrads.apply(_not_leaf(x), _not_leaf(y), _not_leaf(w), _not_leaf(grad), cg, plan, needs, lease,
                                   generation)
    return _grads_from_lease(plan, x, y, w, cg, grad, needs, lease, generation)


def _grads_from_lease(plan, x, y, w, cg, grad, needs, lease, generation) -> tuple:
    kept = None
    if lease is not None and lease.generation == generation:
        kept = _saved_views(plan, _Carve(lease.buf), x.shape[0])
    result = _backward(plan, x, y, w, cg, grad, kept, needs)
    if lease is not None:
        _give_back(lease)
    return result


class _Product(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, y, w, cg, plan):
        ctx.save_for_backward(x, y, w, cg)
        if plan.kernel(x, y, w, cg) is not None or not isinstance(plan, FusedPlan):  # recomputed by the backward
            ctx.plan, ctx.lease, ctx.generation = plan, None, 0
            return _forward(plan, x, y, w, cg, None)
        lease = _lend(max(1, x.shape[0] * plan.saved_row), x)
        ctx.plan, ctx.lease, ctx.generation = plan, lease, lease.generation
        return _forward(plan, x, y, w, cg, _saved_views(plan, _Carve(lease.buf), x.shape[0]))

    @staticmethod
    def backward(ctx, grad):
        x, y, w, cg = ctx.saved_tensors
        needs = _wanted(ctx, 3)
        if not any(needs):
            return None, None, None, None, None
        gx, gy, gw = _product_grads(ctx.plan, x, y, w, cg, grad, needs, ctx.lease, ctx.generation)
        return gx, gy, gw, None, None


class _ProductGrads(torch.autograd.Function):
    """(dx, dy, dw) of <g, B(x, y, w)> as a function of (x, y, w, g): B is trilinear, so its derivatives are B and
    these gradients again, at points with one input replaced by a cotangent."""

    @staticmethod
    def forward(ctx, x, y, w, grad, cg, plan, needs, lease, generation):
        ctx.save_for_backward(x, y, w, grad, cg)
        ctx.plan = plan
        ctx.set_materialize_grads(False)
        return _grads_from_lease(plan, x, y, w, cg, grad, needs, lease, generation)

    @staticmethod
    def backward(ctx, hx, hy, hw):
        x, y, w, grad, cg = ctx.saved_tensors
        plan = ctx.plan
        nx, ny, nw, ng = _wanted(ctx, 4)
        dx = dy = dw = dg = None

        def add(a, b):
            return b if a is None else a + b

        # B is trilinear: at each point with one input replaced by its cotangent, B itself (for d/dg) and the
        # gradients of the two other inputs (for d/dx, d/dy, d/dw)
        points = []
        if hy is not None:
            points.append(((x, hy, w), (nx, False, nw)))
        if hw is not None:
            points.append(((x, y, hw), (nx, ny, False)))
        if hx is not None:
            points.append(((hx, y, w), (False, ny, nw)))
        record = torch.is_grad_enabled()
        for args, needs in points:
            if record:  # higher orders: through the differentiable functions
                value = _product(plan, *args, cg) if ng else None
                grads = _product_grads(plan, *args, cg, grad, needs) if any(needs) else (None, None, None)
            elif any(needs) or ng:  # one evaluation of A and T for both
                result = _backward(plan, *args, cg, grad.contiguous(), None, needs, value=ng)
                grads, value = (result[:3], result[3]) if ng else (result, None)
            else:
                continue
            dg = add(dg, value) if ng else dg
            dx, dy, dw = (add(d, g) if g is not None else d for d, g in zip((dx, dy, dw), grads))
        return dx, dy, dw, dg, None, None, None, None, None


def fused_product(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, cg: torch.Tensor, plan) -> torch.Tensor:
    """B(x, y, w) of any plan with a ``kernel`` method (:class:`FusedPlan`, or the "uvu" plan
    :class:`~steertorch.o3._tensor_product_uvu.UvuPlan`), with the hand-written backward of every order: in the
    compiled kernel where it takes the tensors, else in the plan's torch path."""
    return _product(plan, x.contiguous(), y.contiguous(), w.contiguous(), cg)


def fused_uvw_single(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, cg: torch.Tensor,
                     plan: FusedPlan) -> torch.Tensor:
    """``x [z, in1]``, ``y [z, in2]``, shared weights ``[numel]`` (e3nn's flat layout) -> ``[z, out]``; per-sample
    weights ``[z, numel]`` where the compiled kernel runs (``ValueError`` otherwise).

    Equal to :func:`~steertorch.o3._tensor_product_plan.forward_uvw_single`, with gradients of every order; for CPU
    tensors.

    >>> from steertorch.o3 import FullyConnectedTensorProduct
    >>> tp = FullyConnectedTensorProduct("2x0e + 2x1o", "0e + 1o", "2x0e + 2x1o")
    >>> plan = FusedPlan(tp._fast_groups, tp.irreps_in1, tp.irreps_in2, tp.irreps_out)
    >>> x, y = torch.randn(5, 8, requires_grad=True), torch.randn(5, 4)
    >>> out = fused_uvw_single(x, y, tp.weight, tp.cg_fast, plan)
    >>> torch.allclose(out, tp(x, y)), out.grad_fn is not None
    (True, True)
    """
    if w.dim() != 1 and plan.kernel(x, y, w, cg) is None:
        raise ValueError(f"per-sample weights (shape {list(w.shape)}) need the compiled CPU kernel, which is not "
                         "available: use forward_uvw_single")
    return _product(plan, x.contiguous(), y.contiguous(), w.contiguous(), cg)
