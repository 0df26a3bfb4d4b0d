r"""Gated nonlinearity (e3nn's ``nn.Gate``; Weiler et al. 2018).

.. math::

    \Big(\bigoplus_i \phi_i(s_i)\Big) \oplus \Big(\bigoplus_j \psi_j(g_j)\, v_j\Big)

Scalars :math:`s_i` go through their activations :math:`\phi_i`; every gated irrep copy
:math:`v_j` (any l) is multiplied by its own activated gate scalar :math:`\psi_j(g_j)`, which is
invariant under rotations, so the product transforms like :math:`v_j`, with parity
:math:`p(v_j)\, p(\psi_j(g_j))` (an odd gate through an odd activation turns 1o into 1e).

Input layout, as e3nn: the concatenation ``irreps_scalars + irreps_gates + irreps_gated``
sorted by irrep (stable; ``Irreps.sort``) and simplified; ``irreps_in`` says it. Output:
``act(scalars) + gated products``, unsorted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ..._dtype import check_input_dtype, module_dtype
from ...o3 import Irreps
from ._activation import Activation
from ._extract import Extract

__all__ = ["Gate"]


class _SortCut(nn.Module):
    """Split the sorted, simplified concatenation of ``irreps_outs`` back into its parts."""

    def __init__(self, *irreps_outs: object) -> None:
        super().__init__()
        self.irreps_outs = tuple(Irreps(irreps).simplify() for irreps in irreps_outs)
        concatenated = sum(self.irreps_outs, Irreps())
        instructions, i = [], 0
        for irreps_out in self.irreps_outs:
            instructions.append(tuple(range(i, i + len(irreps_out))))
            i += len(irreps_out)
        irreps_sorted, p, _ = concatenated.sort()
        instructions = [tuple(p[k] for k in ins) for ins in instructions]
        self.cut = Extract(irreps_sorted, self.irreps_outs, instructions)
        self.irreps_in = irreps_sorted.simplify()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.cut(x)


def _gate_chunks(irreps_gated: Irreps, irreps_gates: Irreps) -> list[tuple[int, int, int, int, object]]:
    """Pair gated copies with gate copies in order: ``(gated_start, gate_start, mul, l_dim, ir_out)`` per chunk
    (a chunk is a run of copies of one gated irrep gated by scalars of one parity)."""
    gated = [[mul, ir] for mul, ir in irreps_gated.simplify()]
    gates = [[mul, ir] for mul, ir in irreps_gates.simplify()]
    chunks = []
    i = j = 0
    pos_v = pos_g = 0
    while i < len(gated) and j < len(gates):
        (mv, irv), (mg, irg) = gated[i], gates[j]
        m = min(mv, mg)
        chunks.append((pos_v, pos_g, m, irv.dim, (irv.l, irv.p * irg.p)))
        pos_v += m * irv.dim
        pos_g += m
        gated[i][0] -= m
        gates[j][0] -= m
        if gated[i][0] == 0:
            i += 1
        if gates[j][0] == 0:
            j += 1
    return chunks


class Gate(nn.Module):
    r"""Gate activation: ``act_scalars`` on ``irreps_scalars``, and each copy of ``irreps_gated`` times its
    gate from ``irreps_gates`` through ``act_gates``.

    Args:
        irreps_scalars: scalar irreps (0e / 0o) passed through ``act_scalars`` (one per block, or None).
        act_scalars: activations of the scalars.
        irreps_gates: scalar irreps, one copy per gated copy (``num_irreps`` equal).
        act_gates: activations of the gates (one per block, or None).
        irreps_gated: irreps multiplied by the gates.

    Activations are normalised with :class:`~steertorch.math.normalize2mom` and follow the parity
    rules of :class:`Activation`. The product is a broadcast ``[..., mul, 2l+1] * [..., mul, 1]``.

    >>> g = Gate("16x0o", [torch.tanh], "32x0o", [torch.tanh], "16x1e + 16x1o")
    >>> g.irreps_in, g.irreps_out
    (48x0o+16x1o+16x1e, 16x0o+16x1o+16x1e)
    >>> g(torch.randn(5, g.irreps_in.dim)).shape
    torch.Size([5, 112])
    """

    def __init__(self, irreps_scalars: object, act_scalars: Sequence[Callable | None], irreps_gates: object,
                 act_gates: Sequence[Callable | None], irreps_gated: object) -> None:
        super().__init__()
        irreps_scalars, irreps_gates, irreps_gated = Irreps(irreps_scalars), Irreps(irreps_gates), Irreps(irreps_gated)
        for name, irreps in (("irreps_scalars", irreps_scalars), ("irreps_gates", irreps_gates)):
            bad = [mul_ir for mul_ir in irreps if mul_ir.ir.l != 0]
            if bad:
                raise ValueError(f"Gate: {name} must contain scalars (0e / 0o) only, got {irreps} (block {bad[0]})")
        if irreps_gates.num_irreps != irreps_gated.num_irreps:
            raise ValueError(f"Gate: one gate scalar per gated irrep copy: irreps_gated {irreps_gated} has "
                             f"{irreps_gated.num_irreps} copies, irreps_gates {irreps_gates} has "
                             f"{irreps_gates.num_irreps}")
        self.sc = _SortCut(irreps_scalars, irreps_gates, irreps_gated)
        self.irreps_scalars, self.irreps_gates, self.irreps_gated = self.sc.irreps_outs
        self.act_scalars = Activation(irreps_scalars, act_scalars)
        self.act_gates = Activation(irreps_gates, act_gates)
        self._chunks = _gate_chunks(irreps_gated, self.act_gates.irreps_out)
        gated_out = Irreps([(m, ir_out) for _, _, m, _, ir_out in self._chunks])
        self._irreps_in = self.sc.irreps_in
        self._irreps_out = self.act_scalars.irreps_out + gated_out

    @property
    def irreps_in(self) -> Irreps:
        """Input irreps: sorted, simplified ``irreps_scalars + irreps_gates + irreps_gated``."""
        return self._irreps_in

    @property
    def irreps_out(self) -> Irreps:
        """Output irreps: ``act(irreps_scalars) + gated`` (parities changed by odd gates)."""
        return self._irreps_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[..., irreps_in.dim]`` -> ``[..., irreps_out.dim]``."""
        if x.shape[-1] != self._irreps_in.dim:
            raise ValueError(f"Gate: expected features of irreps {self._irreps_in} (last dim {self._irreps_in.dim}), "
                             f"got shape {list(x.shape)}")
        check_input_dtype("Gate", "input x", x, module_dtype(self))
        scalars, gates, gated = self.sc(x)
        scalars = self.act_scalars(scalars)
        if not self._chunks:
            return scalars
        gates = self.act_gates(gates)
        batch = x.shape[:-1]
        out = [scalars]
        for pos_v, pos_g, mul, d, _ in self._chunks:
            v = gated.narrow(-1, pos_v, mul * d).reshape(*batch, mul, d)
            g = gates.narrow(-1, pos_g, mul).unsqueeze(-1)
            out.append((v * g).reshape(*batch, mul * d))
        return torch.cat(out, dim=-1)

    def extra_repr(self) -> str:
        return f"{self._irreps_in} -> {self._irreps_out}"
