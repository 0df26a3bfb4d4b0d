r"""Regular group convolutions (G-CNNs) on the square grid for C_N and D_N: lifting and group correlation.

With :math:`M(h)` the action of h on the plane (``gspace.basespace_action``) and the elements of G in the order
of ``group.elements()``:

* lifting (image -> function on G): :math:`y_{f,h}(p) = \sum_{c, q} k_{f,c}(M(h)^{-1} q)\, x_c(p + q)`;
* group correlation (G -> G):
  :math:`y_{f,h}(p) = \sum_{c, h', q} k_{f,c,\,h^{-1}h'}(M(h)^{-1} q)\, x_{c,h'}(p + q)`.

Both are equivariant, :math:`y[g\cdot x] = g \cdot y[x]`, where g acts on the output as a field of regular
representations, :math:`(\rho_{reg}(g) y)_h = y_{g^{-1}h}`, which is ``gspace.regular_repr`` (its matrix has
:math:`\rho(g)_{gh, h} = 1`); so the outputs are :class:`~steertorch.nn.FieldType` s of regular fields and mix
with :class:`~steertorch.nn.R2Conv` and pointwise nonlinearities. Channel ``f * |G| + i`` holds field f at
element i.

The rotated kernels :math:`k(M(h)^{-1} q)` are exact permutations of the kernel entries when :math:`M(h)` is a
signed permutation (multiples of 90 degrees and the axis flips: C_1, C_2, C_4, D_1, D_2, D_4), so these
layers are exactly equivariant; for other N they are bilinear interpolations of the kernel on its grid (zero
outside), and equivariance holds only approximately (see ``disk_mask``). Measured for C8 / D8, rotation by
45 degrees, random He-initialised 5x5 kernels, smooth inputs (Gaussian-blurred noise, std 2-4 px), relative
L2 error away from the border: lifting 0.12-0.16 with the disk mask (0.3-0.4 without), lifting + group
correlation 0.19-0.22 (0.5-0.7 without); a steerable ``R2Conv`` of the same size: 0.10-0.19.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..._dtype import ExactConstants, check_input_dtype
from ...gspaces import GSpace
from ...kernels import grid_points
from ._expansion_cache import ExpansionCache
from ._type import FieldType

__all__ = ["LiftingConv2d", "GroupConv2d"]


def _rotation_operators(gspace: GSpace, kernel_size: int) -> torch.Tensor:
    r"""``T [|G|, P, P]`` float64 with :math:`(T_h k)(q) = k(M(h)^{-1} q)` on the ``k x k`` grid (bilinear, zero
    outside; exact permutations for signed-permutation actions)."""
    group = gspace.fibergroup
    m = gspace.basespace_action(group.elements()).to(torch.float64)  # [G, 2, 2]
    pts = grid_points(kernel_size, 2, dtype=torch.float64)  # [P, 2]
    half = (kernel_size - 1) / 2
    n = pts.shape[0]
    t = torch.zeros(m.shape[0], n, n, dtype=torch.float64)
    for h in range(m.shape[0]):
        src = pts @ m[h]  # rows: M^T q = M^-1 q
        r = src.round()
        src = torch.where((src - r).abs() < 1e-9, r, src) + half  # grid indices
        lo = src.floor()
        frac = src - lo
        for dx in (0, 1):
            for dy in (0, 1):
                ix, iy = lo[:, 0] + dx, lo[:, 1] + dy
                w = (frac[:, 0] if dx else 1 - frac[:, 0]) * (frac[:, 1] if dy else 1 - frac[:, 1])
                ok = (ix >= 0) & (ix < kernel_size) & (iy >= 0) & (iy < kernel_size) & (w > 0)
                rows = torch.nonzero(ok).flatten()
                cols = (ix[ok] * kernel_size + iy[ok]).long()
                t[h, rows, cols] += w[ok]
    return t


def _check_gspace(gspace: GSpace) -> None:
    if not isinstance(gspace, GSpace):
        raise ValueError(f"gspace must be a GSpace, got {type(gspace).__name__}")
    if gspace.dimensionality != 2 or not gspace.fibergroup.is_finite:
        raise ValueError(f"regular G-CNN layers need a finite group acting on the plane (C_N, D_N), got "
                         f"{gspace.name}")


class _GroupCorrelation(ExpansionCache, ExactConstants):
    _lifting = True

    def __init__(self, gspace: GSpace, in_channels: int, out_fields: int, kernel_size: int, padding: int = 0,
                 stride: int = 1, dilation: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 disk_mask: bool | None = None, initialize: bool = True) -> None:
        super().__init__()
        _check_gspace(gspace)
        for what, v in (("in_channels" if self._lifting else "in_fields", in_channels), ("out_fields", out_fields),
                        ("kernel_size", kernel_size)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{what} must be an int >= 1, got {v!r}")
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(f"padding_mode must be 'zeros', 'reflect', 'replicate' or 'circular', got "
                             f"{padding_mode!r}")
        group = gspace.fibergroup
        self.gspace = gspace
        self.order = n_g = group.order
        self.kernel_size, self.padding, self.stride, self.dilation = kernel_size, padding, stride, dilation
        self.padding_mode = padding_mode
        t = _rotation_operators(gspace, kernel_size)
        exact = bool(((t == 0) | (t == 1)).all() and (t.sum(-1) == 1).all())
        self.exact = exact
        if disk_mask is None:
            disk_mask = not exact
        pts = grid_points(kernel_size, 2, dtype=torch.float64)
        mask = (pts.norm(dim=1) <= (kernel_size - 1) / 2 + 1e-9) if disk_mask else torch.ones(pts.shape[0],
                                                                                                dtype=torch.bool)
        self.register_constant("_mask", mask.to(torch.float64))
        elements = group.elements()
        inv = group.inverse(elements)
        # L[h, h'] = index of h^-1 h'
        table = group.compose(inv[:, None].expand(n_g, n_g), elements[None, :].expand(n_g, n_g)).long()
        n_p = kernel_size * kernel_size
        # all rotated kernels in one product: k [.., P] @ _rot [P, (h, q)] = (T_h k)(q) for every h (a float64
        # master: .double() gives exact interpolation weights; 0 / 1 entries for exact rotations)
        self.register_constant("_rot", t.permute(2, 0, 1).reshape(n_p, n_g * n_p))
        if not self._lifting:  # group correlation: entry (h, h') of the kernel reads element g = h^-1 h' rotated by h
            index = table * n_g + torch.arange(n_g)[:, None]  # into the (g, h) pairs of the rotated kernels
            self.register_buffer("_index", index.reshape(-1), persistent=False)
        c_in_fields = in_channels
        self.in_type = FieldType(gspace, [gspace.trivial_repr if self._lifting else gspace.regular_repr]
                                 * in_channels)
        self.out_type = FieldType(gspace, [gspace.regular_repr] * out_fields)
        shape = (out_fields, c_in_fields, kernel_size * kernel_size) if self._lifting else \
            (out_fields, c_in_fields, n_g, kernel_size * kernel_size)
        self.weight = nn.Parameter(torch.zeros(shape))
        self.bias = nn.Parameter(torch.zeros(out_fields)) if bias else None
        self._fan_in = c_in_fields * (1 if self._lifting else n_g) * int(mask.sum())
        if initialize:
            self.reset_parameters()

    def reset_parameters(self) -> None:
        """He initialisation: weights N(0, 1 / fan_in) (unit second moment of the outputs for unit inputs), zero
        bias."""
        with torch.no_grad():
            self.weight.normal_(0.0, 1.0 / math.sqrt(self._fan_in))
            if self.bias is not None:
                self.bias.zero_()

    def _kernel_and_bias(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        w = self.weight * self._mask
        k, n_g, n_p = self.kernel_size, self.order, self.kernel_size * self.kernel_size
        f, c = w.shape[0], w.shape[1]
        rotated = w.reshape(-1, n_p) @ self._rot  # [F C (G), G(h) P]: every kernel rotated by every h
        if self._lifting:
            kern = rotated.view(f, c, n_g, n_p).permute(0, 2, 1, 3)  # [F, G, C, P]
        else:
            rotated = rotated.view(f, c, n_g * n_g, n_p).index_select(2, self._index)  # (g, h) -> (h, h')
            kern = rotated.view(f, c, n_g, n_g, n_p).permute(0, 2, 1, 3, 4)  # [F, G(h), C, G(h'), P]
        kern = kern.reshape(f * n_g, -1, k, k)
        b = None if self.bias is None else self.bias.repeat_interleave(n_g)
        return kern, b

    def expand_parameters(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The ``Conv2d`` kernel ``[F |G|, C_in, k, k]`` and bias, expanded from the current weights (in eval mode
        without gradients to the weights, the last expansion while nothing it depends on has changed: see
        :meth:`R2Conv.expand_parameters <steertorch.nn.R2Conv.expand_parameters>`; :meth:`export` gives a plain
        ``Conv2d`` for deployment)."""
        return self._cached_expansion(self._kernel_and_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != self.in_type.size:
            shape = list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{type(self).__name__}: expected a tensor [batch, {self.in_type.size}, H, W] "
                             f"(in_type.size = {self.in_type.size} channels), got {shape}")
        check_input_dtype(type(self).__name__, "input x", x, self.weight.dtype)
        w, b = self.expand_parameters()
        if self.padding_mode != "zeros":
            p = self.padding
            return F.conv2d(F.pad(x, [p, p, p, p], mode=self.padding_mode), w, b, self.stride, 0, self.dilation)
        return F.conv2d(x, w, b, self.stride, self.padding, self.dilation)

    def export(self) -> nn.Conv2d:
        """A plain ``torch.nn.Conv2d`` with the expanded kernel."""
        with torch.no_grad():
            w, b = self._kernel_and_bias()
        conv = nn.Conv2d(self.in_type.size, self.out_type.size, self.kernel_size, self.stride, self.padding,
                         self.dilation, bias=b is not None, padding_mode=self.padding_mode, dtype=w.dtype,
                         device=w.device)
        with torch.no_grad():
            conv.weight.copy_(w)
            if b is not None:
                conv.bias.copy_(b)
        return conv

    def extra_repr(self) -> str:
        return (f"{self.gspace.name}: {self.in_type.size} -> {len(self.out_type)} regular fields, "
                f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, exact={self.exact}")


class LiftingConv2d(_GroupCorrelation):
    r"""Lifting correlation: an image with ``in_channels`` scalar channels -> ``out_fields`` regular fields of a
    C_N / D_N G-space on the plane (see the module docstring); plain tensors ``[B, C, H, W]``.

    Args:
        gspace: ``rot2dOnR2(N)`` or ``flipRot2dOnR2(N)``.
        disk_mask: zero the kernel outside the disk of radius (k - 1) / 2 (default: on for interpolated
            rotations, off for exact ones).

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> lift = LiftingConv2d(rot2dOnR2(4), 3, 2, kernel_size=3, padding=1)
    >>> x = torch.randn(1, 3, 8, 8)
    >>> y = lift(x)
    >>> y.shape
    torch.Size([1, 8, 8, 8])
    >>> bool(torch.allclose(lift(torch.rot90(x, 1, (2, 3))), lift.out_type.transform(y, 1), atol=1e-5))
    True
    """

    _lifting = True


class GroupConv2d(_GroupCorrelation):
    r"""Group correlation between regular fields: ``in_fields`` -> ``out_fields`` regular fields of a C_N / D_N
    G-space on the plane (see the module docstring); tensors ``[B, F |G|, H, W]``; arguments as
    :class:`LiftingConv2d` with ``in_fields`` in place of ``in_channels``.

    >>> import torch
    >>> from steertorch.gspaces import flipRot2dOnR2
    >>> gs = flipRot2dOnR2(4)
    >>> conv = GroupConv2d(gs, 2, 3, kernel_size=3, padding=1)
    >>> x = torch.randn(1, 16, 6, 6)
    >>> bool(torch.allclose(conv(conv.in_type.transform(x, 5)), conv.out_type.transform(conv(x), 5), atol=1e-5))
    True
    """

    _lifting = False

    def __init__(self, gspace: GSpace, in_fields: int, out_fields: int, kernel_size: int, padding: int = 0,
                 stride: int = 1, dilation: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 disk_mask: bool | None = None, initialize: bool = True) -> None:
        super().__init__(gspace, in_fields, out_fields, kernel_size, padding, stride, dilation, bias, padding_mode,
                         disk_mask, initialize)
