"""The compiled CPU kernel of the shared-weight "uvw" product: built where a C compiler exists, switched off by
``STEERTORCH_CPU_KERNEL=0``, and equal to the differentiable path for shapes the vectorised loops treat apart
(multiplicities that are not a multiple of the vector width, large l, blocks beyond the kernel's limit, thread
counts, empty and one-row batches, non-contiguous inputs), and for per-sample weights (which only the kernel takes
off the differentiable path): derivatives, forces of a point convolution and training on them, weights of no path,
equivariance. Derivatives of every order with shared weights are tested in test_tensor_product_fused.py, on the
kernel and on the pure-torch path."""

import ctypes
import os
import subprocess
import sys

import pytest
import torch
from _equivariance_helpers import check_irreps_equivariant, default_dtype, gen

import steertorch._native as native
import steertorch.o3._tensor_product_kernel as kernel
from steertorch import o3
from steertorch.o3._tensor_product_plan import forward_uvw_single

# where the kernel can be built and is not switched off, it must be in use (test_the_kernel_is_built...)
needs_compiler = pytest.mark.skipif(native._compiler() is None or os.environ.get("STEERTORCH_CPU_KERNEL") == "0",
                                    reason="no C compiler on this machine, or STEERTORCH_CPU_KERNEL=0")


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


def test_switched_off_by_the_environment(monkeypatch):
    monkeypatch.setattr(kernel._LIBRARY, "_state", {})
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
        assert kernel._threads(batch) == min(threads, batch)
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


# ----------------------------------------------------------------------------------------------- per-sample weights
def _per_sample_case(i1, i2, io, batch, instructions=None, seed=1):
    with default_dtype(torch.float64):
        if instructions is None:
            tp = o3.FullyConnectedTensorProduct(i1, i2, io, shared_weights=False, internal_weights=False)
        else:
            tp = o3.TensorProduct(i1, i2, io, instructions, shared_weights=False, internal_weights=False)
    g = gen(seed)
    x = tp.irreps_in1.randn(batch, -1, generator=g, dtype=torch.float64).requires_grad_(True)
    y = tp.irreps_in2.randn(batch, -1, generator=g, dtype=torch.float64).requires_grad_(True)
    w = torch.randn(batch, tp.weight_numel, generator=g, dtype=torch.float64).requires_grad_(True)
    return tp, x, y, w


def _per_sample_reference(tp, x, y, w):
    return forward_uvw_single(x, y, w, tp.cg_fast, tp.w_perm_fast, tp._fast_groups, tp.irreps_in1, tp.irreps_out,
                              False)


PER_SAMPLE = [
    ("32x0e + 32x1o + 32x2e", "0e + 1o + 2e", "32x0e + 32x1o + 32x2e"),
    ("5x0e + 13x1o + 3x2e", "0e + 1o + 2e", "7x0e + 9x1o + 2x2e + 3x1e"),  # tails, early and late mixing
    ("3x0e + 2x1o + 2x3o", "0e + 1o + 3o", "4x0e + 3x1o + 2x2e + 2x3o"),
]


@needs_compiler
@pytest.mark.parametrize("case", PER_SAMPLE, ids=[c[0] for c in PER_SAMPLE])
def test_per_sample_weights_values_and_derivatives(case):
    """Values, gradients and second derivatives (a loss on the gradients) against the differentiable path."""
    tp, x, y, w = _per_sample_case(*case, batch=21)
    assert tp._fused_plan.kernel(x, y, w, tp.cg_fast) is not None

    def derivatives(f):
        out = f(x, y, w)
        g1 = torch.autograd.grad(0.5 * out.pow(2).sum() + out.sum(), [x, y, w], create_graph=True)
        g2 = torch.autograd.grad(g1[0].pow(2).sum() + (g1[1] * g1[1].detach().cos()).sum() + g1[2].pow(2).sum(),
                                 [x, y, w])
        return [out, *g1, *g2]

    for a, b in zip(derivatives(tp), derivatives(lambda a, b, c: _per_sample_reference(tp, a, b, c))):
        assert (a - b).abs().max() <= 1e-11 * (1 + b.abs().max())


@needs_compiler
def test_per_sample_weights_of_no_path_get_zero_gradient():
    """An instruction with path weight 0 keeps its weights in the flat vector; their gradient is 0, not garbage."""
    instructions = [(0, 0, 0, "uvw", True), (0, 1, 1, "uvw", True, 0.0), (1, 1, 0, "uvw", True), (1, 0, 1, "uvw", True)]
    tp, x, y, w = _per_sample_case("3x0e + 4x1o", "0e + 1o", "2x0e + 5x1o", batch=9, instructions=instructions)
    gw = torch.autograd.grad(tp(x, y, w).pow(2).sum(), w)[0]
    ref = torch.autograd.grad(_per_sample_reference(tp, x, y, w).pow(2).sum(), w)[0]
    off = tp._w_offsets[1]
    assert torch.equal(gw[:, off:off + 3 * 5], torch.zeros(9, 15, dtype=torch.float64))
    assert (gw - ref).abs().max() < 1e-12


@needs_compiler
def test_per_sample_point_convolution_forces_and_training():
    """Weights from a radial network of edge lengths, y the spherical harmonics of the edges: forces -dE/dpos and a
    training step on them (double backward through the weights, the harmonics and the product)."""
    tp, x, _, _ = _per_sample_case("8x0e + 8x1o + 4x2e", "0e + 1o + 2e", "8x0e + 8x1o + 4x2e", batch=14)
    pos = torch.randn(14, 3, generator=gen(4), dtype=torch.float64, requires_grad=True)
    with default_dtype(torch.float64):
        radial = torch.nn.Sequential(torch.nn.Linear(1, 16), torch.nn.SiLU(), torch.nn.Linear(16, tp.weight_numel))
    results = []
    for f in (tp, lambda a, b, c: _per_sample_reference(tp, a, b, c)):
        sh = o3.spherical_harmonics(tp.irreps_in2, pos, normalize=True)
        out = f(x.detach(), sh, radial(pos.norm(dim=1, keepdim=True)))
        forces = -torch.autograd.grad(out.pow(2).sum(), pos, create_graph=True)[0]
        results.append((forces, *torch.autograd.grad(forces.pow(2).sum(), list(radial.parameters()))))
    for a, b in zip(*results):
        assert (a - b).abs().max() < 1e-11 * (1 + b.abs().max())


@needs_compiler
def test_per_sample_weights_equivariant():
    tp, x, y, w = _per_sample_case(*PER_SAMPLE[1], batch=5)
    check_irreps_equivariant(lambda a, b: tp(a, b, w.detach()), [tp.irreps_in1, tp.irreps_in2], tp.irreps_out,
                             [x.detach(), y.detach()])


def test_per_sample_weights_without_the_kernel(monkeypatch):
    """The differentiable torch path runs instead; the fused entry point refuses them."""
    monkeypatch.setattr(kernel, "cpu_kernel_available", lambda: False)
    tp, x, y, w = _per_sample_case(*PER_SAMPLE[1], batch=6)
    out = tp(x, y, w)
    assert (out - _per_sample_reference(tp, x, y, w)).abs().max() < 1e-12
    from steertorch.o3._tensor_product_fused import fused_uvw_single

    with pytest.raises(ValueError, match="per-sample weights"):
        fused_uvw_single(x, y, w, tp.cg_fast, tp._fused_plan)


# ------------------------------------------------------------------------------------------ where it is loaded from
PLANT = r"""
#include <stdio.h>
__attribute__((constructor)) static void planted(void) { FILE *f = fopen(MARKER, "w"); if (f) fclose(f); }
"""


def _plant(path, marker):
    """A shared object at ``path`` whose constructor creates ``marker`` (it runs if the library is ever loaded)."""
    src = path.parent / "plant.c"
    src.write_text(PLANT)
    cc = native._compiler().split()
    assert os.spawnvp(os.P_WAIT, cc[0], [*cc, "-shared", "-fPIC", f'-DMARKER="{marker}"', str(src), "-o",
                                         str(path)]) == 0
    src.unlink()


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """The kernel loaded anew, the temporary directory in tmp_path, and "compiling" by copying the library already
    built (fast; the compile itself is tested by test_three_processes_compile_once)."""
    assert kernel.cpu_kernel_available()
    built = kernel._LIBRARY._state["path"]
    compiled = []

    def copy_build(cc, source, out):
        compiled.append(out)
        tmp = out.with_suffix(".tmp")
        tmp.write_bytes(built.read_bytes())
        tmp.chmod(0o700)
        os.replace(tmp, out)

    monkeypatch.setattr(kernel._LIBRARY, "_state", {})
    monkeypatch.setattr(native, "_build", copy_build)
    monkeypatch.setattr(native.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    return compiled


@needs_compiler
def test_a_library_planted_in_a_world_writable_cache_is_not_loaded(fresh, monkeypatch, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    marker = tmp_path / "planted-code-ran"
    _plant(shared / kernel._LIBRARY._name(native._compiler()), marker)
    monkeypatch.setenv("STEERTORCH_CACHE", str(shared))
    info = kernel.kernel_info()
    assert not marker.exists()
    assert info["available"] and not info["path"].startswith(str(shared))  # built in the private temporary directory
    assert info["path"].startswith(str(tmp_path / "tmp" / "steertorch-"))
    assert "writable by group and others" in info["notes"][0] and info["cache"] == str(shared)


@needs_compiler
def test_a_group_writable_library_is_not_loaded_but_rebuilt(fresh, monkeypatch, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    path = cache / kernel._LIBRARY._name(native._compiler())
    marker = tmp_path / "planted-code-ran"
    _plant(path, marker)
    path.chmod(0o770)
    monkeypatch.setenv("STEERTORCH_CACHE", str(cache))
    assert kernel.cpu_kernel_available()
    assert not marker.exists() and fresh == [path]
    assert native._unsafe(path, False) is None  # replaced by a private build
    assert "writable by its group" in kernel.kernel_info()["notes"][0]


@needs_compiler
def test_an_unwritable_cache_falls_back_to_the_temporary_directory(fresh, monkeypatch, tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    monkeypatch.setenv("STEERTORCH_CACHE", str(blocked / "cache"))  # cannot be created: a file is in the way
    assert kernel.cpu_kernel_available()
    assert list((tmp_path / "tmp").glob("steertorch-*/tp_kernel_*.so"))


@needs_compiler
def test_an_unsafe_temporary_directory_falls_back_to_a_fresh_private_one(fresh, monkeypatch, tmp_path):
    (tmp_path / "tmp").mkdir()
    taken = tmp_path / "tmp" / f"steertorch-{os.getuid()}"
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    taken.symlink_to(tmp_path / "elsewhere")  # planted by someone else: refused, as a symbolic link
    monkeypatch.setenv("STEERTORCH_CACHE", str(taken))
    info = kernel.kernel_info()
    assert info["available"] and len(fresh) == 1
    assert fresh[0].parent not in (taken, tmp_path / "elsewhere") and not fresh[0].parent.is_symlink()
    assert (fresh[0].parent.stat().st_mode & 0o777) == 0o700
    assert all("symbolic link" in note for note in info["notes"]) and len(info["notes"]) == 2


def test_private_directories(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    assert "writable by group and others" in native._private_dir(shared)
    shared.chmod(0o730)
    assert "writable by its group" in native._private_dir(shared)
    (tmp_path / "link").symlink_to(tmp_path / "a")
    assert "symbolic link" in native._private_dir(tmp_path / "link")
    private = tmp_path / "a" / "b"
    assert native._private_dir(private) is None
    assert all((p.stat().st_mode & 0o777) == 0o700 for p in (tmp_path / "a", private))
    if os.getuid() == 0:  # root can give a directory away
        other = tmp_path / "other"
        other.mkdir(mode=0o700)
        os.chown(other, 65534, -1)
        assert "belongs to uid 65534" in native._private_dir(other)


_START = """
import logging, sys
logging.basicConfig(level=logging.INFO)  # (the old loader only logged its compiles)
import steertorch._native as native
import steertorch.o3._tensor_product_kernel as kernel
print(kernel.cpu_kernel_available())
"""


@needs_compiler
def test_three_processes_compile_once(tmp_path):
    """Started together on an empty cache: one compiles (and says so on stderr, once), the others wait for it."""
    env = {**os.environ, "STEERTORCH_CACHE": str(tmp_path / "cache")}
    env.pop("STEERTORCH_QUIET", None)
    procs = [subprocess.Popen([sys.executable, "-c", _START], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    results = [p.communicate(timeout=600) for p in procs]
    assert [out.strip() for out, _ in results] == ["True"] * 3, results
    lines = [line for _, err in results for line in err.splitlines() if "compiling" in line.lower()]
    assert len(lines) == 1 and lines[0].startswith("steertorch: compiling the CPU tensor-product kernel"), lines
    (path,) = (tmp_path / "cache").glob("tp_kernel_*.so")
    assert sorted(p.name for p in path.parent.iterdir()) == sorted([path.name, path.with_suffix(".lock").name])
    assert (path.stat().st_mode & 0o777) == 0o700
    lib = ctypes.CDLL(str(path))
    for name in ("st_tp_forward_f32", "st_tp_forward_f64", "st_tp_backward_f32", "st_tp_backward_f64",
                 "st_tpuvu_forward_f32", "st_tpuvu_forward_f64", "st_tpuvu_backward_f32", "st_tpuvu_backward_f64"):
        assert hasattr(lib, name)


# ------------------------------------------------------------------------------------------ why, in steertorch info
def _info(capsys) -> str:
    from steertorch.cli import main

    assert main(["info"]) == 0
    return capsys.readouterr().out


def test_info_shows_the_kernel_path_and_cache(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(kernel._LIBRARY, "_state", {})
    monkeypatch.setenv("STEERTORCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("STEERTORCH_CPU_KERNEL", "0")
    out = _info(capsys)
    assert "not in use (the torch path runs): switched off by STEERTORCH_CPU_KERNEL=0" in out
    assert f"cache: {tmp_path / 'cache'}" in out
    monkeypatch.setattr(kernel._LIBRARY, "_state", {})
    monkeypatch.delenv("STEERTORCH_CPU_KERNEL")
    monkeypatch.setattr(native, "_compiler", lambda: None)
    assert "no C compiler found" in _info(capsys)


@needs_compiler
def test_info_shows_the_library_in_use(capsys):
    assert kernel.cpu_kernel_available()
    out = _info(capsys)
    assert f"cpu kernel in use: {kernel._LIBRARY._state['path']}" in out and "cache: " in out


@needs_compiler
def test_a_compile_error_is_reported_with_the_compiler_output(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(kernel._LIBRARY, "_state", {})
    monkeypatch.setenv("STEERTORCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(native, "_compiler", lambda: "cc -include /no/such/header_kx.h")
    assert not kernel.cpu_kernel_available()
    err = capsys.readouterr().err
    assert err.count("steertorch: compiling the CPU tensor-product kernel") == 1
    out = _info(capsys)
    assert "not in use (the torch path runs): compiling failed: cc -include /no/such/header_kx.h failed:" in out
    assert "header_kx.h: No such file or directory" in out and "no C compiler" not in out


# ----------------------------------------------------------------------------------------------- the custom operators
@needs_compiler
@pytest.mark.parametrize("per_sample", [False, True])
def test_custom_ops_pass_opcheck(per_sample):
    """Schema (no aliasing, no mutation) and fake implementations that agree with the kernel's outputs; the
    gradients not asked for come back empty, the others equal KernelPlan's."""
    if per_sample:
        tp, x, y, w = _per_sample_case(*PER_SAMPLE[1], batch=7)
        w = w.detach()
    else:
        tp, x, y = _case("3x0e + 2x1o + 2x2o", "0e + 1o", "4x0e + 3x1o", batch=7)  # 2x2o: read by no path
        w = tp.weight.detach()
    x, y = x.detach(), y.detach()
    kp = tp._fused_plan.kernel(x, y, w, tp.cg_fast)
    grad = torch.randn(7, tp.irreps_out.dim, generator=gen(5), dtype=torch.float64)
    tests = ("test_schema", "test_faketensor")
    torch.library.opcheck(torch.ops.steertorch.tp_uvw_forward,
                          (x, y, w, tp.cg_fast, kp._sizes_for(w), *kp._tables, tp.irreps_out.dim), test_utils=tests)
    for needs in [(True, True, True), (False, True, False)]:
        args = (x, y, w, tp.cg_fast, grad, kp._sizes_for(w), *kp._tables, kp._dead_inputs,
                kp._unused_weights(w.shape[-1]), *needs)
        torch.library.opcheck(torch.ops.steertorch.tp_uvw_backward, args, test_utils=tests)
        grads = torch.ops.steertorch.tp_uvw_backward(*args)
        for g, ref, n in zip(grads, kp.backward(x, y, w, tp.cg_fast, grad, needs), needs):
            assert torch.equal(g, ref) if n else (g.numel() == 0 and ref is None)
    if not per_sample:
        gx = kp.backward(x, y, w, tp.cg_fast, grad, (True, False, False))[0]
        (s0, s1), = kp._dead_inputs.tolist()
        assert torch.equal(gx[:, s0:s1], torch.zeros(7, s1 - s0, dtype=torch.float64))


@needs_compiler
def test_torch_compile_sees_one_operator():
    tp, x, y = _case("4x0e + 4x1o + 2x2e", "0e + 1o + 2e", "4x0e + 4x1o + 2x2e", batch=9)
    x, y, w = x.detach(), y.detach(), tp.weight.detach()
    kp = tp._fused_plan.kernel(x, y, w, tp.cg_fast)
    kp._sizes_for(w)
    seen = []

    def backend(gm, inputs):
        seen.extend(str(n.target) for n in gm.graph.nodes if n.op == "call_function")
        return gm.forward

    f = torch.compile(lambda a, b: kp.forward(a, b, w, tp.cg_fast), backend=backend, fullgraph=True)
    assert torch.equal(f(x, y), kp.forward(x, y, w, tp.cg_fast))
    assert seen == ["steertorch.tp_uvw_forward"]
