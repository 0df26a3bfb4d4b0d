r"""Compiled CPU libraries built on first use: one secure mechanism for every C kernel of the package.

A :class:`NativeLibrary` is a C source file compiled with the system C compiler (``$CC``, else ``cc``, ``gcc`` or
``clang``; a few seconds, announced by one line on stderr unless ``STEERTORCH_QUIET=1``) twice, for float
(``-DREAL=float -DVL=8 -DSUF=f32``) and double (``-DREAL=double -DVL=4 -DSUF=f64``), into one shared object in
``$STEERTORCH_CACHE`` (default ``$XDG_CACHE_HOME/steertorch`` or ``~/.cache/steertorch``), once per source, compiler
and machine (the file name is a hash of the three). The library runs in the process, so it is loaded only from a
directory that belongs to the user and that no one else can write (created 0700; group- or world-writable
directories, directories of another user and symbolic links are refused) and only if the file has the same
properties (else it is rebuilt). Where the cache is refused, ``steertorch-<uid>`` in the temporary directory is used
with the same checks, and failing that a fresh private directory for this process. Processes starting together build
it once: the build holds a lock (``flock``) on a file next to the library and looks for the library again once it has
the lock. Without a compiler, or with ``STEERTORCH_CPU_KERNEL=0``, :meth:`NativeLibrary.load` returns None and the
callers run their pure-torch twins, which compute the same values; :meth:`NativeLibrary.info` says why.

>>> from pathlib import Path
>>> lib = NativeLibrary("example", Path("missing.c"), lambda cdll: cdll, "example kernel")
>>> lib.stem, lib.what
('example', 'example kernel')
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
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

try:
    import fcntl
except ImportError:  # not POSIX: no lock (the library is still written atomically)
    fcntl = None

__all__ = ["NativeLibrary", "cache_dir", "native_threads"]

_FLAGS = ["-O3", "-fPIC", "-pthread", "-fno-math-errno"]
_ARCH_FLAGS = (["-march=native"], [])  # the first that compiles
_PRECISIONS = (("float", 8, "f32"), ("double", 4, "f64"))  # REAL, VL (vector width), SUF (suffix of the names)
_COMPILE_TIMEOUT_S = 300
_ERROR_LINES = 4  # lines of the compiler's error output kept as the reason of a fallback


class _CompileError(RuntimeError):
    """The compiler failed (its first error lines in the message): the same everywhere, so no other directory is
    tried."""


def cache_dir() -> Path:
    """The configured cache directory of the compiled libraries (``$STEERTORCH_CACHE``, else
    ``$XDG_CACHE_HOME/steertorch`` or ``~/.cache/steertorch``)."""
    root = os.environ.get("STEERTORCH_CACHE")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "steertorch"


def native_threads(rows: int, rows_per_thread: int) -> int:
    """torch's intra-op thread count, less where ``rows`` are too few to be worth a thread each (starting one costs
    tens of microseconds)."""

    return max(1, min(torch.get_num_threads(), rows // rows_per_thread))


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


def _say(message: str) -> None:
    """One line on stderr (seen by default, unlike ``logging.info``), unless ``STEERTORCH_QUIET=1``."""
    if os.environ.get("STEERTORCH_QUIET", "0") in ("", "0"):
        print(f"steertorch: {message}", file=sys.stderr, flush=True)


def _build(cc: str, source: Path, out: Path) -> None:
    """Compile ``source`` for float and double into ``out`` (written atomically, mode 0700); ``_CompileError`` with
    the compiler's first error lines if it fails."""
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:  # (created 0700)
        errors = ""
        for arch in _ARCH_FLAGS:
            objects = [str(Path(tmp) / f"kernel_{suffix}.o") for _, _, suffix in _PRECISIONS]
            logs = [Path(tmp) / f"kernel_{suffix}.log" for _, _, suffix in _PRECISIONS]
            jobs = []
            for (real, width, suffix), obj, log in zip(_PRECISIONS, objects, logs):  # both precisions at once
                with open(log, "wb") as err:
                    jobs.append(subprocess.Popen([*cc.split(), *_FLAGS, *arch, f"-DREAL={real}", f"-DVL={width}",
                                                  f"-DSUF={suffix}", "-c", str(source), "-o", obj],
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
            link = subprocess.run([*cc.split(), "-shared", "-pthread", *objects, "-o", str(lib), "-lm"],
                                  capture_output=True, text=True, errors="replace")
            if link.returncode != 0:
                errors = link.stderr
                continue
            os.chmod(lib, 0o700)
            os.replace(lib, out)  # atomic: a concurrent process sees the old file or the whole new one
            return
        lines = [line for line in errors.splitlines() if line.strip()][:_ERROR_LINES]
        raise _CompileError(f"{cc} failed: " + (" | ".join(lines) or "no error output"))


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


def _private_roots() -> Iterator[Path]:
    """Where a library may live: the cache, else ``steertorch-<uid>`` in the temporary directory, else a fresh
    private directory of this process (made only when reached; removed at exit)."""
    yield cache_dir()
    yield Path(tempfile.gettempdir()) / f"steertorch-{getattr(os, 'getuid', lambda: 'user')()}"
    fresh = tempfile.mkdtemp(prefix="steertorch-")  # created 0700 by this process
    atexit.register(shutil.rmtree, fresh, True)
    yield Path(fresh)


class NativeLibrary:
    """One C source compiled on first use (see the module's text), loaded once per process.

    Args:
        stem: the start of the library's file name (``<stem>_<hash>.so``).
        source: the C file.
        declare: sets the ``argtypes`` / ``restype`` of the loaded ``ctypes.CDLL``'s functions and returns it (a
            missing function raises ``AttributeError``: the library is then not used).
        what: a few words for the line announcing the build ("spherical-harmonics kernel").

    Picklable and copyable as its arguments are (``declare`` a module-level function); the loaded library is a
    process-wide state held by the instance, never pickled.
    """

    def __init__(self, stem: str, source: Path, declare: Callable[[ctypes.CDLL], ctypes.CDLL], what: str) -> None:
        self.stem, self.source, self.declare, self.what = stem, Path(source), declare, what
        self._lock = threading.Lock()
        # once tried: "lib" the loaded library or None; "path" the library (or None); "reason" why the torch path
        # runs (None when the kernel is in use); "notes" locations refused or failed on the way
        self._state: dict = {}

    def __getstate__(self) -> dict:
        return {"stem": self.stem, "source": self.source, "declare": self.declare, "what": self.what}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)

    def _name(self, cc: str) -> str:
        key = hashlib.sha256(b"\0".join([self.source.read_bytes(), cc.encode(), " ".join(_FLAGS).encode(),
                                         _machine_id().encode()])).hexdigest()[:20]
        return f"{self.stem}_{key}.so"

    def _open(self, path: Path) -> ctypes.CDLL:
        try:
            return self.declare(ctypes.CDLL(str(path)))
        except (OSError, AttributeError) as exc:
            raise OSError(f"{path} could not be loaded ({exc})") from None

    def _load_or_build(self, cc: str, root: Path, notes: list[str]) -> tuple[ctypes.CDLL, Path]:
        """The library in the private directory ``root``, built there first (once across processes) if it is
        missing or not safe to load."""
        path = root / self._name(cc)
        if os.path.lexists(path) and _unsafe(path, False) is None:
            return self._open(path), path
        with _file_lock(path.with_suffix(".lock")):
            if os.path.lexists(path):  # (perhaps built by another process meanwhile)
                why = _unsafe(path, False)
                if why is None:
                    return self._open(path), path
                notes.append(f"not loaded: {why}; rebuilt")
            _say(f"compiling the CPU {self.what} (once, ~5 s) into {path}")
            _build(cc, self.source, path)
        return self._open(path), path

    def _find(self) -> dict:
        notes: list[str] = []
        if os.environ.get("STEERTORCH_CPU_KERNEL", "1") == "0":
            return {"lib": None, "path": None, "reason": "switched off by STEERTORCH_CPU_KERNEL=0", "notes": notes}
        cc = _compiler()
        if cc is None:
            return {"lib": None, "path": None, "reason": "no C compiler found ($CC, cc, gcc or clang)",
                    "notes": notes}
        for root in _private_roots():
            why = _private_dir(root)
            if why is not None:
                notes.append(f"unsafe cache directory, not used: {why}")
                continue
            try:
                lib, path = self._load_or_build(cc, root, notes)
                return {"lib": lib, "path": path, "reason": None, "notes": notes}
            except _CompileError as exc:
                return {"lib": None, "path": None, "reason": f"compiling failed: {exc}", "notes": notes}
            except (OSError, subprocess.SubprocessError) as exc:
                notes.append(str(exc))
        return {"lib": None, "path": None, "reason": "; ".join(notes), "notes": notes}

    def load(self) -> ctypes.CDLL | None:
        """The loaded library (built first if needed), or None where the pure-torch twin must run."""
        if "lib" in self._state:
            return self._state["lib"]
        with self._lock:
            if "lib" not in self._state:
                self._state.update(self._find())
            return self._state["lib"]

    def function(self, name: str) -> Callable:
        """The loaded library's function ``name`` (looked up once: an attribute of a ``ctypes.CDLL`` costs
        microseconds); the library must be available (:meth:`load` not None)."""
        functions = self._state.setdefault("functions", {})
        fn = functions.get(name)
        if fn is None:
            lib = self.load()
            if lib is None:
                raise RuntimeError(f"the CPU {self.what} is not available ({self._state['reason']})")
            fn = functions[name] = getattr(lib, name)
        return fn

    def reason(self) -> str | None:
        """Why the library is not in use (None when it is); loads it first."""
        self.load()
        return self._state["reason"]

    def info(self) -> dict:
        """``available``, ``path`` (the library in use), ``cache`` (the configured cache directory), ``reason`` (why
        the torch path runs; None when the kernel is in use) and ``notes`` (locations refused on the way)."""
        self.load()
        return {"available": self._state["lib"] is not None,
                "path": None if self._state["path"] is None else str(self._state["path"]),
                "cache": str(cache_dir()), "reason": self._state["reason"], "notes": list(self._state["notes"])}

    def forget(self) -> None:
        """Drop the loaded state (tests: the next :meth:`load` looks again, e.g. after changing the environment)."""
        with self._lock:
            self._state.clear()
