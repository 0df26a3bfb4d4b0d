"""Linux process-memory figures for the benchmarks (``/proc/self/status``): the resident memory and its peak, and a
reset of the peak, so a script can measure what one call adds.

>>> reset_peak(); status_kib("VmHWM") >= 0
True
"""

from __future__ import annotations

__all__ = ["reset_peak", "status_kib"]


def status_kib(field: str) -> int:
    """A ``/proc/self/status`` memory figure (``VmRSS``, ``VmHWM``) in KiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status (these benchmarks read Linux's process memory figures)")


def reset_peak() -> None:
    """Reset ``VmHWM`` (the peak resident memory) to the current resident memory."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
