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

It is compiled on first use with the system C compiler (``$CC``, else ``cc``, ``gcc`` or ``clang``; a few seconds,
announced by one line on stderr unless ``STEERTORCH_QUIET=1``) into ``$STEERTORCH_CACHE`` (default
``$XDG_CACHE_HOME/steertorch`` or ``~/.cache/steertorch``), once per source, compiler and machine. The library is a
shared object that runs in the process, so it is loaded only from a directory that belongs to the user and that no
one else can write (created 0700; group- or world-writable directories, directories of another user and symbolic
links are refused) and only if the file has the same properties (else it is rebuilt). Where the cache is refused,
``steertorch-<uid>`` in the temporary directory is used with the same checks, and failing that a fresh private
directory for this process. Processes starting together build it once: the build holds a lock (``flock``) on a file
next to the library and looks for the library again once it has the lock. Without a compiler, or with
``STEERTORCH_CPU_KERNEL=0``, the products run the pure-torch path of :mod:`._tensor_product_fused` instead, which
computes the same values; :func:`cpu_kernel_available` says which and :func:`kernel_info` why (``steertorch info``
prints it).

The kernel is exposed as ``torch.library`` custom operators with fake implementations, two per mode,
``torch.ops.steertorch.tp_uvw_forward`` / ``tp_uvw_backward`` and ``tp_uvu_forward`` / ``tp_uvu_backward``, whose
arguments are all tensors (the plan's tables included): traced code (``torch.compile``, ``torch.export``) sees one
operator per call. Their backward is not differentiated by autograd: the autograd functions of
:mod:`._tensor_product_fused` call the kernel again for higher derivatives (the products are trilinear).

>>> isinstance(cpu_kernel_available(), bool)
True
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import hashlib
import os
import platform
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch

try:
    import fcntl
except ImportError:  # not POSIX: no lock (the library is still written atomically)
    fcntl = None

__all__ = ["cpu_kernel_available", "kernel_info", "KernelPlan", "UvuKernelPlan"]

_SOURCE = Path(__file__).with_name("_tensor_product_kernel.c")
_MAXD = 16  # largest 2l + 1 the kernel takes (MAXD in the C source)
_FLAGS = ["-O3", "-fPIC", "-pthread", "-fno-math-errno"]
_ARCH_FLAGS = (["-march=native"], [])  # the first that compiles
_DTYPES = {torch.float32: ("float", 8, "f32"), torch.float64: ("double", 4, "f64")}
_COMPILE_TIMEOUT_S = 300
_ROWS_PER_THREAD = 64  # fewer rows than this per thread: fewer threads (starting one costs tens of microseconds)
_ERROR_LINES = 4  # lines of the compiler's error output kept as the reason of a fallback

_lock = threading.Lock()
# once tried: "lib" the loaded library or None; "path" the library (or None); "reason" why the torch path runs (None
# when the kernel is in use); "notes" locations refused or failed on the way
_state: dict = {}


class _CompileError(RuntimeError):
    """The compiler failed (its first error lines in the message): the same everywhere, so no other directory is
    tried."""


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


def _library_name(cc: str) -> str:
    """The library's file name: a hash of everything the compiled code depends on."""
    key = hashlib.sha256(b"\0".join([_SOURCE.read_bytes(), cc.encode(), " ".join(_FLAGS).encode(),
                                     _machine_id().encode()])).hexdigest()[:20]
    return f"tp_kernel_{key}.so"


def _say(message: str) -> None:
    """One line on stderr (seen by default, unlike ``logging.info``), unless ``STEERTORCH_QUIET=1``."""
    if os.environ.get("STEERTORCH_QUIET", "0") in ("", "0"):
        print(f"steertorch: {message}", file=sys.stderr, flush=True)


def _build(cc: str, out: Path) -> None:
    """Compile the source for float and double into ``out`` (written atomically, mode 0700); ``_CompileError`` with
    the compiler's first error lines if it fails."""
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:  # (created 0700)
        errors = ""
        for arch in _ARCH_FLAGS:
            objects = [str(Path(tmp) / f"kernel_{suffix}.o") for _, _, suffix in _DTYPES.values()]
            logs = [Path(tmp) / f"kernel_{suffix}.log" for _, _, suffix in _DTYPES.values()]
            jobs = []
            for (real, width, suffix), obj, log in zip(_DTYPES.values(), objects, logs):  # both precisions at once
                with open(log, "wb") as err:
                    jobs.append(subprocess.Popen([*cc.split(), *_FLAGS, *arch, f"-DREAL={real}", f"-DVL={width}",
                                                  f"-DSUF={suffix}", "-c", str(_SOURCE), "-o", obj],
                                                 stdout=subprocess.DEVNULL, stderr=err))
            try:
                codes = [job.wait(timeout=_COMPILE_TIMEOUT_S) for job in jobs]  # (a list: wait for both)
            except subprocess.TimeoutExpired:
                for job in jobs:
                    job.kill()
                    job.wait()
                raise _CompileError(f"{cc} took more than {_COMPILE_TIMEOUT_S} s") from None
            if any(codes):
                errors = next(log.read_text(errors="replace") for log, code in zip(logs, codes) if code)
                continue
            lib = Path(tmp) / "kernel.so"
            link = subprocess.run([*cc.split(), "-shared", "-pthread", *objects, "-o", str(lib)], capture_output=True,
                                  text=True, errors="replace")
            if link.returncode != 0:
                errors = link.stderr
                continue
            os.chmod(lib, 0o700)
            os.replace(lib, out)  # atomic: a concurrent process sees the old file or the whole new one
            return
        lines = [line for line in errors.splitlines() if line.strip()][:_ERROR_LINES]
        raise _CompileError(f"{cc} failed: " + (" | ".join(lines) or "no error output"))


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


def _unsafe(path: Path, is_dir: bool) -> str | None:
    """Why ``path`` may not be trusted (None if it may): it must be a directory (or regular file) and not a symbolic
    link, owned by this user, and not writable by group or others."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return f"{path} is a symbolic link"
    if is_dir and not stat.S_ISDIR(st.st_mode) or not is_dir and not stat.S_ISREG(st.st_mode):
        return f"{path} is not a {'directory' if is_dir else 'regular file'}"
    uid = getattr(os, "getuid", lambda: st.st_uid)()
    if st.st_uid != uid:
        return f"{path} belongs to uid {st.st_uid}, not to this user (uid {uid})"
    if st.st_mode & 0o022:
        return f"{path} is writable by {'group and others' if st.st_mode & 0o002 else 'its group'} " \
               f"(mode {stat.S_IMODE(st.st_mode):o})"
    return None


def _private_dir(root: Path) -> str | None:
    """Make ``root`` a directory only this user can write: the missing components are created 0700 and checked, and
    so is ``root`` itself. None if it is, else why not (a directory that someone else could have written into, a
    symbolic link, a component that cannot be created)."""
    try:
        missing = []
        p = Path(os.path.abspath(root))
        while not os.path.lexists(p) and p != p.parent:
            missing.append(p)
            p = p.parent
        for d in reversed(missing):
            with contextlib.suppress(FileExistsError):
                os.mkdir(d, 0o700)
            why = _unsafe(d, True)
            if why:
                return why
        return _unsafe(root, True)
    except OSError as exc:
        return f"{root} cannot be used ({exc.strerror or exc})"


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock across processes on ``path`` (created 0600 in a private directory), held in the block."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # (releases the lock)


def _open(path: Path) -> ctypes.CDLL:
    try:
        return _declare(ctypes.CDLL(str(path)))
    except (OSError, AttributeError) as exc:
        raise OSError(f"{path} could not be loaded ({exc})") from None


def _load_or_build(cc: str, root: Path, notes: list[str]) -> tuple[ctypes.CDLL, Path]:
    """The library in the private directory ``root``, built there first (once across processes) if it is missing or
    not safe to load."""
    path = root / _library_name(cc)
    if os.path.lexists(path) and _unsafe(path, False) is None:
        return _open(path), path
    with _file_lock(path.with_suffix(".lock")):
        if os.path.lexists(path):  # (perhaps built by another process meanwhile)
            why = _unsafe(path, False)
            if why is None:
                return _open(path), path
            notes.append(f"not loaded: {why}; rebuilt")
        _say(f"compiling the CPU tensor-product kernel (once, ~5 s) into {path}")
        _build(cc, path)
    return _open(path), path


def _private_roots() -> Iterator[Path]:
    """Where the library may live: the cache, else ``steertorch-<uid>`` in the temporary directory, else a fresh
    private directory of this process (removed at exit)."""
    yield _cache_dir()
    yield Path(tempfile.gettempdir()) / f"steertorch-{getattr(os, 'getuid', lambda: 'user')()}"
    fresh = tempfile.mkdtemp(prefix="steertorch-")  # created 0700 by this process
    atexit.register(shutil.rmtree, fresh, True)
    yield Path(fresh)


def _find() -> dict:
    """Load (or build) the library: the new ``_state``."""
    notes: list[str] = []
    if os.environ.get("STEERTORCH_CPU_KERNEL", "1") == "0":
        return {"lib": None, "path": None, "reason": "switched off by STEERTORCH_CPU_KERNEL=0", "notes": notes}
    cc = _compiler()
    if cc is None:
        return {"lib": None, "path": None, "reason": "no C compiler found ($CC, cc, gcc or clang)", "notes": notes}
    for root in _private_roots():
        why = _private_dir(root)
        if why is not None:
            notes.append(f"unsafe cache directory, not used: {why}")
            continue
        try:
            lib, path = _load_or_build(cc, root, notes)
            return {"lib": lib, "path": path, "reason": None, "notes": notes}
        except _CompileError as exc:
            return {"lib": None, "path": None, "reason": f"compiling failed: {exc}", "notes": notes}
        except (OSError, subprocess.SubprocessError) as exc:
            notes.append(str(exc))
    return {"lib": None, "path": None, "reason": "; ".join(notes), "notes": notes}


def _load() -> ctypes.CDLL | None:
    if "lib" in _state:
        return _state["lib"]
    with _lock:
        if "lib" not in _state:
            _state.update(_find())
        return _state["lib"]


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
    _load()
    return {"available": _state["lib"] is not None, "path": None if _state["path"] is None else str(_state["path"]),
            "cache": str(_cache_dir()), "reason": _state["reason"], "notes": list(_state["notes"])}


def _threads(rows: int) -> int:
    """torch's intra-op thread count, less where the batch is too small to be worth a thread each."""
    return max(1, min(torch.get_num_threads(), rows // _ROWS_PER_THREAD))


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
    lib = _load()
    if lib is None:
        raise RuntimeError(f"steertorch::{op}: the CPU kernel is not available ({_state['reason']})")
    out = x.new_empty(x.shape[0], out_dim)
    fn = getattr(lib, f"{symbol}_{_DTYPES[x.dtype][2]}")
    if fn(x.shape[0], sizes.data_ptr(), paths.data_ptr(), ins.data_ptr(), outs.data_ptr(), x.data_ptr(),
          y.data_ptr(), w.data_ptr(), cg.data_ptr(), out.data_ptr(), _threads(x.shape[0])) != 0:
        raise MemoryError("the tensor product's CPU kernel could not allocate its buffers")
    return out


def _run_backward(symbol: str, op: str, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, cg: torch.Tensor,
                  grad: torch.Tensor, sizes: torch.Tensor, paths: torch.Tensor, ins: torch.Tensor, outs: torch.Tensor,
                  dead_inputs: torch.Tensor, unused_weights: torch.Tensor, need_x: bool, need_y: bool,
                  need_w: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    lib = _load()
    if lib is None:
        raise RuntimeError(f"steertorch::{op}: the CPU kernel is not available ({_state['reason']})")
    gx = torch.empty_like(x) if need_x else None
    gy = torch.empty_like(y) if need_y else None
    gw = None
    if need_w and w.dim() == 1:
        gw = torch.zeros_like(w)
    elif need_w:  # per sample: the kernel writes each path's block, every row
        gw = torch.empty_like(w)
        for s0, s1 in unused_weights.tolist():
            gw[:, s0:s1].zero_()
    fn = getattr(lib, f"{symbol}_{_DTYPES[x.dtype][2]}")
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
