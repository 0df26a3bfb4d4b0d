r"""A cache of the filter a module expands from its weights, for inference (escnn caches the expanded filter of its
convolutions in eval mode).

Steerable convolutions, G-CNN layers, equivariant linear maps and ``TensorProductModule`` compute their filter
(kernel and bias) from their learnable coefficients and constant bases on every call. In training that is the
right thing (the weights change every step and the gradient flows through the expansion); in inference it repeats
the same product on every call: on escnn's C8 example model, about 40 % of an eval-mode forward of a batch of 2.

:class:`ExpansionCache` keeps the last expansion and serves it again only when it cannot differ from a new one:

- **when**: the module and all its submodules are in eval mode, and no gradient can reach the weights through the
  filter (grad mode off, ``torch.no_grad()`` / ``torch.inference_mode()``, or no parameter requires grad), and the
  call is not traced or compiled (``torch.jit.trace``, ``torch.compile``, ``torch.export``, ``torch.func``
  transforms: these see the expansion itself), and every parameter and buffer is a plain tensor (not a subclass
  such as ``DTensor``, not an inference or meta tensor), and ``cache_expansion`` is True (the default; set it to
  False to expand on every call);
- **key**: every parameter and buffer of the module and its submodules, by identity, version counter (bumped by
  every in-place write: optimizer steps, ``load_state_dict``, ``with torch.no_grad(): w.add_(...)``), data pointer,
  dtype, device and shape; their values (a copy is kept and compared on every hit, so writes through ``.data``,
  which bypass the version counter, are seen too); the plain settings (ints, floats, bools, strings) of every
  submodule. ``.to()``, ``.double()``, ``.float()`` and ``train()`` also drop the cache at once (freeing its
  memory); a changed key replaces it.
- **copies**: the cache is a plain attribute, not a buffer: it is never in ``state_dict()``, and pickling,
  ``copy.deepcopy`` and ``torch.save`` leave it out (``__getstate__``), so copies never share it; DDP and
  DataParallel replicas, whose tensors are others, miss and build their own. A filter expanded in inference mode
  is served again only while grad mode is off (an inference tensor cannot be saved for backward).

The cost of a hit is one comparison of the weights and bases with their copies (linear in their size, the
expansion multiplies them: a few per cent of it), and the memory of the copies and of the expanded filter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import nn

__all__ = ["ExpansionCache"]

_ATTR = "_expansion_cache"
_SCALARS = (int, float, bool, str, type(None))


class _Entry(NamedTuple):
    tensors: tuple[torch.Tensor, ...]  # strong references: their ids stay unique while the entry lives
    stamps: tuple  # (version, data pointer, dtype, device, shape) per tensor
    settings: tuple  # the plain settings of every submodule
    copies: tuple[torch.Tensor, ...]  # the values the filter was expanded from
    value: Any


def _is_setting(v: object) -> bool:
    return isinstance(v, _SCALARS) or (isinstance(v, tuple) and all(isinstance(a, _SCALARS) for a in v))


def _walk(module: nn.Module) -> tuple[bool, list[torch.Tensor], tuple]:
    """(any module training, every parameter and buffer, the plain settings of every module), depth first."""
    training, tensors, settings = False, [], []
    stack = [module]
    while stack:
        m = stack.pop()
        training = training or m.training
        tensors.extend(t for t in m._parameters.values() if t is not None)
        tensors.extend(t for t in m._buffers.values() if t is not None)
        settings.append(tuple((k, v) for k, v in m.__dict__.items() if k != _ATTR and _is_setting(v)))
        stack.extend(c for c in reversed(m._modules.values()) if c is not None)
    return training, tensors, tuple(settings)


def _tracing() -> bool:
    """True inside ``torch.jit`` tracing / scripting, ``torch.compile`` / ``torch.export`` and ``torch.func``
    transforms: these must record the expansion, never a cached constant."""
    if torch.jit.is_tracing() or torch.jit.is_scripting():
        return True
    compiler = getattr(torch, "compiler", None)
    for name in ("is_compiling", "is_exporting"):
        f = getattr(compiler, name, None)
        if f is not None and f():
            return True
    functorch = getattr(torch._C, "_are_functorch_transforms_active", None)
    return bool(functorch is not None and functorch())


def _stamp(t: torch.Tensor) -> tuple:
    return t._version, t.data_ptr(), t.dtype, t.device, t.shape


class ExpansionCache:
    """Mixin of ``nn.Module``\\ s that expand a filter from their weights: :meth:`_cached_expansion` (see the module
    docstring for when it serves a cached value and what it keys on).

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> from steertorch.nn import FieldType, R2Conv
    >>> gs = rot2dOnR2(4)
    >>> conv = R2Conv(FieldType(gs, [gs.trivial_repr]), FieldType(gs, [gs.regular_repr]), 3).eval()
    >>> with torch.no_grad():
    ...     w1, _ = conv.expand_parameters()
    ...     w2, _ = conv.expand_parameters()             # the same filter, not expanded again
    ...     _ = conv.weights.mul_(2.0)                   # an in-place write: a new expansion
    ...     w3, _ = conv.expand_parameters()
    >>> w2 is w1, w3 is w1, bool(torch.equal(w3, 2 * w1))
    (True, False, True)
    >>> "_expansion_cache" in conv.state_dict(), conv.train().__dict__.get("_expansion_cache")
    (False, None)
    """

    #: serve the cached expansion when allowed (False: expand on every call)
    cache_expansion: bool = True

    def _cached_expansion(self, compute: Callable[[], Any]) -> Any:
        """``compute()``, or its value from an earlier call when nothing it depends on has changed."""
        if not self.cache_expansion or _tracing():
            return compute()
        training, tensors, settings = _walk(self)
        grad = torch.is_grad_enabled()
        if training or (grad and any(t.requires_grad for t in tensors)):
            return compute()
        if any(type(t) not in (torch.Tensor, nn.Parameter) or t.is_inference() or t.is_meta for t in tensors):
            return compute()
        stamps = tuple(_stamp(t) for t in tensors)
        entry: _Entry | None = self.__dict__.get(_ATTR)  # read once: a concurrent call replaces, never edits, it
        if (entry is not None and len(entry.tensors) == len(tensors)
                and all(a is b for a, b in zip(entry.tensors, tensors)) and entry.stamps == stamps
                and entry.settings == settings and all(torch.equal(t, c) for t, c in zip(tensors, entry.copies))
                and not (grad and _has_inference_tensor(entry.value))):
            return entry.value
        value = compute()
        with torch.no_grad():
            copies = tuple(t.detach().clone() for t in tensors)
        self.__dict__[_ATTR] = _Entry(tuple(tensors), stamps, settings, copies, value)
        return value

    def clear_expansion_cache(self) -> None:
        """Drop the cached expansion (it is rebuilt on the next call that may use it)."""
        self.__dict__.pop(_ATTR, None)

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.pop(_ATTR, None)
        return state

    def _apply(self, fn, recurse=True):
        self.clear_expansion_cache()
        return super()._apply(fn, recurse)

    def train(self, mode: bool = True):
        if mode:
            self.clear_expansion_cache()
        return super().train(mode)


def _has_inference_tensor(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return value.is_inference()
    if isinstance(value, tuple | list):
        return any(_has_inference_tensor(v) for v in value)
    return False
