"""The abstract compact group: elements as batched tensors, irreps, Haar quadrature."""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from ._irrep import IrreducibleRepresentation
    from ._representation import Representation

__all__ = ["Group", "float64_default"]


class float64_default:
    """Context manager: float64 as torch's default dtype (finite-group tables follow the default dtype;
    numerical constructions such as decompositions run under it)."""

    def __enter__(self) -> None:
        self._old = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)

    def __exit__(self, *exc: object) -> None:
        torch.set_default_dtype(self._old)


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
        """The labels of the irreps up to ``band_limit`` (escnn's ``bl_irreps``; see :func:`bl_irreps`)."""
        from ._escnn_names import bl_irreps

        return bl_irreps(self, band_limit)

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
        from ._representation import Representation

        return Representation.from_function(self, self.matrix, self.ambient_dim, band_limit=1,
                                            name=f"{self.name}_standard")

    def regular_representation(self) -> Representation:
        """The regular representation (finite groups only)."""
        raise ValueError(f"{self.name} is not finite: use bl_regular_representation(band_limit)")

    def quotient_representation(self, subgroup: str | Group | None, band_limit: int | None = None) -> Representation:
        r"""Functions on the homogeneous space :math:`G / H` as a representation (band-limited for
        continuous groups): irrep psi occurs dim(H-fixed vectors of psi) / dim End(psi) times
        (Frobenius reciprocity). E.g. SO(3)/SO(2) (the sphere) gives one copy of each l."""
        from ._fourier import bl_quotient_representation

        return bl_quotient_representation(self, subgroup, band_limit)

    def bl_regular_representation(self, band_limit: int) -> Representation:
        r"""The band-limited regular representation :math:`\bigoplus_\psi \psi^{d_\psi / \dim End(\psi)}`
        acting on the Fourier coefficients of band-limited functions on the group."""
        from ._representation import Representation

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
        from ._intertwiners import intertwiner_copies

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
        from ._factory import group_from_name

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
