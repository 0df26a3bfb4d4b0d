r"""Moments of scalar functions of a standard normal variable, and the second-moment normalisation
of activations (e3nn's ``normalize2mom``).

The moments are computed by Gauss-Hermite quadrature (probabilists' Hermite polynomials), which is
deterministic and exact to rounding for smooth activations, instead of e3nn's Monte-Carlo mean
over a million samples (whose constants carry a relative error of about 1e-3).

To reproduce e3nn's numbers with e3nn's weights, :func:`e3nn_compatible_constants` (a context manager) or
``normalize2mom(f, e3nn_compatible=True)`` selects e3nn's estimate instead: the mean of :math:`f(z)^2` over the
same million float64 samples (``torch.randn`` on the CPU, generator seeded 0).
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable

import numpy as np
import torch

__all__ = ["moment", "normalize2mom", "e3nn_compatible_constants"]

_QUADRATURE_POINTS = 1000
_E3NN_SAMPLES = 1_000_000
_e3nn_compatible = False  # the default of normalize2mom(e3nn_compatible=None); set by e3nn_compatible_constants


@contextlib.contextmanager
def e3nn_compatible_constants(enabled: bool = True):
    r"""Within the block, :class:`normalize2mom` (so every activation of ``Gate``, ``Activation``,
    ``FullyConnectedNet``, ... built there) uses e3nn's Monte-Carlo constant
    :math:`c = (\frac1n \sum_{k<n} f(z_k)^2)^{-1/2}`, :math:`z_k` e3nn's 10^6 float64 samples
    (``torch.Generator().manual_seed(0)``), instead of the exact Gauss-Hermite value (they differ by about 1e-3
    relatively). Use it to build a model that gives e3nn's outputs with e3nn's weights; modules keep their
    constant after the block. Not thread-safe (a module-level setting).

    >>> import torch
    >>> with e3nn_compatible_constants():
    ...     c_e3nn = normalize2mom(torch.tanh).cst
    >>> abs(c_e3nn / normalize2mom(torch.tanh).cst - 1) < 2e-3
    True
    """
    global _e3nn_compatible
    old = _e3nn_compatible
    _e3nn_compatible = bool(enabled)
    try:
        yield
    finally:
        _e3nn_compatible = old


def _e3nn_second_moment(f: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """e3nn's estimate of E[f(z)^2]: the mean over its fixed float64 CPU samples."""
    z = torch.randn(_E3NN_SAMPLES, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with torch.no_grad():
        y = f(z)
    if not isinstance(y, torch.Tensor) or y.shape != z.shape:
        raise ValueError(f"f must act elementwise on a tensor, got {type(y).__name__}")
    return y.to(torch.float64).pow(2).mean()


@functools.lru_cache(maxsize=4)
def _hermite_nodes(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights with ``sum(w * f(z)) ~= E[f(z)]``, z ~ N(0, 1); nodes of negligible weight dropped."""
    from scipy.special import roots_hermitenorm  # lazy: scipy.special costs ~0.3 s at import

    z, w = roots_hermitenorm(n)
    w = w / math.sqrt(2 * math.pi)
    keep = w > 1e-300
    return z[keep], w[keep]


def _infer_dtype_device(f: Callable, dtype: torch.dtype | None, device: torch.device | str | None):
    """float64 on CPU, unless ``f`` is a module whose parameters / buffers say otherwise."""
    if isinstance(f, torch.nn.Module):
        for t in list(f.parameters()) + list(f.buffers()):
            if device is None:
                device = t.device
            if dtype is None and t.is_floating_point():
                dtype = t.dtype
            break
    return (torch.float64 if dtype is None else dtype), (torch.device("cpu") if device is None else device)


def moment(f: Callable[[torch.Tensor], torch.Tensor], n: int, dtype: torch.dtype | None = None,
           device: torch.device | str | None = None) -> torch.Tensor:
    r"""The n-th moment :math:`\mathbb{E}[f(z)^n]`, :math:`z \sim \mathcal{N}(0, 1)`, by Gauss-Hermite quadrature.

    .. math::

        \mathbb{E}[f(z)^n] = \int f(z)^n \frac{e^{-z^2/2}}{\sqrt{2\pi}}\, dz \approx \sum_k w_k f(z_k)^n

    with 1000 nodes: exact to rounding for smooth :math:`f^n` (``tanh``, ``silu``, ``relu`` for
    n = 2, ...), relative error about 1e-4 where :math:`f^n` has a kink and 1e-3 where it jumps;
    deterministic either way. ``f`` must act elementwise. Returns a 0-d tensor (float64 unless ``f``
    is a module with parameters of another dtype).

    >>> round(moment(torch.relu, 2).item(), 12), round(moment(lambda z: z, 4).item(), 12)
    (0.5, 3.0)
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be an int >= 0, got {n!r}")
    dtype, device = _infer_dtype_device(f, dtype, device)
    z, w = _hermite_nodes(_QUADRATURE_POINTS)
    z = torch.as_tensor(z, dtype=dtype, device=device)
    w = torch.as_tensor(w, dtype=dtype, device=device)
    with torch.no_grad():
        y = f(z)
    if not isinstance(y, torch.Tensor) or y.shape != z.shape:
        raise ValueError(f"f must act elementwise on a tensor: f(z) for z of shape {list(z.shape)} gave "
                         f"{list(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__}")
    return (w * y.to(dtype).pow(n)).sum()


class normalize2mom(torch.nn.Module):
    r"""The activation :math:`c\, f` with :math:`c = \mathbb{E}[f(z)^2]^{-1/2}`, :math:`z \sim \mathcal{N}(0,1)`,
    so that :math:`\mathbb{E}[(c f(z))^2] = 1`: unit-variance inputs give unit second-moment outputs.

    ``c`` is a float (attribute ``cst``) computed once by :func:`moment` (with ``e3nn_compatible=True``, or by
    default inside :func:`e3nn_compatible_constants`: e3nn's Monte-Carlo estimate instead); when
    :math:`|c - 1| < 10^{-4}` the constant is skipped (``f`` itself is applied). ``f`` must act
    elementwise and not be zero almost everywhere.

    >>> act = normalize2mom(torch.relu)
    >>> round(act.cst ** 2, 10)
    2.0
    >>> act(torch.tensor([-1.0, 2.0]))
    tensor([0.0000, 2.8284])
    """

    cst: float
    _is_id: bool

    def __init__(self, f: Callable[[torch.Tensor], torch.Tensor], dtype: torch.dtype | None = None,
                 device: torch.device | str | None = None, *, e3nn_compatible: bool | None = None) -> None:
        super().__init__()
        if not callable(f):
            raise ValueError(f"f must be a callable acting elementwise on tensors, got {f!r}")
        e3nn = _e3nn_compatible if e3nn_compatible is None else bool(e3nn_compatible)
        mom = _e3nn_second_moment(f) if e3nn else moment(f, 2, dtype=dtype, device=device)
        second = float(mom)
        if not (math.isfinite(second) and second > 0):
            raise ValueError(f"cannot normalise {f!r}: its second moment under N(0, 1) is {second}")
        self.f = f
        # e3nn's constant to the last bit takes its torch pow(-0.5)
        self.cst = float(mom.pow(-0.5)) if e3nn else second ** -0.5
        self._is_id = abs(self.cst - 1) < 1e-4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._is_id:
            return self.f(x)
        return self.f(x) * self.cst

    def extra_repr(self) -> str:
        name = getattr(self.f, "__name__", None) or type(self.f).__name__
        return f"{name}, cst={self.cst:.6f}"
