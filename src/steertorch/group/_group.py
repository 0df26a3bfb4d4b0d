"""The abstract compact group and its representations: :class:`Group`, :class:`Representation`,
:class:`IrreducibleRepresentation`, the decomposition of a representation into irreps, and groups by name.

The three classes are defined in terms of each other (a group has irreps and builds representations; a
representation belongs to a group and is a sum of its irreps), so they share this file, with everything that works
the same for every group. The concrete groups subclass :class:`Group` in the files above this one
(``_finite.py``, ``_continuous.py``, ``_point_groups.py``) and register their constructors by name
(:func:`register_group`, :func:`register_pattern`, at import: ``_factory.py`` and ``_point_groups.py``), which
:func:`group_from_name` and :meth:`Group.subgroup` look up. The package ``__init__`` imports every file, so the
table is full once ``steertorch.group`` is imported.
"""

from __future__ import annotations

import functools
import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Hashable, Sequence

import torch

from ._intertwiners import intertwiner_copies

__all__ = [
    "float64_default",
    "Group",
    "Representation",
    "directsum",
    "IrreducibleRepresentation",
    "decompose_function",
    "group_from_name",
    "available_groups",
    "register_group",
    "register_pattern",
]


class float64_default:
    """Context manager: float64 as torch's default dtype (finite-group tables follow the default dtype;
    numerical constructions such as decompositions run under it)."""

    def __enter__(self) -> None:
        self._old = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)

    def __exit__(self, *exc: object) -> None:
        torch.set_default_dtype(self._old)


# ---------------------------------------------------------------------------- the group
class Group(ABC):
    r"""A compact group :math:`G \le O(n)` whose elements are batched tensors.

    Every group in steertorch is a closed subgroup of :math:`O(2)` or :math:`O(3)`
    (``ambient_dim`` 2 or 3), so each element has a *standard action*, an orthogonal
    ``[n, n]`` matrix. Elements are stored as tensors whose trailing shape is
    ``element_shape``: ``[n, n]`` matrices for continuous groups, integer indices
    (``()``) for finite groups. All methods take batches ``[..., *element_shape]``.

    Subclasses provide: ``identity``, ``compose``, ``inverse``, ``sample``, ``matrix``
    (the standard action), ``from_matrix``, ``_irrep_labels`` / ``_build_irrep`` and
    ``quadrature``.

    >>> from steertorch.group import so2_group
    >>> G = so2_group()
    >>> g = G.sample(4, generator=torch.Generator().manual_seed(0))
    >>> bool(torch.allclose(G.compose(g, G.inverse(g)), G.identity((4,))))
    True
    """

    #: short name, e.g. ``"SO(3)"`` or ``"C8"``
    name: str
    #: dimension n of the space the group acts on (2 or 3)
    ambient_dim: int
    #: whether the group has finitely many elements
    is_finite: bool = False
    #: number of elements (finite groups), else ``None``
    order: int | None = None

    # ------------------------------------------------------------------ elements
    @property
    @abstractmethod
    def element_shape(self) -> tuple[int, ...]:
        """Trailing shape of one element: ``(n, n)`` for matrices, ``()`` for indices."""

    @abstractmethod
    def identity(self, batch_shape: Sequence[int] = (), dtype: torch.dtype | None = None,
                 device: torch.device | str | None = None) -> torch.Tensor:
        """The identity element, broadcast to ``batch_shape``."""

    @abstractmethod
    def compose(self, g: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """The product ``g h`` (apply ``h`` first), batched and broadcast."""

    @abstractmethod
    def inverse(self, g: torch.Tensor) -> torch.Tensor:
        """The inverse ``g^-1``, batched."""

    @abstractmethod
    def sample(self, n: int | Sequence[int] = (), generator: torch.Generator | None = None,
               dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> torch.Tensor:
        """``n`` elements drawn from the normalised Haar measure."""

    @abstractmethod
    def matrix(self, g: torch.Tensor) -> torch.Tensor:
        """The standard action of ``g`` on R^n, an orthogonal matrix ``[..., n, n]``."""

    @abstractmethod
    def from_matrix(self, m: torch.Tensor) -> torch.Tensor:
        """The element whose standard action is ``m`` (``ValueError`` if ``m`` is not in the group)."""

    def check_element(self, g: torch.Tensor) -> torch.Tensor:
        """Return ``g`` if its trailing shape is an element of this group, else raise ``ValueError``."""
        if not isinstance(g, torch.Tensor):
            raise ValueError(f"{self.name}: expected a tensor of elements, got {type(g).__name__}")
        shape = self.element_shape
        if tuple(g.shape[g.dim() - len(shape):]) != shape or g.dim() < len(shape):
            raise ValueError(
                f"{self.name}: expected elements of trailing shape {list(shape)}, got a tensor of shape "
                f"{list(g.shape)}"
            )
        return g

    def equal(self, g: torch.Tensor, h: torch.Tensor, atol: float = 1e-7) -> torch.Tensor:
        """Elementwise test ``g == h`` (up to ``atol`` on the standard action), batched."""
        d = self.matrix(g) - self.matrix(h)
        return d.abs().flatten(-2).amax(-1) <= atol

    # ------------------------------------------------------------------ finite groups
    def elements(self) -> torch.Tensor:
        """All elements (finite groups only)."""
        raise ValueError(f"{self.name} is not finite: use quadrature(degree) for a grid of elements")

    def testing_elements(self, n: int = 16) -> torch.Tensor:
        """Elements to test equivariance with (escnn's name): all elements of a finite group; for a continuous
        group the identity and ``n - 1`` float64 elements drawn from the Haar measure with a fixed seed (the same
        elements on every call).

        >>> from steertorch.group import cyclic_group, so3_group
        >>> cyclic_group(4).testing_elements().tolist()
        [0, 1, 2, 3]
        >>> so3_group().testing_elements(5).shape
        torch.Size([5, 3, 3])
        """
        if self.is_finite:
            return self.elements()
        g = self.sample(n, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        e = self.from_matrix(torch.eye(self.ambient_dim, dtype=torch.float64))
        return torch.cat([e.to(g.dtype)[None], g[1:]]) if n > 0 else g

    # ------------------------------------------------------------------ integration
    @abstractmethod
    def quadrature(self, degree: int) -> tuple[torch.Tensor, torch.Tensor]:
        r"""Elements ``g_i`` and weights ``w_i`` (summing to 1) with
        :math:`\sum_i w_i f(g_i) = \int_G f(g)\,dg` exactly for every matrix coefficient
        of every irrep of frequency / degree at most ``degree`` (finite groups: all elements,
        equal weights). Returned in float64."""

    # ------------------------------------------------------------------ irreps
    @abstractmethod
    def _irrep_labels(self, band_limit: int | None) -> list[Hashable]:
        """Labels of the irreps up to ``band_limit`` (all irreps for finite groups), ordered."""

    @abstractmethod
    def _build_irrep(self, label: Hashable) -> IrreducibleRepresentation:
        """Construct the irrep of a canonical label (called once per label, then cached)."""

    def _canonical_label(self, label: Hashable) -> Hashable:
        """Normalise a user-given label (e.g. ``"1o"`` -> ``(1, -1)``); raise ``ValueError`` if unknown."""
        return label

    def irrep(self, *label: Hashable) -> IrreducibleRepresentation:
        """The irreducible representation with this label (``G.irrep(2)``, ``G.irrep(1, -1)``)."""
        key = label[0] if len(label) == 1 else tuple(label)
        if isinstance(key, tuple) and len(key) == 1:  # escnn's ids of one-index labels: (k,) for k
            key = key[0]
        key = self._canonical_label(key)
        return self._irrep_cached(key)

    @functools.cache  # noqa: B019 - groups are long-lived, hashable singletons
    def _irrep_cached(self, label: Hashable) -> IrreducibleRepresentation:
        return self._build_irrep(label)

    def bl_irreps(self, band_limit: int | None = None) -> list[Hashable]:
        """The labels of the irreps up to ``band_limit`` (all for finite groups), in the group's order: escnn's
        ``G.bl_irreps(L)`` (also as the function :func:`~steertorch.group.bl_irreps`, which takes a name too)."""
        if band_limit is not None and (isinstance(band_limit, bool) or not isinstance(band_limit, int)
                                       or band_limit < 0):
            raise ValueError(f"bl_irreps: band_limit must be an int >= 0 or None, got {band_limit!r}")
        if not self.is_finite and band_limit is None:
            raise ValueError(f"bl_irreps: {self.name} has infinitely many irreps, pass a band_limit")
        return list(self._irrep_labels(band_limit))

    def irreps(self, band_limit: int | None = None) -> list[IrreducibleRepresentation]:
        """All irreps up to ``band_limit`` (required for continuous groups)."""
        if not self.is_finite and band_limit is None:
            raise ValueError(f"{self.name} has infinitely many irreps: pass a band_limit (an int >= 0)")
        return [self._irrep_cached(lab) for lab in self._irrep_labels(band_limit)]

    @property
    def trivial_representation(self) -> IrreducibleRepresentation:
        """The one-dimensional trivial irrep."""
        return self.irreps(0)[0]

    @property
    def standard_representation(self) -> Representation:
        """The action on R^n as a :class:`Representation` (decomposed into irreps; built once, cached)."""
        return self._standard_representation_cached()

    @functools.cache  # noqa: B019 - groups are long-lived, hashable singletons
    def _standard_representation_cached(self) -> Representation:
        return Representation.from_function(self, self.matrix, self.ambient_dim, band_limit=1,
                                            name=f"{self.name}_standard")

    def regular_representation(self) -> Representation:
        """The regular representation (finite groups only)."""
        raise ValueError(f"{self.name} is not finite: use bl_regular_representation(band_limit)")

    def quotient_representation(self, subgroup: str | Group | None, band_limit: int | None = None) -> Representation:
        r"""Functions on the homogeneous space :math:`G / H` as a representation (band-limited for
        continuous groups): irrep psi occurs dim(H-fixed vectors of psi) / dim End(psi) times
        (Frobenius reciprocity). E.g. SO(3)/SO(2) (the sphere) gives one copy of each l.

        ``subgroup`` is a name, a group or ``None`` (H trivial). Finite groups override this with the permutation
        representation on the cosets; this construction, for any group, is also
        :func:`~steertorch.group.bl_quotient_representation` (details there)."""
        if not self.is_finite:
            if band_limit is None:
                raise ValueError(f"{self.name} is continuous: pass a band_limit (an int >= 0)")
            band_limit = _check_band_limit(band_limit)
        else:
            band_limit = None
        if subgroup is None:
            sub, include = None, None
            sub_name = "1"
        else:
            if isinstance(subgroup, str):
                sub, include = self.subgroup(subgroup)
            else:
                sub, include = subgroup, self.inclusion(subgroup)
            sub_name = sub.name
        irreps = []
        with float64_default():
            for psi in self.irreps(band_limit):
                irreps += [psi] * _quotient_multiplicity(self, psi.label, sub, include)
        if not irreps:  # cannot happen (the trivial irrep is always H-fixed), kept for clarity
            raise RuntimeError(f"empty quotient representation {self.name}/{sub_name}")
        bl = "" if band_limit is None else f"_bl{band_limit}"
        return Representation(irreps, name=f"quotient[{self.name}/{sub_name}]{bl}")

    def bl_regular_representation(self, band_limit: int) -> Representation:
        r"""The band-limited regular representation :math:`\bigoplus_\psi \psi^{d_\psi / \dim End(\psi)}`
        acting on the Fourier coefficients of band-limited functions on the group."""
        irreps = []
        for psi in self.irreps(band_limit):
            irreps += [psi] * (psi.size // psi.endomorphism_dim)
        return Representation(irreps, name=f"{self.name}_regular_bl{band_limit}")

    def irrep_degree(self, label: Hashable) -> int:
        """The band-limit degree of an irrep (frequency or l); 0 for finite groups."""
        return 0

    # ------------------------------------------------------------------ Clebsch-Gordan
    def tensor_product_multiplicities(self, l1: Hashable, l2: Hashable) -> list[tuple[Hashable, int]]:
        r"""``[(label, m), ...]``: irrep ``label`` occurs ``m`` times in ``irrep(l1) x irrep(l2)``.

        Computed from characters, :math:`m = \langle \chi_c, \chi_1 \chi_2 \rangle / \dim End(\psi_c)`,
        with a quadrature exact for the band limit."""
        return self._tp_multiplicities(self._canonical_label(l1), self._canonical_label(l2))

    @functools.cache  # noqa: B019
    def _tp_multiplicities(self, l1: Hashable, l2: Hashable) -> list[tuple[Hashable, int]]:
        a, b = self._irrep_cached(l1), self._irrep_cached(l2)
        band = self.irrep_degree(l1) + self.irrep_degree(l2)
        with float64_default():
            g, w = self.quadrature(2 * band)
            chi = torch.diagonal(a(g), dim1=-2, dim2=-1).sum(-1) * torch.diagonal(b(g), dim1=-2, dim2=-1).sum(-1)
            out = []
            for c in self.irreps(band if not self.is_finite else None):
                chi_c = torch.diagonal(c(g), dim1=-2, dim2=-1).sum(-1)
                m = float((w * chi * chi_c).sum()) / c.endomorphism_dim
                if round(m) > 0:
                    out.append((c.label, int(round(m))))
        return out

    def clebsch_gordan(self, l1: Hashable, l2: Hashable, l3: Hashable) -> torch.Tensor:
        r"""Clebsch-Gordan coefficients ``C`` ``[m, d1, d2, d3]`` (float64) of ``psi3`` in ``psi1 x psi2``.

        Each of the ``m`` copies is an isometric intertwiner,
        :math:`(\psi_1(g) \otimes \psi_2(g))\, C_k = C_k\, \psi_3(g)` (``C_k`` reshaped to
        ``[d1 * d2, d3]``, Kronecker order) and :math:`C_k^\top C_l = \delta_{kl} I`.
        ``m`` is 0 (an empty tensor) when psi3 does not occur. Cached."""
        return self._clebsch_gordan_cached(
            self._canonical_label(l1), self._canonical_label(l2), self._canonical_label(l3)
        )

    @functools.cache  # noqa: B019
    def _clebsch_gordan_cached(self, l1: Hashable, l2: Hashable, l3: Hashable) -> torch.Tensor:
        return self._clebsch_gordan(l1, l2, l3)

    def _clebsch_gordan(self, l1: Hashable, l2: Hashable, l3: Hashable) -> torch.Tensor:
        """Numerical Clebsch-Gordan coefficients from the intertwiner projector (any group)."""
        a, b, c = self._irrep_cached(l1), self._irrep_cached(l2), self._irrep_cached(l3)
        band = self.irrep_degree(l1) + self.irrep_degree(l2) + self.irrep_degree(l3)
        with float64_default():
            g, w = self.quadrature(band)
            ga, gb = a(g).to(torch.float64), b(g).to(torch.float64)
            rho = torch.einsum("nij,nkl->nikjl", ga, gb).reshape(-1, a.size * b.size, a.size * b.size)
            copies = intertwiner_copies(rho, c(g).to(torch.float64), w, c.endomorphism_dim)
        if not copies:
            return torch.zeros(0, a.size, b.size, c.size, dtype=torch.float64)
        return torch.stack(copies).reshape(len(copies), a.size, b.size, c.size)

    # ------------------------------------------------------------------ subgroups
    def subgroup(self, name: str | int | tuple) -> tuple[Group, Callable[[torch.Tensor], torch.Tensor]]:
        """A named subgroup ``H`` and its inclusion map (elements of H -> elements of G).

        ``name`` is a group name (``"C4"``, ``"D2"``, ``"SO2"``) or one of escnn's subgroup ids of the planar
        (and axial) groups: an int ``N`` for C_N (``-1``: SO(2)); a pair ``(axis, N)`` with ``axis`` ``None`` for
        C_N / SO(2) and ``0`` (or ``0.``) for D_N / O(2) with the reflection of the group itself (``N = 1``: the
        reflection alone). Other reflection axes raise ``ValueError``.

        Every group is a subgroup of O(2) or O(3), so the inclusion goes through the
        standard action: ``h -> G.from_matrix(H.matrix(h))``.

        >>> from steertorch.group import o2_group
        >>> [o2_group().subgroup(i)[0].name for i in (4, (None, 4), (0., 4), (None, -1), (0, 1))]
        ['C4', 'C4', 'D4', 'SO(2)', 'D1']
        """
        sub = group_from_name(_subgroup_name(name), ambient_dim=self.ambient_dim)
        self._check_subgroup(sub)
        return sub, self.inclusion(sub)

    def inclusion(self, sub: Group) -> Callable[[torch.Tensor], torch.Tensor]:
        """The inclusion map of a subgroup ``sub`` (elements of sub -> elements of self)."""
        self._check_subgroup(sub)

        def include(h: torch.Tensor) -> torch.Tensor:
            return self.from_matrix(sub.matrix(h))

        return include

    def _check_subgroup(self, sub: Group) -> None:
        if sub.ambient_dim != self.ambient_dim:
            raise ValueError(f"{sub.name} acts on R^{sub.ambient_dim}, {self.name} on R^{self.ambient_dim}")
        if sub.is_finite:
            elems = sub.elements()
        else:
            elems = sub.sample(16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        try:
            self.from_matrix(sub.matrix(elems))
        except ValueError as err:
            raise ValueError(f"{sub.name} is not a subgroup of {self.name}: {err}") from None

    # ------------------------------------------------------------------ misc
    def __repr__(self) -> str:
        return self.name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Group) and type(self) is type(other) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._key()))

    def _key(self) -> Hashable:
        return self.name


def _check_band_limit(band_limit: object) -> int:
    if isinstance(band_limit, bool) or not isinstance(band_limit, int) or band_limit < 0:
        raise ValueError(f"band_limit must be an int >= 0, got {band_limit!r}")
    return band_limit


def _quotient_multiplicity(group: Group, label: Hashable, sub: Group | None, include) -> int:
    psi = group.irrep(label)
    if sub is None:
        return psi.size // psi.endomorphism_dim
    if sub.is_finite:
        h = sub.elements()
        w = torch.full((sub.order,), 1.0 / sub.order, dtype=torch.float64)
    else:
        h, w = sub.quadrature(max(group.irrep_degree(label), 0))
    chi = torch.diagonal(psi(include(h)), dim1=-2, dim2=-1).sum(-1).to(torch.float64)
    fixed = float((w * chi).sum())
    m = fixed / psi.endomorphism_dim
    if abs(m - round(m)) > 1e-6:
        raise RuntimeError(f"non-integer multiplicity {m} of {psi.name} in L^2({group.name}/{sub.name})")
    return int(round(m))


# ---------------------------------------------------------------------------- representations
class Representation:
    r"""An orthogonal representation :math:`\rho(g) = Q\,\big(\bigoplus_i \psi_i(g)\big)\,Q^\top`.

    ``irreps`` lists the irreducible blocks in order (repeats allowed) and
    ``change_of_basis`` is the orthogonal ``[size, size]`` matrix Q (``None`` means the
    identity). ``rho(g)`` evaluates a batch of elements ``[..., *G.element_shape]`` to
    ``[..., size, size]``.

    >>> from steertorch.group import so3_group
    >>> G = so3_group()
    >>> rho = G.irrep(1).tensor(G.irrep(1))        # 3 x 3 = 0 + 1 + 2
    >>> [psi.label for psi in rho.irreps], rho.size
    ([0, 1, 2], 9)
    >>> g = G.sample(5, dtype=torch.float64)
    >>> bool(torch.allclose(rho(g), torch.einsum('nij,nkl->nikjl', g, g).reshape(5, 9, 9)))
    True
    """

    def __init__(
        self,
        irreps: Sequence[IrreducibleRepresentation],
        change_of_basis: torch.Tensor | None = None,
        name: str | None = None,
    ) -> None:
        irreps = list(irreps)
        if not irreps:
            raise ValueError("a Representation needs at least one irrep, got an empty list")
        group = irreps[0].group
        for psi in irreps:
            if psi.group != group:
                raise ValueError(f"all irreps must belong to one group: got {group.name} and {psi.group.name}")
        self.group = group
        self.irreps = irreps
        self.size = sum(psi.size for psi in irreps)
        if change_of_basis is not None:
            change_of_basis = change_of_basis.to(torch.float64)
            if change_of_basis.shape != (self.size, self.size):
                raise ValueError(f"change_of_basis must be [{self.size}, {self.size}], "
                                 f"got {list(change_of_basis.shape)}")
            err = (change_of_basis.T @ change_of_basis - torch.eye(self.size, dtype=torch.float64)).abs().max()
            if err > 1e-8:
                raise ValueError(f"change_of_basis must be orthogonal (Q^T Q = I), deviation {float(err):.2e}")
            if bool((change_of_basis - torch.eye(self.size, dtype=torch.float64)).abs().max() < 1e-15):
                change_of_basis = None
        self.change_of_basis = change_of_basis
        self.name = name if name is not None else "+".join(str(psi.label) for psi in irreps)

    # ----------------------------------------------------------------- evaluation
    def __call__(self, g: torch.Tensor) -> torch.Tensor:
        g = self.group.check_element(g)
        batch = g.shape[: g.dim() - len(self.group.element_shape)]
        values = {}
        for psi in self.irreps:
            if psi.label not in values:
                values[psi.label] = psi(g)
        first = next(iter(values.values()))
        out = torch.zeros(*batch, self.size, self.size, dtype=first.dtype, device=first.device)
        i = 0
        for psi in self.irreps:
            out[..., i:i + psi.size, i:i + psi.size] = values[psi.label]
            i += psi.size
        if self.change_of_basis is not None:
            q = self.change_of_basis.to(dtype=out.dtype, device=out.device)
            out = q @ out @ q.T
        return out

    def character(self, g: torch.Tensor) -> torch.Tensor:
        r"""The character :math:`\chi(g) = \mathrm{tr}\,\rho(g)`, batched."""
        total = None
        counts = Counter(psi.label for psi in self.irreps)
        for psi in {psi.label: psi for psi in self.irreps}.values():
            t = counts[psi.label] * torch.diagonal(psi(g), dim1=-2, dim2=-1).sum(-1)
            total = t if total is None else total + t
        return total

    # ----------------------------------------------------------------- structure
    def multiplicities(self) -> dict[Hashable, int]:
        """How many times each irrep label occurs, in order of first appearance."""
        return dict(Counter(psi.label for psi in self.irreps))

    def multiplicity(self, label: Hashable) -> int:
        """How many copies of the irrep ``label`` the representation contains."""
        label = self.group._canonical_label(label)
        return sum(1 for psi in self.irreps if psi.label == label)

    def is_trivial(self) -> bool:
        """True when every irrep is the trivial one."""
        triv = self.group.trivial_representation.label
        return all(psi.label == triv for psi in self.irreps)

    def dense_change_of_basis(self) -> torch.Tensor:
        """Q as a dense float64 matrix (the identity when ``change_of_basis`` is ``None``)."""
        if self.change_of_basis is None:
            return torch.eye(self.size, dtype=torch.float64)
        return self.change_of_basis

    # ----------------------------------------------------------------- constructions
    def __add__(self, other: Representation) -> Representation:
        return directsum(self, other)

    def __mul__(self, n: int) -> Representation:
        return directsum(*([self] * n)) if isinstance(n, int) and n > 0 else NotImplemented

    __rmul__ = __mul__

    def tensor(self, other: Representation) -> Representation:
        r"""The tensor product :math:`\rho_1 \otimes \rho_2` (Kronecker order: index ``i * d2 + j``),
        decomposed into irreps with the Clebsch-Gordan coefficients of the group."""
        if other.group != self.group:
            raise ValueError(f"cannot tensor a representation of {self.group.name} with one of {other.group.name}")
        d1, d2 = self.size, other.size
        irreps: list[IrreducibleRepresentation] = []
        cols = []
        o1 = 0
        for a in self.irreps:
            o2 = 0
            for b in other.irreps:
                found, q = _tensor_irreps(a, b)
                # place the block [a.size * b.size] rows inside the Kronecker index space
                rows = ((o1 + torch.arange(a.size))[:, None] * d2 + (o2 + torch.arange(b.size))[None, :]).reshape(-1)
                block = torch.zeros(d1 * d2, q.shape[1], dtype=torch.float64)
                block[rows] = q
                cols.append(block)
                irreps += found
                o2 += b.size
            o1 += a.size
        q = torch.cat(cols, dim=1)
        left = torch.kron(self.dense_change_of_basis(), other.dense_change_of_basis())
        return Representation(irreps, left @ q, name=f"({self.name})x({other.name})")

    def restrict(self, subgroup: str | Group) -> Representation:
        """Restrict to a subgroup ``H`` (a name such as ``"C4"`` or a group), decomposed into H's irreps."""
        if isinstance(subgroup, str):
            sub, _ = self.group.subgroup(subgroup)
        else:
            sub = subgroup
            self.group._check_subgroup(sub)
        irreps: list[IrreducibleRepresentation] = []
        blocks = []
        for psi in self.irreps:
            found, q = _restrict_irrep(psi, sub)
            irreps += found
            blocks.append(q)
        q = self.dense_change_of_basis() @ torch.block_diag(*blocks)
        return Representation(irreps, q, name=f"{self.name}|{sub.name}")

    @staticmethod
    def from_function(
        group: Group, function: Callable[[torch.Tensor], torch.Tensor], size: int,
        band_limit: int | None = None, name: str | None = None,
    ) -> Representation:
        """Decompose a representation given as a function ``g -> [..., size, size]`` into irreps.

        ``band_limit`` bounds the irreps searched for (continuous groups only)."""
        irreps, q = decompose_function(group, function, size, band_limit)
        return Representation(irreps, q, name=name)

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, Representation):
            return False
        if self.group != other.group or [p.label for p in self.irreps] != [p.label for p in other.irreps]:
            return False
        return bool(torch.allclose(self.dense_change_of_basis(), other.dense_change_of_basis(), atol=1e-10))

    def __hash__(self) -> int:
        return hash((self.group, tuple(p.label for p in self.irreps)))

    def __repr__(self) -> str:
        return f"{self.group.name}|[{self.name}]:{self.size}"

    def __reduce__(self):
        # pickle / deepcopy: the irreps (each stored as its group and label, see IrreducibleRepresentation), the
        # change of basis and the name
        return (Representation, (self.irreps, self.change_of_basis, self.name))


def directsum(*reps: Representation, name: str | None = None) -> Representation:
    r"""The direct sum :math:`\rho_1 \oplus \rho_2 \oplus \dots` (block diagonal).

    >>> from steertorch.group import so2_group
    >>> G = so2_group()
    >>> rho = directsum(G.irrep(0), G.irrep(1), G.irrep(1))
    >>> rho.size, rho.multiplicity(1)
    (5, 2)
    """
    if not reps:
        raise ValueError("directsum needs at least one representation")
    irreps = [psi for r in reps for psi in r.irreps]
    if all(r.change_of_basis is None for r in reps):
        q = None
    else:
        q = torch.block_diag(*[r.dense_change_of_basis() for r in reps])
    return Representation(irreps, q, name=name or "+".join(r.name for r in reps))


@functools.cache
def _tensor_irreps(a: IrreducibleRepresentation, b: IrreducibleRepresentation):
    """(irreps, Q) with psi_a (x) psi_b = Q (+ psi_c) Q^T, from the group's Clebsch-Gordan coefficients."""
    group = a.group
    found = []
    cols = []
    for c, m in group.tensor_product_multiplicities(a.label, b.label):
        cg = group.clebsch_gordan(a.label, b.label, c)  # [m, da, db, dc]
        psi = group.irrep(c)
        for k in range(m):
            found.append(psi)
            cols.append(cg[k].reshape(a.size * b.size, psi.size))
    q = torch.cat(cols, dim=1)
    if q.shape[1] != a.size * b.size:
        raise RuntimeError(f"tensor product {a.label} x {b.label} of {group.name} decomposed into {q.shape[1]} "
                           f"dimensions, expected {a.size * b.size}")
    return found, q


@functools.cache
def _restrict_irrep(psi: IrreducibleRepresentation, sub: Group):
    include = psi.group.inclusion(sub)
    band = None if sub.is_finite else max(psi.group.irrep_degree(psi.label), 0)
    return decompose_function(sub, lambda h: psi(include(h)), psi.size, band)


class IrreducibleRepresentation(Representation):
    r"""A real irreducible representation :math:`\psi: G \to O(d)`.

    ``psi(g)`` maps a batch of elements ``[..., *G.element_shape]`` to ``[..., d, d]``.

    Real irreps come in three types, told apart by their endomorphism algebra
    :math:`\mathrm{End}_G(\psi) = \{A : A\psi(g) = \psi(g)A\}`:

    - ``"R"`` (real type): only multiples of the identity, dimension 1;
    - ``"C"`` (complex type, e.g. SO(2) frequency k >= 1): spanned by I and a complex
      structure J (J^2 = -I), dimension 2;
    - ``"H"`` (quaternionic type): dimension 4.

    ``endomorphism_basis`` is ``[E, d, d]`` with E = 1, 2 or 4 orthogonal matrices, the
    identity first. Equivariant linear maps between copies of psi are linear combinations
    of them (this is what later layers use to count free parameters).

    >>> from steertorch.group import so2_group
    >>> psi = so2_group().irrep(2)
    >>> psi.size, psi.type, psi.endomorphism_dim
    (2, 'C', 2)
    >>> g = torch.tensor([[[0.0, -1.0], [1.0, 0.0]]])  # rotation by 90 degrees
    >>> psi(g).round() + 0.0  # + 0.0 turns -0. into 0.
    tensor([[[-1.,  0.],
             [ 0., -1.]]])
    """

    def __init__(
        self,
        group: Group,
        label: Hashable,
        size: int,
        function: Callable[[torch.Tensor], torch.Tensor],
        type: str = "R",
        endomorphism_basis: torch.Tensor | None = None,
        name: str | None = None,
    ) -> None:
        if type not in ("R", "C", "H"):
            raise ValueError(f"irrep type must be 'R', 'C' or 'H', got {type!r}")
        self.group = group
        self.label = label
        self.size = int(size)
        self._function = function
        self.type = type
        if endomorphism_basis is None:
            if type != "R":
                raise ValueError(f"an irrep of type {type!r} needs its endomorphism_basis")
            endomorphism_basis = torch.eye(size, dtype=torch.float64)[None]
        self.endomorphism_basis = endomorphism_basis.to(torch.float64)
        expected = {"R": 1, "C": 2, "H": 4}[type]
        if self.endomorphism_basis.shape != (expected, size, size):
            raise ValueError(
                f"endomorphism_basis of a type-{type} irrep of size {size} must have shape "
                f"{[expected, size, size]}, got {list(self.endomorphism_basis.shape)}"
            )
        self.name = name if name is not None else f"{group.name}_irrep{label}"
        self.irreps = [self]
        self.change_of_basis = None

    def __reduce__(self):
        # the evaluation function is a closure, which pickle cannot store: an irrep is stored as its group and label,
        # and is the group's irrep of that label again when loaded (every irrep is built by its group's irrep())
        return (_group_irrep, (self.group, self.label))

    @property
    def endomorphism_dim(self) -> int:
        """Dimension of the endomorphism algebra: 1 (real), 2 (complex) or 4 (quaternionic) type."""
        return self.endomorphism_basis.shape[0]

    def __call__(self, g: torch.Tensor) -> torch.Tensor:
        g = self.group.check_element(g)
        return self._function(g)

    def is_trivial(self) -> bool:
        return self.label == self.group.trivial_representation.label

    def __repr__(self) -> str:
        return self.name

    def __deepcopy__(self, memo: dict) -> IrreducibleRepresentation:
        return _group_irrep(self.group, self.label)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, IrreducibleRepresentation) and self.group == other.group
            and self.label == other.label
        )

    def __hash__(self) -> int:
        return hash((self.group, self.label))


def _group_irrep(group: Group, label: Hashable) -> IrreducibleRepresentation:
    return group.irrep(label)


# ---------------------------------------------------------------------------- decomposition into irreps
def decompose_function(
    group: Group,
    function: Callable[[torch.Tensor], torch.Tensor],
    size: int,
    band_limit: int | None,
    candidates: list[IrreducibleRepresentation] | None = None,
) -> tuple[list[IrreducibleRepresentation], torch.Tensor]:
    r"""Decompose :math:`\rho(g) = Q\,(\bigoplus_i \psi_i(g))\,Q^\top` into irreps of ``group``.

    ``function`` maps elements to ``[..., size, size]`` orthogonal matrices. Irreps are
    looked for up to ``band_limit`` (all of them for finite groups); the quadrature is
    exact for degree ``2 * band_limit``. Raises ``ValueError`` if the irreps found do not
    fill the whole space (band limit too low, or ``function`` not a representation).
    """
    with float64_default():
        return _decompose(group, function, size, band_limit, candidates)


def _decompose(group, function, size, band_limit, candidates):
    if candidates is None:
        candidates = group.irreps(band_limit)
    degree = 2 * (band_limit or 0)
    elements, weights = group.quadrature(degree)
    rho = function(elements).to(torch.float64)
    if rho.shape[-2:] != (size, size):
        raise ValueError(f"representation function returned matrices of shape {list(rho.shape[-2:])}, "
                         f"expected {[size, size]}")
    found: list[IrreducibleRepresentation] = []
    blocks: list[torch.Tensor] = []
    total = 0
    for psi in candidates:
        if total == size:
            break
        try:
            copies = intertwiner_copies(rho, psi(elements).to(torch.float64), weights, psi.endomorphism_dim)
        except RuntimeError as err:  # inconsistent intertwiner space: not an orthogonal representation
            raise ValueError(f"could not decompose a function of {group.name} into irreps: {err} (check it is an "
                             f"orthogonal representation)") from None
        for t in copies:
            found.append(psi)
            blocks.append(t)
            total += psi.size
    if total != size:
        raise ValueError(
            f"could not decompose a representation of size {size} of {group.name} into irreps up to band "
            f"limit {band_limit}: found only {total} dimensions (raise the band limit, or check it is a "
            f"representation)"
        )
    q = torch.cat(blocks, dim=1)
    return found, q


# ---------------------------------------------------------------------------- groups by name
# name -> (ambient dimensions, constructor of the group acting on R^d), and the patterns such as ``C{N}`` (listed as
# written in available_groups); filled at import by _factory.py (SO2, O2, SO3, O3, C{N}, D{N}, C{N}v, ...) and
# _point_groups.py (T, O, I, ..., C{N}h, D{N}h)
_NAMED: dict[str, tuple[tuple[int, ...], Callable[[int], Group]]] = {}
_PATTERNS: dict[str, tuple[re.Pattern, tuple[int, ...], Callable[[re.Match, int], Group]]] = {}


def register_group(name: str, ambient_dims: tuple[int, ...], factory: Callable[[int], Group]) -> None:
    """Make :func:`group_from_name` return ``factory(d)`` for ``name`` acting on R^d, d in ``ambient_dims`` (the
    first is the default)."""
    _NAMED[name] = (ambient_dims, factory)


def register_pattern(shown_as: str, pattern: str, ambient_dims: tuple[int, ...],
                     factory: Callable[[re.Match, int], Group]) -> None:
    """Make :func:`group_from_name` return ``factory(match, d)`` for the names matching the regular expression
    ``pattern`` (listed by :func:`available_groups` as ``shown_as``, e.g. ``"C{N}"``)."""
    _PATTERNS[shown_as] = (re.compile(pattern), ambient_dims, factory)


def available_groups() -> list[str]:
    """Names accepted by :func:`group_from_name` (``{N}`` stands for any N >= 1).

    >>> "SO3" in available_groups() and "C{N}" in available_groups()
    True
    """
    return sorted(_NAMED) + list(_PATTERNS)


def group_from_name(name: str, ambient_dim: int | None = None) -> Group:
    """The group called ``name`` acting on R^ambient_dim (default: 2 for planar names, else 3).

    Names: ``SO2``, ``O2``, ``C{N}``, ``D{N}`` (plane, or about z in space), ``SO3``,
    ``O3``, ``C{N}v`` and the 3D point groups listed by :func:`available_groups`.

    >>> group_from_name("D4").order, group_from_name("C4", ambient_dim=3).ambient_dim
    (8, 3)
    >>> group_from_name("X9")
    Traceback (most recent call last):
    ...
    ValueError: unknown group 'X9': expected one of ...
    """
    if not isinstance(name, str):
        raise ValueError(f"a group name is a string such as 'SO3' or 'D4', got {name!r}")
    key = name.replace("(", "").replace(")", "").replace("_", "").strip()
    if key in _NAMED:
        dims, factory = _NAMED[key]
        d = ambient_dim if ambient_dim is not None else dims[0]
        if d not in dims:
            raise ValueError(f"group {name!r} acts on R^{dims}, not on R^{d}")
        return factory(d)
    for pattern, dims, pattern_factory in _PATTERNS.values():
        m = pattern.match(key)
        if m:
            d = ambient_dim if ambient_dim is not None else dims[0]
            if d not in dims:
                raise ValueError(f"group {name!r} acts on R^{dims}, not on R^{d}")
            return pattern_factory(m, d)
    raise ValueError(f"unknown group {name!r}: expected one of {', '.join(available_groups())}")


def _subgroup_name(sid: object) -> str:
    """The group name of a subgroup id (a name, or escnn's int / (axis, N) ids of planar groups)."""
    if isinstance(sid, str):
        return sid
    axis, n = (None, sid) if not isinstance(sid, tuple) else (sid if len(sid) == 2 else (None, None))
    if isinstance(n, bool) or not isinstance(n, int) or (n < 1 and n != -1):
        raise ValueError(f"unknown subgroup id {sid!r}: expected a group name, an int N (C_N, -1 for SO(2)) or a "
                         f"pair (axis, N) with axis None (rotations) or 0 (with the reflection)")
    if axis is None:
        return "SO2" if n == -1 else f"C{n}"
    if isinstance(axis, bool) or not isinstance(axis, (int, float)) or float(axis) != 0.0:
        raise ValueError(f"subgroup id {sid!r}: only the reflection axis 0 of the group itself is supported (a "
                         f"dihedral subgroup with another axis is a conjugate: use a G-space with a rotated frame)")
    return "O2" if n == -1 else f"D{n}"
