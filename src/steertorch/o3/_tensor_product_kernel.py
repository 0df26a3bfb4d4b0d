r"""Optional compiled CPU kernel of the "uvw" product with a multiplicity-1 second input.

The product of a point convolution (features times spherical harmonics) is, per sample (weights shared, or one row
per sample from a radial network),

.. math::

    A = y\, C, \qquad T_p[k, u] = \sum_i A_p[k, i]\, x^{(a)}[u, i], \qquad
    z^{(o)}[w, k] = \sum_{p: a \to o} \sum_u T_p[k, u]\, W_p[u, w],

the plan of :mod:`._tensor_product_plan` (same Clebsch-Gordan matrix :math:`C`, same weights). Written with
batch-sized torch operations its cost on a CPU is mostly moving :math:`T` through memory and GEMMs too thin to run
fast; ``_tensor_product_kernel.c`` instead runs the whole chain for one sample at a time in buffers of a few KB
(vectorised, one thread per range of samples), for the forward and the backward (the gradients of x, y and the
weights; :math:`T` is recomputed, not kept).

It is compiled on first use with the system C compiler (``$CC``, else ``cc``, ``gcc`` or ``clang``; a few seconds)
into ``$STEERTORCH_CACHE`` (default ``~/.cache/steertorch``; not writable: ``steertorch-<uid>`` in the temporary
directory), once per source, compiler and machine. Without a
compiler, or with ``STEERTORCH_CPU_KERNEL=0``, the products run the pure-torch path of
:mod:`._tensor_product_fused` instead, which computes the same values; :func:`cpu_kernel_available` says which.

>>> isinstance(cpu_kernel_available(), bool)
True
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

import torch

__all__ = ["cpu_kernel_available", "KernelPlan"]

_SOURCE = Path(__file__).with_name("_tensor_product_kernel.c")
_MAXD = 16  # largest 2l + 1 the kernel takes (MAXD in the C source)
_FLAGS = ["-O3", "-fPIC", "-pthread", "-fno-math-errno"]
_ARCH_FLAGS = (["-march=native"], [])  # the first that compiles
_DTYPES = {torch.float32: ("float", 8, "f32"), torch.float64: ("double", 4, "f64")}
_COMPILE_TIMEOUT_S = 300
_ROWS_PER_THREAD = 64  # fewer rows than this per thread: fewer threads (starting one costs tens of microseconds)

_log = logging.getLogger(__name__)

_lock = threading.Lock()
_state: dict = {}  # "lib": the loaded library or None, once tried


def _cache_dir() -> Path:
    root = os.environ.get("STEERTORCH_CACHE")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "steertorch"


def _compiler() -> str | None:
    cc = os.environ.get("CC")
    if cc and shutil.which(cc.split()[0]):
        return cc
    for name in ("cc", "gcc", "clang"):
        if shutil.which(name):
            return name
    return None


def _machine_id() -> str:
    """What the compiled code depends on besides its source: the CPU (``-march=native``) and the platform."""
    parts = [platform.machine(), platform.system(), sys.platform]
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "model name", "Features")):
                    parts.append(line.strip())
                    if len(parts) > 6:
                        break
    except OSError:
        parts.append(platform.processor())
    return "\n".join(parts)


def _build(cc: str, out: Path) -> bool:
    """Compile the source for float and double into ``out`` (written atomically); False if the compiler fails."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        for arch in _ARCH_FLAGS:
            objects = [str(Path(tmp) / f"kernel_{suffix}.o") for _, _, suffix in _DTYPES.values()]
            jobs = [subprocess.Popen([*cc.split(), *_FLAGS, *arch, f"-DREAL={real}", f"-DVL={width}",
                                      f"-DSUF={suffix}", "-c", str(_SOURCE), "-o", obj],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    for (real, width, suffix), obj in zip(_DTYPES.values(), objects)]  # both precisions at once
            try:
                if any([job.wait(timeout=_COMPILE_TIMEOUT_S) != 0 for job in jobs]):  # (a list: wait for both)
                    continue
            except subprocess.TimeoutExpired:
                for job in jobs:
                    job.kill()
                    job.wait()
                return False
            lib = Path(tmp) / "kernel.so"
            if subprocess.run([*cc.split(), "-shared", "-pthread", *objects, "-o", str(lib)],
                              capture_output=True).returncode != 0:
                continue
            os.replace(lib, out)  # atomic: a concurrent process sees the old file or the whole new one
            return True
    return False


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    p, i64, c_int = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
    for suffix in ("f32", "f64"):
        fwd = getattr(lib, f"st_tp_forward_{suffix}")
        fwd.argtypes = [i64, p, p, p, p, p, p, p, p, p, c_int]
        fwd.restype = c_int
        bwd = getattr(lib, f"st_tp_backward_{suffix}")
        bwd.argtypes = [i64, p, p, p, p, p, p, p, p, p, p, p, p, c_int]
        bwd.restype = c_int
    return lib


def _private_dir(root: Path) -> bool:
    """Create ``root`` for this user only; False if it exists and someone else could have written into it."""
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = root.stat()
    return not root.is_symlink() and st.st_uid == getattr(os, "getuid", lambda: st.st_uid)() and not st.st_mode & 0o022


def _load() -> ctypes.CDLL | None:
    if "lib" in _state:
        return _state["lib"]
    with _lock:
        if "lib" in _state:
            return _state["lib"]
        lib = None
        cc = _compiler() if os.environ.get("STEERTORCH_CPU_KERNEL", "1") != "0" else None
        if cc is not None:
            key = hashlib.sha256(b"\0".join([_SOURCE.read_bytes(), cc.encode(), " ".join(_FLAGS).encode(),
                                             _machine_id().encode()])).hexdigest()[:20]
            # the cache, else (not writable) a directory of this user's in the temporary directory
            user = getattr(os, "getuid", lambda: "user")()
            for root in (_cache_dir(), Path(tempfile.gettempdir()) / f"steertorch-{user}"):
                path = root / f"tp_kernel_{key}.so"
                try:
                    if root != _cache_dir() and not _private_dir(root):
                        continue
                    if not path.exists():
                        _log.info("compiling the tensor product CPU kernel with %s into %s", cc, path)
                    if path.exists() or _build(cc, path):
                        lib = _declare(ctypes.CDLL(str(path)))
                        break
                except (OSError, AttributeError, subprocess.SubprocessError) as exc:
                    _log.info("the tensor product CPU kernel could not be built in %s (%s)", root, exc)
            if lib is None:
                _log.info("the tensor product CPU kernel is not available: the torch path runs")
        _state["lib"] = lib
        return lib


def cpu_kernel_available() -> bool:
    """Whether the compiled CPU kernel is in use (compiling it on the first call if needed).

    Public as ``steertorch.o3.cpu_kernel_available``.

    >>> cpu_kernel_available() in (True, False)
    True
    """
    return _load() is not None


def _threads(rows: int) -> int:
    """torch's intra-op thread count, less where the batch is too small to be worth a thread each."""
    return max(1, min(torch.get_num_threads(), rows // _ROWS_PER_THREAD))


def _ptr(t: torch.Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


class KernelPlan:
    """The tables the kernel reads: paths grouped by output block, the input blocks they read, the output blocks.

    ``groups`` are :class:`~steertorch.o3._tensor_product_plan.UvwGroup` (each path b of a group reads the columns
    ``cg_offset + (k n_b + b) d1 + i`` of ``A = y C``). Raises ``ValueError`` for blocks of dimension above 16.

    >>> from steertorch.o3 import FullyConnectedTensorProduct
    >>> tp = FullyConnectedTensorProduct("4x0e + 4x1o", "0e + 1o", "4x0e + 4x1o")
    >>> plan = KernelPlan(tp._fast_groups, tp.irreps_in1, tp.irreps_in2, tp.irreps_out)
    >>> plan.n_paths, len(plan.inputs)
    (4, 2)
    """

    def __init__(self, groups: Sequence, irreps_in1, irreps_in2, irreps_out) -> None:
        in_slices, out_slices = irreps_in1.slices(), irreps_out.slices()
        used = sorted({g.a for g in groups})
        largest = max([irreps_in1[a].ir.dim for a in used] + [ir.dim for _, ir in irreps_out])
        if largest > _MAXD:
            raise ValueError(f"the CPU kernel takes blocks of dimension <= {_MAXD} (l <= {(_MAXD - 1) // 2}), got "
                             f"{largest}")
        self.inputs = used
        ins, xt, where = [], 0, {}
        for n, a in enumerate(used):
            mul, ir = irreps_in1[a]
            ins += [in_slices[a].start, ir.dim, mul, xt]
            where[a] = n
            xt += mul * ir.dim
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
        # (weight numel, per sample) -> the sizes argument. Only tensors are kept: their addresses are read at each
        # call, so a copied, unpickled or moved plan never passes the kernel an address of another object's memory
        self._sizes_of: dict[tuple[int, bool], torch.Tensor] = {}

    def _args(self, w: torch.Tensor) -> list[int]:
        """The table arguments of the kernel for weights ``w``: addresses taken now (cheap), never cached."""
        key = (w.shape[-1], w.dim() == 2)
        sizes = self._sizes_of.get(key)
        if sizes is None:
            sizes = self._sizes_of[key] = torch.tensor(self._sizes[:8] + [key[0]] + self._sizes[9:] +
                                                       [key[0] if key[1] else 0], dtype=torch.int64)
        return [sizes.data_ptr(), *(t.data_ptr() for t in self._tables)]

    def _unused_weights(self, numel: int) -> list[tuple[int, int]]:
        """Spans of the flat weights that no path reads (instructions with a zero path weight)."""
        gaps, pos = [], 0
        for start, stop in self._weight_spans + [(numel, numel)]:
            if start > pos:
                gaps.append((pos, start))
            pos = max(pos, stop)
        return gaps

    def forward(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, cg: torch.Tensor) -> torch.Tensor:
        """``B(x, y, w)``: contiguous CPU tensors of one dtype (float32 or float64); weights shared ``[numel]`` or
        per sample ``[z, numel]``."""
        lib = _load()
        out = x.new_empty(x.shape[0], self._sizes[7])
        tables = self._args(w)
        fn = getattr(lib, f"st_tp_forward_{_DTYPES[x.dtype][2]}")
        if fn(x.shape[0], *tables, x.data_ptr(), y.data_ptr(), w.data_ptr(), cg.data_ptr(), out.data_ptr(),
              _threads(x.shape[0])) != 0:
            raise MemoryError("the tensor product's CPU kernel could not allocate its buffers")
        return out

    def backward(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, cg: torch.Tensor, grad: torch.Tensor,
                 needs: Sequence[bool]) -> tuple:
        """``(dx, dy, dw)`` of ``<grad, B(x, y, w)>``, None where ``needs`` is False. The columns of ``dx`` of
        input blocks no path reads are left unwritten (the caller zeroes them)."""
        lib = _load()
        gx = torch.empty_like(x) if needs[0] else None
        gy = torch.empty_like(y) if needs[1] else None
        gw = None
        if needs[2] and w.dim() == 1:
            gw = torch.zeros_like(w)
        elif needs[2]:  # per sample: the kernel writes each path's block, every row
            gw = torch.empty_like(w)
            for s0, s1 in self._unused_weights(w.shape[-1]):
                gw[:, s0:s1].zero_()
        tables = self._args(w)
        fn = getattr(lib, f"st_tp_backward_{_DTYPES[x.dtype][2]}")
        if fn(x.shape[0], *tables, x.data_ptr(), y.data_ptr(), w.data_ptr(), cg.data_ptr(), grad.data_ptr(),
              _ptr(gx), _ptr(gy), _ptr(gw), _threads(x.shape[0])) != 0:
            raise MemoryError("the tensor product's CPU kernel could not allocate its buffers")
        return gx, gy, gw
