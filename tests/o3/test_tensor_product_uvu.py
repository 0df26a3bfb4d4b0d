"""The depthwise "uvu" product with a multiplicity-1 second input (a point convolution's features x spherical
harmonics, one weight per channel and path): the compiled CPU kernel, per-edge and shared weights, float32 and
float64, equal to the differentiable torch path (values and derivatives of first to third order) in every shape the
kernel's loops treat apart (multiplicities off the vector width, several paths into one output, outputs no path
reaches, inputs no path reads, path weights 0, blocks beyond the kernel's limit, thread counts, 0 and 1 rows,
non-contiguous inputs); its pure-torch twin; the custom operators; and the layers that use it (PointConv, e3nn's
convolution models): forces and training on them."""

import contextlib
import os
from unittest import mock

import pytest
import torch
from _equivariance_helpers import check_irreps_equivariant, default_dtype, gen

import steertorch._native as native
import steertorch.o3._tensor_product_kernel as kernel
from steertorch import o3
from steertorch.o3._tensor_product_fused import fused_product
from steertorch.o3._tensor_product_uvu import forward_uvu_single, plan_uvu_single

needs_compiler = pytest.mark.skipif(native._compiler() is None or os.environ.get("STEERTORCH_CPU_KERNEL") == "0",
                                    reason="no C compiler on this machine, or STEERTORCH_CPU_KERNEL=0")


@contextlib.contextmanager
def torch_path():
    """The kernel out of use: TensorProduct runs its differentiable torch path (as with STEERTORCH_CPU_KERNEL=0)."""
    with mock.patch.object(kernel, "cpu_kernel_available", lambda: False):
        yield


def _instructions(irreps_in, irreps_sh, wanted=None, skip=()):
    """A point convolution's instructions: every (input block, harmonic, product irrep), one output block each
    (PointConv's layout), or into the output block of that irrep in ``wanted`` (several paths per output)."""
    irreps_in, irreps_sh = o3.Irreps(irreps_in), o3.Irreps(irreps_sh)
    mid, ins = [], []
    for i, (mul, ir_in) in enumerate(irreps_in):
        for j, (_, ir_sh) in enumerate(irreps_sh):
            for ir_out in ir_in * ir_sh:
                if (i, j, ir_out) in skip:
                    continue
                if wanted is None:
                    ins.append((i, j, len(mid), "uvu", True))
                    mid.append((mul, ir_out))
                elif ir_out in wanted:
                    ins.append((i, j, wanted.index(ir_out), "uvu", True))
    if wanted is not None:
        mid = [(irreps_in[0].mul, ir) for ir in wanted]
    return o3.Irreps(mid), ins


def _case(irreps_in, irreps_sh, batch, shared=False, dtype=torch.float64, wanted=None, instructions=None, seed=0,
          irreps_out=None):
    mid, ins = _instructions(irreps_in, irreps_sh, wanted)
    if instructions is not None:
        mid, ins = o3.Irreps(irreps_out), instructions
    with default_dtype(dtype):
        tp = o3.TensorProduct(irreps_in, irreps_sh, mid, ins, shared_weights=shared, internal_weights=shared)
    g = gen(seed)
    x = tp.irreps_in1.randn(batch, -1, generator=g, dtype=dtype).requires_grad_(True)
    y = tp.irreps_in2.randn(batch, -1, generator=g, dtype=dtype).requires_grad_(True)
    if shared:
        with torch.no_grad():
            tp.weight.normal_(generator=g)
        w = tp.weight
    else:
        w = torch.randn(batch, tp.weight_numel, generator=g, dtype=dtype).requires_grad_(True)
    return tp, x, y, w


def _derivatives(f, x, y, w):
    """f(x, y, w), its gradients, and second and third derivatives of scalar functions of them."""
    out = f(x, y, w)
    g1 = torch.autograd.grad(0.5 * out.pow(2).sum() + out.sum(), [x, y, w], create_graph=True)
    l2 = g1[0].pow(2).sum() + (g1[1] * g1[1].detach().sin()).sum() + 0.1 * g1[2].pow(2).sum()
    g2 = torch.autograd.grad(l2, [x, y, w], create_graph=True)
    g3 = torch.autograd.grad(sum((d * d).sum() for d in g2), [x, y, w])
    return [out, *g1, *g2, *g3]


def _assert_close(ours, ref, tol):
    for a, b in zip(ours, ref, strict=True):
        assert a.shape == b.shape
        assert (a - b).abs().max() <= tol * (1 + b.abs().max())


def _compare(tp, x, y, w, tol=1e-12, order=3):
    """The kernel's values and derivatives equal the torch path's (first order only with ``order=1``)."""
    assert tp._uvu_plan.kernel(x, y, w, tp.cg_uvu) is not None

    def f(a, b, c):
        return tp(a, b, c) if not tp.shared_weights else tp(a, b)

    def first(f):
        out = f(x, y, w)
        grad = torch.randn(out.shape, generator=gen(9), dtype=out.dtype)
        return [out, *torch.autograd.grad(out, [x, y, w], grad)]

    ours = _derivatives(f, x, y, w) if order == 3 else first(f)
    with torch_path():
        ref = _derivatives(f, x, y, w) if order == 3 else first(f)
    _assert_close(ours, ref, tol)


# (irreps_in, irreps_sh, wanted outputs or None: one output block per path)
CASES = [
    ("32x0e + 32x1o + 32x2e", "0e + 1o + 2e", None),
    ("5x0e + 13x1o + 3x2e", "0e + 1o + 2e", None),  # multiplicities off the vector width; outputs up to l = 4
    ("3x0e + 2x1o + 2x3o", "0e + 1o + 2e + 3o", None),  # l = 3 (and l = 6 outputs: the kernel's generic loops)
    ("9x0e + 9x1o + 9x2e", "0e + 1o + 2e", ["0e", "1o", "2e", "1e"]),  # several paths into one output
]
IDS = [f"{c[0]}|{c[1]}|{'merged' if c[2] else 'one-per-path'}" for c in CASES]


@needs_compiler
@pytest.mark.parametrize("shared", [False, True], ids=["per-edge", "shared"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_values_and_derivatives_to_third_order_equal_the_torch_path(case, shared):
    tp, x, y, w = _case(case[0], case[1], batch=19, shared=shared,
                        wanted=None if case[2] is None else [o3.Irrep(s) for s in case[2]])
    _compare(tp, x, y, w)


@needs_compiler
@pytest.mark.parametrize("shared", [False, True], ids=["per-edge", "shared"])
def test_float32(shared):
    tp, x, y, w = _case("32x0e + 32x1o + 32x2e", "0e + 1o + 2e + 3o", batch=40, shared=shared, dtype=torch.float32)
    _compare(tp, x, y, w, tol=2e-5, order=1)


@needs_compiler
def test_the_kernel_is_picked_where_it_applies():
    tp, x, y, w = _case("4x0e + 4x1o", "0e + 1o", batch=3)
    assert tp._uvu_plan.kernel(x, y, w, tp.cg_uvu) is not None
    assert tp._uvu_plan.kernel(x.float(), y, w, tp.cg_uvu) is None  # mixed dtypes: the torch path
    assert tp._fast_groups is None  # (not a uvw product)
    calls = []
    real = kernel.UvuKernelPlan.forward
    with mock.patch.object(kernel.UvuKernelPlan, "forward", lambda *a: calls.append(1) or real(*a)):
        tp(x, y, w)
    assert calls == [1]
    with torch_path():
        assert tp._uvu_plan.kernel(x, y, w, tp.cg_uvu) is None


def test_where_the_plan_does_not_apply():
    """Mixed modes, unweighted uvu paths and second inputs of multiplicity above 1 keep the general path."""
    mixed = o3.TensorProduct("2x0e + 2x1o", "0e + 1o", "2x0e + 2x1o", [(0, 0, 0, "uvu", True), (1, 1, 0, "uvw", True)])
    unweighted = o3.TensorProduct("2x0e", "0e", "2x0e", [(0, 0, 0, "uvu", False)])
    multi = o3.TensorProduct("2x0e", "2x0e", "2x0e", [(0, 0, 0, "uvu", True)])
    assert all(tp._uvu_plan is None for tp in (mixed, unweighted, multi))
    tp, *_ = _case("2x0e + 2x1o", "0e + 1o", batch=1)
    assert plan_uvu_single(tp.instructions, tp.irreps_in1, tp.irreps_in2, tp.irreps_out, tp._w_offsets) is not None


@needs_compiler
def test_inputs_no_path_reads_outputs_no_path_reaches_and_path_weights_zero():
    """x's block 2x2e feeds no path (gradient 0), output 3x1e gets none (zeros), a path of weight 0 keeps its
    weights in the flat vector (gradient 0, not garbage)."""
    ins = [(0, 0, 0, "uvu", True), (0, 1, 1, "uvu", True, 0.0), (1, 1, 0, "uvu", True), (1, 0, 1, "uvu", True)]
    tp, x, y, w = _case("3x0e + 3x1o + 2x2e", "0e + 1o", batch=9, instructions=ins,
                        irreps_out="3x0e + 3x1o + 3x1e")
    _compare(tp, x, y, w)
    out = tp(x, y, w)
    gx, gw = torch.autograd.grad(out.pow(2).sum(), [x, w])
    assert torch.equal(out[:, 12:], torch.zeros(9, 9, dtype=torch.float64))
    assert torch.equal(gx[:, 12:], torch.zeros(9, 10, dtype=torch.float64))
    off = tp._w_offsets[1]
    assert torch.equal(gw[:, off:off + 3], torch.zeros(9, 3, dtype=torch.float64))


@needs_compiler
def test_blocks_beyond_the_kernel_take_the_torch_path():
    tp, x, y, w = _case("3x0e + 2x7o", "0e + 7o", batch=4)  # outputs up to l = 14: 2l + 1 > 16
    assert tp._uvu_plan._kernel_plan is None and tp._uvu_plan.kernel(x, y, w, tp.cg_uvu) is None
    ref = forward_uvu_single(x, y, w, tp.cg_uvu, tp._uvu_plan.paths, tp.irreps_in1, tp.irreps_out)
    assert (tp(x, y, w) - ref).abs().max() < 1e-12


@needs_compiler
@pytest.mark.parametrize("threads,batch,shared", [(1, 7, False), (3, 10, True), (3, 10, False), (4, 1, True)])
def test_thread_counts_and_small_batches(threads, batch, shared, monkeypatch):
    monkeypatch.setattr(kernel, "_ROWS_PER_THREAD", 1)  # split even these small batches: uneven ranges, idle threads
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        tp, x, y, w = _case("5x0e + 3x1o + 2x2e", "0e + 1o + 2e", batch=batch, shared=shared)
        _compare(tp, x, y, w, order=1)
    finally:
        torch.set_num_threads(before)


@needs_compiler
@pytest.mark.parametrize("shared", [False, True], ids=["per-edge", "shared"])
def test_zero_rows(shared):
    """Through the module (an empty batch stays on the autograd graph) and through the kernel's plan itself."""
    tp, x, y, w = _case("5x0e + 3x1o", "0e + 1o", batch=0, shared=shared)
    out = tp(x, y, w) if not shared else tp(x, y)
    assert out.shape == (0, tp.irreps_out.dim)
    gx, gy, gw = torch.autograd.grad(out.sum(), [x, y, w])
    assert gx.shape == x.shape and gy.shape == y.shape and torch.equal(gw, torch.zeros_like(w))
    kp = tp._uvu_plan.kernel(x, y, w, tp.cg_uvu)
    xd, yd, wd = x.detach(), y.detach(), w.detach()
    assert kp.forward(xd, yd, wd, tp.cg_uvu).shape == (0, tp.irreps_out.dim)
    grads = kp.backward(xd, yd, wd, tp.cg_uvu, torch.zeros(0, tp.irreps_out.dim, dtype=torch.float64),
                        (True, True, True))
    assert [g.shape for g in grads] == [x.shape, y.shape, w.shape] and torch.equal(grads[2], torch.zeros_like(wd))


@needs_compiler
def test_non_contiguous_inputs():
    tp, x, y, w = _case("6x0e + 4x1o", "0e + 1o", batch=8)
    xt = x.detach().t().contiguous().t().requires_grad_(True)  # column-major storage
    ys = torch.cat([y.detach(), y.detach()], dim=1)[:, : y.shape[1]].requires_grad_(True)
    wt = w.detach().t().contiguous().t().requires_grad_(True)
    assert not xt.is_contiguous() and not ys.is_contiguous() and not wt.is_contiguous()
    _compare(tp, xt, ys, wt, order=1)


@pytest.mark.parametrize("shared", [False, True], ids=["per-edge", "shared"])
def test_the_pure_torch_twin_and_its_autograd_fallback(shared):
    """forward_uvu_single equals the general path; the hand-written autograd functions, where the kernel cannot take
    the tensors, differentiate it instead (values and derivatives to third order)."""
    tp, x, y, w = _case("5x0e + 13x1o + 3x2e", "0e + 1o + 2e", batch=11, shared=shared)
    plan, cg = tp._uvu_plan, tp.cg_uvu
    with torch_path():
        ref = _derivatives(lambda a, b, c: tp(a, b, c) if not shared else tp(a, b), x, y, w)
        twin = _derivatives(lambda a, b, c: plan.reference(a, b, c, cg), x, y, w)
        fallback = _derivatives(lambda a, b, c: fused_product(a, b, c, cg, plan), x, y, w)
    _assert_close(twin, ref, 1e-12)
    _assert_close(fallback, ref, 1e-12)


def test_switched_off_by_the_environment(monkeypatch):
    monkeypatch.setattr(kernel._LIBRARY, "_state", {})
    monkeypatch.setenv("STEERTORCH_CPU_KERNEL", "0")
    tp, x, y, w = _case("4x0e + 4x1o", "0e + 1o", batch=5)
    assert tp._uvu_plan.kernel(x, y, w, tp.cg_uvu) is None
    out = tp(x, y, w)
    assert out.grad_fn is not None and "Product" not in type(out.grad_fn).__name__  # the general torch path
    ref = forward_uvu_single(x, y, w, tp.cg_uvu, tp._uvu_plan.paths, tp.irreps_in1, tp.irreps_out)
    assert (out - ref).abs().max() < 1e-12


@needs_compiler
def test_equivariant():
    tp, x, y, w = _case("5x0e + 3x1o + 2x2e", "0e + 1o + 2e", batch=5)
    check_irreps_equivariant(lambda a, b: tp(a, b, w.detach()), [tp.irreps_in1, tp.irreps_in2], tp.irreps_out,
                             [x.detach(), y.detach()])


# ----------------------------------------------------------------------------------------------- the layers
def _forces_and_training(conv, x, pos, edge_index):
    """Forces -dE/dpos and the gradient of a loss on them w.r.t. every parameter (double backward)."""
    energy = conv(x, pos, edge_index).pow(2).sum()
    forces = -torch.autograd.grad(energy, pos, create_graph=True)[0]
    params = [p for p in conv.parameters() if p.requires_grad]
    return [energy, forces, *torch.autograd.grad(forces.pow(2).sum(), params)]


@needs_compiler
@pytest.mark.parametrize("chunk", [None, 7])
def test_point_conv_forces_and_training_equal_the_torch_path(chunk):
    from steertorch.graph import PointConv, radius_graph

    torch.manual_seed(0)
    with default_dtype(torch.float64):
        conv = PointConv("3x0e + 2x1o + 2x2e", "4x0e + 2x1o + 2x2e", irreps_sh=2, r_max=2.5, edge_chunk_size=chunk)
    assert conv.tp._uvu_plan is not None
    g = gen(3)
    pos = (1.5 * torch.randn(10, 3, generator=g, dtype=torch.float64)).requires_grad_(True)
    edge_index = radius_graph(pos.detach(), 2.5)
    x = torch.randn(10, conv.irreps_in.dim, generator=g, dtype=torch.float64)
    ours = _forces_and_training(conv, x, pos, edge_index)
    with torch_path():
        ref = _forces_and_training(conv, x, pos, edge_index)
    _assert_close(ours, ref, 1e-11)


@needs_compiler
def test_e3nn_convolution_model_uses_the_kernel():
    """e3nn's gate_points_2101 network (its Convolution: a uvu product with per-edge weights) runs the kernel and
    gives the torch path's outputs and gradients."""
    from steertorch.nn.models.gate_points_2101 import Network

    torch.manual_seed(0)
    with default_dtype(torch.float64):
        net = Network(irreps_in=None, irreps_hidden="4x0e + 4x0o + 2x1e + 2x1o", irreps_out="1x1o",
                      irreps_node_attr=None, irreps_edge_attr="0e + 1o + 2e", layers=2, max_radius=2.0,
                      number_of_basis=4, radial_layers=1, radial_neurons=8, num_neighbors=3.0, num_nodes=5.0,
                      reduce_output=False)
    pos = torch.randn(6, 3, generator=gen(1), dtype=torch.float64).requires_grad_(True)
    tps = [m for m in net.modules() if isinstance(m, o3.TensorProduct) and m._uvu_plan is not None]
    assert tps
    calls = []
    real = kernel.UvuKernelPlan.forward
    with mock.patch.object(kernel.UvuKernelPlan, "forward", lambda *a: calls.append(1) or real(*a)):
        out = net({"pos": pos})
    assert calls
    ours = [out, torch.autograd.grad(out.pow(2).sum(), pos)[0]]
    with torch_path():
        out = net({"pos": pos})
        ref = [out, torch.autograd.grad(out.pow(2).sum(), pos)[0]]
    _assert_close(ours, ref, 1e-11)


# ----------------------------------------------------------------------------------------------- the custom operators
@needs_compiler
@pytest.mark.parametrize("shared", [False, True], ids=["per-edge", "shared"])
def test_custom_ops_pass_opcheck(shared):
    """Schema (no aliasing, no mutation) and fake implementations that agree with the kernel's outputs; gradients not
    asked for come back empty, the others equal UvuKernelPlan's."""
    tp, x, y, w = _case("3x0e + 3x1o + 2x2o", "0e + 1o", batch=7, shared=shared,
                        instructions=[(0, 0, 0, "uvu", True), (1, 1, 0, "uvu", True), (1, 0, 1, "uvu", True)],
                        irreps_out="3x0e + 3x1o")  # 2x2o: read by no path
    x, y, w = x.detach(), y.detach(), w.detach()
    kp = tp._uvu_plan.kernel(x, y, w, tp.cg_uvu)
    grad = torch.randn(7, tp.irreps_out.dim, generator=gen(5), dtype=torch.float64)
    tests = ("test_schema", "test_faketensor")
    torch.library.opcheck(torch.ops.steertorch.tp_uvu_forward,
                          (x, y, w, tp.cg_uvu, kp._sizes_for(w), *kp._tables, tp.irreps_out.dim), test_utils=tests)
    for needs in [(True, True, True), (False, True, False)]:
        args = (x, y, w, tp.cg_uvu, grad, kp._sizes_for(w), *kp._tables, kp._dead_inputs,
                kp._unused_weights(w.shape[-1]), *needs)
        torch.library.opcheck(torch.ops.steertorch.tp_uvu_backward, args, test_utils=tests)
        grads = torch.ops.steertorch.tp_uvu_backward(*args)
        for g, ref, n in zip(grads, kp.backward(x, y, w, tp.cg_uvu, grad, needs), needs):
            assert torch.equal(g, ref) if n else (g.numel() == 0 and ref is None)


@needs_compiler
def test_torch_compile_sees_one_operator():
    tp, x, y, w = _case("4x0e + 4x1o + 2x2e", "0e + 1o + 2e", batch=9)
    x, y, w = x.detach(), y.detach(), w.detach()
    kp = tp._uvu_plan.kernel(x, y, w, tp.cg_uvu)
    kp._sizes_for(w)
    seen = []

    def backend(gm, inputs):
        seen.extend(str(n.target) for n in gm.graph.nodes if n.op == "call_function")
        return gm.forward

    f = torch.compile(lambda a, b, c: kp.forward(a, b, c, tp.cg_uvu), backend=backend, fullgraph=True)
    assert torch.equal(f(x, y, w), kp.forward(x, y, w, tp.cg_uvu))
    assert seen == ["steertorch.tp_uvu_forward"]
