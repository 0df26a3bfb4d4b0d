"""Grid convolutions with kernel modules: R2Conv / R3Conv(kernel=ImplicitKernel(...)) exactly equivariant under
the grid's symmetries, unit second moment at initialisation; the rank test (implicit kernels span the analytic
basis on O(2) acting on R^2)."""

import pytest
import torch

from steertorch import gspaces
from steertorch.group._group import float64_default
from steertorch.kernels import grid_points, kernel_basis
from steertorch.nn import BasisKernel, FieldType, ImplicitKernel, R2Conv, R3Conv
from steertorch.testing import field_equivariance_error, grid_symmetries


@pytest.mark.parametrize("name", ["C8", "D4", "O2"])
def test_r2conv_implicit_equivariant_on_grid_symmetries(name):
    torch.manual_seed(0)
    with float64_default():
        gs = {"C8": lambda: gspaces.rot2dOnR2(8), "D4": lambda: gspaces.flipRot2dOnR2(4),
              "O2": lambda: gspaces.flipRot2dOnR2(-1)}[name]()
        if gs.fibergroup.is_finite:
            t_in, t_out = FieldType(gs, [gs.trivial_repr, gs.regular_repr]), FieldType(gs, 2 * [gs.regular_repr])
        else:
            t_in = FieldType(gs, [gs.trivial_repr, gs.irrep(1, 1)])
            t_out = FieldType(gs, [gs.irrep(1, 1), gs.irrep(1, 2), gs.irrep(1, 0)])
        k = ImplicitKernel(gs, t_in, t_out, hidden=[4], r_max=3.0)
        conv = R2Conv(t_in, t_out, 5, padding=2, kernel=k).double()
    x = torch.randn(2, t_in.size, 9, 9, dtype=torch.float64)
    assert field_equivariance_error(conv, x, grid_symmetries(gs)) < 1e-12


def test_r3conv_implicit_equivariant_on_octahedral_grid_symmetries():
    torch.manual_seed(0)
    with float64_default():
        gs = gspaces.fullOctaOnR3()
        t_in, t_out = FieldType(gs, [gs.trivial_repr, gs.basespace_repr]), FieldType(gs, [gs.irreps()[-1]] * 2)
        conv = R3Conv(t_in, t_out, 3, padding=1, kernel=ImplicitKernel(gs, t_in, t_out, hidden=[2], r_max=2.0))
        conv = conv.double()
    x = torch.randn(1, t_in.size, 5, 5, 5, dtype=torch.float64)
    assert field_equivariance_error(conv, x, grid_symmetries(gs)) < 1e-12


def _second_moment(conv, c_in, n=64, size=13):
    torch.manual_seed(1)
    with torch.no_grad():
        y = conv(torch.randn(n, c_in, size, size))
    k = conv.kernel_size[0] // 2
    return float(y[..., k:-k, k:-k].pow(2).mean())


def test_grid_conv_initialisation_unit_second_moment_like_analytic():
    torch.manual_seed(0)
    gs = gspaces.rot2dOnR2(8)
    t_in, t_out = FieldType(gs, 3 * [gs.regular_repr]), FieldType(gs, 4 * [gs.regular_repr])
    implicit = R2Conv(t_in, t_out, 5, kernel=ImplicitKernel(gs, t_in, t_out, hidden=[8], r_max=3.0))
    analytic = R2Conv(t_in, t_out, 5)
    m_impl, m_anal = _second_moment(implicit, t_in.size), _second_moment(analytic, t_in.size)
    assert 0.8 < m_impl < 1.25, m_impl
    assert 0.8 < m_anal < 1.25, m_anal
    # the calibration is what does it: without it the MLP's raw scale is far from 1
    raw = R2Conv(t_in, t_out, 5, kernel=ImplicitKernel(gs, t_in, t_out, hidden=[8], r_max=3.0))
    raw.expansion.kernel.gain.fill_(1.0)
    assert not 0.5 < _second_moment(raw, t_in.size) < 2.0


def test_grid_conv_kernel_errors():
    gs = gspaces.rot2dOnR2(4)
    t1, t2 = FieldType(gs, [gs.regular_repr]), FieldType(gs, [gs.trivial_repr])
    k = ImplicitKernel(gs, t1, t2, hidden=[2])
    with pytest.raises(ValueError, match="the kernel maps"):
        R2Conv(t2, t1, 3, kernel=k)
    with pytest.raises(ValueError, match="attributes"):
        R2Conv(t1, t2, 3, kernel=ImplicitKernel(gs, t1, t2, hidden=[2], attributes=1))
    with pytest.raises(ValueError, match="ImplicitKernel or a BasisKernel"):
        R2Conv(t1, t2, 3, kernel=torch.nn.Linear(2, 2))


def test_grid_conv_with_basis_kernel_module_and_backward():
    gs = gspaces.flipRot2dOnR2(4)
    t1, t2 = FieldType(gs, [gs.regular_repr]), FieldType(gs, [gs.irrep(1, 1)])
    conv = R2Conv(t1, t2, 3, padding=1, kernel=BasisKernel(t1, t2, radii=[0.0, 1.0], sigma=0.6, r_max=2.0))
    y = conv(torch.randn(1, 8, 6, 6))
    y.pow(2).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in conv.parameters() if p.requires_grad)


def _rank(m: torch.Tensor, tol: float = 1e-8) -> int:
    s = torch.linalg.svdvals(m)
    return int((s > tol * s[0]).sum())


def test_implicit_kernels_span_the_analytic_basis_o2():
    """O(2) on R^2, vector -> (scalar, vector, frequency-2) kernels: over many random MLPs, the implicit kernels
    sampled on rings of points (origin and mirror axes included) span the analytic basis of the same types."""
    torch.manual_seed(0)
    with float64_default():
        gs = gspaces.flipRot2dOnR2(-1)
        t_in = FieldType(gs, [gs.irrep(1, 1)])
        t_out = FieldType(gs, [gs.trivial_repr, gs.irrep(1, 1), gs.irrep(1, 2)])
        pts = grid_points(5, 2, dtype=torch.float64)
        basis = torch.cat([kernel_basis(gs, t_in.representation, t_out.representation, radii=[0.0, 1.0, 2.0],
                                        sigma=0.6).sample(pts).reshape(-1, t_out.size * t_in.size * pts.shape[0])])
        implicit = []
        for _ in range(6):
            k = ImplicitKernel(gs, t_in, t_out, hidden=[8, 8], r_max=4.0)
            with torch.no_grad():
                for p in k.parameters():
                    p.normal_()
                for _ in range(10):  # fresh final-layer weights: 10 kernels per MLP body
                    k.mlp.layers[-1].weights.normal_()
                    implicit.append(k(pts).permute(1, 2, 0).reshape(-1))
        implicit = torch.stack(implicit)
    r_impl = _rank(implicit)
    assert _rank(basis) == basis.shape[0]
    assert _rank(torch.cat([basis, implicit])) == r_impl
    # and the analytic basis is in that span: least-squares residual at rounding level
    coef = torch.linalg.lstsq(implicit.T, basis.T).solution
    assert float((implicit.T @ coef - basis.T).abs().max()) < 1e-8 * float(basis.abs().max())
