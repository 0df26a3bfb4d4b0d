"""The compiled spherical-harmonics kernel equals its pure-torch twin: values, gradients, double backward, every
normalisation, degree list and batch size; and the shared build machinery (``steertorch._native``) refuses unsafe
cache directories."""

from __future__ import annotations

import copy
import os
import pickle
import shutil

import pytest
import torch

from steertorch import _native
from steertorch.group import _spherical_harmonics_kernel as shk
from steertorch.group._spherical_harmonics import _torch_harmonics, spherical_harmonics

NORMALIZATIONS = ["integral", "component", "norm"]
HAVE_CC = shutil.which(os.environ.get("CC", "cc").split()[0]) is not None or shutil.which("gcc") is not None

pytestmark = pytest.mark.skipif(os.environ.get("STEERTORCH_CPU_KERNEL") == "0", reason="kernel switched off")


def _points(n: int, dtype=torch.float64, seed: int = 0) -> torch.Tensor:
    x = torch.randn(n, 3, generator=torch.Generator().manual_seed(seed), dtype=dtype)
    if n > 5:
        x[5] = 0.0  # a zero point inside a block
    return x


def _tol(dtype):
    return {"rtol": 1e-12, "atol": 1e-13} if dtype == torch.float64 else {"rtol": 1e-4, "atol": 2e-5}


def test_kernel_is_built_where_a_compiler_is():
    info = shk.sh_kernel_info()
    if HAVE_CC:
        assert info["available"], info["reason"]
    assert info["available"] == (info["reason"] is None)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("normalization", NORMALIZATIONS)
@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("ls", [[0], [1], [0, 1], [0, 1, 2, 3], [2, 0, 2], [3, 1], list(range(9)), [12, 0, 5]])
def test_values_equal_the_torch_twin(dtype, normalization, normalize, ls):
    x = _points(70, dtype)  # two whole blocks of 32 and a partial one
    fast = shk.kernel_spherical_harmonics(ls, x, normalize, normalization)
    if fast is None:
        pytest.skip("kernel not available")
    slow = _torch_harmonics(ls, x, normalize, normalization)
    assert fast.shape == slow.shape and fast.dtype == dtype and fast.is_contiguous()
    scale = slow.abs().max().clamp(min=1)
    assert torch.allclose(fast / scale, slow / scale, **_tol(dtype))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("lmax", [1, 2, 3])
def test_zero_and_nan_points_inside_vector_groups(dtype, normalize, lmax):
    """Degrees 1 to 3 run VL points at a time in registers (4 doubles, 8 floats): zero and NaN points at several
    positions of a group, and a partial group at the end, give the twin's values."""
    x = _points(21, dtype) * 3
    x[0] = 0
    x[5] = 0
    x[6, 1] = float("nan")
    x[11] = 0
    x[15, 0] = float("nan")
    x[20] = 0  # in the partial group, which runs the blocked path
    ls = list(range(lmax + 1))
    fast = shk.kernel_spherical_harmonics(ls, x, normalize, "integral")
    if fast is None:
        pytest.skip("kernel not available")
    slow = _torch_harmonics(ls, x, normalize, "integral")
    bad = slow.isnan().any(1)  # a NaN point stays visible (the twin: the whole row; the kernel: some entries)
    assert bad.tolist() == [i in (6, 15) for i in range(21)]
    assert torch.equal(fast.isnan().any(1), bad)
    scale = slow[~bad].abs().max().clamp(min=1)
    assert torch.allclose(fast[~bad] / scale, slow[~bad] / scale, **_tol(dtype))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("lmax", [1, 2, 3])
def test_register_path_equals_the_blocked_path_bit_for_bit(dtype, normalize, lmax):
    """Degrees 0..lmax in order take the register path; the same degrees in another order take the blocked path
    (its buffer, then the requested blocks): the same operations in the same order, so equal values."""
    x = _points(64, dtype) * 2
    ls = list(range(lmax + 1))
    in_order = shk.kernel_spherical_harmonics(ls, x, normalize, "component")
    if in_order is None:
        pytest.skip("kernel not available")
    reordered = shk.kernel_spherical_harmonics(ls[1:] + ls[:1], x, normalize, "component")
    assert torch.equal(torch.cat([reordered[:, -1:], reordered[:, :-1]], dim=1), in_order)


@pytest.mark.parametrize("n", [0, 1, 31, 32, 33, 4100])
def test_batch_sizes_and_threads(n):
    x = _points(n)
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # 4100 points: two threads
    try:
        fast = spherical_harmonics(list(range(6)), x)
    finally:
        torch.set_num_threads(before)
    assert fast.shape == (n, 36)
    assert torch.allclose(fast, _torch_harmonics(list(range(6)), x, True, "integral"), rtol=1e-12, atol=1e-14)


def test_non_contiguous_and_batched_input():
    x = _points(40).T.contiguous().T  # a non-contiguous view
    assert not x.is_contiguous()
    y = spherical_harmonics([0, 1, 2], x.reshape(4, 10, 3))
    assert y.shape == (4, 10, 9)
    assert torch.allclose(y.reshape(40, 9), _torch_harmonics([0, 1, 2], x.contiguous(), True, "integral"),
                          rtol=1e-12, atol=1e-14)


def test_zero_and_nan_points():
    x = torch.tensor([[0.0, 0.0, 0.0], [float("nan"), 1.0, 0.0], [1.0, 2.0, 3.0]], dtype=torch.float64)
    for normalize in (True, False):
        fast = spherical_harmonics(list(range(4)), x, normalize=normalize)
        slow = _torch_harmonics(list(range(4)), x, normalize, "integral")
        assert torch.equal(fast.isnan(), slow.isnan())
        ok = ~slow.isnan()
        assert torch.allclose(fast[ok], slow[ok], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("normalization", NORMALIZATIONS)
@pytest.mark.parametrize("normalize", [True, False])
def test_gradients_equal_the_torch_twin(dtype, normalization, normalize):
    ls = [0, 1, 2, 2, 4, 7, 3]
    x = _points(45, dtype)
    g = torch.randn(45, sum(2 * l + 1 for l in ls), generator=torch.Generator().manual_seed(1), dtype=dtype)
    grads = []
    for fn in (lambda p: spherical_harmonics(ls, p, normalize, normalization),
               lambda p: _torch_harmonics(ls, p, normalize, normalization)):
        p = x.clone().requires_grad_()
        (gx,) = torch.autograd.grad((fn(p) * g).sum(), p)
        grads.append(gx)
    scale = grads[1].abs().max()
    assert torch.allclose(grads[0] / scale, grads[1] / scale, **_tol(dtype))
    if normalize:
        assert torch.equal(grads[0][5], torch.zeros(3, dtype=dtype))  # the zero-vector rule


def test_double_backward_goes_through_the_twin():
    ls = [0, 1, 2, 3]
    x = _points(20)
    g = torch.randn(20, 16, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    results = []
    for fn in (lambda p: spherical_harmonics(ls, p), lambda p: _torch_harmonics(ls, p, True, "integral")):
        p = x.clone().requires_grad_()
        (gx,) = torch.autograd.grad((fn(p) * g).sum(), p, create_graph=True)
        (ggx,) = torch.autograd.grad(gx.pow(2).sum(), p)
        results.append((gx.detach(), ggx))
    for a, b in zip(*results):
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-13)


def test_gradient_of_the_output_gradient():
    """A graph through the cotangent too (gradient of the gradient with respect to the output gradient)."""
    x = _points(8).requires_grad_()
    g = torch.randn(8, 9, dtype=torch.float64, requires_grad=True)
    (gx,) = torch.autograd.grad((spherical_harmonics([0, 1, 2], x) * g).sum(), x, create_graph=True)
    (gg,) = torch.autograd.grad(gx.sum(), g)
    p = x.detach().clone().requires_grad_()
    (gx_ref,) = torch.autograd.grad((_torch_harmonics([0, 1, 2], p, True, "integral") * g).sum(), p,
                                    create_graph=True)
    (gg_ref,) = torch.autograd.grad(gx_ref.sum(), g)
    assert torch.allclose(gg, gg_ref, rtol=1e-12, atol=1e-13)


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
def test_transforms_and_tracing_run_the_twin():
    x = _points(6)
    jac = torch.func.jacrev(lambda p: spherical_harmonics([0, 1, 2], p))(x)
    jac_ref = torch.func.jacrev(lambda p: _torch_harmonics([0, 1, 2], p, True, "integral"))(x)
    assert torch.allclose(jac, jac_ref, rtol=1e-12, atol=1e-13)
    traced = torch.jit.trace(lambda p: spherical_harmonics([0, 1, 2], p), (x,))
    assert torch.allclose(traced(x * 2), _torch_harmonics([0, 1, 2], x * 2, True, "integral"), rtol=1e-12,
                          atol=1e-13)


def test_library_object_pickles_without_its_loaded_state():
    lib = pickle.loads(pickle.dumps(shk._LIBRARY))
    assert lib.stem == shk._LIBRARY.stem and lib._state == {}
    assert copy.deepcopy(shk._LIBRARY).source == shk._LIBRARY.source


@pytest.mark.skipif(not HAVE_CC or not hasattr(os, "getuid"), reason="needs a C compiler and POSIX permissions")
def test_unsafe_cache_directory_is_not_used(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # writable by anyone: a library there could have been replaced
    monkeypatch.setenv("STEERTORCH_CACHE", str(shared))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir(mode=0o700)
    monkeypatch.setattr(_native.tempfile, "tempdir", None)
    lib = _native.NativeLibrary("sh_kernel", shk._LIBRARY.source, shk._declare, "test kernel")
    info = lib.info()
    assert info["available"], info
    assert not info["path"].startswith(str(shared))
    assert any("writable" in note for note in info["notes"])
    assert not any(shared.iterdir())


def test_switched_off_by_the_environment(monkeypatch):
    monkeypatch.setenv("STEERTORCH_CPU_KERNEL", "0")
    lib = _native.NativeLibrary("sh_kernel", shk._LIBRARY.source, shk._declare, "test kernel")
    assert lib.load() is None and "STEERTORCH_CPU_KERNEL=0" in lib.reason()
    with pytest.raises(RuntimeError, match="not available"):
        lib.function("st_sh_forward_f64")
