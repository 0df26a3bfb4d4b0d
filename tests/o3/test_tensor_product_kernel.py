"""The compiled CPU kernel of the shared-weight "uvw" product: built where a C compiler exists, switched off by
``STEERTORCH_CPU_KERNEL=0``, and equal to the differentiable path for shapes the vectorised loops treat apart
(multiplicities that are not a multiple of the vector width, large l, blocks beyond the kernel's limit, thread
counts, empty and one-row batches, non-contiguous inputs). Derivatives of every order are tested in
test_tensor_product_fused.py, on the kernel and on the pure-torch path."""

import ctypes

import pytest
import torch
from _equivariance_helpers import default_dtype, gen

import steertorch.o3._tensor_product_kernel as kernel
from steertorch import o3
from steertorch.o3._tensor_product_plan import forward_uvw_single

needs_compiler = pytest.mark.skipif(kernel._compiler() is None, reason="no C compiler on this machine")


def _case(i1, i2, io, batch, dtype=torch.float64, seed=0):
    with default_dtype(dtype):
        tp = o3.FullyConnectedTensorProduct(i1, i2, io)
    g = gen(seed)
    x = tp.irreps_in1.randn(batch, -1, generator=g, dtype=dtype).requires_grad_(True)
    y = tp.irreps_in2.randn(batch, -1, generator=g, dtype=dtype).requires_grad_(True)
    return tp, x, y


def _compare(tp, x, y, tol):
    out = tp(x, y)
    grad = torch.randn(out.shape, generator=gen(9), dtype=out.dtype)
    ours = [out, *torch.autograd.grad(out, [x, y, tp.weight], grad)]
    ref_out = forward_uvw_single(x, y, tp.weight, tp.cg_fast, tp.w_perm_fast, tp._fast_groups, tp.irreps_in1,
                                 tp.irreps_out, True)
    ref = [ref_out, *torch.autograd.grad(ref_out, [x, y, tp.weight], grad)]
    for a, b in zip(ours, ref):
        assert a.shape == b.shape
        assert (a - b).abs().max() <= tol * (1 + b.abs().max())


@needs_compiler
def test_the_kernel_is_built_where_a_compiler_exists():
    assert kernel.cpu_kernel_available()
    tp, x, y = _case("4x0e + 4x1o", "0e + 1o", "4x0e + 4x1o", batch=3)
    assert tp._fused_plan.kernel(x, y, tp.weight, tp.cg_fast) is not None
    assert tp._fused_plan.kernel(x.float(), y, tp.weight, tp.cg_fast) is None  # mixed dtypes: the torch path


@needs_compiler
def test_build_writes_a_library_with_both_precisions(tmp_path):
    path = tmp_path / "sub" / "kernel.so"
    assert kernel._build(kernel._compiler(), path)
    lib = ctypes.CDLL(str(path))
    for name in ("st_tp_forward_f32", "st_tp_forward_f64", "st_tp_backward_f32", "st_tp_backward_f64"):
        assert hasattr(lib, name)
    assert [p.name for p in path.parent.iterdir()] == ["kernel.so"]  # no temporaries left behind


def test_switched_off_by_the_environment(monkeypatch):
    monkeypatch.setattr(kernel, "_state", {})
    monkeypatch.setenv("STEERTORCH_CPU_KERNEL", "0")
    assert not kernel.cpu_kernel_available()
    tp, x, y = _case("4x0e + 4x1o", "0e + 1o", "4x0e + 4x1o", batch=5)
    assert tp._fused_plan.kernel(x, y, tp.weight, tp.cg_fast) is None
    _compare(tp, x, y, 1e-12)  # the pure-torch path


@needs_compiler
@pytest.mark.parametrize("irreps", ["1x0e + 5x1o + 13x2e", "17x1o + 3x0e + 9x2e", "8x0e + 16x1o + 24x2e"])
def test_multiplicities_off_the_vector_width(irreps):
    tp, x, y = _case(irreps, "0e + 1o + 2e", "7x0e + 9x1o + 2x2e + 3x1e", batch=13)
    kp = tp._fused_plan.kernel(x, y, tp.weight, tp.cg_fast)
    early = kp._tables[0].view(-1, 10)[:, 9]
    assert early.any() and not early.all()  # channels mixed before and after the contraction both occur
    _compare(tp, x, y, 1e-12)


@needs_compiler
def test_large_l_and_blocks_beyond_the_kernel():
    tp, x, y = _case("3x0e + 2x7o", "0e + 7o", "2x0e + 3x7o + 2x7e", batch=6)  # l = 7: 2l + 1 = 15 <= 16
    assert tp._fused_plan.kernel(x, y, tp.weight, tp.cg_fast) is not None
    _compare(tp, x, y, 1e-11)
    tp, x, y = _case("3x0e + 2x8e", "0e + 8e", "2x0e + 3x8e", batch=6)  # l = 8: the torch path
    assert tp._fused_plan.kernel(x, y, tp.weight, tp.cg_fast) is None
    _compare(tp, x, y, 1e-11)


@needs_compiler
@pytest.mark.parametrize("threads,batch", [(1, 7), (3, 10), (4, 1)])
def test_thread_counts_and_small_batches(threads, batch, monkeypatch):
    monkeypatch.setattr(kernel, "_ROWS_PER_THREAD", 1)  # split even these small batches: uneven ranges, idle threads
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        assert kernel._threads(batch) == min(threads, batch) or batch == 0
        tp, x, y = _case("5x0e + 3x1o + 2x2e", "0e + 1o + 2e", "4x0e + 3x1o + 2x2e", batch=batch)
        _compare(tp, x, y, 1e-12)
    finally:
        torch.set_num_threads(before)


@needs_compiler
def test_empty_batch():
    tp, x, y = _case("5x0e + 3x1o", "0e + 1o", "4x0e + 3x1o", batch=0)
    kp = tp._fused_plan.kernel(x, y, tp.weight, tp.cg_fast)
    w = tp.weight.detach()
    assert kp.forward(x.detach(), y.detach(), w, tp.cg_fast).shape == (0, tp.irreps_out.dim)
    gx, gy, gw = kp.backward(x.detach(), y.detach(), w, tp.cg_fast, torch.zeros(0, tp.irreps_out.dim,
                             dtype=torch.float64), (True, True, True))
    assert gx.shape == x.shape and gy.shape == y.shape and torch.equal(gw, torch.zeros_like(w))


@needs_compiler
def test_non_contiguous_inputs():
    tp, x, y = _case("6x0e + 4x1o", "0e + 1o", "3x0e + 5x1o", batch=8)
    xt = x.detach().t().contiguous().t().requires_grad_(True)  # column-major storage
    ys = torch.cat([y.detach(), y.detach()], dim=1)[:, : y.shape[1]].requires_grad_(True)
    assert not xt.is_contiguous() and not ys.is_contiguous()
    _compare(tp, xt, ys, 1e-12)


@needs_compiler
def test_float32():
    tp, x, y = _case("32x0e + 32x1o + 32x2e", "0e + 1o + 2e", "32x0e + 32x1o + 32x2e", batch=50,
                     dtype=torch.float32)
    assert tp._fused_plan.kernel(x, y, tp.weight, tp.cg_fast) is not None
    _compare(tp, x, y, 1e-5)
