r"""e3nn's ``e3nn.util.test`` on steertorch: equivariance checks of functions of O(3) irreps features and 3D points
with e3nn's signatures and results.

For a function :math:`f(a_1, \dots, a_n) = (b_1, \dots, b_m)` whose arguments and results are irreps features (or
``"cartesian_points"``, or ``None``: not transformed), a random rotation :math:`R` (times :math:`-1`: the parity
test) and translation :math:`t` give the errors

.. math::

    \max |f(g a_1, \dots, g a_n)_k - g\, f(a_1, \dots, a_n)_k|, \qquad g x = D(R) x \ \text{or}\ R x + t,

per result k, keyed ``(parity_k, did_translate)``. steertorch's own :func:`steertorch.testing.assert_equivariant`
tests any group; this module keeps e3nn's calling convention for e3nn code.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..group._rotation import rand_matrix
from ..o3 import Irreps

__all__ = ["assert_equivariant", "equivariance_error", "random_irreps", "format_equivariance_error",
           "FLOAT_TOLERANCE", "assert_normalized", "assert_auto_jitable", "assert_torch_compile", "set_random_seeds"]

FLOAT_TOLERANCE = {t: torch.as_tensor(v, dtype=t) for t, v in {torch.float32: 1e-3, torch.float64: 1e-9}.items()}
_SPECIAL = ("cartesian_points", None)


def _one(x: Any) -> Any:
    if x is None or (isinstance(x, str) and x == "cartesian_points"):
        return x
    return Irreps(x)


def _as_list(x: Any) -> list:
    if x is None or isinstance(x, (str, Irreps)):
        return [_one(x)]
    if isinstance(x, (list, tuple)):
        try:  # a list of (mul, ir) pairs is one irreps, as in e3nn
            if x and all(isinstance(i, tuple) and len(i) == 2 and isinstance(i[0], int) for i in x):
                return [Irreps(x)]
        except ValueError:
            pass
        return [_one(i) for i in x]
    return [_one(x)]


def _io_irreps(func: Callable, irreps_in: Any, irreps_out: Any) -> tuple[list, list]:
    if irreps_in is None:
        if hasattr(func, "irreps_in"):
            irreps_in = func.irreps_in
        elif hasattr(func, "irreps_in1"):
            irreps_in = [func.irreps_in1, func.irreps_in2]
        else:
            raise ValueError(f"Cannot infer irreps_in for {func!r}; provide them explicitly")
    if irreps_out is None:
        if not hasattr(func, "irreps_out"):
            raise ValueError(f"Cannot infer irreps_out for {func!r}; provide them explicitly")
        irreps_out = func.irreps_out
    return _as_list(irreps_in), _as_list(irreps_out)


def _rand_args(irreps_in: list, batch_size: int | None = None) -> list[torch.Tensor]:
    if any(i is None for i in irreps_in):
        raise ValueError("Random arguments cannot be generated when argument types besides Irreps and "
                         "'cartesian_points' are specified; provide explicit args_in")
    n = random.randint(1, 4) if batch_size is None else batch_size
    return [torch.randn(n, 3) if i == "cartesian_points" else torch.randn(n, i.dim) for i in irreps_in]


def _transform(args: Sequence[torch.Tensor], irreps: list, R: torch.Tensor, t: torch.Tensor | float,
               to_transform_dtype: bool = False) -> list[torch.Tensor]:
    out = []
    for rep, a in zip(irreps, args):
        dtype = R.dtype if to_transform_dtype else a.dtype
        if rep is None:
            out.append(a.clone())
        elif rep == "cartesian_points":
            b = a.to(R.dtype) @ R.T.to(a.device) + torch.as_tensor(t, dtype=R.dtype, device=a.device)
            out.append(b.to(dtype))
        else:
            out.append((a.to(R.dtype) @ rep.D_from_matrix(R).T.to(a.device)).to(dtype))
    return out


def _outputs(y: Any) -> list[torch.Tensor]:
    if isinstance(y, torch.Tensor):
        return [y]
    if isinstance(y, (list, tuple)):
        return list(y)
    raise TypeError(f"equivariance_error cannot handle output type {type(y)}")


def equivariance_error(func: Callable, args_in: Sequence[torch.Tensor], irreps_in: Any = None, irreps_out: Any = None,
                       ntrials: int = 1, do_parity: bool = True, do_translation: bool = True,
                       transform_dtype: torch.dtype = torch.float64) -> dict[tuple[int, bool], torch.Tensor]:
    r"""The largest equivariance error of each output of ``func`` over ``ntrials`` random transformations, per
    test ``(parity_k, did_translate)`` (e3nn's ``equivariance_error``).

    ``irreps_in`` / ``irreps_out``: one entry per argument / result, each irreps, ``"cartesian_points"`` (rotated
    and translated) or None (left alone); inferred from ``func.irreps_in`` (or ``irreps_in1``, ``irreps_in2``) and
    ``func.irreps_out`` when not given. Transformations are built and applied in ``transform_dtype``; parity
    (``R -> -R``) is tested with ``do_parity``, translations of points with ``do_translation``.

    >>> import torch
    >>> err = equivariance_error(lambda x: 2 * x, [torch.randn(3, 3)], irreps_in="1o", irreps_out="1o")
    >>> sorted(err), bool(max(float(e.max()) for e in err.values()) < 1e-6)
    ([(0, False), (1, False)], True)
    """
    irreps_in, irreps_out = _io_irreps(func, irreps_in, irreps_out)
    if len(args_in) != len(irreps_in):
        raise ValueError(f"irreps_in ({len(irreps_in)} entries) and args_in ({len(args_in)}) don't match in length")
    parities = [0, 1] if do_parity else [0]
    translations = [False, True] if do_translation and "cartesian_points" in irreps_in else [False]
    device = next(a.device for a in args_in if isinstance(a, torch.Tensor))
    tests = [(k, tr) for k in parities for tr in translations]
    worst = {test: torch.full((len(irreps_out),), -float("inf"), dtype=transform_dtype, device=device)
             for test in tests}
    for _ in range(ntrials):
        for parity_k, translate in tests:
            R = rand_matrix(dtype=transform_dtype) * (-1) ** parity_k
            t = 10 * torch.randn(1, 3, dtype=transform_dtype) if translate else 0.0
            y1 = [y.detach().to(transform_dtype) for y in _outputs(func(*_transform(args_in, irreps_in, R, t)))]
            y2 = [y.detach() for y in _outputs(func(*args_in))]
            if not len(y1) == len(y2) == len(irreps_out):
                raise ValueError(f"func returned {len(y2)} outputs, irreps_out has {len(irreps_out)} entries")
            y2 = _transform(y2, irreps_out, R, t, to_transform_dtype=True)
            errors = torch.stack([(a - b).abs().max() if a.numel() else a.new_zeros(()) for a, b in zip(y1, y2)])
            worst[parity_k, translate] = torch.maximum(errors.to(device), worst[parity_k, translate])
    return {k: v.to(torch.get_default_dtype()) for k, v in worst.items()}


def format_equivariance_error(errors: dict) -> str:
    """One line per test of :func:`equivariance_error`'s result: the largest error and the output it is in.

    >>> format_equivariance_error({(0, False): torch.tensor([1e-3, 2e-3])})
    '(parity_k=0, did_translate=False) -> max error=2.000e-03 in argument 1'
    """
    return "\n".join(f"(parity_k={int(k[0]):d}, did_translate={bool(k[1])}) -> max error={float(v.max()):.3e} in "
                     f"argument {int(v.argmax())}" for k, v in errors.items())


def assert_equivariant(func: Callable, args_in: Sequence[torch.Tensor] | None = None, irreps_in: Any = None,
                       irreps_out: Any = None, tolerance: float | None = None, **kwargs: Any
                       ) -> dict[tuple[int, bool], torch.Tensor]:
    r"""Assert that ``func`` is O(3) (and, for points, translation) equivariant (e3nn's ``assert_equivariant``).

    ``args_in`` None: random arguments (a batch of 1 to 4) from ``irreps_in``; ``tolerance`` None: 1e-3 for a
    float32, 1e-9 for a float64 default dtype. ``kwargs`` go to :func:`equivariance_error`, whose errors are
    returned. Raises ``AssertionError`` naming the tests above the tolerance.

    >>> import torch
    >>> from steertorch import o3
    >>> errors = assert_equivariant(o3.FullyConnectedTensorProduct("2x1o", "1o", "0e + 1e"))
    >>> len(errors)
    2
    """
    __tracebackhide__ = True
    irreps_in, irreps_out = _io_irreps(func, irreps_in, irreps_out)
    if args_in is None:
        args_in = _rand_args(irreps_in)
    errors = equivariance_error(func, args_in, irreps_in=irreps_in, irreps_out=irreps_out, **kwargs)
    if tolerance is None:
        tolerance = FLOAT_TOLERANCE.get(torch.get_default_dtype(), FLOAT_TOLERANCE[torch.float32])
    problems = {case: err for case, err in errors.items() if err.max() > tolerance}
    if problems:
        raise AssertionError("Largest componentwise equivariance error was too large for: "
                             + format_equivariance_error(problems))
    return errors


def random_irreps(n: int = 1, lmax: int = 4, mul_min: int = 0, mul_max: int = 5, len_min: int = 0, len_max: int = 4,
                  clean: bool = False, allow_empty: bool = True) -> Any:
    """Random irreps for tests (e3nn's ``random_irreps``): ``n`` of them (a list when n > 1), each of
    ``len_min..len_max`` blocks ``mul x (l, p)`` with ``mul`` in ``mul_min..mul_max`` and ``l <= lmax``; as
    ``Irreps`` when ``clean``, else an ``Irreps``, its string or its list of ``(mul, (l, p))`` at random.

    >>> isinstance(random_irreps(clean=True), Irreps)
    True
    """
    if n < 1 or lmax < 0 or mul_min < 0 or mul_max < mul_min:
        raise ValueError(f"random_irreps: need n >= 1, lmax >= 0, 0 <= mul_min <= mul_max, got n={n}, lmax={lmax}, "
                         f"mul_min={mul_min}, mul_max={mul_max}")
    if not allow_empty and len_min == 0:
        len_min = 1
    if len_min < 0 or len_max < len_min:
        raise ValueError(f"random_irreps: need 0 <= len_min <= len_max, got {len_min}, {len_max}")
    out = []
    for _ in range(n):
        items = [(random.randint(mul_min, mul_max), (random.randint(0, lmax), random.choice((1, -1))))
                 for _ in range(random.randint(len_min, len_max))]
        if not allow_empty and all(mul == 0 for mul, _ in items):
            items[-1] = (random.randint(max(mul_min, 1), max(mul_max, 1)), items[-1][1])
        irreps = Irreps(items)
        kind = "irreps" if clean else random.choice(("irreps", "str", "list"))
        out.append(irreps if kind == "irreps" else repr(irreps) if kind == "str" else
                   [(mul_ir.mul, (mul_ir.ir.l, mul_ir.ir.p)) for mul_ir in irreps])
    return out[0] if n == 1 else out


def set_random_seeds() -> None:
    """Seed Python's, numpy's and torch's random generators (0), as e3nn's helper does."""
    import numpy as np

    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


def assert_normalized(func: torch.nn.Module, irreps_in: Any = None, irreps_out: Any = None,
                      normalization: str = "component", n_input: int = 10_000, n_weight: int | None = None,
                      weights: Any = None, atol: float = 0.1) -> None:
    r"""Assert that ``func`` keeps unit second moments: inputs with :math:`E[x_i^2] = 1` (``"component"``) or
    :math:`E[|x_{block}|^2] = 1` (``"norm"``) give outputs with the same, averaged over ``n_input`` samples and
    ``n_weight`` re-draws of ``weights`` (default: ``func.parameters()``, drawn from N(0, 1)); every output
    block's mean square is within ``atol`` of its target (e3nn's ``assert_normalized``).

    >>> from steertorch import o3
    >>> _ = torch.manual_seed(0)
    >>> assert_normalized(o3.Linear("4x0e + 2x1o", "3x0e + 2x1o"), n_input=500, n_weight=200)
    """
    __tracebackhide__ = True
    if normalization not in ("component", "norm"):
        raise ValueError(f"invalid normalization {normalization!r}")
    irreps_in, irreps_out = _io_irreps(func, irreps_in, irreps_out)
    if all(i.num_irreps == 0 for i in irreps_in if isinstance(i, Irreps)) or \
            all(i.num_irreps == 0 for i in irreps_out if isinstance(i, Irreps)):
        return
    weights = list(func.parameters() if weights is None and isinstance(func, torch.nn.Module) else weights or [])
    if not weights and n_weight not in (None, 1):
        raise ValueError("assert_normalized: without weights to re-draw, n_weight must be 1 or None")
    n_weight = 1 if not weights else (20 if n_weight is None else n_weight)
    sums = [None] * len(irreps_out)
    with torch.no_grad():
        for _ in range(n_weight):
            for p in weights:
                p.normal_()
            args = _rand_args(irreps_in, batch_size=n_input)
            if normalization == "norm":
                for a, irreps in zip(args, irreps_in):
                    if isinstance(irreps, Irreps):
                        for (_, ir), sl in zip(irreps, irreps.slices()):
                            a[:, sl] /= ir.dim ** 0.5
            outs = _outputs(func(*args))
            if len(outs) != len(irreps_out):
                raise AssertionError(f"expected {len(irreps_out)} outputs, got {len(outs)}")
            for k, o in enumerate(outs):
                sq = o.pow(2).sum(0)
                sums[k] = sq if sums[k] is None else sums[k] + sq
    for total, irreps in zip(sums, irreps_out):
        if not isinstance(irreps, Irreps):
            continue
        mean_square = total / (n_weight * n_input)
        for (_, ir), sl in zip(irreps, irreps.slices()):
            if sl.stop == sl.start:
                continue
            target = 1.0 if normalization == "component" else 1.0 / ir.dim
            got = mean_square[sl]
            if normalization == "norm":
                got = got.reshape(-1, ir.dim).sum(-1) / ir.dim
            bad = (got - target).abs() > atol
            if bool(bad.any()):
                raise AssertionError(f"the mean squares of output block {ir} are {got.tolist()}, expected {target} "
                                     f"(+- {atol})")


def assert_auto_jitable(func: torch.nn.Module, error_on_warnings: bool = True, n_trace_checks: int = 2,
                        strict_shapes: bool = True) -> torch.jit.ScriptModule:
    """Compile ``func`` with :func:`steertorch.util.jit.compile` (traced on random inputs of its irreps) and assert
    that the compiled module computes what ``func`` computes on new inputs; returns it (e3nn's
    ``assert_auto_jitable``). The tracer's warnings about steertorch's own input checks (constant under a trace:
    the feature sizes are fixed) are not errors; ``strict_shapes`` is accepted for e3nn's signature (a trace
    does not re-check feature sizes).

    >>> from steertorch import o3
    >>> traced = assert_auto_jitable(o3.Linear("2x0e + 1o", "1x0e + 2x1o"))
    """
    __tracebackhide__ = True
    import warnings

    from .jit import compile as jit_compile
    from .jit import get_compile_mode, get_tracing_inputs

    if get_compile_mode(func) is None:
        raise ValueError("assert_auto_jitable is for modules with a compile mode (steertorch's irreps modules, or "
                         "a class marked with steertorch.util.jit.compile_mode)")
    with warnings.catch_warnings():
        if error_on_warnings:
            warnings.filterwarnings("error", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning, module=r"steertorch\..*")
        compiled = jit_compile(func, n_trace_checks=n_trace_checks, in_place=False)
    for inputs in get_tracing_inputs(func, 2 + n_trace_checks):
        for got, expected in zip(_outputs(compiled(*inputs["forward"])), _outputs(func(*inputs["forward"]))):
            torch.testing.assert_close(got, expected)
    return compiled


def assert_torch_compile(compile_mode: str, func: Callable, *args: Any, **kwargs: Any) -> None:
    """Assert that ``torch.compile(func, fullgraph=True)`` runs and gives ``func``'s results on ``args``
    (e3nn's ``assert_torch_compile``; ``compile_mode`` is accepted for e3nn's signature)."""
    __tracebackhide__ = True
    compiled = torch.compile(func, fullgraph=True)
    for got, expected in zip(_outputs(compiled(*args, **kwargs)), _outputs(func(*args, **kwargs))):
        torch.testing.assert_close(got, expected)
