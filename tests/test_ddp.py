"""Every module trains under DistributedDataParallel with its default settings (``find_unused_parameters=False``):
no module owns a zero-size parameter or a parameter that no output depends on.

- ``test_every_parameter_gets_a_gradient``: the cheap guard, no processes: for every public module (built as in
  ``tests/_module_zoo.py``) the sum of its outputs reaches every parameter, and no parameter is empty. DDP with
  default settings fails at the second step otherwise ("Expected to have finished reduction in the prior
  iteration").
- ``test_trains_under_ddp``: the modules with parameters (models, a G-CNN and an R2Conv stack, the building
  blocks) train three steps in two gloo processes on CPU, each rank on its own data, and end with identical
  parameters. One pair of processes runs them all (process-group set-up is the cost).
"""

from __future__ import annotations

import datetime
import inspect
import json
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from _module_zoo import PARAMETER_FREE, case_names, cases

import steertorch.graph
import steertorch.math
import steertorch.models
import steertorch.nn
import steertorch.o3
import steertorch.symmetry

_CASES = {c.name: c for c in cases()}
_STEPS = 3


@pytest.mark.parametrize("name", case_names())
def test_every_parameter_gets_a_gradient(name):
    torch.manual_seed(0)
    case = _CASES[name]
    module = case.build().train()
    sum(o.pow(2).sum() for o in case.outputs(module, 5, grad_inputs=[])).backward()
    empty = [n for n, p in module.named_parameters() if p.numel() == 0]
    unused = [n for n, p in module.named_parameters() if p.numel() and p.grad is None]
    assert (name in PARAMETER_FREE) == (not any(True for _ in module.parameters())), "update PARAMETER_FREE"
    assert not empty, f"zero-size parameters (make them buffers): {empty}"
    assert not unused, f"parameters that no output depends on: {unused}"


def test_zero_size_weights_are_buffers_with_e3nn_state_dict_keys():
    """Linear without biases / BatchNorm without scalars: the empty ``bias`` is a buffer, not a parameter, and the
    state dict keeps e3nn's keys, so state dicts still load strictly both ways."""
    e3o = pytest.importorskip("e3nn.o3")
    e3nn_nn = pytest.importorskip("e3nn.nn")
    for ours, theirs in ((steertorch.o3.Linear("4x0e + 2x1o", "3x0e + 2x1o"), e3o.Linear("4x0e + 2x1o", "3x0e + 2x1o")),
                         (steertorch.nn.BatchNorm("2x1o"), e3nn_nn.BatchNorm("2x1o"))):
        assert [n for n, p in ours.named_parameters() if p.numel() == 0] == []
        assert ours.bias.shape == (0,)
        theirs_state = {k: v for k, v in theirs.state_dict().items() if k != "output_mask"}
        assert set(ours.state_dict()) == set(theirs_state)
        ours.load_state_dict(theirs_state)
        theirs.load_state_dict(ours.state_dict(), strict=False)


def test_zoo_covers_every_public_module():
    """The guard above only guards what it builds: every public module class of o3, nn, graph, models, math,
    symmetry."""
    built = {type(m) for c in cases() for m in c.build().modules()}
    missing = []
    for package in (steertorch.o3, steertorch.nn, steertorch.graph, steertorch.models, steertorch.math,
                    steertorch.symmetry):
        for name in package.__all__:
            obj = getattr(package, name)
            if inspect.isclass(obj) and issubclass(obj, torch.nn.Module) and obj not in built:
                missing.append(f"{package.__name__}.{name}")
    assert not missing, f"add these to tests/_module_zoo.py: {missing}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, names: list[str], result_file: str) -> None:
    """Train every case ``_STEPS`` steps under DDP; rank 0 writes, per case, the error or the largest difference
    between the ranks' parameters and how far they moved."""
    import sys

    sys.path.insert(0, os.path.dirname(__file__))
    from _module_zoo import cases as zoo

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=60))
    by_name = {c.name: c for c in zoo()}
    results = {}
    try:
        for name in names:
            case = by_name[name]
            torch.manual_seed(0)  # same initial weights on both ranks (DDP also broadcasts them)
            module = case.build().train()
            start = torch.cat([p.detach().reshape(-1) for p in module.parameters()]).clone()
            try:
                ddp = torch.nn.parallel.DistributedDataParallel(module)  # default find_unused_parameters=False
                opt = torch.optim.SGD(ddp.parameters(), lr=0.1)
                torch.manual_seed(1 + rank)  # each rank its own data
                for _ in range(_STEPS):
                    opt.zero_grad()
                    args, kwargs = case.inputs(4, torch.float32)
                    outs = [o for o in _outputs(ddp(*args, **kwargs))]
                    sum(o.pow(2).mean() for o in outs if o.numel()).backward()
                    opt.step()
            except Exception as err:  # noqa: BLE001  (reported per case by the test)
                results[name] = {"error": f"{type(err).__name__}: {str(err)[:300]}"}
                continue
            flat = torch.cat([p.detach().reshape(-1) for p in module.parameters()])
            gathered = [torch.empty_like(flat) for _ in range(world)]
            dist.all_gather(gathered, flat)
            results[name] = {"diff": float((gathered[0] - gathered[1]).abs().max()),
                             "moved": float((flat - start).abs().max())}
    finally:
        if rank == 0:
            with open(result_file, "w") as f:
                json.dump(results, f)
        dist.destroy_process_group()


def _outputs(out: object) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out] if out.is_floating_point() else []
    return [t for o in out for t in _outputs(o)]


_DDP_NAMES = [n for n in case_names() if n not in PARAMETER_FREE]


@pytest.fixture(scope="module")
def ddp_results(tmp_path_factory):
    result_file = str(tmp_path_factory.mktemp("ddp") / "results.json")
    mp.spawn(_worker, args=(2, _free_port(), _DDP_NAMES, result_file), nprocs=2, join=True)
    with open(result_file) as f:
        return json.load(f)


@pytest.mark.parametrize("name", _DDP_NAMES)
def test_trains_under_ddp(ddp_results, name):
    result = ddp_results.get(name)
    assert result is not None, "not run (an earlier case stopped the workers)"
    assert "error" not in result, result["error"]
    if "zero gradient at init" not in _CASES[name].tags:
        assert result["moved"] > 0, "parameters did not change: nothing was trained"
    assert result["diff"] == 0.0, f"replicas differ by {result['diff']}"
