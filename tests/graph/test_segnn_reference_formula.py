"""SEGNN's reference parametrisation equals the reference code's formula on e3nn's own tensor product.

The reference SEGNN's steerable layer is e3nn's ``FullyConnectedTensorProduct`` (component normalisation) whose
output block of fan-in ``f`` (the sum of mul_1 mul_2 over the paths into it) is multiplied by ``sqrt(f)``, plus a
bias on the 0e outputs. With the same weights, ours must give the same values (e3nn is a test-only dependency).
"""

from __future__ import annotations

import math

import pytest
import torch

from steertorch.graph import O3TensorProduct

eo3 = pytest.importorskip("e3nn.o3")


def _reference_formula(layer: O3TensorProduct, x: torch.Tensor, attr: torch.Tensor) -> torch.Tensor:
    irreps_in, irreps_out = eo3.Irreps(str(layer.tp.irreps_in1)), eo3.Irreps(str(layer.tp.irreps_out))
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # e3nn computes its coefficients in the default dtype
    try:
        tp = eo3.FullyConnectedTensorProduct(irreps_in, eo3.Irreps(str(layer.irreps_attr)), irreps_out,
                                             shared_weights=True, irrep_normalization="component")
    finally:
        torch.set_default_dtype(default)
    with torch.no_grad():
        tp.weight.copy_(layer.tp.weight)
    fan_in: dict[int, int] = {}
    for ins in tp.instructions:
        fan_in[ins.i_out] = fan_in.get(ins.i_out, 0) + ins.path_shape[0] * ins.path_shape[1]
    scale = torch.ones(irreps_out.dim, dtype=x.dtype)
    for i, sl in enumerate(irreps_out.slices()):
        scale[sl] = math.sqrt(fan_in.get(i, 1))
    out = tp(x.index_select(-1, layer.perm), attr) * scale
    scalars = [k for (_, ir), sl in zip(irreps_out, irreps_out.slices()) if ir.l == 0 and ir.p == 1
               for k in range(sl.start, sl.stop)]
    out[:, scalars] += layer.bias
    return out


def test_reference_parametrization_is_the_reference_formula():
    torch.manual_seed(0)
    # coefficients computed in float64 (a module built in float32, then .double(), keeps float32's rounding)
    torch.set_default_dtype(torch.float64)
    try:
        # a message layer's input as the reference builds it: (x_i, x_j, extra scalars), not merged
        layer = O3TensorProduct("3x0e + 2x1o + 3x0e + 2x1o + 2x0e", "6x0e + 2x1o", irreps_attr="0e + 1o",
                                parametrization="reference")
    finally:
        torch.set_default_dtype(torch.float32)
    x, attr = torch.randn(7, 20, dtype=torch.float64), torch.randn(7, 4, dtype=torch.float64)
    torch.testing.assert_close(layer(x, attr), _reference_formula(layer, x, attr), rtol=1e-12, atol=1e-12)


def test_reference_scale_survives_dtype_changes():
    """The output scale sqrt(fan-in) is kept in float64: a layer built in float32 and moved to float64 is exact."""
    torch.manual_seed(0)
    built32 = O3TensorProduct("3x0e + 2x1o", "2x0e + 1x1o", irreps_attr="0e + 1o", parametrization="reference")
    moved = built32.double()
    assert moved.out_scale.dtype == torch.float64
    torch.testing.assert_close(moved.out_scale, torch.full((5,), math.sqrt(5.0), dtype=torch.float64),
                               rtol=0, atol=0)
    assert torch.equal(moved.float().double().out_scale, moved.out_scale)
