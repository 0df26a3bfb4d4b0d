"""The CPU shared-weight path of the fast "uvw" product (hand-written backward), run by the compiled kernel and by
its pure-torch fallback (every test runs on both): equal to the differentiable path it replaces, values and
derivatives of first to third order, in every block layout, in row chunks, for every subset of requested gradients,
with retained graphs, in inference mode; and equivariant."""

import pytest
import torch
from _equivariance_helpers import check_irreps_equivariant, default_dtype, gen

import steertorch.o3._tensor_product_fused as fused
import steertorch.o3._tensor_product_kernel as kernel
from steertorch import o3
from steertorch.o3._tensor_product_plan import forward_uvw_single

# (irreps_in1, irreps_in2, irreps_out): the benchmark's shapes, blocks small enough for broadcast products,
# groups of several paths (two scalar copies in irreps_in2), outputs no path reaches and inputs no path uses
CASES = [
    ("32x0e + 32x1o + 32x2e", "0e + 1o + 2e", "32x0e + 32x1o + 32x2e"),
    ("32x0e + 32x1o", "0e + 1o", "32x0e + 32x1o"),
    ("3x0e + 2x1o + 2e + 0o", "0e + 1o + 2e", "2x0e + 3x1o + 2x1e + 2e + 2o"),
    ("4x1o + 3x2e", "0e + 1o + 0e + 2e", "5x0e + 2x1o + 3x2e + 4x3o"),
    ("4x1o + 3x2e + 5x0e", "1o + 1e", "2x0e + 2x1o + 2x1e + 2x2o + 3x0o"),
    ("8x0e", "0e + 0e + 1o", "3x0e + 2x1o"),
]
IDS = [c[0] for c in CASES]


@pytest.fixture(autouse=True, params=["kernel", "torch"])
def backend(request, monkeypatch):
    """The compiled kernel (where a C compiler built it) or the pure-torch path."""
    if request.param == "torch":
        monkeypatch.setattr(kernel, "cpu_kernel_available", lambda: False)
    elif not kernel.cpu_kernel_available():
        pytest.skip("no C compiler on this machine: the kernel is not built (tests/o3/test_tensor_product_kernel.py)")
    return request.param


def _setup(i1, i2, io, batch, seed=0):
    with default_dtype(torch.float64):
        tp = o3.FullyConnectedTensorProduct(i1, i2, io)
    g = gen(seed)
    x = tp.irreps_in1.randn(batch, -1, generator=g, dtype=torch.float64).requires_grad_(True)
    y = tp.irreps_in2.randn(batch, -1, generator=g, dtype=torch.float64).requires_grad_(True)
    return tp, x, y


def _reference(tp, x, y, w=None):
    return forward_uvw_single(x, y, tp.weight if w is None else w, tp.cg_fast, tp.w_perm_fast, tp._fast_groups,
                              tp.irreps_in1, tp.irreps_out, True)


def _derivatives(f, x, y, w):
    """f(x, y, w), its gradients, and second and third derivatives of scalar functions of them."""
    out = f(x, y, w)
    e = 0.5 * out.pow(2).sum() + out.sum()
    g1 = torch.autograd.grad(e, [x, y, w], create_graph=True)
    l2 = g1[0].pow(2).sum() + (g1[1] * g1[1].detach().sin()).sum() + 0.1 * g1[2].pow(2).sum()
    g2 = torch.autograd.grad(l2, [x, y, w], create_graph=True)
    g3 = torch.autograd.grad(sum((d * d).sum() for d in g2), [x, y, w])
    return [out, *g1, *g2, *g3]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_values_and_derivatives_to_third_order_equal_the_differentiable_path(case, backend):
    tp, x, y = _setup(*case, batch=23)
    assert tp._fused_plan is not None
    assert (tp._fused_plan.kernel(x, y, tp.weight, tp.cg_fast) is not None) == (backend == "kernel")
    w = tp.weight
    ours = _derivatives(lambda a, b, c: tp(a, b, c), x, y, w)
    ref = _derivatives(lambda a, b, c: _reference(tp, a, b, c), x, y, w)
    for a, b in zip(ours, ref):
        assert (a - b).abs().max() <= 1e-11 * (1 + b.abs().max())


def test_every_block_layout_is_exercised():
    """The cases above cover whole / strided-rows / copied groups, batched and broadcast products, scalar blocks."""
    seen = set()
    for case in CASES:
        tp, _, _ = _setup(*case, batch=1)
        for blk in tp._fused_plan.blocks:
            seen.add("scalar" if blk.dim == 1 else "small" if blk.small else "bmm")
            seen.update(grp.layout for grp in blk.groups)
    assert seen == {"scalar", "small", "bmm", "whole", "rows", "copy"}


@pytest.mark.parametrize("wanted", ["x", "y", "w", "xy", "xw", "yw", "xyw"])
def test_each_subset_of_requested_gradients(wanted):
    """autograd.grad of some inputs only (the backward skips the others) and .backward() (all of them)."""
    tp, x, y = _setup(*CASES[2], batch=11)
    inputs = {"x": x, "y": y, "w": tp.weight}
    g = gen(3)
    grad_out = torch.randn(11, tp.irreps_out.dim, generator=g, dtype=torch.float64)
    chosen = [inputs[k] for k in wanted]
    ours = torch.autograd.grad(tp(x, y), chosen, grad_out)
    ref = torch.autograd.grad(_reference(tp, x, y), chosen, grad_out)
    for a, b in zip(ours, ref):
        assert (a - b).abs().max() < 1e-12
    tp(x, y).backward(grad_out)
    for t, r in zip((x, y, tp.weight), torch.autograd.grad(_reference(tp, x, y), [x, y, tp.weight], grad_out)):
        assert (t.grad - r).abs().max() < 1e-12


def test_gradient_through_an_upstream_layer_only():
    """x made by another layer; only that layer's weights are asked for (the product's own weights are skipped)."""
    tp, x, y = _setup(*CASES[0], batch=9)
    with default_dtype(torch.float64):
        lin = o3.Linear(tp.irreps_in1, tp.irreps_in1)
    xin = x.detach()
    ours = torch.autograd.grad(tp(lin(xin), y).pow(2).sum(), [lin.weight])[0]
    ref = torch.autograd.grad(_reference(tp, lin(xin), y).pow(2).sum(), [lin.weight])[0]
    assert (ours - ref).abs().max() < 1e-11 * (1 + ref.abs().max())


@pytest.mark.parametrize("linear", [False, True], ids=["quadratic_energy", "linear_energy"])
def test_forces_of_a_potential_and_training_on_them(linear):
    """E(pos) through spherical harmonics; F = -dE/dpos (create_graph), a loss on F, its gradient for the weights.
    A linear readout of the product makes dE/dout a constant (no derivative flows into it)."""
    tp, x, _ = _setup(*CASES[0], batch=16)
    pos = torch.randn(16, 3, generator=gen(5), dtype=torch.float64, requires_grad=True)
    readout = torch.randn(tp.irreps_out.dim, generator=gen(6), dtype=torch.float64)
    results = []
    for f in (lambda a, b: tp(a, b), lambda a, b: _reference(tp, a, b)):
        sh = o3.spherical_harmonics(tp.irreps_in2, pos, normalize=True)
        out = f(x.detach(), sh)
        energy = (out @ readout).sum() if linear else out.pow(2).sum()
        forces = -torch.autograd.grad(energy, pos, create_graph=True)[0]
        results.append((forces, torch.autograd.grad(forces.pow(2).sum(), tp.weight)[0]))
    for a, b in zip(*results):
        assert (a - b).abs().max() < 1e-11 * (1 + b.abs().max())


def test_row_chunks_and_a_retained_graph_run_twice(monkeypatch):
    tp, x, y = _setup(*CASES[0], batch=700)
    monkeypatch.setattr(fused, "SCRATCH_BYTES", 1)  # the smallest chunk: 256 rows, so 3 chunks (the last partial)
    assert tp._fused_plan.chunk(700, torch.float64) == 256
    out = tp(x, y)
    grad_out = torch.randn_like(out)
    first = torch.autograd.grad(out, [x, tp.weight], grad_out, retain_graph=True)
    tp(2 * x, y).sum().backward()  # borrows the pooled buffer of the first product in between
    second = torch.autograd.grad(out, [x, tp.weight], grad_out)
    ref_out = _reference(tp, x, y)
    ref = torch.autograd.grad(ref_out, [x, tp.weight], grad_out)
    assert (out - ref_out).abs().max() < 1e-12
    for a, b, r in zip(first, second, ref):
        assert (a - r).abs().max() < 1e-12 and (b - r).abs().max() < 1e-12


def test_no_grad_and_inference_mode():
    tp, x, y = _setup(*CASES[2], batch=9)
    ref = _reference(tp, x, y)
    fused.release_buffers()
    with torch.inference_mode():  # buffers made in inference mode stay writable outside it
        a = tp(x, y)
    with torch.no_grad():
        b = tp(x, y)
    assert not b.requires_grad
    assert (a - ref).abs().max() < 1e-12 and torch.equal(a, b)
    assert (tp(x, y) - ref).abs().max() < 1e-12


@pytest.mark.parametrize("case", CASES[:3], ids=IDS[:3])
def test_equivariant(case):
    tp, x, y = _setup(*case, batch=6)
    check_irreps_equivariant(lambda a, b: tp(a, b), [tp.irreps_in1, tp.irreps_in2], tp.irreps_out,
                             [x.detach(), y.detach()])


def test_gradcheck_and_gradgradcheck():
    tp, x, y = _setup(*CASES[2], batch=3)
    w = tp.weight.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b, c: tp(a, b, c), (x, y, w))
    assert torch.autograd.gradgradcheck(lambda a, b, c: tp(a, b, c), (x, y, w))


def test_float32_matches_float64():
    tp, x, y = _setup(*CASES[0], batch=64)
    ref = _reference(tp, x, y)
    tp32 = tp.float()
    with torch.no_grad():
        out = tp32(x.detach().float(), y.detach().float())
    assert (out.double() - ref).abs().max() < 1e-4 * ref.abs().max()


def test_inputs_no_path_reads_get_zero_gradient():
    """2x2o couples to no output: its gradient is zero, whatever the freed memory the gradient reuses held."""
    tp, x, y = _setup("3x0e + 2x1o + 2x2o", "0e + 1o", "4x0e + 3x1o", batch=5)
    (s0, s1), = tp._fused_plan.dead_inputs
    for _ in range(3):
        del_me = torch.full((5, x.shape[1]), float("nan"), dtype=torch.float64)
        del del_me
        gx = torch.autograd.grad(tp(x, y).sum(), x)[0]
        assert torch.equal(gx[:, s0:s1], torch.zeros(5, s1 - s0, dtype=torch.float64))
        assert torch.isfinite(gx).all()


def test_buffers_kept_between_calls_stay_bounded(backend, monkeypatch):
    """Training steps of random batch sizes (each new largest batch used to add a buffer to the pool, 1.5 GB after 24
    steps): what the thread keeps stays under POOL_BYTES plus one scratch buffer, and the pool is still reused."""
    if backend == "kernel":
        pytest.skip("the compiled kernel keeps no buffers between calls")
    monkeypatch.setattr(fused, "POOL_BYTES", 4 << 20)
    monkeypatch.setattr(fused, "SCRATCH_BYTES", 1 << 20)
    fused.release_buffers()
    with default_dtype(torch.float64):
        tp = o3.FullyConnectedTensorProduct("8x0e + 8x1o + 4x2e", "0e + 1o + 2e", "8x0e + 8x1o + 4x2e")
    plan = tp._fused_plan
    scratch = max(fused.SCRATCH_BYTES, 256 * plan.row(False) * 8)
    g = gen(3)
    for step in range(30):
        z = int(torch.randint(1, 1200, (1,), generator=g))
        x = tp.irreps_in1.randn(z, -1, generator=g, dtype=torch.float64)
        y = tp.irreps_in2.randn(z, -1, generator=g, dtype=torch.float64)
        tp(tp(x, y), y).pow(2).sum().backward()  # two buffers lent at once
        pool = getattr(fused._local, "pool", [])
        held = sum(b.numel() * b.element_size() for b in [*fused._local.bufs.values(), *(p.buf for p in pool)])
        assert fused.retained_bytes() == held
        assert sum(p.buf.numel() * 8 for p in pool) <= fused.POOL_BYTES, step
        assert held <= fused.POOL_BYTES + scratch, step
    assert pool and max(p.generation for p in pool) > 1  # buffers are reused from step to step
    fused.release_buffers()
    assert fused.retained_bytes() == 0
