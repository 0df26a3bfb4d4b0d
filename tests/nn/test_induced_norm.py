"""The induced-norm nonlinearity on fields of induced representations (escnn's use): exactly equivariant."""

import pytest
import torch

from steertorch.gspaces import flipRot2dOnR2, rot2dOnR2
from steertorch.nn import FieldType, InducedNormNonLinearity
from steertorch.testing import field_equivariance_error, grid_symmetries


@pytest.mark.parametrize("gs, sub_name", [(flipRot2dOnR2(4), "C4"), (rot2dOnR2(8), "C4"), (flipRot2dOnR2(4), "D2")],
                         ids=["D4/C4", "C8/C4", "D4/D2"])
def test_induced_norm_nonlinearity_on_induced_fields(gs, sub_name):
    """escnn's use: fields of an induced representation, norm nonlinearity per coset block; exactly equivariant
    for every group element (fibre action) and for the grid's symmetries."""
    torch.manual_seed(0)
    sub, _ = gs.restrict(sub_name)
    psi = max(sub.fibergroup.irreps(), key=lambda p: p.size)
    rho = gs.induced_repr(sub_name, psi)
    ft = FieldType(gs, [rho, rho])
    act = InducedNormNonLinearity(ft, block_size=psi.size).to(torch.float64)
    x = torch.randn(2, ft.size, 5, 5, dtype=torch.float64)
    with torch.no_grad():
        y = act(x)
        for g in gs.fibergroup.elements():
            assert float((act(ft.transform_fibers(x, g)) - ft.transform_fibers(y, g)).abs().max()) < 1e-12
    assert field_equivariance_error(act, x, grid_symmetries(gs)) < 1e-10
