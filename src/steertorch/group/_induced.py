r"""Induced representations of finite groups, in the coset basis.

For a subgroup :math:`H \le G` with left coset representatives :math:`r_1, \dots, r_k`
(:math:`G = \bigsqcup_i r_i H`, :math:`r_1` the identity) and a representation :math:`\psi` of H of size d,
:math:`\mathrm{Ind}_H^G \psi` acts on :math:`\mathbb{R}^{k d}` (k blocks of size d, one per coset) by

.. math::  \rho(g)_{ij} = \psi(h) \ \text{ if } g\, r_j = r_i\, h \text{ with } h \in H, \qquad 0 \text{ otherwise}:

g permutes the cosets and twists each block by an element of H. Its character is Frobenius'
:math:`\chi(g) = \sum_{i:\ r_i^{-1} g r_i \in H} \chi_\psi(r_i^{-1} g r_i)`. In this basis the blocks are
permuted, so :class:`~steertorch.nn.InducedNormNonLinearity` acts on the norm of each block (escnn's induced
fields). The result is a :class:`Representation` (irreps and change of basis found by decomposition) whose
matrices are exactly the block matrices above.
"""

from __future__ import annotations

import torch

from ._group import Group, Representation, float64_default

__all__ = ["induced_representation"]


def _coset_table(group: Group, sub: Group, include) -> tuple[list[int], torch.Tensor, torch.Tensor]:
    """Coset representatives ``r`` (G indices), and for every (g, j): the coset i with g r_j in r_i H and the
    element h of H (H index) with g r_j = r_i h: tables ``[|G|, k]``."""
    order = group.order
    h_in_g = include(sub.elements()).tolist()  # H index -> G index
    g_to_h = {g: h for h, g in enumerate(h_in_g)}
    reps: list[int] = []
    coset_of = [-1] * order
    for g in range(order):
        if coset_of[g] >= 0:
            continue
        members = group.compose(torch.tensor(g), torch.tensor(h_in_g)).tolist()
        for m in members:
            coset_of[m] = len(reps)
        reps.append(g)
    els = group.elements()
    r = torch.tensor(reps)
    g_rj = group.compose(els[:, None], r[None, :])  # [|G|, k]
    target = torch.tensor(coset_of)[g_rj]  # i with g r_j in r_i H
    h_g = group.compose(group.inverse(r[target]), g_rj)  # r_i^-1 g r_j, a G index lying in H
    h = torch.tensor([[g_to_h[int(v)] for v in row] for row in h_g])
    return reps, target, h


def induced_representation(group: Group, subgroup: str | Group, psi: Representation,
                           name: str | None = None) -> Representation:
    r""":math:`\mathrm{Ind}_H^G \psi` for a finite group G, a subgroup H (name or group) and a representation
    :math:`\psi` of H, in the coset basis (channels ``[i * d, (i + 1) * d)`` hold the block of coset i).

    >>> from steertorch.group import cyclic_group, dihedral_group
    >>> D4 = dihedral_group(4)
    >>> C4, _ = D4.subgroup("C4")
    >>> rho = induced_representation(D4, C4, C4.irrep(1))   # two cosets, blocks of size 2
    >>> rho.size, sorted(rho.multiplicities().items())
    (4, [((1, 1), 2)])
    """
    if not group.is_finite:
        raise ValueError(f"induced_representation: {group.name} is not finite (only finite-index induction from "
                         "subgroups of finite groups is supported)")
    if isinstance(subgroup, Group):
        sub, include = subgroup, group.inclusion(subgroup)
    else:
        sub, include = group.subgroup(subgroup)
    if not isinstance(psi, Representation) or psi.group != sub:
        got = psi.group.name if isinstance(psi, Representation) else type(psi).__name__
        raise ValueError(f"induced_representation: psi must be a representation of the subgroup {sub.name}, got one "
                         f"of {got}")
    _, target, h = _coset_table(group, sub, include)
    k, d = target.shape[1], psi.size
    with float64_default():
        psi_h = psi(h.reshape(-1)).to(torch.float64).reshape(group.order, k, d, d)  # psi(h) for (g, j)
    table = torch.zeros(group.order, k, d, k, d, dtype=torch.float64)
    gi = torch.arange(group.order)[:, None].expand(-1, k)
    ji = torch.arange(k)[None, :].expand(group.order, -1)
    table[gi, target, :, ji, :] = psi_h  # block (i = target, j) = psi(h)
    table = table.reshape(group.order, k * d, k * d)

    def function(g: torch.Tensor) -> torch.Tensor:
        return table.to(device=g.device)[g]

    with float64_default():
        rep = Representation.from_function(group, function, k * d,
                                           name=name or f"Ind[{sub.name}->{group.name}]({psi.name})")
    # the size of the blocks that the cosets permute (escnn's "induced_norm_<d>" support): the induced-norm
    # modules of steertorch.nn read it; not kept by pickling (those modules store their own copy)
    rep.induced_block_size = d
    return rep
