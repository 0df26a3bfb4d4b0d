r"""Equivariant linear map between irreps features (e3nn's ``o3.Linear``: same instructions,
normalisation and weight layout).

.. math::

    z^{(o)}_{w k} = \sum_{i \to o} \frac{1}{\sqrt{\mathrm{fan\_in}(o)}} \sum_u W^{(i \to o)}_{u w}\, x^{(i)}_{u k}
    \;+\; b^{(o)}_w \quad (\text{biases on } 0e \text{ outputs only}),

with fan_in(o) the total multiplicity of the inputs connected to output o ("element"), or
that of one input times the number of inputs ("path"). Schur's lemma: only equal irreps
connect. Implementation: all blocks of one irrep type are mixed by a single GEMM.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .._dtype import check_input_dtype
from ._empty import connected_zeros, register_weight
from ._irreps import Irreps

__all__ = ["Linear"]


class Linear(nn.Module):
    r"""Equivariant linear layer ``irreps_in -> irreps_out``.

    Args:
        irreps_in, irreps_out: irreps of input and output.
        instructions: ``(i_in, i_out)`` pairs; default every pair with equal irreps.
        biases: ``True`` for a bias on every 0e output block, or one bool per output block.
        path_normalization: ``"element"`` (default) or ``"path"``.
        internal_weights / shared_weights: as in :class:`TensorProduct`.
        f_in, f_out: e3nn's feature axis: inputs ``[..., f_in, irreps_in.dim]`` to outputs
            ``[..., f_out, irreps_out.dim]``, every (input feature, output feature) pair with its own
            weights (``weight`` ``[f_in, f_out, weight_numel]``, ``bias`` ``[f_out, bias_numel]``) and the
            fan-in counted over the input features too. Given together; shared internal weights only.

    Parameters ``weight`` (flat, e3nn's order: each instruction's ``[mul_in, mul_out]``) and
    ``bias`` (flat, zeros at init). Output blocks without inputs are zero (plus bias).

    >>> lin = Linear("4x0e + 2x1o", "3x0e + 1x1o + 1x2e", biases=True)
    >>> lin(torch.randn(5, 10)).shape, lin.weight_numel, lin.bias_numel
    (torch.Size([5, 11]), 14, 3)
    """

    def __init__(
        self,
        irreps_in: object,
        irreps_out: object,
        instructions: Sequence[tuple[int, int]] | None = None,
        biases: bool | Sequence[bool] = False,
        path_normalization: str = "element",
        internal_weights: bool | None = None,
        shared_weights: bool | None = None,
        *,
        f_in: int | None = None,
        f_out: int | None = None,
        _optimize_einsums: bool | None = None,
    ) -> None:
        # _optimize_einsums: e3nn's code-generation switch, accepted so e3nn code runs unchanged
        super().__init__()
        if (f_in is None) != (f_out is None):
            raise ValueError(f"Linear: give f_in and f_out together, got f_in={f_in!r}, f_out={f_out!r}")
        for name, f in (("f_in", f_in), ("f_out", f_out)):
            if f is not None and (isinstance(f, bool) or not isinstance(f, int) or f < 1):
                raise ValueError(f"Linear: {name} must be an int >= 1, got {f!r}")
        if f_in is not None and (shared_weights is False or internal_weights is False):
            raise ValueError("Linear: f_in / f_out need shared internal weights")
        self.f_in, self.f_out = f_in, f_out
        self.irreps_in = Irreps(irreps_in)
        self.irreps_out = Irreps(irreps_out)
        ii, io = self.irreps_in, self.irreps_out
        if path_normalization not in ("element", "path"):
            raise ValueError(f"path_normalization must be 'element' or 'path', got {path_normalization!r}")
        if instructions is None:
            instructions = [(a, o) for a, (_, ir_a) in enumerate(ii) for o, (_, ir_o) in enumerate(io) if ir_a == ir_o]
        instructions = [tuple(ins) for ins in instructions]
        for a, o in instructions:
            if not (0 <= a < len(ii) and 0 <= o < len(io)):
                raise ValueError(f"instruction ({a}, {o}) out of range for {ii} -> {io}")
            if ii[a].ir != io[o].ir:
                raise ValueError(f"instruction ({a}, {o}) connects {ii[a].ir} to {io[o].ir}: only equal irreps can "
                                 f"be mapped linearly (Schur's lemma)")
        if isinstance(biases, bool):
            biases = [biases and ir.is_scalar() for _, ir in io]
        biases = list(biases)
        if len(biases) != len(io):
            raise ValueError(f"biases needs one bool per output block ({len(io)}), got {len(biases)}")
        for flag, (_, ir) in zip(biases, io):
            if flag and not ir.is_scalar():
                raise ValueError(f"a bias is only equivariant on 0e outputs, got one on {ir}")

        def fan_in(a: int, o: int) -> int:
            if path_normalization == "element":
                x = sum(ii[a2].mul for a2, o2 in instructions if o2 == o)
            else:
                x = ii[a].mul * sum(1 for _, o2 in instructions if o2 == o)
            x *= f_in or 1  # every input feature feeds every output feature
            return x if x > 0 else 1

        self.instructions = [(a, o, ii[a].mul * io[o].mul, fan_in(a, o) ** -0.5) for a, o in instructions]
        self.weight_numel = sum(n for _, _, n, _ in self.instructions)
        self.biases = biases
        self.bias_numel = sum(io[o].dim for o, flag in enumerate(biases) if flag)
        if shared_weights is None:
            shared_weights = True
        if internal_weights is None:
            internal_weights = shared_weights
        self.shared_weights, self.internal_weights = shared_weights, internal_weights
        if internal_weights:
            # zero-size (no biases): a buffer, not a parameter; the state dict keeps e3nn's keys weight and bias
            features_w = () if f_in is None else (f_in, f_out)
            register_weight(self, "weight", torch.randn(*features_w, self.weight_numel))
            features_b = () if f_out is None or self.bias_numel == 0 else (f_out,)  # no biases: [0], as e3nn
            register_weight(self, "bias", torch.zeros(*features_b, self.bias_numel))
        else:
            self.register_buffer("weight", torch.empty(0), persistent=False)
            self.register_buffer("bias", torch.empty(0), persistent=False)
        self._plan()

    def _plan(self) -> None:
        """One group per irrep type: its input blocks, output blocks, and where each weight goes in the
        ``[sum mul_in, sum mul_out]`` matrix of the group (``rows``, ``cols`` per instruction)."""
        ii, io = self.irreps_in, self.irreps_out
        groups: dict = {}
        for a, (_, ir) in enumerate(ii):
            groups.setdefault(ir, {"ins": [], "outs": []})["ins"].append(a)
        for o, (_, ir) in enumerate(io):
            groups.setdefault(ir, {"ins": [], "outs": []})["outs"].append(o)
        self._groups = []
        offset = 0
        offsets = []
        for _, _, n, _ in self.instructions:
            offsets.append(offset)
            offset += n
        for ir, g in groups.items():
            if not g["outs"]:
                continue
            row0 = {a: sum(ii[b].mul for b in g["ins"][: g["ins"].index(a)]) for a in g["ins"]}
            col0 = {o: sum(io[b].mul for b in g["outs"][: g["outs"].index(o)]) for o in g["outs"]}
            pieces = [(k, offsets[k], row0[a], col0[o], ii[a].mul, io[o].mul, alpha)
                      for k, (a, o, _, alpha) in enumerate(self.instructions) if ii[a].ir == ir]
            self._groups.append((ir, g["ins"], g["outs"], pieces))

    def weight_view_for_instruction(self, instruction: int, weight: torch.Tensor | None = None) -> torch.Tensor:
        """Weights ``[..., mul_in, mul_out]`` of one instruction (e3nn's layout)."""
        w = self.weight if weight is None else weight
        a, o, n, _ = self.instructions[instruction]
        off = sum(m for _, _, m, _ in self.instructions[:instruction])
        return w.narrow(-1, off, n).reshape(*w.shape[:-1], self.irreps_in[a].mul, self.irreps_out[o].mul)

    def weight_views(self, weight: torch.Tensor | None = None, yield_instruction: bool = False):
        """The weights of each instruction, ``[..., (f_in, f_out,) mul_in, mul_out]`` (e3nn's ``weight_views``);
        with ``yield_instruction``, ``(index, (i_in, i_out), view)``."""
        w = self.weight if weight is None else weight
        off = 0
        for k, (a, o, n, _) in enumerate(self.instructions):
            view = w.narrow(-1, off, n).reshape(*w.shape[:-1], self.irreps_in[a].mul, self.irreps_out[o].mul)
            off += n
            yield (k, (a, o), view) if yield_instruction else view

    @property
    def output_mask(self) -> torch.Tensor:
        """``[irreps_out.dim]``: 1 where an instruction or a bias writes the output, else 0 (e3nn's
        ``output_mask``; computed, not stored)."""
        mask = torch.zeros(self.irreps_out.dim, dtype=self.weight.dtype if self.weight.is_floating_point()
                           else torch.get_default_dtype(), device=self.weight.device)
        slices = self.irreps_out.slices()
        for _, o, n, _ in self.instructions:
            if n > 0:
                mask[slices[o]] = 1
        for o, flag in enumerate(self.biases):
            if flag:
                mask[slices[o]] = 1
        return mask

    def forward(self, x: torch.Tensor, weight: torch.Tensor | None = None,
                bias: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` ``[..., irreps_in.dim]`` -> ``[..., irreps_out.dim]`` (with ``f_in``: ``[..., f_in, dim]`` ->
        ``[..., f_out, dim]``)."""
        if self.f_in is not None:
            return self._forward_features(x)
        if x.shape[-1] != self.irreps_in.dim:
            raise ValueError(f"expected features of irreps {self.irreps_in} (last dim {self.irreps_in.dim}), "
                             f"got shape {list(x.shape)}")
        if weight is None:
            if not self.internal_weights:
                raise ValueError(f"this Linear has no internal weights: pass weight [..., {self.weight_numel}]")
            weight = self.weight
        if bias is None:
            bias = self.bias if self.internal_weights else None
        if weight.shape[-1] != self.weight_numel:
            raise ValueError(f"expected weight [..., {self.weight_numel}], got {list(weight.shape)}")
        expected = weight.dtype if weight.numel() else (bias.dtype if bias is not None and bias.numel() else None)
        check_input_dtype("Linear", "input x", x, expected)
        batch = x.shape[:-1]
        z = math.prod(batch)
        x = x.reshape(z, self.irreps_in.dim)
        shared = weight.dim() == 1
        if not shared:
            weight = weight.expand(*batch, self.weight_numel).reshape(z, self.weight_numel)
        ii, io = self.irreps_in, self.irreps_out
        xs = x.split([mi.dim for mi in ii], dim=1)
        outs: list[torch.Tensor | None] = [None] * len(io)
        for ir, ins, outs_idx, pieces in self._groups:
            d = ir.dim
            n_in = sum(ii[a].mul for a in ins)
            n_out = sum(io[o].mul for o in outs_idx)
            if not pieces or n_in == 0:
                continue
            wbig = weight.new_zeros(*(() if shared else (z,)), n_in, n_out)
            for _, off, r0, c0, mi, mo, alpha in pieces:
                block = weight.narrow(-1, off, mi * mo).reshape(*(() if shared else (z,)), mi, mo) * alpha
                wbig = _place(wbig, block, r0, c0)
            xin = torch.cat([xs[a].reshape(z, ii[a].mul, d) for a in ins], dim=1)  # [z, n_in, d]
            if shared:
                res = (xin.transpose(1, 2).reshape(z * d, n_in) @ wbig).reshape(z, d, n_out)
            else:
                res = torch.bmm(xin.transpose(1, 2), wbig)  # [z, d, n_out]
            for o, part in zip(outs_idx, res.split([io[o].mul for o in outs_idx], dim=2)):
                outs[o] = part.transpose(1, 2).reshape(z, io[o].mul * d)
        return self._assemble(outs, bias, x, weight, (z,)).reshape(*batch, io.dim)

    def _forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """e3nn's feature axis: ``[..., f_in, irreps_in.dim]`` -> ``[..., f_out, irreps_out.dim]``; each irrep
        type is one GEMM over (input feature, input copy) -> (output feature, output copy)."""
        f_in, f_out = self.f_in, self.f_out
        if x.dim() < 2 or x.shape[-2:] != (f_in, self.irreps_in.dim):
            raise ValueError(f"expected features [..., {f_in}, {self.irreps_in.dim}] (f_in, irreps {self.irreps_in}), "
                             f"got shape {list(x.shape)}")
        weight, bias = self.weight, self.bias
        check_input_dtype("Linear", "input x", x, weight.dtype if weight.numel() else None)
        batch = x.shape[:-2]
        z = math.prod(batch)
        x = x.reshape(z, f_in, self.irreps_in.dim)
        ii, io = self.irreps_in, self.irreps_out
        xs = x.split([mi.dim for mi in ii], dim=2)
        outs: list[torch.Tensor | None] = [None] * len(io)
        for ir, ins, outs_idx, pieces in self._groups:
            d = ir.dim
            n_in = sum(ii[a].mul for a in ins)
            n_out = sum(io[o].mul for o in outs_idx)
            if not pieces or n_in == 0:
                continue
            wbig = weight.new_zeros(f_in, f_out, n_in, n_out)
            for _, off, r0, c0, mi, mo, alpha in pieces:
                wbig = _place(wbig, weight.narrow(-1, off, mi * mo).reshape(f_in, f_out, mi, mo) * alpha, r0, c0)
            wmat = wbig.permute(0, 2, 1, 3).reshape(f_in * n_in, f_out * n_out)
            xin = torch.cat([xs[a].reshape(z, f_in, ii[a].mul, d) for a in ins], dim=2)  # [z, f_in, n_in, d]
            res = (xin.permute(0, 3, 1, 2).reshape(z * d, f_in * n_in) @ wmat).reshape(z, d, f_out, n_out)
            for o, part in zip(outs_idx, res.split([io[o].mul for o in outs_idx], dim=3)):
                outs[o] = part.permute(0, 2, 3, 1).reshape(z, f_out, io[o].mul * d)
        return self._assemble(outs, bias, x, weight, (z, f_out)).reshape(*batch, f_out, io.dim)

    def _assemble(self, outs: list, bias: torch.Tensor | None, x: torch.Tensor, weight: torch.Tensor,
                  lead: tuple[int, ...]) -> torch.Tensor:
        """The output blocks ``[*lead, mul * dim]`` (zeros where no instruction writes) plus the biases,
        concatenated along the last axis."""
        pieces, boff = [], 0
        for o, (mul, ir) in enumerate(self.irreps_out):
            t = outs[o] if outs[o] is not None else x.new_zeros(*lead, mul * ir.dim)
            if self.biases[o]:
                if bias is not None and bias.numel():
                    t = t + bias.narrow(-1, boff, mul * ir.dim)
                boff += mul * ir.dim
            pieces.append(t)
        out = torch.cat(pieces, dim=-1) if pieces else x.new_zeros(*lead, 0)
        if not out.requires_grad and torch.is_grad_enabled():  # no path, no bias (empty irreps_in): keep on the graph
            out = out + connected_zeros(x, weight)
        return out

    def extra_repr(self) -> str:
        features = "" if self.f_in is None else f", f_in={self.f_in}, f_out={self.f_out}"
        return f"{self.irreps_in} -> {self.irreps_out} | {self.weight_numel} weights{features}"


def _place(wbig: torch.Tensor, block: torch.Tensor, r0: int, c0: int) -> torch.Tensor:
    """``wbig`` with ``block`` added at rows r0.., cols c0.. (out of place, differentiable)."""
    pad = (c0, wbig.shape[-1] - c0 - block.shape[-1], r0, wbig.shape[-2] - r0 - block.shape[-2])
    return wbig + nn.functional.pad(block, pad)

