"""The rest of e3nn's ``util.test`` and ``util.jit``: assert_normalized, assert_auto_jitable, assert_torch_compile,
set_random_seeds, the optimization switches."""

from __future__ import annotations

import pytest
import torch

from steertorch import nn as snn
from steertorch import o3
from steertorch.util import jit
from steertorch.util import test as ut


class _Scaled(torch.nn.Module):
    def __init__(self, module: torch.nn.Module, scale: float) -> None:
        super().__init__()
        self.module, self.scale = module, scale
        self.irreps_in, self.irreps_out = module.irreps_in, module.irreps_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * self.module(x)


@pytest.mark.parametrize("make", [lambda: o3.Linear("8x0e + 4x1o", "6x0e + 3x1o"),
                                  lambda: snn.Gate("4x0e", [torch.tanh], "2x0e", [torch.sigmoid], "2x1o")])
def test_assert_normalized_passes_normalized_modules_and_catches_a_scaled_one(make):
    # many weight draws for a module with weights; many inputs for one without (the statistics must converge)
    draws = dict(n_weight=400, n_input=300) if any(True for _ in make().parameters()) else dict(n_input=50_000)
    torch.manual_seed(0)
    ut.assert_normalized(make(), **draws)
    torch.manual_seed(0)
    with pytest.raises(AssertionError, match="mean squares"):
        ut.assert_normalized(_Scaled(make(), 1.5), **draws)


def test_assert_normalized_argument_errors():
    with pytest.raises(ValueError, match="normalization"):
        ut.assert_normalized(o3.Linear("0e", "0e"), normalization="integral")


def test_assert_auto_jitable_and_torch_compile():
    tp = o3.FullyConnectedTensorProduct("2x0e + 1o", "1o", "2x0e + 1o + 1e")
    traced = ut.assert_auto_jitable(tp)
    assert isinstance(traced, torch.jit.ScriptModule)
    with pytest.raises(ValueError, match="compile mode"):
        ut.assert_auto_jitable(torch.nn.ReLU())
    lin = o3.Linear("2x0e + 1o", "1x0e + 2x1o")
    ut.assert_torch_compile("script", lin, torch.randn(4, 5))


def test_seeds_and_optimization_switches():
    ut.set_random_seeds()
    a = torch.rand(3)
    ut.set_random_seeds()
    assert torch.equal(a, torch.rand(3))
    assert jit.get_optimization_defaults()["specialized_code"] is True
    jit.set_optimization_defaults(specialized_code=False)
    assert jit.get_optimization_defaults()["specialized_code"] is False
    jit.set_optimization_defaults(specialized_code=True)
    with pytest.raises(ValueError, match="unknown"):
        jit.set_optimization_defaults(fast=True)
    with jit.disable_e3nn_codegen():
        pass
