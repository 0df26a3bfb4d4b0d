r"""``SphericalTensor``: band-limited signals on the sphere as irreps (e3nn's ``io.SphericalTensor``).

A signal is :math:`f(x) = \sum_{l \le L} \sum_m c_{lm}\, Y_l^m(x)` with the real harmonics of
:func:`~steertorch.o3.spherical_harmonics` in the ``"integral"`` normalisation
(:math:`\int_{S^2} Y_l^m Y_{l'}^{m'} = \delta_{ll'}\delta_{mm'}`), so coefficient vectors are
``[..., (L+1)^2]`` and rotate with Wigner D: :math:`f'(x) = f(R^{-1}x)` has
:math:`c'_l = D^l(R)\, c_l`.
"""

from __future__ import annotations

import math
from collections import namedtuple

import torch

from ..group._spherical_harmonics import spherical_harmonics
from ._irreps import Irreps
from ._s2grid import s2_grid

__all__ = ["SphericalTensor"]

SignalOnGrid = namedtuple("SignalOnGrid", ["grid", "values"])
Peaks = namedtuple("Peaks", ["directions", "values"])


def _check_points(x: object, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() == 0 or x.shape[-1] != 3:
        shape = list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} must be points [..., 3], got {shape}")
    return x if x.is_floating_point() else x.to(torch.get_default_dtype())


class SphericalTensor(Irreps):
    r"""Coefficients of a signal on the sphere up to degree ``lmax``, as the irreps
    :math:`\bigoplus_{l \le L} (l, p_v p_a^l)`.

    Parity acts on signals as :math:`(P f)(x) = p_v\, f(p_a x)`, so degree l has parity
    :math:`p_v p_a^l`: ``SphericalTensor(L, 1, -1)`` are ordinary functions on the sphere
    (the irreps of the harmonics, ``0e + 1o + 2e + ...``); ``SphericalTensor(L, 1, 1)`` are
    signals that parity leaves unchanged, :math:`(P f)(x) = f(x)` (all irreps even).

    >>> SphericalTensor(3, 1, -1)
    1x0e+1x1o+1x2e+1x3o
    >>> SphericalTensor(2, -1, 1)
    1x0o+1x1o+1x2o
    """

    p_val: int
    p_arg: int

    def __new__(cls, lmax: int, p_val: int, p_arg: int) -> SphericalTensor:
        if isinstance(lmax, bool) or not isinstance(lmax, int) or lmax < 0:
            raise ValueError(f"lmax must be an int >= 0, got {lmax!r}")
        if p_val not in (1, -1) or p_arg not in (1, -1):
            raise ValueError(f"p_val and p_arg must be +1 or -1, got {p_val!r}, {p_arg!r}")
        obj = super().__new__(cls, [(1, (l, p_val * p_arg**l)) for l in range(lmax + 1)])
        obj.p_val, obj.p_arg = p_val, p_arg
        return obj

    def __getnewargs__(self) -> tuple[int, int, int]:  # pickle / copy rebuild from the parameters
        return (self.lmax, self.p_val, self.p_arg)

    # ------------------------------------------------------------------ helpers
    def _harmonics(self, x: torch.Tensor) -> torch.Tensor:
        return spherical_harmonics(list(range(self.lmax + 1)), x, normalize=True, normalization="integral")

    def _check_signal(self, signal: object) -> torch.Tensor:
        if not isinstance(signal, torch.Tensor) or signal.dim() == 0 or signal.shape[-1] != self.dim:
            shape = list(signal.shape) if isinstance(signal, torch.Tensor) else type(signal).__name__
            raise ValueError(f"expected signal coefficients [..., {self.dim}] ({Irreps(self)}), got {shape}")
        return signal if signal.is_floating_point() else signal.to(torch.get_default_dtype())

    # ------------------------------------------------------------------ construction
    def with_peaks_at(self, vectors: torch.Tensor, values: torch.Tensor | None = None) -> torch.Tensor:
        r"""Coefficients ``[dim]`` of the band-limited signal that takes the value :math:`v_a` at
        :math:`\hat r_a` and is built from the harmonics at the peaks only:

        .. math::

            c = \sum_b s_b\, Y(\hat r_b), \qquad \sum_b Y(\hat r_a) \cdot Y(\hat r_b)\, s_b = v_a,

        :math:`v_a = |r_a|` unless ``values`` ``[N]`` are given. :math:`Y(\hat r_a) \cdot
        Y(\hat r_b) = \sum_l \frac{2l+1}{4\pi} P_l(\hat r_a \cdot \hat r_b)` is a smoothed delta, so
        each term peaks at its :math:`\hat r_b`; the linear system (solved by least squares,
        exactly unless there are more peaks than it can fit) makes :math:`f(\hat r_a) = v_a`.
        Zero values and zero vectors (without values) are dropped. Equivariant:
        ``with_peaks_at(vectors @ R.T) == D(R) @ with_peaks_at(vectors)`` for rotations, and for
        every orthogonal R when ``p_arg == -1``. Needs ``p_val == 1`` (values are even).

        >>> s = SphericalTensor(4, 1, -1)
        >>> pos = torch.tensor([[1.0, 0.0, 0.0], [3.0, 4.0, 0.0]])
        >>> s.signal_xyz(s.with_peaks_at(pos), pos)
        tensor([1.0000, 5.0000])
        """
        if self.p_val != 1:
            raise ValueError("with_peaks_at needs p_val == 1: the peak values (or radii) are even under parity")
        vectors = _check_points(vectors, "vectors")
        if vectors.dim() != 2:
            raise ValueError(f"vectors must be [N, 3], got {list(vectors.shape)}")
        if values is None:
            values = vectors.norm(dim=-1)
        elif not isinstance(values, torch.Tensor) or values.shape != vectors.shape[:1]:
            shape = list(values.shape) if isinstance(values, torch.Tensor) else type(values).__name__
            raise ValueError(f"values must be [N] = [{vectors.shape[0]}], got {shape}")
        values = values.to(vectors.dtype)
        keep = (values != 0) & (vectors.norm(dim=-1) > 0)
        vectors, values = vectors[keep], values[keep]
        if vectors.shape[0] == 0:
            return vectors.new_zeros(self.dim)
        y = self._harmonics(vectors)  # [N, dim]
        gram = y @ y.T
        solution = torch.linalg.pinv(gram, hermitian=True) @ values
        return solution @ y

    def sum_of_diracs(self, positions: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        r"""Coefficients ``[..., dim]`` of :math:`f = \sum_i v_i\, \delta^L_{\hat r_i}`, a sum of band-limited
        deltas scaled to peak value 1:

        .. math::

            \delta^L_{r}(x) = \frac{4\pi}{(L+1)^2} \sum_{l \le L} Y^l(r) \cdot Y^l(x), \qquad
            c = \frac{4\pi}{(L+1)^2} \sum_i v_i\, Y(\hat r_i),

        with :math:`\delta^L_r(r) = 1` (the addition theorem) and :math:`|\delta^L_r(x)| \le 1`.
        ``positions`` ``[..., N, 3]`` and ``values`` ``[..., N]`` broadcast.

        >>> s = SphericalTensor(7, 1, -1)
        >>> pos = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        >>> c = s.sum_of_diracs(pos, torch.tensor([-1.0, 1.0]))
        >>> s.signal_xyz(c, torch.eye(3)).mul(10).round() + 0.0
        tensor([-10.,  10.,   0.])
        """
        positions = _check_points(positions, "positions")
        if positions.dim() < 2:
            raise ValueError(f"positions must be [..., N, 3], got {list(positions.shape)}")
        if not isinstance(values, torch.Tensor):
            raise ValueError(f"values must be a tensor [..., N], got {type(values).__name__}")
        positions, values = torch.broadcast_tensors(positions, values[..., None].to(positions.dtype))
        values = values[..., 0]
        if positions.numel() == 0:
            return positions.new_zeros(*values.shape[:-1], self.dim)
        y = self._harmonics(positions)  # [..., N, dim]
        return 4 * math.pi / (self.lmax + 1) ** 2 * (y * values[..., None]).sum(-2)

    # ------------------------------------------------------------------ evaluation
    def signal_xyz(self, signal: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        r"""The signal at the directions of ``r``: :math:`f(r / |r|) = \sum_{lm} c_{lm} Y_l^m(\hat r)`.

        ``signal`` ``[*A, dim]`` and ``r`` ``[*B, 3]`` give ``[*A, *B]``.

        >>> s = SphericalTensor(3, 1, -1)
        >>> s.signal_xyz(s.randn(2, 1, -1), torch.randn(4, 5, 3)).shape
        torch.Size([2, 1, 4, 5])
        """
        signal = self._check_signal(signal)
        r = _check_points(r, "r")
        y = self._harmonics(r.to(signal.dtype))  # [*B, dim]
        out = signal.reshape(-1, self.dim) @ y.reshape(-1, self.dim).T
        return out.reshape(tuple(signal.shape[:-1]) + tuple(r.shape[:-1]))

    def signal_on_grid(self, signal: torch.Tensor, res: int = 100) -> SignalOnGrid:
        r"""The signal on the :func:`~steertorch.o3.s2_grid` of band limit ``res``.

        Returns ``(grid, values)``: ``grid`` ``[res + 1, 2 res + 1, 3]`` (Gauss-Legendre rings in
        y, the polar axis, times uniform azimuths) and ``values`` ``[..., res + 1, 2 res + 1]``.
        With ``res >= lmax`` the grid's quadrature integrates :math:`f^2` exactly.

        >>> s = SphericalTensor(2, 1, -1)
        >>> grid, values = s.signal_on_grid(s.randn(-1), res=10)
        >>> grid.shape, values.shape
        (torch.Size([11, 21, 3]), torch.Size([11, 21]))
        """
        if isinstance(res, bool) or not isinstance(res, int) or res < 1:
            raise ValueError(f"res must be an int >= 1, got {res!r}")
        signal = self._check_signal(signal)
        x, _ = s2_grid(res)
        x = x.to(dtype=signal.dtype, device=signal.device)
        values = signal @ self._harmonics(x).T
        return SignalOnGrid(x.reshape(res + 1, 2 * res + 1, 3), values.reshape(*signal.shape[:-1], res + 1,
                                                                                2 * res + 1))

    def find_peaks(self, signal: torch.Tensor, res: int = 100) -> Peaks:
        r"""Local maxima of the signal ``[dim]`` on the grid of :meth:`signal_on_grid`.

        A grid point is a peak when its value exceeds that of each neighbour: the 8 points
        around it in the (ring, azimuth) layout (azimuth periodic), and for the two rings
        nearest the poles every point of the same ring (they surround the pole). Ties go to
        the lower grid index. Returns ``(directions [P, 3], values [P])`` sorted by
        decreasing value; the directions are accurate to the grid spacing, about
        :math:`180° / (\mathrm{res} + 1)`.

        >>> s = SphericalTensor(8, 1, -1)
        >>> peaks = s.find_peaks(s.with_peaks_at(torch.tensor([[0.0, 0.0, 2.0]])))
        >>> peaks.directions[0].round(decimals=2) + 0.0, round(float(peaks.values[0]), 2)
        (tensor([0., 0., 1.]), 2.0)
        """
        signal = self._check_signal(signal)
        if signal.dim() != 1:
            raise ValueError(f"find_peaks takes one signal [{self.dim}], got {list(signal.shape)}")
        grid, f = self.signal_on_grid(signal, res)
        n_ring, n_az = f.shape
        idx = torch.arange(n_ring * n_az, device=f.device).reshape(n_ring, n_az)
        is_peak = torch.ones(n_ring, n_az, dtype=torch.bool, device=f.device)

        def beats(fn: torch.Tensor, ixn: torch.Tensor, rows: slice) -> torch.Tensor:
            fr, ir = f[rows], idx[rows]
            return (fr > fn) | ((fr == fn) & (ir < ixn))

        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                if di == dj == 0:
                    continue
                fn = torch.roll(f, shifts=(-di, -dj), dims=(0, 1))
                ixn = torch.roll(idx, shifts=(-di, -dj), dims=(0, 1))
                ok = beats(fn, ixn, slice(None))
                # rings have no neighbour beyond the first and last ring (roll wrapped them around)
                if di == 1:
                    ok[-1] = True
                if di == -1:
                    ok[0] = True
                is_peak &= ok
        for ring in (0, n_ring - 1):
            fr, ir = f[ring], idx[ring]
            better = (fr[:, None] > fr[None, :]) | ((fr[:, None] == fr[None, :]) & (ir[:, None] <= ir[None, :]))
            is_peak[ring] &= better.all(dim=1)
        directions, values = grid[is_peak], f[is_peak]
        order = torch.argsort(values, descending=True)
        return Peaks(directions[order], values[order])

    # ------------------------------------------------------------------ algebra
    def norms(self, signal: torch.Tensor) -> torch.Tensor:
        r"""The norm of each degree, :math:`|c_l|`, ``[..., lmax + 1]`` (rotation invariant).

        >>> SphericalTensor(1, 1, -1).norms(torch.tensor([1.5, 0.0, 3.0, 4.0]))
        tensor([1.5000, 5.0000])
        """
        signal = self._check_signal(signal)
        return torch.stack([signal[..., l * l:(l + 1) ** 2].norm(dim=-1) for l in range(self.lmax + 1)], dim=-1)

    def dot(self, signal1: torch.Tensor, signal2: torch.Tensor) -> torch.Tensor:
        r"""The :math:`L^2` inner product :math:`\int_{S^2} f_1 f_2 = \sum_{lm} c^1_{lm} c^2_{lm}` ``[...]``
        (the harmonics are orthonormal), invariant under O(3).

        >>> s = SphericalTensor(1, 1, -1)
        >>> s.dot(torch.tensor([1.0, 2.0, 0.0, 1.0]), torch.tensor([3.0, 0.0, 1.0, -1.0]))
        tensor(2.)
        """
        a, b = self._check_signal(signal1), self._check_signal(signal2)
        return (a * b).sum(-1)
