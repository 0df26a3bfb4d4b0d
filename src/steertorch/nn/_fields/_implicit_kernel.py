r"""Implicit steerable kernels (Zhdanov, Hoffmann, Cesa, NeurIPS 2023) and the analytic kernel as a module.

A kernel :math:`k: \mathbb{R}^d \times A \to \mathbb{R}^{c_{out} \times c_{in}}` is steerable when

.. math::  k(M(g)\,x,\; g\cdot a) = \rho_{out}(g)\, k(x, a)\, \rho_{in}(g)^{-1} \qquad \forall g \in G .

Row-major, :math:`\mathrm{vec}(\rho_{out} K \rho_{in}^\top) = (\rho_{out} \otimes \rho_{in})\,\mathrm{vec}(K)`: the
constraint says that :math:`(x, a) \mapsto \mathrm{vec}\,k(x, a)` is a G-equivariant map from the input
representation (G's action :math:`M` on :math:`\mathbb{R}^d` plus that of the attributes) to
:math:`\rho_{out} \otimes \rho_{in}` (:math:`\rho_{in}^* = \rho_{in}` for orthogonal representations). So any
G-equivariant MLP gives a steerable kernel, for any compact G and any representations, and attributes cost
nothing. :class:`ImplicitKernel` is that MLP (:class:`EquivariantMLP`), fed with :math:`x / r_{max}`, invariant
radial features of :math:`|x|` and the attributes, with output type :math:`\bigoplus_{a,b}\rho_a \otimes \rho_b`
(one block per pair of output / input fields), reshaped to ``[E, out_type.size, in_type.size]`` and multiplied
by an invariant envelope :math:`e^{-s\,|x|^2/r_{max}^2}` (s learned) times a smooth cutoff at :math:`r_{max}`.

:class:`BasisKernel` is the analytic alternative with the same call: a learned combination of the steerable basis
(:func:`steertorch.kernels.kernel_basis`) sampled at the points. Both carry a per-output-field ``gain`` set by
:meth:`calibrate_` so that a convolution built from them starts at unit second moment (the grid convolutions
calibrate on their lattice, the point convolution on points uniform in the ball of radius ``r_max``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..._dtype import ExactConstants, check_input_dtype, module_dtype
from ...group import Representation
from ...group._group import float64_default
from ...kernels import kernel_basis
from ...math import polynomial_cutoff, soft_one_hot_linspace
from ...o3._empty import register_weight
from ._equivariant_mlp import EquivariantMLP
from ._type import FieldType, require_field_type

__all__ = ["ImplicitKernel", "BasisKernel"]


@functools.cache
def _pair_rep(rep_o: Representation, rep_i: Representation) -> Representation:
    """:math:`\\rho_o \\otimes \\rho_i` (Kronecker order: entry (i, j) of the block is channel ``i * size_i + j``)."""
    with float64_default():
        return rep_o.tensor(rep_i)


def _norm(x: torch.Tensor) -> torch.Tensor:
    """|x| over the last axis with a zero (not NaN) gradient at x = 0."""
    r2 = (x * x).sum(-1)
    nz = r2 > 0
    return torch.where(nz, torch.where(nz, r2, torch.ones_like(r2)).sqrt(), torch.zeros_like(r2))


def _uniform_ball(n: int, d: int, r_max: float, generator: torch.Generator) -> torch.Tensor:
    v = torch.randn(n, d, dtype=torch.float64, generator=generator)
    v = v / _norm(v).clamp(min=1e-12)[:, None]
    return v * (r_max * torch.rand(n, 1, dtype=torch.float64, generator=generator) ** (1.0 / d))


class _SteerableKernel(nn.Module):
    """What the kernels share: the types, the per-output-field gain and its calibration, input checks.

    ``gain`` is calibrated state (set by :meth:`calibrate_` from the current weights, saved in the state dict),
    like a batch norm's running statistics: a plain buffer in the module's dtype, not a float64 constant."""

    def _setup_types(self, in_type: FieldType, out_type: FieldType, r_max: float, cutoff: bool, who: str) -> None:
        require_field_type(in_type, who)
        require_field_type(out_type, who)
        if in_type.gspace != out_type.gspace:
            raise ValueError(f"{who}: in_type and out_type must share the G-space, got {in_type.gspace.name} and "
                             f"{out_type.gspace.name}")
        if isinstance(r_max, bool) or not isinstance(r_max, (int, float)) or not 0 < r_max < math.inf:
            raise ValueError(f"{who}: r_max must be a number > 0, got {r_max!r}")
        self.gspace = in_type.gspace
        self.in_type, self.out_type = in_type, out_type
        self.r_max, self.cutoff = float(r_max), bool(cutoff)
        self._who = who
        field = torch.cat([torch.full((r.size,), i, dtype=torch.long) for i, r in enumerate(out_type.representations)])
        self.register_buffer("_out_field", field, persistent=False)
        self.register_buffer("gain", torch.ones(out_type.size))

    def _check(self, x: torch.Tensor, attributes: torch.Tensor | None) -> None:
        d = self.gspace.dimensionality
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[1] != d:
            shape = list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{self._who}: expected relative positions [E, {d}], got {shape}")
        dtype = module_dtype(self)
        check_input_dtype(self._who, "positions x", x, dtype)
        n_attr = 0 if self.attributes is None else self.attributes.size
        if n_attr == 0 and attributes is not None:
            raise ValueError(f"{self._who}: got attributes but none were declared (pass attributes= when building)")
        if n_attr and (not isinstance(attributes, torch.Tensor) or attributes.shape != (x.shape[0], n_attr)):
            shape = list(attributes.shape) if isinstance(attributes, torch.Tensor) else attributes
            raise ValueError(f"{self._who}: expected attributes [{x.shape[0]}, {n_attr}] of type "
                             f"{self.attributes!r}, got {shape}")
        check_input_dtype(self._who, "attributes", attributes, dtype)

    def _envelope(self, r: torch.Tensor) -> torch.Tensor:
        env = torch.ones_like(r)
        if self.cutoff:
            env = polynomial_cutoff(r, self.r_max)
        return env

    def _scale(self, k: torch.Tensor) -> torch.Tensor:
        return k * self.gain[None, :, None]

    @torch.no_grad()
    def calibrate_(self, points: torch.Tensor, attributes: torch.Tensor | None = None,
                   reduction: str = "mean") -> torch.Tensor:
        r"""Set ``gain`` (one number per output field) so that :math:`\mathrm{red}_q \sum_i K_{ci}(q)^2` averaged
        over the channels c of each output field is 1: a convolution whose inputs are i.i.d. with unit variance
        then has outputs of unit second moment (``reduction="sum"``: over the points of a grid kernel;
        ``"mean"``: per message, for a sum normalised by the square root of the number of neighbours). Batch
        statistics are used and restored untouched. Returns the gain."""
        if reduction not in ("mean", "sum"):
            raise ValueError(f"{self._who}: reduction must be 'mean' or 'sum', got {reduction!r}")
        dtype = module_dtype(self) or torch.get_default_dtype()
        saved = {k: v.clone() for k, v in self.state_dict().items() if "running" in k or "num_batches" in k}
        self.gain.fill_(1.0)
        k = self(points.to(dtype=dtype, device=self.gain.device),
                 None if attributes is None else attributes.to(dtype=dtype, device=self.gain.device))
        s = (k.to(torch.float64) ** 2).sum(2)  # [P, out]
        s = s.mean(0) if reduction == "mean" else s.sum(0)
        n_fields = len(self.out_type)
        per_field = torch.zeros(n_fields, dtype=torch.float64, device=s.device).index_add_(0, self._out_field, s)
        sizes = torch.tensor([r.size for r in self.out_type.representations], dtype=torch.float64, device=s.device)
        per_field = per_field / sizes
        g = torch.where(per_field > 0, per_field.clamp(min=1e-300).rsqrt(), torch.ones_like(per_field))
        self.gain.copy_(g.index_select(0, self._out_field).to(self.gain.dtype))
        if saved:
            self.load_state_dict(saved, strict=False)
        return self.gain

    def _default_calibration(self, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        pts = _uniform_ball(256, self.gspace.dimensionality, self.r_max, gen)
        attrs = None
        if self.attributes is not None:
            attrs = torch.randn(256, self.attributes.size, dtype=torch.float64, generator=gen)
        self.calibrate_(pts, attrs, "mean")


class ImplicitKernel(_SteerableKernel):
    r"""A steerable kernel computed by a G-equivariant MLP (see the module docstring).

    ``kernel(x, attributes=None)`` maps relative positions ``x`` ``[E, d]`` (and attributes ``[E, a]`` when
    declared) to kernels ``[E, out_type.size, in_type.size]`` with
    :math:`k(M(g)x, g\cdot a) = \rho_{out}(g)\,k(x, a)\,\rho_{in}(g)^\top` for every g of the G-space's group.

    Args:
        gspace: the G-space (group and its action on R^d); ``in_type`` / ``out_type`` must be over it.
        in_type, out_type: field types (any representations).
        hidden: hidden fields per layer of the MLP (:class:`EquivariantMLP`).
        attributes: ``None``, an int n (n invariant scalars) or a :class:`FieldType` of the G-space (steerable
            attributes, e.g. a bond vector as ``gspace.basespace_repr``).
        r_max: length scale: the MLP sees :math:`x / r_{max}`, radial features on :math:`[0, r_{max}]`, and the
            kernel is cut off smoothly at ``r_max`` when ``cutoff``.
        num_radial: number of Gaussian radial features of :math:`|x|` (invariant inputs).
        cutoff: multiply by the polynomial cutoff (zero with two derivatives at ``r_max``).
        band_limit, activation, normalization: of the MLP (see :class:`EquivariantMLP`).

    Initialisation: the MLP as :class:`EquivariantMLP`, then ``gain`` set by :meth:`calibrate_` on 256 points
    uniform in the ball of radius ``r_max`` (standard normal attributes): unit mean squared row norm per message.
    The grid convolutions recalibrate it on their lattice when built (``R2Conv(..., kernel=...)``).

    >>> import torch
    >>> from steertorch.gspaces import flipRot2dOnR2
    >>> from steertorch.nn import FieldType
    >>> _ = torch.manual_seed(0)
    >>> gs = flipRot2dOnR2(-1)
    >>> k = ImplicitKernel(gs, FieldType(gs, [gs.irrep(1, 1)]), FieldType(gs, [gs.trivial_repr, gs.irrep(1, 2)]),
    ...                    hidden=[8])
    >>> x = torch.randn(10, 2)
    >>> k(x).shape
    torch.Size([10, 3, 2])
    >>> g = gs.fibergroup.sample(1, dtype=torch.float32)[0]
    >>> rho_in, rho_out = k.in_type.representation(g).float(), k.out_type.representation(g).float()
    >>> m = gs.basespace_action(g).float()
    >>> bool(torch.allclose(k(x @ m.T), rho_out @ k(x) @ rho_in.T, atol=1e-4))  # float32 rounding
    True
    """

    def __init__(self, gspace, in_type: FieldType, out_type: FieldType, hidden: Sequence[int] = (16, 16),
                 attributes: FieldType | int | None = None, r_max: float = 1.0, num_radial: int = 8,
                 cutoff: bool = True, band_limit: int | None = None, activation: str = "auto",
                 normalization: str | None = None) -> None:
        super().__init__()
        who = "ImplicitKernel"
        self._setup_types(in_type, out_type, r_max, cutoff, who)
        if gspace != in_type.gspace:
            raise ValueError(f"{who}: in_type / out_type are over {in_type.gspace.name}, not over {gspace!r}")
        if isinstance(num_radial, bool) or not isinstance(num_radial, int) or num_radial < 0:
            raise ValueError(f"{who}: num_radial must be an int >= 0, got {num_radial!r}")
        if isinstance(attributes, int) and not isinstance(attributes, bool):
            if attributes < 0:
                raise ValueError(f"{who}: attributes must be >= 0 scalars, got {attributes}")
            attributes = FieldType(gspace, [gspace.trivial_repr] * attributes) if attributes else None
        elif attributes is not None:
            require_field_type(attributes, f"{who} (attributes)")
            if attributes.gspace != gspace:
                raise ValueError(f"{who}: attributes are over {attributes.gspace.name}, not over {gspace.name}")
        self.attributes = attributes
        self.num_radial = num_radial
        reps = [gspace.basespace_repr] + [gspace.trivial_repr] * num_radial
        if attributes is not None:
            reps += list(attributes.representations)
        mlp_in = FieldType(gspace, reps)
        pair_reps, perm = [], []
        o_starts, i_starts = out_type.fields_start, in_type.fields_start
        for a, rep_o in enumerate(out_type.representations):
            for b, rep_i in enumerate(in_type.representations):
                pair_reps.append(_pair_rep(rep_o, rep_i))
                rows = torch.arange(rep_o.size)[:, None] + o_starts[a]
                cols = torch.arange(rep_i.size)[None, :] + i_starts[b]
                perm.append((rows * in_type.size + cols).reshape(-1))
        # mlp channel c holds entry perm[c] of the row-major kernel: invert to gather the kernel
        order = torch.argsort(torch.cat(perm))
        self.register_buffer("_order", order, persistent=False)
        self.mlp = EquivariantMLP(mlp_in, FieldType(gspace, pair_reps), hidden, band_limit, activation,
                                  normalization)
        self.envelope = nn.Parameter(torch.zeros(()))  # s = softplus(envelope): e^{-s |x|^2 / r_max^2}
        self._default_calibration()

    def forward(self, x: torch.Tensor, attributes: torch.Tensor | None = None) -> torch.Tensor:
        self._check(x, attributes)
        r = _norm(x)
        feats = [x / self.r_max]
        if self.num_radial:
            feats.append(soft_one_hot_linspace(r, 0.0, self.r_max, self.num_radial, basis="gaussian", cutoff=False)
                         * math.sqrt(self.num_radial))
        if attributes is not None:
            feats.append(attributes)
        y = self.mlp(torch.cat(feats, dim=-1))
        k = y.index_select(1, self._order).view(x.shape[0], self.out_type.size, self.in_type.size)
        env = self._envelope(r) * torch.exp(-F.softplus(self.envelope) * (r / self.r_max) ** 2)
        return self._scale(k * env[:, None, None])

    def extra_repr(self) -> str:
        return (f"{self.in_type!r} -> {self.out_type!r}, attributes={self.attributes!r}, r_max={self.r_max}, "
                f"cutoff={self.cutoff}")


class BasisKernel(_SteerableKernel):
    r"""The analytic steerable kernel as a module with the call of :class:`ImplicitKernel`: a learned
    combination of the steerable basis (:func:`~steertorch.kernels.kernel_basis`, Gaussian rings of width
    ``sigma`` at ``radii``, band limit ``floor(frequency_cutoff * r)`` per ring, at most ``maximum_frequency``)
    sampled at the positions, times the smooth cutoff at ``r_max`` when ``cutoff``.
    One weight tensor ``[n_a, n_b, dim]`` per pair of distinct representations (a, b). Takes no attributes.

    >>> import torch
    >>> from steertorch.gspaces import rot3dOnR3
    >>> from steertorch.nn import FieldType
    >>> gs = rot3dOnR3()
    >>> k = BasisKernel(FieldType(gs, [gs.irrep(0)]), FieldType(gs, [gs.irrep(1)]), radii=[0.0, 0.5, 1.0],
    ...                 sigma=0.3, r_max=1.5)
    >>> k(torch.randn(4, 3)).shape
    torch.Size([4, 3, 1])
    """

    attributes = None

    def __init__(self, in_type: FieldType, out_type: FieldType, radii: Sequence[float] = (0.0, 0.5, 1.0),
                 sigma: float = 0.3, r_max: float = 1.5, cutoff: bool = True,
                 maximum_frequency: int | None = None, frequency_cutoff: float = 2.0) -> None:
        super().__init__()
        self._setup_types(in_type, out_type, r_max, cutoff, "BasisKernel")
        gs = in_type.gspace
        self._pairs: list[tuple] = []
        flat = []  # the row-major kernel entries of each pair's block, in the order the blocks are concatenated
        out_reps = list(dict.fromkeys(out_type.representations))
        in_reps = list(dict.fromkeys(in_type.representations))
        for a, rep_o in enumerate(out_reps):
            rows = [c for r, s, e in zip(out_type.representations, out_type.fields_start, out_type.fields_end)
                    if r == rep_o for c in range(s, e)]
            for b, rep_i in enumerate(in_reps):
                cols = [c for r, s, e in zip(in_type.representations, in_type.fields_start, in_type.fields_end)
                        if r == rep_i for c in range(s, e)]
                basis = kernel_basis(gs, rep_i, rep_o, radii=radii, sigma=sigma, maximum_frequency=maximum_frequency,
                                     frequency_cutoff=frequency_cutoff)
                # a buffer if the pair has no steerable kernel (no zero-size parameter: DDP, see register_weight)
                register_weight(self, f"weight_{a}_{b}",
                                torch.randn(len(rows) // rep_o.size, len(cols) // rep_i.size, basis.dim))
                flat.append((torch.tensor(rows)[:, None] * in_type.size + torch.tensor(cols)[None, :]).reshape(-1))
                self._pairs.append((a, b, basis, len(rows) * len(cols)))
        # the pairs' blocks partition the kernel: one gather puts their concatenation in row-major order
        self.register_buffer("_order", torch.argsort(torch.cat(flat)), persistent=False)
        self._default_calibration()

    def forward(self, x: torch.Tensor, attributes: torch.Tensor | None = None) -> torch.Tensor:
        self._check(x, attributes)
        e = x.shape[0]
        blocks = []
        for a, b, basis, size in self._pairs:
            w = getattr(self, f"weight_{a}_{b}")
            if basis.dim == 0:  # no steerable kernel between these representations
                blocks.append(x.new_zeros(e, size))
                continue
            s = basis.sample(x)  # [dim, s_o, s_i, E]
            blocks.append(torch.einsum("uvk,koiq->quovi", w, s).reshape(e, size))  # (size, not -1: e may be 0)
        k = torch.cat(blocks, dim=1).index_select(1, self._order).view(e, self.out_type.size, self.in_type.size)
        return self._scale(k * self._envelope(_norm(x))[:, None, None])


class _KernelExpansion(ExactConstants):
    r"""A point kernel (:class:`ImplicitKernel`, :class:`BasisKernel`) sampled at a grid convolution's lattice
    offsets, in the layout of the analytic expansion: ``forward()`` -> ``[1, C_out, C_in, P]``. The grid
    convolutions use it in place of their basis expansion when given ``kernel=``; ``reset_parameters`` re-draws
    the kernel's weights and calibrates its gain on the lattice (unit second moment of the convolution's
    outputs)."""

    def __init__(self, kernel: _SteerableKernel, in_type: FieldType, out_type: FieldType, points: torch.Tensor,
                 groups: int) -> None:
        super().__init__()
        if not isinstance(kernel, _SteerableKernel):
            raise ValueError(f"kernel must be an ImplicitKernel or a BasisKernel, got {type(kernel).__name__}")
        if groups != 1:
            raise ValueError(f"a kernel module needs groups=1, got groups={groups}")
        if kernel.in_type != in_type or kernel.out_type != out_type:
            raise ValueError(f"the kernel maps {kernel.in_type!r} -> {kernel.out_type!r}, but the convolution "
                             f"{in_type!r} -> {out_type!r}")
        if kernel.attributes is not None:
            raise ValueError("a grid convolution has no edge attributes: build the kernel with attributes=None")
        self.kernel = kernel
        self.groups = 1
        self.n_points = points.shape[0]
        self.register_constant("_points", points)
        dtype = module_dtype(kernel)
        if dtype is not None:  # the lattice offsets in the dtype of the kernel they are fed to
            self._buffers["_points"] = self._points.to(dtype)

    @property
    def n_weights(self) -> int:
        return sum(p.numel() for p in self.kernel.parameters())

    @property
    def weights(self) -> torch.Tensor:
        """The kernel's first parameter (the kernel has many: see ``kernel.parameters()``)."""
        return next(self.kernel.parameters())

    def reset_parameters(self) -> None:
        for m in self.kernel.modules():
            if m is not self.kernel and hasattr(m, "reset_parameters"):
                m.reset_parameters()
        if isinstance(self.kernel, BasisKernel):
            with torch.no_grad():
                for p in self.kernel.parameters():
                    p.normal_()
        self.kernel.calibrate_(self._points, reduction="sum")

    def forward(self) -> torch.Tensor:
        k = self.kernel(self._points)  # [P, C_out, C_in]
        return k.permute(1, 2, 0).unsqueeze(0)
