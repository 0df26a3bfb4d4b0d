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

from ..o3 import Irreps
from ._encoding import decode_points, encode_points

__all__ = ["ShapeAutoencoder"]


class ShapeAutoencoder(torch.nn.Module):
    r"""Autoencoder of point sets with ``n_species`` species channels into the latent irreps
    ``m x 0e + m x 1o + m x 2e + ...`` up to ``lmax`` (``m = latent_multiplicity``).

    ``encode(pos, species) -> [latent_irreps.dim]`` (positions from the origin; centre them first),
    ``decode(z, counts) -> (points, species)`` with ``counts[c]`` points of species c.

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

    def signals(self, pos: torch.Tensor, species: torch.Tensor | None = None) -> torch.Tensor:
        """The input signals ``[C, (L+1)^2]`` of a shape (:func:`encode_points`)."""
        return encode_points(pos, species, lmax=self.lmax, n_species=self.n_species)

    def encode(self, pos: torch.Tensor, species: torch.Tensor | None = None) -> torch.Tensor:
        """Latent ``[latent_irreps.dim]`` of one shape."""
        return self._to_irreps(self._mix(self.w_enc, self.signals(pos, species).to(self.w_enc.dtype)))

    def decode_signals(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstructed signals ``[..., C, (L+1)^2]`` from latents ``[..., dim]``."""
        return self._mix(self.w_dec, self._from_irreps(z))

    def decode(self, z: torch.Tensor, counts: list[int], res: int | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Points and species of one latent (:func:`decode_points` on the reconstructed signals)."""
        return decode_points(self.decode_signals(z).detach(), counts, self.lmax, res)

    def loss(self, signals: torch.Tensor) -> torch.Tensor:
        """Mean squared reconstruction error of signals ``[..., C, (L+1)^2]`` (the training objective)."""
        return (self._mix(self.w_dec, self._mix(self.w_enc, signals)) - signals).pow(2).mean()
