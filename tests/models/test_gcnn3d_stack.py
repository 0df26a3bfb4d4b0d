"""A 3D G-CNN (regular fields of the octahedral group O, or of the full octahedral group Oh) is invariant under
the cube's rotations (and reflections for Oh).

Model (a ``SequentialModule``, so consecutive types are checked): R3Conv lifting (scalar -> regular fields of O)
-> InnerBatchNorm -> ReLU -> R3Conv (regular -> regular) -> 2x2x2 max pooling -> GroupPooling, then the global
average over the volume: one invariant per field. Invariance is exact (float64, <= 1e-10) for all 24 rotations
of O (48 elements of Oh), in train and in eval mode.
"""

from __future__ import annotations

import pytest
import torch

from steertorch.gspaces import fullOctaOnR3, octaOnR3
from steertorch.nn import (
    FieldType,
    GroupPooling,
    InnerBatchNorm,
    PointwiseMaxPool3D,
    PointwiseNonLinearity,
    R3Conv,
    SequentialModule,
)
from steertorch.testing import grid_symmetries

torch.set_num_threads(1)
F64 = torch.float64


def _model(gs) -> SequentialModule:
    scalar = FieldType(gs, [gs.trivial_repr])
    regular = FieldType(gs, [gs.regular_repr] * 2)
    return SequentialModule(
        R3Conv(scalar, regular, 3, padding=1),
        InnerBatchNorm(regular),
        PointwiseNonLinearity(regular, "p_relu"),
        R3Conv(regular, regular, 3, padding=1),
        PointwiseMaxPool3D(regular, 2),
        GroupPooling(regular),
    )


def _invariants(model: SequentialModule, x: torch.Tensor) -> torch.Tensor:
    return model(x).mean(dim=(2, 3, 4))


@pytest.mark.parametrize("make", [octaOnR3, fullOctaOnR3], ids=["O", "Oh"])
def test_3d_gcnn_invariant_under_cube_symmetries(make):
    """O (24 rotations) and Oh (48 rotations and reflections: the compact block basis makes its regular ->
    regular convolution cheap to build)."""
    torch.manual_seed(0)
    gs = make()
    model = _model(gs).to(F64)
    elements = grid_symmetries(gs)
    assert len(elements) == gs.fibergroup.order  # every element of O / Oh maps the voxel grid onto itself
    x = torch.randn(2, 1, 6, 6, 6, dtype=F64)
    with torch.no_grad():
        for _ in range(2):  # training steps give the batch norm non-trivial running statistics
            model(torch.randn(4, 1, 6, 6, 6, dtype=F64))
        for mode in ("train", "eval"):
            model.train(mode == "train")
            ref = _invariants(model, x)
            assert ref.shape == (2, 2) and float(ref.abs().max()) > 1e-3
            for g in elements:
                out = _invariants(model, model.in_type.transform(x, g))
                assert float((out - ref).abs().max()) <= 1e-10 * float(ref.abs().max()), (mode, g)


def test_3d_gcnn_is_not_invariant_to_a_generic_rotation():
    """The test above can fail: a 45-degree turn about z (not a grid symmetry, input interpolated) changes the
    invariants by far more than rounding."""
    torch.manual_seed(0)
    gs = octaOnR3()
    model = _model(gs).to(F64).eval()
    c, s = 2 ** -0.5, 2 ** -0.5
    rot45 = torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=F64)
    x = torch.randn(2, 1, 6, 6, 6, dtype=F64)
    from steertorch.nn._fields._type import _interpolate

    with torch.no_grad():
        ref = _invariants(model, x)
        moved = _interpolate(x, rot45)
        assert float((_invariants(model, moved) - ref).abs().max()) > 1e-3 * float(ref.abs().max())
