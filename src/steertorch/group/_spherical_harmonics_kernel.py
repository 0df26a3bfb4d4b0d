r"""The compiled CPU twin of :func:`~steertorch.group.spherical_harmonics` (forward and first derivative).

The harmonics of a point are a few hundred flops at most (l <= 12): written as batch-wide torch operations their cost
is memory traffic, one pass over the batch per operation. ``_spherical_harmonics_kernel.c`` computes every degree of
a block of 32 points in per-thread buffers and writes each output row once (degrees up to 2 and 3: 4 or 8 points at a
time in registers, so that computing overlaps writing), so the forward runs near the speed of writing the output;
its backward carries the three partial derivatives through the same recurrence and contracts them with the output
gradient as it goes (nothing batch-sized is kept between forward and backward but the points).
The recurrence and the zero-vector rule are those of :mod:`._spherical_harmonics` (see the C source for the
formulas); the library is built and loaded by :class:`steertorch._native.NativeLibrary` (private cache, compiled on
first use, switched off with ``STEERTORCH_CPU_KERNEL=0``).

It runs for eager CPU float32 / float64 inputs; double backward goes through the pure-torch twin (the kernel's
gradient is recomputed there with a graph), and traced or compiled code, ``torch.func`` transforms and forward-mode
AD run the pure-torch twin throughout.

>>> x = torch.tensor([[0.0, 3.0, 4.0]], dtype=torch.float64)
>>> y = kernel_spherical_harmonics([1], x, True, "component")
>>> y is None or torch.allclose(y, 3 ** 0.5 * x / 5)
True
"""

from __future__ import annotations

import ctypes
import functools
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from .._native import NativeLibrary, native_threads

__all__ = ["kernel_spherical_harmonics", "sh_kernel_info"]

_ROWS_PER_THREAD = 2048  # fewer points than this per thread: fewer threads
_SUFFIX = {torch.float32: "f32", torch.float64: "f64"}


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    p, i64, c_int = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
    for suffix in ("f32", "f64"):
        fwd = getattr(lib, f"st_sh_forward_{suffix}")
        fwd.argtypes = [i64, p, i64, i64, p, p, p, p, i64, i64, p, c_int]
        fwd.restype = c_int
        bwd = getattr(lib, f"st_sh_backward_{suffix}")
        bwd.argtypes = [i64, p, i64, i64, p, p, p, p, i64, i64, p, p, c_int]
        bwd.restype = c_int
    return lib


_LIBRARY = NativeLibrary("sh_kernel", Path(__file__).with_name("_spherical_harmonics_kernel.c"), _declare,
                         "spherical-harmonics kernel")


def sh_kernel_info() -> dict:
    """The kernel's state (:meth:`steertorch._native.NativeLibrary.info`): ``available``, ``path``, ``cache``,
    ``reason``, ``notes``.

    >>> info = sh_kernel_info()
    >>> info["available"] == (info["reason"] is None)
    True
    """
    return _LIBRARY.info()


@functools.lru_cache(maxsize=64)
def _tables(ls: tuple[int, ...], normalization: str, dtype: torch.dtype) -> tuple:
    """``(scale, a, b, blocks, dim)``: ``scale`` [lmax + 1], the recurrence tables ``a``, ``b`` [(lmax + 1)^2]
    (component normalisation), the output blocks [n, 2] (degree, column) of the degrees ``ls`` (CPU tensors, never
    written to) and the output's width."""
    lmax = max(ls)
    if normalization == "component":
        scale = [1.0] * (lmax + 1)
    elif normalization == "norm":
        scale = [1.0 / math.sqrt(2 * l + 1) for l in range(lmax + 1)]
    else:
        scale = [1.0 / math.sqrt(4 * math.pi)] * (lmax + 1)
    a = [0.0] * (lmax + 1) ** 2
    b = [0.0] * (lmax + 1) ** 2
    for l in range(2, lmax + 1):
        for m in range(l - 1):
            a[l * (lmax + 1) + m] = math.sqrt((2 * l - 1) * (2 * l + 1) / ((l - m) * (l + m)))
            b[l * (lmax + 1) + m] = math.sqrt((2 * l + 1) * (l + m - 1) * (l - m - 1)
                                              / ((l - m) * (l + m) * (2 * l - 3)))
    blocks, col = [], 0
    for l in ls:
        blocks += [l, col]
        col += 2 * l + 1
    return (torch.tensor(scale, dtype=dtype), torch.tensor(a, dtype=dtype), torch.tensor(b, dtype=dtype),
            torch.tensor(blocks, dtype=torch.int64), col)


def _usable(x: torch.Tensor) -> bool:
    """Whether the kernel may take ``x``: eager, CPU, float32 / float64, no transform or forward-mode AD."""
    if not x.is_cpu or x.dtype not in _SUFFIX:
        return False
    if torch.jit.is_scripting() or torch.jit.is_tracing() or torch.compiler.is_compiling():
        return False
    if torch._C._functorch.is_functorch_wrapped_tensor(x) or torch.autograd.forward_ad._current_level >= 0:
        return False
    return _LIBRARY.load() is not None


def _forward(ls: tuple[int, ...], x: torch.Tensor, normalize: bool, normalization: str) -> torch.Tensor:
    scale, a, b, blocks, dim = _tables(ls, normalization, x.dtype)
    out = x.new_empty(x.shape[0], dim)
    if _LIBRARY.function(f"st_sh_forward_{_SUFFIX[x.dtype]}")(
            x.shape[0], x.data_ptr(), max(ls), int(normalize), scale.data_ptr(), a.data_ptr(), b.data_ptr(),
            blocks.data_ptr(), len(ls), dim, out.data_ptr(), native_threads(x.shape[0], _ROWS_PER_THREAD)) != 0:
        raise MemoryError("the spherical harmonics' CPU kernel could not allocate its buffers")
    return out


def _backward(ls: tuple[int, ...], x: torch.Tensor, grad: torch.Tensor, normalize: bool,
              normalization: str) -> torch.Tensor:
    scale, a, b, blocks, dim = _tables(ls, normalization, x.dtype)
    grad = grad.to(x.dtype).contiguous()
    gx = torch.empty_like(x)
    if _LIBRARY.function(f"st_sh_backward_{_SUFFIX[x.dtype]}")(
            x.shape[0], x.data_ptr(), max(ls), int(normalize), scale.data_ptr(), a.data_ptr(), b.data_ptr(),
            blocks.data_ptr(), len(ls), dim, grad.data_ptr(), gx.data_ptr(),
            native_threads(x.shape[0], _ROWS_PER_THREAD)) != 0:
        raise MemoryError("the spherical harmonics' CPU kernel could not allocate its buffers")
    return gx


class _Harmonics(torch.autograd.Function):
    """The kernel's forward; its backward through the kernel, or through the torch twin where a graph of the
    gradient is wanted (double backward)."""

    @staticmethod
    def forward(ctx, x, ls, normalize, normalization, twin):
        ctx.save_for_backward(x)
        ctx.args = (ls, normalize, normalization, twin)
        return _forward(ls, x, normalize, normalization)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        ls, normalize, normalization, twin = ctx.args
        if not ctx.needs_input_grad[0]:
            return None, None, None, None, None
        if torch.is_grad_enabled() and (x.requires_grad or grad.requires_grad):  # a graph of the gradient
            with torch.enable_grad():
                xg = x.detach().requires_grad_() if not x.requires_grad else x
                (gx,) = torch.autograd.grad(twin(list(ls), xg, normalize, normalization), xg, grad, create_graph=True)
            return gx, None, None, None, None
        return _backward(ls, x, grad, normalize, normalization), None, None, None, None


def kernel_spherical_harmonics(ls: Sequence[int], x: torch.Tensor, normalize: bool, normalization: str,
                               twin: Callable | None = None) -> torch.Tensor | None:
    """The harmonics of degrees ``ls`` of points ``x`` ``[N, 3]`` through the kernel, ``[N, sum(2l + 1)]``; None
    where the kernel cannot take ``x`` (the caller runs the torch twin). ``twin(ls, x, normalize, normalization)``
    is the torch implementation, used for double backward (required when ``x`` requires grad)."""
    if not _usable(x):
        return None
    x = x.contiguous()
    ls = tuple(ls)
    if torch.is_grad_enabled() and x.requires_grad:
        if twin is None:
            raise ValueError("a differentiable call needs the torch twin (for double backward)")
        return _Harmonics.apply(x, ls, normalize, normalization, twin)
    return _forward(ls, x, normalize, normalization)
