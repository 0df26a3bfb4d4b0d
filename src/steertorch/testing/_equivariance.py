r"""Equivariance checks for any function of tensors: sample group elements, transform the
inputs and the outputs, compare.

A function :math:`f` is equivariant when :math:`f(\rho_\mathrm{in}(g)\, x) = \rho_\mathrm{out}(g)\, f(x)`
for every group element :math:`g`. Features are ``[..., dim]`` tensors (the last dimension
carries the representation), so :math:`\rho(g)\, x` is ``x @ rho(g).T``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..group import Group

__all__ = ["assert_equivariant", "equivariance_error", "random_elements", "CARTESIAN_POINTS"]

#: the ``in_reps`` / ``out_reps`` entry for positions ``[..., n]`` moved by the standard action ``G.matrix(g)``
CARTESIAN_POINTS = "cartesian_points"


class _default_dtype:
    """Context manager: ``dtype`` as torch's default dtype (finite groups build their tables in it)."""

    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype

    def __enter__(self) -> None:
        self._old = torch.get_default_dtype()
        if self.dtype.is_floating_point:
            torch.set_default_dtype(self.dtype)

    def __exit__(self, *exc: object) -> None:
        torch.set_default_dtype(self._old)


def random_elements(group: Group, n: int, dtype: torch.dtype = torch.float64,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` elements of ``group`` drawn from its Haar measure.

    Continuous groups give matrices ``[n, *element_shape]`` in ``dtype``; finite groups
    give ``torch.long`` indices ``[n]`` (``dtype`` does not apply).

    >>> from steertorch.group import so3_group, cyclic_group
    >>> g = random_elements(so3_group(), 4, generator=torch.Generator().manual_seed(0))
    >>> g.shape, g.dtype
    (torch.Size([4, 3, 3]), torch.float64)
    >>> random_elements(cyclic_group(8), 5).dtype
    torch.int64
    """
    if not isinstance(group, Group):
        raise ValueError(f"expected a steertorch.group.Group, got {type(group).__name__}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be an int >= 0, got {n!r}")
    if group.is_finite:
        return group.sample(n, generator=generator)
    with _default_dtype(dtype):
        return group.sample(n, generator=generator, dtype=dtype)


def _is_points(rep: Any) -> bool:
    return isinstance(rep, str) and rep == CARTESIAN_POINTS


def _as_list(x: Any) -> list:
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


def _resolve_rep(rep: Any, group: Group, what: str) -> Any:
    """None, CARTESIAN_POINTS, a callable ``g -> [..., d, d]`` (a Representation), or O(3) irreps (a string
    such as ``"2x0e + 1o"`` or an iterable of ``(mul, ir)`` such as e3nn's ``Irreps``)."""
    if rep is None or _is_points(rep):
        return rep
    if isinstance(rep, str) or (not callable(rep) and hasattr(rep, "__iter__")):  # irreps: "1o", e3nn Irreps
        if group.name not in ("SO(3)", "O(3)"):
            raise ValueError(
                f"{what}: the string {rep!r} is not understood for {group.name}: give a Representation, None or "
                f"{CARTESIAN_POINTS!r} (irreps strings such as '2x0e + 1o' are accepted for SO(3) and O(3) only)"
            )
        from ..group import directsum
        from ..o3 import parse_irreps

        irreps = []
        for mul, (l, p) in parse_irreps(rep):
            psi = group.irrep(l) if group.name == "SO(3)" else group.irrep(l, p)
            irreps += [psi] * mul
        if not irreps:
            raise ValueError(f"{what}: the irreps string {rep!r} is empty")
        return directsum(*irreps)
    if callable(rep):
        return rep
    raise ValueError(f"{what}: expected a Representation, None or {CARTESIAN_POINTS!r}, got {type(rep).__name__}")


def _rep_size(rep: Any, group: Group) -> int:
    if _is_points(rep):
        return group.ambient_dim
    size = getattr(rep, "size", None)
    if isinstance(size, int):
        return size
    raise ValueError(f"cannot tell the size of {rep!r}: pass inputs explicitly")


def _matrices(rep: Any, group: Group, g: torch.Tensor, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``[n, d, d]`` matrices of ``rep`` (or of the standard action) at the elements ``g``."""
    with _default_dtype(dtype):
        m = group.matrix(g) if _is_points(rep) else rep(g)
    if not isinstance(m, torch.Tensor) or m.dim() < 2 or m.shape[-1] != m.shape[-2]:
        raise ValueError(f"the representation {rep!r} must return square matrices [..., d, d], got "
                         f"{getattr(m, 'shape', type(m).__name__)}")
    return m.to(dtype=dtype, device=device)


def _act(m: torch.Tensor, x: torch.Tensor, rep: Any, what: str) -> torch.Tensor:
    if x.dim() == 0 or x.shape[-1] != m.shape[-1]:
        raise ValueError(f"{what} has shape {list(x.shape)} but its representation {rep!r} has dimension "
                         f"{m.shape[-1]} (features are the last dimension)")
    return x @ m.to(x.dtype).T


def _call(fn: Callable, args: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    out = fn(*args)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    for i, o in enumerate(outs):
        if not isinstance(o, torch.Tensor):
            raise ValueError(f"fn must return a tensor or a tuple of tensors, output {i} is {type(o).__name__}")
    return outs


def equivariance_error(
    fn: Callable[..., Any],
    group: Group,
    in_reps: Any,
    out_reps: Any,
    n_samples: int = 8,
    generator: torch.Generator | None = None,
    inputs: Any = None,
    *,
    elements: torch.Tensor | None = None,
    batch: int = 4,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Equivariance errors of ``fn`` for sampled group elements, without asserting.

    For each element g returns
    :math:`\max |f(\rho_\mathrm{in}(g) x) - \rho_\mathrm{out}(g) f(x)|` per output.
    Arguments are those of :func:`assert_equivariant`.

    Returns:
        ``(errors, elements)``: ``errors`` ``[n_samples, n_outputs]`` (float64) and the
        elements tested.

    >>> from steertorch.group import so3_group
    >>> G = so3_group()
    >>> errors, g = equivariance_error(lambda x: 2 * x, G, [G.irrep(1)], [G.irrep(1)], n_samples=3)
    >>> errors.shape, bool(errors.max() < 1e-12)
    (torch.Size([3, 1]), True)
    """
    if not isinstance(group, Group):
        raise ValueError(f"expected a steertorch.group.Group, got {type(group).__name__}")
    in_list = [_resolve_rep(r, group, f"in_reps[{i}]") for i, r in enumerate(_as_list(in_reps))]
    out_list = [_resolve_rep(r, group, f"out_reps[{i}]") for i, r in enumerate(_as_list(out_reps))]

    # ---------------------------------------------------------------- inputs
    if inputs is None:
        args = []
        for i, rep in enumerate(in_list):
            if rep is None:
                raise ValueError(f"in_reps[{i}] is None (an untouched argument): pass inputs= explicitly")
            args.append(torch.randn(batch, _rep_size(rep, group), generator=generator, dtype=dtype,
                                    device=device))
    else:
        args = _as_list(inputs)
        if len(args) != len(in_list):
            raise ValueError(f"got {len(args)} inputs but {len(in_list)} in_reps")
        args = [a.to(dtype=dtype, device=device) if isinstance(a, torch.Tensor) and a.is_floating_point()
                else a for a in args]
    dev = next((a.device for a in args if isinstance(a, torch.Tensor)), torch.device(device or "cpu"))
    for i, (a, rep) in enumerate(zip(args, in_list)):
        if rep is not None and not (isinstance(a, torch.Tensor) and a.is_floating_point()):
            raise ValueError(f"input {i} has a representation, so it must be a floating point tensor, got "
                             f"{getattr(a, 'dtype', type(a).__name__)}")

    # ---------------------------------------------------------------- elements
    if elements is None:
        if group.is_finite and group.order <= n_samples:
            elements = group.elements()  # small finite group: test every element
        else:
            elements = random_elements(group, n_samples, dtype=dtype, generator=generator)
    else:
        elements = group.check_element(elements)
        elements = elements.reshape(-1, *group.element_shape)
        if elements.is_floating_point():
            elements = elements.to(dtype)
    elements = elements.to(dev)
    n = elements.shape[0]

    mats_in = [None if r is None else _matrices(r, group, elements, dtype, dev) for r in in_list]
    mats_out = [None if r is None else _matrices(r, group, elements, dtype, dev) for r in out_list]

    # ---------------------------------------------------------------- compare
    outs = _call(fn, args)
    if len(outs) != len(out_list):
        raise ValueError(f"fn returned {len(outs)} outputs but {len(out_list)} out_reps were given")
    errors = torch.zeros(n, len(outs), dtype=torch.float64)
    for k in range(n):
        moved = [a if m is None else _act(m[k], a, rep, f"input {i}")
                 for i, (a, m, rep) in enumerate(zip(args, mats_in, in_list))]
        outs_moved = _call(fn, moved)
        for j, (y, y_moved, m, rep) in enumerate(zip(outs, outs_moved, mats_out, out_list)):
            expected = y if m is None else _act(m[k], y, rep, f"output {j}")
            if y_moved.shape != expected.shape:
                raise ValueError(f"output {j} has shape {list(y_moved.shape)} for transformed inputs but "
                                 f"{list(expected.shape)} for the original ones")
            diff = (y_moved - expected).abs()
            errors[k, j] = diff.max().to(torch.float64) if diff.numel() else 0.0
            if diff.numel() and bool(torch.isnan(diff).any()):
                errors[k, j] = float("nan")
    return errors, elements


def assert_equivariant(
    fn: Callable[..., Any],
    group: Group,
    in_reps: Any,
    out_reps: Any,
    n_samples: int = 8,
    atol: float = 1e-10,
    generator: torch.Generator | None = None,
    inputs: Any = None,
    *,
    elements: torch.Tensor | None = None,
    batch: int = 4,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> float:
    r"""Assert :math:`f(\rho_\mathrm{in}(g)\, x) = \rho_\mathrm{out}(g)\, f(x)` for random group elements.

    Args:
        fn: the function (or ``torch.nn.Module``) to test; it takes one tensor per entry
            of ``in_reps`` and returns a tensor or a tuple of tensors, one per entry of
            ``out_reps``. Features are in the last dimension: :math:`\rho(g)\,x` is
            ``x @ rho(g).T``. Cast modules to ``dtype`` first (``model.double()``).
        group: a :class:`steertorch.group.Group`.
        in_reps, out_reps: a list (or a single entry) of: a
            :class:`~steertorch.group.Representation` (any callable ``g -> [..., d, d]``);
            ``None`` for an argument that does not transform (invariant, or integer data
            such as edge indices); ``"cartesian_points"`` for positions ``[..., n]`` moved
            by the group's standard action ``group.matrix(g)``; for SO(3) / O(3) also
            irreps, a string such as ``"8x0e + 4x1o"`` or an e3nn ``Irreps`` (e3nn's
            layout).
        n_samples: how many group elements to test (a finite group of order at most
            ``n_samples`` is tested on every element).
        atol: the largest absolute error accepted.
        generator: random generator for the elements and inputs (reproducible tests).
        inputs: the arguments (a tensor or a tuple); by default ``randn(batch, rep.size)``
            for each input. Floating point inputs are cast to ``dtype``.
        elements: test these elements instead of random ones (e.g. the 90-degree
            rotations of a grid).
        batch, dtype, device: shape, precision and device of the generated inputs.

    Returns:
        The largest error (float). Raises ``AssertionError`` naming the group, the element
        and the error when it exceeds ``atol``.

    >>> from steertorch.group import so3_group
    >>> G = so3_group()
    >>> vec = G.irrep(1)
    >>> err = assert_equivariant(lambda x: x * x.norm(dim=-1, keepdim=True), G, [vec], [vec])
    >>> err < 1e-12
    True
    >>> shift = lambda x: x + torch.tensor([1.0, 0.0, 0.0], dtype=x.dtype)  # not equivariant
    >>> assert_equivariant(shift, G, [vec], [vec])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    AssertionError: not equivariant under SO(3): ...
    """
    errors, elements = equivariance_error(fn, group, in_reps, out_reps, n_samples, generator, inputs,
                                          elements=elements, batch=batch, dtype=dtype, device=device)
    if errors.numel() == 0:
        return 0.0
    worst = float(errors.max()) if not bool(torch.isnan(errors).any()) else float("nan")
    if not worst <= atol:
        flat = torch.nan_to_num(errors, nan=float("inf")).reshape(-1).argmax()
        k, j = divmod(int(flat), errors.shape[1])
        g = elements[k]
        shown = g.tolist() if g.dim() == 0 else [[round(v, 4) for v in row] for row in g.reshape(-1, g.shape[-1])
                                                   .tolist()]
        raise AssertionError(
            f"not equivariant under {group.name}: sample {k} of {errors.shape[0]} (element {shown}), output {j}: "
            f"max |f(g x) - g f(x)| = {float(errors[k, j]):.3e} > atol = {atol:.1e}; "
            f"errors per sample: {[f'{float(e):.1e}' for e in errors.amax(1)]}"
        )
    return worst
