r"""Steerable point convolution on graphs for the field types of any G-space (implicit or analytic kernels).

For a target node i with neighbours j (edges ``j -> i`` of ``edge_index``), relative position
:math:`x_{ij} = p_j - p_i` and edge attributes :math:`a_{ij}`,

.. math::  y_i = \frac{1}{n_i} \sum_{j \in N(i)} k(x_{ij}, a_{ij})\, f_j \;+\; b,

with :math:`k` a steerable kernel module, :math:`k(M(g)x, g\cdot a) = \rho_{out}(g)\,k(x, a)\,\rho_{in}(g)^\top`
(:class:`~steertorch.nn.ImplicitKernel`, or by default the analytic :class:`~steertorch.nn.BasisKernel`), b a
bias on the invariant components, :math:`n_i` the neighbour normalisation. Rotating and translating the
positions, and transforming features and attributes by g, transforms the output by g: the layer is
equivariant to :math:`\mathbb{R}^d \rtimes G` and to permutations of the nodes. The grid convolutions
(:class:`~steertorch.nn.R2Conv`, ``kernel=``) sample the same kernel modules at lattice offsets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .._dtype import ExactConstants, check_input_dtype, module_dtype
from ..nn import BasisKernel, FieldType, ImplicitKernel
from ..nn._fields._conv import _register_invariant_bias
from ..nn._fields._implicit_kernel import _SteerableKernel
from ._edge_embedding import edge_vectors
from ._scatter import scatter_sum

__all__ = ["FieldPointConv"]

_NORMALIZATIONS = ("sqrt_degree", "degree", "none")


class FieldPointConv(ExactConstants):
    r"""Point convolution between field types (see the module docstring).

    Args:
        in_type, out_type: field types of one G-space (any representations).
        kernel: the kernel module (its types must be ``in_type`` / ``out_type``); default an analytic
            :class:`~steertorch.nn.BasisKernel` with rings at ``0, r_max/4, ..., 3 r_max/4`` cut off at ``r_max``.
            Pass ``ImplicitKernel(gspace, in_type, out_type, r_max=..., attributes=...)`` to switch to an implicit
            kernel (and edge attributes).
        r_max: cutoff radius of the default kernel.
        normalization: :math:`n_i`: ``"sqrt_degree"`` (default; unit second moment for independent messages with
            the kernels' default calibration), ``"degree"`` (mean), ``"none"`` (sum) or a number
            :math:`\bar n` (:math:`n_i = \sqrt{\bar n}`).
        bias: a learned bias on the invariant components of the output.

    ``forward(x, pos, edge_index, edge_attr=None, edge_vec=None)``: ``x`` ``[N, in_type.size]``, ``pos``
    ``[N, d]``, ``edge_index`` ``[2, E]`` (sources, targets), ``edge_attr`` ``[E, a]`` when the kernel declares
    attributes, ``edge_vec`` ``[E, d]`` overriding :math:`p_j - p_i`. Returns ``[N, out_type.size]``.

    >>> import torch
    >>> from steertorch.gspaces import conicalOnR3
    >>> from steertorch.nn import FieldType, ImplicitKernel
    >>> gs = conicalOnR3()
    >>> t_in, t_out = FieldType(gs, [gs.trivial_repr]), FieldType(gs, [gs.trivial_repr, gs.basespace_repr])
    >>> conv = FieldPointConv(t_in, t_out, kernel=ImplicitKernel(gs, t_in, t_out, hidden=[4], r_max=2.0))
    >>> pos, edge_index = torch.randn(5, 3), torch.tensor([[0, 1, 2, 3], [1, 0, 3, 2]])
    >>> conv(torch.ones(5, 1), pos, edge_index).shape
    torch.Size([5, 4])
    """

    def __init__(self, in_type: FieldType, out_type: FieldType, kernel: _SteerableKernel | None = None,
                 r_max: float = 2.0, normalization: str | float = "sqrt_degree", bias: bool = True,
                 radii: Sequence[float] | None = None) -> None:
        super().__init__()
        if kernel is None:
            rings = [r_max * i / 4 for i in range(4)] if radii is None else list(radii)
            kernel = BasisKernel(in_type, out_type, radii=rings, sigma=r_max / 6, r_max=r_max)
        if not isinstance(kernel, (ImplicitKernel, BasisKernel)):
            raise ValueError(f"FieldPointConv: kernel must be an ImplicitKernel or a BasisKernel, got "
                             f"{type(kernel).__name__}")
        if kernel.in_type != in_type or kernel.out_type != out_type:
            raise ValueError(f"FieldPointConv: the kernel maps {kernel.in_type!r} -> {kernel.out_type!r}, expected "
                             f"{in_type!r} -> {out_type!r}")
        if isinstance(normalization, str):
            if normalization not in _NORMALIZATIONS:
                raise ValueError(f"FieldPointConv: normalization must be one of {_NORMALIZATIONS} or a number > 0, "
                                 f"got {normalization!r}")
        elif isinstance(normalization, bool) or not (isinstance(normalization, (int, float)) and normalization > 0):
            raise ValueError(f"FieldPointConv: normalization must be one of {_NORMALIZATIONS} or a number > 0, "
                             f"got {normalization!r}")
        self.in_type, self.out_type = in_type, out_type
        self.kernel = kernel
        self.normalization = normalization
        _register_invariant_bias(self, out_type, bias)

    def forward(self, x: torch.Tensor, pos: torch.Tensor, edge_index: torch.Tensor,
                edge_attr: torch.Tensor | None = None, edge_vec: torch.Tensor | None = None) -> torch.Tensor:
        d = self.in_type.gspace.dimensionality
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[1] != self.in_type.size:
            shape = list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"FieldPointConv: expected node features [N, {self.in_type.size}] of type "
                             f"{self.in_type!r}, got {shape}")
        if pos.dim() != 2 or pos.shape != (x.shape[0], d):
            raise ValueError(f"FieldPointConv: expected pos [{x.shape[0]}, {d}], got {list(pos.shape)}")
        if edge_index.dim() != 2 or edge_index.shape[0] != 2 or edge_index.is_floating_point():
            raise ValueError(f"FieldPointConv: expected an integer edge_index [2, E], got {edge_index.dtype} "
                             f"{list(edge_index.shape)}")
        dtype = module_dtype(self)
        for what, t in (("input x", x), ("pos", pos), ("edge_attr", edge_attr), ("edge_vec", edge_vec)):
            check_input_dtype("FieldPointConv", what, t, dtype)
        n = x.shape[0]
        src, dst = edge_index[0], edge_index[1]
        if edge_vec is None:
            edge_vec = edge_vectors(pos, edge_index)
        k = self.kernel(edge_vec, edge_attr)  # [E, out, in]
        messages = torch.einsum("eoi,ei->eo", k, x.index_select(0, src))
        out = scatter_sum(messages, dst, dim=0, dim_size=n)
        if isinstance(self.normalization, str):
            if self.normalization != "none":
                deg = scatter_sum(torch.ones_like(dst, dtype=x.dtype), dst, dim=0, dim_size=n).clamp(min=1)
                out = out / (deg.sqrt() if self.normalization == "sqrt_degree" else deg)[:, None]
        else:
            out = out / math.sqrt(self.normalization)
        if self.bias is not None:
            out = out + (self._bias_expansion @ self.bias)[None, :]
        return out

    def extra_repr(self) -> str:
        return f"{self.in_type!r} -> {self.out_type!r}, normalization={self.normalization!r}"
