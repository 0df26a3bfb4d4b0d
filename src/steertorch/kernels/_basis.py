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

In the irreps bases every basis kernel is nonzero in one (out irrep copy, in irrep copy) block only, and all
copies of the same pair of irrep labels carry the same block kernels: :meth:`KernelBasis.sample_blocks` returns
one sampled block basis ``[dim_pair, d_out, d_in, P]`` per pair of labels (the compact form, linear in the
sizes of the representations instead of quadratic for regular representations), :meth:`KernelBasis.sample` the
dense rotated kernels ``[dim, out, in, P]``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch

from ..group import Representation
from ..group._group import float64_default
from ..gspaces import GSpace
from ._harmonic import harmonic_size, harmonics, restricted_harmonics

__all__ = ["KernelBasis", "kernel_basis", "default_rings", "escnn_ring_widths", "frequency_cutoff",
           "EscnnFrequencyCutoff"]

_ZERO_RADIUS = 1e-9


def default_rings(kernel_size: int, dilation: int = 1) -> tuple[list[float], float]:
    r"""Rings (radii, sigma) for a ``kernel_size`` grid: radii ``0, 1, ..., (k - 1) // 2`` times the dilation (as
    escnn) and one width for every ring, 0.6 times the dilation. The grid convolutions' default widths are escnn's
    per-ring widths instead (:func:`escnn_ring_widths`).

    >>> default_rings(5)
    ([0.0, 1.0, 2.0], 0.6)
    """
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1:
        raise ValueError(f"kernel_size must be an int >= 1, got {kernel_size!r}")
    radii = [float(i * dilation) for i in range((kernel_size - 1) // 2 + 1)]
    return radii, 0.6 * dilation


def escnn_ring_widths(radii: Sequence[float]) -> list[float]:
    r"""escnn's default ring widths (its ``sigma=None``) for rings of the given radii: 0.6 on every ring but the
    last, 0.4 on the last (outermost) one, and 0.005 on a ring of radius 0 (so the centre ring is the centre pixel
    alone). The same values whatever the dilation (escnn does not scale them). With these widths and
    :class:`EscnnFrequencyCutoff`, a grid convolution's kernels span escnn's kernel space (tested against escnn).

    >>> escnn_ring_widths([0.0, 1.0, 2.0])
    [0.005, 0.6, 0.4]
    >>> escnn_ring_widths([0.0])
    [0.005]
    """
    radii = [float(r) for r in radii]
    if not radii:
        raise ValueError("radii must list at least one ring radius, got an empty list")
    widths = [0.6] * (len(radii) - 1) + [0.4]
    return [0.005 if r == 0.0 else w for r, w in zip(radii, widths)]


class EscnnFrequencyCutoff:
    r"""escnn's default band limit of the grid convolutions (its ``frequencies_cutoff=None``), a callable
    ``r -> J_max`` for :func:`kernel_basis`. With :math:`m = \lfloor k/2 \rfloor` for kernel size k:

    - 2D: :math:`J(0) = 0`, :math:`J(m) = \min(2m, 2)`, otherwise :math:`J(r) = \min(2r, 2r - ((r + 1) \bmod 2))`;
    - 3D: :math:`J(r) = \min(2r, m - r + 2)`.

    The outer ring is kept to low frequencies (fewer basis elements than ``floor(2 r)``: 88 instead of 120 for C8
    regular fields and kernel size 5). Hashable (equal for equal ``(kernel_size, d)``), so bases stay cached.

    >>> f = EscnnFrequencyCutoff(5, 2)
    >>> [f(r) for r in (0.0, 1.0, 2.0)], [EscnnFrequencyCutoff(7, 3)(r) for r in (0.0, 1.0, 2.0, 3.0)]
    ([0, 2, 2], [0, 2, 3, 2])
    """

    def __init__(self, kernel_size: int, d: int) -> None:
        if d not in (2, 3):
            raise ValueError(f"EscnnFrequencyCutoff: d must be 2 or 3, got {d!r}")
        self.kernel_size, self.d = int(kernel_size), d

    def __call__(self, r: float) -> int:
        m = self.kernel_size // 2
        if self.d == 3:
            return int(min(2 * r, m - r + 2))
        if r == 0:
            return 0
        return int(min(2 * r, 2 if r == m else 2 * r - (r + 1) % 2))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EscnnFrequencyCutoff) and (self.kernel_size, self.d) == (other.kernel_size, other.d)

    def __hash__(self) -> int:
        return hash(("EscnnFrequencyCutoff", self.kernel_size, self.d))

    def __repr__(self) -> str:
        return f"EscnnFrequencyCutoff(kernel_size={self.kernel_size}, d={self.d})"


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

    Build one basis per pair of field representations (cached) and assemble a convolution's kernel from them.
    The angular coefficients are kept per pair of irrep labels (``[n_pair, d_out, d_in, n_harmonics]``); the
    dense rotated coefficients ``[n_angular, out * in, n_harmonics]`` used by :meth:`sample` are built on its
    first call only (they grow as the square of the representations' sizes).

    Block form (:meth:`sample_blocks`): ``block_labels[p]`` is the pair (out irrep label, in irrep label) of block
    basis p and ``block_index[k] = (p, j, a, b)`` says that dense basis kernel k is
    :math:`Q_{out}\, E_{ab}(B_{p,j})\, Q_{in}^\top`: block kernel j of pair p placed at copy a of the out label and
    copy b of the in label (copies counted in the order of ``rep.irreps``), with :math:`Q'` the changes of basis
    with columns grouped by label (:meth:`changes_of_basis`).

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

        blocks = _angular_blocks_cached(gspace, in_repr, out_repr, self.jmax)
        self._angular = blocks
        # dense order: ring, then angular kernel (harmonic copy, out irrep, in irrep, CG copy x endomorphism);
        # block order of pair p: ring, then its angular kernels (harmonic copy, CG copy x endomorphism)
        ring_idx, ang_idx, attrs, index = [], [], [], []
        pair_rows: list[list[tuple[int, int]]] = [[] for _ in blocks.labels]  # (ring, angular row) per pair
        pair_pos: dict[tuple[int, int, int], int] = {}
        for ri, jm in enumerate(jmaxs):
            for p, freqs in enumerate(blocks.frequencies):
                for row, f in enumerate(freqs):
                    if f <= jm:
                        pair_pos[(p, ri, row)] = len(pair_rows[p])
                        pair_rows[p].append((ri, row))
        for ri, (r, s, jm) in enumerate(zip(radii, sigmas, jmaxs)):
            for ai, (a, (p, row, ca, cb)) in enumerate(zip(blocks.attributes, blocks.elements)):
                if a["frequency"] <= jm:
                    ring_idx.append(ri)
                    ang_idx.append(ai)
                    attrs.append({"radius": r, "sigma": s, **a})
                    index.append((p, pair_pos[(p, ri, row)], ca, cb))
        self.dim = len(attrs)
        self.attributes = attrs
        self.block_labels: list[tuple] = list(blocks.labels)
        self.block_index = torch.tensor(index, dtype=torch.long).reshape(-1, 4)
        self.block_dims = [len(rows) for rows in pair_rows]
        self._pair_ring_idx = [torch.tensor([r for r, _ in rows], dtype=torch.long) for rows in pair_rows]
        self._pair_ang_idx = [torch.tensor([a for _, a in rows], dtype=torch.long) for rows in pair_rows]
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

    def _tensors(self, dtype: torch.dtype, device: torch.device, dense: bool) -> tuple:
        key = (dtype, str(device), dense)
        if key not in self._constants:
            def cast(t: torch.Tensor) -> torch.Tensor:
                return t.to(device=device, dtype=dtype if t.is_floating_point() else t.dtype)

            if dense:
                coeffs = _angular_basis(self.gspace, self.in_repr, self.out_repr, self.jmax)[0]
                self._constants[key] = (cast(coeffs), cast(self._ring_idx), cast(self._ang_idx))
            else:
                pairs = [(cast(c.reshape(c.shape[0], -1, c.shape[-1])), cast(ri), cast(ai))
                         for c, ri, ai in zip(self._angular.coefficients, self._pair_ring_idx, self._pair_ang_idx)]
                self._constants[key] = tuple(pairs)
        return self._constants[key]

    def _points(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The harmonics ``[P, H]`` and the Gaussian rings ``[rings, P]`` at ``points`` ``[P, d]``."""
        d = self.dimensionality
        if not isinstance(points, torch.Tensor) or points.dim() != 2 or points.shape[1] != d:
            raise ValueError(f"points must be a tensor [P, {d}], got "
                             f"{list(points.shape) if isinstance(points, torch.Tensor) else type(points).__name__}")
        r2 = (points * points).sum(-1)
        nonzero = r2 > _ZERO_RADIUS**2
        r = torch.where(nonzero, r2, torch.ones_like(r2)).sqrt()
        unit = torch.where(nonzero[:, None], points / r[:, None], torch.zeros_like(points))
        r = torch.where(nonzero, r, torch.zeros_like(r))
        y = harmonics(d, self.jmax, unit)  # [P, H]
        radii = self._radii.to(device=points.device, dtype=points.dtype)
        inv_two_var = self._inv_two_var.to(device=points.device, dtype=points.dtype)
        # (|x| - r_i)^2 written with |x|^2 so the ring at r = 0 is smooth at the origin
        dist2 = r2[None, :] - 2 * radii[:, None] * r[None, :] + (radii * radii)[:, None]
        return y, torch.exp(-dist2 * inv_two_var[:, None])  # [P, H], [rings, P]

    def sample(self, points: torch.Tensor) -> torch.Tensor:
        """The basis kernels at ``points`` ``[P, d]``: ``[dim, out_size, in_size, P]``."""
        if isinstance(points, torch.Tensor) and not points.is_floating_point():
            points = points.to(torch.get_default_dtype())
        y, radial = self._points(points)
        n_pts = points.shape[0]
        if self.dim == 0:
            return points.new_zeros(0, self.out_size, self.in_size, n_pts)
        coeffs, ring_idx, ang_idx = self._tensors(points.dtype, points.device, dense=True)
        return _ring_sample(coeffs, ring_idx, ang_idx, y, radial).reshape(self.dim, self.out_size, self.in_size,
                                                                            n_pts)

    def changes_of_basis(self) -> tuple[list[tuple], torch.Tensor | None, list[tuple], torch.Tensor | None]:
        r"""``(out_layout, Q'_out, in_layout, Q'_in)``: the irreps of each representation grouped by label,
        ``[(label, multiplicity, size), ...]``, and its change of basis with the columns of each label's copies
        made consecutive (float64, ``None`` for the identity), so that the kernel of block weights is
        :math:`Q'_{out}\, K_{irreps}\, Q'^\top_{in}` (see :meth:`sample_blocks`)."""
        return (*_irreps_sorted_basis(self.out_repr), *_irreps_sorted_basis(self.in_repr))

    def sample_blocks(self, points: torch.Tensor) -> list[torch.Tensor]:
        """The block kernels of every pair of irrep labels ``block_labels[p]`` at ``points`` ``[P, d]``:
        ``[block_dims[p], d_out, d_in, P]`` each, in the irreps bases (see the class doc for how they make up
        :meth:`sample`)."""
        if isinstance(points, torch.Tensor) and not points.is_floating_point():
            points = points.to(torch.get_default_dtype())
        y, radial = self._points(points)
        out = []
        for (do, di), (coeffs, ring_idx, ang_idx) in zip(self._angular.sizes,
                                                         self._tensors(points.dtype, points.device, dense=False)):
            out.append(_ring_sample(coeffs, ring_idx, ang_idx, y, radial).reshape(-1, do, di, points.shape[0]))
        return out


def _ring_sample(coeffs: torch.Tensor, ring_idx: torch.Tensor, ang_idx: torch.Tensor, y: torch.Tensor,
                 radial: torch.Tensor) -> torch.Tensor:
    """``[n, X, P]``: angular kernels ``coeffs`` ``[n_ang, X, H]`` on the harmonics ``y`` ``[P, H]``, picked by
    ``ang_idx`` and multiplied by the rings ``radial[ring_idx]``."""
    n_pts = y.shape[0]
    if ring_idx.numel() == 0:
        return y.new_zeros(0, coeffs.shape[1], n_pts)
    x = math.prod(coeffs.shape[1:-1])  # (not -1: ambiguous for 0 points)
    ang = (coeffs.reshape(-1, coeffs.shape[-1]) @ y.T).reshape(coeffs.shape[0], x, n_pts)  # [n_ang, X, P]
    return ang.index_select(0, ang_idx) * radial.index_select(0, ring_idx)[:, None, :]


class _AngularBlocks(NamedTuple):
    """The angular basis of a pair of representations in block form (float64)."""

    labels: list[tuple]  # (out irrep label, in irrep label) per pair p
    sizes: list[tuple[int, int]]  # (d_out, d_in) per pair
    coefficients: list[torch.Tensor]  # [n_p, d_out, d_in, H] per pair: its angular kernels on the harmonics
    frequencies: list[list[int]]  # J of every angular kernel of a pair
    attributes: list[dict]  # per dense angular kernel, in the dense order
    elements: list[tuple[int, int, int, int]]  # per dense angular kernel: (pair p, row in p, out copy, in copy)
    n_harmonics: int


@functools.cache
def _angular_blocks_cached(gspace: GSpace, in_repr: Representation, out_repr: Representation,
                           jmax: int) -> _AngularBlocks:
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
        in_copy, out_copy = _copy_numbers(in_repr), _copy_numbers(out_repr)
        pair_of: dict = {}
        labels, sizes, pieces, freqs = [], [], [], []
        block_cache: dict = {}
        attrs, elements = [], []
        for c, (j, psi, sel) in enumerate(copies):
            for bo, (po, _) in enumerate(out_blocks):
                for bi, (pi, _) in enumerate(in_blocks):
                    key = (po.label, pi.label, c)
                    if key not in block_cache:
                        blk = _block(group, po, pi, psi, sel)  # [m * E, do, di, H]
                        row0 = None
                        if blk is not None:
                            lab = (po.label, pi.label)
                            if lab not in pair_of:
                                pair_of[lab] = len(labels)
                                labels.append(lab)
                                sizes.append((po.size, pi.size))
                                pieces.append([])
                                freqs.append([])
                            p = pair_of[lab]
                            row0 = len(freqs[p])
                            pieces[p].append(blk)
                            freqs[p].extend([j] * blk.shape[0])
                        block_cache[key] = (blk, row0)
                    blk, row0 = block_cache[key]
                    if blk is None:
                        continue
                    p = pair_of[(po.label, pi.label)]
                    n_endo = psi.endomorphism_dim
                    for t in range(blk.shape[0]):
                        attrs.append({"frequency": j, "harmonic": psi.label, "out_irrep": po.label,
                                      "in_irrep": pi.label, "out_index": bo, "in_index": bi, "cg": t // n_endo,
                                      "endomorphism": t % n_endo})
                        elements.append((p, row0 + t, out_copy[bo], in_copy[bi]))
        coefficients = [torch.cat(ps, dim=0) for ps in pieces]
    return _AngularBlocks(labels, sizes, coefficients, freqs, attrs, elements, total)


def _angular_basis(gspace: GSpace, in_repr: Representation, out_repr: Representation,
                   jmax: int) -> tuple[torch.Tensor, list[dict]]:
    """Coefficients ``[n_ang, out * in, H]`` (float64) of the dense angular basis kernels on the harmonics of
    frequencies 0..jmax, and their attributes."""
    return _angular_basis_cached(gspace, in_repr, out_repr, jmax)


@functools.cache
def _angular_basis_cached(gspace: GSpace, in_repr: Representation, out_repr: Representation, jmax: int):
    blocks = _angular_blocks_cached(gspace, in_repr, out_repr, jmax)
    in_slices, out_slices = [s for _, s in _blocks(in_repr)], [s for _, s in _blocks(out_repr)]
    coeffs = torch.zeros(len(blocks.attributes), out_repr.size, in_repr.size, blocks.n_harmonics,
                         dtype=torch.float64)
    for k, (a, (p, row, _, _)) in enumerate(zip(blocks.attributes, blocks.elements)):
        coeffs[k, out_slices[a["out_index"]], in_slices[a["in_index"]]] = blocks.coefficients[p][row]
    # rotate to the representations' bases: Q_out K Q_in^T
    if out_repr.change_of_basis is not None or in_repr.change_of_basis is not None:
        k = coeffs.permute(0, 3, 1, 2)
        if out_repr.change_of_basis is not None:
            k = out_repr.change_of_basis.to(torch.float64) @ k
        if in_repr.change_of_basis is not None:
            k = k @ in_repr.change_of_basis.to(torch.float64).T
        coeffs = k.permute(0, 2, 3, 1)
    coeffs = coeffs.reshape(len(blocks.attributes), out_repr.size * in_repr.size, blocks.n_harmonics).contiguous()
    return coeffs, blocks.attributes


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


def _copy_numbers(rep: Representation) -> list[int]:
    """For every irrep of ``rep.irreps``: how many irreps with the same label come before it."""
    seen: dict = {}
    out = []
    for psi in rep.irreps:
        out.append(seen.get(psi.label, 0))
        seen[psi.label] = out[-1] + 1
    return out


def _irreps_sorted_basis(rep: Representation) -> tuple[list[tuple], torch.Tensor | None]:
    r"""The irreps of ``rep`` grouped by label: ``[(label, multiplicity, size), ...]`` (labels in the order of
    their first occurrence in ``rep.irreps``) and the change of basis :math:`Q' = Q\,\Pi` ``[size, size]``
    (float64) whose columns are those of Q reordered so that the copies of each label are consecutive (copy a of
    label L at ``offset_L + a * size_L``), so that :math:`\rho(g) = Q' \big(\bigoplus_L I_{m_L} \otimes
    \psi_L(g)\big) Q'^\top`. ``None`` stands for the identity.

    >>> from steertorch.gspaces import rot2dOnR2
    >>> gs = rot2dOnR2(4)
    >>> layout, q = _irreps_sorted_basis(gs.regular_repr)
    >>> [(m, d) for _, m, d in layout], tuple(q.shape)
    ([(1, 1), (1, 2), (1, 1)], (4, 4))
    """
    order: dict = {}
    for (psi, sl) in _blocks(rep):
        order.setdefault(psi.label, (psi.size, []))[1].append(sl)
    layout = [(label, len(sls), size) for label, (size, sls) in order.items()]
    perm = [c for _, sls in order.values() for sl in sls for c in range(sl.start, sl.stop)]
    if rep.change_of_basis is None and perm == list(range(rep.size)):
        return layout, None
    q = rep.dense_change_of_basis().to(torch.float64)
    return layout, q[:, perm].contiguous()


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
