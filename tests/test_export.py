"""Deployment: ``torch.export`` of the graph models and a point convolution (dynamic numbers of nodes and
edges, saved, reloaded and run in a fresh process), and ``torch.jit.trace`` of tensor products (the traced
graph must compute what the module computes on other inputs, not replay a kernel the tracer cannot see)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.export import Dim

from steertorch import o3
from steertorch.graph import PointConv
from steertorch.models import SEGNN, TensorFieldNetwork


def _graph(n: int, e: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    half = n // 2
    return dict(pos=torch.randn(n, 3, generator=g, dtype=torch.float64),
                edge_index=torch.randint(0, n, (2, e), generator=g),
                batch=torch.cat([torch.zeros(half, dtype=torch.long), torch.ones(n - half, dtype=torch.long)]),
                num_graphs=2)


def _models() -> dict:
    torch.manual_seed(0)
    return {
        "tfn": TensorFieldNetwork(irreps_out="0e + 1o", lmax=2, mul=4, num_layers=2).double().eval(),
        "segnn": SEGNN("0e", "0e + 1o", hidden_features=8, num_layers=2).double().eval(),
    }




def _dynamic() -> dict:
    nodes, edges = Dim("nodes", min=2), Dim("edges", min=2)
    return dict(pos={0: nodes}, edge_index={1: edges}, batch={0: nodes}, num_graphs=None)


@pytest.mark.parametrize("name", ["tfn", "segnn"])
def test_export_with_dynamic_graph_sizes(name: str):
    model = _models()[name]
    program = torch.export.export(model, (), _graph(8, 20, 0), dynamic_shapes=_dynamic())
    for n, e in [(8, 20), (13, 41), (3, 2)]:
        inputs = _graph(n, e, n)
        torch.testing.assert_close(program.module()(**inputs), model(**inputs), rtol=1e-10, atol=1e-12)


def test_export_point_conv_with_dynamic_sizes():
    torch.manual_seed(0)
    conv = PointConv("2x0e + 1o", "2x0e + 1o + 1e", irreps_sh=2, r_max=3.0).double().eval()
    nodes, edges = Dim("nodes", min=2), Dim("edges", min=2)
    g = _graph(8, 20, 0)
    x = torch.randn(8, 5, dtype=torch.float64)
    program = torch.export.export(conv, (x, g["pos"], g["edge_index"]),
                                  dynamic_shapes=({0: nodes}, {0: nodes}, {1: edges}))
    g = _graph(11, 30, 1)
    x = torch.randn(11, 5, dtype=torch.float64)
    torch.testing.assert_close(program.module()(x, g["pos"], g["edge_index"]), conv(x, g["pos"], g["edge_index"]),
                               rtol=1e-10, atol=1e-12)


_FRESH_PROCESS = """
import sys, torch
import steertorch  # noqa: F401  (nothing of it is needed to run the program; imported as a user would)
program = torch.export.load(sys.argv[1])
inputs = torch.load(sys.argv[2], weights_only=True)
torch.save(program.module()(**inputs), sys.argv[3])
"""


def test_saved_exported_program_runs_in_a_fresh_process(tmp_path: Path):
    model = _models()["tfn"]
    program = torch.export.export(model, (), _graph(8, 20, 0), dynamic_shapes=_dynamic())
    torch.export.save(program, tmp_path / "tfn.pt2")
    inputs = _graph(10, 25, 3)
    torch.save(inputs, tmp_path / "inputs.pt")
    proc = subprocess.run([sys.executable, "-c", _FRESH_PROCESS, str(tmp_path / "tfn.pt2"), str(tmp_path / "inputs.pt"),
                           str(tmp_path / "out.pt")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    torch.testing.assert_close(torch.load(tmp_path / "out.pt", weights_only=True), model(**inputs),
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_traced_tensor_product_computes_on_new_inputs(shared: bool, dtype: torch.dtype):
    """The CPU fast path writes through a compiled kernel the tracer cannot record: a trace must take the torch
    path, or the traced graph returns an uninitialised tensor (it did)."""
    torch.manual_seed(0)
    tp = o3.FullyConnectedTensorProduct("4x0e + 3x1o + 2x2e", "0e + 1o", "4x0e + 3x1o + 2x2e",
                                        shared_weights=shared).to(dtype)

    def inputs(n: int) -> tuple:
        args = (torch.randn(n, tp.irreps_in1.dim, dtype=dtype), torch.randn(n, tp.irreps_in2.dim, dtype=dtype))
        return args if shared else (*args, torch.randn(n, tp.weight_numel, dtype=dtype))

    traced = torch.jit.trace(tp, inputs(7))
    new = inputs(9)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(traced(*new), tp(*new), **tol)


def test_traced_linear_computes_on_new_inputs():
    torch.manual_seed(0)
    lin = o3.Linear("4x0e + 3x1o", "2x0e + 5x1o", biases=True).double()
    traced = torch.jit.trace(lin, torch.randn(3, lin.irreps_in.dim, dtype=torch.float64))
    x = torch.randn(6, lin.irreps_in.dim, dtype=torch.float64)
    torch.testing.assert_close(traced(x), lin(x), rtol=1e-12, atol=1e-12)


def test_traced_spherical_harmonics_compute_on_new_inputs():
    sh = o3.SphericalHarmonics("1o + 2e + 3o", normalize=True, normalization="component")
    traced = torch.jit.trace(sh, torch.randn(5, 3, dtype=torch.float64))
    x = torch.randn(8, 3, dtype=torch.float64)
    torch.testing.assert_close(traced(x), sh(x), rtol=1e-12, atol=1e-12)
