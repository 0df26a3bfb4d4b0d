"""Every group that ``group_from_name`` knows: its irreps are orthogonal homomorphisms,
rho(gh) = rho(g) rho(h) <= 1e-10 (continuous groups up to degree / frequency 8), the
characters are Schur-orthogonal, and ``standard_representation`` is the standard action and
is built once."""

import pytest
import torch

from steertorch.group import available_groups, group_from_name

BAND_LIMIT = 8
#: the values of N tried for each family name ``C{N}``, ``D{N}``, ...
FAMILY_N = {"C{N}": (1, 2, 3, 4, 7), "D{N}": (1, 2, 3, 5, 6), "C{N}v": (1, 2, 3, 4, 6),
            "C{N}h": (1, 2, 3, 5, 6), "D{N}h": (1, 2, 4, 5, 6)}
NAMES = []
for _name in available_groups():
    if "{N}" in _name:
        NAMES += [_name.replace("{N}", str(n)) for n in FAMILY_N[_name]]
    else:
        NAMES.append(_name)


def test_every_family_is_listed():
    assert {name for name in available_groups() if "{N}" in name} <= set(FAMILY_N)
    assert {"SO2", "O2", "SO3", "O3", "I", "Ih", "O", "Oh", "T", "Td", "Th", "trivial"} <= set(NAMES)


def _trace(m):
    return torch.diagonal(m, dim1=-2, dim2=-1).sum(-1)


def _max(x):
    return float(x.abs().max()) if x.numel() else 0.0


@pytest.fixture(autouse=True)
def _float64_one_thread():
    old, threads = torch.get_default_dtype(), torch.get_num_threads()
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)
    yield
    torch.set_default_dtype(old)
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", NAMES)
def test_irreps_homomorphism_orthogonality_and_characters(name):
    G = group_from_name(name)
    if G.is_finite:
        e = G.elements()
        g = e[:, None].expand(G.order, G.order).reshape(-1)
        h = e[None, :].expand(G.order, G.order).reshape(-1)
        irreps = G.irreps()
        q, w = e, torch.full((G.order,), 1.0 / G.order)
    else:
        gen = torch.Generator().manual_seed(0)
        g, h = G.sample(16, generator=gen, dtype=torch.float64), G.sample(16, generator=gen, dtype=torch.float64)
        irreps = G.irreps(BAND_LIMIT)
        q, w = G.quadrature(2 * BAND_LIMIT)
    gh = G.compose(g, h)
    assert _max(G.matrix(gh) - G.matrix(g) @ G.matrix(h)) <= 1e-12
    for psi in irreps:
        a, b = psi(g), psi(h)
        assert a.dtype == torch.float64 and a.shape[-2:] == (psi.size, psi.size)
        assert _max(psi(gh) - a @ b) <= 1e-10, (name, psi.label)
        assert _max(a.transpose(-1, -2) @ a - torch.eye(psi.size)) <= 1e-10, (name, psi.label)
    # Schur orthogonality of characters: <chi_a, chi_b> = delta_ab dim End(psi_a)
    chi = torch.stack([_trace(psi(q)) for psi in irreps])
    gram = torch.einsum("an,n,bn->ab", chi, w.to(chi.dtype), chi)
    expected = torch.diag(torch.tensor([float(psi.endomorphism_dim) for psi in irreps]))
    assert _max(gram - expected) <= 1e-9, name
    if G.is_finite:
        assert sum(psi.size**2 // psi.endomorphism_dim for psi in irreps) == G.order


@pytest.mark.parametrize("name", ["SO3", "O2", "D4", "Oh"])
def test_standard_representation_is_cached_and_is_the_standard_action(name):
    G = group_from_name(name)
    rho = G.standard_representation
    assert G.standard_representation is rho  # built once
    g = G.elements() if G.is_finite else G.sample(8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert _max(rho(g) - G.matrix(g)) <= 1e-10


@pytest.mark.parametrize("name", [n for n in NAMES if group_from_name(n).is_finite])
def test_clebsch_gordan_of_every_finite_group(name):
    """For all pairs of irreps a, b and every c in a x b: C [m, da, db, dc] is an isometric intertwiner
    (<= 1e-10) and the copies of all c together form an orthogonal change of basis of a x b."""
    G = group_from_name(name)
    e = G.elements()
    values = {psi.label: psi(e) for psi in G.irreps()}
    for a, va in values.items():
        for b, vb in values.items():
            da, db = va.shape[-1], vb.shape[-1]
            rho = torch.einsum("nij,nkl->nikjl", va, vb).reshape(-1, da * db, da * db)
            columns = []
            for c, m in G.tensor_product_multiplicities(a, b):
                q = G.clebsch_gordan(a, b, c).reshape(m, da * db, -1)
                assert _max(rho[:, None] @ q[None] - q[None] @ values[c][:, None]) <= 1e-10, (name, a, b, c)
                columns.append(q.permute(1, 0, 2).reshape(da * db, -1))
            full = torch.cat(columns, dim=1)
            assert full.shape == (da * db, da * db), (name, a, b)
            assert _max(full.T @ full - torch.eye(da * db)) <= 1e-10, (name, a, b)
