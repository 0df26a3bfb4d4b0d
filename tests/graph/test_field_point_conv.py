"""FieldPointConv: E(d) x G equivariance with implicit kernels and steerable edge attributes, the analytic default,
unit second moment at initialisation, zero edges / zero-length edges, errors."""

import pytest
import torch

from steertorch import gspaces
from steertorch.graph import FieldPointConv, radius_graph
from steertorch.group._group import float64_default
from steertorch.nn import FieldType, ImplicitKernel
from steertorch.testing import random_elements


def _graph(n=7, d=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    pos = torch.randn(n, d, dtype=torch.float64, generator=g)
    src = torch.tensor([j for i in range(n) for j in range(n) if i != j])
    dst = torch.tensor([i for i in range(n) for j in range(n) if i != j])
    return pos, torch.stack([src, dst])


@pytest.mark.parametrize("name", ["O2z", "O3", "Oh", "D6_R2"])
def test_point_conv_with_implicit_kernel_and_attributes_is_equivariant(name):
    torch.manual_seed(0)
    with float64_default():
        gs = {"O2z": lambda: gspaces.conicalOnR3(-1), "O3": lambda: gspaces.flipRot3dOnR3(),
              "Oh": lambda: gspaces.fullOctaOnR3(), "D6_R2": lambda: gspaces.flipRot2dOnR2(6)}[name]()
        t_in = FieldType(gs, [gs.trivial_repr, gs.basespace_repr])
        t_out = FieldType(gs, [gs.basespace_repr, gs.trivial_repr])
        attr = FieldType(gs, [gs.trivial_repr, gs.basespace_repr])
        conv = FieldPointConv(t_in, t_out, kernel=ImplicitKernel(gs, t_in, t_out, hidden=[2], attributes=attr,
                                                                 r_max=3.0)).double()
    with torch.no_grad():
        conv.bias.normal_()
    pos, ei = _graph(d=gs.dimensionality)
    x = torch.randn(pos.shape[0], t_in.size, dtype=torch.float64)
    a = torch.randn(ei.shape[1], attr.size, dtype=torch.float64)
    y = conv(x, pos, ei, a)
    assert float(y.detach().abs().max()) > 1e-3
    t = torch.randn(gs.dimensionality, dtype=torch.float64)
    for g in random_elements(gs.fibergroup, 3, generator=torch.Generator().manual_seed(2)):
        with float64_default():  # finite groups evaluate their irreps in the default dtype
            m = gs.basespace_action(g).to(torch.float64)
            r_in, r_out, r_a = (ft.representation(g).to(torch.float64) for ft in (t_in, t_out, attr))
        y2 = conv(x @ r_in.T, pos @ m.T + t, ei, a @ r_a.T)
        assert float((y2 - y @ r_out.T).detach().abs().max()) < 1e-10
    perm = torch.randperm(pos.shape[0])
    inv = torch.argsort(perm)
    y3 = conv(x[perm], pos[perm], inv[ei], a)
    assert float((y3 - y[perm]).detach().abs().max()) < 1e-12


def test_point_conv_analytic_default_is_equivariant_and_switches_with_one_argument():
    with float64_default():
        gs = gspaces.flipRot3dOnR3()
        t_in, t_out = FieldType(gs, [gs.basespace_repr]), FieldType(gs, [gs.trivial_repr, gs.basespace_repr])
        analytic = FieldPointConv(t_in, t_out, r_max=3.0).double()
        implicit = FieldPointConv(t_in, t_out, r_max=3.0,
                                  kernel=ImplicitKernel(gs, t_in, t_out, hidden=[2], r_max=3.0)).double()
    pos, ei = _graph()
    x = torch.randn(pos.shape[0], 3, dtype=torch.float64)
    g = random_elements(gs.fibergroup, 1, generator=torch.Generator().manual_seed(5))[0]
    m = gs.basespace_action(g)
    with float64_default():
        r_out = t_out.representation(g)
    for conv in (analytic, implicit):
        y = conv(x, pos, ei)
        assert float((conv(x @ m.T, pos @ m.T, ei) - y @ r_out.T).abs().max()) < 1e-10


@pytest.mark.parametrize("implicit", [False, True])
def test_point_conv_initialisation_unit_second_moment(implicit):
    torch.manual_seed(0)
    gs = gspaces.rot2dOnR3(-1)
    t_in = FieldType(gs, 4 * [gs.trivial_repr] + 2 * [gs.basespace_repr])
    t_out = FieldType(gs, 3 * [gs.trivial_repr] + 2 * [gs.basespace_repr])
    kernel = ImplicitKernel(gs, t_in, t_out, hidden=[8], r_max=1.5) if implicit else None
    conv = FieldPointConv(t_in, t_out, kernel=kernel, r_max=1.5)
    pos = torch.rand(3000, 3) * 12
    ei = radius_graph(pos, r=1.5)
    with torch.no_grad():
        y = conv(torch.randn(pos.shape[0], t_in.size), pos, ei)
    interior = ((pos > 1.5) & (pos < 10.5)).all(1)
    m = float(y[interior].pow(2).mean())
    assert 0.7 < m < 1.4, m


def test_point_conv_no_edges_zero_length_edges_and_errors():
    gs = gspaces.flipRot3dOnR3()
    t_in, t_out = FieldType(gs, [gs.basespace_repr]), FieldType(gs, [gs.basespace_repr])
    conv = FieldPointConv(t_in, t_out, kernel=ImplicitKernel(gs, t_in, t_out, hidden=[2], attributes=1))
    pos = torch.randn(3, 3, requires_grad=True)
    x = torch.randn(3, 3, requires_grad=True)
    y = conv(x, pos, torch.zeros(2, 0, dtype=torch.long), torch.zeros(0, 1))
    assert y.shape == (3, 3)
    y.sum().backward()
    ei = torch.tensor([[0, 1], [0, 2]])  # a self loop: zero relative position
    y = conv(x, pos, ei, torch.ones(2, 1))
    y.pow(2).sum().backward()
    assert torch.isfinite(pos.grad).all() and torch.isfinite(x.grad).all()
    with pytest.raises(ValueError, match="attributes"):
        conv(x, pos, ei)
    with pytest.raises(ValueError, match="node features"):
        conv(torch.randn(3, 4), pos, ei, torch.ones(2, 1))
    with pytest.raises(ValueError, match="dtype"):
        conv.kernel(torch.randn(2, 3, dtype=torch.float64), torch.ones(2, 1, dtype=torch.float64))
    with pytest.raises(ValueError, match="the kernel maps"):
        FieldPointConv(t_out, FieldType(gs, [gs.trivial_repr]), kernel=conv.kernel)
