"""``Identity``: e3nn's ``nn.Identity`` on irreps features, the input returned as it is."""

from __future__ import annotations

import torch
from torch import nn

from ...o3 import Irreps

__all__ = ["Identity"]


class Identity(nn.Module):
    """Returns its input ``[..., irreps_in.dim]``; ``irreps_in`` and ``irreps_out`` must be equal once simplified.

    As e3nn's, it holds a buffer ``output_mask`` (ones ``[dim]``) so that state dicts move between the two
    libraries. It computes nothing, so it takes any floating dtype (no dtype check).

    >>> ident = Identity("2x0e + 0e + 1o", "3x0e + 1o")
    >>> x = torch.randn(4, 6)
    >>> ident(x) is x, ident.irreps_out
    (True, 3x0e+1x1o)
    """

    def __init__(self, irreps_in: object, irreps_out: object) -> None:
        super().__init__()
        self.irreps_in = Irreps(irreps_in).simplify()
        self.irreps_out = Irreps(irreps_out).simplify()
        if self.irreps_in != self.irreps_out:
            raise ValueError(f"Identity needs equal irreps in and out, got {self.irreps_in} and {self.irreps_out}")
        self.register_buffer("output_mask", torch.ones(self.irreps_out.dim))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``features`` unchanged (after checking their size)."""
        if not isinstance(features, torch.Tensor) or features.dim() == 0 or features.shape[-1] != self.irreps_in.dim:
            got = list(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
            raise ValueError(f"Identity expected features of irreps {self.irreps_in} (last dim {self.irreps_in.dim}), "
                             f"got {got}")
        return features

    def extra_repr(self) -> str:
        return f"{self.irreps_in} -> {self.irreps_out}"
