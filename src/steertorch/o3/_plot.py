r"""Plotting signals on the sphere with matplotlib (optional dependency: ``pip install steertorch[viz]``)."""

from __future__ import annotations

import math

import torch

from ..group._spherical_harmonics import spherical_harmonics

__all__ = ["plot_spherical_signal"]


def _import_pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError("plot_spherical_signal needs matplotlib: pip install steertorch[viz]") from err
    return plt


def spherical_surface(signal: torch.Tensor, lmax: int, res: int = 40,
                      radius: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The closed surface :math:`r(x) = |f(x)|\, x` of :math:`f = \sum_{l \le L} c_{lm} Y_l^m` (integral
    normalisation) on a latitude-longitude grid about the y axis (e3nn's polar axis).

    Returns ``points [res + 1, 2 res + 1, 3]`` (poles included, first azimuth repeated last,
    so the surface closes) and ``values [res + 1, 2 res + 1]`` (f). ``radius=False`` keeps the
    unit sphere.

    >>> pts, f = spherical_surface(torch.tensor([math.sqrt(4 * math.pi)]), 0, res=4)  # f = 1
    >>> pts.shape, bool(torch.allclose(pts.norm(dim=-1), torch.ones(5, 9, dtype=pts.dtype)))
    (torch.Size([5, 9, 3]), True)
    """
    if isinstance(lmax, bool) or not isinstance(lmax, int) or lmax < 0:
        raise ValueError(f"lmax must be an int >= 0, got {lmax!r}")
    if not isinstance(signal, torch.Tensor) or signal.shape != ((lmax + 1) ** 2,):
        shape = list(signal.shape) if isinstance(signal, torch.Tensor) else type(signal).__name__
        raise ValueError(f"signal must be one coefficient vector [{(lmax + 1) ** 2}] for lmax={lmax}, got {shape}")
    if isinstance(res, bool) or not isinstance(res, int) or res < 2:
        raise ValueError(f"res must be an int >= 2, got {res!r}")
    signal = signal.detach().to("cpu", torch.float64)
    theta = torch.linspace(0, math.pi, res + 1, dtype=torch.float64)
    phi = torch.linspace(0, 2 * math.pi, 2 * res + 1, dtype=torch.float64)
    t, p = torch.meshgrid(theta, phi, indexing="ij")
    x = torch.stack([t.sin() * p.sin(), t.cos(), t.sin() * p.cos()], dim=-1)
    x[0] = x.new_tensor([0.0, 1.0, 0.0])  # exact poles and an exactly closed seam
    x[-1] = x.new_tensor([0.0, -1.0, 0.0])
    x[:, -1] = x[:, 0]
    f = spherical_harmonics(list(range(lmax + 1)), x, normalize=True, normalization="integral") @ signal
    pts = x * f.abs()[..., None] if radius else x
    return pts, f


def plot_spherical_signal(signal: torch.Tensor, lmax: int, ax=None, res: int = 40, cmap: str = "RdBu_r",
                          radius: bool = True):
    r"""Draw :math:`f = \sum_{l \le L} c_{lm} Y_l^m` as the surface :math:`r(x) = |f(x)|\, x`, coloured by f.

    ``signal`` ``[(lmax + 1)^2]`` are the coefficients (as :class:`SphericalTensor`); the
    colour map is centred on 0 (``cmap``, red positive, blue negative by default). Draws on
    ``ax`` (a 3D axes) or on a new figure. Returns ``(figure, axes)``. Needs matplotlib
    (``pip install steertorch[viz]``), imported only here.

    >>> from steertorch.o3 import SphericalTensor
    >>> s = SphericalTensor(3, 1, -1)
    >>> fig, ax = plot_spherical_signal(s.with_peaks_at(torch.eye(3)), 3)  # doctest: +SKIP
    """
    plt = _import_pyplot()
    from matplotlib import colors

    pts, f = spherical_surface(signal, lmax, res, radius)
    if ax is None:
        fig = plt.figure()
        ax = fig.add_subplot(projection="3d")
    else:
        fig = ax.figure
        if getattr(ax, "name", None) != "3d":
            raise ValueError("ax must be a 3D axes: fig.add_subplot(projection='3d')")
    vmax = float(f.abs().max()) or 1.0
    face = plt.get_cmap(cmap)(colors.Normalize(-vmax, vmax)(f.numpy()))
    ax.plot_surface(pts[..., 0].numpy(), pts[..., 1].numpy(), pts[..., 2].numpy(), facecolors=face,
                    rstride=1, cstride=1, linewidth=0, antialiased=False, shade=False)
    extent = float(pts.norm(dim=-1).max()) or 1.0
    for setter in (ax.set_xlim, ax.set_ylim, ax.set_zlim):
        setter(-extent, extent)
    ax.set_box_aspect((1, 1, 1))
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_zlabel("z")
    return fig, ax
