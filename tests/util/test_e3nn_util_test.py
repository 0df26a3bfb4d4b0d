"""``steertorch.util.test``: e3nn 0.6's ``assert_equivariant`` / ``equivariance_error`` signatures and results (the
same tests, keys and verdicts as e3nn's on the same functions), ``random_irreps``, ``format_equivariance_error``."""

import pytest
import torch

from steertorch import o3
from steertorch.util.test import (
    FLOAT_TOLERANCE,
    assert_equivariant,
    equivariance_error,
    format_equivariance_error,
    random_irreps,
)

e3test = pytest.importorskip("e3nn.util.test")
e3o3 = pytest.importorskip("e3nn.o3")

F64 = torch.float64


@pytest.fixture(autouse=True)
def _float64_default():
    old = torch.get_default_dtype()
    torch.set_default_dtype(F64)
    torch.manual_seed(0)
    yield
    torch.set_default_dtype(old)


def _center(pos):
    return pos - pos.mean(0)


def _cross(a, b):
    return torch.linalg.cross(a, b)


CASES = [  # (function, irreps_in, irreps_out, args maker, equivariant?)
    (_cross, ["1o", "1o"], ["1e"], lambda: [torch.randn(4, 3), torch.randn(4, 3)], True),
    (_cross, ["1o", "1o"], ["1o"], lambda: [torch.randn(4, 3), torch.randn(4, 3)], False),  # parity wrong
    (_center, "cartesian_points", "1o", lambda: [torch.randn(5, 3)], True),  # translation invariant differences
    (lambda p: p, "cartesian_points", "1o", lambda: [torch.randn(5, 3)], False),  # not translation invariant
    (lambda x, n: x * n, ["2x1o", None], ["2x1o"], lambda: [torch.randn(3, 6), torch.randn(3, 1)], True),
    (lambda x: x[..., :3].norm(dim=-1, keepdim=True), "1o + 2e", "0e", lambda: [torch.randn(2, 8)], True),
    (lambda x: x[..., :1], "1o", "0e", lambda: [torch.randn(2, 3)], False),
]


@pytest.mark.parametrize("i", range(len(CASES)))
def test_same_verdict_and_tests_as_e3nn(i):
    f, irreps_in, irreps_out, make, equivariant = CASES[i]
    args = make()
    ours = equivariance_error(f, args, irreps_in=irreps_in, irreps_out=irreps_out, ntrials=2)
    def as_e3nn(r):
        return e3o3.Irreps(r) if isinstance(r, str) and r != "cartesian_points" else r

    e_in = [as_e3nn(r) for r in irreps_in] if isinstance(irreps_in, list) else as_e3nn(irreps_in)
    e_out = [as_e3nn(r) for r in irreps_out] if isinstance(irreps_out, list) else as_e3nn(irreps_out)
    theirs = e3test.equivariance_error(f, args, irreps_in=e_in, irreps_out=e_out, ntrials=2)
    assert sorted(ours) == sorted(theirs)
    for k in ours:
        assert ours[k].shape == theirs[k].shape and ours[k].dtype == theirs[k].dtype
    if equivariant:
        assert max(float(v.max()) for v in ours.values()) < 1e-12
        assert_equivariant(f, args, irreps_in=irreps_in, irreps_out=irreps_out)
    else:
        with pytest.raises(AssertionError, match="equivariance error was too large"):
            assert_equivariant(f, args, irreps_in=irreps_in, irreps_out=irreps_out)
        with pytest.raises(AssertionError):
            e3test.assert_equivariant(f, args, irreps_in=e_in, irreps_out=e_out)


def test_inferred_irreps_and_random_arguments():
    tp = o3.FullyConnectedTensorProduct("2x1o + 0e", "1o", "2x0e + 1e + 2e")
    errors = assert_equivariant(tp)  # irreps_in1 / irreps_in2 / irreps_out, random arguments
    assert sorted(errors) == [(0, False), (1, False)]
    lin = o3.Linear("2x1o + 0e", "1o")
    assert max(float(v.max()) for v in assert_equivariant(lin, do_parity=False).values()) < 1e-12
    with pytest.raises(ValueError, match="Cannot infer irreps_in"):
        assert_equivariant(lambda x: x)
    with pytest.raises(ValueError, match="Random arguments"):
        assert_equivariant(lambda x, y: x, irreps_in=["1o", None], irreps_out="1o")


def test_tolerances_and_formatting():
    for dtype in (torch.float32, torch.float64):
        assert torch.equal(FLOAT_TOLERANCE[dtype], e3test.FLOAT_TOLERANCE[dtype])
    errors = {(0, False): torch.tensor([1e-3, 2e-3]), (1, True): torch.tensor([0.5])}
    want = e3test.format_equivariance_error(errors)
    assert format_equivariance_error(errors) == want


def test_random_irreps():
    for _ in range(20):
        irreps = random_irreps(clean=True, allow_empty=False, lmax=2)
        assert isinstance(irreps, o3.Irreps) and irreps.dim > 0 and irreps.lmax <= 2
        assert isinstance(o3.Irreps(random_irreps()), o3.Irreps)
    assert len(random_irreps(n=3)) == 3
    with pytest.raises(ValueError):
        random_irreps(mul_min=3, mul_max=1)
