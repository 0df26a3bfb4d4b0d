"""ImplicitKernel / EquivariantMLP: exact steerability for every G-space of the issue (float64), attributes,
initialisation, zero rows, errors."""

import pytest
import torch

from steertorch import gspaces
from steertorch.group._group import float64_default
from steertorch.kernels import ImplicitKernel
from steertorch.nn import FieldType
from steertorch.testing import assert_equivariant

GSPACES = {
    "SO3": lambda: gspaces.rot3dOnR3(),
    "O3": lambda: gspaces.flipRot3dOnR3(),
    "T": lambda: gspaces.tetraOnR3(),
    "Td": lambda: gspaces.fullTetraOnR3(),
    "O": lambda: gspaces.octaOnR3(),
    "Oh": lambda: gspaces.fullOctaOnR3(),
    "I": lambda: gspaces.icoOnR3(),
    "Ih": lambda: gspaces.fullIcoOnR3(),
    "SO2z": lambda: gspaces.rot2dOnR3(-1),
    "O2z_mirror": lambda: gspaces.conicalOnR3(-1),
    "O2z_rotation": lambda: gspaces.dihedralOnR3(-1),
    "C5z": lambda: gspaces.cyclicOnR3(5),
    "D4z": lambda: gspaces.dihedralOnR3(4),
    "C3zv": lambda: gspaces.conicalOnR3(3),
    "SO2": lambda: gspaces.rot2dOnR2(-1),
    "O2": lambda: gspaces.flipRot2dOnR2(-1),
    "C8": lambda: gspaces.rot2dOnR2(8),
    "D6": lambda: gspaces.flipRot2dOnR2(6),
    "flip": lambda: gspaces.flip2dOnR2(),
}


def _types(gs):
    """Small types with an irrep / the base-space vector on each side, a regular field for small finite groups,
    and steerable attributes (a scalar and a vector)."""
    vec = gs.basespace_repr
    ins = [gs.trivial_repr, vec]
    outs = [vec, gs.irreps(2)[-1] if not gs.fibergroup.is_finite else gs.irreps()[-1]]
    if gs.fibergroup.is_finite and gs.fibergroup.order <= 12:
        ins.append(gs.regular_repr)
    return FieldType(gs, ins), FieldType(gs, outs), FieldType(gs, [gs.trivial_repr, vec])


@pytest.mark.parametrize("name", list(GSPACES))
def test_implicit_kernel_equivariant(name):
    torch.manual_seed(0)
    with float64_default():
        gs = GSPACES[name]()
        in_type, out_type, attr_type = _types(gs)
        k = ImplicitKernel(gs, in_type, out_type, hidden=[3], attributes=attr_type, r_max=2.0).double()
    with torch.no_grad():  # random weights everywhere, not only the initialisation
        for p in k.parameters():
            p.normal_()
    x = torch.randn(6, gs.dimensionality, dtype=torch.float64)
    a = torch.randn(6, attr_type.size, dtype=torch.float64)
    vec_kernel = out_type.representation.tensor(in_type.representation)  # row-major vec(k)
    out = k(x, a)
    assert out.shape == (6, out_type.size, in_type.size)
    assert float(out.detach().abs().max()) > 1e-3
    assert_equivariant(lambda x, a: k(x, a).flatten(1), gs.fibergroup, [gs.basespace_repr, attr_type.representation],
                       [vec_kernel], inputs=[x, a], n_samples=4, atol=1e-10 * max(1.0, float(out.detach().abs().max())),
                       generator=torch.Generator().manual_seed(1))
