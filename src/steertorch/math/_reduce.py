r"""Index symmetries of a tensor, e3nn's ``germinate_formulas`` and ``reduce_permutation``.

A formula such as ``"ij=-ji"`` says that the tensor is invariant under a signed permutation of
its indices. :func:`germinate_formulas` closes the permutations given into a group;
:func:`reduce_permutation` gives an orthonormal basis ``Q [d, *dims]`` of the tensors with those
symmetries, one basis tensor per orbit of index tuples (orbits on which the symmetries force 0
are dropped). The order of the basis is e3nn's, so ``Q`` equals e3nn's. (The O(3)-equivariant
reduction of such tensors is :class:`~steertorch.o3.ReducedTensorProducts`.)
"""

from __future__ import annotations

import itertools

import torch

from . import perm

__all__ = ["germinate_formulas", "reduce_permutation"]

SignedPerm = tuple[int, tuple[int, ...]]


def germinate_formulas(formula: str) -> tuple[str, set[SignedPerm]]:
    """``(f0, group)``: the first term's indices and the group of signed permutations ``(sign, p)`` that the
    formula generates (term f is the permutation ``p[k] = f.index(f0[k])``).

    >>> f0, group = germinate_formulas("ijk=jik=ikj")
    >>> f0, len(group)
    ('ijk', 6)
    """
    terms = [(-1 if t.startswith("-") else 1, t.replace("-", "")) for t in formula.split("=")]
    s0, f0 = terms[0]
    if s0 != 1:
        raise ValueError(f"the first term of formula {formula!r} must have no sign")
    for _, f in terms:
        if len(f) != len(f0) or len(set(f)) != len(f) or set(f) != set(f0):
            raise ValueError(f"{f!r} is not a permutation of {f0!r} in formula {formula!r}")
    group = {(s, tuple(f.index(i) for i in f0)) for s, f in terms}
    while True:
        size = len(group)
        group |= {(s, perm.inverse(p)) for s, p in group}
        group |= {(s1 * s2, perm.compose(p1, p2)) for s1, p1 in group for s2, p2 in group}
        if len(group) == size:
            return f0, group


def reduce_permutation(f0: str, formulas: set[SignedPerm], dtype: torch.dtype | None = None,
                       device: torch.device | str | None = None, **dims: int) -> tuple[torch.Tensor, list]:
    r"""Orthonormal basis ``Q [d_sym, *dims]`` of the tensors invariant under the signed permutations
    ``formulas`` (from :func:`germinate_formulas`), and for each basis tensor its orbit, a list of
    ``(sign, index tuple)``: :math:`Q_i = \sum_{(s, x) \in \text{orbit}_i} s\, e_x / \sqrt{|\text{orbit}_i|}`.
    ``dims`` gives the size of each index (indices exchanged by a symmetry share it).

    >>> Q, orbits = reduce_permutation(*germinate_formulas("ij=-ji"), i=2)
    >>> Q.shape, orbits
    (torch.Size([1, 2, 2]), [[(-1, (0, 1)), (1, (1, 0))]])
    """
    dims = dict(dims)
    for _, p in formulas:
        for k, j in enumerate(p):
            a, b = f0[k], f0[j]
            if a in dims and b in dims and dims[a] != dims[b]:
                raise ValueError(f"indices {a!r} and {b!r} are exchanged by a symmetry but have sizes "
                                 f"{dims[a]} and {dims[b]}")
            if a in dims or b in dims:
                dims[a] = dims[b] = dims.get(a, dims.get(b))
    missing = [i for i in f0 if i not in dims]
    if missing:
        raise ValueError(f"indices {missing} of {f0!r} have no size: pass them as keywords, e.g. {missing[0]}=3")
    sizes = [dims[i] for i in f0]

    pairs = set()
    for x in itertools.product(*(range(d) for d in sizes)):
        orbit = frozenset((s, tuple(x[i] for i in p)) for s, p in formulas)
        if (-1, x) in orbit:  # T[x] = -T[x]: this coefficient is 0
            continue
        pairs.add(frozenset({orbit, frozenset((-s, y) for s, y in orbit)}))  # the overall sign is free
    ordered = sorted(sorted(sorted(orbit) for orbit in pair) for pair in pairs)

    q = torch.zeros(len(ordered), *sizes, dtype=dtype, device=device)
    chosen = []
    for i, pair in enumerate(ordered):
        orbit = max(pair, key=lambda o: sum(s for s, _ in o))  # the sign with most + (the first on a tie)
        chosen.append(orbit)
        for s, y in orbit:
            q[(i, *y)] = s / len(orbit) ** 0.5
    return q, chosen
