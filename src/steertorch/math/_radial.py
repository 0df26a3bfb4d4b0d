r"""Radial bases and smooth cutoffs for distances (e3nn's ``soft_one_hot_linspace`` and friends).

:func:`soft_one_hot_linspace` embeds a scalar :math:`x` in :math:`N` functions
:math:`y_i(x) = f_i(x) / Z` centred on a regular grid of :math:`[\mathrm{start}, \mathrm{end}]`,
with :math:`Z` chosen (except for ``"bessel"``) so that :math:`\sum_i y_i(x)^2 \approx 1` inside
the interval. Formulas and normalisation constants are those of e3nn (>= 0.5).

:func:`polynomial_cutoff` and :func:`cosine_cutoff` are smooth envelopes that go to zero at
``r_max`` together with their first derivative. Everything here is differentiable with finite
gradients for every real input (no ``0 / 0``), double backward included.
"""

from __future__ import annotations

import math

import torch

__all__ = ["soft_unit_step", "soft_one_hot_linspace", "polynomial_cutoff", "cosine_cutoff"]

_BASES = ("gaussian", "cosine", "smooth_finite", "fourier", "bessel")
_SMOOTH_FINITE_NORM = 1.14136 * math.exp(2.0)


def soft_unit_step(x: torch.Tensor) -> torch.Tensor:
    r"""Smooth (:math:`C^\infty`) unit step :math:`\theta(x)\, e^{-1/x}`: zero for :math:`x \le 0`, tends to 1.

    >>> soft_unit_step(torch.tensor([-1.0, 0.0, 1.0, 100.0]))
    tensor([0.0000, 0.0000, 0.3679, 0.9900])
    """
    positive = x > 0
    safe = torch.where(positive, x, torch.ones_like(x))  # no 1/0, so no NaN in either branch's gradient
    return torch.where(positive, torch.exp(-1.0 / safe), torch.zeros_like(x))


def _sin_over_x(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    r""":math:`\sin(a x) / x`, with its limit :math:`a` at 0 (Taylor series for :math:`|a x| < 10^{-2}`)."""
    t = a * x
    small = t.abs() < 1e-2
    safe_x = torch.where(small, torch.ones_like(x), x)
    exact = torch.sin(a * safe_x) / safe_x
    t2 = torch.where(small, t, torch.zeros_like(t)) ** 2
    series = a * (1 - t2 / 6 * (1 - t2 / 20 * (1 - t2 / 42)))
    return torch.where(small, series, exact)


def soft_one_hot_linspace(
    x: torch.Tensor,
    start: float,
    end: float,
    number: int,
    basis: str | None = None,
    cutoff: bool | None = None,
) -> torch.Tensor:
    r"""Embed ``x`` ``[...]`` in ``number`` smooth bump functions on ``[start, end]`` -> ``[..., number]``.

    With :math:`v_i` the grid (``linspace(start, end, number)``, or the inner ``number`` points of
    ``linspace(start, end, number + 2)`` when ``cutoff``), :math:`s = v_1 - v_0` and
    :math:`d_i = (x - v_i) / s`:

    - ``"gaussian"``: :math:`e^{-d_i^2} / 1.12`;
    - ``"cosine"``: :math:`\cos(\pi d_i / 2)` for :math:`|d_i| < 1`, else 0;
    - ``"smooth_finite"``: :math:`1.14136\, e^2\, u(d_i + 1)\, u(1 - d_i)` with ``u`` = :func:`soft_unit_step`;
    - ``"fourier"``, with :math:`t = (x - \mathrm{start}) / (\mathrm{end} - \mathrm{start})`:
      :math:`\cos(\pi i t) / \sqrt{1/4 + N/2}` (i = 0..N-1), or with ``cutoff``
      :math:`\sin(\pi i t) / \sqrt{1/4 + N/2}` (i = 1..N) for :math:`0 < t < 1`, else 0;
    - ``"bessel"``, with :math:`r = x - \mathrm{start}`, :math:`c = \mathrm{end} - \mathrm{start}`:
      :math:`\sqrt{2/c}\, \sin(n \pi r / c) / r` (n = 1..N), its limit :math:`\sqrt{2/c}\, n\pi / c` at
      r = 0; with ``cutoff``, zero outside :math:`0 < r < c`. Not normalised (the :math:`1/r`).

    ``cutoff=True`` makes every function (close to) zero outside ``(start, end)``. Both ``basis``
    and ``cutoff`` must be given, as in e3nn.

    >>> y = soft_one_hot_linspace(torch.tensor([0.0, 0.5, 1.0]), 0.0, 1.0, 4, basis="cosine", cutoff=True)
    >>> y.shape
    torch.Size([3, 4])
    >>> y[0].abs().max().item() < 1e-6, y[2].abs().max().item() < 1e-6
    (True, True)
    """
    if basis not in _BASES:
        raise ValueError(f"basis must be one of {_BASES}, got {basis!r}")
    if cutoff not in (True, False):
        raise ValueError(f"cutoff must be given as True or False, got {cutoff!r}")
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise ValueError(f"number must be an int >= 1, got {number!r}")
    if not end > start:
        raise ValueError(f"expected start < end, got start={start!r}, end={end!r}")
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    dtype, device = x.dtype, x.device

    if basis in ("gaussian", "cosine", "smooth_finite"):
        if cutoff:
            values = torch.linspace(start, end, number + 2, dtype=dtype, device=device)
            step = values[1] - values[0]
            values = values[1:-1]
        else:
            if number < 2:
                raise ValueError(f"basis={basis!r} with cutoff=False needs number >= 2 (the grid step), got {number}")
            values = torch.linspace(start, end, number, dtype=dtype, device=device)
            step = values[1] - values[0]
        diff = (x[..., None] - values) / step
        if basis == "gaussian":
            return diff.pow(2).neg().exp().div(1.12)
        if basis == "cosine":
            inside = (diff < 1) & (diff > -1)
            return torch.where(inside, torch.cos(math.pi / 2 * diff), torch.zeros_like(diff))
        return _SMOOTH_FINITE_NORM * soft_unit_step(diff + 1) * soft_unit_step(1 - diff)

    if basis == "fourier":
        t = (x[..., None] - start) / (end - start)
        norm = math.sqrt(0.25 + number / 2)
        if not cutoff:
            i = torch.arange(0, number, dtype=dtype, device=device)
            return torch.cos(math.pi * i * t) / norm
        i = torch.arange(1, number + 1, dtype=dtype, device=device)
        inside = (t > 0) & (t < 1)
        return torch.where(inside, torch.sin(math.pi * i * t) / norm, torch.zeros_like(t * i))

    # bessel
    r = x[..., None] - start
    c = end - start
    roots = torch.arange(1, number + 1, dtype=dtype, device=device) * math.pi
    out = math.sqrt(2 / c) * _sin_over_x(roots / c, r)
    if not cutoff:
        return out
    inside = (r > 0) & (r < c)
    return torch.where(inside, out, torch.zeros_like(out))


def _check_r_max(r_max: float) -> None:
    if not r_max > 0:
        raise ValueError(f"r_max must be > 0, got {r_max!r}")


def polynomial_cutoff(x: torch.Tensor, r_max: float, p: float = 6) -> torch.Tensor:
    r"""DimeNet's polynomial envelope, :math:`C^2` at ``r_max``: with :math:`r = x / r_\max`,

    .. math::

        f(r) = 1 - \frac{(p+1)(p+2)}{2} r^p + p(p+2) r^{p+1} - \frac{p(p+1)}{2} r^{p+2}
        \quad (r < 1), \qquad f(r) = 0 \quad (r \ge 1).

    :math:`f(0) = 1`, :math:`f(1) = f'(1) = f''(1) = 0`. Negative ``x`` is treated as 0.

    >>> polynomial_cutoff(torch.tensor([0.0, 2.5, 5.0, 6.0]), r_max=5.0)
    tensor([1.0000, 0.8555, 0.0000, 0.0000])
    """
    _check_r_max(r_max)
    if not p >= 1:
        raise ValueError(f"p must be >= 1, got {p!r}")
    r = (x / r_max).clamp(0.0, 1.0)
    rp = r.pow(p)
    out = 1.0 - (p + 1.0) * (p + 2.0) / 2.0 * rp + p * (p + 2.0) * rp * r - p * (p + 1.0) / 2.0 * rp * r * r
    return torch.where(x < r_max, out, torch.zeros_like(out))


def cosine_cutoff(x: torch.Tensor, r_max: float) -> torch.Tensor:
    r"""Behler's cosine cutoff :math:`\tfrac12 (\cos(\pi x / r_\max) + 1)` for :math:`x < r_\max`, else 0.

    :math:`C^1` at ``r_max`` (value and slope vanish). Negative ``x`` is treated as 0.

    >>> cosine_cutoff(torch.tensor([0.0, 2.5, 5.0, 6.0]), r_max=5.0)
    tensor([1.0000, 0.5000, 0.0000, 0.0000])
    """
    _check_r_max(r_max)
    r = (x / r_max).clamp(0.0, 1.0)
    out = 0.5 * (torch.cos(math.pi * r) + 1.0)
    return torch.where(x < r_max, out, torch.zeros_like(out))
