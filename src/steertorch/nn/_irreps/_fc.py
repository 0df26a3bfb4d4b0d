r"""Fully connected network on scalars (e3nn's ``nn.FullyConnectedNet``): e.g. the radial MLP that turns
distance embeddings into tensor-product weights.

Layer :math:`i` (weights :math:`W_i` ``[h_i, h_{i+1}]``, standard normal at init, no bias):

.. math::

    x \mapsto \phi\Big(\frac{x W_i}{\sqrt{h_i\, v_{\mathrm{in}}}}\Big) \sqrt{v_{\mathrm{out}}}
    \quad\text{(hidden layers, and the last one if out_act)}, \qquad
    x \mapsto \frac{x W_i}{\sqrt{h_i\, v_{\mathrm{in}} / v_{\mathrm{out}}}} \quad\text{(last layer)},

with :math:`\phi` normalised by :class:`~steertorch.math.normalize2mom`, :math:`v_{\mathrm{in}}`
= ``variance_in`` for the first layer and 1 after, :math:`v_{\mathrm{out}}` = ``variance_out``
for the last layer and 1 before: inputs of second moment ``variance_in`` give outputs of second
moment about ``variance_out`` at init.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ..._dtype import check_input_dtype, module_dtype
from ...math import normalize2mom
from ...o3._empty import register_weight

__all__ = ["FullyConnectedNet"]


class FullyConnectedNet(nn.Module):
    r"""MLP with sizes ``hs`` (input, hidden..., output) and activation ``act``.

    Parameters ``w0, w1, ...`` of shape ``[h_i, h_{i+1}]`` (e3nn's layout; e3nn's state dicts,
    keyed ``layer{i}.weight``, load directly).

    >>> fc = FullyConnectedNet([8, 64, 64, 3], torch.nn.functional.silu)
    >>> fc(torch.randn(10, 8)).shape, fc.w1.shape
    (torch.Size([10, 3]), torch.Size([64, 64]))
    """

    def __init__(self, hs: Sequence[int], act: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 variance_in: float = 1, variance_out: float = 1, out_act: bool = False) -> None:
        super().__init__()
        hs = list(hs)
        if not hs or any(isinstance(h, bool) or not isinstance(h, int) or h < 0 for h in hs):
            raise ValueError(f"hs must be a non-empty list of int sizes >= 0, got {hs!r}")
        self.hs = hs
        if not (variance_in > 0 and variance_out > 0):
            raise ValueError(f"variances must be > 0, got variance_in={variance_in!r}, variance_out={variance_out!r}")
        self.act = normalize2mom(act) if act is not None else None
        self.variance_in, self.variance_out, self.out_act = variance_in, variance_out, out_act
        self._layers: list[tuple[float, float, bool]] = []  # (weight divisor, output scale, apply act)
        n = len(self.hs) - 1
        var_in = variance_in
        for i, (h1, h2) in enumerate(zip(self.hs, self.hs[1:])):
            last = i == n - 1
            var_out = variance_out if last else 1
            use_act = self.act is not None and (out_act or not last)
            register_weight(self, f"w{i}", torch.randn(h1, h2))  # a buffer if zero-size
            if use_act:
                self._layers.append(((h1 * var_in) ** 0.5, var_out**0.5, True))
            else:
                self._layers.append(((h1 * var_in / var_out) ** 0.5, 1.0, False))
            var_in = var_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[..., hs[0]]`` -> ``[..., hs[-1]]``."""
        if x.shape[-1] != self.hs[0]:
            raise ValueError(f"FullyConnectedNet{self.hs}: expected input [..., {self.hs[0]}], got shape "
                             f"{list(x.shape)}")
        check_input_dtype("FullyConnectedNet", "input x", x, module_dtype(self))
        for i, (divisor, scale_out, use_act) in enumerate(self._layers):
            w = getattr(self, f"w{i}")
            x = x @ (w / divisor)
            if use_act:
                x = self.act(x)
                if scale_out != 1.0:
                    x = x * scale_out
        return x

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        for i in range(len(self.hs) - 1):  # accept e3nn's keys
            old = f"{prefix}layer{i}.weight"
            if old in state_dict and f"{prefix}w{i}" not in state_dict:
                state_dict[f"{prefix}w{i}"] = state_dict.pop(old)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def extra_repr(self) -> str:
        act = None if self.act is None else getattr(self.act.f, "__name__", type(self.act.f).__name__)
        return f"hs={self.hs}, act={act}"
