r"""Tensors with index symmetries, reduced into O(3) irreps: ``ReducedTensorProducts``, ``CartesianTensor``.

A formula such as ``"ijkl=jikl=klij"`` says which signed permutations of the indices leave a
tensor :math:`T` unchanged: ``"ij=-ji"`` reads :math:`T_{ij} = -T_{ji}`. The permutations
generate a finite group :math:`G` of pairs :math:`(s, \sigma)` (sign, permutation), and the
tensors with the symmetries are the image of the orthogonal projector

.. math::

    (P T)_{i_1 \dots i_n} = \frac{1}{|G|} \sum_{(s, \sigma) \in G} s\, T_{i_{\sigma(1)} \dots i_{\sigma(n)}}.

Each index carries an O(3) representation (irreps); the whole tensor space carries their
tensor product, which :math:`P` commutes with (it only swaps indices of equal type).

Basis convention (frozen and tested; for the all-vector formulas of :class:`CartesianTensor` tested
so far it gives e3nn 0.6.0's basis exactly, but with mixed index irreps only the same span):

1. Chain couplings from left to right. The paths of the first index are its irreps copies
   (rows of the identity). Each path :math:`C` of irrep :math:`l_a` is coupled with each
   copy (in order) of the next index's irreps :math:`l_b` into every :math:`l_c` with
   :math:`|l_a - l_b| \le l_c \le l_a + l_b` in increasing order (parity :math:`p_a p_b`),
   as :math:`C'_{k, \dots, j} = \sqrt{2 l_c + 1} \sum_{a b} W_{a b k}\, C_{a, \dots}\, E_{b j}`
   with :math:`W` the unit-norm :func:`~steertorch.o3.wigner_3j`. These paths form an
   orthonormal basis of the whole tensor space, each an isometric intertwiner.
2. For each output irrep (in the order of :meth:`Irreps.sort`, so ``0o`` before ``0e``), let
   :math:`C_1, \dots, C_m` be its paths and :math:`M_{uv} = \frac{1}{2l+1}\sum_k
   \langle C_u[k], P C_v[k] \rangle`: :math:`P` acts on that isotypic part as
   :math:`M \otimes I`. Gram-Schmidt on the columns of :math:`M`, in order, gives an
   orthonormal basis :math:`x` of its image; each :math:`x` gives the block
   :math:`\sum_u x_u C_u` of the change of basis.

So the rows of ``change_of_basis`` (flattened) are orthonormal, with no random numbers and
the same result on every machine.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import torch

from .._dtype import ExactConstants, check_input_dtype
from ..group._wigner import wigner_3j
from ._irreps import Irrep, Irreps

__all__ = ["ReducedTensorProducts", "CartesianTensor"]


# ----------------------------------------------------------------------------- formulas
def _parse_formula(formula: str) -> tuple[str, tuple[tuple[int, tuple[int, ...]], ...]]:
    """The index letters of the first term and the group of signed permutations, sorted.

    A pair ``(s, p)`` means ``T == s * T.permute(p)``.
    """
    if not isinstance(formula, str):
        raise ValueError(f"formula must be a string like 'ij=-ji', got {type(formula).__name__}")
    terms = [t.strip() for t in formula.replace(" ", "").split("=")]
    if not terms or any(t in ("", "-") for t in terms):
        raise ValueError(f"formula {formula!r} has an empty term: write terms like 'ij=-ji'")
    parsed = []
    for t in terms:
        sign, letters = (-1, t[1:]) if t.startswith("-") else (1, t)
        if not letters.isalpha():
            raise ValueError(f"term {t!r} of formula {formula!r}: indices must be letters, with an optional "
                             f"leading '-'")
        if len(set(letters)) != len(letters):
            raise ValueError(f"term {t!r} of formula {formula!r} repeats an index (traces are not supported)")
        parsed.append((sign, letters))
    s0, f0 = parsed[0]
    generators = set()
    for s, f in parsed:
        if sorted(f) != sorted(f0):
            raise ValueError(f"inconsistent indices in formula {formula!r}: {f!r} is not a permutation of {f0!r}")
        generators.add((s * s0, tuple(f.index(c) for c in f0)))
    identity = tuple(range(len(f0)))
    group = {(1, identity)} | generators
    while True:
        new = {(s1 * s2, tuple(p1[i] for i in p2)) for s1, p1 in group for s2, p2 in group}
        if new <= group:
            break
        group |= new
    perms = [p for _, p in group]
    if len(set(perms)) != len(perms):
        raise ValueError(f"formula {formula!r} is contradictory: it makes the tensor equal to minus itself "
                         f"(every such tensor is zero)")
    return f0, tuple(sorted(group, key=lambda sp: sp[1]))


def _index_irreps(formula: str, f0: str, group, irreps: dict[str, object]) -> list[Irreps]:
    """The irreps of each index, propagated along the permutations (indices swapped are of one type)."""
    known: dict[str, Irreps] = {}
    for key, value in irreps.items():
        if len(key) != 1 or key not in f0:
            raise ValueError(f"irreps given for {key!r}, which is not an index of formula {formula!r}")
        known[key] = Irreps(value)
    # union of the indices exchanged by the permutations
    parent = {c: c for c in f0}

    def root(c: str) -> str:
        while parent[c] != c:
            c = parent[c]
        return c

    for _, p in group:
        for m, k in enumerate(p):
            a, b = root(f0[m]), root(f0[k])
            if a != b:
                parent[max(a, b)] = min(a, b)
    classes: dict[str, list[str]] = {}
    for c in f0:
        classes.setdefault(root(c), []).append(c)
    out: dict[str, Irreps] = {}
    for members in classes.values():
        given = {c: known[c] for c in members if c in known}
        if not given:
            raise ValueError(f"index {members[0]!r} of formula {formula!r} has no irreps: pass it as a keyword, "
                             f"e.g. {members[0]}='1o'")
        values = list(given.values())
        if any(v != values[0] for v in values):
            raise ValueError(f"indices {sorted(given)} of formula {formula!r} are exchanged by its symmetries and "
                             f"must have the same irreps, got {given}")
        for c in members:
            out[c] = values[0]
    return [out[c] for c in f0]


# ----------------------------------------------------------------------------- basis
def _coupling_paths(irreps_in: list[Irreps], filter_ir_mid: frozenset | None) -> list[tuple[Irrep, torch.Tensor]]:
    """Orthonormal coupled bases ``(ir, C [ir.dim, *dims])`` of the tensor product, left to right."""
    dims = [irr.dim for irr in irreps_in]
    first = irreps_in[0]
    eye = torch.eye(first.dim, dtype=torch.float64)
    paths: list[tuple[Irrep, torch.Tensor]] = []
    i = 0
    for mul, ir in first:
        for _ in range(mul):
            paths.append((ir, eye[i:i + ir.dim]))
            i += ir.dim
    for k, right in enumerate(irreps_in[1:], start=1):
        new_paths = []
        for ir_left, c_left in paths:
            j = 0
            for mul, ir in right:
                for _ in range(mul):
                    for l_out in range(abs(ir_left.l - ir.l), ir_left.l + ir.l + 1):
                        ir_out = Irrep(l_out, ir_left.p * ir.p)
                        if filter_ir_mid is not None and ir_out not in filter_ir_mid:
                            continue
                        w = wigner_3j(ir_left.l, ir.l, l_out, dtype=torch.float64) * (2 * l_out + 1) ** 0.5
                        c = torch.zeros(ir_out.dim, *dims[:k], dims[k], dtype=torch.float64)
                        # c[o, ..., j + b] = sum_a w[a, b, o] c_left[a, ...]
                        block = torch.tensordot(w, c_left, dims=([0], [0]))  # [b, o, ...]
                        c[..., j:j + ir.dim] = block.movedim(0, -1)
                        new_paths.append((ir_out, c))
                    j += ir.dim
        paths = new_paths
    return paths


def _symmetrize(t: torch.Tensor, group, n: int) -> torch.Tensor:
    """Apply the projector P to the last ``n`` axes of ``t``."""
    lead = t.dim() - n
    out = torch.zeros_like(t)
    for s, p in group:
        out += s * t.permute(*range(lead), *(lead + q for q in p))
    return out / len(group)


@functools.lru_cache(maxsize=128)
def _reduced_basis(formula: str, irreps_key: tuple, filter_out: frozenset | None, filter_mid: frozenset | None,
                   eps: float):
    """Cached float64 change of basis: ``(indices, irreps_in, irreps_out, Q [dim, *dims])``."""
    f0, group = _parse_formula(formula)
    irreps_in = _index_irreps(formula, f0, group, dict(irreps_key))
    dims = [irr.dim for irr in irreps_in]
    n = len(f0)
    if any(d == 0 for d in dims):
        raise ValueError(f"every index of formula {formula!r} needs non-empty irreps, got {irreps_in}")
    by_ir: dict[Irrep, list[torch.Tensor]] = {}
    for ir, c in _coupling_paths(irreps_in, filter_mid):
        if filter_out is None or ir in filter_out:
            by_ir.setdefault(ir, []).append(c)
    blocks: list[torch.Tensor] = []
    irreps_out: list[tuple[int, Irrep]] = []
    for ir in sorted(by_ir):
        c = torch.stack(by_ir[ir])  # [m, d, *dims]
        m, d = c.shape[0], ir.dim
        pc = _symmetrize(c, group, n)
        mat = torch.einsum("uk...,vk...->uv", c, pc) / d  # P = M (x) I on this isotypic part
        rank = int(round(float(torch.trace(mat))))
        basis = torch.zeros(m, 0, dtype=torch.float64)
        for v in range(m):
            if basis.shape[1] == rank:
                break
            x = mat[:, v]
            x = x - basis @ (basis.T @ x)
            x = x - basis @ (basis.T @ x)  # twice: orthogonal to rounding level
            norm2 = float(x @ x)
            if norm2 > eps:
                basis = torch.cat([basis, (x / norm2**0.5)[:, None]], dim=1)
        if basis.shape[1] != rank:
            raise RuntimeError(f"found {basis.shape[1]} copies of {ir} in formula {formula!r}, expected {rank}: "
                               f"lower eps (now {eps})")
        for x in basis.T:
            block = torch.tensordot(x, c, dims=([0], [0]))  # [d, *dims]
            blocks.append(block)
            irreps_out.append((1, ir))
    q = torch.cat(blocks) if blocks else torch.zeros(0, *dims, dtype=torch.float64)
    if q.shape[0]:
        err = float((_symmetrize(q, group, n) - q).abs().max())
        if err > 1e-10:
            raise RuntimeError(f"reduced basis of {formula!r} breaks the index symmetries by {err:.3g}")
    return f0, tuple(irreps_in), Irreps(irreps_out).simplify(), q


def _irrep_filter(spec: object, name: str) -> frozenset | None:
    if spec is None:
        return None
    try:
        if isinstance(spec, (str, Irreps)):
            return frozenset(mi.ir for mi in Irreps(spec))
        if isinstance(spec, Irrep):
            return frozenset([spec])
        return frozenset(Irrep(ir) for ir in spec)  # type: ignore[union-attr]
    except (ValueError, TypeError):
        raise ValueError(f"{name} must be irreps or a list of irreps, got {spec!r}") from None


# ----------------------------------------------------------------------------- modules
class ReducedTensorProducts(ExactConstants):
    r"""Reduce tensors with index symmetries into O(3) irreps, as e3nn's ``ReducedTensorProducts``.

    ``formula`` lists the signed permutations under which the tensor is invariant
    (``"ij=-ji"``: :math:`T_{ij} = -T_{ji}`); each index letter gets its irreps as a keyword,
    or inherits them from an index it is exchanged with. The change of basis
    :math:`Q` ``[irreps_out.dim, *dims]`` satisfies

    .. math::

        T = \sum_a Q_a\, x_a \ (\text{``to Cartesian''}), \qquad
        D_\mathrm{out}(g)\, Q = Q\, (D_1(g) \otimes \dots \otimes D_n(g)),

    its flattened rows are orthonormal and span exactly the tensors with the symmetries, so
    :math:`x = Q\, \mathrm{vec}(T)` for symmetric T. ``forward(x_1, ..., x_n)`` is
    :math:`Q\, (x_1 \otimes \dots \otimes x_n)`, an equivariant map to ``irreps_out``.
    The basis convention is in the module docstring (``steertorch.o3._cartesian_tensor``).

    Computed once per distinct argument set (cached, float64), then stored as the
    non-persistent buffer ``change_of_basis`` in the default dtype; it is a constant, so it
    is not saved in the state dict.

    Args:
        formula: e.g. ``"ij=ji"``, ``"ijk=-jik=-ikj"``, ``"ijkl=jikl=klij"``.
        filter_ir_out: keep only these output irreps.
        filter_ir_mid: keep only these irreps in intermediate couplings.
        eps: squared residual below which a candidate multiplicity vector counts as zero.
        **irreps: irreps of the index letters, e.g. ``i="1o"``.

    >>> rtp = ReducedTensorProducts("ijkl=jikl=klij", i="1o")
    >>> rtp.irreps_out, rtp.change_of_basis.shape
    (2x0e+2x2e+1x4e, torch.Size([21, 3, 3, 3, 3]))
    >>> ReducedTensorProducts("ij=-ji", i="1o").irreps_out
    1x1e
    """

    change_of_basis: torch.Tensor

    def __init__(self, formula: str, filter_ir_out: Iterable[object] | None = None,
                 filter_ir_mid: Iterable[object] | None = None, eps: float = 1e-9, **irreps: object) -> None:
        super().__init__()
        key = tuple(sorted((k, str(Irreps(v))) for k, v in irreps.items()))
        f_out = _irrep_filter(filter_ir_out, "filter_ir_out")
        f_mid = _irrep_filter(filter_ir_mid, "filter_ir_mid")
        indices, irreps_in, irreps_out, q = _reduced_basis(formula, key, f_out, f_mid, float(eps))
        self.formula = formula
        self.indices = indices
        self.irreps_in = list(irreps_in)
        self.irreps_out = irreps_out
        self._q64 = q  # shared, read-only float64 master copy
        self._cast: dict[tuple[torch.dtype, str], torch.Tensor] = {}
        self.register_constant("change_of_basis", q)  # follows .to(dtype), re-derived from the float64 master

    def change_of_basis_as(self, dtype: torch.dtype, device: torch.device | str | None = None) -> torch.Tensor:
        """The change of basis in ``dtype`` / ``device``, cast once from the float64 master and cached.

        >>> rtp = ReducedTensorProducts("ij=ji", i="1o")
        >>> rtp.change_of_basis_as(torch.float64) is rtp.change_of_basis_as(torch.float64)
        True
        """
        dev = torch.device("cpu") if device is None else torch.device(device)
        key = (dtype, str(dev))
        if key not in self._cast:
            self._cast[key] = self._q64.to(dtype=dtype, device=dev)
        return self._cast[key]

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        r""":math:`Q\, (x_1 \otimes \dots \otimes x_n)` ``[..., irreps_out.dim]`` for ``x_k`` ``[..., dim_k]``.

        >>> rtp = ReducedTensorProducts("ij=-ji", i="1o")
        >>> x, y = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0])
        >>> (rtp(x, y) + rtp(y, x)).abs().max().item()
        0.0
        """
        if len(xs) != len(self.irreps_in):
            raise ValueError(f"expected {len(self.irreps_in)} inputs (one per index of {self.formula!r}), "
                             f"got {len(xs)}")
        for k, (x, irr) in enumerate(zip(xs, self.irreps_in)):
            if not isinstance(x, torch.Tensor) or x.dim() == 0 or x.shape[-1] != irr.dim:
                shape = list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
                raise ValueError(f"input {k} (index {self.indices[k]!r}) must be [..., {irr.dim}] ({irr}), "
                                 f"got {shape}")
        for k, x in enumerate(xs):
            check_input_dtype("ReducedTensorProducts", f"input {k}", x, self.change_of_basis.dtype)
        batch = torch.broadcast_shapes(*(x.shape[:-1] for x in xs))
        outer = xs[0].expand(*batch, xs[0].shape[-1])
        for x in xs[1:]:
            outer = (outer[..., :, None] * x[..., None, :]).flatten(-2)
        q = self.change_of_basis.flatten(1)
        return outer @ q.T

    def extra_repr(self) -> str:
        return f"{self.formula!r}, in: {' x '.join(map(str, self.irreps_in))}, out: {self.irreps_out}"


@functools.lru_cache(maxsize=64)
def _cartesian_rtp(formula: str) -> ReducedTensorProducts:
    f0, _ = _parse_formula(formula)
    return ReducedTensorProducts(formula, **{c: "1o" for c in f0})


class CartesianTensor(Irreps):
    r"""A Cartesian tensor with index symmetries, as the irreps it reduces to (e3nn's ``CartesianTensor``).

    Every index is a vector (``1o``, :math:`D = R`); ``formula`` gives the symmetries
    (``"ij=ji"`` symmetric matrices: ``0e + 2e``). With :math:`Q` the change of basis of the
    cached :class:`ReducedTensorProducts` (orthonormal rows, built once per formula and
    shared by every instance and call),

    .. math::

        \mathrm{from\_cartesian}(T) = Q\, \mathrm{vec}(T), \qquad
        \mathrm{to\_cartesian}(x) = Q^\top x,

    so ``to_cartesian(from_cartesian(T))`` is T projected on the tensors with the
    symmetries, and :math:`\mathrm{to\_cartesian}(D(R) x)_{ij\dots} = R_{ia} R_{jb} \cdots
    \mathrm{to\_cartesian}(x)_{ab\dots}` for every orthogonal R.

    >>> ct = CartesianTensor("ij=ji")
    >>> ct, ct.dim
    (1x0e+1x2e, 6)
    >>> t = torch.arange(9.0).reshape(3, 3)
    >>> bool(torch.allclose(ct.to_cartesian(ct.from_cartesian(t)), (t + t.T) / 2, atol=1e-6))
    True
    >>> CartesianTensor("ij=-ji")
    1x1e
    """

    formula: str
    indices: str

    def __new__(cls, formula: str) -> CartesianTensor:
        rtp = _cartesian_rtp(formula)
        obj = super().__new__(cls, rtp.irreps_out)
        obj.formula = formula
        obj.indices = rtp.indices
        return obj

    def __getnewargs__(self) -> tuple[str]:  # pickle / copy rebuild from the formula
        return (self.formula,)

    def reduced_tensor_products(self, data: torch.Tensor | None = None) -> ReducedTensorProducts:
        """The cached :class:`ReducedTensorProducts` of this formula (the same object every call).

        >>> ct = CartesianTensor("ij=ji")
        >>> ct.reduced_tensor_products() is CartesianTensor("ij=ji").reduced_tensor_products()
        True
        """
        return _cartesian_rtp(self.formula)

    def _q(self, data: torch.Tensor, rtp: ReducedTensorProducts | None) -> torch.Tensor:
        rtp = rtp if rtp is not None else _cartesian_rtp(self.formula)
        dtype = data.dtype if data.is_floating_point() else torch.get_default_dtype()
        return rtp.change_of_basis_as(dtype, data.device)

    def from_cartesian(self, data: torch.Tensor, rtp: ReducedTensorProducts | None = None) -> torch.Tensor:
        r"""Irreps coefficients ``[..., dim]`` of Cartesian tensors ``[..., 3, ..., 3]``: :math:`Q\,\mathrm{vec}(T)`.

        The part of T without the symmetries is dropped.

        >>> CartesianTensor("ij=-ji").from_cartesian(torch.ones(3, 3))
        tensor([0., 0., 0.])
        """
        n = len(self.indices)
        if not isinstance(data, torch.Tensor) or data.dim() < n or tuple(data.shape[data.dim() - n:]) != (3,) * n:
            shape = list(data.shape) if isinstance(data, torch.Tensor) else type(data).__name__
            raise ValueError(f"CartesianTensor({self.formula!r}) expects tensors [..., {', '.join(['3'] * n)}], "
                             f"got {shape}")
        q = self._q(data, rtp)
        if not data.is_floating_point():
            data = data.to(q.dtype)
        return data.flatten(data.dim() - n) @ q.flatten(1).T

    def to_cartesian(self, data: torch.Tensor, rtp: ReducedTensorProducts | None = None) -> torch.Tensor:
        r"""Cartesian tensors ``[..., 3, ..., 3]`` of irreps coefficients ``[..., dim]``: :math:`Q^\top x`.

        >>> ct = CartesianTensor("ij=-ji")
        >>> T = ct.to_cartesian(torch.tensor([1.0, 0.0, 0.0]))
        >>> bool(torch.equal(T, -T.T))
        True
        """
        if not isinstance(data, torch.Tensor) or data.dim() == 0 or data.shape[-1] != self.dim:
            shape = list(data.shape) if isinstance(data, torch.Tensor) else type(data).__name__
            raise ValueError(f"CartesianTensor({self.formula!r}) expects irreps coefficients [..., {self.dim}] "
                             f"({Irreps(self)}), got {shape}")
        q = self._q(data, rtp)
        if not data.is_floating_point():
            data = data.to(q.dtype)
        out = data @ q.flatten(1)
        return out.reshape(*data.shape[:-1], *q.shape[1:])

    def from_vectors(self, *xs: torch.Tensor, rtp: ReducedTensorProducts | None = None) -> torch.Tensor:
        r"""Irreps coefficients of :math:`x_1 \otimes \dots \otimes x_n` (vectors ``[..., 3]``).

        >>> CartesianTensor("ij=-ji").from_vectors(torch.ones(3), torch.ones(3))
        tensor([0., 0., 0.])
        """
        rtp = rtp if rtp is not None else _cartesian_rtp(self.formula)
        if len(xs) != len(self.indices):
            raise ValueError(f"CartesianTensor({self.formula!r}) takes {len(self.indices)} vectors, got {len(xs)}")
        batch = torch.broadcast_shapes(*(x.shape[:-1] for x in xs))
        outer = xs[0].expand(*batch, 3)
        for x in xs[1:]:
            outer = (outer[..., :, None] * x[..., None, :]).flatten(-2)
        return self.from_cartesian(outer.reshape(*batch, *([3] * len(xs))), rtp)

