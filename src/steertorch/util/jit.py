"""TorchScript for models built from steertorch's irreps modules, under e3nn's ``e3nn.util.jit`` names.

steertorch's modules check their inputs with Python that TorchScript cannot compile, so they are *traced*
(``torch.jit.trace``: the tensor operations of one call, with the batch size left free) and the user's own
modules around them are *scripted*, as e3nn and NequIP / MACE deployments do:

- :func:`compile` walks a model bottom-up and replaces every submodule whose compile mode is ``"trace"`` by
  its trace on random inputs (:func:`get_tracing_inputs`) and every ``"script"`` one by its script;
- :func:`script` compiles the submodules, then scripts the whole model (your ``forward`` must be scriptable,
  as with e3nn); the result saves with ``torch.jit.save`` and runs from C++ (LAMMPS) without Python.

A steertorch module with an ``irreps_in`` (or ``irreps_in1``) is traced unless :func:`compile_mode` says
otherwise; other modules are left to TorchScript. A trace records one path through the module: tensor shapes
other than the batch size, dtype and device are those of the tracing inputs (float32 on the module's device
unless given), so trace after ``.to(...)``, and do not trace a module in training mode whose train-mode path
differs (batch norm). ``torch.export`` (see ``tests/test_export.py``) is the modern alternative and needs none
of this.

>>> import torch
>>> from steertorch import o3
>>> from steertorch.util.jit import script
>>> class Block(torch.nn.Module):
...     def __init__(self):
...         super().__init__()
...         self.lin = o3.Linear("2x0e + 1o", "0e + 2x1o")
...     def forward(self, x: torch.Tensor) -> torch.Tensor:
...         return self.lin(x).tanh()
>>> scripted = script(Block())
>>> scripted(torch.randn(7, 5)).shape
torch.Size([7, 7])
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..o3 import Irreps

__all__ = ["compile", "compile_mode", "get_compile_mode", "get_tracing_inputs", "trace_module", "trace", "script",
           "get_optimization_defaults", "set_optimization_defaults", "disable_e3nn_codegen"]

_MODES = ("trace", "script", "unsupported", None)
_OPTIMIZATION_DEFAULTS = {"specialized_code": True, "optimize_einsums": True, "jit_script_fx": True,
                          "jit_mode": "eager"}


def get_optimization_defaults() -> dict:
    """e3nn's code-generation switches (accepted, stored, and without effect: steertorch generates no code)."""
    return dict(_OPTIMIZATION_DEFAULTS)


def set_optimization_defaults(**kwargs: Any) -> None:
    """Set e3nn's code-generation switches (unknown names raise ``ValueError``, as in e3nn); no effect here."""
    for key in kwargs:
        if key not in _OPTIMIZATION_DEFAULTS:
            raise ValueError(f"unknown optimization option {key!r}; options: {sorted(_OPTIMIZATION_DEFAULTS)}")
    _OPTIMIZATION_DEFAULTS.update(kwargs)


@contextlib.contextmanager
def disable_e3nn_codegen():
    """e3nn's context manager that turns its generated code off; steertorch generates none (nothing to do)."""
    yield
_ATTR = "_steertorch_compile_mode"


def compile_mode(mode: str | None) -> Callable[[type], type]:
    """Class decorator: how :func:`compile` treats the class (``"trace"``, ``"script"``, ``"unsupported"``
    or ``None``: leave it, compile its children)."""
    if mode not in _MODES:
        raise ValueError(f"compile_mode must be one of {_MODES}, got {mode!r}")

    def decorate(cls: type) -> type:
        if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
            raise TypeError(f"compile_mode decorates torch.nn.Module classes, got {cls!r}")
        setattr(cls, _ATTR, mode)
        return cls

    return decorate


def get_compile_mode(mod: nn.Module) -> str | None:
    """The compile mode of ``mod``: its class's :func:`compile_mode`, else ``"trace"`` for steertorch modules
    on irreps features (an ``irreps_in`` or ``irreps_in1``), else e3nn's own marker if any, else ``None``."""
    cls = type(mod)
    if _ATTR in vars(cls) or any(_ATTR in vars(base) for base in cls.__mro__[1:]):
        return getattr(cls, _ATTR)
    if cls.__module__.startswith("steertorch.") and (hasattr(mod, "irreps_in") or hasattr(mod, "irreps_in1")):
        return "trace"
    return getattr(mod, "_e3nn_compile_mode", None)


def _parameter_like(mod: nn.Module, device: torch.device | None, dtype: torch.dtype | None) -> tuple:
    p = next(iter(mod.parameters()), None)
    if p is None:
        p = next((b for b in mod.buffers() if b.is_floating_point()), None)
    return (device or (p.device if p is not None else torch.device("cpu")),
            dtype or (p.dtype if p is not None and p.is_floating_point() else torch.get_default_dtype()))


def get_tracing_inputs(mod: nn.Module, n: int = 1, device: torch.device | None = None,
                       dtype: torch.dtype | None = None) -> list[dict[str, tuple]]:
    """``n`` sets of random inputs ``{"forward": (args...)}`` for tracing ``mod`` (with different batch sizes,
    so a trace that fixed the batch size fails its check). A module may define ``_make_tracing_inputs(n)``;
    otherwise its ``irreps_in`` (or ``irreps_in1``, ``irreps_in2`` and, for external weights,
    ``weight_numel``) give the shapes."""
    if hasattr(mod, "_make_tracing_inputs"):
        return mod._make_tracing_inputs(n)
    device, dtype = _parameter_like(mod, device, dtype)
    dims = []
    if hasattr(mod, "irreps_in1"):
        dims = [mod.irreps_in1.dim, mod.irreps_in2.dim]
        if not getattr(mod, "internal_weights", True) and getattr(mod, "weight_numel", 0):
            dims.append(mod.weight_numel)
    elif hasattr(mod, "irreps_in"):
        irreps = mod.irreps_in
        dims = [Irreps(i).dim for i in irreps] if isinstance(irreps, list) else [Irreps(irreps).dim]
    else:
        raise ValueError(f"get_tracing_inputs: cannot make inputs for {type(mod).__name__} (no irreps_in); define "
                         f"_make_tracing_inputs(n) on it")
    g = torch.Generator().manual_seed(0)
    return [{"forward": tuple(torch.randn(3 + k, d, generator=g, dtype=dtype).to(device) for d in dims)}
            for k in range(n)]


def trace_module(mod: nn.Module, inputs: dict | None = None, check_inputs: list | None = None,
                 in_place: bool = True) -> torch.jit.ScriptModule:
    """Compile ``mod``'s children, then ``torch.jit.trace_module`` it on ``inputs`` (default: random inputs of
    :func:`get_tracing_inputs`) and check the trace on ``check_inputs``."""
    mod = _compile_children(mod if in_place else copy.deepcopy(mod))
    if inputs is None:
        sets = get_tracing_inputs(mod, 2, dtype=_float_dtype(mod))
        inputs, check_inputs = sets[0], (check_inputs if check_inputs is not None else sets[1:])
    return torch.jit.trace_module(mod, inputs, check_inputs=check_inputs)


def trace(mod: nn.Module, example_inputs: tuple | None = None, check_inputs: list | None = None,
          in_place: bool = True) -> torch.jit.ScriptModule:
    """:func:`trace_module` of ``forward`` on positional ``example_inputs``."""
    return trace_module(mod, None if example_inputs is None else {"forward": tuple(example_inputs)},
                        None if check_inputs is None else [{"forward": tuple(c)} for c in check_inputs], in_place)


def script(mod: nn.Module, in_place: bool = True) -> torch.jit.ScriptModule:
    """Compile ``mod``'s children (:func:`compile`), then ``torch.jit.script`` the whole model."""
    return torch.jit.script(_compile_children(mod if in_place else copy.deepcopy(mod)))


def compile(mod: nn.Module, n_trace_checks: int = 1, script_options: dict | None = None,
            trace_options: dict | None = None, in_place: bool = True, recurse: bool = True, *,
            dtype: torch.dtype | None = None) -> nn.Module:
    """Replace, bottom-up, the submodules of ``mod`` by their traces or scripts according to their compile mode
    (:func:`get_compile_mode`), then ``mod`` itself. ``in_place=False`` works on a deep copy. ``dtype``: of the
    tracing inputs of modules without floating-point parameters or buffers (default: the first floating-point
    parameter's of ``mod``, so a ``.double()`` model traces its parameter-free gates in float64)."""
    if not in_place:
        mod = copy.deepcopy(mod)
    dtype = dtype or _float_dtype(mod)
    mode = get_compile_mode(mod)
    if mode == "unsupported":
        raise NotImplementedError(f"{type(mod).__name__} cannot be compiled with TorchScript")
    if recurse and mode != "trace":  # a trace records the children's operations itself
        _compile_children(mod, n_trace_checks, script_options, trace_options, dtype)
    if mode is None:
        return mod
    if mode == "script":
        return torch.jit.script(mod, **(script_options or {}))
    sets = get_tracing_inputs(mod, 1 + n_trace_checks, dtype=_float_dtype(mod) or dtype)
    return torch.jit.trace_module(mod, sets[0], check_inputs=sets[1:], **(trace_options or {}))


def _float_dtype(mod: nn.Module) -> torch.dtype | None:
    for t in (*mod.parameters(), *mod.buffers()):
        if t.is_floating_point():
            return t.dtype
    return None


def _compile_children(mod: nn.Module, n_trace_checks: int = 1, script_options: dict | None = None,
                      trace_options: dict | None = None, dtype: torch.dtype | None = None) -> nn.Module:
    dtype = dtype or _float_dtype(mod)
    for name, child in list(mod.named_children()):
        if not isinstance(child, torch.jit.ScriptModule):
            setattr(mod, name, compile(child, n_trace_checks, script_options, trace_options, True, True, dtype=dtype))
    return mod
