"""steertorch.io: e3nn.io's names, the same classes as in steertorch.o3, with e3nn's values."""

import pytest
import torch

from steertorch import io, o3

e3io = pytest.importorskip("e3nn.io")


def test_names_and_classes():
    assert set(e3io.__all__) <= set(io.__all__)
    assert io.CartesianTensor is o3.CartesianTensor and io.SphericalTensor is o3.SphericalTensor


def test_cartesian_tensor_equals_e3nn():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # e3nn builds its change of basis in the default dtype
    try:
        _compare_cartesian()
    finally:
        torch.set_default_dtype(old)


def _compare_cartesian():
    x = torch.randn(4, 3, 3, dtype=torch.float64)
    x = x + x.transpose(-1, -2)
    ours, theirs = io.CartesianTensor("ij=ji"), e3io.CartesianTensor("ij=ji")
    assert str(ours) == str(theirs)
    torch.testing.assert_close(ours.from_cartesian(x), theirs.from_cartesian(x), rtol=0, atol=1e-12)


def test_spherical_tensor_irreps_equal_e3nn():
    for lmax, p_val, p_arg in [(2, 1, -1), (3, -1, -1), (1, 1, 1)]:
        assert str(io.SphericalTensor(lmax, p_val, p_arg)) == str(e3io.SphericalTensor(lmax, p_val, p_arg))
