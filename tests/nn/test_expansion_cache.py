"""The eval-mode cache of expanded filters (``ExpansionCache``): it serves exactly what a new expansion gives, never a
stale filter (optimizer steps, ``load_state_dict``, ``.double()``, in-place and ``.data`` writes, changed settings),
never where a gradient may reach the weights or where the expansion is traced, and is never saved, copied or shared:
state-dict keys, pickles and deep copies are those of a module without it."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch

from steertorch import gspaces
from steertorch import nn as snn
from steertorch.nn import FieldType
from steertorch.nn._fields._expansion_cache import ExpansionCache

F64 = torch.float64
ATTR = "_expansion_cache"


def _cases():
    c4, d4, c8, so3 = gspaces.rot2dOnR2(4), gspaces.flipRot2dOnR2(4), gspaces.rot2dOnR2(8), gspaces.rot3dOnR3()
    ico = gspaces.icoOnR3()
    reg, triv = FieldType(c8, [c8.regular_repr] * 2), FieldType(c8, [c8.trivial_repr])
    t3 = FieldType(so3, [so3.irrep(0), so3.irrep(1)])
    d4t = FieldType(d4, [d4.trivial_repr, d4.regular_repr])
    return {
        "R2Conv": (lambda: snn.R2Conv(triv, reg, 5, padding=2), (1, 7, 7)),
        "R3IcoConv": (lambda: snn.R3IcoConv(FieldType(ico, [ico.trivial_repr]), FieldType(ico, [ico.irrep(1)]), 3),
                      (1, 4, 4, 4)),
        "R3Conv": (lambda: snn.R3Conv(t3, t3, 3, padding=1), (4, 4, 4, 4)),
        "R2ConvTransposed": (lambda: snn.R2ConvTransposed(reg, triv, 3, stride=2), (16, 4, 4)),
        "R3ConvTransposed": (lambda: snn.R3ConvTransposed(t3, t3, 3), (4, 3, 3, 3)),
        "R2Conv(implicit kernel)": (lambda: snn.R2Conv(d4t, d4t, 3, padding=1, kernel=snn.ImplicitKernel(
            d4, d4t, d4t, hidden=[2], r_max=2.0)), (9, 5, 5)),
        "LiftingConv2d": (lambda: snn.LiftingConv2d(d4, 2, 2, 3, padding=1), (2, 6, 6)),
        "GroupConv2d": (lambda: snn.GroupConv2d(c4, 2, 2, 3, padding=1), (8, 6, 6)),
        "FieldLinear": (lambda: snn.FieldLinear(reg, FieldType(c8, [c8.regular_repr, c8.irrep(1)])), (16, 3, 3)),
        "TensorProductModule": (lambda: snn.TensorProductModule(FieldType(c8, [c8.irrep(1)] * 2), reg), (4, 3, 3)),
    }


CASES = _cases()


def _build(name: str, dtype=F64):
    torch.manual_seed(0)
    module = CASES[name][0]().to(dtype).eval()
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return module


def _input(name: str, n: int = 2, dtype=F64, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, *CASES[name][1], generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(dtype)


def _fresh(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The output with the cache switched off (a new expansion)."""
    module.cache_expansion = False
    try:
        with torch.no_grad():
            return module(x)
    finally:
        module.cache_expansion = True


@pytest.mark.parametrize("name", list(CASES))
def test_cached_output_equals_a_new_expansion_and_is_reused(name):
    m = _build(name)
    assert isinstance(m, ExpansionCache)
    x = _input(name)
    with torch.no_grad():
        first = m(x)
        entry = m.__dict__[ATTR]
        second = m(x)
        assert m.__dict__[ATTR] is entry  # served, not expanded again
        empty = m(x[:0])
    assert torch.equal(first, second) and torch.equal(second, _fresh(m, x))
    assert empty.shape == (0, *first.shape[1:])


@pytest.mark.parametrize("name", list(CASES))
def test_every_change_of_the_weights_reaches_the_output(name):
    m = _build(name)
    x = _input(name)
    with torch.no_grad():
        before = m(x)
    p = next(m.parameters())
    steps = {
        "in-place under no_grad": lambda: p.add_(0.5),
        "through .data (no version bump)": lambda: p.data.mul_(1.5),
        "new .data": lambda: setattr(p, "data", p.data * 0.5 + 0.01),
    }
    for what, step in steps.items():
        with torch.no_grad():
            step()
            after = m(x)
        assert not torch.equal(after, before), what
        torch.testing.assert_close(after, _fresh(m, x), rtol=0, atol=0, msg=what)
        before = after


def test_optimizer_step_load_state_dict_double_and_settings_invalidate():
    name = "R2Conv"
    m, other = _build(name), _build(name)
    with torch.no_grad():
        for p in other.parameters():
            p.normal_()
    x = _input(name)
    with torch.no_grad():
        y0 = m(x)
    # an optimizer step in eval mode (grad enabled: no cache in the loss's forward, the gradient reaches the weights)
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    m(x).square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters())
    opt.step()
    with torch.no_grad():
        y1 = m(x)
    assert not torch.equal(y1, y0)
    torch.testing.assert_close(y1, _fresh(m, x), rtol=0, atol=0)
    # load_state_dict
    m.load_state_dict(other.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(m(x), other(x), rtol=0, atol=0)
    # dtype: float32 then float64
    m.float()
    assert ATTR not in m.__dict__
    with torch.no_grad():
        y32 = m(x.float())
        assert y32.dtype == torch.float32
        m.double()
        y64 = m(x)
    assert y64.dtype == F64 and torch.equal(y64, _fresh(m, x))  # the weights went through float32 rounding
    torch.testing.assert_close(y64.float(), y32, rtol=1e-5, atol=1e-5)
    # training mode: no cache, and entering it drops the cache
    m.train()
    assert ATTR not in m.__dict__
    with torch.no_grad():
        m(x)
    assert ATTR not in m.__dict__


def test_a_changed_setting_of_a_kernel_module_invalidates():
    name = "R2Conv(implicit kernel)"
    m = _build(name)
    x = _input(name)
    with torch.no_grad():
        y0 = m(x)
        m.expansion.kernel.r_max = 1.5 * m.expansion.kernel.r_max  # a plain float setting
        y1 = m(x)
    assert not torch.equal(y0, y1)
    torch.testing.assert_close(y1, _fresh(m, x), rtol=0, atol=0)


def test_not_used_where_a_gradient_may_reach_the_weights():
    name = "R2Conv"
    m = _build(name)
    x = _input(name)
    with torch.no_grad():
        m(x)
    y = m(x)  # eval mode, grad enabled, weights requiring grad: a new expansion in the graph
    assert y.requires_grad
    y.sum().backward()
    assert m.weights.grad is not None and m.weights.grad.abs().sum() > 0


def test_frozen_weights_and_inference_mode():
    """Frozen weights: the cache serves, and input gradients are those of a new expansion. A filter expanded in
    inference mode is not served where grad mode is on (it could not be saved for backward)."""
    name = "R2Conv"
    m = _build(name).requires_grad_(False)
    x = _input(name).requires_grad_(True)
    with torch.inference_mode():
        m(x.detach())
    y = m(x)  # grad mode on: the inference-mode filter is not served
    (g,) = torch.autograd.grad(y.square().sum(), x)
    entry = m.__dict__[ATTR]
    y2 = m(x)
    assert m.__dict__[ATTR] is entry  # frozen weights: served with grad mode on
    (g2,) = torch.autograd.grad(y2.square().sum(), x)
    m.cache_expansion = False
    (g3,) = torch.autograd.grad(m(x).square().sum(), x)
    assert torch.equal(g, g2) and torch.equal(g2, g3)


def test_tracing_records_the_expansion_not_a_cached_filter():
    name = "R2Conv"
    m = _build(name)
    x = _input(name)
    with torch.no_grad():
        m(x)
        traced = torch.jit.trace(m, (x,))
        m.weights.mul_(2.0)
        torch.testing.assert_close(traced(x), m(x), rtol=0, atol=1e-12)


def test_compile_and_func_transforms_see_the_weights():
    """torch.compile (fullgraph) of a module in eval mode with a cached filter follows later weight writes;
    ``torch.func.grad`` through ``functional_call`` in eval mode gets the gradient of a new expansion."""
    name = "R2Conv"
    m = _build(name)
    x = _input(name)
    with torch.no_grad():
        m(x)
        torch._dynamo.reset()
        compiled = torch.compile(m, fullgraph=True, backend="aot_eager")
        torch.testing.assert_close(compiled(x), m(x), rtol=0, atol=1e-12)
        m.weights.mul_(2.0)
        torch.testing.assert_close(compiled(x), _fresh(m, x), rtol=0, atol=1e-12)
    params = {k: v.detach() for k, v in m.named_parameters()}
    grads = torch.func.grad(lambda p: torch.func.functional_call(m, p, (x,)).square().sum())(params)
    m.zero_grad()
    m(x).square().sum().backward()
    for k, p in m.named_parameters():
        torch.testing.assert_close(grads[k], p.grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["R2Conv", "R2Conv(implicit kernel)", "TensorProductModule"])
def test_state_dict_pickle_and_copies_leave_the_cache_out(name):
    m, fresh = _build(name), _build(name)
    x = _input(name)
    with torch.no_grad():
        y = m(x)
    assert ATTR in m.__dict__
    assert list(m.state_dict()) == list(fresh.state_dict())
    assert len(pickle.dumps(m)) == len(pickle.dumps(fresh))
    for c in (pickle.loads(pickle.dumps(m)), copy.deepcopy(m)):
        assert ATTR not in c.__dict__ and all(ATTR not in s.__dict__ for s in c.modules())
        with torch.no_grad():
            assert torch.equal(c(x), y)
            next(c.parameters()).add_(1.0)  # a copy's weights are its own: the original still gives y
            assert not torch.equal(c(x), y)
            assert torch.equal(m(x), y)


def test_a_whole_model_in_eval_mode_equals_itself_without_the_cache():
    torch.manual_seed(0)
    gs = gspaces.rot2dOnR2(8)
    t_in, t_reg = FieldType(gs, [gs.trivial_repr]), FieldType(gs, [gs.regular_repr] * 2)
    net = snn.SequentialModule(snn.R2Conv(t_in, t_reg, 5, padding=2), snn.InnerBatchNorm(t_reg), snn.ReLU(t_reg),
                               snn.R2Conv(t_reg, t_reg, 3, padding=1), snn.GroupPooling(t_reg)).double().eval()
    x = torch.randn(3, 1, 9, 9, dtype=F64)
    with torch.no_grad():
        y = net(x)
        y_again = net(x)
        for m in net.modules():
            if isinstance(m, ExpansionCache):
                m.cache_expansion = False
        y_new = net(x)
    assert torch.equal(y, y_again) and torch.equal(y, y_new)


def test_ddp_with_default_settings_in_eval_mode(tmp_path):
    """A module wrapped in DistributedDataParallel (one gloo process, default settings: buffers broadcast before
    each forward) gives a new expansion's output in eval mode, twice, and trains afterwards."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    if dist.is_initialized():
        pytest.skip("a process group already exists in this process")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        name = "R2Conv"
        m = _build(name)
        ddp = DistributedDataParallel(m)
        x = _input(name)
        ddp.eval()
        with torch.no_grad():
            y1, y2 = ddp(x), ddp(x)
        assert torch.equal(y1, y2) and torch.equal(y1, _fresh(m, x))
        ddp.train()
        opt = torch.optim.SGD(ddp.parameters(), lr=0.1)
        ddp(x).square().sum().backward()
        opt.step()
        ddp.eval()
        with torch.no_grad():
            assert torch.equal(ddp(x), _fresh(m, x)) and not torch.equal(ddp(x), y1)
    finally:
        dist.destroy_process_group()
