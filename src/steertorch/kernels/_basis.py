r"""Steerable kernel bases: all kernels :math:`k: \mathbb{R}^d \to \mathbb{R}^{c_{out} \times c_{in}}` with

.. math::  k(M(g)\,x) = \rho_{out}(g)\, k(x)\, \rho_{in}(g)^{-1} \qquad \forall g \in G,

for any group :math:`G \le O(d)` of a :class:`~steertorch.gspaces.GSpace` (d = 2, 3), built by one construction
for every group (Cesa, Lang, Weiler, ICLR 2022): Gaussian rings (shells) times band-limited angular harmonics
restricted to G, combined with G's Clebsch-Gordan coefficients (Wigner-Eckart theorem).

For irreps :math:`\psi_{in}, \psi_{out}`, every harmonic copy :math:`y_c` of frequency J transforming by the
G-irrep :math:`\psi_j` (see :func:`~steertorch.kernels.restricted_harmonics`) gives the basis kernels

.. math::  k_{r,J,c,k,e}(x) = \frac{1}{\sqrt{d_j}}\, e^{-(|x| - r)^2 / 2\sigma^2}\,
           \sum_{n} C_k[o, i, n]\, \big(E_e\, y_c(\hat x)\big)_n,

with :math:`C_k` the Clebsch-Gordan coefficients of :math:`\psi_j` in :math:`\psi_{out} \otimes \psi_{in}`
(``G.clebsch_gordan(out, in, j)``) and :math:`E_e` the endomorphism basis of :math:`\psi_j` (2 matrices for
complex-type irreps such as the SO(2) / C_N frequencies k >= 1). These span all equivariant kernels whose
angular part has frequency at most :math:`J_{max}(r)` on each ring. General representations
:math:`\rho = Q (\bigoplus \psi) Q^\top` are handled block by block and rotated with their change of basis.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import torch

from ..group import Representation
from ..group._group import float64_default
from ..gspaces import GSpace
from ._harmonic import harmonic_size, harmonics, restricted_harmonics

__all__ = ["KernelBasis", "kernel_basis", "default_rings", "frequency_cutoff"]

_ZERO_RADIUS = 1e-9


def default_rings(kernel_size: int, dilation: int = 1) -> tuple[list[float], float]:
    r"""Rings (radii, sigma) for a ``kernel_size`` grid: radii ``0, 1, ..., (k - 1) // 2`` times the dilation and
    sigma 0.6 times the dilation (as escnn).

    >>> default_rings(5)
    ([0.0, 1.0, 2.0], 0.6)
    """
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1:
        raise ValueError(f"kernel_size must be an int >= 1, got {kernel_size!r}")
    radii = [float(i * dilation) for i in range((kernel_size - 1) // 2 + 1)]
    return radii, 0.6 * dilation


def frequency_cutoff(radius: float, factor: float = 2.0, maximum_frequency: int | None = None) -> int:
    r"""The default band limit of a ring: :math:`J_{max}(r) = \lfloor \text{factor}\cdot r \rfloor` (0 at r = 0),
    at most ``maximum_frequency``. A ring of radius r (in grid units) crosses about :math:`2\pi r` grid cells, so
    factor 2 keeps the harmonics well below the Nyquist frequency :math:`\pi r` (no aliasing on the grid).

    >>> [frequency_cutoff(r) for r in (0.0, 1.0, 1.5, 2.0)]
    [0, 2, 3, 4]
    """
    if radius <= _ZERO_RADIUS:
        return 0
    j = int(math.floor(factor * radius + 1e-9))
    return j if maximum_frequency is None else min(j, maximum_frequency)


class KernelBasis:
    r"""A basis of the G-steerable kernels :math:`k: \mathbb{R}^d \to \mathbb{R}^{out \times in}` (see module doc).

    Attributes:
        dim: number of basis kernels.
        in_size, out_size: sizes of the input / output representations.
        attributes: one dict per basis kernel: ``radius``, ``sigma``, ``frequency`` (J), ``harmonic`` (G irrep
            label of the harmonic copy), ``in_irrep`` / ``out_irrep`` (labels), ``in_index`` / ``out_index``
            (position of the irrep in the representation's irreps), ``cg`` (copy k), ``endomorphism`` (e).

    Normalisation: on its ring (:math:`|x| = r`, where the Gaussian is 1) every basis kernel has mean squared
    Frobenius norm 1 over the directions, :math:`\mathbb{E}_{\hat x}\, \|k(r\hat x)\|_F^2 = 1`.

    Build one basis per pair of field representations (cached) and assemble a convolution's kernel from them:
    the coefficients are stored densely, ``[n_angular, out * in, n_harmonics]``, so one basis for a whole
    multi-field type grows as the square of its size.

    ``sample(points)`` evaluates all basis kernels at points ``[P, d]`` and returns ``[dim, out, in, P]`` in
    the points' dtype and device; it is differentiable in the points (gradients are finite at x = 0, where
    the angular parts of frequency >= 1 vanish).

    >>> from steertorch.gspaces import rot2dOnR2
    >>> from steertorch.kernels import kernel_basis, grid_points
    >>> gs = rot2dOnR2(8)
    >>> basis = kernel_basis(gs, gs.regular_repr, gs.regular_repr, radii=[0.0, 1.0, 2.0], sigma=0.6)
    >>> basis.sample(grid_points(5, 2)).shape[1:]
    torch.Size([8, 8, 25])
    """

    def __init__(self, gspace: GSpace, in_repr: Representation, out_repr: Representation,
                 radii: Sequence[float], sigma: float | Sequence[float],
                 cutoff: Callable[[float], int]) -> None:
        self.gspace = gspace
        self.in_repr = in_repr
        self.out_repr = out_repr
        self.in_size = in_repr.size
        self.out_size = out_repr.size
        self.dimensionality = gspace.dimensionality
        radii = [float(r) for r in radii]
        sigmas = [float(sigma)] * len(radii) if isinstance(sigma, (int, float)) else [float(s) for s in sigma]
        if not radii:
            raise ValueError("radii must list at least one ring radius, got an empty list")
        if len(sigmas) != len(radii):
            raise ValueError(f"sigma must be a number or one per ring ({len(radii)}), got {len(sigmas)}")
        if any(r < 0 or not math.isfinite(r) for r in radii):
            raise ValueError(f"ring radii must be finite and >= 0, got {radii}")
        if any(s <= 0 or not math.isfinite(s) for s in sigmas):
            raise ValueError(f"sigma must be finite and > 0, got {sigmas}")
        jmaxs = []
        for r in radii:
            j = 0 if r <= _ZERO_RADIUS else int(cutoff(r))
            if j < 0:
                raise ValueError(f"the frequency cutoff gave {j} < 0 for the ring of radius {r}")
            jmaxs.append(j)
        self.radii, self.sigmas, self.max_frequencies = radii, sigmas, jmaxs
        self.jmax = max(jmaxs)

        coeffs, ang_attrs = _angular_basis(gspace, in_repr, out_repr, self.jmax)
        # coeffs [n_ang, out * in, H] float64; ang_attrs[i]["frequency"] = J
        ring_idx, ang_idx, attrs = [], [], []
        for ri, (r, s, jm) in enumerate(zip(radii, sigmas, jmaxs)):
            for ai, a in enumerate(ang_attrs):
                if a["frequency"] <= jm:
                    ring_idx.append(ri)
                    ang_idx.append(ai)
                    attrs.append({"radius": r, "sigma": s, **a})
        self.dim = len(attrs)
        self.attributes = attrs
        self._coeffs = coeffs
        self._ring_idx = torch.tensor(ring_idx, dtype=torch.long)
        self._ang_idx = torch.tensor(ang_idx, dtype=torch.long)
        self._radii = torch.tensor(radii, dtype=torch.float64)
        self._inv_two_var = torch.tensor([1.0 / (2 * s * s) for s in sigmas], dtype=torch.float64)
        self._constants: dict = {}

    def __len__(self) -> int:
        return self.dim

    def __repr__(self) -> str:
        return (f"KernelBasis({self.gspace.name}: {self.in_repr.name} -> {self.out_repr.name}, dim={self.dim}, "
                f"radii={self.radii}, max_frequencies={self.max_frequencies})")

    def _tensors(self, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, ...]:
        key = (dtype, str(device))
        if key not in self._constants:
            self._constants[key] = tuple(
                t.to(device=device, dtype=dtype if t.is_floating_point() else t.dtype)
                for t in (self._coeffs, self._ring_idx, self._ang_idx, self._radii, self._inv_two_var)
            )
        return self._constants[key]

    def sample(self, points: torch.Tensor) -> torch.Tensor:
        """The basis kernels at ``points`` ``[P, d]``: ``[dim, out_size, in_size, P]``."""
        d = self.dimensionality
        if not isinstance(points, torch.Tensor) or points.dim() != 2 or points.shape[1] != d:
            raise ValueError(f"points must be a tensor [P, {d}], got "
                             f"{list(points.shape) if isinstance(points, torch.Tensor) else type(points).__name__}")
        if not points.is_floating_point():
            points = points.to(torch.get_default_dtype())
        coeffs, ring_idx, ang_idx, radii, inv_two_var = self._tensors(points.dtype, points.device)
        n_pts = points.shape[0]
        if self.dim == 0:
            return points.new_zeros(0, self.out_size, self.in_size, n_pts)
        r2 = (points * points).sum(-1)
        nonzero = r2 > _ZERO_RADIUS**2
        r = torch.where(nonzero, r2, torch.ones_like(r2)).sqrt()
        unit = torch.where(nonzero[:, None], points / r[:, None], torch.zeros_like(points))
        r = torch.where(nonzero, r, torch.zeros_like(r))
        y = harmonics(d, self.jmax, unit)  # [P, H]
        ang = (coeffs.reshape(-1, coeffs.shape[-1]) @ y.T).reshape(coeffs.shape[0], -1, n_pts)  # [n_ang, oi, P]
        # (|x| - r_i)^2 written with |x|^2 so the ring at r = 0 is smooth at the origin
        dist2 = r2[None, :] - 2 * radii[:, None] * r[None, :] + (radii * radii)[:, None]
        radial = torch.exp(-dist2 * inv_two_var[:, None])  # [rings, P]
        out = ang.index_select(0, ang_idx) * radial.index_select(0, ring_idx)[:, None, :]
        return out.reshape(self.dim, self.out_size, self.in_size, n_pts)


def _angular_basis(gspace: GSpace, in_repr: Representation, out_repr: Representation,
                   jmax: int) -> tuple[torch.Tensor, list[dict]]:
    """Coefficients ``[n_ang, out * in, H]`` (float64) of the angular basis kernels on the harmonics of
    frequencies 0..jmax, and their attributes."""
    return _angular_basis_cached(gspace, in_repr, out_repr, jmax)


@functools.cache
def _angular_basis_cached(gspace: GSpace, in_repr: Representation, out_repr: Representation, jmax: int):
    d = gspace.dimensionality
    group = gspace.fibergroup
    with float64_default():
        # the harmonic copies: (J, irrep label, columns [H_total, d_j] selecting y_c from the harmonics)
        offsets, total = [], 0
        for j in range(jmax + 1):
            offsets.append(total)
            total += harmonic_size(d, j)
        copies = []
        for j in range(jmax + 1):
            irreps, q = restricted_harmonics(gspace, j)
            col = 0
            for psi in irreps:
                sel = torch.zeros(total, psi.size, dtype=torch.float64)
                sel[offsets[j]:offsets[j] + harmonic_size(d, j)] = q[:, col:col + psi.size]
                copies.append((j, psi, sel))
                col += psi.size
        # basis kernels in the irrep bases of in / out, each block computed once per (out, in, harmonic copy)
        in_blocks, out_blocks = _blocks(in_repr), _blocks(out_repr)
        block_cache: dict = {}
        pieces, attrs = [], []
        for c, (j, psi, sel) in enumerate(copies):
            for bo, (po, so) in enumerate(out_blocks):
                for bi, (pi, si) in enumerate(in_blocks):
                    key = (po.label, pi.label, c)
                    if key not in block_cache:
                        block_cache[key] = _block(group, po, pi, psi, sel)
                    blk = block_cache[key]  # [m * E, do, di, H]
                    if blk is None:
                        continue
                    pieces.append((so, si, blk))
                    n_endo = psi.endomorphism_dim
                    for t in range(blk.shape[0]):
                        attrs.append({"frequency": j, "harmonic": psi.label, "out_irrep": po.label,
                                      "in_irrep": pi.label, "out_index": bo, "in_index": bi, "cg": t // n_endo,
                                      "endomorphism": t % n_endo})
        coeffs = torch.zeros(len(attrs), out_repr.size, in_repr.size, total, dtype=torch.float64)
        row = 0
        for so, si, blk in pieces:
            coeffs[row:row + blk.shape[0], so, si] = blk
            row += blk.shape[0]
        # rotate to the representations' bases: Q_out K Q_in^T
        if out_repr.change_of_basis is not None or in_repr.change_of_basis is not None:
            k = coeffs.permute(0, 3, 1, 2)
            if out_repr.change_of_basis is not None:
                k = out_repr.change_of_basis.to(torch.float64) @ k
            if in_repr.change_of_basis is not None:
                k = k @ in_repr.change_of_basis.to(torch.float64).T
            coeffs = k.permute(0, 2, 3, 1)
        coeffs = coeffs.reshape(len(attrs), out_repr.size * in_repr.size, total).contiguous()
    return coeffs, attrs


def _block(group, po, pi, psi, sel: torch.Tensor) -> torch.Tensor | None:
    """Basis kernels ``[m * E, do, di, H]`` between the irreps po <- pi from the harmonic copy ``sel``
    ``[H, dj]`` transforming by psi (``None`` if psi does not occur in po x pi)."""
    cg = group.clebsch_gordan(po.label, pi.label, psi.label)  # [m, do, di, dj]
    m = cg.shape[0]
    if m == 0:
        return None
    dj = psi.size
    endo = psi.endomorphism_basis  # [E, dj, dj]
    y_coef = (endo @ sel.T) / math.sqrt(dj)  # [E, dj, H]: the rows of E_e y_c over the harmonics
    n_endo, h = endo.shape[0], sel.shape[0]
    out = cg.to(torch.float64).reshape(-1, dj) @ y_coef.permute(1, 0, 2).reshape(dj, -1)  # [m do di, E H]
    out = out.reshape(m, po.size, pi.size, n_endo, h).permute(0, 3, 1, 2, 4)
    return out.reshape(m * n_endo, po.size, pi.size, h)


def _blocks(rep: Representation) -> list[tuple]:
    out, start = [], 0
    for psi in rep.irreps:
        out.append((psi, slice(start, start + psi.size)))
        start += psi.size
    return out


def kernel_basis(gspace: GSpace, in_repr: Representation, out_repr: Representation,
                 radii: Sequence[float], sigma: float | Sequence[float] = 0.6,
                 maximum_frequency: int | None = None,
                 frequency_cutoff: float | Callable[[float], int] = 2.0) -> KernelBasis:
    r"""The basis of G-steerable kernels from ``in_repr`` to ``out_repr`` on Gaussian rings (cached).

    Args:
        gspace: the G-space (G and its action on R^d).
        in_repr, out_repr: representations of ``gspace.fibergroup``.
        radii: ring radii (grid units); sigma: ring width (one number or one per ring).
        maximum_frequency: cap on the angular frequency of every ring (``None``: no cap).
        frequency_cutoff: the band limit of a ring of radius r > 0: ``floor(frequency_cutoff * r)`` for a number,
            or a callable ``r -> J_max``. The ring at radius 0 only carries frequency 0.

    >>> from steertorch.gspaces import rot3dOnR3
    >>> gs = rot3dOnR3()
    >>> b = kernel_basis(gs, gs.irrep(1), gs.irrep(1), radii=[0.0, 1.0], sigma=0.6)
    >>> b.dim  # ring 0: l = 0 (1); ring 1: l = 0, 1, 2 (3)
    4
    """
    if not isinstance(gspace, GSpace):
        raise ValueError(f"gspace must be a GSpace, got {type(gspace).__name__}")
    for what, rep in (("in_repr", in_repr), ("out_repr", out_repr)):
        if not isinstance(rep, Representation):
            raise ValueError(f"{what} must be a Representation, got {type(rep).__name__}")
        if rep.group != gspace.fibergroup:
            raise ValueError(f"{what} is a representation of {rep.group.name}, but the G-space {gspace.name} has "
                             f"fibre group {gspace.fibergroup.name}")
    if maximum_frequency is not None and (isinstance(maximum_frequency, bool)
                                          or not isinstance(maximum_frequency, int) or maximum_frequency < 0):
        raise ValueError(f"maximum_frequency must be None or an int >= 0, got {maximum_frequency!r}")
    radii_t = tuple(float(r) for r in radii)
    sigma_t = float(sigma) if isinstance(sigma, (int, float)) else tuple(float(s) for s in sigma)
    return _kernel_basis_cached(gspace, in_repr, out_repr, radii_t, sigma_t, maximum_frequency, frequency_cutoff)


@functools.lru_cache(maxsize=1024)
def _kernel_basis_cached(gspace, in_repr, out_repr, radii, sigma, maximum_frequency, cutoff) -> KernelBasis:
    if callable(cutoff):
        def rule(r: float) -> int:
            j = int(cutoff(r))
            return j if maximum_frequency is None else min(j, maximum_frequency)
    else:
        factor = float(cutoff)
        if factor < 0:
            raise ValueError(f"frequency_cutoff must be >= 0 or a callable, got {cutoff!r}")

        def rule(r: float) -> int:
            return frequency_cutoff(r, factor, maximum_frequency)

    return KernelBasis(gspace, in_repr, out_repr, radii, sigma, rule)
