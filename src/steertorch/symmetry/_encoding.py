r"""Point sets as signals on the sphere and back (geometry <-> irreps features).

Encoding: the atoms of each species, as vectors :math:`r_a` from the origin, become one
:class:`~steertorch.o3.SphericalTensor` signal per species channel with a peak of height
:math:`|r_a|` at each direction :math:`\hat r_a` (:meth:`~steertorch.o3.SphericalTensor.with_peaks_at`):
the radius is the peak's value. The coefficients ``[n_species, (L+1)^2]`` are irreps
``0e + 1o + 2e + ...`` and rotate with Wigner D (exactly, reflections included).

Decoding: per channel, the ``counts[c]`` highest local maxima on an :func:`~steertorch.o3.s2_grid`
(:meth:`~steertorch.o3.SphericalTensor.find_peaks`), each refined by projected gradient ascent on the
sphere; the point is the refined direction times the signal's value there. Exact for one point per
channel; with several, neighbouring peaks shift each other (less for larger ``lmax``), and two atoms
of a species in the same direction cannot be told apart.
"""

from __future__ import annotations

import torch

from ..o3 import SphericalTensor
from ._validation import check_structure

__all__ = ["encode_points", "decode_points"]


def encode_points(pos: torch.Tensor, species: torch.Tensor | None = None, lmax: int = 8,
                  n_species: int | None = None) -> torch.Tensor:
    r"""Signals ``[n_species, (lmax+1)^2]`` (dtype of ``pos``, float64 if it is not floating) with a peak of
    height :math:`|r_a|` at :math:`\hat r_a` for each atom a of each species channel ``0 .. n_species - 1``
    (species are channel indices; default one channel). Positions are taken from the origin.

    >>> x = encode_points(torch.tensor([[0.0, 0.0, 2.0], [1.0, 0.0, 0.0]]), torch.tensor([0, 1]), lmax=6)
    >>> x.shape, decode_points(x, [1, 1], lmax=6)[0].round(decimals=6) + 0.0
    (torch.Size([2, 49]), tensor([[0., 0., 2.],
            [1., 0., 0.]]))
    """
    _, s = check_structure(pos, species)
    pos = torch.as_tensor(pos)
    dtype = pos.dtype if pos.is_floating_point() else torch.float64
    pos = pos.to(dtype)
    n = int(s.max()) + 1 if n_species is None else n_species
    if s.min() < 0 or s.max() >= n:
        raise ValueError(f"species must be channel indices 0 <= s < n_species = {n}, got {s.min()}..{s.max()}")
    st = SphericalTensor(lmax, 1, -1)
    return torch.stack([st.with_peaks_at(pos[s == c]) for c in range(n)])


def _refine(st: SphericalTensor, signal: torch.Tensor, u: torch.Tensor, steps: int = 40) -> torch.Tensor:
    """Projected gradient ascent of the signal from the directions ``u [P, 3]`` (step scaled by 1 / L^2)."""
    step = 1.0 / (st.lmax * (st.lmax + 1) + 1)
    u = u.detach().clone()
    for _ in range(steps):
        u.requires_grad_(True)
        f = st.signal_xyz(signal, u)
        (g,) = torch.autograd.grad(f.sum(), u)
        with torch.no_grad():
            g = g - (g * u).sum(-1, keepdim=True) * u
            u = u + step * g / f.abs().clamp_min(1e-12)[:, None]
            u = u / u.norm(dim=-1, keepdim=True)
    return u.detach()


def decode_points(signals: torch.Tensor, counts: list[int], lmax: int, res: int | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Points ``[sum(counts), 3]`` and their channels ``[sum(counts)]`` from signals ``[n_channels, (lmax+1)^2]``
    (see the module docstring): the ``counts[c]`` highest peaks of channel c, refined, scaled by the
    signal's value. The peak search uses the grid of band limit ``res`` (default ``2 lmax + 4``).
    """
    st = SphericalTensor(lmax, 1, -1)
    res = 2 * lmax + 4 if res is None else res
    if not isinstance(signals, torch.Tensor) or signals.dim() != 2 or signals.shape[1] != st.dim:
        shape = list(signals.shape) if isinstance(signals, torch.Tensor) else type(signals).__name__
        raise ValueError(f"signals must be [n_channels, {st.dim}] for lmax={lmax}, got {shape}")
    if len(counts) != signals.shape[0] or any(int(c) < 0 for c in counts):
        raise ValueError(f"counts must give a number >= 0 of points for each of the {signals.shape[0]} channels, "
                         f"got {counts!r}")
    points, channels = [], []
    for c, (signal, k) in enumerate(zip(signals, counts)):
        if k == 0:
            continue
        with torch.enable_grad():
            peaks = st.find_peaks(signal.detach(), res=res)
            if len(peaks.values) < k:
                raise ValueError(f"channel {c}: found {len(peaks.values)} peaks, {k} asked")
            u = _refine(st, signal.detach(), peaks.directions[:k].to(signal.dtype))
        points.append(u * st.signal_xyz(signal.detach(), u)[:, None])
        channels.append(torch.full((k,), c, dtype=torch.long, device=signals.device))
    if not points:
        return signals.new_zeros(0, 3), torch.zeros(0, dtype=torch.long, device=signals.device)
    return torch.cat(points), torch.cat(channels)
