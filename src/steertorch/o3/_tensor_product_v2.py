r"""e3nn's experimental weightless tensor products (``e3nn.o3.experimental``): ``FullTensorProductv2`` and
``ElementwiseTensorProductv2``, each path a plain contraction with a Wigner 3j symbol.

For inputs :math:`x^{(1)}` (block ``mul_1 x ir_1``) and :math:`x^{(2)}` (block ``mul_2 x ir_2``) and each
:math:`ir_{out} \in ir_1 \otimes ir_2` the path gives

.. math::

    z_{uv,k} = c \sum_{ij} C_{ijk}\, x^{(1)}_{u,i}\, x^{(2)}_{v,j}, \qquad
    c = \sqrt{2 l_{out} + 1}\ (\text{"component"}), \quad \sqrt{(2 l_1 + 1)(2 l_2 + 1)}\ (\text{"norm"}),

:math:`C` = :func:`~steertorch.o3.wigner_3j`; the output blocks are sorted by irrep (stable), as e3nn.
"""

from __future__ import annotations

import math

import torch

from .._dtype import ExactConstants, check_input_dtype
from ..group._wigner import wigner_3j
from ._irreps import Irreps

__all__ = ["FullTensorProductv2", "ElementwiseTensorProductv2"]


def _cg(l1: int, l2: int, l3: int, irrep_normalization: str) -> torch.Tensor:
    c = wigner_3j(l1, l2, l3, dtype=torch.float64)
    if irrep_normalization == "component":
        return c * math.sqrt(2 * l3 + 1)
    if irrep_normalization == "norm":
        return c * math.sqrt((2 * l1 + 1) * (2 * l2 + 1))
    raise ValueError(f"irrep_normalization={irrep_normalization!r} not supported ('component' or 'norm')")


def _irrep_set(filter_ir_out: object) -> set:
    """The irreps named by an irreps string / ``Irreps`` or a list of irreps (``["0e", "1o"]``)."""
    if isinstance(filter_ir_out, str):
        return {ir for _, ir in Irreps(filter_ir_out)}
    out = set()
    for item in filter_ir_out:
        out |= {ir for _, ir in Irreps(str(item))}
    return out


class _WeightlessTensorProduct(ExactConstants):
    irreps_in1: Irreps
    irreps_in2: Irreps
    irreps_out: Irreps

    def _build(self, irreps_in1: Irreps, irreps_in2: Irreps, pairs, filter_ir_out, irrep_normalization: str,
               elementwise: bool) -> None:
        keep = None if filter_ir_out is None else _irrep_set(filter_ir_out)
        self.irreps_in1, self.irreps_in2 = irreps_in1, irreps_in2
        paths, out = [], []
        for i1, i2 in pairs:
            (mul1, ir1), (mul2, ir2) = irreps_in1[i1], irreps_in2[i2]
            for ir in ir1 * ir2:
                if keep is not None and ir not in keep:
                    continue
                name = f"cg_{ir1.l}_{ir2.l}_{ir.l}"
                if name not in self._buffers:
                    self.register_constant(name, _cg(ir1.l, ir2.l, ir.l, irrep_normalization), persistent=True)
                mul_out = mul1 if elementwise else mul1 * mul2
                paths.append((i1, i2, name, mul_out, ir.dim))
                out.append((mul_out, ir))
        srt = Irreps(out).sort()
        self.irreps_out = srt.irreps
        self._paths = [paths[i] for i in srt.inv]
        self._elementwise = elementwise
        self._s1, self._s2 = irreps_in1.slices(), irreps_in2.slices()

    def forward(self, input1: torch.Tensor, input2: torch.Tensor) -> torch.Tensor:
        """``[..., irreps_in1.dim]``, ``[..., irreps_in2.dim]`` (leading dimensions broadcast) ->
        ``[..., irreps_out.dim]``."""
        name = type(self).__name__
        dtype = next(iter(self._buffers.values())).dtype if self._buffers else None
        check_input_dtype(name, "input1", input1, dtype)
        check_input_dtype(name, "input2", input2, dtype if dtype is not None else input1.dtype)
        for x, irreps, what in ((input1, self.irreps_in1, "input1"), (input2, self.irreps_in2, "input2")):
            if x.shape[-1] != irreps.dim:
                raise ValueError(f"{name}: {what} should be [..., {irreps.dim}] ({irreps}), got {list(x.shape)}")
        lead = torch.broadcast_shapes(input1.shape[:-1], input2.shape[:-1])
        input1 = input1.broadcast_to(lead + (input1.shape[-1],))
        input2 = input2.broadcast_to(lead + (input2.shape[-1],))
        chunks = []
        for i1, i2, cg_name, mul_out, d in self._paths:
            (mul1, ir1), (mul2, ir2) = self.irreps_in1[i1], self.irreps_in2[i2]
            x1 = input1[..., self._s1[i1]].reshape(lead + (mul1, ir1.dim))
            x2 = input2[..., self._s2[i2]].reshape(lead + (mul2, ir2.dim))
            eq = "...ui,...uj,ijk->...uk" if self._elementwise else "...ui,...vj,ijk->...uvk"
            chunks.append(torch.einsum(eq, x1, x2, self._buffers[cg_name]).reshape(lead + (mul_out * d,)))
        if not chunks:
            return input1.new_zeros(lead + (0,))
        return torch.cat(chunks, dim=-1)

    def extra_repr(self) -> str:
        return f"{self.irreps_in1} x {self.irreps_in2} -> {self.irreps_out}"


class FullTensorProductv2(_WeightlessTensorProduct):
    r"""Every product :math:`ir_1 \otimes ir_2 \to ir_{out}` of every pair of blocks, no weights (e3nn's
    ``o3.experimental.FullTensorProduct``, exported by e3nn as ``o3.FullTensorProductv2``).

    With ``regroup_output=True`` (default) the inputs are regrouped first (sorted, equal irreps merged), so the
    blocks ``mul_1 * mul_2 x ir_out`` of ``irreps_out`` are e3nn's; ``filter_ir_out`` keeps only the listed irreps.

    >>> tp = FullTensorProductv2("2x1o", "1o + 0e")
    >>> tp.irreps_out, tp(torch.randn(5, 6), torch.randn(5, 4)).shape
    (2x0e+2x1o+2x1e+2x2e, torch.Size([5, 24]))
    """

    def __init__(self, irreps_in1: object, irreps_in2: object, *, filter_ir_out: object = None,
                 irrep_normalization: str = "component", regroup_output: bool = True) -> None:
        super().__init__()
        i1, i2 = Irreps(irreps_in1), Irreps(irreps_in2)
        if regroup_output:
            i1, i2 = i1.regroup(), i2.regroup()
        pairs = [(a, b) for a in range(len(i1)) for b in range(len(i2))]
        self._build(i1, i2, pairs, filter_ir_out, irrep_normalization, elementwise=False)


def _align(irreps1: Irreps, irreps2: Irreps) -> tuple[Irreps, Irreps]:
    """Split blocks so that block i of both has the same multiplicity (the copies pair up in order)."""
    a, b = [(mul, ir) for mul, ir in irreps1 if mul > 0], [(mul, ir) for mul, ir in irreps2 if mul > 0]
    i = 0
    while i < min(len(a), len(b)):
        (m1, ir1), (m2, ir2) = a[i], b[i]
        if m1 < m2:
            b[i:i + 1] = [(m1, ir2), (m2 - m1, ir2)]
        elif m2 < m1:
            a[i:i + 1] = [(m2, ir1), (m1 - m2, ir1)]
        i += 1
    return Irreps(a), Irreps(b)


class ElementwiseTensorProductv2(_WeightlessTensorProduct):
    r"""The product of copy u of ``irreps_in1`` with copy u of ``irreps_in2`` into every allowed irrep, no weights
    (e3nn's ``o3.experimental.ElementwiseTensorProduct``); both inputs need the same number of copies.

    >>> tp = ElementwiseTensorProductv2("2x1o", "1x0e + 1x1o")
    >>> tp.irreps_out, tp(torch.randn(5, 6), torch.randn(5, 4)).shape
    (1x0e+1x1o+1x1e+1x2e, torch.Size([5, 12]))
    """

    def __init__(self, irreps_in1: object, irreps_in2: object, *, filter_ir_out: object = None,
                 irrep_normalization: str = "component") -> None:
        super().__init__()
        i1, i2 = Irreps(irreps_in1), Irreps(irreps_in2)
        if i1.num_irreps != i2.num_irreps:
            raise ValueError(f"ElementwiseTensorProductv2: inputs must have the same number of irreps, "
                             f"got {i1.num_irreps} and {i2.num_irreps}")
        i1, i2 = _align(i1, i2)
        self._build(i1, i2, [(k, k) for k in range(len(i1))], filter_ir_out, irrep_normalization, elementwise=True)
