"""Representations: restriction to subgroups, regular and quotient representations, tensor
products, the standard representation, and subgroup inclusions between the named groups."""

import pytest
import torch

from steertorch.group import (
    Representation,
    cyclic_group,
    dihedral_group,
    directsum,
    group_from_name,
    o2_group,
    o3_group,
    so3_group,
)

USE_GROUP_FIXTURES = True  # float64 default and the group parametrization of conftest.py


def _trace(m):
    return torch.diagonal(m, dim1=-2, dim2=-1).sum(-1)


def _max(x):
    return float(x.abs().max()) if x.numel() else 0.0


def _elements(G, n=10, seed=0):
    if G.is_finite:
        return G.elements()
    return G.sample(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ----------------------------------------------------------------------------- restriction
RESTRICTIONS = (
    [("SO3", l, H) for l in range(7) for H in ("I", "O", "T", "D4", "C3", "SO2")]
    + [("O3", (l, p), H) for l in range(5) for p in (1, -1)
       for H in ("Oh", "Ih", "Td", "Th", "O2", "Cinfh", "Dinfh", "Cinfv", "C4h", "D3h")]
    + [("O2", (1, k), H) for k in range(7) for H in ("D6", "C4", "SO2")]
    + [("O2", (1, 0), H) for H in ("D6", "C4", "SO2")]
    + [("D8", lab, H) for lab in [(0, 0), (1, 0), (1, 1), (1, 2), (1, 3), (0, 4), (1, 4)] for H in ("C4", "D4")]
    + [("Oh", lab, H) for lab in range(10) for H in ("O", "D4h", "Td", "Th", "C4h")]
    + [("Ih", lab, H) for lab in range(10) for H in ("I", "Th", "D2h")]
    + [("Dinfh", ((1, k), p), H) for k in range(4) for p in (1, -1) for H in ("D6h", "C4h", "Cinfh")]
    + [("T", lab, "D2") for lab in range(3)]
)


def _check_restriction(G, rep, H):
    res = rep.restrict(H)
    sub, include = G.subgroup(H)
    assert res.group == sub and res.size == rep.size
    h = _elements(sub)
    assert _max(res(h) - rep(include(h))) <= 1e-10, (G.name, rep.name, H)
    # multiplicities are the character inner products
    band = max(G.irrep_degree(psi.label) for psi in rep.irreps)
    q, w = sub.quadrature(0 if sub.is_finite else 2 * band)
    chi = _trace(rep(include(q)))
    for psi in (sub.irreps() if sub.is_finite else sub.irreps(band)):
        m = float((w * chi * _trace(psi(q))).sum()) / psi.endomorphism_dim
        assert abs(m - res.multiplicity(psi.label)) < 1e-8, (G.name, rep.name, H, psi.label)
    return res


@pytest.mark.parametrize("name, label, H", RESTRICTIONS, ids=[f"{g}-{lab}-{h}" for g, lab, h in RESTRICTIONS])
def test_restriction(name, label, H):
    G = group_from_name(name)
    _check_restriction(G, G.irrep(label), H)


def test_restriction_of_a_sum_and_known_branchings():
    G = so3_group()
    rep = directsum(G.irrep(1), G.irrep(2), G.irrep(1))
    _check_restriction(G, rep, "O")
    # l = 2 splits into E + T2 under O, stays H under I; l = 3 gives T2 + G under I
    O, I = group_from_name("O"), group_from_name("I")
    assert sorted(O.irrep(k).name for k in G.irrep(2).restrict("O").multiplicities()) == ["E", "T2"]
    assert [I.irrep(k).name for k in G.irrep(2).restrict("I").multiplicities()] == ["H"]
    assert sorted(I.irrep(k).name for k in G.irrep(3).restrict("I").multiplicities()) == ["G", "T2"]
    # the vector 1o is T1u under Oh and Ih, T2 under Td
    O3 = o3_group()
    for H, name in [("Oh", "T1u"), ("Ih", "T1u"), ("Td", "T2")]:
        sub = group_from_name(H)
        assert [sub.irrep(k).name for k in O3.irrep("1o").restrict(H).multiplicities()] == [name]


# ----------------------------------------------------------------------------- subgroups
@pytest.mark.parametrize("G, H", [
    (o3_group(), "Ih"), (o3_group(), "Oh"), (o3_group(), "Td"), (o3_group(), "Cinfh"), (o3_group(), "Dinfh"),
    (o3_group(), "Cinfv"), (group_from_name("Oh"), "O"), (group_from_name("Oh"), "Th"), (group_from_name("Oh"), "D4h"),
    (so3_group(), "I"), (so3_group(), "Dinf"), (group_from_name("O"), "D4"), (group_from_name("O"), "T"),
    (group_from_name("I"), "T"), (group_from_name("Ih"), "Th"), (group_from_name("Dinfh"), "D6h"),
    (group_from_name("Cinfh"), "C4h"), (group_from_name("D6h"), "C3h"), (group_from_name("D6h"), "D3h"),
    (group_from_name("Td"), "D2"),
])
def test_subgroup_inclusion_is_a_homomorphism(G, H):
    sub, include = G.subgroup(H)
    a, b = _elements(sub, seed=1), _elements(sub, seed=2)
    if sub.is_finite:
        a, b = a[:, None].expand(sub.order, sub.order).reshape(-1), b[None, :].expand(sub.order, sub.order).reshape(-1)
    assert G.equal(include(sub.compose(a, b)), G.compose(include(a), include(b))).all()
    assert _max(G.matrix(include(a)) - sub.matrix(a)) < 1e-12


@pytest.mark.parametrize("G, H", [
    (group_from_name("O"), "C3"),  # the 3-fold axes of the cube are its diagonals
    (group_from_name("I"), "C5"),  # I has a 2-fold axis along z
    (so3_group(), "Oh"), (group_from_name("T"), "O"), (group_from_name("Td"), "Th"),
])
def test_not_a_subgroup(G, H):
    with pytest.raises(ValueError, match="is not a subgroup of"):
        G.subgroup(H)


# ----------------------------------------------------------------------------- regular and quotient
def test_regular_representation(finite_group):
    G = finite_group
    rho = G.regular_representation()
    assert rho.size == G.order
    for psi in G.irreps():
        assert rho.multiplicity(psi.label) == psi.size // psi.endomorphism_dim
    e = G.elements()
    perm = torch.zeros(G.order, G.order, G.order)
    gh = G.compose(e[:, None], e[None, :])  # [g, h]
    perm[e[:, None], gh, e[None, :]] = 1.0  # rho(g) e_h = e_{gh}
    assert _max(rho(e) - perm) <= 1e-10


@pytest.mark.parametrize("name, H, ambient", [
    ("C8", "C4", 2), ("D6", "C3", 2), ("D6", "D2", 2), ("D4", "C1", 2), ("O", "D4", 3), ("O", "T", 3), ("Oh", "O", 3),
    ("Ih", "Th", 3), ("I", "T", 3), ("T", "D2", 3), ("D6h", "C3", 3), ("D3h", "C3", 3), ("C4h", "C4", 3),
    ("Td", "D2", 3),
])
def test_quotient_representation(name, H, ambient):
    G = group_from_name(name, ambient_dim=ambient)
    sub, include = G.subgroup(H)
    rho = G.quotient_representation(H)
    assert rho.size == G.order // sub.order
    e = G.elements()
    m = rho(e)
    assert _max(m @ m.transpose(-1, -2) - torch.eye(rho.size)) <= 1e-10
    assert _max(m.round() - m) <= 1e-10 and set(m.round().unique().tolist()) <= {0.0, 1.0}  # permutations
    gh = G.compose(e[:, None], e[None, :]).reshape(-1)
    assert _max(rho(gh) - (m[:, None] @ m[None, :]).reshape(-1, rho.size, rho.size)) <= 1e-10
    # H fixes the coset H itself, and the trivial irrep occurs once (G acts transitively)
    assert _max(rho(include(sub.elements()))[:, :, 0] - torch.eye(rho.size)[:, 0]) <= 1e-10
    assert rho.multiplicity(G.trivial_representation.label) == 1


# ----------------------------------------------------------------------------- tensor products
TENSOR_CASES = [
    ("SO3", [1, 2], [1]),
    ("O3", ["1o", "2e"], ["1o", "0o"]),
    ("SO2", [1, 3], [2, 0]),
    ("O2", [(1, 0), (1, 2)], [(1, 1), (1, 2)]),
    ("Cinfh", [(1, 1), (2, -1)], [(1, -1)]),
    ("Dinfh", [((1, 1), 1)], [((1, 0), -1), ((1, 2), -1)]),
    ("D6", [(1, 1), (0, 3)], [(1, 2), (1, 0)]),
    ("C5", [1, 2], [2]),
    ("T", ["E", "T"], ["E"]),
    ("Th", ["Eu"], ["Eg", "Tu"]),
    ("O", ["T1", "E"], ["T2"]),
    ("Ih", ["Hg", "Gu"], ["T2u"]),
    ("C4h", ["Eg", "Eu"], ["Eu"]),
    ("D3h", ["E1", "A3"], ["E2"]),
]


@pytest.mark.parametrize("name, first, second", TENSOR_CASES, ids=[c[0] for c in TENSOR_CASES])
def test_tensor_product(name, first, second):
    G = group_from_name(name)
    rho1 = directsum(*[G.irrep(lab) for lab in first])
    rho2 = directsum(*[G.irrep(lab) for lab in second])
    # also representations with a non-trivial change of basis
    rho2 = rho2 + G.standard_representation
    if G.is_finite and G.order <= 12:
        rho1 = rho1 + G.regular_representation()
    t = rho1.tensor(rho2)
    g = _elements(G, 6)
    a, b = rho1(g), rho2(g)
    kron = torch.einsum("nij,nkl->nikjl", a, b).reshape(-1, t.size, t.size)
    assert t.size == rho1.size * rho2.size
    assert _max(t(g) - kron) <= 1e-10
    assert _max(_trace(t(g)) - _trace(a) * _trace(b)) <= 1e-10


def test_standard_representation(group):
    G = group
    rho = G.standard_representation
    g = _elements(G)
    assert rho.size == G.ambient_dim
    assert _max(rho(g) - G.matrix(g)) <= 1e-10


def test_representation_bad_input():
    G = so3_group()
    with pytest.raises(ValueError, match="at least one irrep"):
        Representation([])
    with pytest.raises(ValueError, match="one group"):
        Representation([G.irrep(1), o3_group().irrep("1o")])
    with pytest.raises(ValueError, match="orthogonal"):
        Representation([G.irrep(1)], change_of_basis=2 * torch.eye(3))
    with pytest.raises(ValueError, match=r"must be \[3, 3\]"):
        Representation([G.irrep(1)], change_of_basis=torch.eye(4))
    with pytest.raises(ValueError, match="cannot tensor"):
        G.irrep(1).tensor(o3_group().irrep("1o"))
    with pytest.raises(ValueError, match="could not decompose"):
        Representation.from_function(G, lambda g: torch.ones(*g.shape[:-2], 2, 2), 2, band_limit=2)
    with pytest.raises(ValueError, match="is not a subgroup"):
        G.irrep(1).restrict("Ih")
    with pytest.raises(ValueError, match="not finite"):
        o2_group().regular_representation()
    with pytest.raises(ValueError, match="is not a subgroup"):
        cyclic_group(8).quotient_representation("C3")
    with pytest.raises(ValueError, match="is not a subgroup"):
        dihedral_group(4).quotient_representation("C8")


def test_representations_pickle_and_deep_copy(group):
    """Irreps evaluate through closures, which pickle cannot store: an irrep pickles as its group and label (and is
    the group's own irrep again when loaded), a representation as its irreps, change of basis and name."""
    import copy
    import pickle

    psi = group.irreps()[-1] if group.is_finite else group.irreps(1)[-1]
    rho = psi.tensor(psi) + group.trivial_representation
    g = _elements(group, 4)
    assert pickle.loads(pickle.dumps(psi)) is psi
    for twin in (pickle.loads(pickle.dumps(rho)), copy.deepcopy(rho)):
        assert twin == rho and twin.name == rho.name
        assert torch.equal(twin(g), rho(g))
