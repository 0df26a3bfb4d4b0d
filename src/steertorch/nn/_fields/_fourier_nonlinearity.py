r"""Fourier-based and other nonlinearities on grid feature fields (escnn's names).

- :class:`FourierPointwise` / :class:`FourierELU`: a field holds the Fourier coefficients ``c`` of a band-limited
  function on the fibre group G; sample it on a grid of group elements, apply a pointwise function, project back:

  .. math::  c \mapsto P\,\sigma(A\,c), \qquad A[g, :] = \text{Fourier basis at } g,\quad P = (A^\top W A)^{-1} A^\top W

  (W the grid's quadrature weights; on an exact quadrature :math:`P = A^\top W`, the :math:`L^2(G)` projection).
- :class:`QuotientFourierPointwise`: the same for functions on a quotient :math:`G/H` (the sphere SO(3)/SO(2), ...).
- :class:`InducedNormNonLinearity`: a norm nonlinearity on each block of a field whose representation permutes
  equal-size blocks (induced representations :math:`\mathrm{Ind}_H^G \psi`, regular :math:`\otimes\,\psi`, ...).
- :class:`TensorProductNonLinearity`: the quadratic map :math:`x \mapsto W(x \otimes x)` of all pairs of fields, with
  W an equivariant linear map, exactly equivariant (escnn's ``TensorProductModule``, which squares each field on its
  own, is :class:`~steertorch.nn.TensorProductModule`).

Equivariance. The pointwise Fourier maps commute with :math:`\rho(s)` exactly when the weighted grid is invariant under
left multiplication by s: all elements for finite groups (exact for every element); N rotations (and flips) for
SO(2) / O(2) (exact for rotations by multiples of :math:`2\pi/N`, so quarter turns when 4 | N); for SO(3) / O(3) the
default grid is the orbit under the 24 octahedral rotations of the exact quadrature ``group.quadrature(degree)``
(exact for the octahedral rotations, i.e. the symmetries of the cubic grid). For other elements the error is that of the
quadrature on :math:`\sigma(f)` (measured numbers in each class docstring); for a polynomial :math:`\sigma` of degree k
on an exact quadrature of degree :math:`\ge (k + 1) L` it is rounding only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence

import torch
from torch import nn

from ..._dtype import ExactConstants, module_dtype
from ...group import (
    SO3,
    Group,
    GroupFourierTransform,
    InversionProduct,
    IrreducibleRepresentation,
    Representation,
    bl_quotient_representation,
    fourier_transform,
    octahedral_group,
)
from ...group._group import float64_default
from ...group._intertwiners import intertwiner_copies
from ...gspaces import GSpace
from ._linear import FieldLinear
from ._module import EquivariantModule
from ._nonlinearity import _NORM_FUNCTIONS, _POINTWISE, _check_input
from ._plain import BlockNormScale, ChannelProducts, GridActivation, block_norm_scale, grid_activation
from ._type import FieldType, require_field_type

__all__ = [
    "FourierPointwise",
    "FourierELU",
    "QuotientFourierPointwise",
    "QuotientFourierELU",
    "InducedNormNonLinearity",
    "TensorProductNonLinearity",
]

_Function = str | Callable[[torch.Tensor], torch.Tensor]


# ---------------------------------------------------------------------------- helpers
def _resolve_function(function: _Function, who: str) -> tuple[Callable[[torch.Tensor], torch.Tensor], str]:
    if isinstance(function, str):
        if function not in _POINTWISE:
            raise ValueError(f"{who}: unknown function {function!r}, expected one of {sorted(_POINTWISE)} or a "
                             "callable")
        return _POINTWISE[function], function
    if callable(function):
        return function, getattr(function, "__name__", repr(function))
    raise ValueError(f"{who}: function must be a string or a callable, got {function!r}")


def _check_gspace(gspace: object, who: str) -> GSpace:
    if not isinstance(gspace, GSpace):
        raise ValueError(f"{who}: gspace must be a GSpace, got {type(gspace).__name__}")
    return gspace


def _check_positive_int(value: object, name: str, who: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{who}: {name} must be an int >= 1, got {value!r}")
    return value


def _is_so3_based(group: Group) -> bool:
    return isinstance(group, SO3) or (isinstance(group, InversionProduct) and isinstance(group.base, SO3))


def _octahedral_rotations() -> torch.Tensor:
    octa = octahedral_group("O")
    with float64_default():
        m = octa.matrix(octa.elements()).to(torch.float64)
    r = m.round()
    return torch.where((m - r).abs() < 1e-12, r, m)


def _resolve_irreps(group: Group, irreps: object, who: str) -> list[IrreducibleRepresentation]:
    """``None`` (all irreps of a finite group), an int L (the irreps of degree <= L) or a list of labels / irreps."""
    if irreps is None:
        if not group.is_finite:
            raise ValueError(f"{who}: {group.name} is continuous, pass irreps (a band limit L or a list of labels)")
        return group.irreps()
    if isinstance(irreps, int) and not isinstance(irreps, bool):
        if irreps < 0:
            raise ValueError(f"{who}: a band limit must be >= 0, got {irreps}")
        return group.irreps(None if group.is_finite else irreps)
    if isinstance(irreps, (str, bytes)) or not isinstance(irreps, Sequence) or len(irreps) == 0:
        raise ValueError(f"{who}: irreps must be a band limit (int), a non-empty list of irrep labels, or None, "
                         f"got {irreps!r}")
    out: list[IrreducibleRepresentation] = []
    for lab in irreps:
        if isinstance(lab, IrreducibleRepresentation):
            if lab.group != group:
                raise ValueError(f"{who}: irrep {lab.name} belongs to {lab.group.name}, not {group.name}")
            psi = lab
        else:
            try:
                psi = group.irrep(*lab) if isinstance(lab, tuple) and len(lab) == 1 else group.irrep(lab)
            except ValueError as err:
                raise ValueError(f"{who}: {err}") from None
        if any(p.label == psi.label for p in out):
            raise ValueError(f"{who}: irrep {psi.label!r} listed twice")
        out.append(psi)
    return out


def _band_limit(group: Group, irreps: Sequence[IrreducibleRepresentation]) -> int | None:
    return None if group.is_finite else max(group.irrep_degree(psi.label) for psi in irreps)


def _group_grid(group: Group, band_limit: int | None, N: int | None, degree: int | None, grid: object,
                who: str, degree_factor: int = 2) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The grid ``(elements, weights)`` on G (``None`` for a finite group: all its elements); default SO(3) degree
    ``degree_factor * band_limit``. Built in float64 whatever the default dtype: a float32 grid would make the
    module exact only to float32 rounding even for the grid's own elements (after ``.double()``)."""
    with float64_default():
        return _group_grid_f64(group, band_limit, N, degree, grid, who, degree_factor)


def _group_grid_f64(group: Group, band_limit: int | None, N: int | None, degree: int | None, grid: object,
                    who: str, degree_factor: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    if group.is_finite:
        if N is not None or degree is not None or grid is not None:
            raise ValueError(f"{who}: {group.name} is finite, its grid is all of its elements; do not pass N, degree "
                             f"or grid")
        return None
    if grid is not None:
        if N is not None or degree is not None:
            raise ValueError(f"{who}: pass either grid or N / degree, not both")
        if isinstance(grid, torch.Tensor):
            return grid, None  # equal weights, checked by GroupFourierTransform
        return grid
    if _is_so3_based(group):
        if N is not None:
            raise ValueError(f"{who}: N (number of rotations) is for SO(2) / O(2); for {group.name} pass degree "
                             f"(of the SO(3) quadrature whose octahedral orbit is the grid)")
        if degree is None:
            degree = degree_factor * band_limit
        if isinstance(degree, bool) or not isinstance(degree, int) or degree < 0:
            raise ValueError(f"{who}: degree must be an int >= 0, got {degree!r}")
        els, w = group.quadrature(degree)
        octa = _octahedral_rotations()
        els = (octa[:, None] @ els.to(torch.float64)[None]).reshape(-1, 3, 3)
        w = (w.to(torch.float64)[None].expand(octa.shape[0], -1) / octa.shape[0]).reshape(-1)
        return els, w
    if degree is not None:
        raise ValueError(f"{who}: degree is for SO(3) / O(3); for {group.name} pass N (the number of rotations)")
    if N is None:
        N = max(8, 4 * math.ceil((6 * band_limit + 2) / 4))
    _check_positive_int(N, "N", who)
    return group.quadrature(N - 1)


def _transform(group: Group, band_limit: int | None, grid, who: str) -> GroupFourierTransform:
    if grid is None:
        return fourier_transform(group)
    elements, weights = grid
    with float64_default():
        try:
            if weights is None:
                return GroupFourierTransform(group, band_limit, grid=elements)
            return GroupFourierTransform(group, band_limit, grid=(elements, weights))
        except ValueError as err:
            raise ValueError(f"{who}: bad grid: {err}") from None


def _projection(A: torch.Tensor, w: torch.Tensor, who: str) -> torch.Tensor:
    r"""The weighted least-squares projection :math:`P = (A^\top W A)^{-1} A^\top W` ``[D, n]`` (P A = I)."""
    gram = A.T @ (w[:, None] * A)
    evals = torch.linalg.eigvalsh(gram)
    if float(evals.min()) < 1e-8 * max(float(evals.max()), 1e-300):
        raise ValueError(f"{who}: the grid ({A.shape[0]} points) cannot resolve the {A.shape[1]} Fourier coefficients "
                         f"(singular A^T W A, smallest eigenvalue {float(evals.min()):.2e}); use a finer grid")
    return torch.linalg.solve(gram, A.T * w[None, :])


def _merge_equal_rows(A: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Merge grid points whose rows of A coincide (to 1e-9), adding their weights: the map
    :math:`c \\mapsto \\sum_g w_g A_g^\\top \\sigma(A_g c)` is unchanged, the grid is smaller."""
    keys: dict[tuple, int] = {}
    rows: list[int] = []
    weights: list[float] = []
    scaled = torch.round(A * 1e9).to(torch.int64).tolist()
    for i, key in enumerate(scaled):
        j = keys.setdefault(tuple(key), len(rows))
        if j == len(rows):
            rows.append(i)
            weights.append(float(w[i]))
        else:
            weights[j] += float(w[i])
    return A[rows], torch.tensor(weights, dtype=torch.float64)


class _GridPointwise(EquivariantModule, ExactConstants):
    r"""Shared forward of the Fourier nonlinearities: ``channels`` fields of one representation of size D, buffers
    ``A`` ``[n, D]`` (sampling) and ``Ainv`` ``[D, n]`` (projection), :math:`c \mapsto \mathrm{Ainv}\,\sigma(A c)`."""

    def _setup(self, gspace: GSpace, channels: int, rep: Representation, A: torch.Tensor, w: torch.Tensor,
               function: _Function, normalize: bool, who: str) -> None:
        self._function, self.function_name = _resolve_function(function, who)
        self.channels = channels
        self.rep = rep
        self.in_type = self.out_type = FieldType(gspace, [rep] * channels)
        P = _projection(A, w, who)
        if normalize:  # unit-variance samples for unit-variance coefficients (escnn's normalize)
            s = math.sqrt(A.shape[1])
            A, P = A / s, P * s
        self.normalize = normalize
        self.grid_size = A.shape[0]
        # buffers in the module's dtype, derived from float64 masters (ExactConstants): .double() after a float32
        # build gives float64-exact matrices
        self.register_constant("A", A.to(torch.float64), persistent=True)
        self.register_constant("Ainv", P.to(torch.float64), persistent=True)
        self._who = who

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self.in_type, x, self._who, module_dtype(self))
        return grid_activation(x, self.A, self.Ainv, self.channels, self._function)

    def export(self) -> nn.Module:
        """A plain :class:`~steertorch.nn._fields._plain.GridActivation` with the module's ``A`` and ``Ainv`` (in
        its dtype) and function."""
        return GridActivation(self.A, self.Ainv, self.channels, self._function)

    def extra_repr(self) -> str:
        return (f"{self.channels} x {self.rep.name} (size {self.rep.size}), function={self.function_name}, "
                f"grid={self.grid_size}, normalize={self.normalize}")


# ---------------------------------------------------------------------------- Fourier on G
class FourierPointwise(_GridPointwise):
    r"""Pointwise nonlinearity in the group domain (escnn's ``FourierPointwise``).

    Each of the ``channels`` fields holds the Fourier coefficients :math:`c` of a band-limited function
    :math:`f(g) = A(g)\,c` on the fibre group G, in the layout of :class:`~steertorch.group.GroupFourierTransform`
    (for each irrep :math:`\psi` in ``irreps``, :math:`d_\psi / E_\psi` copies of :math:`\psi`; the field's
    representation is ``rep`` :math:`= \bigoplus_\psi \psi^{\oplus d_\psi/E_\psi}`). The module computes

    .. math::  c \mapsto P\, \sigma(A\, c), \qquad P = (A^\top W A)^{-1} A^\top W,

    with A the Fourier basis (``GroupFourierTransform.basis``) on a grid of elements with weights W: the
    least-squares (on an exact quadrature: the :math:`L^2(G)`) projection of :math:`\sigma \circ f` onto the band limit.
    ``normalize=True`` (escnn's default) samples :math:`f / \sqrt{D}` (D the field size), so unit-variance
    coefficients give unit-variance samples. Buffers ``A`` ``[n, D]`` and ``Ainv`` ``[D, n]``; forward is two
    contractions over the coefficient axis.

    Grids: finite G: all elements (exactly equivariant; for the regular representation it is
    :class:`PointwiseNonLinearity` in the Fourier basis). SO(2) / O(2): ``N`` equally spaced rotations (and the
    flipped ones), default the smallest multiple of 4 that is >= max(8, 6 L + 2); exact for rotations by multiples of
    :math:`2\pi/N`. SO(3) / O(3): the orbit under the 24 octahedral rotations of ``group.quadrature(degree)`` (default
    ``degree = 2 L``), exact for the cube's rotations. ``grid``: your own elements, or ``(elements, weights)``.

    Measured equivariance error (float64, 6 random continuous elements, fibre action, max |error| / max |output|;
    ``tests/nn/test_fourier_nonlinearity.py``), ELU on default grids: SO(2) L = 2 (N = 16): 7e-3; O(2) L = 2:
    5e-3; SO(3) L = 1 (432 points): 2e-2; O(3) L = 1: 2e-2 (SO(2) L = 2 with N = 8 / 12 / 24 / 32: 5e-2 / 2e-2 /
    2e-3 / 6e-4; SO(3) L = 1 with ``degree=4``, 1800 points: 2e-3). ``x ** 2`` with an exact quadrature of degree
    :math:`\ge 3L` (default SO(2) / O(2) grids; ``degree=3 * L`` for SO(3) / O(3)): below 1e-12. Grid symmetries
    (quarter turns, flips, octahedral rotations) and finite groups: below 1e-14. Cost: two [n, D] contractions per
    pixel and channel (SO(3), L = 2: n = 1800, D = 35).

    Args:
        gspace: the G-space (its fibre group is G).
        channels: number of fields.
        irreps: irreps of the band limit: an int L (all irreps of degree <= L), a list of labels or irreps, or
            ``None`` (finite groups: all irreps).
        function: ``"p_relu"``, ``"p_elu"``, ``"p_sigmoid"``, ``"p_tanh"``, ``"p_softplus"`` or an elementwise callable.
        N, degree, grid: the grid (see above).
        normalize: scale samples by :math:`1/\sqrt{D}` (and the projection by :math:`\sqrt{D}`).

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> act = FourierPointwise(rot2dOnR2(-1), 3, irreps=2, function="p_relu", N=12)
    >>> act.rep.size, act.in_type.size, act.A.shape
    (5, 15, torch.Size([12, 5]))
    >>> act(torch.randn(2, 15, 4, 4)).shape
    torch.Size([2, 15, 4, 4])
    """

    def __init__(self, gspace: GSpace, channels: int, irreps: int | Sequence[Hashable] | None = None,
                 function: _Function = "p_relu", *, N: int | None = None, degree: int | None = None,
                 grid: torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None = None,
                 normalize: bool = True, inplace: bool = True) -> None:
        super().__init__()
        who = type(self).__name__
        self.inplace = bool(inplace)  # escnn's argument (its internal grid samples): no effect here
        gspace = _check_gspace(gspace, who)
        channels = _check_positive_int(channels, "channels", who)
        group = gspace.fibergroup
        chosen = _resolve_irreps(group, irreps, who)
        band = _band_limit(group, chosen)
        ft = _transform(group, band, _group_grid(group, band, N, degree, grid, who), who)
        cols = []
        slices = {psi.label: s for psi, s in ft.irrep_slices()}
        for psi in chosen:
            cols += list(range(slices[psi.label].start, slices[psi.label].stop))
        with float64_default():
            A = ft.basis(ft.elements, dtype=torch.float64)[:, cols]
        rep = Representation([psi for psi in chosen for _ in range(psi.size // psi.endomorphism_dim)],
                             name=f"{group.name}_fourier[{','.join(str(p.label) for p in chosen)}]")
        self.irreps = chosen
        self.grid_elements = ft.elements
        self._setup(gspace, channels, rep, A, ft.weights, function, normalize, who)


class FourierELU(FourierPointwise):
    r""":class:`FourierPointwise` with ELU (escnn's ``FourierELU``).

    >>> import torch
    >>> from steertorch.gspaces import flipRot2dOnR2
    >>> act = FourierELU(flipRot2dOnR2(4), 2)       # D4: all irreps, grid = the 8 elements (exact)
    >>> act(torch.randn(1, act.in_type.size, 3, 3)).shape
    torch.Size([1, 16, 3, 3])
    """

    def __init__(self, gspace: GSpace, channels: int, irreps: int | Sequence[Hashable] | None = None,
                 inplace: bool = True, *, N: int | None = None, degree: int | None = None,
                 grid: torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None = None, normalize: bool = True) -> None:
        # inplace (escnn's argument) concerns escnn's internal grid samples; here they are never exposed, so it
        # changes nothing and is accepted for compatibility
        super().__init__(gspace, channels, irreps, "p_elu", N=N, degree=degree, grid=grid, normalize=normalize)
        self.inplace = bool(inplace)


# ---------------------------------------------------------------------------- Fourier on G / H
def _quotient_embedding(group: Group, sub: Group, include, band: int | None, rep: Representation,
                        ft_full: GroupFourierTransform) -> torch.Tensor:
    r"""``Q`` ``[ft_full.size, rep.size]``: an isometric intertwiner from ``rep`` (block diagonal, the irreps of
    :math:`L^2(G/H)`) into the Fourier coefficients of G whose functions are right H-invariant,
    :math:`f(gh) = f(g)`. Per irrep :math:`\psi`: the projector :math:`\Pi = \int_H R_h\,dh` onto right-invariant
    coefficients (exact, from G's quadrature), then the Reynolds solver of ``intertwiner_copies`` on
    :math:`\Pi\,\psi^{\oplus m}(g)` gives the copies of :math:`\psi` inside the image of :math:`\Pi`."""
    ex = fourier_transform(group, band)  # exact quadrature of degree 2 L (all elements if finite)
    g, w = ex.elements, ex.weights
    if sub.is_finite:
        h, wh = sub.elements(), torch.full((sub.order,), 1.0 / sub.order, dtype=torch.float64)
    else:
        h, wh = sub.quadrature(max(band or 0, 0))
    h = include(h)
    gh = group.compose(g[:, None], h[None])  # [n, nh, *element_shape]
    slices = {psi.label: s for psi, s in ft_full.irrep_slices()}
    Q = torch.zeros(ft_full.size, rep.size, dtype=torch.float64)
    col = 0
    done: set = set()
    for psi in rep.irreps:
        if psi.label in done:
            continue
        done.add(psi.label)
        mult = rep.multiplicity(psi.label)
        s = slices[psi.label]
        a = ex.basis(g, dtype=torch.float64)[:, s]  # [n, d m]
        a_gh = ex.basis(gh, dtype=torch.float64)[..., s]  # [n, nh, d m]
        avg = (a_gh * wh.to(torch.float64)[None, :, None]).sum(1)
        proj = a.T @ (w[:, None] * avg)  # right-H average, in coefficient space [d m, d m]
        m = s.stop - s.start
        psi_g = psi(g).to(torch.float64)
        reg = torch.eye(m // psi.size, dtype=torch.float64)
        rho = torch.einsum("ab,nij->naibj", reg, psi_g).reshape(-1, m, m)  # psi^{+m}(g)
        copies = intertwiner_copies(proj @ rho, psi_g, w, psi.endomorphism_dim)
        if len(copies) != mult:
            raise RuntimeError(f"found {len(copies)} right-invariant copies of {psi.name}, expected {mult}")
        for t in copies:
            Q[s, col:col + psi.size] = t
            col += psi.size
    return Q


class QuotientFourierPointwise(_GridPointwise):
    r"""Pointwise nonlinearity on functions on a quotient space :math:`G/H` (escnn's ``QuotientFourierPointwise``).

    Each field holds the coefficients of a band-limited function on :math:`G/H` (the sphere SO(3)/SO(2), the circle
    O(2)/flip, the cosets of a finite group), transforming under
    :func:`~steertorch.group.bl_quotient_representation` (``rep``). Such a function is a right H-invariant function on
    G, :math:`f(g) = A(g)\,Q\,c`, with Q the isometric intertwiner into G's Fourier coefficients (computed from the
    right-H average and the intertwiner solver). The grid is the one :class:`FourierPointwise` uses on G, its points
    taken as representatives of cosets (points with the same coset are merged, weights added, e.g. the sphere's
    points for SO(3)/SO(2) and the |G/H| cosets of a finite group); then :math:`c \mapsto P\,\sigma(A_Q c)` as there.

    The default SO(3) / O(3) grid is the octahedral orbit of ``quadrature(4 L)`` (finer than on G: after merging
    the cosets it stays small, e.g. 534 sphere points for L = 2); SO(2) / O(2) as :class:`FourierPointwise`.

    Measured equivariance error (float64, 6 random elements, fibre action, max |error| / max |output|), ELU:
    SO(3)/SO(2) L = 2, default grid: 6e-3; O(3)/O(2) (mirror) L = 2, ``degree=6`` (336 points): 2e-2;
    O(2)/D1 L = 3 (20 points): 1e-2. ``x ** 2``: below 1e-12 (every case tested); finite groups and grid symmetries:
    rounding only (below 1e-14).

    Args:
        gspace: the G-space.
        subgroup_id: H, a name (``"SO2"``, ``"C4"``, ``"D1"``) or a group.
        channels: number of fields.
        irreps: an int L (the quotient's irreps up to degree L), a list of labels (those of the quotient's irreps
            to keep; ``ValueError`` for an irrep absent from :math:`L^2(G/H)`), or ``None`` (finite groups: all).
        function, N, degree, grid, normalize: as :class:`FourierPointwise` (the grid is on G).

    >>> import torch
    >>> from steertorch.gspaces import rot3dOnR3
    >>> act = QuotientFourierPointwise(rot3dOnR3(), "SO2", 2, irreps=2, function="p_elu")
    >>> [psi.label for psi in act.rep.irreps], act.in_type.size
    ([0, 1, 2], 18)
    >>> act(torch.randn(1, 18, 2, 2, 2)).shape
    torch.Size([1, 18, 2, 2, 2])
    """

    def __init__(self, gspace: GSpace, subgroup_id: str | Group, channels: int,
                 irreps: int | Sequence[Hashable] | None = None, function: _Function = "p_relu", *,
                 N: int | None = None, degree: int | None = None,
                 grid: torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None = None,
                 normalize: bool = True) -> None:
        super().__init__()
        who = type(self).__name__
        gspace = _check_gspace(gspace, who)
        channels = _check_positive_int(channels, "channels", who)
        group = gspace.fibergroup
        try:
            if isinstance(subgroup_id, Group):
                sub, include = subgroup_id, group.inclusion(subgroup_id)
            else:
                sub, include = group.subgroup(subgroup_id)
        except ValueError as err:
            raise ValueError(f"{who}: bad subgroup {subgroup_id!r}: {err}") from None
        labels = None
        if irreps is None or (isinstance(irreps, int) and not isinstance(irreps, bool)):
            band = None if group.is_finite else _band_limit(group, _resolve_irreps(group, irreps, who))
        else:
            chosen = _resolve_irreps(group, irreps, who)
            band = _band_limit(group, chosen)
            labels = [psi.label for psi in chosen]
        with float64_default():
            full = bl_quotient_representation(group, sub, band)
        kept = [psi for psi in full.irreps if labels is None or psi.label in labels]
        if labels is not None:
            missing = [lab for lab in labels if all(p.label != lab for p in kept)]
            if missing:
                raise ValueError(f"{who}: irrep(s) {missing} do not occur in L^2({group.name}/{sub.name})")
        rep = Representation(kept, name=f"quotient[{group.name}/{sub.name}][{','.join(str(p.label) for p in kept)}]")
        ft = _transform(group, band, _group_grid(group, band, N, degree, grid, who, degree_factor=4), who)
        with float64_default():
            Q = _quotient_embedding(group, sub, include, band, rep, ft)
            A = ft.basis(ft.elements, dtype=torch.float64) @ Q
        A, w = _merge_equal_rows(A, ft.weights)
        self.subgroup = sub
        #: float64 ``[G's Fourier size, rep.size]``: coefficients on G/H -> right H-invariant coefficients on G
        self.embedding = Q
        #: the Fourier transform on G whose grid (before merging cosets) the module uses
        self.group_transform = ft
        self._setup(gspace, channels, rep, A, w, function, normalize, who)


# ---------------------------------------------------------------------------- induced norm
def _block_structure(rho: Representation, block: int) -> bool:
    """Whether every rho(g) permutes the ``block``-sized blocks (exactly one nonzero block per block row/column)."""
    group = rho.group
    with float64_default():
        if group.is_finite:
            g = group.elements()
        else:
            q, _ = group.quadrature(2)
            g = torch.cat([q.to(torch.float64), group.sample(8, generator=torch.Generator().manual_seed(0),
                                                             dtype=torch.float64)])
        m = rho(g).to(torch.float64)
    k = rho.size // block
    norms = m.reshape(-1, k, block, k, block).pow(2).sum((2, 4))  # [n, k, k]
    nonzero = norms > 1e-8
    if not bool((nonzero.sum(-1) == 1).all() and (nonzero.sum(-2) == 1).all()):
        return False
    return bool(((norms - block).abs() < 1e-8)[nonzero].all())


class QuotientFourierELU(QuotientFourierPointwise):
    r""":class:`QuotientFourierPointwise` with ELU (escnn's ``QuotientFourierELU``; ``inplace`` as in
    :class:`FourierELU`).

    >>> import torch
    >>> from steertorch.gspaces import flipRot2dOnR2
    >>> act = QuotientFourierELU(flipRot2dOnR2(4), (None, 4), 2)     # functions on D4 / C4: 2 points
    >>> act.in_type.size, act(torch.randn(1, act.in_type.size, 3, 3)).shape
    (4, torch.Size([1, 4, 3, 3]))
    """

    def __init__(self, gspace: GSpace, subgroup_id: str | Group | int | tuple, channels: int,
                 irreps: int | Sequence[Hashable] | None = None, inplace: bool = True, *, N: int | None = None,
                 degree: int | None = None, grid: torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None = None,
                 normalize: bool = True) -> None:
        super().__init__(gspace, subgroup_id, channels, irreps, "p_elu", N=N, degree=degree, grid=grid,
                         normalize=normalize)
        self.inplace = bool(inplace)


class InducedNormNonLinearity(EquivariantModule, nn.Module):
    r"""Norm nonlinearity on the blocks of fields whose representation permutes equal-size blocks.

    Supported fields (checked at construction, ``ValueError`` otherwise): a field of size :math:`k\,b` whose
    representation maps each of its k blocks of size b (``block_size``, consecutive channels) onto a block,
    :math:`\rho(g) = \big[\delta_{i,\pi_g(j)}\, B_{ij}(g)\big]` with :math:`B_{ij}(g)` orthogonal, e.g. an induced
    representation :math:`\mathrm{Ind}_H^G \psi` written in the coset basis (blocks :math:`\psi` permuted by
    the cosets; escnn's induced fields), ``regular.tensor(psi)`` (regular :math:`\otimes \psi`), or
    ``block_size = 1`` for permutation representations. The block norms are then permuted by the group, so

    .. math::  v_i \mapsto f(|v_i| - b_\text{field})\, v_i / |v_i|   \quad\text{for each block } v_i

    is equivariant for every element (exactly). Fields that are not block permutations in the given basis (an
    irrep, a change of basis that mixes blocks) are rejected. ``gspace.induced_repr(subgroup_id, psi)`` (or
    :func:`steertorch.group.induced_representation`) builds induced representations in the coset basis, with
    ``block_size = psi.size``. The check evaluates :math:`\rho` on all elements (finite groups) or on a quadrature
    plus 8 random elements (continuous groups).

    Functions and bias as :class:`NormNonLinearity` (``"n_relu"``, ``"n_sigmoid"``, ``"n_softplus"``, ``"squash"``;
    one learned bias per field, shared by its blocks, initialised to 0.1).

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> gs = rot2dOnR2(4)
    >>> rho = gs.regular_repr.tensor(gs.irrep(1))        # 4 blocks of size 2, permuted by C4
    >>> act = InducedNormNonLinearity(FieldType(gs, [rho]), block_size=2)
    >>> act(torch.randn(2, 8, 5, 5)).shape
    torch.Size([2, 8, 5, 5])
    """

    def __init__(self, in_type: FieldType, block_size: int | Sequence[int], function: str = "n_relu",
                 bias: bool = True) -> None:
        super().__init__()
        who = "InducedNormNonLinearity"
        require_field_type(in_type, who)
        if function not in _NORM_FUNCTIONS:
            raise ValueError(f"{who}: unknown function {function!r}, expected one of {_NORM_FUNCTIONS}")
        n = len(in_type)
        sizes = [block_size] * n if isinstance(block_size, int) else list(block_size)
        if len(sizes) != n:
            raise ValueError(f"{who}: block_size must be an int or one int per field ({n}), got {len(sizes)}")
        block_index, field_of_block = [], []
        for i, (rho, b) in enumerate(zip(in_type.representations, sizes)):
            if isinstance(b, bool) or not isinstance(b, int) or b < 1 or rho.size % b:
                raise ValueError(f"{who}: field {i} ({rho.name}, size {rho.size}) cannot be cut into blocks of size "
                                 f"{b!r}")
            if not _block_structure(rho, b):
                raise ValueError(f"{who}: field {i} ({rho.name}) does not permute its blocks of size {b}: its "
                                 f"matrices are not block permutations (give induced fields in their coset basis)")
            for _ in range(rho.size // b):
                block_index += [len(field_of_block)] * b
                field_of_block.append(i)
        self.in_type = self.out_type = in_type
        self.function = function
        self.block_size = sizes
        if bias and function != "squash":
            self.bias = nn.Parameter(torch.full((n,), 0.1))
        else:
            self.register_parameter("bias", None)
        self.register_buffer("block_index", torch.tensor(block_index, dtype=torch.long), persistent=False)
        self.register_buffer("field_of_block", torch.tensor(field_of_block, dtype=torch.long), persistent=False)

    def _block_bias(self) -> torch.Tensor | None:
        return None if self.bias is None else self.bias.index_select(0, self.field_of_block)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self.in_type, x, "InducedNormNonLinearity", module_dtype(self))
        return block_norm_scale(x, self.block_index, self.field_of_block.shape[0], self._block_bias(), self.function)

    def export(self) -> nn.Module:
        """A plain :class:`~steertorch.nn._fields._plain.BlockNormScale` (one bias per block, a buffer)."""
        return BlockNormScale(self.block_index, self._block_bias(), self.function)

    def extra_repr(self) -> str:
        return f"{self.in_type!r}, block_size={self.block_size}, function={self.function}"


# ---------------------------------------------------------------------------- tensor product
class TensorProductNonLinearity(EquivariantModule, nn.Module):
    r"""Quadratic equivariant nonlinearity on grid fields, :math:`y(p) = W\,(x(p) \otimes x(p)) + b`, mixing all pairs
    of fields (escnn's ``TensorProductModule`` squares each field on its own and maps it to one output field: that is
    :class:`~steertorch.nn.TensorProductModule`).

    For every pair of input fields :math:`i \le j` the product :math:`x_i \otimes x_j` (Kronecker order) is a field of
    type :math:`\rho_i \otimes \rho_j` (:meth:`Representation.tensor`, decomposed with Clebsch-Gordan coefficients);
    a :class:`FieldLinear` (the equivariant linear maps found by the kernel-basis / intertwiner solver, learnable
    weights, bias on invariant outputs if ``bias``) maps them to ``out_type``. Pointwise in space and polynomial, so it
    is exactly equivariant for every group element. ``ValueError`` if an output irrep occurs in no product (it
    would be zero forever).

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> gs = rot2dOnR2(-1)
    >>> tp = TensorProductNonLinearity(FieldType(gs, [gs.trivial_repr, gs.irrep(1)]),
    ...                                FieldType(gs, [gs.irrep(0), gs.irrep(2)]))
    >>> tp(torch.randn(2, 3, 4, 4)).shape
    torch.Size([2, 3, 4, 4])
    """

    def __init__(self, in_type: FieldType, out_type: FieldType | None = None, bias: bool = False,
                 initialize: bool = True) -> None:
        super().__init__()
        who = "TensorProductNonLinearity"
        require_field_type(in_type, who)
        out_type = in_type if out_type is None else out_type
        if not isinstance(out_type, FieldType) or out_type.gspace != in_type.gspace:
            raise ValueError(f"{who}: out_type must be a FieldType over {in_type.gspace.name}, got {out_type!r}")
        reps = in_type.representations
        starts = in_type.fields_start
        tp_reps, left, right = [], [], []
        with float64_default():
            for i in range(len(reps)):
                for j in range(i, len(reps)):
                    tp_reps.append(reps[i].tensor(reps[j]))
                    u = torch.arange(reps[i].size)[:, None] + starts[i]
                    v = torch.arange(reps[j].size)[None, :] + starts[j]
                    left.append(u.expand(-1, reps[j].size).reshape(-1))
                    right.append(v.expand(reps[i].size, -1).reshape(-1))
        present = {psi.label for r in tp_reps for psi in r.irreps}
        for k, rho in enumerate(out_type.representations):
            absent = [psi.label for psi in rho.irreps if psi.label not in present]
            if absent:
                raise ValueError(f"{who}: output field {k} ({rho.name}) contains irrep(s) {absent} that occur in no "
                                 f"tensor product of the input fields; they would always be zero")
        self.in_type, self.out_type = in_type, out_type
        self.tp_type = FieldType(in_type.gspace, tp_reps)
        self.register_buffer("left", torch.cat(left), persistent=False)
        self.register_buffer("right", torch.cat(right), persistent=False)
        self.linear = FieldLinear(self.tp_type, out_type, bias=bias, initialize=initialize)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self.in_type, x, "TensorProductNonLinearity", module_dtype(self))
        return self.linear(x.index_select(1, self.left) * x.index_select(1, self.right))

    def export(self) -> nn.Module:
        """``nn.Sequential`` of the plain :class:`~steertorch.nn._fields._plain.ChannelProducts` and the linear
        map's export (a 1x1 convolution)."""
        return nn.Sequential(ChannelProducts(self.left, self.right), self.linear.export())

    def extra_repr(self) -> str:
        return f"{self.in_type!r} -> {self.out_type!r}, products={self.tp_type.size}"
