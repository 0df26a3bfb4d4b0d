r"""Fourier transforms on compact groups, and band-limited quotient representations.

Peter-Weyl: every square-integrable function on a compact group G is a sum of matrix
coefficients of its irreps. For a real irrep :math:`\psi` of dimension :math:`d_\psi` with
endomorphism algebra of dimension :math:`E_\psi` (1, 2 or 4), the functions

.. math::

    A_{\psi, i, a}(g) = \sqrt{d_\psi}\, \big(\psi(g)\, v_a\big)_i,
    \qquad i = 0 .. d_\psi - 1,\quad a = 0 .. d_\psi / E_\psi - 1,

are orthonormal in :math:`L^2(G)` (normalised Haar measure) and span all matrix
coefficients of :math:`\psi`, provided the unit vectors :math:`v_a` satisfy
:math:`v_a^\top B\, v_b = \delta_{ab}\,\delta_{B, I}` for the endomorphism basis
:math:`B \in \{I, J, \dots\}` (Schur orthogonality for real irreps). For real-type irreps
the :math:`v_a` are all the standard basis vectors (all columns of :math:`\psi(g)`); for
complex-type irreps in standard form (complex structure J made of
:math:`\begin{pmatrix}0&-1\\1&0\end{pmatrix}` blocks, as SO(2) and C_N frequencies) they are
the even columns ``range(0, d, 2)``. For any other irrep (a complex- or quaternionic-type
irrep of a 3D point group, whose J need not be in block form) they are found by a
deterministic Gram-Schmidt over the endomorphism module: :math:`v_a` is the first standard
basis vector not in the span of :math:`\{B\, v_b\}_{b < a}`, orthogonalised against it. This
keeps the transform an exact orthogonal projection with the minimal number
:math:`D = \sum_\psi d_\psi^2 / E_\psi` of coefficients (no redundant columns).

Coefficient layout (``[..., D]``): irreps in the order of ``group.irreps(band_limit)``; for
each irrep the ``d x m`` coefficient matrix :math:`C_\psi` (m = d / E) stored **column by
column** (index ``offset + a * d + i``), so that each column is one copy of :math:`\psi`
and the coefficients transform under the block-diagonal representation
:math:`\bigoplus_\psi \psi^{\oplus m_\psi}` (``GroupFourierTransform.representation``) when
the function is translated, :math:`(L_h f)(g) = f(h^{-1} g) \Rightarrow c \mapsto \rho(h)\, c`.

:func:`bl_quotient_representation` gives the band-limited representation on functions on a
quotient :math:`G/H` (the sphere SO(3)/SO(2), ...) for continuous and finite groups, from
Frobenius reciprocity.
"""

from __future__ import annotations

import functools
import math

import torch

from ._group import Group, IrreducibleRepresentation, Representation, _check_band_limit, float64_default

__all__ = ["GroupFourierTransform", "fourier_transform", "bl_quotient_representation"]

_TOL = 1e-8


@functools.cache
def _minimal_vectors(psi: IrreducibleRepresentation) -> tuple[torch.Tensor, list[int] | None]:
    r"""Unit vectors ``V`` ``[d, m]`` (m = d / E) with :math:`v_a^\top B v_b = \delta_{ab} \delta_{B, I}`.

    Returns ``(V, cols)``: ``cols`` is the list of standard basis indices when every
    :math:`v_a` is a standard basis vector (then :math:`\psi(g) V` is a column selection), else ``None``.
    """
    basis = psi.endomorphism_basis.to(torch.float64)  # [E, d, d]
    e_dim, d = basis.shape[0], psi.size
    m = d // e_dim
    eye = torch.eye(d, dtype=torch.float64)
    if e_dim == 1:
        return eye, list(range(d))
    span = torch.zeros(d, 0, dtype=torch.float64)
    vectors: list[torch.Tensor] = []
    cols: list[int] | None = []
    for j in range(d):
        if len(vectors) == m:
            break
        u = eye[:, j]
        u = u - span @ (span.T @ u)
        u = u - span @ (span.T @ u)
        norm = float(u.norm())
        if norm < 1e-6:
            continue
        v = u / norm
        if cols is not None and float((v - eye[:, j]).abs().max()) < 1e-12:
            cols.append(j)
            v = eye[:, j]
        else:
            cols = None
        vectors.append(v)
        for w in basis @ v:  # the endomorphism orbit B v, orthonormalised into the span
            w = w - span @ (span.T @ w)
            w = w - span @ (span.T @ w)
            if float(w.norm()) > 1e-6:
                span = torch.cat([span, (w / w.norm())[:, None]], dim=1)
    if len(vectors) != m:
        raise RuntimeError(f"{psi.name}: found {len(vectors)} minimal directions, expected {m} (is the "
                           f"endomorphism_basis complete?)")
    V = torch.stack(vectors, dim=1)
    # Schur orthogonality condition: V^T B V = delta_{B, I} I for every endomorphism B
    gram = V.T @ basis @ V  # [E, m, m]
    target = torch.zeros_like(gram)
    target[0] = torch.eye(m, dtype=torch.float64) * float(basis[0].trace()) / d
    if float((gram - target).abs().max()) > 1e-8:
        raise RuntimeError(f"{psi.name}: the endomorphism basis is not of the form (I, antisymmetric ...); "
                           f"cannot choose minimal coefficient directions")
    return V, (cols if cols is not None else None)


def _irrep_basis(psi: IrreducibleRepresentation, g: torch.Tensor) -> torch.Tensor:
    r"""``sqrt(d) psi(g) V`` flattened column-major: ``[..., d * m]`` (index ``a * d + i``)."""
    V, cols = _minimal_vectors(psi)
    mat = psi(g)
    if cols is not None:
        sel = mat[..., cols] if cols != list(range(psi.size)) else mat
    else:
        sel = mat @ V.to(dtype=mat.dtype, device=mat.device)
    sel = sel * math.sqrt(psi.size)
    return sel.transpose(-1, -2).reshape(*sel.shape[:-2], -1)


class GroupFourierTransform:
    r"""Fourier transform between samples of a band-limited function on a group and its
    Peter-Weyl coefficients.

    Grid: all elements of a finite group (``band_limit`` is ignored), or for a continuous
    group ``group.quadrature(2 * band_limit)`` (exact for products of band-limited
    functions) or a user-given ``grid = (elements, weights)`` (weights summing to 1; a bare
    elements tensor gets equal weights). With the basis matrix
    :math:`A[g, (\psi, i, a)] = \sqrt{d_\psi}\,(\psi(g) v_a)_i` (see the module docstring for
    the :math:`v_a`, "minimal columns") and :math:`W = \mathrm{diag}(w)`:

    .. math::

        \hat f = \mathrm{forward}(f) = A^\top W f, \qquad f = \mathrm{inverse}(\hat f) = A \hat f.

    On an exact grid :math:`A^\top W A = I`: ``forward(inverse(c)) == c`` for every ``c``,
    ``inverse(forward(f)) == f`` for every band-limited ``f``, and Parseval holds,
    :math:`\sum_g w_g f(g)^2 = |\hat f|^2`. (``orthogonality_error`` reports
    :math:`\max|A^\top W A - I|` for the grid in use.)

    Coefficients are a flat vector ``[..., size]``, ``size`` :math:`= \sum_\psi d_\psi^2 / E_\psi`,
    ordered by irrep (``irreps``), then per irrep the coefficient matrix column by column
    (``a * d + i``); they transform under ``representation``
    (:math:`\bigoplus_\psi \psi^{\oplus d_\psi / E_\psi}`, block diagonal, no change of basis;
    for continuous groups equal to ``group.bl_regular_representation(band_limit)``) when the
    signal is translated: :math:`f(h^{-1} g) \mapsto \rho(h)\,\hat f`.

    Float64 constants are converted to the input's dtype and device once and cached.

    >>> from steertorch.group import cyclic_group
    >>> ft = GroupFourierTransform(cyclic_group(4))
    >>> f = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    >>> c = ft.forward(f)
    >>> ft.size, [psi.label for psi in ft.irreps], bool(torch.allclose(ft.inverse(c), f))
    (4, [0, 1, 2], True)
    """

    def __init__(
        self,
        group: Group,
        band_limit: int | None = None,
        grid: tuple[torch.Tensor, torch.Tensor] | torch.Tensor | None = None,
    ) -> None:
        self.group = group
        if group.is_finite:
            band_limit = None
            if grid is not None:
                raise ValueError(f"{group.name} is finite: its grid is all of its elements, do not pass a grid")
        else:
            if band_limit is None:
                raise ValueError(f"{group.name} is continuous: pass a band_limit (an int >= 0)")
            band_limit = _check_band_limit(band_limit)
        self.band_limit = band_limit
        with float64_default():
            if group.is_finite:
                elements = group.elements()
                weights = torch.full((group.order,), 1.0 / group.order, dtype=torch.float64)
            elif grid is None:
                elements, weights = group.quadrature(2 * band_limit)
            else:
                elements, weights = self._user_grid(grid)
            if not group.is_finite:
                elements = elements.to(torch.float64)
            self.irreps = group.irreps(band_limit)
            basis = self.basis(elements, dtype=torch.float64)
        self.elements = elements
        self.weights = weights.to(torch.float64)
        self.size = basis.shape[-1]
        self.grid_size = basis.shape[0]
        self._basis = basis  # A [N, D]
        gram = basis.T @ (self.weights[:, None] * basis)
        self.orthogonality_error = float((gram - torch.eye(self.size, dtype=torch.float64)).abs().max())
        if grid is None and self.orthogonality_error > _TOL:
            raise RuntimeError(f"{group.name}: Fourier basis not orthonormal on the group's quadrature "
                               f"(error {self.orthogonality_error:.2e})")
        if group.is_finite:
            irreps = [psi for psi in self.irreps for _ in range(psi.size // psi.endomorphism_dim)]
            self.representation = Representation(irreps, name=f"{group.name}_regular_fourier")
        else:
            self.representation = group.bl_regular_representation(band_limit)
        if self.representation.size != self.size:
            raise RuntimeError(f"coefficient size {self.size} != representation size {self.representation.size}")
        self._cache: dict[tuple[torch.dtype, str], tuple[torch.Tensor, torch.Tensor]] = {}

    def _user_grid(self, grid) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(grid, torch.Tensor):
            elements = self.group.check_element(grid)
            batch = elements.shape[: elements.dim() - len(self.group.element_shape)]
            n = math.prod(batch)
            weights = torch.full((n,), 1.0 / max(n, 1), dtype=torch.float64)
        else:
            try:
                elements, weights = grid
            except (TypeError, ValueError):
                raise ValueError("grid must be a tensor of elements or a pair (elements, weights)") from None
            elements = self.group.check_element(elements)
            weights = torch.as_tensor(weights, dtype=torch.float64)
        elements = elements.reshape(-1, *self.group.element_shape)
        if weights.shape != (elements.shape[0],):
            raise ValueError(f"grid weights must have shape [{elements.shape[0]}] (one per element), "
                             f"got {list(weights.shape)}")
        self.group.from_matrix(self.group.matrix(elements))  # raises if an element is outside the group
        return elements, weights

    # ------------------------------------------------------------------ evaluation
    def basis(self, g: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
        r"""The Fourier basis functions at elements ``g`` ``[..., *element_shape]``: ``A(g)`` ``[..., size]``,
        so that a band-limited function with coefficients ``c`` takes the value ``A(g) @ c`` at ``g``.

        >>> from steertorch.group import so2_group
        >>> ft = GroupFourierTransform(so2_group(), band_limit=1)
        >>> ft.basis(so2_group().element(0.0).double())  # sqrt(2) (cos 0, sin 0) for k = 1
        tensor([1.0000, 1.4142, 0.0000], dtype=torch.float64)
        """
        g = self.group.check_element(g)
        parts = [_irrep_basis(psi, g) for psi in self.irreps]
        if dtype is not None:
            parts = [p.to(dtype) for p in parts]
        else:
            dt = torch.promote_types(parts[0].dtype, parts[-1].dtype)
            parts = [p.to(dt) for p in parts]
        return torch.cat(parts, dim=-1)

    def _matrices(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        key = (x.dtype, str(x.device))
        if key not in self._cache:
            wa = self.weights[:, None] * self._basis  # W A  [N, D]
            self._cache[key] = (wa.to(dtype=x.dtype, device=x.device),
                                self._basis.T.contiguous().to(dtype=x.dtype, device=x.device))
        return self._cache[key]

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        r"""Coefficients :math:`\hat f = A^\top W f` ``[..., size]`` of samples ``f`` ``[..., grid_size]``
        on the grid ``elements``.

        >>> from steertorch.group import so2_group
        >>> ft = GroupFourierTransform(so2_group(), band_limit=2)
        >>> ft.forward(torch.ones(ft.grid_size, dtype=torch.float64)).round(decimals=12) + 0.0  # the constant 1
        tensor([1., 0., 0., 0., 0.], dtype=torch.float64)
        """
        f = _check_last(f, self.grid_size, f"samples on the {self.group.name} grid")
        wa, _ = self._matrices(f)
        return f @ wa

    def inverse(self, c: torch.Tensor) -> torch.Tensor:
        r"""Samples :math:`f = A \hat f` ``[..., grid_size]`` on the grid of coefficients ``c`` ``[..., size]``.

        >>> from steertorch.group import so2_group
        >>> ft = GroupFourierTransform(so2_group(), band_limit=2)
        >>> c = torch.zeros(ft.size, dtype=torch.float64); c[0] = 1.0
        >>> ft.inverse(c)
        tensor([1., 1., 1., 1., 1.], dtype=torch.float64)
        """
        c = _check_last(c, self.size, f"Fourier coefficients of {self.group.name}")
        _, at = self._matrices(c)
        return c @ at

    __call__ = forward

    def irrep_slices(self) -> list[tuple[IrreducibleRepresentation, slice]]:
        """``[(psi, slice), ...]``: where each irrep's coefficients (``d * m`` of them) sit in the flat vector.

        >>> from steertorch.group import so2_group
        >>> [(psi.label, s.start, s.stop) for psi, s in GroupFourierTransform(so2_group(), 1).irrep_slices()]
        [(0, 0, 1), (1, 1, 3)]
        """
        out, i = [], 0
        for psi in self.irreps:
            n = psi.size * (psi.size // psi.endomorphism_dim)
            out.append((psi, slice(i, i + n)))
            i += n
        return out

    def __repr__(self) -> str:
        bl = "" if self.band_limit is None else f", band_limit={self.band_limit}"
        return f"GroupFourierTransform({self.group.name}{bl}, grid={self.grid_size}, size={self.size})"


def _check_last(x: torch.Tensor, n: int, what: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() == 0 or x.shape[-1] != n:
        shape = list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"expected {what}: a tensor [..., {n}], got {shape}")
    if not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    return x


@functools.lru_cache(maxsize=64)
def _cached_transform(group: Group, band_limit: int | None) -> GroupFourierTransform:
    return GroupFourierTransform(group, band_limit)


def fourier_transform(group: Group, band_limit: int | None = None) -> GroupFourierTransform:
    r"""The (cached) :class:`GroupFourierTransform` of ``group`` on its default grid: all elements
    of a finite group, or ``group.quadrature(2 * band_limit)`` for a continuous one.

    >>> from steertorch.group import so3_group
    >>> ft = fourier_transform(so3_group(), 1)
    >>> ft.size, ft is fourier_transform(so3_group(), 1)     # 1 + 3 * 3
    (10, True)
    """
    if group.is_finite:
        band_limit = None
    elif band_limit is None:
        raise ValueError(f"{group.name} is continuous: pass a band_limit (an int >= 0)")
    else:
        band_limit = _check_band_limit(band_limit)
    return _cached_transform(group, band_limit)


# ---------------------------------------------------------------------------- quotient spaces
def bl_quotient_representation(group: Group, subgroup: str | Group | None, band_limit: int | None = None
                               ) -> Representation:
    r"""The band-limited quotient representation on :math:`L^2(G / H)`, as a block-diagonal sum of irreps.

    By Frobenius reciprocity the multiplicity of the irrep :math:`\psi` in :math:`L^2(G/H)` is

    .. math::

        m_\psi = \frac{\dim \{v : \psi(h) v = v \ \forall h \in H\}}{\dim \mathrm{End}_G(\psi)}
               = \frac{1}{\dim \mathrm{End}_G(\psi)} \int_H \mathrm{tr}\, \psi(h)\, dh,

    computed with H's exact quadrature (or all its elements). Returns
    :math:`\bigoplus_\psi \psi^{\oplus m_\psi}` over the irreps up to ``band_limit``
    (ignored for finite G, where it gives the irreps of ``G.quotient_representation(H)``
    without its permutation basis), in the order of ``group.irreps``. ``subgroup`` is a
    name (``"SO2"``, ``"C4"``), a group, or ``None`` (H trivial: the band-limited regular
    representation).

    Examples: SO(3)/SO(2) (the sphere) = one copy of each :math:`D^l`; O(3)/O(2) with O(2)
    the stabiliser of a point (``o2_group(3, "mirror")``) = :math:`\bigoplus_l D^{(l, (-1)^l)}`;
    O(2)/C_N: (0,0), (1,0) once and (1, k) twice for N | k.

    >>> from steertorch.group import so3_group, so2_group
    >>> rho = bl_quotient_representation(so3_group(), so2_group(3), 3)
    >>> [psi.label for psi in rho.irreps], rho.size
    ([0, 1, 2, 3], 16)
    """
    # the base class's construction, also for a finite group (whose own quotient_representation is the permutation
    # representation on the cosets, with its basis)
    return Group.quotient_representation(group, subgroup, band_limit)
