r"""Batch normalisation of grid feature fields ``[B, C, *spatial]`` (escnn's names).

Every module here normalises with statistics over the batch and the spatial positions (n = B times the number of
positions) that are invariant under the fibre group, so it commutes with the action of every group element on
the fibres, and, being pointwise in space, with every grid symmetry:

- :class:`InnerBatchNorm` (permutation fields: trivial, regular, quotient): one mean and one variance per field,
  shared by its channels, :math:`y = w\,(x - \mu)/\sqrt{\sigma^2 + \epsilon} + b`;
- :class:`NormBatchNorm` (any field): non-trivial fields are only rescaled,
  :math:`v \mapsto w\,v / \sqrt{\mathbb{E}|v|^2/d + \epsilon}`; trivial fields get the standard batch norm;
- :class:`IIDBatchNorm2d` / :class:`IIDBatchNorm3d` (any field): the mean is removed in the invariant subspace of
  each field only, then the field is divided by :math:`\sqrt{\mathbb{E}|v - \mu|^2/d + \epsilon}`;
- :class:`GNormBatchNorm` (any field): like :class:`NormBatchNorm`, but per irrep block of each field (in the
  field's irrep basis :math:`Q^\top v`), trivial irreps centred.

All four are one mechanism: in an orthonormal coordinate system (the channels, or the irrep basis for
:class:`GNormBatchNorm`) a set of invariant directions is centred (:math:`x \leftarrow x - X m` with
:math:`m = \mathbb{E}[R^\top x]`) and each block b of :math:`d_b` coordinates (a field, or an irrep) is scaled by
:math:`w_b / \sqrt{\sigma_b^2 + \epsilon}` with :math:`\sigma_b^2 = \mathbb{E}|x_b - (Xm)_b|^2 / d_b`; the bias
:math:`X\beta` lives on the centred directions only.

Training uses the batch statistics and updates the running ones as ``torch.nn.BatchNorm``:
:math:`r \leftarrow (1 - \text{momentum})\, r + \text{momentum}\, s`, the variance with the unbiased factor
:math:`n d_b / (n d_b - k_b)` (:math:`k_b` centred directions in the block; for a scalar field this is torch's
``n / (n - 1)``). Eval mode uses the running statistics (or the batch ones with ``track_running_stats=False``).
Constants (projections, changes of basis), parameters and running statistics follow the module's dtype (the
default dtype at construction; ``.double()`` / ``.to()`` convert and move them all, the constants re-derived from
float64 masters); inputs of another dtype raise ``ValueError``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..._dtype import ExactConstants, module_dtype
from ..._dtype import check_input_dtype as _check_input_dtype
from ...o3._empty import connected_zeros
from ._conv import _invariant_basis
from ._induced import induced_block_sizes
from ._module import EquivariantModule
from ._nonlinearity import _check_input, is_permutation_representation
from ._type import FieldType, require_field_type

__all__ = ["InnerBatchNorm", "NormBatchNorm", "IIDBatchNorm1d", "IIDBatchNorm2d", "IIDBatchNorm3d", "GNormBatchNorm",
           "InducedNormBatchNorm"]


class _FieldBatchNorm(EquivariantModule, ExactConstants):
    r"""Shared mechanism (see the module docstring): centre the directions :math:`X` with means of :math:`R^\top x`,
    scale blocks of coordinates by their mean squared norm, optionally in the orthonormal basis ``basis``."""

    _who = "FieldBatchNorm"

    def __init__(self, in_type: FieldType, eps: float, momentum: float, affine: bool,
                 track_running_stats: bool, dimensionality: int | None = None) -> None:
        super().__init__()
        who = self._who
        require_field_type(in_type, who)
        if dimensionality is not None and in_type.gspace.dimensionality != dimensionality:
            raise ValueError(f"{who}: needs a G-space on R^{dimensionality}, got {in_type.gspace.name} "
                             f"(on R^{in_type.gspace.dimensionality})")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps >= 0:
            raise ValueError(f"{who}: eps must be a number >= 0, got {eps!r}")
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 <= momentum <= 1:
            raise ValueError(f"{who}: momentum must be a number in [0, 1], got {momentum!r}")
        self.in_type = in_type
        self.out_type = in_type
        self.eps = float(eps)
        self.momentum = float(momentum)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)

    def _setup(self, reduce: torch.Tensor, expand: torch.Tensor, block: list[int], centred: list[int],
               basis: torch.Tensor | None = None) -> None:
        """Register the constants: ``reduce`` / ``expand`` ``[C, k]`` (float64), ``block[c]`` the block of
        coordinate c, ``centred[b]`` the number of centred directions in block b, ``basis`` ``[C, C]`` or None."""
        dtype = torch.float64  # masters of the constants (buffers in the module's dtype: ExactConstants)
        block_t = torch.tensor(block, dtype=torch.long)
        nb = len(centred)
        dims = torch.bincount(block_t, minlength=nb)
        k = reduce.shape[1]
        self.register_constant("_reduce", reduce.to(dtype))
        self.register_constant("_expand", expand.to(dtype))
        self.register_buffer("_block", block_t, persistent=False)
        self.register_constant("_block_dim", dims.to(dtype))
        self.register_constant("_centred", torch.tensor(centred, dtype=dtype))
        self.register_constant("_basis", None if basis is None else basis.to(dtype))
        # with one sample, a block made only of centred directions has no variance left
        self._needs_two = bool((dims == torch.tensor(centred, dtype=torch.long)).any())
        if self.track_running_stats:
            self.register_buffer("running_mean", torch.zeros(k))
            self.register_buffer("running_var", torch.ones(nb))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
        self.register_parameter("weight", nn.Parameter(torch.ones(nb)) if self.affine else None)
        self.register_parameter("bias", nn.Parameter(torch.zeros(k)) if self.affine and k else None)

    def reset_running_stats(self) -> None:
        """Running mean to 0, running variance to 1."""
        if self.running_mean is not None:
            self.running_mean.zero_()
            self.running_var.fill_(1.0)

    def _check(self, x: torch.Tensor) -> None:
        _check_input(self.in_type, x, self._who, module_dtype(self))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        if x.numel() == 0:  # no statistics to take or update: the empty output, on the graph of the parameters
            return x + connected_zeros(self.weight, self.bias)
        c = x.shape[1]
        basis = self._basis
        if basis is not None:
            x = torch.einsum("ji,bj...->bi...", basis, x)  # coordinates in the irrep basis, Q^T x
        red, exp = self._reduce, self._expand
        nb = self._block_dim.shape[0]
        if self.training or self.running_var is None:
            n = x.numel() // c
            if n == 1 and self._needs_two and self.training:
                raise ValueError(f"{self._who}: expected more than one value per field (batch times spatial "
                                 f"positions) when training, got input shape {list(x.shape)}")
            var_c, mu_c = torch.var_mean(x, dim=[0, *range(2, x.dim())], correction=0)
            mean = mu_c @ red  # [k]
            offset = exp @ mean  # [C]
            sq = var_c + (mu_c - offset) ** 2  # E (x_c - offset_c)^2
            dim = self._block_dim
            var = torch.zeros(nb, dtype=x.dtype, device=x.device).index_add_(0, self._block, sq) / dim
            if self.training and self.running_var is not None:
                with torch.no_grad():
                    m = self.momentum
                    unbiased = var * (n * dim) / (n * dim - self._centred).clamp(min=1)
                    self.running_mean.mul_(1 - m).add_(mean.detach().to(self.running_mean.dtype), alpha=m)
                    self.running_var.mul_(1 - m).add_(unbiased.detach().to(self.running_var.dtype), alpha=m)
        else:
            mean = self.running_mean
            offset = exp @ mean
            var = self.running_var
        scale = torch.rsqrt(var + self.eps)
        if self.weight is not None:
            scale = scale * self.weight
        s = scale.index_select(0, self._block)  # [C]
        t = -offset * s
        if self.bias is not None:
            t = t + exp @ self.bias
        shape = (1, c) + (1,) * (x.dim() - 2)
        if basis is not None:  # Q (s * Q^T x + t)
            return torch.einsum("ij,bj...->bi...", basis * s, x) + (basis @ t).view(shape)
        return torch.addcmul(t.view(shape), x, s.view(shape))

    def extra_repr(self) -> str:
        return (f"{self.in_type!r}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


def _field_blocks(in_type: FieldType) -> list[int]:
    return [i for i, rho in enumerate(in_type.representations) for _ in range(rho.size)]


class InnerBatchNorm(_FieldBatchNorm):
    r"""Batch norm for fields acting by permutation matrices (trivial, regular, quotient; escnn's
    ``InnerBatchNorm``): per field i one mean and one variance, over the batch, the positions and the field's
    :math:`d_i` channels,

    .. math::  \mu_i = \mathbb{E}_{b,p,c \in i}\, x_{b c p}, \qquad
               \sigma_i^2 = \mathbb{E}_{b,p,c \in i}\, (x_{b c p} - \mu_i)^2, \qquad
               y_{bcp} = w_i\, \frac{x_{bcp} - \mu_i}{\sqrt{\sigma_i^2 + \epsilon}} + b_i .

    Equivariant because a permutation of the field's channels leaves :math:`\mu_i, \sigma_i` unchanged and
    commutes with the channel-independent affine map. Fields that are not permutation representations raise
    ``ValueError``. Works for 2D and 3D grids.

    Args:
        in_type: the field type (also the output type).
        eps: added to the variance.
        momentum: of the running statistics.
        affine: learn ``weight`` and ``bias`` ``[n_fields]`` (ones, zeros).
        track_running_stats: keep ``running_mean`` / ``running_var`` ``[n_fields]`` for eval mode.

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> gs = rot2dOnR2(8)
    >>> bn = InnerBatchNorm(FieldType(gs, [gs.regular_repr] * 2))
    >>> y = bn(torch.randn(4, 16, 5, 5) * 3 + 1)
    >>> bool(y[:, :8].mean().abs() < 1e-5), bool((y[:, :8].var(unbiased=False) - 1).abs() < 1e-4)
    (True, True)
    """

    _who = "InnerBatchNorm"

    def __init__(self, in_type: FieldType, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True,
                 track_running_stats: bool = True) -> None:
        super().__init__(in_type, eps, momentum, affine, track_running_stats)
        for i, rho in enumerate(in_type.representations):
            if not is_permutation_representation(rho):
                raise ValueError(f"InnerBatchNorm: field {i} ({rho.name}) of {in_type!r} does not act by "
                                 "permutation matrices (needs trivial, regular or quotient fields; use "
                                 "NormBatchNorm, IIDBatchNorm2d/3d or GNormBatchNorm for other fields)")
        block = _field_blocks(in_type)
        nf = len(in_type)
        ind = torch.zeros(in_type.size, nf, dtype=torch.float64)
        ind[torch.arange(in_type.size), torch.tensor(block)] = 1.0
        sizes = torch.tensor([rho.size for rho in in_type.representations], dtype=torch.float64)
        self._setup(ind / sizes, ind, block, [1] * nf)


class NormBatchNorm(_FieldBatchNorm):
    r"""Batch norm for any (orthogonal) fields (escnn's ``NormBatchNorm``).

    A non-trivial field v of size d is only rescaled (a mean of it would not be invariant):

    .. math::  v \mapsto w_i\, \frac{v}{\sqrt{\mathbb{E}_{b,p}|v|^2 / d + \epsilon}} ;

    a trivial field (every irrep trivial, so each channel is invariant) gets the standard batch norm: its channels
    are centred, divided by :math:`\sqrt{\mathbb{E}|v - \mu|^2/d + \epsilon}` and shifted by a bias per channel.
    Equivariant because :math:`|\rho(g)v| = |v|`. Works for 2D and 3D grids.

    Args:
        in_type: the field type (also the output type).
        eps: added to the variance.
        momentum: of the running statistics.
        affine: learn ``weight`` ``[n_fields]`` (ones) and ``bias`` (zeros, one per channel of the trivial fields).
        track_running_stats: keep ``running_mean`` (channels of trivial fields) and ``running_var``
            ``[n_fields]``.

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> gs = rot2dOnR2(-1)
    >>> bn = NormBatchNorm(FieldType(gs, [gs.trivial_repr, gs.irrep(1)]), eps=0.0)
    >>> y = bn(torch.randn(4, 3, 6, 6) * 5 + 2)
    >>> round(float(y[:, 1:].detach().pow(2).sum(1).mean()), 6)  # E|v|^2 = d = 2
    2.0
    """

    _who = "NormBatchNorm"

    def __init__(self, in_type: FieldType, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True,
                 track_running_stats: bool = True) -> None:
        super().__init__(in_type, eps, momentum, affine, track_running_stats)
        cols = [c for i, rho in enumerate(in_type.representations) if rho.is_trivial()
                for c in range(in_type.fields_start[i], in_type.fields_end[i])]
        onehot = torch.zeros(in_type.size, len(cols), dtype=torch.float64)
        onehot[cols, torch.arange(len(cols))] = 1.0
        centred = [rho.size if rho.is_trivial() else 0 for rho in in_type.representations]
        self._setup(onehot, onehot, _field_blocks(in_type), centred)


class _IIDBatchNorm(_FieldBatchNorm):
    _who = "IIDBatchNorm"
    _dimensionality = 2

    def __init__(self, in_type: FieldType, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True,
                 track_running_stats: bool = True) -> None:
        super().__init__(in_type, eps, momentum, affine, track_running_stats, dimensionality=self._dimensionality)
        bases = [_invariant_basis(rho) for rho in in_type.representations]  # [d_i, k_i] orthonormal
        e = torch.block_diag(*bases)
        self._setup(e, e, _field_blocks(in_type), [b.shape[1] for b in bases])


_IID_DOC = r"""Batch norm for fields of any (orthogonal) representation on a {d}D grid (escnn's ``IIDBatchNorm{d}d``).

    For field i with an orthonormal basis :math:`E_i` of its invariant subspace (its trivial irreps, mapped by the
    change of basis), the mean is removed there only and the field is divided by its root mean squared norm:

    .. math::  m_i = \mathbb{{E}}_{{b,p}}\, E_i^\top v, \qquad u = v - E_i m_i, \qquad
               \sigma_i^2 = \mathbb{{E}}_{{b,p}}\, |u|^2 / d_i, \qquad
               v \mapsto w_i\, \frac{{u}}{{\sqrt{{\sigma_i^2 + \epsilon}}}} + E_i \beta_i .

    Equivariant because :math:`E_i^\top \rho_i(g) = E_i^\top` and :math:`|\rho_i(g) u| = |u|`.

    Args:
        in_type: the field type (also the output type), over a G-space on :math:`\mathbb{{R}}^{d}`.
        eps: added to the variance.
        momentum: of the running statistics.
        affine: learn ``weight`` ``[n_fields]`` (ones) and ``bias`` ``[total invariant dimension]`` (zeros).
        track_running_stats: keep ``running_mean`` (invariant coordinates) and ``running_var`` ``[n_fields]``.

    >>> import torch
    >>> from steertorch.gspaces import {gs}
    >>> gs = {gs}({arg})
    >>> bn = IIDBatchNorm{d}d(FieldType(gs, [gs.regular_repr] * 2), eps=0.0)
    >>> y = bn(torch.randn(4, {c}, {shape}) + 3)
    >>> bool(y.mean((0, {mean_dims})).sum().abs() < 1e-4)  # invariant part (the channel sum) centred
    True
    """


class IIDBatchNorm1d(_IIDBatchNorm):
    r"""Batch norm for fields of any (orthogonal) representation on ``[B, C]`` or ``[B, C, L]`` inputs (escnn's
    ``IIDBatchNorm1d``; typically with a :func:`~steertorch.gspaces.no_base_space` G-space, as in equivariant
    MLPs). The statistics run over the batch (and L); otherwise as :class:`IIDBatchNorm2d`:

    .. math::  m_i = \mathbb{E}\, E_i^\top v, \qquad u = v - E_i m_i, \qquad
               \sigma_i^2 = \mathbb{E}\, |u|^2 / d_i, \qquad
               v \mapsto w_i\, \frac{u}{\sqrt{\sigma_i^2 + \epsilon}} + E_i \beta_i .

    Any G-space is accepted (the axis L is not acted on, as in escnn).

    >>> import torch
    >>> from steertorch.group import so3_group
    >>> from steertorch.gspaces import no_base_space
    >>> gs = no_base_space(so3_group())
    >>> bn = IIDBatchNorm1d(FieldType(gs, [gs.irrep(0), gs.irrep(1)]), eps=0.0)
    >>> y = bn(torch.randn(64, 4) + 3)
    >>> bool(y[:, 0].mean().abs() < 1e-5), round(float(y[:, 1:].detach().pow(2).sum(1).mean()), 5)
    (True, 3.0)
    """

    _who = "IIDBatchNorm1d"
    _dimensionality = None

    def _check(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor) or x.dim() not in (2, 3) or x.shape[1] != self.in_type.size:
            shape = list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"IIDBatchNorm1d: expected input [batch, {self.in_type.size}] or [batch, "
                             f"{self.in_type.size}, L] of type {self.in_type!r}, got {shape}")
        _check_input_dtype("IIDBatchNorm1d", "input x", x, module_dtype(self))


class IIDBatchNorm2d(_IIDBatchNorm):
    _who = "IIDBatchNorm2d"
    _dimensionality = 2


class IIDBatchNorm3d(_IIDBatchNorm):
    _who = "IIDBatchNorm3d"
    _dimensionality = 3


IIDBatchNorm2d.__doc__ = _IID_DOC.format(d=2, gs="rot2dOnR2", arg=4, c=8, shape="5, 5", mean_dims="2, 3")
IIDBatchNorm3d.__doc__ = _IID_DOC.format(d=3, gs="octaOnR3", arg="", c=48, shape="3, 3, 3", mean_dims="2, 3, 4")


class GNormBatchNorm(_FieldBatchNorm):
    r"""Batch norm per irrep block (escnn's ``GNormBatchNorm``), for fields of any (orthogonal) representation.

    Write field i in its irrep basis, :math:`z = Q_i^\top v = (z_1, \dots, z_r)` with :math:`z_j` transforming
    under the irrep :math:`\psi_j` of size :math:`d_j`. Trivial irreps are centred and shifted, every block is
    scaled by its own root mean squared norm:

    .. math::  z_j \mapsto w_j\, \frac{z_j - \mu_j}{\sqrt{\mathbb{E}_{b,p}|z_j - \mu_j|^2 / d_j + \epsilon}}
               + \beta_j, \qquad v \mapsto Q_i z,

    with :math:`\mu_j, \beta_j` only for trivial :math:`\psi_j` (zero otherwise). Equivariant because a scalar
    per irrep block commutes with :math:`\bigoplus_j \psi_j(g)` (even with repeated irreps) and
    :math:`|\psi_j(g) z_j| = |z_j|`. Costs two channel-mixing products (:math:`Q^\top` and :math:`Q`) per call.

    Args:
        in_type: the field type (also the output type).
        eps: added to the variance.
        momentum: of the running statistics.
        affine: learn ``weight`` ``[number of irreps]`` (ones) and ``bias`` ``[number of trivial irreps]`` (zeros).
        track_running_stats: keep ``running_mean`` ``[number of trivial irreps]`` and ``running_var``
            ``[number of irreps]``.

    >>> import torch
    >>> from steertorch.gspaces import flipRot2dOnR2
    >>> gs = flipRot2dOnR2(4)
    >>> bn = GNormBatchNorm(FieldType(gs, [gs.regular_repr]))
    >>> bn.weight.shape, bn.bias.shape  # D4's regular repr: 4 one-dim irreps + 2 copies of the 2-dim one
    (torch.Size([6]), torch.Size([1]))
    >>> bn(torch.randn(2, 8, 5, 5)).shape
    torch.Size([2, 8, 5, 5])
    """

    _who = "GNormBatchNorm"

    def __init__(self, in_type: FieldType, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True,
                 track_running_stats: bool = True) -> None:
        super().__init__(in_type, eps, momentum, affine, track_running_stats)
        block: list[int] = []
        trivial_coords: list[int] = []
        centred: list[int] = []
        coord = 0
        for rho in in_type.representations:
            for psi in rho.irreps:
                triv = psi.is_trivial()
                centred.append(psi.size if triv else 0)
                block += [len(centred) - 1] * psi.size
                if triv:
                    trivial_coords += list(range(coord, coord + psi.size))
                coord += psi.size
        onehot = torch.zeros(in_type.size, len(trivial_coords), dtype=torch.float64)
        onehot[trivial_coords, torch.arange(len(trivial_coords))] = 1.0
        basis = torch.block_diag(*[rho.dense_change_of_basis() for rho in in_type.representations])
        if bool((basis - torch.eye(in_type.size, dtype=torch.float64)).abs().max() == 0):
            basis = None
        self._setup(onehot, onehot, block, centred, basis)



class InducedNormBatchNorm(_FieldBatchNorm):
    r"""Batch norm of fields of induced representations without invariant part (escnn's
    ``InducedNormBatchNorm``): each field is rescaled by one factor shared by all its sub-fields,

    .. math::  v \mapsto w_i\, \frac{v}{\sqrt{\mathbb{E}_{b,p}|v|^2 / d_i + \epsilon}},

    no mean is removed and no bias added (a field without trivial irreps has mean zero over the group,
    :math:`\frac{1}{|G|}\sum_g \rho(g) v = 0`). Equivariant because :math:`|\rho(g)v| = |v|`. Each field must
    have no trivial irrep (``ValueError`` otherwise) and permute blocks of equal size (as for
    :class:`InducedNormNonLinearity`; the block size is read from a representation built by
    ``gspace.induced_repr``, or given as ``block_size``).

    Unlike escnn's, training mode normalises with the batch statistics (as ``torch.nn.BatchNorm``), and the running
    variance is the plain mean of :math:`|v|^2/d_i` (the mean is known to be 0, so no ``n / (n - 1)`` factor).
    Eval mode is the same map as escnn's for the same running variance and weights.

    >>> import torch
    >>> from steertorch.gspaces import flipRot2dOnR2
    >>> gs = flipRot2dOnR2(4)
    >>> sub, _ = gs.restrict("C4")
    >>> rho = gs.induced_repr("C4", sub.irrep(1))
    >>> bn = InducedNormBatchNorm(FieldType(gs, [rho, rho]), eps=0.0)
    >>> y = bn(torch.randn(8, 8, 5, 5) * 3)
    >>> round(float(y[:, :4].detach().pow(2).sum(1).mean()), 5)  # E|v|^2 = d = 4
    4.0
    """

    _who = "InducedNormBatchNorm"

    def __init__(self, in_type: FieldType, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True,
                 track_running_stats: bool = True, block_size: int | list[int] | None = None) -> None:
        super().__init__(in_type, eps, momentum, affine, track_running_stats)
        self.block_size = induced_block_sizes(in_type, block_size, self._who)
        for i, rho in enumerate(in_type.representations):
            if any(psi.is_trivial() for psi in rho.irreps):
                raise ValueError(f"InducedNormBatchNorm: field {i} ({rho.name}) contains a trivial irrep (its mean "
                                 "need not vanish); use IIDBatchNorm2d/3d or NormBatchNorm")
        none = torch.zeros(in_type.size, 0, dtype=torch.float64)
        self._setup(none, none, _field_blocks(in_type), [0] * len(in_type))

    def extra_repr(self) -> str:
        return super().extra_repr() + f", block_size={self.block_size}"
