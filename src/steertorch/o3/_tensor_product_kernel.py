r"""Optional compiled CPU kernel of the products whose second input has multiplicity 1: "uvw" and "uvu".

The product of a point convolution (features times spherical harmonics) is, per sample (weights shared, or one row
per sample from a radial network), in mode "uvw"

.. math::

    A = y\, C, \qquad T_p[k, u] = \sum_i A_p[k, i]\, x^{(a)}[u, i], \qquad
    z^{(o)}[w, k] = \sum_{p: a \to o} \sum_u T_p[k, u]\, W_p[u, w],

the plan of :mod:`._tensor_product_plan` (same Clebsch-Gordan matrix :math:`C`, same weights), and in the depthwise
mode "uvu" (one weight per channel and path: tensor field networks, NequIP, e3nn's ``Convolution``; the plan of
:mod:`._tensor_product_uvu`)

.. math::

    z^{(o)}[u, k] = \sum_{p: a \to o} W_p[u]\, T_p[k, u].

Written with batch-sized torch operations their cost on a CPU is mostly moving :math:`T` through memory and GEMMs
too thin to run fast; ``_tensor_product_kernel.c`` instead runs the whole chain for one sample at a time in buffers
of a few KB (vectorised, one thread per range of samples), for the forward and the backward (the gradients of x, y
and the weights; :math:`T` is recomputed, not kept).

It is built and loaded by :class:`steertorch._native.NativeLibrary` (compiled on first use with the system C
compiler, a few seconds, announced by one line on stderr unless ``STEERTORCH_QUIET=1``, into a private cache
directory, once per source, compiler and machine; loaded only from directories and files that no one else can
write). Without a compiler, or with ``STEERTORCH_CPU_KERNEL=0``, the products run the pure-torch path of
:mod:`._tensor_product_fused` instead, which computes the same values; :func:`cpu_kernel_available` says which and
:func:`kernel_info` why (``steertorch info`` prints it).

The kernel is exposed as ``torch.library`` custom operators with fake implementations, two per mode,
``torch.ops.steertorch.tp_uvw_forward`` / ``tp_uvw_backward`` and ``tp_uvu_forward`` / ``tp_uvu_backward``, whose
arguments are all tensors (the plan's tables included): traced code (``torch.compile``, ``torch.export``) sees one
operator per call. Their backward is not differentiated by autograd: the autograd functions of
:mod:`._tensor_product_fused` call the kernel again for higher derivatives (the products are trilinear).

>>> isinstance(cpu_kernel_available(), bool)
True
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from pathlib import Path

import torch

from .._native import NativeLibrary, native_threads

__all__ = ["cpu_kernel_available", "kernel_info", "KernelPlan", "UvuKernelPlan"]

_SOURCE = Path(__file__).with_name("_tensor_product_kernel.c")
_MAXD = 16  # largest 2l + 1 the kernel takes (MAXD in the C source)
_DTYPES = {torch.float32: ("float", 8, "f32"), torch.float64: ("double", 4, "f64")}
_ROWS_PER_THREAD = 64  # fewer rows than this per thread: fewer threads (starting one costs tens of microseconds)


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    p, i64, c_int = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
    for suffix in ("f32", "f64"):
        for mode in ("tp", "tpuvu"):
            fwd = getattr(lib, f"st_{mode}_forward_{suffix}")
            fwd.argtypes = [i64, p, p, p, p, p, p, p, p, p, c_int]
            fwd.restype = c_int
            bwd = getattr(lib, f"st_{mode}_backward_{suffix}")
            bwd.argtypes = [i64, p, p, p, p, p, p, p, p, p, p, p, p, c_int]
            bwd.restype = c_int
    return lib


_LIBRARY = NativeLibrary("tp_kernel", _SOURCE, _declare, "tensor-product kernel")


def _load() -> ctypes.CDLL | None:
    return _LIBRARY.load()


def cpu_kernel_available() -> bool:
    """Whether the compiled CPU kernel is in use (compiling it on the first call if needed).

    Public as ``steertorch.o3.cpu_kernel_available``.

    >>> cpu_kernel_available() in (True, False)
    True
    """
    return _load() is not None


def kernel_info() -> dict:
    """The CPU kernel's state (trying to load or build it first): ``available``, ``path`` (the library in use),
    ``cache`` (the configured cache directory), ``reason`` (why the torch path runs: switched off, no compiler, the
    compiler's error, unsafe or unusable cache directories, a load error; None when the kernel is in use) and
    ``notes`` (locations refused on the way). Printed by ``steertorch info``.

    >>> info = kernel_info()
    >>> info["available"] == (info["reason"] is None)
    True
    """
    return _LIBRARY.info()


def _threads(rows: int) -> int:
    """torch's intra-op thread count, less where the batch is too small to be worth a thread each."""
    return native_threads(rows, _ROWS_PER_THREAD)


def _ptr(t: torch.Tensor | None) -> int | None:  # (at call time: never kept)
    return None if t is None else t.data_ptr()


class _KernelTables:
    """What the plans of both modes share: the size arguments per weight layout, the spans of weights no path reads,
    and the calls of the custom operators ``torch.ops.steertorch.tp_<mode>_forward`` / ``tp_<mode>_backward``.
    Subclasses set ``_tables`` (paths, inputs, outputs), ``_sizes``, ``_dead_inputs``, ``_weight_spans``."""

    _mode = "uvw"
    _sizes: list[int]
    _tables: list[torch.Tensor]
    _dead_inputs: torch.Tensor
    _weight_spans: list[tuple[int, int]]

    def _init_caches(self) -> None:
        # (weight numel, per sample) -> the sizes argument. Only tensors are kept: their addresses are read at each
        # call, so a copied, unpickled or moved plan never passes the kernel an address of another object's memory
        self._sizes_of: dict[tuple[int, bool], torch.Tensor] = {}
        self._unused_of: dict[int, torch.Tensor] = {}  # weight numel -> spans [n, 2] of weights no path reads

    def _sizes_for(self, w: torch.Tensor) -> torch.Tensor:
        """The kernel's size arguments for weights ``w`` (shared ``[numel]`` or per sample ``[z, numel]``)."""
        key = (w.shape[-1], w.dim() == 2)
        sizes = self._sizes_of.get(key)
        if sizes is None:
            sizes = self._sizes_of[key] = torch.tensor(self._sizes[:8] + [key[0]] + self._sizes[9:] +
                                                       [key[0] if key[1] else 0], dtype=torch.int64)
        return sizes

    def _unused_weights(self, numel: int) -> torch.Tensor:
        """Spans ``[n, 2]`` of the flat weights that no path reads (instructions with a zero path weight)."""
        if numel not in self._unused_of:
            gaps, pos = [], 0
            for start, stop in self._weight_spans + [(numel, numel)]:
                if start > pos:
                    gaps.append((pos, start))
                pos = max(pos, stop)
            self._unused_of[numel] = torch.tensor(gaps, dtype=torch.int64).view(-1, 2)
        return self._unused_of[numel]

    def forward(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, cg: torch.Tensor) -> torch.Tensor:
        """``B(x, y, w)``: contiguous CPU tensors of one dtype (float32 or float64); weights shared ``[numel]`` or
        per sample ``[z, numel]``. Runs the custom op ``torch.ops.steertorch.tp_<mode>_forward``."""
        impl, name = _FORWARD[self._mode]
        op = getattr(torch.ops.steertorch, name) if torch.compiler.is_compiling() else impl
        return op(x, y, w, cg, self._sizes_for(w), *self._tables, self._sizes[7])

    def backward(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, cg: torch.Tensor, grad: torch.Tensor,
                 needs: Sequence[bool]) -> tuple:
        """``(dx, dy, dw)`` of ``<grad, B(x, y, w)>``, None where ``needs`` is False. Runs the custom op
        ``torch.ops.steertorch.tp_<mode>_backward``."""
        impl, name = _BACKWARD[self._mode]
        op = getattr(torch.ops.steertorch, name) if torch.compiler.is_compiling() else impl
        grads = op(x, y, w, cg, grad, self._sizes_for(w), *self._tables, self._dead_inputs,
                   self._unused_weights(w.shape[-1]), *(bool(n) for n in needs[:3]))
        return tuple(g if n else None for g, n in zip(grads, needs))


def _check_dims(dims: Sequence[int]) -> None:
    largest = max(dims)
    if largest > _MAXD:
        raise ValueError(f"the CPU kernel takes blocks of dimension <= {_MAXD} (l <= {(_MAXD - 1) // 2}), got "
                         f"{largest}")


def _input_table(used: Sequence[int], irreps_in1) -> tuple[list[int], dict[int, int], int, torch.Tensor]:
    """The input blocks the paths read: ``[xs, d1, mul, xt]`` each (xt: where the block lies in the kernel's
    transposed copy of x), their rows in that table, the copy's length and the spans ``[n, 2]`` of x no path reads."""
    in_slices = irreps_in1.slices()
    spans = [(in_slices[a].start, in_slices[a].stop) for a in range(len(irreps_in1)) if a not in used]
    ins, xt, where = [], 0, {}
    for n, a in enumerate(used):
        mul, ir = irreps_in1[a]
        ins += [in_slices[a].start, ir.dim, mul, xt]
        where[a] = n
        xt += mul * ir.dim
    return ins, where, xt, torch.tensor(spans, dtype=torch.int64).view(-1, 2)


class KernelPlan(_KernelTables):
    """The tables the "uvw" kernel reads: paths grouped by output block, the input blocks they read, the output
    blocks.

    ``groups`` are :class:`~steertorch.o3._tensor_product_plan.UvwGroup` (each path b of a group reads the columns
    ``cg_offset + (k n_b + b) d1 + i`` of ``A = y C``). Raises ``ValueError`` for blocks of dimension above 16.

    >>> from steertorch.o3 import FullyConnectedTensorProduct
    >>> tp = FullyConnectedTensorProduct("4x0e + 4x1o", "0e + 1o", "4x0e + 4x1o")
    >>> plan = KernelPlan(tp._fast_groups, tp.irreps_in1, tp.irreps_in2, tp.irreps_out)
    >>> plan.n_paths, len(plan.inputs)
    (4, 2)
    """

    def __init__(self, groups: Sequence, irreps_in1, irreps_in2, irreps_out) -> None:
        out_slices = irreps_out.slices()
        used = sorted({g.a for g in groups})
        _check_dims([irreps_in1[a].ir.dim for a in used] + [ir.dim for _, ir in irreps_out])
        self.inputs = used
        ins, where, xt, self._dead_inputs = _input_table(used, irreps_in1)  # (x columns no path reads)
        paths, outs, t_len, g_len = [], [], 1, 1
        for o, (mo, iro) in enumerate(irreps_out):
            p0 = len(paths) // 10
            for g in groups:
                if g.o != o:
                    continue
                for b, w_off in enumerate(g.path_offsets):
                    # early: mix the channels before the Clebsch-Gordan contraction (fewer products when d1 < d_o)
                    paths += [where[g.a], g.d1, g.mul1, g.cg_offset + b * g.d1, g.n_paths * g.d1, o, g.d_out,
                              g.mul_out, w_off, int(g.d1 < g.d_out)]
                    t_len = max(t_len, g.d_out * g.mul1, g.d1 * g.mul_out)
            outs += [out_slices[o].start, iro.dim, mo, p0, len(paths) // 10]
            g_len = max(g_len, iro.dim * mo)
        self.n_paths = len(paths) // 10
        self.n_a = groups[-1].cg_offset + groups[-1].cg_size
        self._weight_spans = sorted((off, off + g.mul1 * g.mul_out) for g in groups for off in g.path_offsets)
        self._tables = [torch.tensor(t, dtype=torch.int64) for t in (paths, ins, outs)]
        # n_in, n_out, n_paths, d_y, n_a, ld_x, ld_y, ld_out, numel, xt_len, t_len, g_len
        self._sizes = [len(used), len(irreps_out), self.n_paths, irreps_in2.dim, self.n_a, irreps_in1.dim,
                       irreps_in2.dim, irreps_out.dim, 0, xt, t_len, g_len]
        self._init_caches()


class UvuKernelPlan(_KernelTables):
    r"""The tables the "uvu" (depthwise) kernel reads: one row per path, grouped by output block.

    ``paths`` are :class:`~steertorch.o3._tensor_product_uvu.UvuPath`: path p reads the input block ``a``, the
    columns ``cg_offset + k d1 + i`` of :math:`A = y C` and the weights ``w_offset + u`` (one per channel), and adds
    :math:`W_p[u] \sum_i A[k, i]\, x_a[u, i]` to the output block ``o``. Raises ``ValueError`` for blocks of
    dimension above 16.

    >>> from steertorch.o3 import TensorProduct
    >>> tp = TensorProduct("4x0e + 4x1o", "0e + 1o", "4x0e + 4x1o + 4x1o",
    ...                    [(0, 0, 0, "uvu", True), (0, 1, 1, "uvu", True), (1, 0, 2, "uvu", True)])
    >>> plan = UvuKernelPlan(tp._uvu_plan.paths, tp.irreps_in1, tp.irreps_in2, tp.irreps_out)
    >>> plan.n_paths, plan.n_a
    (3, 13)
    """

    _mode = "uvu"

    def __init__(self, paths: Sequence, irreps_in1, irreps_in2, irreps_out) -> None:
        out_slices = irreps_out.slices()
        used = sorted({p.a for p in paths})
        _check_dims([irreps_in1[a].ir.dim for a in used] + [ir.dim for _, ir in irreps_out])
        ins, where, xt, self._dead_inputs = _input_table(used, irreps_in1)
        table, outs, g_len = [], [], 1
        for o, (mo, iro) in enumerate(irreps_out):
            p0 = len(table) // 7
            for p in paths:
                if p.o == o:
                    table += [where[p.a], p.d1, p.mul, p.cg_offset, o, p.d_out, p.w_offset]
            outs += [out_slices[o].start, iro.dim, mo, p0, len(table) // 7]
            g_len = max(g_len, iro.dim * mo)
        self.n_paths = len(paths)
        self.n_a = max(p.cg_offset + p.d_out * p.d1 for p in paths)
        self._weight_spans = sorted((p.w_offset, p.w_offset + p.mul) for p in paths)
        self._tables = [torch.tensor(t, dtype=torch.int64) for t in (table, ins, outs)]
        # n_in, n_out, n_paths, d_y, n_a, ld_x, ld_y, ld_out, numel, xt_len, t_len (unused), g_len
        self._sizes = [len(used), len(irreps_out), self.n_paths, irreps_in2.dim, self.n_a, irreps_in1.dim,
                       irreps_in2.dim, irreps_out.dim, 0, xt, 1, g_len]
        self._init_caches()


# ----------------------------------------------------------------------------------------------- custom ops
# The kernels as torch.library operators with fake (meta) implementations, two per mode (tp_uvw_*, tp_uvu_*):
# torch.compile, torch.export and autograd's graph see one operator each, with the shapes of its outputs, and every
# argument is a tensor (no address or handle outside the call). The plan's tables are int64 CPU tensors; a gradient
# that is not asked for comes back as an empty tensor. Eager calls run the implementations directly (the dispatcher
# costs ~20 us a call); traced ones (torch.compile, torch.export) the operators.
def _run_forward(symbol: str, op: str, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, cg: torch.Tensor,
                 sizes: torch.Tensor, paths: torch.Tensor, ins: torch.Tensor, outs: torch.Tensor,
                 out_dim: int) -> torch.Tensor:
    if _load() is None:
        raise RuntimeError(f"steertorch::{op}: the CPU kernel is not available ({_LIBRARY.reason()})")
    out = x.new_empty(x.shape[0], out_dim)
    fn = _LIBRARY.function(f"{symbol}_{_DTYPES[x.dtype][2]}")
    if fn(x.shape[0], sizes.data_ptr(), paths.data_ptr(), ins.data_ptr(), outs.data_ptr(), x.data_ptr(),
          y.data_ptr(), w.data_ptr(), cg.data_ptr(), out.data_ptr(), _threads(x.shape[0])) != 0:
        raise MemoryError("the tensor product's CPU kernel could not allocate its buffers")
    return out


def _run_backward(symbol: str, op: str, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, cg: torch.Tensor,
                  grad: torch.Tensor, sizes: torch.Tensor, paths: torch.Tensor, ins: torch.Tensor, outs: torch.Tensor,
                  dead_inputs: torch.Tensor, unused_weights: torch.Tensor, need_x: bool, need_y: bool,
                  need_w: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    if _load() is None:
        raise RuntimeError(f"steertorch::{op}: the CPU kernel is not available ({_LIBRARY.reason()})")
    gx = torch.empty_like(x) if need_x else None
    gy = torch.empty_like(y) if need_y else None
    gw = None
    if need_w and w.dim() == 1:
        gw = torch.zeros_like(w)
    elif need_w:  # per sample: the kernel writes each path's block, every row
        gw = torch.empty_like(w)
        for s0, s1 in unused_weights.tolist():
            gw[:, s0:s1].zero_()
    fn = _LIBRARY.function(f"{symbol}_{_DTYPES[x.dtype][2]}")
    if fn(x.shape[0], sizes.data_ptr(), paths.data_ptr(), ins.data_ptr(), outs.data_ptr(), x.data_ptr(),
          y.data_ptr(), w.data_ptr(), cg.data_ptr(), grad.data_ptr(), _ptr(gx), _ptr(gy), _ptr(gw),
          _threads(x.shape[0])) != 0:
        raise MemoryError("the tensor product's CPU kernel could not allocate its buffers")
    if gx is not None:
        for s0, s1 in dead_inputs.tolist():  # input blocks no path reads: the kernel does not write them
            gx[:, s0:s1].zero_()
    return tuple(x.new_empty(0) if g is None else g for g in (gx, gy, gw))  # (distinct tensors: no aliasing)


def _forward_impl(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, cg: torch.Tensor, sizes: torch.Tensor,
                  paths: torch.Tensor, ins: torch.Tensor, outs: torch.Tensor, out_dim: int) -> torch.Tensor:
    return _run_forward("st_tp_forward", "tp_uvw_forward", x, y, w, cg, sizes, paths, ins, outs, out_dim)


def _backward_impl(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, cg: torch.Tensor, grad: torch.Tensor,
                   sizes: torch.Tensor, paths: torch.Tensor, ins: torch.Tensor, outs: torch.Tensor,
                   dead_inputs: torch.Tensor, unused_weights: torch.Tensor, need_x: bool, need_y: bool,
                   need_w: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return _run_backward("st_tp_backward", "tp_uvw_backward", x, y, w, cg, grad, sizes, paths, ins, outs,
                         dead_inputs, unused_weights, need_x, need_y, need_w)


def _uvu_forward_impl(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, cg: torch.Tensor, sizes: torch.Tensor,
                      paths: torch.Tensor, ins: torch.Tensor, outs: torch.Tensor, out_dim: int) -> torch.Tensor:
    return _run_forward("st_tpuvu_forward", "tp_uvu_forward", x, y, w, cg, sizes, paths, ins, outs, out_dim)


def _uvu_backward_impl(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, cg: torch.Tensor, grad: torch.Tensor,
                       sizes: torch.Tensor, paths: torch.Tensor, ins: torch.Tensor, outs: torch.Tensor,
                       dead_inputs: torch.Tensor, unused_weights: torch.Tensor, need_x: bool, need_y: bool,
                       need_w: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return _run_backward("st_tpuvu_backward", "tp_uvu_backward", x, y, w, cg, grad, sizes, paths, ins, outs,
                         dead_inputs, unused_weights, need_x, need_y, need_w)


def _fake_forward(x, y, w, cg, sizes, paths, ins, outs, out_dim):
    return x.new_empty(x.shape[0], out_dim)


def _fake_backward(x, y, w, cg, grad, sizes, paths, ins, outs, dead_inputs, unused_weights, need_x, need_y, need_w):
    return (torch.empty_like(x) if need_x else x.new_empty(0), torch.empty_like(y) if need_y else y.new_empty(0),
            torch.empty_like(w) if need_w else w.new_empty(0))


# mode -> (eager implementation, operator name)
_FORWARD = {"uvw": (_forward_impl, "tp_uvw_forward"), "uvu": (_uvu_forward_impl, "tp_uvu_forward")}
_BACKWARD = {"uvw": (_backward_impl, "tp_uvw_backward"), "uvu": (_uvu_backward_impl, "tp_uvu_backward")}
for _impl, _name in _FORWARD.values():
    torch.library.custom_op(f"steertorch::{_name}", _impl, mutates_args=()).register_fake(_fake_forward)
for _impl, _name in _BACKWARD.values():
    torch.library.custom_op(f"steertorch::{_name}", _impl, mutates_args=()).register_fake(_fake_backward)
del _impl, _name
