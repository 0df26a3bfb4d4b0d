r"""Continuous groups whose elements are orthogonal matrices: SO(2), O(2) (in the plane or about
the z axis of space), SO(3), and the product of any 3D group with the inversion (O(3), ...).

Irreps:

- SO(2): frequency k >= 0, :math:`\psi_k(\theta) = \begin{pmatrix}\cos k\theta & -\sin k\theta\\
  \sin k\theta & \cos k\theta\end{pmatrix}` (complex type for k >= 1), :math:`\psi_0 = 1`.
- O(2): labels (j, k) as in escnn: (0, 0) trivial, (1, 0) the determinant, (1, k >= 1)
  :math:`\psi(r_\theta f^s) = \mathrm{rot}(k\theta)\,\mathrm{diag}(1, -1)^s` (real type).
- SO(3): degree l, the Wigner D matrices of :func:`steertorch.o3.wigner_D`.
- G x {+-I}: labels (label of G, p) with p = +1 (even) or -1 (odd):
  :math:`\psi_{(a, p)}(g) = \psi_a(\det(g)\, g)\, (\det g)^{(1 - p)/2}`.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import numpy as np
import torch

from ._group import Group, IrreducibleRepresentation
from ._irreps_parse import parse_irrep
from ._rotation import check_orthogonal, check_rotation, rand_matrix, rotation_2d
from ._wigner import wigner_3j, wigner_D

__all__ = ["SO2", "O2", "SO3", "InversionProduct"]

_J = torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=torch.float64)


def _shape(n: int | Sequence[int]) -> tuple[int, ...]:
    return (n,) if isinstance(n, int) else tuple(n)


def _embed(m2: torch.Tensor, ambient: int, last: torch.Tensor | float = 1.0) -> torch.Tensor:
    """A 2x2 block placed in the xy block of a 3x3 matrix whose (2, 2) entry is ``last``."""
    if ambient == 2:
        return m2
    out = torch.zeros(*m2.shape[:-2], 3, 3, dtype=m2.dtype, device=m2.device)
    out[..., :2, :2] = m2
    out[..., 2, 2] = last
    return out


def _planar_cg(a: int, b: int, c: int) -> torch.Tensor | None:
    r"""Clebsch-Gordan columns ``[4, 2]`` of the 2D irreps rot(a t) x rot(b t) -> rot(c t), with c = a + b or
    |a - b| > 0, in Kronecker order (i * 2 + j). From :math:`e^{ia t} e^{\pm ib t}`:
    (x1 y1 -+ x2 y2, x2 y1 +- x1 y2) / sqrt(2). ``None`` if c is not a + b or |a - b|."""
    r = 2**-0.5
    if c == a + b:
        cols = [[r, 0, 0, -r], [0, r, r, 0]]
    elif c == a - b and c > 0:
        cols = [[r, 0, 0, r], [0, -r, r, 0]]
    elif c == b - a and c > 0:
        cols = [[r, 0, 0, r], [0, r, -r, 0]]
    else:
        return None
    return torch.tensor(cols, dtype=torch.float64).T


def _planar_pair_invariants() -> tuple[torch.Tensor, torch.Tensor]:
    """The two 1-dimensional pieces of rot(a t) x rot(a t): the invariant (x.y) and the 'sine' (x2 y1 - x1 y2),
    as ``[4, 1]`` columns."""
    r = 2**-0.5
    return (torch.tensor([[r], [0.0], [0.0], [r]], dtype=torch.float64),
            torch.tensor([[0.0], [-r], [r], [0.0]], dtype=torch.float64))


class _MatrixGroup(Group):
    """Shared element handling for groups of matrices: compose is the product, inverse the transpose."""

    @property
    def element_shape(self) -> tuple[int, ...]:
        return (self.ambient_dim, self.ambient_dim)

    def identity(self, batch_shape: Sequence[int] = (), dtype=None, device=None) -> torch.Tensor:
        eye = torch.eye(self.ambient_dim, dtype=dtype or torch.get_default_dtype(), device=device)
        return eye.expand(*batch_shape, self.ambient_dim, self.ambient_dim).clone()

    def compose(self, g: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return self.check_element(g) @ self.check_element(h)

    def inverse(self, g: torch.Tensor) -> torch.Tensor:
        return self.check_element(g).transpose(-1, -2)

    def matrix(self, g: torch.Tensor) -> torch.Tensor:
        return self.check_element(g)


class SO2(_MatrixGroup):
    """SO(2): rotations of the plane (``ambient_dim=2``) or about the z axis of space (``3``).

    >>> G = SO2()
    >>> [psi.size for psi in G.irreps(2)]
    [1, 2, 2]
    """

    def __init__(self, ambient_dim: int = 2) -> None:
        if ambient_dim not in (2, 3):
            raise ValueError(f"ambient_dim must be 2 or 3, got {ambient_dim!r}")
        self.ambient_dim = ambient_dim
        self.name = "SO(2)" if ambient_dim == 2 else "SO(2)z"

    def _key(self) -> Hashable:
        return self.ambient_dim

    @staticmethod
    def angle(g: torch.Tensor) -> torch.Tensor:
        """Rotation angle of the xy block, in (-pi, pi]."""
        return torch.atan2(g[..., 1, 0], g[..., 0, 0])

    def element(self, theta: torch.Tensor | float) -> torch.Tensor:
        """The rotation by ``theta`` (batched)."""
        return _embed(rotation_2d(torch.as_tensor(theta, dtype=torch.get_default_dtype())), self.ambient_dim)

    def sample(self, n=(), generator=None, dtype=None, device=None) -> torch.Tensor:
        u = torch.rand(_shape(n), generator=generator, dtype=dtype, device=device)
        return _embed(rotation_2d(2 * math.pi * u), self.ambient_dim)

    def from_matrix(self, m: torch.Tensor) -> torch.Tensor:
        check_orthogonal(m, self.ambient_dim)
        _check_block(self, m, mirror_last=False)
        if bool((torch.linalg.det(m[..., :2, :2]) < 0).any()):
            raise ValueError(f"{self.name}: expected rotations, got a matrix with a reflection")
        return m

    def quadrature(self, degree: int) -> tuple[torch.Tensor, torch.Tensor]:
        n = degree + 1
        theta = 2 * math.pi * torch.arange(n, dtype=torch.float64) / n
        return _embed(rotation_2d(theta), self.ambient_dim), torch.full((n,), 1.0 / n, dtype=torch.float64)

    def _irrep_labels(self, band_limit):
        return list(range(band_limit + 1))

    def _canonical_label(self, label):
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or label < 0:
            raise ValueError(f"{self.name} irreps are labelled by a frequency k >= 0 (int), got {label!r}")
        return int(label)

    def irrep_degree(self, label) -> int:
        return int(label)

    def _build_irrep(self, k):
        if k == 0:
            return IrreducibleRepresentation(self, 0, 1, lambda g: torch.ones_like(g[..., :1, :1]), name="irrep_0")

        def fn(g: torch.Tensor) -> torch.Tensor:
            return rotation_2d(k * self.angle(g))

        return IrreducibleRepresentation(self, k, 2, fn, type="C",
                                         endomorphism_basis=torch.stack([torch.eye(2, dtype=torch.float64), _J]),
                                         name=f"irrep_{k}")

    def tensor_product_multiplicities(self, l1, l2):
        a, b = self._canonical_label(l1), self._canonical_label(l2)
        if a == 0 or b == 0:
            return [(a + b, 1)]
        if a == b:
            return [(0, 2), (2 * a, 1)]
        return sorted([(abs(a - b), 1), (a + b, 1)])

    def _clebsch_gordan(self, a, b, c):
        """Analytic: products of complex exponentials (see ``_planar_cg``)."""
        da, db, dc = (1 if v == 0 else 2 for v in (a, b, c))
        empty = torch.zeros(0, da, db, dc, dtype=torch.float64)
        if a == 0 or b == 0:
            if c != a + b:
                return empty
            return torch.eye(dc, dtype=torch.float64).reshape(1, da, db, dc)
        if c == 0:
            if a != b:
                return empty
            inv, sine = _planar_pair_invariants()
            return torch.stack([inv, -sine]).reshape(2, 2, 2, 1)
        cols = _planar_cg(a, b, c)
        return empty if cols is None else cols.reshape(1, 2, 2, 2)


class O2(_MatrixGroup):
    r"""O(2): rotations and reflections of the plane, or about the z axis of space.

    In space (``ambient_dim=3``) the reflection ``flip`` is either ``"rotation"``, the half
    turn about x, diag(1, -1, -1) (the cylinder group D_inf, a subgroup of SO(3)), or
    ``"mirror"``, the mirror y -> -y, diag(1, -1, 1) (the cone group C_inf v). In the plane
    it is diag(1, -1).

    >>> G = O2()
    >>> [psi.label for psi in G.irreps(2)]
    [(0, 0), (1, 0), (1, 1), (1, 2)]
    """

    def __init__(self, ambient_dim: int = 2, flip: str = "rotation") -> None:
        if ambient_dim not in (2, 3):
            raise ValueError(f"ambient_dim must be 2 or 3, got {ambient_dim!r}")
        if flip not in ("rotation", "mirror"):
            raise ValueError(f"flip must be 'rotation' or 'mirror', got {flip!r}")
        self.ambient_dim = ambient_dim
        self.flip_kind = flip if ambient_dim == 3 else "mirror"
        self.name = "O(2)" if ambient_dim == 2 else ("O(2)z" if flip == "rotation" else "O(2)zv")

    def _key(self) -> Hashable:
        return (self.ambient_dim, self.flip_kind)

    def _last(self, det: torch.Tensor) -> torch.Tensor | float:
        return det if self.flip_kind == "rotation" else 1.0

    def element(self, theta: torch.Tensor | float, flip: torch.Tensor | int = 0) -> torch.Tensor:
        """The element rot(theta) f^flip (batched)."""
        theta = torch.as_tensor(theta, dtype=torch.get_default_dtype())
        s = 1 - 2 * torch.as_tensor(flip, dtype=theta.dtype)
        m2 = rotation_2d(theta) * torch.stack([torch.ones_like(s), s], -1)[..., None, :]
        return _embed(m2, self.ambient_dim, self._last(s))

    def sample(self, n=(), generator=None, dtype=None, device=None) -> torch.Tensor:
        u = torch.rand(_shape(n), generator=generator, dtype=dtype, device=device)
        f = torch.randint(0, 2, _shape(n), generator=generator, device=device).to(u.dtype)
        s = 1 - 2 * f
        m2 = rotation_2d(2 * math.pi * u) * torch.stack([torch.ones_like(s), s], -1)[..., None, :]
        return _embed(m2, self.ambient_dim, self._last(s))

    def from_matrix(self, m: torch.Tensor) -> torch.Tensor:
        check_orthogonal(m, self.ambient_dim)
        _check_block(self, m, mirror_last=self.flip_kind == "rotation")
        return m

    def quadrature(self, degree: int) -> tuple[torch.Tensor, torch.Tensor]:
        n = degree + 1
        theta = 2 * math.pi * torch.arange(n, dtype=torch.float64) / n
        g = torch.cat([self.element(theta, 0).to(torch.float64), self.element(theta, 1).to(torch.float64)])
        return g, torch.full((2 * n,), 0.5 / n, dtype=torch.float64)

    def _irrep_labels(self, band_limit):
        return [(0, 0), (1, 0)] + [(1, k) for k in range(1, band_limit + 1)]

    def _canonical_label(self, label):
        expected = f"{self.name} irreps are labelled (j, k): (0, 0), (1, 0), (1, k>=1); got {label!r}"
        try:
            j, k = (int(v) for v in label)
        except (TypeError, ValueError):
            raise ValueError(expected) from None
        if (j, k) not in ((0, 0), (1, 0)) and not (j == 1 and k >= 1):
            raise ValueError(expected)
        return (j, k)

    def irrep_degree(self, label) -> int:
        return int(label[1])

    def _build_irrep(self, label):
        j, k = label

        def det(g: torch.Tensor) -> torch.Tensor:
            b = g[..., :2, :2]
            return b[..., 0, 0] * b[..., 1, 1] - b[..., 0, 1] * b[..., 1, 0]

        if k == 0:
            if j == 0:
                return IrreducibleRepresentation(self, label, 1, lambda g: torch.ones_like(g[..., :1, :1]),
                                                 name="irrep_(0,0)")
            return IrreducibleRepresentation(self, label, 1, lambda g: det(g)[..., None, None], name="irrep_(1,0)")

        def fn(g: torch.Tensor) -> torch.Tensor:
            theta = torch.atan2(g[..., 1, 0], g[..., 0, 0])
            s = det(g)
            return rotation_2d(k * theta) * torch.stack([torch.ones_like(s), s], -1)[..., None, :]

        return IrreducibleRepresentation(self, label, 2, fn, name=f"irrep_(1,{k})")

    def tensor_product_multiplicities(self, l1, l2):
        (j1, a), (j2, b) = self._canonical_label(l1), self._canonical_label(l2)
        if a == 0 and b == 0:
            return [((j1 ^ j2, 0), 1)]
        if a == 0 or b == 0:
            return [((1, a + b), 1)]
        if a == b:
            return [((0, 0), 1), ((1, 0), 1), ((1, 2 * a), 1)]
        return sorted([((1, abs(a - b)), 1), ((1, a + b), 1)], key=lambda t: t[0][1])

    def _clebsch_gordan(self, l1, l2, l3):
        """Analytic: as SO(2); the determinant irrep (1, 0) couples through J = [[0, -1], [1, 0]]."""
        (j1, a), (j2, b), (j3, c) = l1, l2, l3
        da, db, dc = (1 if v == 0 else 2 for v in (a, b, c))
        empty = torch.zeros(0, da, db, dc, dtype=torch.float64)
        if a == 0 and b == 0:
            return torch.ones(1, 1, 1, 1, dtype=torch.float64) if (c == 0 and j3 == j1 ^ j2) else empty
        if a == 0 or b == 0:
            if (j3, c) != (1, a + b):
                return empty
            t = _J if (j1 if a == 0 else j2) == 1 else torch.eye(2, dtype=torch.float64)
            return t.reshape(1, da, db, dc)
        if c == 0:
            if a != b:
                return empty
            inv, sine = _planar_pair_invariants()
            return (inv if j3 == 0 else -sine).reshape(1, 2, 2, 1)
        cols = _planar_cg(a, b, c)
        return empty if (cols is None or j3 != 1) else cols.reshape(1, 2, 2, 2)


def _check_block(group: Group, m: torch.Tensor, mirror_last: bool) -> None:
    """3D elements of the axial groups: (x, y) block orthogonal, z axis fixed (or flipped with the det)."""
    if group.ambient_dim == 2 or m.numel() == 0 or torch.compiler.is_compiling():
        return
    tol = 1e-6 if m.dtype == torch.float64 else 1e-4
    off = torch.cat([m[..., 2, :2], m[..., :2, 2]], -1).abs().amax(-1)
    b = m[..., :2, :2]
    det = b[..., 0, 0] * b[..., 1, 1] - b[..., 0, 1] * b[..., 1, 0]
    expected = det if mirror_last else torch.ones_like(det)
    bad = (off > tol) | ((m[..., 2, 2] - expected).abs() > tol)
    if bool(bad.any()):
        raise ValueError(f"{group.name}: expected matrices that act on the xy plane and fix the z axis"
                         f"{' up to the flip' if mirror_last else ''}; got one outside the group")


def _so3_quadrature(degree: int) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Exact quadrature on SO(3): R = Rz(a) Ry(b) Rz(c), a and c uniform (degree + 1 points),
    cos b Gauss-Legendre (degree // 2 + 1 nodes)."""
    n = degree + 1
    nb = degree // 2 + 1
    ang = 2 * math.pi * np.arange(n) / n
    x, w = np.polynomial.legendre.leggauss(nb)
    beta = np.arccos(x)

    def rz(t):
        c, s = np.cos(t), np.sin(t)
        z, o = np.zeros_like(t), np.ones_like(t)
        return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)

    def ry(t):
        c, s = np.cos(t), np.sin(t)
        z, o = np.zeros_like(t), np.ones_like(t)
        return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)

    ra, rb, rc = rz(ang), ry(beta), rz(ang)
    r = np.einsum("aij,bjk,ckl->abcil", ra, rb, rc).reshape(-1, 3, 3)
    weights = np.einsum("a,b,c->abc", np.full(n, 1 / n), w / 2, np.full(n, 1 / n)).reshape(-1)
    return torch.from_numpy(r), torch.from_numpy(weights)


class SO3(_MatrixGroup):
    """SO(3): rotations of space; irreps are the Wigner D matrices of degree l (e3nn's basis).

    >>> G = SO3()
    >>> G.irrep(2).size
    5
    """

    ambient_dim = 3
    name = "SO(3)"

    def sample(self, n=(), generator=None, dtype=None, device=None) -> torch.Tensor:
        return rand_matrix(n, generator=generator, dtype=dtype, device=device)

    def from_matrix(self, m: torch.Tensor) -> torch.Tensor:
        return check_rotation(m)

    def quadrature(self, degree: int) -> tuple[torch.Tensor, torch.Tensor]:
        return _so3_quadrature(degree)

    def _irrep_labels(self, band_limit):
        return list(range(band_limit + 1))

    def _canonical_label(self, label):
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or label < 0:
            raise ValueError(f"SO(3) irreps are labelled by a degree l >= 0 (int), got {label!r}")
        return int(label)

    def irrep_degree(self, label) -> int:
        return int(label)

    def _build_irrep(self, l):
        return IrreducibleRepresentation(self, l, 2 * l + 1, lambda g: wigner_D(l, g, check=False),
                                         name=f"irrep_{l}")

    def tensor_product_multiplicities(self, l1, l2):
        l1, l2 = self._canonical_label(l1), self._canonical_label(l2)
        return [(l3, 1) for l3 in range(abs(l1 - l2), l1 + l2 + 1)]

    def _clebsch_gordan(self, l1, l2, l3):
        if not abs(l1 - l2) <= l3 <= l1 + l2:
            return torch.zeros(0, 2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1, dtype=torch.float64)
        return (wigner_3j(l1, l2, l3, dtype=torch.float64) * math.sqrt(2 * l3 + 1))[None]


class InversionProduct(_MatrixGroup):
    r"""The product :math:`G \times \{\pm I\}` of a continuous 3D group with the inversion.

    Elements are the orthogonal matrices :math:`\pm g`; irreps are labelled ``(a, p)`` with
    ``a`` an irrep label of G and p = +1 / -1 the parity under :math:`-I`. O(3) is
    ``InversionProduct(SO3())`` with labels (l, p) and e3nn's strings ``"1o"``, ``"2e"``.

    >>> G = InversionProduct(SO3())
    >>> G.irrep("1o").label, G.name
    ((1, -1), 'O(3)')
    """

    ambient_dim = 3

    def __init__(self, base: Group, name: str | None = None) -> None:
        if base.ambient_dim != 3 or base.is_finite:
            raise ValueError(f"InversionProduct takes a continuous group acting on R^3, got {base.name}")
        self.base = base
        self.name = name or ("O(3)" if isinstance(base, SO3) else f"{base.name}xi")

    def _key(self) -> Hashable:
        return self.base

    @staticmethod
    def _det(g: torch.Tensor) -> torch.Tensor:
        return torch.linalg.det(g)

    def sample(self, n=(), generator=None, dtype=None, device=None) -> torch.Tensor:
        g = self.base.sample(n, generator=generator, dtype=dtype, device=device)
        s = 1 - 2 * torch.randint(0, 2, _shape(n), generator=generator, device=device).to(g.dtype)
        return g * s[..., None, None]

    def from_matrix(self, m: torch.Tensor) -> torch.Tensor:
        check_orthogonal(m, 3)
        d = torch.sign(self._det(m))
        self.base.from_matrix(m * d[..., None, None])
        return m

    def quadrature(self, degree: int) -> tuple[torch.Tensor, torch.Tensor]:
        g, w = self.base.quadrature(degree)
        return torch.cat([g, -g]), torch.cat([w, w]) / 2

    def _irrep_labels(self, band_limit):
        return [(a, p) for a in self.base._irrep_labels(band_limit) for p in (1, -1)]

    def _canonical_label(self, label):
        if isinstance(label, str):
            l, p = parse_irrep(label)
            return (self.base._canonical_label(l), p)
        try:
            a, p = label
        except (TypeError, ValueError):
            raise ValueError(f"{self.name} irreps are labelled (label, p) with p = 1 or -1 (or '1o'), "
                             f"got {label!r}") from None
        if p not in (1, -1):
            raise ValueError(f"{self.name}: parity must be 1 or -1, got {p!r} in {label!r}")
        return (self.base._canonical_label(a), int(p))

    def irrep_degree(self, label) -> int:
        return self.base.irrep_degree(label[0])

    def _build_irrep(self, label):
        a, p = label
        psi = self.base.irrep(a)

        def fn(g: torch.Tensor) -> torch.Tensor:
            d = torch.sign(self._det(g))[..., None, None]
            out = psi(g * d)
            return out * d if p == -1 else out

        text = f"{a}{'e' if p == 1 else 'o'}" if isinstance(a, int) else f"{a},{'+' if p == 1 else '-'}"
        return IrreducibleRepresentation(self, label, psi.size, fn, type=psi.type,
                                         endomorphism_basis=psi.endomorphism_basis, name=f"irrep_{text}")

    def tensor_product_multiplicities(self, l1, l2):
        (a, p1), (b, p2) = self._canonical_label(l1), self._canonical_label(l2)
        return [((c, p1 * p2), m) for c, m in self.base.tensor_product_multiplicities(a, b)]

    def _clebsch_gordan(self, l1, l2, l3):
        (a, p1), (b, p2), (c, p3) = l1, l2, l3
        cg = self.base.clebsch_gordan(a, b, c)
        return cg if p1 * p2 == p3 else cg[:0]
