"""TorchScript deployment under e3nn's ``e3nn.util.jit`` names: a NequIP-style interaction block written by a
user (scriptable ``forward``) around steertorch's Linear, tensor product, Gate and spherical harmonics, scripted
with ``steertorch.util.jit.script``, saved, and run in a fresh process without the Python classes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from steertorch import nn as snn
from steertorch import o3
from steertorch.util import jit

F64 = torch.float64


class Interaction(torch.nn.Module):
    """Edge messages ``TP(x_src, Y(r); w(|r|))`` summed into targets, a linear update and a gate."""

    def __init__(self) -> None:
        super().__init__()
        irreps = o3.Irreps("4x0e + 2x1o")
        self.sh = o3.SphericalHarmonics("0e + 1o + 2e", normalize=True, normalization="component")
        self.tp = o3.FullyConnectedTensorProduct(irreps, self.sh.irreps_out, irreps, shared_weights=False,
                                                 internal_weights=False)
        self.radial = torch.nn.Linear(1, self.tp.weight_numel)
        self.gate = snn.Gate("2x0e", [torch.tanh], "2x0e", [torch.sigmoid], "2x1o")
        self.linear = o3.Linear(irreps, self.gate.irreps_in)

    def forward(self, x: torch.Tensor, pos: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        src, dst = edge_index[0], edge_index[1]
        vec = pos[src] - pos[dst]
        w = self.radial(vec.pow(2).sum(dim=1, keepdim=True).sqrt())
        messages = self.tp(x[src], self.sh(vec), w)
        out = torch.zeros(x.shape[0], messages.shape[1], dtype=x.dtype, device=x.device).index_add(0, dst, messages)
        return self.gate(self.linear(out))


def _inputs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 10, generator=g, dtype=F64)
    pos = torch.randn(n, 3, generator=g, dtype=F64)
    edge_index = torch.randint(0, n, (2, 3 * n), generator=g)
    return x, pos, edge_index


def test_scripted_block_equals_eager_on_other_sizes_and_reloads_in_a_fresh_process(tmp_path: Path):
    torch.manual_seed(0)
    block = Interaction().double()
    scripted = jit.script(block, in_place=False)
    assert isinstance(scripted, torch.jit.ScriptModule)
    assert isinstance(block.tp, o3.FullyConnectedTensorProduct)  # in_place=False left the model alone
    for n in (5, 17):
        inputs = _inputs(n, n)
        torch.testing.assert_close(scripted(*inputs), block(*inputs), rtol=1e-12, atol=1e-12)
    torch.jit.save(scripted, tmp_path / "block.pt")
    inputs = _inputs(9, 1)
    torch.save(inputs, tmp_path / "inputs.pt")
    code = ("import sys, torch\nm = torch.jit.load(sys.argv[1])\nx = torch.load(sys.argv[2])\n"
            "torch.save(m(*x), sys.argv[3])\n")  # no steertorch import: TorchScript only
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "block.pt"), str(tmp_path / "inputs.pt"),
                           str(tmp_path / "out.pt")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    torch.testing.assert_close(torch.load(tmp_path / "out.pt"), block(*inputs), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("make", [
    lambda: o3.Linear("4x0e + 2x1o", "2x0e + 3x1o + 1x2e"),
    lambda: o3.FullyConnectedTensorProduct("2x0e + 1o", "1o + 2e", "3x0e + 2x1o + 1x2e"),
    lambda: snn.Gate("2x0e", [torch.relu], "1x0e", [torch.sigmoid], "1x1o"),
    lambda: snn.NormActivation("2x1o + 1x2e", torch.sigmoid),
    lambda: o3.SphericalHarmonics([0, 1, 2], True),
], ids=["Linear", "FullyConnectedTensorProduct", "Gate", "NormActivation", "SphericalHarmonics"])
def test_compile_traces_each_building_block(make):
    torch.manual_seed(0)
    module = make().double()
    assert jit.get_compile_mode(module) == "trace"
    compiled = jit.compile(module, in_place=False, dtype=F64)
    for inputs in jit.get_tracing_inputs(module, 3, dtype=F64):
        torch.testing.assert_close(compiled(*inputs["forward"]), module(*inputs["forward"]), rtol=1e-12,
                                   atol=1e-12)


def test_compile_mode_decorator_and_errors():
    @jit.compile_mode("unsupported")
    class Nope(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    with pytest.raises(NotImplementedError, match="Nope"):
        jit.compile(Nope())
    with pytest.raises(ValueError, match="compile_mode"):
        jit.compile_mode("fast")
    with pytest.raises(ValueError, match="_make_tracing_inputs"):
        jit.get_tracing_inputs(torch.nn.ReLU())
