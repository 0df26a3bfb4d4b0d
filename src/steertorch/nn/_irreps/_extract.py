r"""Select blocks of an irreps feature into one or several outputs (e3nn's ``Extract`` / ``ExtractIr``).

Output :math:`j` is the concatenation of the input blocks ``instructions[j]`` (in that order):
:math:`y^{(j)} = \bigoplus_k x^{(i_{jk})}`. A permutation / selection of whole irrep blocks, so it
is equivariant for every group element.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..._dtype import check_input_dtype, module_dtype
from ...o3 import Irrep, Irreps

__all__ = ["Extract", "ExtractIr"]


def _merged_slices(starts_sizes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merge consecutive (start, size) pieces that are contiguous in the input."""
    out: list[list[int]] = []
    for start, size in starts_sizes:
        if size == 0:
            continue
        if out and out[-1][0] + out[-1][1] == start:
            out[-1][1] += size
        else:
            out.append([start, size])
    return [(a, b) for a, b in out]


class Extract(nn.Module):
    r"""Extract blocks of ``irreps_in`` into the outputs ``irreps_outs``.

    Args:
        irreps_in: irreps of the input.
        irreps_outs: irreps of each output.
        instructions: for each output, the indices of the input blocks it takes; block ``k`` of
            ``irreps_outs[j]`` must equal block ``instructions[j][k]`` of ``irreps_in``.
        squeeze_out: with a single output, return a tensor rather than a 1-tuple.

    >>> c = Extract("1e + 0e + 0e", ["0e", "0e"], [(1,), (2,)])
    >>> c(torch.tensor([0.0, 0.0, 0.0, 1.0, 2.0]))
    (tensor([1.]), tensor([2.]))
    """

    def __init__(self, irreps_in: object, irreps_outs: Sequence[object], instructions: Sequence[Sequence[int]],
                 squeeze_out: bool = False) -> None:
        super().__init__()
        self.irreps_in = Irreps(irreps_in)
        if isinstance(irreps_outs, (str, Irreps)):
            raise ValueError(f"irreps_outs must be a list of irreps (one per output), got {irreps_outs!r}")
        self.irreps_outs = tuple(Irreps(irreps) for irreps in irreps_outs)
        self.instructions = [tuple(ins) for ins in instructions]
        self.squeeze_out = squeeze_out
        if len(self.irreps_outs) != len(self.instructions):
            raise ValueError(f"Extract needs one instruction per output: {len(self.irreps_outs)} outputs, "
                             f"{len(self.instructions)} instructions")
        starts = [s.start for s in self.irreps_in.slices()]
        self._plans: list[list[tuple[int, int]]] = []
        for j, (irreps_out, ins) in enumerate(zip(self.irreps_outs, self.instructions)):
            if len(irreps_out) != len(ins):
                raise ValueError(f"Extract output {j}: irreps {irreps_out} has {len(irreps_out)} blocks but its "
                                 f"instruction {ins} names {len(ins)}")
            pieces = []
            for k, i_in in enumerate(ins):
                if not (isinstance(i_in, int) and 0 <= i_in < len(self.irreps_in)):
                    raise ValueError(f"Extract output {j}: input block index {i_in!r} out of range for "
                                     f"{self.irreps_in}")
                if irreps_out[k] != self.irreps_in[i_in]:
                    raise ValueError(f"Extract output {j}: block {k} is {irreps_out[k]} but input block {i_in} is "
                                     f"{self.irreps_in[i_in]}")
                pieces.append((starts[i_in], self.irreps_in[i_in].dim))
            self._plans.append(_merged_slices(pieces))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...] | torch.Tensor:
        """``x`` ``[..., irreps_in.dim]`` -> tuple of ``[..., irreps_outs[j].dim]``."""
        if x.shape[-1] != self.irreps_in.dim:
            raise ValueError(f"Extract: expected features of irreps {self.irreps_in} (last dim {self.irreps_in.dim}), "
                             f"got shape {list(x.shape)}")
        check_input_dtype(type(self).__name__, "input x", x, module_dtype(self))
        outs = []
        for plan in self._plans:
            if not plan:
                outs.append(x.narrow(-1, 0, 0))  # empty, but on the graph of x
            elif len(plan) == 1:
                outs.append(x.narrow(-1, plan[0][0], plan[0][1]))
            else:
                outs.append(torch.cat([x.narrow(-1, a, n) for a, n in plan], dim=-1))
        if self.squeeze_out and len(outs) == 1:
            return outs[0]
        return tuple(outs)

    def extra_repr(self) -> str:
        return f"{self.irreps_in} -> {', '.join(str(i) for i in self.irreps_outs)}"


class ExtractIr(Extract):
    """Extract all the blocks of one irrep ``ir`` from ``irreps_in`` (returns a tensor).

    >>> e = ExtractIr("2x0e + 1o + 3x0e", "0e")
    >>> e.irreps_out, e(torch.arange(8.0))
    (2x0e+3x0e, tensor([0., 1., 5., 6., 7.]))
    """

    def __init__(self, irreps_in: object, ir: object) -> None:
        ir = Irrep(ir)
        irreps_in = Irreps(irreps_in)
        irreps_out = Irreps([mul_ir for mul_ir in irreps_in if mul_ir.ir == ir])
        instructions = [tuple(i for i, mul_ir in enumerate(irreps_in) if mul_ir.ir == ir)]
        super().__init__(irreps_in, [irreps_out], instructions, squeeze_out=True)
        self.irreps_out = irreps_out
