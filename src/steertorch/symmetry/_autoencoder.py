r"""A small trainable autoencoder of shapes (point sets of fixed size) into irreps features and back.

.. math::

    \text{points} \xrightarrow{\ \texttt{encode\_points}\ } \text{signals } [C, (L+1)^2]
    \xrightarrow{\ W_\text{enc}\ } z \in \bigoplus_{l \le L} m \times (l, (-1)^l)
    \xrightarrow{\ W_\text{dec}\ } \text{signals} \xrightarrow{\ \texttt{decode\_points}\ } \text{points}

The species channels' signals (one :class:`~steertorch.o3.SphericalTensor` per species, peaks of height
:math:`|r|` at the atoms' directions) are mixed by learned equivariant linear maps into a latent of
multiplicity ``m`` per degree, and back: per degree l a matrix :math:`W_l` acts on the copies of that
irrep only (what :class:`~steertorch.o3.Linear` does; written here as one einsum over the
``[C, (L+1)^2]`` layout, which for this shape is far faster). The points come back by peak finding.
Every step commutes with O(3), so the latent transforms with :math:`D(R)` (reflections included) and
the decoded points rotate with the input. With ``m < C`` it compresses: it learns which combinations
of the species channels the shapes use (as PCA does, per irrep). Training minimises the signal
reconstruction error (:meth:`ShapeAutoencoder.loss`), which is differentiable; the peak finding is not
trained.
"""

from __future__ import annotations

import torch

from .._dtype import check_input_dtype
from ..o3 import Irreps
from ._encoding import decode_points, encode_points

__all__ = ["ShapeAutoencoder"]


class ShapeAutoencoder(torch.nn.Module):
    r"""Autoencoder of point sets with ``n_species`` species channels into the latent irreps
    ``m x 0e + m x 1o + m x 2e + ...`` up to ``lmax`` (``m = latent_multiplicity``).

    ``encode(pos, species) -> [latent_irreps.dim]`` (positions from the origin; centre them first),
    ``decode(z, counts) -> (points, species)`` with ``counts[c]`` points of species c, and
    ``forward(signals)``: the reconstruction ``[..., C, (L+1)^2]`` of signals (what :meth:`loss` compares; call
    the module, e.g. wrapped in DistributedDataParallel, to train it).

    >>> ae = ShapeAutoencoder(lmax=6, n_species=2, latent_multiplicity=2)
    >>> ae.latent_irreps
    2x0e+2x1o+2x2e+2x3o+2x4e+2x5o+2x6e
    >>> z = ae.encode(torch.tensor([[0.0, 0.0, 1.5], [1.0, 0.0, 0.0]]), torch.tensor([0, 1]))
    >>> z.shape
    torch.Size([98])
    """

    def __init__(self, lmax: int = 8, n_species: int = 1, latent_multiplicity: int = 1) -> None:
        super().__init__()
        if n_species < 1 or latent_multiplicity < 1:
            raise ValueError(f"need n_species, latent_multiplicity >= 1, got {n_species}, {latent_multiplicity}")
        self.lmax, self.n_species = lmax, n_species
        self.signal_irreps = Irreps([(n_species, (l, (-1) ** l)) for l in range(lmax + 1)])
        self.latent_irreps = Irreps([(latent_multiplicity, (l, (-1) ** l)) for l in range(lmax + 1)])
        degree = torch.cat([torch.full((2 * l + 1,), l, dtype=torch.long) for l in range(lmax + 1)])
        self.register_buffer("degree", degree, persistent=False)
        self.w_enc = torch.nn.Parameter(torch.randn(lmax + 1, latent_multiplicity, n_species) / n_species**0.5)
        self.w_dec = torch.nn.Parameter(torch.randn(lmax + 1, n_species, latent_multiplicity)
                                        / latent_multiplicity**0.5)

    def _mix(self, w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``[..., C_in, (L+1)^2]`` -> ``[..., C_out, (L+1)^2]``: per degree l, ``W_l`` mixes the copies."""
        return torch.einsum("dij,...jd->...id", w[self.degree], x)

    def _to_irreps(self, x: torch.Tensor) -> torch.Tensor:
        """``[..., m, (L+1)^2]`` -> mul_ir layout ``[..., dim]`` (per degree: m blocks of 2l + 1)."""
        return torch.cat([x[..., l * l:(l + 1) ** 2].flatten(-2) for l in range(self.lmax + 1)], dim=-1)

    def _from_irreps(self, z: torch.Tensor) -> torch.Tensor:
        m = self.latent_irreps[0].mul
        return torch.cat([z[..., sl].unflatten(-1, (m, 2 * l + 1)) for l, sl in enumerate(self.latent_irreps.slices())],
                         dim=-1)

    def _check(self, what: str, t: torch.Tensor) -> None:
        check_input_dtype("ShapeAutoencoder", what, t, self.w_enc.dtype)

    def signals(self, pos: torch.Tensor, species: torch.Tensor | None = None) -> torch.Tensor:
        """The input signals ``[C, (L+1)^2]`` of a shape (:func:`encode_points`)."""
        return encode_points(pos, species, lmax=self.lmax, n_species=self.n_species)

    def encode(self, pos: torch.Tensor, species: torch.Tensor | None = None) -> torch.Tensor:
        """Latent ``[latent_irreps.dim]`` of one shape (``pos`` in the module's dtype)."""
        self._check("pos", torch.as_tensor(pos))
        return self._to_irreps(self._mix(self.w_enc, self.signals(pos, species)))

    def decode_signals(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstructed signals ``[..., C, (L+1)^2]`` from latents ``[..., dim]``."""
        if not isinstance(z, torch.Tensor) or z.dim() < 1 or z.shape[-1] != self.latent_irreps.dim:
            shape = list(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise ValueError(f"ShapeAutoencoder: expected latents [..., {self.latent_irreps.dim}] "
                             f"({self.latent_irreps}), got {shape}")
        self._check("latent z", z)
        return self._mix(self.w_dec, self._from_irreps(z))

    def decode(self, z: torch.Tensor, counts: list[int], res: int | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Points and species of one latent (:func:`decode_points` on the reconstructed signals)."""
        return decode_points(self.decode_signals(z).detach(), counts, self.lmax, res)

    def forward(self, signals: torch.Tensor) -> torch.Tensor:
        """The reconstruction ``[..., C, (L+1)^2]`` of signals ``[..., C, (L+1)^2]`` (encode, then decode)."""
        shape = (self.n_species, (self.lmax + 1) ** 2)
        if not isinstance(signals, torch.Tensor) or signals.dim() < 2 or tuple(signals.shape[-2:]) != shape:
            got = list(signals.shape) if isinstance(signals, torch.Tensor) else type(signals).__name__
            raise ValueError(f"ShapeAutoencoder: expected signals [..., {shape[0]}, {shape[1]}] (n_species, "
                             f"(lmax+1)^2), got {got}")
        self._check("signals", signals)
        return self._mix(self.w_dec, self._mix(self.w_enc, signals))

    def loss(self, signals: torch.Tensor) -> torch.Tensor:
        """Mean squared reconstruction error of signals ``[..., C, (L+1)^2]`` (the training objective)."""
        return (self(signals) - signals).pow(2).mean()
