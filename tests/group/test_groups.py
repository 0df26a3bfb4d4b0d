"""Group axioms, irreps (homomorphism, orthogonality, endomorphisms, type), Schur orthogonality,
the point groups' structure, and errors on bad input."""

import functools

import numpy as np
import pytest
import torch

from steertorch.group import (
    available_groups,
    cyclic_group,
    dihedral_group,
    group_from_name,
    o2_group,
    o3_group,
    so2_group,
    so3_group,
)

BAND_LIMIT = 8
ORDERS = {"T": 12, "O": 24, "I": 60, "Th": 24, "Td": 24, "Oh": 48, "Ih": 120, "C4h": 8, "D3h": 12}

USE_GROUP_FIXTURES = True  # float64 default and the group parametrization of conftest.py


def _elements(G, n=12, seed=0):
    """All elements of a finite group, else ``n`` Haar samples (float64)."""
    if G.is_finite:
        return G.elements()
    return G.sample(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _pairs(G, n=12):
    """(g, h): all pairs for finite groups, else ``n`` random pairs."""
    if G.is_finite:
        e = G.elements()
        return e[:, None].expand(G.order, G.order).reshape(-1), e[None, :].expand(G.order, G.order).reshape(-1)
    return _elements(G, n, seed=1), _elements(G, n, seed=2)


def _trace(m):
    return torch.diagonal(m, dim1=-2, dim2=-1).sum(-1)


def _max(x):
    return float(x.abs().max()) if x.numel() else 0.0


# ----------------------------------------------------------------------------- axioms
def test_group_axioms(group):
    G = group
    g, h = _pairs(G)
    k = torch.roll(g, 1, 0)
    eye = G.identity(g.shape[:1] if G.is_finite else (g.shape[0],), dtype=torch.float64)
    assert G.equal(G.compose(g, G.inverse(g)), eye).all()
    assert G.equal(G.compose(G.inverse(g), g), eye).all()
    assert G.equal(G.compose(eye, g), g).all()
    assert G.equal(G.compose(G.compose(g, h), k), G.compose(g, G.compose(h, k))).all()
    assert _max(G.matrix(G.compose(g, h)) - G.matrix(g) @ G.matrix(h)) < 1e-12
    m = G.matrix(g)
    n = G.ambient_dim
    assert m.shape == (*g.shape[: g.dim() - len(G.element_shape)], n, n)
    assert _max(m @ m.transpose(-1, -2) - torch.eye(n)) < 1e-12
    back = G.from_matrix(m)
    if G.is_finite:
        assert torch.equal(back, g)
    else:
        assert _max(back - g) < 1e-12


def test_sample_shapes(group):
    G = group
    gen = torch.Generator().manual_seed(0)
    for shape in [(), 5, (2, 3)]:
        g = G.sample(shape, generator=gen, dtype=torch.float64)
        expected = (shape,) if isinstance(shape, int) else shape
        assert tuple(g.shape) == (*expected, *G.element_shape)
        G.from_matrix(G.matrix(g))  # samples lie in the group
    assert tuple(G.identity((4,)).shape) == (4, *G.element_shape)


def test_finite_closure_and_order(finite_group):
    G = finite_group
    if G.name in ORDERS:
        assert G.order == ORDERS[G.name]
    e = G.elements()
    assert torch.equal(e, torch.arange(G.order))
    m = G.matrix(e)
    assert G.equal(e[:1], G.identity((1,))).all()
    # distinct matrices, closed under products, and the Cayley table is a Latin square
    assert torch.cdist(m.reshape(G.order, -1), m.reshape(G.order, -1)).add(torch.eye(G.order)).min() > 0.1
    prods = (m[:, None] @ m[None, :]).reshape(-1, G.ambient_dim, G.ambient_dim)
    table = G.from_matrix(prods).reshape(G.order, G.order)
    assert torch.equal(table, G.compose(e[:, None], e[None, :]))
    assert torch.equal(table.sort(0).values, e[:, None].expand(G.order, G.order))
    assert torch.equal(table.sort(1).values, e[None, :].expand(G.order, G.order))


# ----------------------------------------------------------------------------- irreps
def _irreps(G):
    return G.irreps() if G.is_finite else G.irreps(BAND_LIMIT)


def test_irreps_are_orthogonal_homomorphisms(group):
    G = group
    g, h = _pairs(G, n=16)
    gh = G.compose(g, h)
    for psi in _irreps(G):
        a, b, ab = psi(g), psi(h), psi(gh)
        assert a.dtype == torch.float64
        assert a.shape[-2:] == (psi.size, psi.size)
        assert _max(ab - a @ b) <= 1e-10, (G.name, psi.label)
        assert _max(a.transpose(-1, -2) @ a - torch.eye(psi.size)) <= 1e-10, (G.name, psi.label)
        assert _max(psi(G.identity((1,))) - torch.eye(psi.size)) <= 1e-12


@functools.cache
def _characters(G):
    """(irreps, weights [N], characters [n_irreps, N]) on a quadrature exact for products of two characters."""
    irreps = G.irreps() if G.is_finite else G.irreps(BAND_LIMIT)
    q, w = G.quadrature(0 if G.is_finite else 2 * BAND_LIMIT)
    return irreps, w, torch.stack([_trace(psi(q)) for psi in irreps])


def test_irrep_endomorphisms_and_type(group):
    G = group
    g = _elements(G, 8)
    for psi in _irreps(G):
        basis = psi.endomorphism_basis
        assert basis.shape == (psi.endomorphism_dim, psi.size, psi.size)
        assert torch.equal(basis[0], torch.eye(psi.size))
        for e in basis:
            assert _max(e @ e.T - torch.eye(psi.size)) < 1e-10
            assert _max(e @ psi(g) - psi(g) @ e) < 1e-10
        for e in basis[1:]:
            assert _max(e @ e + torch.eye(psi.size)) < 1e-10  # imaginary units
        assert psi.type == {1: "R", 2: "C", 4: "H"}[psi.endomorphism_dim]
    # dim End = <chi, chi>, computed with an exact quadrature
    irreps, w, chi = _characters(G)
    assert abs(float(w.sum()) - 1) < 1e-12
    for psi, c in zip(irreps, chi):
        assert abs(float((w * c * c).sum()) - psi.endomorphism_dim) < 1e-9, (G.name, psi.label)


def test_schur_orthogonality(group):
    G = group
    irreps, w, chi = _characters(G)
    gram = torch.einsum("an,n,bn->ab", chi, w, chi)
    expected = torch.diag(torch.tensor([float(psi.endomorphism_dim) for psi in irreps]))
    assert _max(gram - expected) < 1e-9
    labels = [psi.label for psi in irreps]
    assert len(set(labels)) == len(labels)
    assert irreps[0].is_trivial() and _max(chi[0] - 1) < 1e-12
    if G.is_finite:  # complete: sum of d^2 / dim End is the order
        assert sum(psi.size**2 // psi.endomorphism_dim for psi in irreps) == G.order


# ----------------------------------------------------------------------------- point groups
POINT_GROUPS = ["T", "O", "I", "Th", "Td", "Oh", "Ih", "C1h", "C2h", "C3h", "C4h", "C6h", "D1h", "D2h", "D3h",
                "D4h", "D5h", "D6h"]


@pytest.mark.parametrize("name", POINT_GROUPS)
def test_point_group_irreps_complete(name):
    G = group_from_name(name)
    assert G.name == name and G.ambient_dim == 3
    irreps = G.irreps()
    assert sum(psi.size**2 // psi.endomorphism_dim for psi in irreps) == G.order
    names = [psi.name for psi in irreps]
    assert len(set(names)) == len(names)
    for psi in irreps:
        assert G.irrep(psi.name) is psi and G.irrep(psi.label) is psi
        assert G.irrep(np.int64(psi.label)) is psi
    table = G.character_table()
    assert table.shape == (len(irreps), G.order)
    # the irreps came out of the O(3) irreps they were found in: psi(g) = B^T D(g) B
    for psi in irreps:
        l, p = G.irrep_origin(psi.label)
        d = o3_group().irrep((l, p))(G.matrix(G.elements()))
        proj = torch.einsum("n,nij->ij", _trace(psi(G.elements())), d) * psi.size / (G.order * psi.endomorphism_dim)
        assert _max(proj @ proj - proj) < 1e-10 and float(torch.trace(proj)) >= psi.size - 1e-9


def test_point_group_structure():
    assert [psi.name for psi in group_from_name("O").irreps()] == ["A1", "T1", "E", "T2", "A2"]
    assert sorted(psi.name for psi in group_from_name("Ih").irreps()) == sorted(
        ["Ag", "Au", "T1g", "T1u", "T2g", "T2u", "Gg", "Gu", "Hg", "Hu"])
    T = group_from_name("T")
    assert [(psi.size, psi.type) for psi in T.irreps()] == [(1, "R"), (3, "R"), (2, "C")]
    assert [psi.type for psi in group_from_name("Th").irreps()].count("C") == 2
    # inversion and improper elements
    for name, has_inv, improper in [("T", False, False), ("Td", False, True), ("Th", True, True), ("Oh", True, True),
                                    ("Ih", True, True), ("D3h", False, True), ("C4h", True, True)]:
        G = group_from_name(name)
        assert (G.inversion is not None) == has_inv and G.has_improper == improper
    # orientation: O contains the quarter turns about x, y, z; T the half turns and the turns about (1, 1, 1)
    quarter_x = torch.tensor([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])
    group_from_name("O").from_matrix(quarter_x)
    group_from_name("T").from_matrix(torch.tensor([[0.0, 0, 1], [1, 0, 0], [0, 1, 0]]))
    group_from_name("T").from_matrix(torch.diag(torch.tensor([1.0, -1, -1])))
    with pytest.raises(ValueError, match="not an element"):
        group_from_name("T").from_matrix(quarter_x)
    # I: 2-fold axes along x, y, z, 5-fold axes through the vertices (0, +-1, +-phi) and cyclic permutations
    phi = (1 + 5**0.5) / 2
    m = group_from_name("I").matrix(group_from_name("I").elements())
    vertices = torch.tensor([[0.0, 1, phi], [0, -1, phi], [0, 1, -phi], [0, -1, -phi]])
    vertices = torch.cat([vertices, vertices.roll(1, -1), vertices.roll(2, -1)])
    images = torch.einsum("gij,vj->gvi", m, vertices)
    dist = (images.reshape(-1, 1, 3) - vertices).norm(dim=-1).min(-1).values
    assert dist.max() < 1e-10  # I maps the icosahedron to itself
    traces = _trace(m)
    assert int(((traces - (1 + 2 * np.cos(2 * np.pi / 5))).abs() < 1e-9).sum()) == 12  # 6 axes, 2 turns each


def test_point_group_bases_are_deterministic(monkeypatch):
    """The irreps do not depend on the random matrix that splits the restrictions: rebuilding them gives
    bit-for-bit the same matrices, and other random numbers the same matrices up to rounding."""
    from steertorch.group._point_groups import PointGroup, _find_irreps

    G = group_from_name("Ih")
    tables = [psi(G.elements()) for psi in G.irreps()]
    for table, data in zip(tables, _find_irreps(G)):
        assert torch.equal(table, torch.from_numpy(data["table"]))

    class OtherSeeds(np.random.RandomState):
        def __init__(self, seed):
            super().__init__(seed + 1234)

    monkeypatch.setattr(np.random, "RandomState", OtherSeeds)
    for name in ("Ih", "T", "D6h"):
        G = group_from_name(name)
        for psi, data in zip(G.irreps(), _find_irreps(G)):
            assert _max(psi(G.elements()) - torch.from_numpy(data["table"])) < 1e-12
    # the same group from other generators: same irreps up to the ordering of the elements
    other = PointGroup("O_other", [np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]),
                                   np.array([[0.0, 0, 1], [1, 0, 0], [0, 1, 0]])])
    O = group_from_name("O")
    assert other.order == 24 and [psi.name for psi in other.irreps()] == [psi.name for psi in O.irreps()]
    index = O.from_matrix(other.matrix(other.elements()))
    for a, b in zip(other.irreps(), O.irreps()):
        assert _max(a(other.elements()) - b(index)) < 1e-12


def test_continuous_aliases():
    assert group_from_name("Cinf") is so2_group(3)
    assert group_from_name("Dinf") is o2_group(3, "rotation")
    assert group_from_name("Cinfv") is o2_group(3, "mirror")
    G = group_from_name("Cinfh")
    assert G.base is so2_group(3) and G is group_from_name("C_inf_h")
    assert group_from_name("Dinfh").base is o2_group(3, "rotation")
    for name in ["T", "O", "I", "Th", "Td", "Oh", "Ih", "Cinfh", "Dinfh", "C{N}h", "D{N}h"]:
        assert name in available_groups()
    assert group_from_name("D6h") is group_from_name("D6h") and group_from_name("C4h").order == 8


# ----------------------------------------------------------------------------- bad input
def test_unknown_group_name():
    with pytest.raises(ValueError, match="unknown group 'X9': expected one of"):
        group_from_name("X9")
    with pytest.raises(ValueError, match="a group name is a string"):
        group_from_name(4)
    with pytest.raises(ValueError, match="acts on R"):
        group_from_name("Ih", ambient_dim=2)
    with pytest.raises(ValueError, match="N >= 1"):
        cyclic_group(0)
    with pytest.raises(ValueError, match="N >= 1"):
        dihedral_group(-2)


@pytest.mark.parametrize("G, label, match", [
    (so2_group(), "a", "frequency k >= 0"),
    (so2_group(), -1, "frequency k >= 0"),
    (o2_group(), (2, 1), r"labelled \(j, k\)"),
    (o2_group(), "x", r"labelled \(j, k\)"),
    (so3_group(), -1, "degree l >= 0"),
    (so3_group(), 1.5, "degree l >= 0"),
    (o3_group(), (1, 2), "parity must be 1 or -1"),
    (o3_group(), "1x", "malformed irrep"),
    (cyclic_group(4), 3, r"frequency 0 <= k <= 2"),
    (dihedral_group(4), (0, 1), "labelled"),
    (group_from_name("O"), 5, r"int 0 <= label < 5 or a name"),
    (group_from_name("Ih"), "Zg", r"int 0 <= label < 10 or a name"),
    (group_from_name("T"), True, r"int 0 <= label < 3"),
])
def test_unknown_irrep_label(G, label, match):
    with pytest.raises(ValueError, match=match):
        G.irrep(label)


def test_bad_elements():
    G = so3_group()
    with pytest.raises(ValueError, match=r"trailing shape \[3, 3\]"):
        G.compose(torch.eye(2), torch.eye(2))
    with pytest.raises(ValueError, match=r"trailing shape \[3, 3\]"):
        G.irrep(2)(torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"trailing shape \[2, 2\]"):
        so2_group().irrep(1)(torch.eye(3))
    with pytest.raises(ValueError, match="expected a tensor"):
        G.inverse([[1.0, 0.0, 0.0]] * 3)
    F = group_from_name("Oh")
    with pytest.raises(ValueError, match="integer index tensors"):
        F.compose(torch.tensor([0.0]), torch.tensor([1.0]))
    with pytest.raises(ValueError, match=r"must lie in \[0, 48\)"):
        F.irrep(1)(torch.tensor([48]))
    with pytest.raises(ValueError, match=r"must lie in \[0, 8\)"):
        cyclic_group(8).inverse(torch.tensor([-1]))
    with pytest.raises(ValueError, match=r"expected matrices \[..., 3, 3\]"):
        F.from_matrix(torch.eye(2))


def test_from_matrix_rejects_matrices_outside_the_group():
    with pytest.raises(ValueError, match=r"det \+1"):
        so3_group().from_matrix(torch.diag(torch.tensor([1.0, 1.0, -1.0])))
    with pytest.raises(ValueError, match="R R\\^T = I"):
        so3_group().from_matrix(torch.eye(3) * 2)
    with pytest.raises(ValueError, match="floating point"):
        so3_group().from_matrix(torch.eye(3, dtype=torch.long))
    with pytest.raises(ValueError, match="fix the z axis"):
        so2_group(3).from_matrix(torch.tensor([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]))
    with pytest.raises(ValueError, match="reflection"):
        so2_group().from_matrix(torch.diag(torch.tensor([1.0, -1.0])))
    with pytest.raises(ValueError, match="not an element of the group"):
        group_from_name("I").from_matrix(torch.tensor([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]]))
    with pytest.raises(ValueError, match="fix the z axis"):
        group_from_name("Dinfh").from_matrix(torch.tensor([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]))


def test_continuous_irreps_need_a_band_limit(continuous_group):
    with pytest.raises(ValueError, match="pass a band_limit"):
        continuous_group.irreps()
    assert len(continuous_group.irreps(2)) > 0


def test_finite_groups_have_elements_continuous_do_not():
    with pytest.raises(ValueError, match="not finite"):
        so3_group().elements()
    with pytest.raises(ValueError, match="not finite"):
        o2_group().regular_representation()
