r"""The 3D point groups: T, O, I and their extensions by mirrors and the inversion, C_N h, D_N h,
and the continuous axial groups with inversion.

Finite groups are :class:`PointGroup` instances, generated from a few matrices and
registered by name with :func:`~steertorch.group.group_from_name`:

========  =====  ==================================================================
name      order  generators (the cube aligned with the axes)
========  =====  ==================================================================
``T``     12     half turn about z, 120-degree turn about (1, 1, 1)
``O``     24     quarter turn about z, 120-degree turn about (1, 1, 1)
``I``     60     ``T``'s generators and a 72-degree turn about the vertex (0, 1, phi)
``Th``    24     ``T`` and the inversion -I
``Td``    24     ``T`` and the mirror x <-> y (no inversion)
``Oh``    48     ``O`` and -I
``Ih``    120    ``I`` and -I
``C{N}h`` 2N     turn by 2 pi / N about z and the mirror z -> -z
``D{N}h`` 4N     ``C{N}h`` and the half turn about x
========  =====  ==================================================================

Continuous: ``Cinf`` = SO(2) about z, ``Dinf`` = O(2) about z with the half turn about x,
``Cinfv`` = O(2) about z with the mirror y -> -y, ``Cinfh`` = ``Cinf`` x {+-I} and
``Dinfh`` = ``Dinf`` x {+-I}.

Irreps of a finite point group are found inside the restrictions of the O(3) irreps
(l, p), l = 0, 1, 2, ..., and given a canonical basis (see :class:`PointGroup`).
"""

from __future__ import annotations

import functools
from collections.abc import Hashable, Sequence

import numpy as np
import torch

from ._continuous import InversionProduct
from ._factory import o2_group, o3_group, so2_group
from ._finite import FiniteGroup, close_under_products
from ._group import IrreducibleRepresentation, register_group, register_pattern

__all__ = [
    "PointGroup",
    "tetrahedral_group",
    "octahedral_group",
    "icosahedral_group",
    "cnh_group",
    "dnh_group",
    "cinfh_group",
    "dinfh_group",
]

_PHI = (1 + 5**0.5) / 2
_MAX_L = 64  # the irreps of every group here appear by l = N / 2 + 1 (C_N h, D_N h) or l = 3
_LETTERS = {1: "A", 2: "E", 3: "T", 4: "G", 5: "H"}


def _axis_rotation(axis: Sequence[float], angle: float) -> np.ndarray:
    """Rotation by ``angle`` about ``axis`` (Rodrigues)."""
    u = np.asarray(axis, dtype=np.float64)
    u = u / np.linalg.norm(u)
    k = np.array([[0.0, -u[2], u[1]], [u[2], 0.0, -u[0]], [-u[1], u[0], 0.0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


def _z_rotation(n: int) -> np.ndarray:
    c, s = np.cos(2 * np.pi / n), np.sin(2 * np.pi / n)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


_C2Z = np.diag([-1.0, -1.0, 1.0])
_C2X = np.diag([1.0, -1.0, -1.0])
_C3D = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # x -> y -> z -> x, about (1, 1, 1)
_C4Z = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
_C5V = _axis_rotation([0.0, 1.0, _PHI], 2 * np.pi / 5)  # about the icosahedron's vertex (0, 1, phi)
_INVERSION = -np.eye(3)
_MIRROR_XY = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # x <-> y
_MIRROR_Z = np.diag([1.0, 1.0, -1.0])


def _polish(mats: np.ndarray) -> np.ndarray:
    """Nearest orthogonal matrices (removes the rounding accumulated by products)."""
    u, _, vh = np.linalg.svd(mats)
    return u @ vh


def _gram_schmidt_columns(p: np.ndarray, k: int, tol: float = 1e-6) -> np.ndarray:
    """The first ``k`` orthonormal vectors of Gram-Schmidt on the columns of ``p`` taken in order
    (columns whose residual norm is below ``tol`` are skipped)."""
    basis: list[np.ndarray] = []
    for j in range(p.shape[1]):
        v = p[:, j].copy()
        for _ in range(2):  # twice: orthogonal to rounding level
            for b in basis:
                v -= b * (b @ v)
        norm = float(np.linalg.norm(v))
        if norm > tol:
            basis.append(v / norm)
            if len(basis) == k:
                break
    if len(basis) != k:
        raise RuntimeError(f"found only {len(basis)} independent columns, expected {k}")
    return np.stack(basis, axis=1)


def _clusters(values: np.ndarray) -> list[np.ndarray]:
    """Indices of sorted eigenvalues grouped where they (numerically) coincide."""
    scale = max(1.0, float(np.abs(values).max()))
    groups = [[0]]
    for i in range(1, len(values)):
        if values[i] - values[i - 1] > 1e-7 * scale:
            groups.append([i])
        else:
            groups[-1].append(i)
    return [np.array(g) for g in groups]


def _complex_structure(table: np.ndarray) -> np.ndarray:
    r"""The complex structure J (antisymmetric, :math:`J^2 = -I`) commuting with an irrep of complex type.

    From the Reynolds projector :math:`A \mapsto \frac{1}{|G|}\sum_g \psi(g) A \psi(g)^\top` applied to
    :math:`E_{ij} - E_{ji}` for (i, j) in row-major order: the first non-zero image, normalised.
    """
    d = table.shape[-1]
    for i in range(d):
        for j in range(i + 1, d):
            e = np.zeros((d, d))
            e[i, j], e[j, i] = 1.0, -1.0
            a = np.einsum("nij,jk,nlk->il", table, e, table) / table.shape[0]
            a = (a - a.T) / 2
            c = float(np.trace(a.T @ a)) / d
            if c > 1e-8:
                return a / c**0.5
    raise RuntimeError("no antisymmetric endomorphism found: the representation is not of complex type")


class PointGroup(FiniteGroup):
    r"""A finite subgroup of O(3) generated by ``generators``, with irreps from the O(3) irreps.

    Elements are indices into the closure of the generators (identity first). The irreps
    are labelled 0, 1, 2, ... in the order they are found in the restrictions of the O(3)
    irreps :math:`D^{(l, p)}` for l = 0, 1, 2, ... and p = +1 then -1 (p = -1 only if the
    group has an improper element): a restriction is split into irreducible subspaces, and
    each irreducible character not met before becomes a new irrep (new irreps of one
    restriction are ordered by dimension, then by their character values). Its basis is canonical:
    Gram-Schmidt on the columns, in order, of the isotypic projector
    :math:`P = \frac{d}{|G| \dim End} \sum_g \chi(g) D^{(l, p)}(g)` (the spectral splitting is
    used only to find the characters, so no random choice enters the basis). Irreps of
    complex type (e.g. T's 2-dimensional E) carry ``endomorphism_basis`` [I, J].

    Each irrep also has a Mulliken-style ``name``: A, E, T, G, H for dimension 1 .. 5,
    numbered in order of discovery when a letter repeats, with ``g`` / ``u`` (even / odd
    under the inversion) when -I is in the group. Labels may be given as the int or the name.

    >>> from steertorch.group import group_from_name
    >>> G = group_from_name("O")
    >>> G.order, [psi.name for psi in G.irreps()]
    (24, ['A1', 'T1', 'E', 'T2', 'A2'])
    >>> G.irrep("T2").label, G.irrep_origin(3)
    (3, (2, 1))
    """

    def __init__(self, name: str, generators: Sequence[np.ndarray], description: str = "") -> None:
        mats = close_under_products([np.asarray(g, dtype=np.float64) for g in generators])
        super().__init__(name, _polish(mats))
        self.description = description
        m = self._matrices.numpy()
        dets = np.linalg.det(m)
        self.has_improper = bool((dets < 0).any())
        inv = np.nonzero(np.abs(m + np.eye(3)).reshape(self.order, -1).max(-1) < 1e-8)[0]
        #: index of the inversion -I, or ``None`` if the group does not contain it
        self.inversion: int | None = int(inv[0]) if len(inv) else None

    # ------------------------------------------------------------------ irreps
    @property
    def _labels(self) -> list[int]:
        return list(range(len(self._irrep_data)))

    @functools.cached_property
    def _irrep_data(self) -> list[dict]:
        return _find_irreps(self)

    @functools.cached_property
    def _names(self) -> dict[str, int]:
        return {data["name"]: i for i, data in enumerate(self._irrep_data)}

    def _canonical_label(self, label: Hashable) -> int:
        n = len(self._irrep_data)
        if isinstance(label, str) and label in self._names:
            return self._names[label]
        if not isinstance(label, bool) and isinstance(label, (int, np.integer)) and 0 <= label < n:
            return int(label)
        raise ValueError(f"{self.name} irreps are labelled by an int 0 <= label < {n} or a name in "
                         f"{list(self._names)}, got {label!r}")

    def _build_irrep(self, label: int) -> IrreducibleRepresentation:
        data = self._irrep_data[label]
        table = torch.from_numpy(data["table"])

        def fn(g: torch.Tensor) -> torch.Tensor:
            return table.to(dtype=torch.get_default_dtype(), device=g.device)[g]

        endo = torch.from_numpy(data["endomorphism_basis"]) if data["type"] != "R" else None
        return IrreducibleRepresentation(self, label, data["table"].shape[-1], fn, type=data["type"],
                                         endomorphism_basis=endo, name=data["name"])

    def irrep_origin(self, label: Hashable) -> tuple[int, int]:
        """The O(3) irrep (l, p) in whose restriction this irrep was first found (its basis comes from there)."""
        return self._irrep_data[self._canonical_label(label)]["origin"]

    def character_table(self) -> torch.Tensor:
        """Characters ``[n_irreps, order]`` (float64): row ``label``, column element index."""
        return torch.from_numpy(np.stack([np.trace(d["table"], axis1=-2, axis2=-1) for d in self._irrep_data]))


def _find_irreps(group: PointGroup) -> list[dict]:
    """Irreps of a finite subgroup of O(3) from the restricted O(3) irreps (see :class:`PointGroup`)."""
    o3 = o3_group()
    n = group.order
    mats = group._matrices
    parities = (1, -1) if group.has_improper else (1,)
    found: list[dict] = []
    filled = 0.0
    for l in range(_MAX_L + 1):
        for p in parities:
            rho = o3.irrep((l, p))(mats).numpy()  # [n, d, d], float64
            chi = np.trace(rho, axis1=-2, axis2=-1)
            residual = chi.copy()
            for f in found:
                residual -= (f["chi"] @ chi) / (n * f["endo_dim"]) * f["chi"]
            if np.abs(residual).max() < 1e-6:
                continue
            # invariant subspaces: eigenspaces of a generic symmetric element of the commutant
            x = np.random.RandomState(2 * l + (p < 0)).standard_normal(rho.shape[1:])
            a = np.einsum("nij,jk,nlk->il", rho, x + x.T, rho) / n
            values, vectors = np.linalg.eigh(a)
            new: list[np.ndarray] = []
            for idx in _clusters(values):
                v = vectors[:, idx]
                chi_v = np.einsum("ji,njk,ki->n", v, rho, v)
                if not any(abs(f @ chi_v) / n > 0.5 for f in [f["chi"] for f in found] + new):
                    new.append(chi_v)
            # order independent of the spectral splitting: by dimension, then by character values
            new.sort(key=lambda c: (round(float(c[0])), tuple(-np.round(c, 6))))
            for chi_v in new:
                found.append(_new_irrep(group, rho, chi_v, (l, p)))
                filled += found[-1]["dim"] ** 2 / found[-1]["endo_dim"]
            if round(filled) == n:
                _name_irreps(group, found)
                return found
            if filled > n + 0.5:
                raise RuntimeError(f"{group.name}: irreps of total size {filled} exceed the order {n}")
    raise RuntimeError(f"{group.name}: not all irreps found in the O(3) irreps up to l = {_MAX_L}")


def _new_irrep(group: PointGroup, rho: np.ndarray, chi: np.ndarray, origin: tuple[int, int]) -> dict:
    n = group.order
    dim = int(round(float(chi[0])))
    norm = float(chi @ chi) / n
    endo_dim = int(round(norm))
    if abs(norm - endo_dim) > 1e-6 or endo_dim not in (1, 2, 4):
        raise RuntimeError(f"{group.name}: a subspace of D{origin} is not irreducible (<chi, chi> = {norm:.4f})")
    if endo_dim == 4:
        raise RuntimeError(f"{group.name}: irreps of quaternionic type are not supported")
    proj = dim / (n * endo_dim) * np.einsum("n,nij->ij", chi, rho)
    if np.abs(proj @ proj - proj).max() > 1e-8:
        raise RuntimeError(f"{group.name}: the isotypic projector of a new irrep in D{origin} is not a projector")
    multiplicity = int(round(float(np.trace(proj)))) // dim
    if multiplicity != 1 and dim > 1:
        raise RuntimeError(f"{group.name}: an irrep of dimension {dim} appears {multiplicity} times in D{origin} "
                           f"at its first appearance; no canonical basis")
    basis = _gram_schmidt_columns(proj, dim)
    basis = _gram_schmidt_columns(proj @ basis, dim)  # polish: exactly inside the isotypic component
    table = np.einsum("ji,njk,kl->nil", basis, rho, basis)
    data = {"chi": chi, "dim": dim, "endo_dim": endo_dim, "table": table, "origin": origin,
            "type": {1: "R", 2: "C"}[endo_dim]}
    if endo_dim == 2:
        j = _complex_structure(table)
        data["endomorphism_basis"] = np.stack([np.eye(dim), j])
        err = np.abs(np.einsum("ij,njk->nik", j, table) - np.einsum("nij,jk->nik", table, j)).max()
        if err > 1e-8 or np.abs(j @ j + np.eye(dim)).max() > 1e-8:
            raise RuntimeError(f"{group.name}: a 2-dimensional commutant that is not C (reducible subspace)")
    return data


def _name_irreps(group: PointGroup, found: list[dict]) -> None:
    keys = []
    for f in found:
        letter = _LETTERS.get(f["dim"], f"X{f['dim']}_")
        suffix = ""
        if group.inversion is not None:
            suffix = "g" if f["chi"][group.inversion] > 0 else "u"
        keys.append((letter, suffix))
    counts: dict[tuple[str, str], int] = {}
    totals = {k: keys.count(k) for k in keys}
    for f, key in zip(found, keys):
        counts[key] = counts.get(key, 0) + 1
        number = str(counts[key]) if totals[key] > 1 else ""
        f["name"] = f"{key[0]}{number}{key[1]}"


# ---------------------------------------------------------------------------- the named groups
@functools.cache
def tetrahedral_group(kind: str = "T") -> PointGroup:
    """T (rotations of the tetrahedron), Th (T x {+-I}) or Td (full tetrahedral group), cube aligned with the axes.

    T contains the half turns about x, y, z and the 120-degree turns about the diagonals (+-1, +-1, +-1).

    >>> [tetrahedral_group(k).order for k in ("T", "Th", "Td")]
    [12, 24, 24]
    """
    gens = {"T": [_C2Z, _C3D], "Th": [_C2Z, _C3D, _INVERSION], "Td": [_C2Z, _C3D, _MIRROR_XY]}
    if kind not in gens:
        raise ValueError(f"tetrahedral groups are 'T', 'Th' or 'Td', got {kind!r}")
    return PointGroup(kind, gens[kind], "tetrahedral")


@functools.cache
def octahedral_group(kind: str = "O") -> PointGroup:
    """O (rotations of the cube aligned with the axes: quarter turns about x, y, z) or Oh = O x {+-I}.

    >>> octahedral_group("Oh").order
    48
    """
    gens = {"O": [_C4Z, _C3D], "Oh": [_C4Z, _C3D, _INVERSION]}
    if kind not in gens:
        raise ValueError(f"octahedral groups are 'O' or 'Oh', got {kind!r}")
    return PointGroup(kind, gens[kind], "octahedral")


@functools.cache
def icosahedral_group(kind: str = "I") -> PointGroup:
    r"""I (rotations of the icosahedron) or Ih = I x {+-I}.

    Orientation: the icosahedron with vertices at the cyclic permutations of
    :math:`(0, \pm 1, \pm\varphi)`, :math:`\varphi = (1 + \sqrt 5) / 2`. Its 2-fold axes include x, y
    and z, so I contains T (and Ih contains Th) in the orientation used here; the 5-fold axes point
    at the vertices, e.g. (0, 1, phi), and the 3-fold axes include the diagonals (1, 1, 1).

    >>> icosahedral_group("Ih").order
    120
    """
    gens = {"I": [_C2Z, _C3D, _C5V], "Ih": [_C2Z, _C3D, _C5V, _INVERSION]}
    if kind not in gens:
        raise ValueError(f"icosahedral groups are 'I' or 'Ih', got {kind!r}")
    return PointGroup(kind, gens[kind], "icosahedral")


@functools.cache
def cnh_group(n: int) -> PointGroup:
    """C_N h: the turns by 2 pi k / N about z and the mirror z -> -z (order 2N).

    >>> cnh_group(4).order
    8
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"C_N h needs N >= 1 (int), got {n!r}")
    return PointGroup(f"C{n}h", [_z_rotation(n), _MIRROR_Z], "axial")


@functools.cache
def dnh_group(n: int) -> PointGroup:
    """D_N h: C_N about z, the half turn about x and the mirror z -> -z (order 4N).

    >>> dnh_group(3).order
    12
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"D_N h needs N >= 1 (int), got {n!r}")
    return PointGroup(f"D{n}h", [_z_rotation(n), _C2X, _MIRROR_Z], "axial")


@functools.cache
def cinfh_group() -> InversionProduct:
    """C_inf h = SO(2) about z, times {+-I}.

    >>> cinfh_group().name
    'Cinfh'
    """
    return InversionProduct(so2_group(3), name="Cinfh")


@functools.cache
def dinfh_group() -> InversionProduct:
    """D_inf h = O(2) about z (with the half turn about x), times {+-I}.

    >>> dinfh_group().name
    'Dinfh'
    """
    return InversionProduct(o2_group(3, "rotation"), name="Dinfh")


# the names group_from_name knows for these groups (and the axial groups with their 3D names)
for _kind in ("T", "Th", "Td"):
    register_group(_kind, (3,), lambda d, k=_kind: tetrahedral_group(k))
for _kind in ("O", "Oh"):
    register_group(_kind, (3,), lambda d, k=_kind: octahedral_group(k))
for _kind in ("I", "Ih"):
    register_group(_kind, (3,), lambda d, k=_kind: icosahedral_group(k))
register_group("Cinf", (3,), lambda d: so2_group(3))
register_group("Dinf", (3,), lambda d: o2_group(3, "rotation"))
register_group("Cinfv", (3,), lambda d: o2_group(3, "mirror"))
register_group("Cinfh", (3,), lambda d: cinfh_group())
register_group("Dinfh", (3,), lambda d: dinfh_group())
register_pattern("C{N}h", r"^C(\d+)h$", (3,), lambda m, d: cnh_group(int(m.group(1))))
register_pattern("D{N}h", r"^D(\d+)h$", (3,), lambda m, d: dnh_group(int(m.group(1))))
