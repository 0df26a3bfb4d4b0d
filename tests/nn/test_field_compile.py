"""torch.compile(fullgraph=True) runs whole grid-field models and gives the eager output (DESIGN: compile works
on the main modules). aot_eager backend: no C++ compiler needed, graph breaks still fail the test."""

import torch

from steertorch.gspaces import rot2dOnR2
from steertorch.nn import (
    FieldType,
    FourierELU,
    GatedNonLinearity1,
    GroupPooling,
    InnerBatchNorm,
    NormBatchNorm,
    NormPool,
    PointwiseAvgPoolAntialiased2D,
    PointwiseMaxPool2D,
    R2Conv,
    ReLU,
    SequentialModule,
)

torch.set_num_threads(1)


def _compiled_equals_eager(model, x) -> None:
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(x), model(x), rtol=0, atol=1e-6)
    x = x.clone().requires_grad_(True)
    (g_eager,) = torch.autograd.grad(model(x).sum(), x)
    (g_compiled,) = torch.autograd.grad(compiled(x).sum(), x)
    torch.testing.assert_close(g_compiled, g_eager, rtol=0, atol=1e-5)


def test_compile_regular_gcnn_stack():
    torch.manual_seed(0)
    gs = rot2dOnR2(4)
    t_in, reg = FieldType(gs, [gs.trivial_repr]), FieldType(gs, [gs.regular_repr] * 2)
    net = SequentialModule(R2Conv(t_in, reg, 3, padding=1), InnerBatchNorm(reg), ReLU(reg), PointwiseMaxPool2D(reg, 2),
                           GroupPooling(reg))
    _compiled_equals_eager(net, torch.randn(2, 1, 8, 8))


def test_compile_steerable_so2_stack_with_fourier_elu():
    torch.manual_seed(0)
    gs = rot2dOnR2(-1)
    gated = FieldType(gs, [gs.trivial_repr] * 2 + [gs.irrep(1), gs.irrep(2)])
    gate = GatedNonLinearity1(gated)
    act = FourierELU(gs, 1, irreps=1)
    net = SequentialModule(R2Conv(FieldType(gs, [gs.trivial_repr]), gated, 3, padding=1), NormBatchNorm(gated), gate,
                           PointwiseAvgPoolAntialiased2D(gate.out_type, 0.66, 2),
                           R2Conv(gate.out_type, act.in_type, 3, padding=1), act,
                           NormPool(act.out_type))
    _compiled_equals_eager(net, torch.randn(2, 1, 9, 9))
