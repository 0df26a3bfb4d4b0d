r"""Finite groups of orthogonal matrices; elements are integer indices into a table.

A :class:`FiniteGroup` is given by its elements' matrices (or generators, closed under
products); the Cayley table, inverses and matrix lookup are computed once. Cyclic and
dihedral groups carry analytic irreps labelled by frequency (as in escnn); other finite
groups get irreps by decomposing restricted O(n) irreps (see ``_point_groups.py``).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import numpy as np
import torch

from ._group import Group, IrreducibleRepresentation, Representation, float64_default
from ._rotation import rotation_2d

__all__ = ["FiniteGroup", "CyclicGroup", "DihedralGroup", "close_under_products"]

_J = torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=torch.float64)


def close_under_products(generators: Sequence[np.ndarray], max_order: int = 10000) -> np.ndarray:
    """All products of the generator matrices (the group they generate), identity first."""
    n = generators[0].shape[0]
    elems = [np.eye(n)]
    keys = {_key(elems[0])}
    frontier = list(elems)
    while frontier:
        new = []
        for a in frontier:
            for g in generators:
                b = g @ a
                k = _key(b)
                if k not in keys:
                    keys.add(k)
                    elems.append(b)
                    new.append(b)
        if len(elems) > max_order:
            raise ValueError(f"generators produce more than {max_order} elements (not a finite group?)")
        frontier = new
    return np.stack(elems)


def _key(m: np.ndarray) -> tuple:
    return tuple(np.round(m, 6).ravel() + 0.0)


class FiniteGroup(Group):
    """A finite group of orthogonal n x n matrices; elements are ``torch.long`` indices.

    ``matrices[0]`` must be the identity. Irreps are supplied by subclasses
    (``_irrep_labels`` / ``_build_irrep``).

    >>> from steertorch.group import cyclic_group
    >>> G = cyclic_group(4)
    >>> isinstance(G, FiniteGroup), G.order, G.compose(G.elements()[1], G.elements()[3]).item()
    (True, 4, 0)
    """

    is_finite = True

    def __init__(self, name: str, matrices: np.ndarray | torch.Tensor) -> None:
        m = torch.as_tensor(np.asarray(matrices), dtype=torch.float64)
        if m.dim() != 3 or m.shape[1] != m.shape[2] or m.shape[1] not in (2, 3):
            raise ValueError(f"expected matrices [order, n, n] with n = 2 or 3, got {list(m.shape)}")
        if not torch.allclose(m[0], torch.eye(m.shape[1], dtype=torch.float64)):
            raise ValueError("the first matrix of a FiniteGroup must be the identity")
        self.name = name
        self.ambient_dim = m.shape[1]
        self.order = m.shape[0]
        self._matrices = m
        prods = torch.einsum("aij,bjk->abik", m, m).reshape(-1, self.ambient_dim ** 2)
        idx, dist = _nearest(prods, m.reshape(self.order, -1))
        if float(dist.max()) > 1e-6:
            raise ValueError(f"{name}: the matrices are not closed under products")
        self._cayley = idx.reshape(self.order, self.order)
        eye_rows = (self._cayley == 0).nonzero()
        inv = torch.empty(self.order, dtype=torch.long)
        inv[eye_rows[:, 0]] = eye_rows[:, 1]
        self._inverse = inv
        self._device_tables: dict = {}

    def _key(self) -> Hashable:
        return self.name

    def _tables(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        key = str(device)
        if key not in self._device_tables:
            self._device_tables[key] = (self._cayley.to(device), self._inverse.to(device))
        return self._device_tables[key]

    @property
    def element_shape(self) -> tuple[int, ...]:
        return ()

    def check_element(self, g: torch.Tensor) -> torch.Tensor:
        if not isinstance(g, torch.Tensor) or g.is_floating_point() or g.is_complex():
            raise ValueError(f"{self.name}: elements are integer index tensors in [0, {self.order}), got "
                             f"{getattr(g, 'dtype', type(g).__name__)}")
        if g.numel() and not torch.compiler.is_compiling() and (int(g.min()) < 0 or int(g.max()) >= self.order):
            raise ValueError(f"{self.name}: element indices must lie in [0, {self.order}), got "
                             f"[{int(g.min())}, {int(g.max())}]")
        return g

    def identity(self, batch_shape=(), dtype=None, device=None) -> torch.Tensor:
        return torch.zeros(tuple(batch_shape), dtype=torch.long, device=device)

    def compose(self, g: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        g, h = torch.broadcast_tensors(self.check_element(g), self.check_element(h))
        cayley, _ = self._tables(g.device)
        return cayley[g, h]

    def inverse(self, g: torch.Tensor) -> torch.Tensor:
        _, inv = self._tables(g.device)
        return inv[self.check_element(g)]

    def sample(self, n=(), generator=None, dtype=None, device=None) -> torch.Tensor:
        shape = (n,) if isinstance(n, int) else tuple(n)
        return torch.randint(0, self.order, shape, generator=generator, device=device)

    def elements(self) -> torch.Tensor:
        return torch.arange(self.order)

    def matrix(self, g: torch.Tensor) -> torch.Tensor:
        g = self.check_element(g)
        return self._matrices.to(dtype=torch.get_default_dtype(), device=g.device)[g]

    def from_matrix(self, m: torch.Tensor) -> torch.Tensor:
        n = self.ambient_dim
        if not isinstance(m, torch.Tensor) or m.dim() < 2 or m.shape[-2:] != (n, n):
            raise ValueError(f"{self.name}: expected matrices [..., {n}, {n}], got "
                             f"{getattr(m, 'shape', type(m).__name__)}")
        flat = m.reshape(-1, n * n).to(torch.float64)
        idx, dist = _nearest(flat, self._matrices.to(flat.device).reshape(self.order, -1))
        tol = 1e-6 if m.dtype == torch.float64 else 1e-3
        if flat.shape[0] and float(dist.max()) > tol:
            raise ValueError(f"{self.name}: a matrix is not an element of the group (distance {float(dist.max()):.2g} "
                             f"to the nearest element)")
        return idx.reshape(m.shape[:-2])

    def quadrature(self, degree: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.elements(), torch.full((self.order,), 1.0 / self.order, dtype=torch.float64)

    def _irrep_labels(self, band_limit):
        return list(self._labels)

    def regular_representation(self) -> Representation:
        r"""The regular representation: :math:`\rho(g) e_h = e_{gh}` on functions of the group
        (dimension |G|), decomposed into irreps."""
        return self.quotient_representation(None)

    def quotient_representation(self, subgroup: str | Group | None, band_limit: int | None = None) -> Representation:
        r"""The permutation representation on the cosets :math:`G / H` (``None``: H trivial, the regular
        representation), decomposed into irreps. Cosets are ordered by their smallest element index.

        >>> from steertorch.group import cyclic_group
        >>> rho = cyclic_group(4).quotient_representation("C2")
        >>> rho.size, [psi.label for psi in rho.irreps]
        (2, [0, 2])
        """
        if subgroup is None:
            members = torch.zeros(1, dtype=torch.long)
            sub_name = "1"
        else:
            if isinstance(subgroup, str):
                sub, include = self.subgroup(subgroup)
            else:
                sub, include = subgroup, self.inclusion(subgroup)
            members = include(sub.elements())
            sub_name = sub.name
        cosets = self._cayley[:, members]  # row g: the coset gH
        coset_id = {}
        index_of = torch.empty(self.order, dtype=torch.long)
        for g in range(self.order):
            key = int(cosets[g].min())
            coset_id.setdefault(key, len(coset_id))
            index_of[g] = coset_id[key]
        reps = torch.tensor(sorted(coset_id, key=coset_id.get))
        k = len(coset_id)
        # rho(g) e_{xH} = e_{gxH}
        perm = torch.zeros(self.order, k, k, dtype=torch.float64)
        target = index_of[self._cayley[:, reps]]  # [order, k]
        perm[torch.arange(self.order)[:, None], target, torch.arange(k)[None, :]] = 1.0

        def fn(g: torch.Tensor) -> torch.Tensor:
            return perm.to(dtype=torch.get_default_dtype(), device=g.device)[g]

        name = "regular" if subgroup is None else f"quotient[{self.name}/{sub_name}]"
        with float64_default():  # the change of basis exact to float64 whatever the default dtype
            return Representation.from_function(self, fn, k, name=name)


def _planar_rotations(n: int, ambient_dim: int) -> np.ndarray:
    """The N rotations by 2 pi i / N of the plane, or about the z axis, ``[N, d, d]``."""
    theta = 2 * np.pi * np.arange(n) / n
    out = np.zeros((n, ambient_dim, ambient_dim))
    out[:, 0, 0] = out[:, 1, 1] = np.cos(theta)
    out[:, 1, 0] = np.sin(theta)
    out[:, 0, 1] = -np.sin(theta)
    if ambient_dim == 3:
        out[:, 2, 2] = 1
    return out


def _nearest(x: torch.Tensor, table: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    d = torch.cdist(x, table.to(x.dtype))
    dist, idx = d.min(-1)
    return idx, dist


class CyclicGroup(FiniteGroup):
    r"""C_N: rotations by multiples of 2 pi / N in the plane, or about the z axis (``ambient_dim=3``).

    Element i is the rotation by 2 pi i / N. Irreps are labelled by frequency k = 0 .. N // 2:
    :math:`\psi_k(i) = \mathrm{rot}(2\pi k i / N)` (complex type), 1-dimensional for
    k = 0 and k = N / 2.

    >>> G = CyclicGroup(4)
    >>> [psi.label for psi in G.irreps()], G.order
    ([0, 1, 2], 4)
    """

    def __init__(self, n: int, ambient_dim: int = 2) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"C_N needs N >= 1 (int), got {n!r}")
        self.n = n
        super().__init__(f"C{n}" + ("z" if ambient_dim == 3 else ""), _planar_rotations(n, ambient_dim))
        self._labels = list(range(n // 2 + 1))

    def _canonical_label(self, label):
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= label <= self.n // 2:
            raise ValueError(f"{self.name} irreps are labelled by a frequency 0 <= k <= {self.n // 2}, got {label!r}")
        return int(label)

    def _build_irrep(self, k):
        i = torch.arange(self.n, dtype=torch.float64)
        if k == 0 or 2 * k == self.n:
            table = torch.cos(math.pi * k * i * 2 / self.n).round()[:, None, None]
            size, kind, endo = 1, "R", None
        else:
            table = rotation_2d(2 * math.pi * k * i / self.n)
            size, kind, endo = 2, "C", torch.stack([torch.eye(2, dtype=torch.float64), _J])

        def fn(g: torch.Tensor) -> torch.Tensor:
            return table.to(dtype=torch.get_default_dtype(), device=g.device)[g]

        return IrreducibleRepresentation(self, k, size, fn, type=kind, endomorphism_basis=endo, name=f"irrep_{k}")


class DihedralGroup(FiniteGroup):
    r"""D_N: C_N plus a reflection f, in the plane or about the z axis.

    Element ``f * N + i`` is :math:`r^i f^f` with r the rotation by 2 pi / N and f the flip:
    diag(1, -1) in the plane; in space the half turn about x (``flip="rotation"``, a
    subgroup of SO(3)) or the mirror y -> -y (``flip="mirror"``, the group C_N v).
    Irreps are labelled (j, k) as in escnn: (0, 0), (1, 0), (1, k) for 1 <= k < N/2
    (2-dimensional, :math:`\mathrm{rot}(2\pi k i / N)\,\mathrm{diag}(1, -1)^f`), and for even
    N also (0, N/2), (1, N/2).

    >>> G = DihedralGroup(4)
    >>> [psi.label for psi in G.irreps()]
    [(0, 0), (1, 0), (1, 1), (0, 2), (1, 2)]
    """

    def __init__(self, n: int, ambient_dim: int = 2, flip: str = "rotation") -> None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"D_N needs N >= 1 (int), got {n!r}")
        if flip not in ("rotation", "mirror"):
            raise ValueError(f"flip must be 'rotation' or 'mirror', got {flip!r}")
        self.n = n
        self.flip_kind = flip if ambient_dim == 3 else "mirror"
        rot = _planar_rotations(n, ambient_dim)
        if ambient_dim == 2:
            f = np.diag([1.0, -1.0])
        else:
            f = np.diag([1.0, -1.0, -1.0] if flip == "rotation" else [1.0, -1.0, 1.0])
        mats = np.concatenate([rot, rot @ f])
        suffix = "" if ambient_dim == 2 else ("z" if flip == "rotation" else "zv")
        super().__init__(f"D{n}{suffix}", mats)
        labels = [(0, 0), (1, 0)] + [(1, k) for k in range(1, (n + 1) // 2)]
        if n % 2 == 0:
            labels += [(0, n // 2), (1, n // 2)]
        self._labels = labels

    def _canonical_label(self, label):
        try:
            lab = tuple(int(v) for v in label)
        except (TypeError, ValueError):
            lab = None
        if lab not in self._labels:
            raise ValueError(f"{self.name} irreps are labelled {self._labels}, got {label!r}")
        return lab

    def _build_irrep(self, label):
        j, k = label
        i = torch.arange(self.n, dtype=torch.float64)
        f = torch.cat([torch.zeros(self.n), torch.ones(self.n)]).to(torch.float64)
        ii = torch.cat([i, i])
        sign = 1 - 2 * f
        if label in ((0, 0), (1, 0)) or 2 * k == self.n:
            table = torch.cos(math.pi * k * ii * 2 / self.n).round() * (sign if j == 1 else 1.0)
            table = table[:, None, None]
            size = 1
        else:
            flips = torch.stack([torch.ones_like(sign), sign], -1)[:, None, :]
            table = rotation_2d(2 * math.pi * k * ii / self.n) * flips
            size = 2

        def fn(g: torch.Tensor) -> torch.Tensor:
            return table.to(dtype=torch.get_default_dtype(), device=g.device)[g]

        return IrreducibleRepresentation(self, label, size, fn, name=f"irrep_({j},{k})")
