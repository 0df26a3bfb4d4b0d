r"""Checkpoints: written atomically, read with ``torch.load(weights_only=True)``.

:func:`atomic_save` writes to a temporary file in the destination's directory, flushes and
``fsync``\ s it, then ``os.replace``\ s it onto the destination (and ``fsync``\ s the directory):
a reader, or a process killed at any moment, sees the old file or the new one, never part of
one. Checkpoints hold only tensors and plain containers of primitives (the config as a dict,
RNG states as tensors), so :func:`load_checkpoint` can use ``weights_only=True``: loading a
file never runs code from it.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "ckpt.pt")
>>> atomic_save({"epoch": 3, "weights": torch.ones(2)}, path)
>>> load_checkpoint(path)["epoch"]
3
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

__all__ = ["atomic_save", "load_checkpoint", "atomic_write_text"]


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_write(path: str | Path, write: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save(obj, path)`` atomically: the file at ``path`` is always complete (old or new)."""
    _atomic_write(path, lambda f: torch.save(obj, f))


def atomic_write_text(text: str, path: str | Path) -> None:
    """Write a text file atomically (same guarantee as :func:`atomic_save`).

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.txt")
    >>> atomic_write_text("hello", path); open(path).read()
    'hello'
    """
    _atomic_write(path, lambda f: f.write(text.encode()))


def load_checkpoint(path: str | Path, map_location: str | torch.device | None = "cpu") -> dict[str, Any]:
    """A checkpoint written by :func:`atomic_save`, loaded with ``weights_only=True`` (no code is run)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r}")
    return torch.load(path, map_location=map_location, weights_only=True)
