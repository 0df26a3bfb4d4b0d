r"""G-spaces: a group :math:`G \le O(d)` acting on the base space :math:`\mathbb{R}^d` (d = 2 or 3).

A :class:`GSpace` couples a fibre group (a :class:`~steertorch.group.Group`) with its action on the
points of the plane or of space, :math:`x \mapsto M(g)\,x`. Feature fields on a grid
(:class:`~steertorch.nn.FieldType`) and steerable kernels (:mod:`steertorch.kernels`) are defined
over a G-space. The factories follow escnn's names (``rot2dOnR2``, ``flipRot2dOnR2``, ``octaOnR3``, ...).

Coordinates: axis ``i`` of :math:`\mathbb{R}^d` is spatial dimension ``i`` of a grid tensor
``[B, C, *spatial]`` (for an image ``[B, C, H, W]``: x runs down the rows, y along the columns; for a volume
``[B, C, D, H, W]``: x, y, z along D, H, W), measured from the grid's centre in units of the grid spacing.
The rotation by +90 degrees in the (x, y) plane is ``torch.rot90(t, 1, dims=(2, 3))``.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Hashable

import numpy as np
import torch

from ..group import Group, IrreducibleRepresentation, Representation
from ..group._group import float64_default

__all__ = ["GSpace"]


class GSpace:
    r"""A group :math:`G \le O(d)` acting on :math:`\mathbb{R}^d`: the symmetry of a space of feature fields.

    The action on the base space is :math:`M(g) = F\, S(g)\, F^\top`, with :math:`S(g)` the group's standard
    action (``fibergroup.matrix``) and :math:`F` an orthogonal ``frame`` (the identity unless the
    symmetry axes are tilted, e.g. ``flip2dOnR2(axis=...)``).

    Args:
        fibergroup: the group G (``fibergroup.ambient_dim`` must equal ``dimensionality``).
        dimensionality: d, 2 or 3.
        name: a short description, e.g. ``"C8_on_R2"``.
        maximum_frequency: default band limit of :meth:`irreps` for continuous groups.
        frame: ``[d, d]`` orthogonal matrix F (default identity).

    >>> from steertorch.gspaces import rot2dOnR2
    >>> gs = rot2dOnR2(4)
    >>> gs.fibergroup.name, gs.dimensionality, gs.regular_repr.size
    ('C4', 2, 4)
    >>> gs.basespace_action(torch.tensor(1))  # a quarter turn
    tensor([[ 0., -1.],
            [ 1.,  0.]], dtype=torch.float64)
    """

    def __init__(self, fibergroup: Group, dimensionality: int, name: str | None = None,
                 maximum_frequency: int | None = None, frame: torch.Tensor | np.ndarray | None = None) -> None:
        if not isinstance(fibergroup, Group):
            raise ValueError(f"fibergroup must be a steertorch.group.Group, got {type(fibergroup).__name__}")
        if dimensionality not in (2, 3):
            raise ValueError(f"dimensionality must be 2 or 3, got {dimensionality!r}")
        if fibergroup.ambient_dim != dimensionality:
            raise ValueError(f"{fibergroup.name} acts on R^{fibergroup.ambient_dim}, not on R^{dimensionality}")
        if frame is None:
            f = torch.eye(dimensionality, dtype=torch.float64)
        else:
            f = torch.as_tensor(np.asarray(frame), dtype=torch.float64)
            if f.shape != (dimensionality, dimensionality):
                raise ValueError(f"frame must be [{dimensionality}, {dimensionality}], got {list(f.shape)}")
            err = float((f.T @ f - torch.eye(dimensionality, dtype=torch.float64)).abs().max())
            if err > 1e-9:
                raise ValueError(f"frame must be orthogonal, deviation {err:.2e}")
        if maximum_frequency is not None and (isinstance(maximum_frequency, bool)
                                              or not isinstance(maximum_frequency, int) or maximum_frequency < 0):
            raise ValueError(f"maximum_frequency must be an int >= 0, got {maximum_frequency!r}")
        self.fibergroup = fibergroup
        self.dimensionality = dimensionality
        self.frame = f
        self.maximum_frequency = maximum_frequency
        self.name = name if name is not None else f"{fibergroup.name}_on_R{dimensionality}"
        self._frame_is_identity = bool((f - torch.eye(dimensionality, dtype=torch.float64)).abs().max() < 1e-15)

    # ------------------------------------------------------------------ representations
    @property
    def trivial_repr(self) -> IrreducibleRepresentation:
        """The trivial representation of the fibre group (scalar fields)."""
        return self.fibergroup.trivial_representation

    @property
    def regular_repr(self) -> Representation:
        """The regular representation (finite fibre groups only; ``ValueError`` otherwise)."""
        return _regular(self.fibergroup)

    @property
    def basespace_repr(self) -> Representation:
        """The action on the base space, :math:`M(g)`, as a representation (vector fields)."""
        return _basespace_rep(self)

    def induced_repr(self, subgroup_id: str | Group, repr: Representation) -> Representation:
        r"""The representation :math:`\mathrm{Ind}_H^G \psi` of the fibre group (finite) induced from a
        representation ``repr`` of the subgroup H, in the coset basis (escnn's ``induced_repr``); see
        :func:`steertorch.group.induced_representation`.

        >>> from steertorch.gspaces import flipRot2dOnR2
        >>> gs = flipRot2dOnR2(4)
        >>> sub, _ = gs.restrict("C4")
        >>> gs.induced_repr("C4", sub.irrep(1)).size
        4
        """
        from ..group import induced_representation

        return induced_representation(self.fibergroup, subgroup_id, repr)

    def irrep(self, *label: Hashable) -> IrreducibleRepresentation:
        """The irrep of the fibre group with this label (``gs.irrep(1)``, ``gs.irrep(1, 2)``)."""
        return self.fibergroup.irrep(*label)

    def irreps(self, band_limit: int | None = None) -> list[IrreducibleRepresentation]:
        """The irreps of the fibre group (up to ``band_limit``, default ``maximum_frequency``, for continuous
        groups)."""
        if self.fibergroup.is_finite:
            return self.fibergroup.irreps()
        if band_limit is None:
            band_limit = self.maximum_frequency
        if band_limit is None:
            raise ValueError(f"{self.name}: the fibre group is continuous, pass a band_limit")
        return self.fibergroup.irreps(band_limit)

    # ------------------------------------------------------------------ action
    def basespace_action(self, g: torch.Tensor) -> torch.Tensor:
        r"""The matrices :math:`M(g) = F\,S(g)\,F^\top` ``[..., d, d]`` by which elements act on
        :math:`\mathbb{R}^d` (float64 for finite groups, with entries that are integers up to 1e-12 made exact;
        the elements' dtype for continuous ones)."""
        group = self.fibergroup
        if group.is_finite:
            return self._finite_table.to(g.device)[group.check_element(g)]
        m = group.matrix(g)
        if self._frame_is_identity:
            return m
        f = self.frame.to(dtype=m.dtype, device=m.device)
        return f @ m @ f.T

    @functools.cached_property
    def _finite_table(self) -> torch.Tensor:
        """M(g) for every element of a finite group, float64, entries within 1e-12 of -1, 0, 1 snapped to them
        (so grid symmetries such as quarter turns are exact)."""
        with float64_default():
            m = self.fibergroup.matrix(self.fibergroup.elements()).to(torch.float64)
        f = self.frame
        m = f @ m @ f.T
        r = m.round()
        return torch.where((m - r).abs() < 1e-12, r, m) + 0.0

    @functools.cached_property
    def testing_elements(self) -> list[torch.Tensor]:
        r"""The group elements whose base-space action :math:`M(g)` is a signed permutation (escnn's name).

        They map the pixel / voxel grid onto itself (quarter turns, axis flips, the octahedral symmetries in 3D),
        so a grid module is equivariant under them up to rounding: the elements to test grid modules with.
        Finite groups: indices in increasing order; continuous groups: float64 elements.

        >>> from steertorch.gspaces import rot2dOnR2
        >>> [int(g) for g in rot2dOnR2(8).testing_elements]  # the quarter turns of C8
        [0, 2, 4, 6]
        """
        d, f, group = self.dimensionality, self.frame, self.fibergroup
        found = []
        for perm in itertools.permutations(range(d)):
            for signs in itertools.product((1.0, -1.0), repeat=d):
                p = torch.zeros(d, d, dtype=torch.float64)
                for a in range(d):
                    p[a, perm[a]] = signs[a]
                try:
                    with float64_default():
                        found.append(group.from_matrix(f.T @ p @ f))
                except ValueError:  # not an element of the group
                    pass
        if group.is_finite:
            found.sort(key=int)
        return found

    def restrict(self, subgroup_id: str | Group) -> tuple[GSpace, Callable[[torch.Tensor], torch.Tensor]]:
        """The G-space of a subgroup H (a name such as ``"C4"`` or a group) and the inclusion H -> G.

        The base-space action is inherited: :math:`M_H(h) = M_G(\\iota(h))`.

        >>> from steertorch.gspaces import flipRot2dOnR2
        >>> sub, include = flipRot2dOnR2(8).restrict("C4")
        >>> sub.name, int(include(torch.tensor(1)))
        ('C4_on_R2', 2)
        """
        if isinstance(subgroup_id, Group):
            sub, include = subgroup_id, self.fibergroup.inclusion(subgroup_id)
        else:
            sub, include = self.fibergroup.subgroup(subgroup_id)
        return GSpace(sub, self.dimensionality, maximum_frequency=self.maximum_frequency,
                      frame=None if self._frame_is_identity else self.frame), include

    # ------------------------------------------------------------------ misc
    def _key(self) -> tuple:
        frame = None if self._frame_is_identity else tuple(np.round(self.frame.numpy().ravel(), 10) + 0.0)
        return (self.fibergroup, self.dimensionality, frame)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GSpace) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return self.name


@functools.cache
def _regular(group: Group) -> Representation:
    if not group.is_finite:
        raise ValueError(f"{group.name} is not finite: it has no (finite) regular representation; use "
                         f"fibergroup.bl_regular_representation(band_limit)")
    return group.regular_representation()


@functools.cache
def _basespace_rep(gspace: GSpace) -> Representation:
    band = None if gspace.fibergroup.is_finite else 1
    with float64_default():
        return Representation.from_function(gspace.fibergroup, gspace.basespace_action, gspace.dimensionality,
                                            band_limit=band, name="basespace")


def rotation_frame(angle: float) -> np.ndarray:
    """The 2D rotation by ``angle`` (a frame that tilts the symmetry axes)."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s], [s, c]])
