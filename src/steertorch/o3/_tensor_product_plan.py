r"""Fast path of :class:`~steertorch.o3.TensorProduct` for weighted "uvw" paths whose second input has multiplicity 1.

This is the product of a point convolution (features times spherical harmonics):

.. math::

    z^{(o)}_{wk} = \sum_{p: a \to o} \sum_u W^{(p)}_{uw}
        \sum_{ij} \sqrt{\alpha_p}\, C^{(p)}_{ijk}\, x^{(a)}_{ui}\, y^{(b)}_j.

Paths are grouped by (input-1 block a, output block o); the B paths of a group differ by
their block b of the second input. Per group:

1. :math:`A[z, (k, b), i] = \sum_j y_b[z, j] \sqrt{\alpha_p} C^{(p)}_{ijk}`: one GEMM of y with the
   stacked Clebsch-Gordan coefficients of every group (no channel index: small);
2. :math:`T[z, (k, b), u] = \sum_i A[z, (k, b), i]\, x_a[z, u, i]`, laid out so that
   ``T.view(z * d_o, B * mul_a)`` has rows (z, k) and columns (b, u). All groups of one block a
   share one batched matmul when it is large enough (its cost hardly grows with the number of
   rows; the groups' slices are then copied once); small products, which torch's batched
   matmul runs in a slow scalar loop, are :math:`d_a` broadcast products instead;
3. :math:`z^{(o)}[(z, k), w] \mathrel{+}= T \, W_{(b, u), w}`: with shared weights one GEMM, the group's
   weights gathered once from the flat vector. With per-sample weights (``[z, numel]``, one row per edge, from a
   radial MLP) the weights are by far the largest tensor, so they are never copied: one batched product
   :math:`T_b[z] \, W_p[z]` per path on views of ``w`` (one split, whose backward is one concatenation), accumulated
   into the output (a gather of the weights into the groups' order cost more than all the products, forward and
   backward).

A scalar input block (:math:`d_a = 1`, shared weights) mixes channels first instead:
:math:`(x_a W_b)[z, w]` for all its groups in one small GEMM, then
:math:`z^{(o)}[z, k, w] \mathrel{+}= \sum_b A[z, k, b]\, (x_a W_b)[z, w]`, with no :math:`T` at all.

Groups are accumulated into their output (no concatenation of intermediates), the output
blocks are transposed into e3nn's ``[mul, 2l + 1]`` layout by a single concatenation, and every
step is an ordinary differentiable torch operation, so autograd (double backward included)
and ``torch.compile`` work unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from ..group._wigner import wigner_3j
from ._irreps import Irreps

__all__ = ["UvwGroup", "plan_uvw_single", "forward_uvw_single"]

# torch's CPU batched matmul uses a slow scalar loop when contraction * rows * columns < 400
_BMM_MIN = 400


class UvwGroup(NamedTuple):
    """One (input-1 block, output block) group of paths and where its coefficients and weights lie."""

    a: int
    o: int
    n_paths: int
    d1: int
    d_out: int
    mul1: int
    mul_out: int
    cg_offset: int
    cg_size: int
    w_offset: int
    w_size: int
    path_offsets: tuple[int, ...] = ()  # where the member paths' [mul1, mul_out] weights lie in the flat vector


class _ContractX(torch.autograd.Function):
    """``T[z, r, u] = sum_i A[z, r, i] x[z, u, i]`` by one batched matmul.

    Autograd's own backward of ``bmm(A, x^T)`` computes the gradient of ``A`` as ``bmm(gT, x)``,
    whose products have only ``d1`` columns and run about twice slower on CPU than the
    transposed ``bmm(x^T, gT^T)^T`` used here. The backward is made of differentiable
    operations, so double backward works.
    """

    @staticmethod
    def forward(amat: torch.Tensor, xa: torch.Tensor) -> torch.Tensor:  # [z, r, i], [z, u, i] -> [z, r, u]
        return torch.bmm(amat, xa.transpose(1, 2))

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        amat, xa = ctx.saved_tensors
        grad_a = grad_x = None
        if ctx.needs_input_grad[0]:
            grad_a = torch.bmm(xa.transpose(1, 2), grad.transpose(1, 2)).transpose(1, 2)
        if ctx.needs_input_grad[1]:
            grad_x = torch.bmm(amat.transpose(1, 2), grad).transpose(1, 2)
        return grad_a, grad_x


def _path_weights(w: torch.Tensor, groups: Sequence[UvwGroup]) -> list[list[torch.Tensor]]:
    """Per group, its paths' per-sample weights ``[z, mul1, mul_out]``: views of ``w`` from one split.

    The backward of one split is one concatenation; a gather (``index_select``) into the groups' order would copy
    the whole weight tensor forward and scatter it back in the backward.
    """
    spans = sorted({(off, g.mul1 * g.mul_out) for g in groups for off in g.path_offsets})
    sizes: list[int] = []
    index: dict[int, int] = {}
    pos = 0
    for off, size in spans:
        if off > pos:  # weights of no live path
            sizes.append(off - pos)
        index[off] = len(sizes)
        sizes.append(size)
        pos = off + size
    if pos < w.shape[-1]:
        sizes.append(w.shape[-1] - pos)
    chunks = w.split(sizes, dim=-1)
    return [[chunks[index[off]].view(-1, g.mul1, g.mul_out) for off in g.path_offsets] for g in groups]


def plan_uvw_single(instructions: Sequence, irreps_in1: Irreps, irreps_in2: Irreps, irreps_out: Irreps,
                    w_offsets: Sequence[int]) -> tuple[list[UvwGroup], torch.Tensor, torch.Tensor] | None:
    """The groups, the stacked coefficients ``[irreps_in2.dim, total]`` (float64) and the weight permutation.

    Returns None unless every instruction that contributes is a weighted "uvw" path with a
    second-input block of multiplicity 1 (then the fast path applies).

    >>> from steertorch.o3 import FullyConnectedTensorProduct
    >>> tp = FullyConnectedTensorProduct("2x0e + 2x1o", "0e + 1o", "2x0e + 2x1o")
    >>> groups, cg, perm = plan_uvw_single(tp.instructions, tp.irreps_in1, tp.irreps_in2, tp.irreps_out,
    ...                                    tp._w_offsets)
    >>> [(g.a, g.o, g.n_paths) for g in groups], tuple(cg.shape), perm.numel() == tp.weight_numel
    ([(0, 0, 1), (0, 1, 1), (1, 1, 1), (1, 0, 1)], (4, 16), True)
    """
    live = [n for n, ins in enumerate(instructions) if ins.path_weight != 0 and 0 not in ins.path_shape]
    if not live:
        return None
    for n in live:
        ins = instructions[n]
        if ins.connection_mode != "uvw" or not ins.has_weight or irreps_in2[ins.i_in2].mul != 1:
            return None
    by_pair: dict[tuple[int, int], list[int]] = {}
    for n in live:
        by_pair.setdefault((instructions[n].i_in1, instructions[n].i_out), []).append(n)
    slices = irreps_in2.slices()
    groups, columns, path_perms = [], [], []
    cg_off = 0
    for (a, o), members in sorted(by_pair.items(), key=lambda item: item[0][0]):  # groups of one block a adjacent
        (m1, ir1), (mo, iro) = irreps_in1[a], irreps_out[o]
        d1, do, n_b = ir1.dim, iro.dim, len(members)
        block = torch.zeros(irreps_in2.dim, do, n_b, d1, dtype=torch.float64)  # columns (k, b, i)
        for nb, n in enumerate(members):
            ins = instructions[n]
            cg = wigner_3j(ir1.l, irreps_in2[ins.i_in2].ir.l, iro.l, dtype=torch.float64) * ins.path_weight
            block[slices[ins.i_in2], :, nb, :] = cg.permute(1, 2, 0)  # [d2, k, i]
        # this group's weights, rows (b, u), columns w: the paths' [u, w] blocks one after the other
        path_perms.append(torch.cat([torch.arange(w_offsets[n], w_offsets[n] + m1 * mo) for n in members]))
        columns.append(block.reshape(irreps_in2.dim, -1))
        size = do * n_b * d1
        groups.append(UvwGroup(a, o, n_b, d1, do, m1, mo, cg_off, size, 0, n_b * m1 * mo,
                               tuple(w_offsets[n] for n in members)))
        cg_off += size
    w_off = 0
    for n, g in enumerate(groups):
        groups[n] = g._replace(w_offset=w_off)
        w_off += g.w_size
    return groups, torch.cat(columns, dim=1), torch.cat(path_perms)


def forward_uvw_single(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, cg: torch.Tensor,
                       w_perm: torch.Tensor | None, groups: Sequence[UvwGroup], irreps_in1: Irreps,
                       irreps_out: Irreps, shared: bool) -> torch.Tensor:
    """``x [z, in1]``, ``y [z, in2]``, weights ``[numel]`` (shared) or ``[z, numel]`` -> ``[z, out]``.

    ``cg``, ``w_perm`` and ``groups`` come from :func:`plan_uvw_single` (``w_perm`` None: identity).

    >>> from steertorch.o3 import FullyConnectedTensorProduct
    >>> tp = FullyConnectedTensorProduct("2x0e + 2x1o", "0e + 1o", "2x0e + 2x1o")
    >>> x, y = torch.randn(5, 8), torch.randn(5, 4)
    >>> out = forward_uvw_single(x, y, tp.weight, tp.cg_fast, tp.w_perm_fast, tp._fast_groups, tp.irreps_in1,
    ...                          tp.irreps_out, shared=True)
    >>> torch.allclose(out, tp(x, y))
    True
    """
    z = x.shape[0]
    amat = y @ cg  # [z, total]
    if shared and w_perm is not None:
        w = w.index_select(-1, w_perm)
    # split, not narrow: the backward of a split is one concatenation, that of a narrow a zero-filled full copy
    xs = x.split([mi.dim for mi in irreps_in1], dim=1)
    # blocks of groups with the same input block a: one batched matmul for all of them when it is large enough
    # (its cost hardly grows with the number of rows), else broadcast products group by group
    blocks: list[list[int]] = []
    for n, g in enumerate(groups):
        if blocks and groups[blocks[-1][0]].a == g.a:
            blocks[-1].append(n)
        else:
            blocks.append([n])
    sizes, merged = [], []
    for blk in blocks:
        g0 = groups[blk[0]]
        rows = sum(groups[n].d_out * groups[n].n_paths for n in blk)
        if g0.d1 > 1 and g0.d1 * rows * g0.mul1 >= _BMM_MIN:
            sizes.append(sum(groups[n].cg_size for n in blk))
            merged.append(True)
        else:
            sizes.extend(groups[n].cg_size for n in blk)
            merged.append(False)
    amats = iter(amat.split(sizes, dim=1))
    # shared: each group's weights [B * mul1 * mul_out]; per sample: each path's weights [z, mul1, mul_out], views
    ws = w.split([g.w_size for g in groups], dim=-1) if shared else _path_weights(w, groups)
    ts: list[torch.Tensor | None] = []  # per group: [z, (k, b), u], or None when its output is in ``direct``
    direct: dict[int, torch.Tensor] = {}  # per group: its contribution [z, k, w] to the output
    for blk, one_bmm in zip(blocks, merged):
        a, d1, m1 = groups[blk[0]].a, groups[blk[0]].d1, groups[blk[0]].mul1
        xa = xs[a].reshape(z, m1, d1)
        if d1 == 1 and shared:
            # scalar input block: mix channels first, x W with every group's weights in one small GEMM (no
            # channel index u left over), then out[z, k, w] = sum_b A[z, k, b] (x W_b)[z, w]
            wcat = torch.cat([ws[n].view(groups[n].n_paths, m1, groups[n].mul_out).transpose(0, 1)
                              .reshape(m1, -1) for n in blk], dim=1)
            xw = (xs[a] @ wcat).split([groups[n].n_paths * groups[n].mul_out for n in blk], dim=1)
            for n, xg in zip(blk, xw):
                g = groups[n]
                ag = next(amats).reshape(z, g.d_out, g.n_paths).split(1, dim=2)  # [z, k, 1] each
                xg = xg.reshape(z, g.n_paths, g.mul_out).split(1, dim=1)  # [z, 1, w] each
                r = ag[0] * xg[0]
                for b in range(1, g.n_paths):
                    r = torch.addcmul(r, ag[b], xg[b])
                direct[n] = r
                ts.append(None)
            continue
        if one_bmm:
            ag = next(amats)
            t = _ContractX.apply(ag.reshape(z, -1, d1), xa)
            ts.extend(t.split([groups[n].d_out * groups[n].n_paths for n in blk], dim=1) if len(blk) > 1 else [t])
            continue
        # small products: torch's batched matmul falls back to a slow loop; d1 broadcast products instead
        # (split, not slice, again: cheap backward)
        x_t = (xa.transpose(1, 2).contiguous() if d1 > 1 else xa.reshape(z, 1, m1)).split(1, dim=1)
        for _ in blk:
            ag = next(amats).reshape(z, -1, d1).split(1, dim=2)
            t = ag[0] * x_t[0]
            for i in range(1, d1):
                t = torch.addcmul(t, ag[i], x_t[i])
            ts.append(t)
    # per group: out[(z, k), w] += T[(z, k), (b, u)] W[(b, u), w], accumulated in place of a concatenation
    outs: dict[int, torch.Tensor] = {}
    for n, ((_, o, n_b, _, do, m1, mo, *_), t, wg) in enumerate(zip(groups, ts, ws)):
        prev = outs.get(o)
        if t is None:
            r = direct[n].reshape(z * do, mo)
            outs[o] = r if prev is None else prev + r
        elif shared:
            wg = wg.view(n_b * m1, mo)
            t = t.reshape(z * do, n_b * m1)
            outs[o] = t @ wg if prev is None else torch.addmm(prev, t, wg)
        else:
            # one batched product per path, on views of T and of the weights: no copy of the (large) weights
            # (unbind, not select: its backward is one stack)
            for tb, wp in zip(t.reshape(z, do, n_b, m1).unbind(2) if n_b > 1 else [t.reshape(z, do, m1)], wg):
                prev = torch.bmm(tb, wp) if prev is None else torch.baddbmm(prev, tb, wp)
            outs[o] = prev
    pieces = []
    for o, (mo, iro) in enumerate(irreps_out):
        t = outs.get(o)
        if t is None:
            pieces.append(x.new_zeros(z, mo * iro.dim))
        elif iro.dim == 1:
            pieces.append(t.reshape(z, mo))
        else:
            pieces.append(t.reshape(z, iro.dim, mo).transpose(1, 2).reshape(z, mo * iro.dim))
    if len(pieces) == 1:
        return pieces[0].contiguous()
    return torch.cat(pieces, dim=1) if pieces else x.new_zeros(z, 0)

