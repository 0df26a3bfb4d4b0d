r"""Scalar activations on the scalar blocks of an irreps feature (e3nn's ``nn.Activation``).

Block :math:`i` of ``irreps_in`` (``mul x 0e`` or ``mul x 0o``) with an activation :math:`f_i`
becomes :math:`c_i f_i(x)`, :math:`c_i` from :class:`~steertorch.math.normalize2mom`; blocks
with ``None`` pass unchanged. Parity: an even scalar (0e) stays 0e under any :math:`f`; an odd
scalar (0o) changes sign under inversion, so :math:`f(-x) = -f(x)` gives 0o, :math:`f(-x) = f(x)`
gives 0e, and any other :math:`f` would break equivariance (``ValueError``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ..._dtype import check_input_dtype, module_dtype
from ...math import normalize2mom
from ...math._normalize_activation import _infer_dtype_device
from ...o3 import Irreps

__all__ = ["Activation"]


def function_parity(f: Callable[[torch.Tensor], torch.Tensor], tol: float = 1e-5) -> int:
    """+1 if ``f`` is even, -1 if odd, 0 if neither (tested on 256 points of [0, 10], as e3nn)."""
    dtype, device = _infer_dtype_device(f, None, None)
    x = torch.linspace(0, 10, 256, dtype=dtype, device=device)
    with torch.no_grad():
        a1, a2 = f(x), f(-x)
    if (a1 - a2).abs().max() < tol:
        return 1
    if (a1 + a2).abs().max() < tol:
        return -1
    return 0


class Activation(nn.Module):
    r"""Apply scalar activations ``acts`` (one per block of ``irreps_in``, ``None`` to skip a block).

    Activations are normalised to unit second moment (:class:`~steertorch.math.normalize2mom`);
    ``irreps_out`` has the parities given by the rules above. Takes and returns ``[..., dim]``.

    >>> act = Activation("4x0e + 2x0o + 1x1o", [torch.relu, torch.tanh, None])
    >>> act.irreps_out
    4x0e+2x0o+1x1o
    >>> Activation("3x0o", [torch.abs]).irreps_out
    3x0e
    >>> act(torch.randn(10, 9)).shape
    torch.Size([10, 9])
    """

    def __init__(self, irreps_in: object, acts: Sequence[Callable | None]) -> None:
        super().__init__()
        irreps_in = Irreps(irreps_in)
        acts = list(acts)
        if len(irreps_in) != len(acts):
            raise ValueError(f"Activation needs one activation (or None) per block of irreps_in: irreps_in "
                             f"{irreps_in} has {len(irreps_in)} blocks, got {len(acts)} activations")
        normalized: list[nn.Module | None] = []
        irreps_out = []
        for i, ((mul, ir), act) in enumerate(zip(irreps_in, acts)):
            if act is None:
                normalized.append(None)
                irreps_out.append((mul, ir))
                continue
            if ir.l != 0:
                raise ValueError(f"Activation: block {i} ({mul}x{ir}) of {irreps_in} is not scalar: a scalar "
                                 f"activation on it would break equivariance (give None for this block)")
            act = normalize2mom(act)
            p_out = ir.p
            if ir.p == -1:
                p_out = function_parity(act)
                if p_out == 0:
                    raise ValueError(f"Activation: block {i} ({mul}x{ir}) of {irreps_in} is odd, so its activation "
                                     f"must be odd or even; {act.f!r} is neither")
            normalized.append(act)
            irreps_out.append((mul, (0, p_out)))
        self.irreps_in = irreps_in
        self.irreps_out = Irreps(irreps_out)
        self.acts = nn.ModuleList(normalized)
        self._blocks = [(mul * ir.dim, act is not None) for (mul, ir), act in zip(irreps_in, normalized)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[..., irreps_in.dim]`` -> ``[..., irreps_out.dim]``."""
        if x.shape[-1] != self.irreps_in.dim:
            raise ValueError(f"Activation: expected features of irreps {self.irreps_in} (last dim "
                             f"{self.irreps_in.dim}), got shape {list(x.shape)}")
        check_input_dtype("Activation", "input x", x, module_dtype(self))
        if all(not has_act for _, has_act in self._blocks):
            return x
        out = []
        start = 0
        for (size, has_act), act in zip(self._blocks, self.acts):
            block = x.narrow(-1, start, size)
            out.append(act(block) if has_act else block)
            start += size
        return torch.cat(out, dim=-1) if len(out) != 1 else out[0]

    def extra_repr(self) -> str:
        marks = "".join("x" if a is not None else " " for a in self.acts)
        return f"[{marks}] {self.irreps_in} -> {self.irreps_out}"
