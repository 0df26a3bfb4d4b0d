r"""``SphericalHarmonics``: :func:`~steertorch.o3.spherical_harmonics` as a module, with e3nn's signature.

The module fixes the degrees, the normalisations and the irreps: ``irreps_in`` is the vector
``1x1o`` or the pseudovector ``1x1e``, ``irreps_out`` the harmonics' irreps, with parity
:math:`p_{in}^l` (``"2x1o"`` asks for :math:`Y^1` twice, as e3nn).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..group._spherical_harmonics import _irreps_degrees, input_parity, parse_degrees, spherical_harmonics
from ._irreps import Irreps

__all__ = ["SphericalHarmonics"]


class SphericalHarmonics(nn.Module):
    r"""Real spherical harmonics :math:`Y^l(x)` of points ``x`` ``[..., 3]``, as e3nn's module.

    Args:
        irreps_out: a degree, a list of degrees, or irreps (``"0e + 1o + 2e"``, ``"2x1o"``).
        normalize: project ``x`` on the unit sphere first (see :func:`~steertorch.o3.spherical_harmonics`).
        normalization: ``"integral"`` (default), ``"component"`` or ``"norm"``.
        irreps_in: ``"1x1o"`` (a vector, default) or ``"1x1e"`` (a pseudovector; the default when
            ``irreps_out`` has an odd degree of even parity). The output parities must be :math:`p_{in}^l`.

    ``irreps_out`` is the simplified irreps of the output, e.g. ``1x0e+2x1o`` for ``[0, 1, 1]``.

    >>> sh = SphericalHarmonics("0e + 2x1o", normalize=True, normalization="norm")
    >>> sh.irreps_in, sh.irreps_out, sh(torch.tensor([[0.0, 0.0, 2.0]]))
    (1x1o, 1x0e+2x1o, tensor([[1., 0., 0., 1., 0., 0., 1.]]))
    """

    def __init__(self, irreps_out: int | Sequence[int] | str | Irreps, normalize: bool,
                 normalization: str = "integral", irreps_in: object = None) -> None:
        super().__init__()
        if isinstance(irreps_out, str):
            irreps_out = Irreps(irreps_out)
        if irreps_in is None:
            irreps_in = Irreps("1e" if isinstance(irreps_out, Irreps) and input_parity(irreps_out) == 1 else "1o")
        irreps_in = Irreps(irreps_in)
        if irreps_in not in (Irreps("1x1o"), Irreps("1x1e")):
            raise ValueError(f"irreps_in of SphericalHarmonics is a vector (1x1o) or a pseudovector (1x1e), "
                             f"got {irreps_in}")
        p_in = irreps_in[0].ir.p
        ls = _irreps_degrees(irreps_out, p_in) if isinstance(irreps_out, Irreps) else parse_degrees(irreps_out)
        if not ls:
            raise ValueError(f"SphericalHarmonics needs at least one degree, got {irreps_out!r}")
        if normalization not in ("integral", "component", "norm"):
            raise ValueError(f"normalization must be 'integral', 'component' or 'norm', got {normalization!r}")
        self.irreps_in = irreps_in
        self.irreps_out = Irreps([(1, (l, p_in**l)) for l in ls]).simplify()
        self.normalize = bool(normalize)
        self.normalization = normalization
        self._ls = ls

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Harmonics ``[..., irreps_out.dim]`` of ``x`` ``[..., 3]``."""
        if not isinstance(x, torch.Tensor) or x.dim() == 0 or x.shape[-1] != 3:
            raise ValueError(f"SphericalHarmonics expected points of irreps {self.irreps_in} ([..., 3]), got "
                             f"{list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
        return spherical_harmonics(self._ls, x, self.normalize, self.normalization)

    def extra_repr(self) -> str:
        return (f"{self.irreps_in} -> {self.irreps_out}, normalize={self.normalize}, "
                f"normalization={self.normalization!r}")
