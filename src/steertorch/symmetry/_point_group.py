r"""The point group of a structure: the orthogonal maps about its centroid that permute its atoms.

Method. Centre on the centroid :math:`c` (fixed by every symmetry). Pick a reference atom
:math:`a` in the smallest class of atoms of its species and radius, and a second atom :math:`b`
far from the line through :math:`a`. A symmetry g maps them to atoms :math:`a', b'` of the same
species with :math:`|a'| = |a|, |b'| = |b|, a' \cdot b' = a \cdot b` (within the tolerance), and
is fixed by that choice and by its determinant, so each such pair gives two candidates: the
orthogonal maps taking the frame of :math:`(a, b)` to that of :math:`(a', b')`. Each candidate
assigns every atom its nearest atom of the same species; if that is a permutation :math:`\pi`, the
orthogonal map of that determinant closest to :math:`x_i \mapsto x_{\pi(i)}` (Procrustes) is refitted
on all atoms and accepted when :math:`\max_i |g x_i - x_{\pi(i)}| \le` ``tol`` (and, if given,
:math:`\max_i |g v_i - v_{\pi(i)}| \le` ``tol`` for the vector attributes). The accepted maps are
reduced to the largest subset closed under products, named by the Schoenflies flowchart
(:func:`classify_elements`) and replaced by the exact standard group carried into the structure's
orientation. Linear structures (every atom within ``tol`` of a line through :math:`c`) are
``Cinfv`` or ``Dinfh``; a structure with every atom at its centroid is ``Kh`` (O(3)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..group import Group, o3_group
from ._classify import classify_elements
from ._standard import LINEAR_GROUPS, standard_elements, standard_point_group
from ._validation import check_structure, check_tolerance

__all__ = ["point_group", "PointGroupResult"]


@dataclass(frozen=True)
class PointGroupResult:
    r"""The symmetry of a structure found by :func:`point_group`.

    ``elements`` ``[|G|, 3, 3]`` (float64) act about ``center``: :math:`x \mapsto c + g (x - c)`.
    ``frame`` is the rotation to the group's standard frame (principal axis along z, see
    :func:`~steertorch.symmetry.standard_point_group`): ``frame @ elements @ frame.T`` are the matrices
    of ``group``. For the infinite groups (``Cinfv``, ``Dinfh``, ``Kh``) ``elements`` are those of a
    finite subgroup (``C12v``, ``D12h``, ``Ih``) that has the same invariants up to degree l = 11 (l = 5
    for ``Kh``).
    """

    name: str
    elements: torch.Tensor
    frame: torch.Tensor
    center: torch.Tensor

    @property
    def order(self) -> int | None:
        """Number of elements (``None`` for the infinite groups)."""
        return None if self.name in LINEAR_GROUPS + ("Kh",) else int(self.elements.shape[0])

    @property
    def group(self) -> Group:
        """The group in its standard frame, from :mod:`steertorch.group` (``Kh``: O(3))."""
        return o3_group() if self.name == "Kh" else standard_point_group(self.name)

    def to_standard_frame(self, pos: torch.Tensor) -> torch.Tensor:
        """Positions ``[N, 3]`` moved to the standard frame: :math:`F (x - c)`."""
        pos = torch.as_tensor(pos)
        return (pos - self.center.to(pos)) @ self.frame.to(pos).T


def _orthogonal_frame(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Columns: a / |a|, the part of b orthogonal to a (normalised), and their cross product."""
    e1 = a / np.linalg.norm(a, axis=-1, keepdims=True)
    e2 = b - (b * e1).sum(-1, keepdims=True) * e1
    e2 = e2 / np.linalg.norm(e2, axis=-1, keepdims=True)
    return np.stack([e1, e2, np.cross(e1, e2)], axis=-1)


def _matching(x: np.ndarray, y: np.ndarray, species: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each candidate image ``y [K, N, 3]``: the nearest same-species atom of x ``[K, N]`` and whether it is
    a permutation ``[K]``."""
    k, n = y.shape[:2]
    d = np.linalg.norm(y[:, :, None, :] - x[None, None, :, :], axis=-1)  # [K, N, N]
    d = np.where(species[None, :, None] == species[None, None, :], d, np.inf)
    perm = d.argmin(-1)
    ok = np.array([len(np.unique(p)) == n for p in perm])
    return perm, ok


def _procrustes(x: np.ndarray, y: np.ndarray, det: float) -> np.ndarray:
    """The orthogonal g with determinant ``det`` minimising :math:`\\sum_i |g x_i - y_i|^2`."""
    u, _, vh = np.linalg.svd(y.T @ x)
    d = np.diag([1.0, 1.0, det * np.sign(np.linalg.det(u @ vh))])
    return u @ d @ vh


def _closed_subset(ops: list[np.ndarray]) -> list[np.ndarray]:
    """The largest subset (found by removing offenders) closed under products, within 0.1."""
    m = np.stack(ops)
    keep = np.ones(len(m), dtype=bool)
    while True:
        s = m[keep]
        prods = np.einsum("aij,bjk->abik", s, s).reshape(-1, 9)
        # |A - B|^2 = 6 - 2 <A, B> for orthogonal 3 x 3 matrices
        nearest = (prods @ s.reshape(-1, 9).T).max(-1).reshape(len(s), len(s))
        bad = (6 - 2 * nearest > 0.01).sum(1)
        if not bad.any():
            return list(s)
        idx = np.nonzero(keep)[0]
        keep[idx[int(bad.argmax())]] = False


def _symmetry_operations(x: np.ndarray, species: np.ndarray, vectors: np.ndarray | None,
                         tol: float) -> list[np.ndarray]:
    r = np.linalg.norm(x, axis=-1)
    same = (species[:, None] == species[None, :]) & (np.abs(r[:, None] - r[None, :]) <= 2 * tol)
    count = same.sum(1)
    far = r > 3 * tol
    a = int(np.lexsort((-r, count, ~far))[0])  # smallest class among atoms away from the centre
    ua = x[a] / r[a]
    off_line = np.linalg.norm(x - (x @ ua)[:, None] * ua, axis=-1)
    b = int(np.lexsort((count, -np.round(off_line / (3 * tol))))[0])
    dot_ab = float(x[a] @ x[b])
    a_img = np.nonzero(same[a])[0]
    b_img = np.nonzero(same[b])[0]
    dots = x[a_img] @ x[b_img].T
    ia, ib = np.nonzero(np.abs(dots - dot_ab) <= 4 * tol * (r[a] + r[b]) + 4 * tol**2)
    ia, ib = a_img[ia], b_img[ib]
    keep = ia != ib
    ia, ib = ia[keep], ib[keep]
    f0 = _orthogonal_frame(x[a], x[b])
    f1 = _orthogonal_frame(x[ia], x[ib])  # [K, 3, 3]
    flip = np.diag([1.0, 1.0, -1.0])
    cands = np.concatenate([f1 @ f0.T, f1 @ flip @ f0.T])
    dets = np.concatenate([np.ones(len(f1)), -np.ones(len(f1))])
    ops: list[np.ndarray] = []
    perm, ok = _matching(x, np.einsum("kij,nj->kni", cands, x), species)
    for p, good, det in zip(perm, ok, dets):
        if not good:
            continue
        g = _procrustes(x, x[p], det)
        if np.abs(x @ g.T - x[p]).max() > tol and np.linalg.norm(x @ g.T - x[p], axis=-1).max() > tol:
            continue
        if vectors is not None and np.linalg.norm(vectors @ g.T - vectors[p], axis=-1).max() > tol:
            continue
        if not any(np.abs(g - h).max() < 1e-3 for h in ops):
            ops.append(g)
    if not any(np.abs(g - np.eye(3)).max() < 1e-3 for g in ops):  # the identity always is a symmetry
        ops.insert(0, np.eye(3))
    return _closed_subset(ops)


def point_group(pos: torch.Tensor, species: torch.Tensor | None = None, tol: float = 1e-2,
                vectors: torch.Tensor | None = None) -> PointGroupResult:
    r"""The point group of the structure ``pos`` ``[N, 3]`` with ``species`` ``[N]`` (optional, must match
    under every symmetry) and optional polar vector attributes ``vectors`` ``[N, 3]``, within ``tol``
    (absolute, in the units of ``pos``: every atom lands within ``tol`` of an atom of its species).

    Any orientation and position; see the module docstring for the method. Returns a
    :class:`PointGroupResult` (``name``, ``elements``, ``frame``, ``center``, ``group``).

    >>> h2o = torch.tensor([[0.0, 0.0, 0.0], [0.757, 0.586, 0.0], [-0.757, 0.586, 0.0]])
    >>> pg = point_group(h2o, species=torch.tensor([8, 1, 1]))
    >>> pg.name, pg.order, pg.group.order
    ('C2v', 4, 4)
    """
    tol = check_tolerance(tol)
    p, s = check_structure(pos, species)
    x = (p - p.mean(0)).cpu().numpy()
    s = s.cpu().numpy()
    v = None
    if vectors is not None:
        v_t = torch.as_tensor(vectors).detach()
        if v_t.shape != p.shape:
            raise ValueError(f"vectors must be [N, 3] = {list(p.shape)}, got {list(v_t.shape)}")
        if not torch.isfinite(v_t).all():
            raise ValueError("vectors contain non-finite values (nan or inf)")
        v = v_t.to(torch.float64).cpu().numpy()
    center = p.mean(0).cpu()
    if np.linalg.norm(x, axis=-1).max() <= tol and (v is None or np.abs(v).max() <= tol):
        return PointGroupResult("Kh", standard_elements("Ih"), torch.eye(3, dtype=torch.float64), center)
    _, _, vh = np.linalg.svd(x if v is None else np.concatenate([x, v]))
    d = vh[0]
    extra = [] if v is None else [v]
    if all(np.linalg.norm(y - (y @ d)[:, None] * d, axis=-1).max() <= tol for y in [x] + extra):
        _, inverted = _matching(x, -x[None], s)
        perm = _matching(x, -x[None], s)[0][0]
        symmetric = bool(inverted[0]) and np.linalg.norm(-x - x[perm], axis=-1).max() <= tol
        if v is not None:
            symmetric = symmetric and np.linalg.norm(-v - v[perm], axis=-1).max() <= tol
        name = "Dinfh" if symmetric else "Cinfv"
        frame = torch.from_numpy(np.stack([vh[1], np.cross(d, vh[1]), d]))
        return PointGroupResult(name, frame.T @ standard_elements(name) @ frame, frame, center)
    ops = _symmetry_operations(x, s, v, tol)
    name, frame = classify_elements(np.stack(ops))
    return PointGroupResult(name, frame.T @ standard_elements(name) @ frame, frame, center)
