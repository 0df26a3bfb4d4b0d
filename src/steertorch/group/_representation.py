"""Representations as direct sums of irreps with an orthogonal change of basis."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from ._group import Group
    from ._irrep import IrreducibleRepresentation

__all__ = ["Representation", "directsum"]


class Representation:
    r"""An orthogonal representation :math:`\rho(g) = Q\,\big(\bigoplus_i \psi_i(g)\big)\,Q^\top`.

    ``irreps`` lists the irreducible blocks in order (repeats allowed) and
    ``change_of_basis`` is the orthogonal ``[size, size]`` matrix Q (``None`` means the
    identity). ``rho(g)`` evaluates a batch of elements ``[..., *G.element_shape]`` to
    ``[..., size, size]``.

    >>> from steertorch.group import so3_group
    >>> G = so3_group()
    >>> rho = G.irrep(1).tensor(G.irrep(1))        # 3 x 3 = 0 + 1 + 2
    >>> [psi.label for psi in rho.irreps], rho.size
    ([0, 1, 2], 9)
    >>> g = G.sample(5, dtype=torch.float64)
    >>> bool(torch.allclose(rho(g), torch.einsum('nij,nkl->nikjl', g, g).reshape(5, 9, 9)))
    True
    """

    def __init__(
        self,
        irreps: Sequence[IrreducibleRepresentation],
        change_of_basis: torch.Tensor | None = None,
        name: str | None = None,
    ) -> None:
        irreps = list(irreps)
        if not irreps:
            raise ValueError("a Representation needs at least one irrep, got an empty list")
        group = irreps[0].group
        for psi in irreps:
            if psi.group != group:
                raise ValueError(f"all irreps must belong to one group: got {group.name} and {psi.group.name}")
        self.group = group
        self.irreps = irreps
        self.size = sum(psi.size for psi in irreps)
        if change_of_basis is not None:
            change_of_basis = change_of_basis.to(torch.float64)
            if change_of_basis.shape != (self.size, self.size):
                raise ValueError(f"change_of_basis must be [{self.size}, {self.size}], "
                                 f"got {list(change_of_basis.shape)}")
            err = (change_of_basis.T @ change_of_basis - torch.eye(self.size, dtype=torch.float64)).abs().max()
            if err > 1e-8:
                raise ValueError(f"change_of_basis must be orthogonal (Q^T Q = I), deviation {float(err):.2e}")
            if bool((change_of_basis - torch.eye(self.size, dtype=torch.float64)).abs().max() < 1e-15):
                change_of_basis = None
        self.change_of_basis = change_of_basis
        self.name = name if name is not None else "+".join(str(psi.label) for psi in irreps)

    # ----------------------------------------------------------------- evaluation
    def __call__(self, g: torch.Tensor) -> torch.Tensor:
        g = self.group.check_element(g)
        batch = g.shape[: g.dim() - len(self.group.element_shape)]
        values = {}
        for psi in self.irreps:
            if psi.label not in values:
                values[psi.label] = psi(g)
        first = next(iter(values.values()))
        out = torch.zeros(*batch, self.size, self.size, dtype=first.dtype, device=first.device)
        i = 0
        for psi in self.irreps:
            out[..., i:i + psi.size, i:i + psi.size] = values[psi.label]
            i += psi.size
        if self.change_of_basis is not None:
            q = self.change_of_basis.to(dtype=out.dtype, device=out.device)
            out = q @ out @ q.T
        return out

    def character(self, g: torch.Tensor) -> torch.Tensor:
        r"""The character :math:`\chi(g) = \mathrm{tr}\,\rho(g)`, batched."""
        total = None
        counts = Counter(psi.label for psi in self.irreps)
        for psi in {psi.label: psi for psi in self.irreps}.values():
            t = counts[psi.label] * torch.diagonal(psi(g), dim1=-2, dim2=-1).sum(-1)
            total = t if total is None else total + t
        return total

    # ----------------------------------------------------------------- structure
    def multiplicities(self) -> dict[Hashable, int]:
        """How many times each irrep label occurs, in order of first appearance."""
        return dict(Counter(psi.label for psi in self.irreps))

    def multiplicity(self, label: Hashable) -> int:
        """How many copies of the irrep ``label`` the representation contains."""
        label = self.group._canonical_label(label)
        return sum(1 for psi in self.irreps if psi.label == label)

    def is_trivial(self) -> bool:
        """True when every irrep is the trivial one."""
        triv = self.group.trivial_representation.label
        return all(psi.label == triv for psi in self.irreps)

    def dense_change_of_basis(self) -> torch.Tensor:
        """Q as a dense float64 matrix (the identity when ``change_of_basis`` is ``None``)."""
        if self.change_of_basis is None:
            return torch.eye(self.size, dtype=torch.float64)
        return self.change_of_basis

    # ----------------------------------------------------------------- constructions
    def __add__(self, other: Representation) -> Representation:
        return directsum(self, other)

    def __mul__(self, n: int) -> Representation:
        return directsum(*([self] * n)) if isinstance(n, int) and n > 0 else NotImplemented

    __rmul__ = __mul__

    def tensor(self, other: Representation) -> Representation:
        r"""The tensor product :math:`\rho_1 \otimes \rho_2` (Kronecker order: index ``i * d2 + j``),
        decomposed into irreps with the Clebsch-Gordan coefficients of the group."""
        if other.group != self.group:
            raise ValueError(f"cannot tensor a representation of {self.group.name} with one of {other.group.name}")
        d1, d2 = self.size, other.size
        irreps: list[IrreducibleRepresentation] = []
        cols = []
        o1 = 0
        for a in self.irreps:
            o2 = 0
            for b in other.irreps:
                found, q = _tensor_irreps(a, b)
                # place the block [a.size * b.size] rows inside the Kronecker index space
                rows = ((o1 + torch.arange(a.size))[:, None] * d2 + (o2 + torch.arange(b.size))[None, :]).reshape(-1)
                block = torch.zeros(d1 * d2, q.shape[1], dtype=torch.float64)
                block[rows] = q
                cols.append(block)
                irreps += found
                o2 += b.size
            o1 += a.size
        q = torch.cat(cols, dim=1)
        left = torch.kron(self.dense_change_of_basis(), other.dense_change_of_basis())
        return Representation(irreps, left @ q, name=f"({self.name})x({other.name})")

    def restrict(self, subgroup: str | Group) -> Representation:
        """Restrict to a subgroup ``H`` (a name such as ``"C4"`` or a group), decomposed into H's irreps."""
        if isinstance(subgroup, str):
            sub, _ = self.group.subgroup(subgroup)
        else:
            sub = subgroup
            self.group._check_subgroup(sub)
        irreps: list[IrreducibleRepresentation] = []
        blocks = []
        for psi in self.irreps:
            found, q = _restrict_irrep(psi, sub)
            irreps += found
            blocks.append(q)
        q = self.dense_change_of_basis() @ torch.block_diag(*blocks)
        return Representation(irreps, q, name=f"{self.name}|{sub.name}")

    @staticmethod
    def from_function(
        group: Group, function: Callable[[torch.Tensor], torch.Tensor], size: int,
        band_limit: int | None = None, name: str | None = None,
    ) -> Representation:
        """Decompose a representation given as a function ``g -> [..., size, size]`` into irreps.

        ``band_limit`` bounds the irreps searched for (continuous groups only)."""
        from ._intertwiners import decompose_function

        irreps, q = decompose_function(group, function, size, band_limit)
        return Representation(irreps, q, name=name)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Representation):
            return False
        if self.group != other.group or [p.label for p in self.irreps] != [p.label for p in other.irreps]:
            return False
        return bool(torch.allclose(self.dense_change_of_basis(), other.dense_change_of_basis(), atol=1e-10))

    def __hash__(self) -> int:
        return hash((self.group, tuple(p.label for p in self.irreps)))

    def __repr__(self) -> str:
        return f"{self.group.name}|[{self.name}]:{self.size}"

    def __reduce__(self):
        # pickle / deepcopy: the irreps (each stored as its group and label, see IrreducibleRepresentation), the
        # change of basis and the name
        return (Representation, (self.irreps, self.change_of_basis, self.name))


def directsum(*reps: Representation, name: str | None = None) -> Representation:
    r"""The direct sum :math:`\rho_1 \oplus \rho_2 \oplus \dots` (block diagonal).

    >>> from steertorch.group import so2_group
    >>> G = so2_group()
    >>> rho = directsum(G.irrep(0), G.irrep(1), G.irrep(1))
    >>> rho.size, rho.multiplicity(1)
    (5, 2)
    """
    if not reps:
        raise ValueError("directsum needs at least one representation")
    irreps = [psi for r in reps for psi in r.irreps]
    if all(r.change_of_basis is None for r in reps):
        q = None
    else:
        q = torch.block_diag(*[r.dense_change_of_basis() for r in reps])
    return Representation(irreps, q, name=name or "+".join(r.name for r in reps))


@functools.cache
def _tensor_irreps(a: IrreducibleRepresentation, b: IrreducibleRepresentation):
    """(irreps, Q) with psi_a (x) psi_b = Q (+ psi_c) Q^T, from the group's Clebsch-Gordan coefficients."""
    group = a.group
    found = []
    cols = []
    for c, m in group.tensor_product_multiplicities(a.label, b.label):
        cg = group.clebsch_gordan(a.label, b.label, c)  # [m, da, db, dc]
        psi = group.irrep(c)
        for k in range(m):
            found.append(psi)
            cols.append(cg[k].reshape(a.size * b.size, psi.size))
    q = torch.cat(cols, dim=1)
    if q.shape[1] != a.size * b.size:
        raise RuntimeError(f"tensor product {a.label} x {b.label} of {group.name} decomposed into {q.shape[1]} "
                           f"dimensions, expected {a.size * b.size}")
    return found, q


@functools.cache
def _restrict_irrep(psi: IrreducibleRepresentation, sub: Group):
    from ._intertwiners import decompose_function

    include = psi.group.inclusion(sub)
    band = None if sub.is_finite else max(psi.group.irrep_degree(psi.label), 0)
    return decompose_function(sub, lambda h: psi(include(h)), psi.size, band)
