"""Faults found running escnn code (issue 18): integer inputs, pickling of irreps / Fourier modules, sample dtype."""

import copy
import pickle

import pytest
import torch
from _module_zoo import cases

from steertorch import gspaces
from steertorch.group import so2_group

GRID = [c for c in cases() if c.kind == "grid"]
GSPACES = [n for n in gspaces.__all__ if n.endswith(("OnR2", "OnR3"))]


def _gspace(name):
    f = getattr(gspaces, name)
    try:
        return f()
    except TypeError:  # the factories with a required order
        return f(4)


@pytest.mark.parametrize("case", GRID, ids=[c.name for c in GRID])
def test_grid_modules_reject_integer_inputs(case):
    m = case.build()
    args, kwargs = case.inputs(2, torch.float32)
    with pytest.raises(ValueError, match="torch.int64"):
        m(*(a.long() if torch.is_tensor(a) else a for a in args), **kwargs)


@pytest.mark.parametrize("case", GRID, ids=[c.name for c in GRID])
def test_grid_modules_pickle_and_deepcopy(case):
    m = case.build().eval()
    args, kwargs = case.inputs(2, torch.float32)
    ref = m(*args, **kwargs)
    for other in (pickle.loads(pickle.dumps(m)), copy.deepcopy(m)):
        torch.testing.assert_close(other(*args, **kwargs), ref, rtol=0, atol=0)


def test_so2_irrep_pickles_to_the_same_irrep():
    psi = so2_group().irrep(1)
    assert pickle.loads(pickle.dumps(psi)) is psi
    assert copy.deepcopy(psi) is psi


@pytest.mark.parametrize("name", GSPACES)
def test_gspaces_groups_and_representations_pickle(name):
    gs = _gspace(name)
    G = gs.fibergroup
    objects = [gs, G, gs.trivial_repr, gs.basespace_repr, *(G.irreps() if G.is_finite else G.irreps(2))]
    if G.is_finite:
        objects.append(gs.regular_repr)
    for obj in objects:
        back = pickle.loads(pickle.dumps(obj))
        assert back == obj and copy.deepcopy(obj) == obj
    g = G.sample(3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    rho = gs.basespace_repr
    torch.testing.assert_close(pickle.loads(pickle.dumps(rho))(g), rho(g), rtol=0, atol=0)


@pytest.mark.parametrize("name", GSPACES)
def test_sample_is_float64_when_asked_or_in_float64_code(name):
    G = _gspace(name).fibergroup
    if G.is_finite:
        assert not G.sample(3).is_floating_point()
        return
    assert G.sample(3, dtype=torch.float64).dtype == torch.float64
    assert G.sample().dtype == torch.get_default_dtype()
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        assert G.sample(2).dtype == torch.float64
    finally:
        torch.set_default_dtype(old)
