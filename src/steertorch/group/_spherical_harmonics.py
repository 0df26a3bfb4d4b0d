r"""Real spherical harmonics of any degree, in e3nn's basis, order and phase.

With the polar axis along y (e3nn's convention, so that l = 1 is (x, y, z)), write
:math:`z' = y` for the polar coordinate and :math:`x' + i y' = z + i x` for the
azimuthal plane. The component-normalised harmonics are

.. math::

    Y_l^m = \bar P_l^{|m|}(z')\, \begin{cases} \mathrm{Re}\,(x' + i y')^m & m > 0 \\
    1 & m = 0 \\ \mathrm{Im}\,(x' + i y')^{|m|} & m < 0 \end{cases}

written as homogeneous polynomials of degree l, with :math:`\bar P` the fully normalised
associated Legendre functions (no Condon-Shortley phase). They are computed by the
three-term recurrence in l at fixed m,

.. math::

    Y_l^m = a_{lm}\, z'\, Y_{l-1}^m - b_{lm}\, r^2\, Y_{l-2}^m, \qquad
    Y_l^{\pm l} = \sqrt{\tfrac{2l+1}{2l}}\,(x' Y_{l-1}^{\pm(l-1)} \mp y' Y_{l-1}^{\mp(l-1)}),

which is stable at every degree (no cap on l) and needs a handful of tensor operations
per degree. Normalisations: ``"component"`` (:math:`\|Y^l\|^2 = 2l+1` on the unit
sphere), ``"norm"`` (:math:`\|Y^l\| = 1`) and ``"integral"``
(:math:`\int_{S^2} (Y_l^m)^2 = 1`), equal to e3nn's.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import torch

from ._spherical_harmonics_kernel import kernel_spherical_harmonics

__all__ = ["spherical_harmonics", "parse_degrees", "input_parity"]

_NORMALIZATIONS = ("integral", "component", "norm")


def parse_degrees(l: int | Sequence[int] | str | object) -> list[int]:
    """Degrees requested as an int, a list of ints, an irreps string ``"0e+1o+2e"`` or an ``Irreps``.

    As e3nn: irreps give each degree repeated by its multiplicity (``"2x1o"`` is [1, 1]), and their
    parities must be those of the harmonics of a vector, (-1)^l, or, if some odd l is even (``"1e"``),
    all those of a pseudovector, +1.

    >>> parse_degrees("0e + 1o + 2e"), parse_degrees(3), parse_degrees([0, 2]), parse_degrees("2x1o + 1x2e")
    ([0, 1, 2], [3], [0, 2], [1, 1, 2])
    """
    if isinstance(l, bool):
        raise ValueError(f"degree l must be an int >= 0, got {l!r}")
    if isinstance(l, int):
        ls = [l]
    elif isinstance(l, str) or hasattr(l, "ls") or (hasattr(l, "__iter__") and not isinstance(l, Sequence)):
        ls = _irreps_degrees(l)
    elif isinstance(l, Sequence):
        ls = list(l)
    else:
        raise ValueError(f"degree l must be an int, a list of ints or irreps, got {type(l).__name__}")
    for d in ls:
        if isinstance(d, bool) or not isinstance(d, int) or d < 0:
            raise ValueError(f"degrees must be ints >= 0, got {d!r} in {l!r}")
    if not ls:
        raise ValueError(f"at least one degree l is required, got {l!r}")
    return ls


def input_parity(irreps: object) -> int:
    """The parity of the input that the harmonics ``irreps`` ask for, as e3nn: +1 (a pseudovector,
    ``"1e"``) if some odd degree has even parity, else -1 (a vector)."""
    from ._irreps_parse import parse_irreps

    return 1 if any(deg % 2 == 1 and p == 1 for _, (deg, p) in parse_irreps(irreps)) else -1


def _irreps_degrees(irreps: object, p_in: int | None = None) -> list[int]:
    from ._irreps_parse import parse_irreps

    if p_in is None:
        p_in = input_parity(irreps)
    ls = []
    for mul, (deg, parity) in parse_irreps(irreps):
        if parity != p_in**deg:
            p = "e" if parity == 1 else "o"
            what = "vector (1o)" if p_in == -1 else "pseudovector (1e)"
            raise ValueError(f"spherical harmonics of degree {deg} of a {what} have parity {p_in**deg:+d}, "
                             f"got {deg}{p} in {irreps!r}")
        ls.extend([deg] * mul)
    return ls


def _coefficients(lmax: int, normalization: str, normalize: bool):
    """Per-degree recurrence constants (float64 lists), with the normalisation folded in (plain function: traced
    code calls it directly, eager code through the cache :func:`_coefficient_tensors_cached`)."""

    def scale(l: int) -> float:
        if normalization == "component":
            return 1.0
        if normalization == "norm":
            return 1.0 / math.sqrt(2 * l + 1)
        return 1.0 / math.sqrt(4 * math.pi)

    a, b, edge, sect = {}, {}, {}, {}
    for l in range(1, lmax + 1):
        # sectoral: from degree l - 1 to l (the l = 1 step carries sqrt(2) from delta_{m0})
        s = math.sqrt(3.0) if l == 1 else math.sqrt((2 * l + 1) / (2 * l))
        sect[l] = s * scale(l) / scale(l - 1)
        edge[l] = math.sqrt(2 * l + 1) * scale(l) / scale(l - 1)
        if l >= 2:
            ms = [abs(m) for m in range(-(l - 2), l - 1)]
            a[l] = [math.sqrt((2 * l - 1) * (2 * l + 1) / ((l - m) * (l + m))) * scale(l) / scale(l - 1) for m in ms]
            b[l] = [
                math.sqrt((2 * l + 1) * (l + m - 1) * (l - m - 1) / ((l - m) * (l + m) * (2 * l - 3)))
                * scale(l) / scale(l - 2)
                for m in ms
            ]
    return a, b, edge, sect, scale(0)


def _coefficient_tensors(lmax: int, normalization: str, normalize: bool, dtype, device):
    """The constants of :func:`_coefficients`, the per-order ones as ``[2l - 3, 1]`` tensors in ``dtype``.

    Under ``torch.compile`` and ``torch.jit.trace`` they are computed in the traced code (they become graph
    constants): a cached call there makes dynamo warn about ``lru_cache`` and trace through it anyway. Eagerly
    they are cached per (degree, normalisation, dtype, device); the cached tensors are never written to."""
    if torch.compiler.is_compiling() or torch.jit.is_tracing():  # (a trace must not depend on the cache's state)
        return _make_coefficient_tensors(lmax, normalization, normalize, dtype, device)
    return _coefficient_tensors_cached(lmax, normalization, normalize, dtype, device)


def _make_coefficient_tensors(lmax: int, normalization: str, normalize: bool, dtype, device):
    a, b, edge, sect, y0 = _coefficients(lmax, normalization, normalize)
    ta = {l: torch.tensor(v, dtype=dtype, device=device)[:, None] for l, v in a.items()}
    tb = {l: torch.tensor(v, dtype=dtype, device=device)[:, None] for l, v in b.items()}
    return ta, tb, edge, sect, y0


_coefficient_tensors_cached = functools.lru_cache(maxsize=64)(_make_coefficient_tensors)


def spherical_harmonics(
    l: int | Sequence[int] | str | object,
    x: torch.Tensor,
    normalize: bool = True,
    normalization: str = "integral",
) -> torch.Tensor:
    r"""Real spherical harmonics :math:`Y^l(x)` for each requested degree, concatenated.

    Args:
        l: a degree, a list of degrees, or irreps such as ``"0e + 1o + 2e"``; as e3nn, a
            multiplicity repeats the degree (``"2x1o"`` gives Y^1 twice) and all-even irreps
            such as ``"1e + 2e"`` are the harmonics of a pseudovector (the same values).
        x: points ``[..., 3]`` in (x, y, z) order.
        normalize: project ``x`` on the unit sphere first; otherwise the harmonics are the
            homogeneous polynomials :math:`|x|^l Y^l(\hat x)`. At ``x = 0`` the normalised
            harmonics are 0 for l > 0 (the constant :math:`Y^0` for l = 0), as e3nn's, and
            their gradient there is 0 (e3nn's is about 1e12).
        normalization: ``"integral"`` (default, as e3nn), ``"component"`` or ``"norm"``.

    Returns:
        a contiguous ``[..., sum(2l + 1)]`` tensor, each degree in the order m = -l, ..., l.

    The harmonics are equivariant, :math:`Y^l(R x) = D^l(R)\, Y^l(x)` with
    :func:`~steertorch.o3.wigner_D`, and ``Y^1`` is proportional to (x, y, z).

    >>> x = torch.tensor([[0.0, 0.0, 2.0]])
    >>> spherical_harmonics(1, x, normalization="norm")
    tensor([[0., 0., 1.]])
    >>> spherical_harmonics([0, 1, 2], x, normalization="component").shape
    torch.Size([1, 9])
    """
    ls = parse_degrees(l)
    if normalization not in _NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {_NORMALIZATIONS}, got {normalization!r}")
    if not isinstance(x, torch.Tensor) or x.dim() == 0 or x.shape[-1] != 3:
        shape = list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a tensor of points [..., 3], got {shape}")
    if not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    flat = x.dim() == 2  # points [N, 3] need no reshape (a microsecond or two of each call)
    points = x if flat else x.reshape(-1, 3)
    out = kernel_spherical_harmonics(ls, points, normalize, normalization, _torch_harmonics)
    if out is None:
        out = _torch_harmonics(ls, points, normalize, normalization)
    return out if flat else out.reshape(*x.shape[:-1], out.shape[1])


def _torch_harmonics(ls: list[int], points: torch.Tensor, normalize: bool, normalization: str) -> torch.Tensor:
    """The pure-torch twin of the compiled kernel: harmonics of degrees ``ls`` of ``points`` ``[N, 3]``, ``[N, dim]``
    (differentiable to any order; the path of GPUs, traced and compiled code)."""
    # [3, N]: coordinate-major, so that every op below runs on contiguous rows
    # (stack of the columns: faster than .T.contiguous() on CPU)
    xt = torch.stack(points.unbind(-1))
    nonzero = None
    if normalize:
        xt, nonzero = _safe_normalize(xt)
    blocks = _sh_blocks(xt, max(ls), normalization, normalize, nonzero)  # degree l: [2l + 1, N]
    # one copy writes the requested degrees, transposed, into a contiguous [N, dim] output
    return torch.cat([blocks[d].T for d in ls], dim=1)


def _safe_normalize(xt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Points ``xt`` ``[3, N]`` divided by their norms, and the mask ``[N]`` of nonzero points.

    A zero point stays zero, with a zero gradient there (``F.normalize``, as e3nn uses,
    divides by ``max(|x|, 1e-12)`` instead: a gradient of about 1e12 at x = 0)."""
    # explicit sum of squares: a reduction over the short leading dimension is slow on CPU
    r2 = torch.addcmul(torch.addcmul(xt[0] * xt[0], xt[1], xt[1]), xt[2], xt[2])
    nonzero = r2 > 0
    inv = torch.where(nonzero, torch.where(nonzero, r2, 1.0).rsqrt(), 0.0)
    return xt * inv, nonzero


def _sh_blocks(xt: torch.Tensor, lmax: int, normalization: str, normalize: bool,
               nonzero: torch.Tensor | None = None) -> list[torch.Tensor]:
    """Harmonics of degrees 0..lmax of points ``xt`` ``[3, N]``: one block ``[2l + 1, N]`` per degree.

    With ``normalize`` the points are unit vectors (r^2 = 1 in the recurrence), except where
    ``nonzero`` is False: there they are 0 and every degree l > 0 is 0. Each degree is a fresh
    block (no in-place writes, so autograd and double backward work)."""
    # rows [1, N] (kept 2-d so that every piece of a degree is a row and one cat assembles it)
    az_re, az_im, polar = xt[2:3], xt[0:1], xt[1:2]  # x' = z, y' = x, z' = y
    a, b, edge, sect, y0 = _coefficient_tensors(lmax, normalization, normalize, xt.dtype, xt.device)
    if normalize and normalization == "component":
        y = torch.ones_like(polar)
    else:
        y = polar * 0 + y0  # x * 0 keeps NaN inputs visible
    blocks = [y]
    if nonzero is not None and lmax >= 2:
        # the recurrence takes r^2 = 1: seed it with Y_0 = 0 at x = 0 so that Y_l^0 (even l) is 0 there
        blocks = [y * nonzero]
    r2 = None if normalize else (xt * xt).sum(0, keepdim=True)
    for l in range(1, lmax + 1):
        prev = blocks[-1]  # degree l - 1, m = -(l-1)..(l-1)
        lo, hi = prev[:1], prev[-1:]  # m = -(l-1) and m = l-1 (the same row when l = 1)
        if l == 1:
            s0 = lo * sect[1]
            blocks.append(torch.cat([az_im * s0, polar * (lo * edge[1]), az_re * s0]))
            continue
        # sectoral pair from (x' + i y') times the previous sectoral pair; then m = +-(l - 1)
        prev2 = blocks[-2] if r2 is None else blocks[-2] * r2
        mid = torch.addcmul((prev[1:-1] * polar) * a[l], prev2, b[l], value=-1.0)
        blocks.append(torch.cat([
            torch.addcmul(lo * az_re, hi, az_im) * sect[l], polar * (lo * edge[l]),
            mid,
            polar * (hi * edge[l]), torch.addcmul(hi * az_re, lo, az_im, value=-1.0) * sect[l],
        ]))
    blocks[0] = y
    return blocks
