r"""Equivariant batch (or instance) normalisation of irreps features (e3nn's ``nn.BatchNorm``).

For a block ``mul x ir`` with copies :math:`x_{n u k}` (n over the batch and any middle
dimensions, u the copy, k the 2l+1 components):

- 0e copies are centred: :math:`x \leftarrow x - \mu_u`, :math:`\mu_u = \langle x_{nu} \rangle_n`;
  other irreps are not (a mean of a non-trivial irrep is not invariant);
- every copy is divided by :math:`\sqrt{\sigma^2_u + \epsilon}` with the invariant
  :math:`\sigma^2_u = \langle \tfrac{1}{2l+1}\|x_{nu}\|^2 \rangle_n` (``"component"``) or
  :math:`\langle \|x_{nu}\|^2 \rangle_n` (``"norm"``); ``reduce="max"`` takes the max over the
  middle dimensions before the batch mean;
- ``affine``: times a weight per copy, plus a bias per 0e copy.

Training uses the batch statistics and updates the running ones,
:math:`r \leftarrow (1 - m)\, r + m\, s`; eval uses the running ones. ``instance=True``
normalises each sample over its middle dimensions and keeps no running statistics.
Everything applied to a copy is a scalar, so the layer commutes with every O(3) element.
"""

from __future__ import annotations

import torch
from torch import nn

from ..._dtype import check_input_dtype, module_dtype
from ...o3 import Irreps
from ...o3._empty import connected_zeros, register_weight

__all__ = ["BatchNorm"]


class BatchNorm(nn.Module):
    r"""Batch normalisation for irreps features ``[batch, ..., irreps.dim]``.

    Args:
        irreps: irreps of the features.
        eps: added to the variance.
        momentum: of the running statistics.
        affine: learn ``weight`` ``[num_irreps]`` (ones) and ``bias`` ``[num 0e copies]`` (zeros).
        reduce: ``"mean"`` or ``"max"`` over the middle dimensions.
        instance: instance normalisation (statistics per sample, no running statistics).
        include_bias: with ``affine``, learn the bias of the 0e copies (default True).
        normalization: ``"component"`` or ``"norm"``.

    Buffers ``running_mean`` ``[num 0e copies]`` and ``running_var`` ``[num_irreps]``; names,
    shapes and values as e3nn, so state dicts carry over.

    >>> bn = BatchNorm("4x0e + 2x1o")
    >>> y = bn(torch.randn(32, 10) * 3 + 1)
    >>> bool(y[:, :4].mean(0).abs().max() < 1e-5), bn.running_var.shape
    (True, torch.Size([6]))
    """

    def __init__(self, irreps: object, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True,
                 reduce: str = "mean", instance: bool = False, include_bias: bool = True,
                 normalization: str = "component") -> None:
        super().__init__()
        self.irreps = Irreps(irreps)
        if reduce not in ("mean", "max"):
            raise ValueError(f"reduce must be 'mean' or 'max', got {reduce!r}")
        if normalization not in ("component", "norm"):
            raise ValueError(f"normalization must be 'component' or 'norm', got {normalization!r}")
        if not eps >= 0:
            raise ValueError(f"eps must be >= 0, got {eps!r}")
        if not 0 <= momentum <= 1:
            raise ValueError(f"momentum must be in [0, 1], got {momentum!r}")
        self.eps, self.momentum, self.affine = float(eps), float(momentum), affine
        self.reduce, self.instance, self.normalization = reduce, instance, normalization
        self.include_bias = include_bias
        num_scalar = sum(mul for mul, ir in self.irreps if ir.is_scalar())
        num_features = self.irreps.num_irreps
        if instance:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
        else:
            self.register_buffer("running_mean", torch.zeros(num_scalar))
            self.register_buffer("running_var", torch.ones(num_features))
        if affine:  # zero-size (no scalars, empty irreps): buffers, as e3nn's state dict keys are kept
            register_weight(self, "weight", torch.ones(num_features))
            if include_bias:
                register_weight(self, "bias", torch.zeros(num_scalar))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        # per block: (mul, 2l+1, is 0e, offset in features, offset in copies, offset in 0e copies)
        self._blocks = []
        ix = iv = im = 0
        for mul, ir in self.irreps:
            self._blocks.append((mul, ir.dim, ir.is_scalar(), ix, iv, im))
            ix += mul * ir.dim
            iv += mul
            im += mul if ir.is_scalar() else 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[batch, ..., irreps.dim]`` -> same shape."""
        if x.dim() < 2 or x.shape[-1] != self.irreps.dim:
            raise ValueError(f"BatchNorm: expected features [batch, ..., {self.irreps.dim}] of irreps {self.irreps}, "
                             f"got shape {list(x.shape)}")
        check_input_dtype("BatchNorm", "input x", x, module_dtype(self))
        shape = x.shape
        if x.numel() == 0:  # no statistics to take or update: the empty output, on the graph of the parameters
            return x + connected_zeros(self.weight, self.bias)
        batch = shape[0]
        x = x.reshape(batch, -1, shape[-1])  # [batch, sample, dim]
        use_batch_stats = self.training or self.instance
        update = self.training and not self.instance
        new_means, new_vars, fields = [], [], []
        for mul, d, is_scalar, ix, iv, im in self._blocks:
            field = x.narrow(-1, ix, mul * d).reshape(batch, -1, mul, d)
            if is_scalar:
                if use_batch_stats:
                    mean = field.mean(1).reshape(batch, mul) if self.instance else field.mean((0, 1)).reshape(mul)
                    if update:
                        new_means.append(mean.detach())
                else:
                    mean = self.running_mean.narrow(0, im, mul)
                field = field - mean.reshape(-1, 1, mul, 1)
            if use_batch_stats:
                sq = field.pow(2)
                var = sq.sum(3) if self.normalization == "norm" else sq.mean(3)  # [batch, sample, mul]
                var = var.mean(1) if self.reduce == "mean" else var.max(1).values  # [batch, mul]
                if not self.instance:
                    var = var.mean(0)  # [mul]
                    new_vars.append(var.detach())
            else:
                var = self.running_var.narrow(0, iv, mul)
            scale = (var + self.eps).pow(-0.5)
            if self.affine:
                scale = scale * self.weight.narrow(0, iv, mul)
            field = field * scale.reshape(-1, 1, mul, 1)
            if self.affine and self.include_bias and is_scalar:
                field = field + self.bias.narrow(0, im, mul).reshape(mul, 1)
            fields.append(field.reshape(batch, -1, mul * d))
        if update:
            with torch.no_grad():
                m = self.momentum
                if new_means:
                    self.running_mean.mul_(1 - m).add_(torch.cat(new_means).to(self.running_mean.dtype), alpha=m)
                if new_vars:
                    self.running_var.mul_(1 - m).add_(torch.cat(new_vars).to(self.running_var.dtype), alpha=m)
        out = torch.cat(fields, dim=2) if len(fields) != 1 else fields[0]
        if not fields:
            out = x
        return out.reshape(shape)

    def extra_repr(self) -> str:
        return f"{self.irreps}, eps={self.eps}, momentum={self.momentum}, instance={self.instance}"
