"""Modules are plain data: after a forward (which may build native state, e.g. the CPU kernel's tables), a module
survives ``copy.deepcopy`` with the original freed, a pickle round trip, ``torch.save`` loaded in a fresh process and
``torch.multiprocessing.spawn``, and computes the same outputs. Covers the tensor product of issue 12 (the kernel's
plan kept raw addresses that the copy reused after the original was freed: MemoryError or SIGSEGV), every model of
``steertorch.models``, a grid network, and the implicit-kernel modules (FieldPointConv with its analytic and
implicit kernels, an R2Conv with an implicit kernel)."""

import copy
import gc
import os
import pickle
import subprocess
import sys

import pytest
import torch
import torch.multiprocessing as mp
from _module_zoo import case_names, cases, float_outputs

from steertorch import o3
from steertorch.graph import FieldPointConv
from steertorch.gspaces import conicalOnR3, rot2dOnR2
from steertorch.models import EGNN, SEGNN, TensorFieldNetwork
from steertorch.nn import FieldType, GroupConv2d, ImplicitKernel, LiftingConv2d, R2Conv, ReLU, SequentialModule


def _tensor_product():
    tp = o3.FullyConnectedTensorProduct("16x0e + 16x1o + 8x2e", "0e + 1o + 2e", "16x0e + 16x1o + 8x2e")
    g = torch.Generator().manual_seed(1)
    return tp, (tp.irreps_in1.randn(4096, -1, generator=g), tp.irreps_in2.randn(4096, -1, generator=g)), {}


def _graph_inputs(n=8):
    g = torch.Generator().manual_seed(2)
    return torch.randn(n, 3, generator=g), torch.tensor([0] * (n // 2) + [1] * (n - n // 2))


def _tfn():
    pos, batch = _graph_inputs()
    return TensorFieldNetwork(irreps_out="0e + 1o", lmax=2, mul=4, num_layers=2, r_max=3.0), (pos,), {"batch": batch}


def _segnn():
    pos, batch = _graph_inputs()
    return SEGNN("0e", "0e", hidden_features=8, num_layers=2, r_max=3.0), (), {"pos": pos, "batch": batch}


def _egnn():
    pos, _ = _graph_inputs(6)
    edges = torch.tensor([[i, j] for i in range(6) for j in range(6) if i != j]).t()
    return EGNN(1, hidden_features=16, num_layers=2), (pos.norm(dim=1, keepdim=True), pos, edges), {}


def _grid():
    gs = rot2dOnR2(4)
    trivial, regular = FieldType(gs, [gs.trivial_repr]), FieldType(gs, 3 * [gs.regular_repr])
    net = SequentialModule(R2Conv(trivial, regular, 3, padding=1), ReLU(regular),
                           R2Conv(regular, regular, 3, padding=1))
    return net, (torch.randn(2, 1, 9, 9, generator=torch.Generator().manual_seed(3)),), {}


def _gcnn():
    gs = rot2dOnR2(4)
    net = torch.nn.Sequential(LiftingConv2d(gs, 1, 2, kernel_size=3, padding=1), torch.nn.ReLU(),
                              GroupConv2d(gs, 2, 2, kernel_size=3, padding=1))
    return net, (torch.randn(2, 1, 9, 9, generator=torch.Generator().manual_seed(4)),), {}


def _field_point_conv(implicit: bool):
    def build():
        gs = conicalOnR3()
        t_in, t_out = FieldType(gs, [gs.trivial_repr, gs.basespace_repr]), FieldType(gs, [gs.basespace_repr])
        kernel = ImplicitKernel(gs, t_in, t_out, hidden=[2], r_max=2.0) if implicit else None  # else a BasisKernel
        g = torch.Generator().manual_seed(5)
        pos, edges = torch.randn(6, 3, generator=g), torch.tensor([[i, j] for i in range(6) for j in range(6)
                                                                    if i != j]).t()
        return FieldPointConv(t_in, t_out, kernel=kernel, r_max=2.0), (torch.randn(6, 4, generator=g), pos,
                                                                       edges), {}
    return build


def _implicit_grid():
    gs = rot2dOnR2(4)
    t_in, t_out = FieldType(gs, [gs.trivial_repr]), FieldType(gs, 2 * [gs.regular_repr])
    net = R2Conv(t_in, t_out, 3, padding=1, kernel=ImplicitKernel(gs, t_in, t_out, hidden=[2], r_max=2.0))
    return net, (torch.randn(2, 1, 9, 9, generator=torch.Generator().manual_seed(6)),), {}


MODULES = {"tensor_product": _tensor_product, "TensorFieldNetwork": _tfn, "SEGNN": _segnn, "EGNN": _egnn,
           "R2Conv_stack": _grid, "GCNN_stack": _gcnn, "FieldPointConv": _field_point_conv(False),
           "FieldPointConv_implicit": _field_point_conv(True), "R2Conv_implicit": _implicit_grid}


def _build(name):
    torch.manual_seed(0)
    module, args, kwargs = MODULES[name]()
    return module, args, kwargs


def _churn() -> list:
    """Allocations that reuse freed memory and fill it with garbage (small int64 tensors like the kernel's tables, and
    larger float ones)."""
    junk = [torch.full((n,), 1 << 40, dtype=torch.int64) for _ in range(300) for n in (5, 13, 20, 64, 130, 400, 1000)]
    return junk + [torch.full((n,), float("nan")) for n in (1 << 12, 1 << 16, 1 << 20)]


def _outputs(module, args, kwargs) -> list[torch.Tensor]:
    """Outputs, and the gradients of the parameters (the backward of the kernel reads the same tables)."""
    out = module(*args, **kwargs)
    out = out if isinstance(out, tuple) else (out,)
    params = [p for p in module.parameters() if p.requires_grad]
    grads = torch.autograd.grad(sum(o.pow(2).sum() for o in out), params, allow_unused=True)
    return [o.detach() for o in out] + [g for g in grads if g is not None]


def _assert_same(a: list[torch.Tensor], b: list[torch.Tensor]) -> None:
    assert len(a) == len(b)
    for u, v in zip(a, b):
        # (float32 sums of the weight gradients over 4096 rows: the order depends on the thread count)
        assert u.shape == v.shape and (u - v).abs().max() <= 1e-5 * (1 + v.abs().max()), (u - v).abs().max()


@pytest.mark.parametrize("name", list(MODULES))
def test_deepcopy_after_a_forward_runs_with_the_original_freed(name):
    module, args, kwargs = _build(name)
    expected = _outputs(module, args, kwargs)
    twin = copy.deepcopy(module)
    del module
    gc.collect()
    junk = _churn()
    _assert_same(_outputs(twin, args, kwargs), expected)
    del junk


@pytest.mark.parametrize("name", list(MODULES))
def test_pickle_round_trip_after_a_forward(name):
    module, args, kwargs = _build(name)
    expected = _outputs(module, args, kwargs)
    blob = pickle.dumps(module)
    del module
    gc.collect()
    junk = _churn()
    _assert_same(_outputs(pickle.loads(blob), args, kwargs), expected)
    del junk


def _saved_cases(names=tuple(MODULES)) -> dict:
    cases = {}
    for name in names:
        module, args, kwargs = _build(name)
        cases[name] = (module, args, kwargs, _outputs(module, args, kwargs))
    return cases


def _check_cases(cases: dict) -> list[str]:
    """Run each saved module and compare with the outputs recorded before saving; the names that match."""
    ok = []
    for name, (module, args, kwargs, expected) in cases.items():
        try:
            _assert_same(_outputs(module, args, kwargs), expected)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None
        ok.append(name)
    return ok


_CHILD = """
import sys, torch
sys.path.insert(0, sys.argv[2])
from test_serialization import _check_cases
print("ok:", ",".join(_check_cases(torch.load(sys.argv[1], weights_only=False))))
"""


def test_torch_save_then_load_and_run_in_a_fresh_process(tmp_path):
    cases = _saved_cases()
    torch.save(cases, tmp_path / "modules.pt")
    result = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path / "modules.pt"), os.path.dirname(__file__)],
                            capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert result.stdout.strip() == "ok: " + ",".join(MODULES)


def _spawned(rank: int, cases: dict, path: str) -> None:
    with open(path, "w") as f:
        f.write(",".join(_check_cases(cases)))


def test_multiprocessing_spawn(tmp_path):
    """The tensor product and a model with per-sample products (the fresh-process test covers the others)."""
    path, names = tmp_path / "done", ("tensor_product", "TensorFieldNetwork")
    mp.spawn(_spawned, args=(_saved_cases(names), str(path)), nprocs=1, join=True)
    assert path.read_text() == ",".join(names)


_ZOO = {c.name: c for c in cases()}


@pytest.mark.parametrize("name", case_names())
def test_every_public_module_pickles_and_deep_copies(name):
    """Every module of ``tests/_module_zoo.py`` (every public module) survives a pickle round trip and a deepcopy
    and computes the same outputs (representations hold closures: they pickle as group + irrep labels)."""
    case = _ZOO[name]
    torch.manual_seed(0)
    module = case.build().eval()
    args, kwargs = case.inputs(3, torch.float32)
    with torch.no_grad():
        expected = float_outputs(module(*args, **kwargs))
        for twin in (pickle.loads(pickle.dumps(module)), copy.deepcopy(module)):
            got = float_outputs(twin(*args, **kwargs))
            assert len(got) == len(expected)
            for a, b in zip(got, expected):
                assert torch.equal(a, b)
