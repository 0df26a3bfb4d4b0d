r"""Fast path of :class:`~steertorch.o3.TensorProduct` for weighted "uvu" (depthwise) paths whose second input has
multiplicity 1.

This is the product of a tensor field network's point convolution (:class:`~steertorch.graph.PointConv`, e3nn's
``Convolution`` and NequIP-style interaction blocks): features times the spherical harmonics of an edge, one weight
per channel and path (usually per edge, from a radial network),

.. math::

    z^{(o)}_{uk} = \sum_{p: a \to o} W^{(p)}_u \sum_{ij} \sqrt{\alpha_p}\, C^{(p)}_{ijk}\, x^{(a)}_{ui}\, y^{(b)}_j
    = \sum_{p: a \to o} W^{(p)}_u \sum_i A_p[k, i]\, x^{(a)}_{ui}, \qquad A = y\, C,

with :math:`C` the paths' scaled Clebsch-Gordan coefficients stacked into one matrix ``[irreps_in2.dim, n_a]``
(path p owns the columns ``cg_offset + k d1 + i``), so that :math:`A` is one GEMM of y (no channel index).

The product is trilinear in (x, y, W). On CPU, where the compiled kernel of :mod:`._tensor_product_kernel` is
available, it runs there (:class:`~steertorch.o3._tensor_product_kernel.UvuKernelPlan`: one sample at a time in
buffers of a few KB, forward and backward) through the autograd functions of :mod:`._tensor_product_fused`, whose
backward is again made of the kernel's products (trilinearity), so derivatives of every order run in the kernel.
:func:`forward_uvu_single` is its pure-torch twin on the same plan (same :math:`C`, same weights; every operation
differentiable): it is what the autograd functions fall back to if the kernel cannot take their tensors, and what the
tests compare the kernel with.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from ..group._wigner import wigner_3j
from . import _tensor_product_kernel as _kernel
from ._irreps import Irreps

__all__ = ["UvuPath", "UvuPlan", "plan_uvu_single", "forward_uvu_single"]


class UvuPath(NamedTuple):
    """One weighted "uvu" path ``irreps_in1[a] x irreps_in2[b] -> irreps_out[o]``: its columns of ``A = y C``
    (``cg_offset + k d1 + i``) and its ``mul`` weights (``w_offset + u`` in e3nn's flat layout)."""

    a: int
    b: int
    o: int
    d1: int
    d_out: int
    mul: int
    cg_offset: int
    w_offset: int


def plan_uvu_single(instructions: Sequence, irreps_in1: Irreps, irreps_in2: Irreps, irreps_out: Irreps,
                    w_offsets: Sequence[int]) -> tuple[list[UvuPath], torch.Tensor] | None:
    """The paths and their stacked, scaled Clebsch-Gordan coefficients ``[irreps_in2.dim, n_a]`` (float64).

    Returns None unless every instruction that contributes is a weighted "uvu" path whose second-input block has
    multiplicity 1. Paths are ordered by input block (the columns of one block's paths are adjacent).

    >>> from steertorch.o3 import TensorProduct
    >>> tp = TensorProduct("2x0e + 2x1o", "0e + 1o", "2x1o + 2x1o",
    ...                    [(0, 1, 0, "uvu", True), (1, 0, 1, "uvu", True)], shared_weights=False)
    >>> paths, cg = plan_uvu_single(tp.instructions, tp.irreps_in1, tp.irreps_in2, tp.irreps_out, tp._w_offsets)
    >>> [(p.a, p.b, p.o, p.cg_offset, p.w_offset) for p in paths], tuple(cg.shape)
    ([(0, 1, 0, 0, 0), (1, 0, 1, 3, 2)], (4, 12))
    """
    live = [n for n, ins in enumerate(instructions) if ins.path_weight != 0 and 0 not in ins.path_shape]
    if not live:
        return None
    for n in live:
        ins = instructions[n]
        if ins.connection_mode != "uvu" or not ins.has_weight or irreps_in2[ins.i_in2].mul != 1:
            return None
    slices = irreps_in2.slices()
    paths, columns, off = [], [], 0
    for n in sorted(live, key=lambda n: instructions[n].i_in1):  # (stable: instruction order within a block)
        ins = instructions[n]
        (mul, ir1), ir2, iro = irreps_in1[ins.i_in1], irreps_in2[ins.i_in2].ir, irreps_out[ins.i_out].ir
        block = torch.zeros(irreps_in2.dim, iro.dim, ir1.dim, dtype=torch.float64)  # columns (k, i)
        block[slices[ins.i_in2]] = wigner_3j(ir1.l, ir2.l, iro.l, dtype=torch.float64).permute(1, 2, 0) \
            * ins.path_weight
        columns.append(block.reshape(irreps_in2.dim, -1))
        paths.append(UvuPath(ins.i_in1, ins.i_in2, ins.i_out, ir1.dim, iro.dim, mul, off, w_offsets[n]))
        off += iro.dim * ir1.dim
    return paths, torch.cat(columns, dim=1)


def forward_uvu_single(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, cg: torch.Tensor,
                       paths: Sequence[UvuPath], irreps_in1: Irreps, irreps_out: Irreps) -> torch.Tensor:
    r"""``x [z, in1]``, ``y [z, in2]``, weights shared ``[numel]`` or per sample ``[z, numel]`` -> ``[z, out]``, in
    torch operations (the pure-torch twin of the compiled kernel).

    Per input block a, :math:`T[z, u, (p, k)] = \sum_i x_a[z, u, i]\, A_p[z, k, i]` for all its paths at once (one
    batched product, or :math:`d_a` broadcast products where it is small), then each path's slice times its weights
    is added to its output block, already in e3nn's ``[mul, 2l + 1]`` layout.

    >>> from steertorch.o3 import TensorProduct
    >>> tp = TensorProduct("2x0e + 2x1o", "0e + 1o", "2x0e + 2x1o",
    ...                    [(0, 0, 0, "uvu", True), (1, 1, 0, "uvu", True), (1, 0, 1, "uvu", True)],
    ...                    shared_weights=False)
    >>> x, y, w = torch.randn(5, 8), torch.randn(5, 4), torch.randn(5, tp.weight_numel)
    >>> out = forward_uvu_single(x, y, w, tp.cg_uvu, tp._uvu_plan.paths, tp.irreps_in1, tp.irreps_out)
    >>> torch.allclose(out, tp(x, y, w), atol=1e-6)
    True
    """
    z = x.shape[0]
    amat = y @ cg  # [z, n_a]
    xs = x.split([mi.dim for mi in irreps_in1], dim=1)
    blocks: list[list[UvuPath]] = []
    for p in paths:  # (paths of one input block are adjacent)
        if blocks and blocks[-1][0].a == p.a:
            blocks[-1].append(p)
        else:
            blocks.append([p])
    outs: list[torch.Tensor | None] = [None] * len(irreps_out)
    for blk in blocks:
        p0, d1, mul = blk[0], blk[0].d1, blk[0].mul
        rows = sum(p.d_out for p in blk)
        a3 = amat[:, p0.cg_offset:p0.cg_offset + rows * d1].reshape(z, rows, d1)
        xa = xs[p0.a].reshape(z, mul, d1)
        if d1 * rows * mul >= 400:  # (torch's CPU batched matmul runs a slow scalar loop below this size)
            t = torch.bmm(xa, a3.transpose(1, 2))  # [z, mul, rows]
        else:
            t = xa[:, :, None, 0] * a3[:, None, :, 0]
            for i in range(1, d1):
                t = torch.addcmul(t, xa[:, :, None, i], a3[:, None, :, i])
        for p, tp in zip(blk, t.split([p.d_out for p in blk], dim=2)):
            wp = w[..., p.w_offset:p.w_offset + p.mul]
            r = tp * (wp[:, None] if w.dim() == 1 else wp[:, :, None])  # [z, mul, d_out]
            outs[p.o] = r if outs[p.o] is None else outs[p.o] + r
    pieces = [x.new_zeros(z, mul * ir.dim) if t is None else t.reshape(z, mul * ir.dim)
              for t, (mul, ir) in zip(outs, irreps_out)]
    return torch.cat(pieces, dim=1) if pieces else x.new_zeros(z, 0)


class UvuPlan:
    """The paths of :func:`plan_uvu_single` and the compiled kernel's tables for them (None where a block is too
    large for the kernel); what :mod:`._tensor_product_fused`'s autograd functions take as their plan.

    >>> from steertorch.o3 import TensorProduct
    >>> tp = TensorProduct("4x0e + 4x1o", "0e + 1o", "4x1o + 4x1o", [(0, 1, 0, "uvu", True), (1, 0, 1, "uvu", True)],
    ...                    shared_weights=False)
    >>> plan = tp._uvu_plan
    >>> len(plan.paths), plan.kernel(torch.zeros(1, 16, dtype=torch.float16))  # (float16: never the kernel)
    (2, None)
    """

    def __init__(self, paths: Sequence[UvuPath], irreps_in1: Irreps, irreps_in2: Irreps, irreps_out: Irreps) -> None:
        self.paths = list(paths)
        self.irreps_in1, self.irreps_in2, self.irreps_out = irreps_in1, irreps_in2, irreps_out
        try:
            self._kernel_plan: _kernel.UvuKernelPlan | None = _kernel.UvuKernelPlan(self.paths, irreps_in1,
                                                                                     irreps_in2, irreps_out)
        except ValueError:  # blocks too large for the kernel
            self._kernel_plan = None

    def kernel(self, *tensors: torch.Tensor) -> _kernel.UvuKernelPlan | None:
        """The compiled kernel's plan when it can take these tensors (CPU, one dtype of float32 / float64, the
        kernel compiled), else None."""
        dtype = tensors[0].dtype
        if self._kernel_plan is None or dtype not in (torch.float32, torch.float64) or any(
                t.dtype != dtype or t.device.type != "cpu" for t in tensors):
            return None
        return self._kernel_plan if _kernel.cpu_kernel_available() else None

    def reference(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, cg: torch.Tensor) -> torch.Tensor:
        """The same product in torch operations (:func:`forward_uvu_single`)."""
        return forward_uvu_single(x, y, w, cg, self.paths, self.irreps_in1, self.irreps_out)

