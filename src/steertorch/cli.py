"""The ``steertorch`` command: ``demo``, ``selfcheck``, ``info``, and ``train`` / ``eval`` / ``tasks``
(:mod:`steertorch.train`).

``demo`` trains a tensor field network on the eight 3D tetris shapes as given (unrotated),
then classifies randomly rotated and translated copies (and mirror images) of every shape,
and measures the model's equivariance error; it exits 0 only if every copy is classified
correctly and the error is at rounding level. ``selfcheck`` lists the available groups and
runs a numerical self-check of the maths core: for several groups it verifies that every
irrep is an orthogonal group homomorphism on random elements, and that the real spherical
harmonics transform with the Wigner D matrices. ``info`` prints the versions and the compute
devices torch can see.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

__all__ = ["main"]

#: largest error accepted by ``steertorch selfcheck`` (all checks run in float64)
TOLERANCE = 1e-9
#: number of random elements / points used per check
N_SAMPLES = 16
#: band limit of the irreps checked for continuous groups
BAND_LIMIT = 3
#: spherical harmonics degrees 0..L_MAX are checked
L_MAX = 8


def _version() -> str:
    """The installed steertorch version (package attribute first, then package metadata)."""
    import steertorch

    version = getattr(steertorch, "__version__", None)
    if version:
        return str(version)
    try:
        from importlib.metadata import version as metadata_version

        return metadata_version("steertorch")
    except Exception:  # not installed (e.g. run from a source tree via PYTHONPATH)
        return "unknown"


@dataclass
class _CheckResult:
    name: str
    detail: str
    hom_error: float = float("nan")
    orth_error: float = float("nan")
    seconds: float = 0.0
    failure: str | None = None

    @property
    def ok(self) -> bool:
        return (
            self.failure is None
            and self.hom_error <= TOLERANCE
            and self.orth_error <= TOLERANCE
        )


def _max_abs(t: torch.Tensor) -> float:
    return float(t.detach().abs().max()) if t.numel() else 0.0


def _check_group(name: str, make_group: Callable[[], object], generator: torch.Generator) -> _CheckResult:
    """Homomorphism and orthogonality errors of every irrep of one group, on random elements."""
    start = time.perf_counter()
    result = _CheckResult(name=name, detail="")
    from steertorch.group._group import float64_default

    with float64_default():  # finite groups build their tables in the default dtype
        try:
            G = make_group()
            g = G.sample(N_SAMPLES, generator=generator, dtype=torch.float64)
            h = G.sample(N_SAMPLES, generator=generator, dtype=torch.float64)
            gh = G.compose(g, h)
            irreps = G.irreps() if G.is_finite else G.irreps(band_limit=BAND_LIMIT)
            hom, orth = 0.0, 0.0
            for psi in irreps:
                a, b, ab = psi(g), psi(h), psi(gh)
                hom = max(hom, _max_abs(ab - a @ b))
                eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
                orth = max(orth, _max_abs(a.transpose(-1, -2) @ a - eye))
                if a.dtype != torch.float64:
                    raise TypeError(f"irrep {psi!r} returned {a.dtype} for float64 elements")
            result.hom_error, result.orth_error = hom, orth
            dims = sorted({psi.size for psi in irreps})
            scope = "all irreps" if G.is_finite else f"band limit {BAND_LIMIT}"
            result.detail = f"{len(irreps)} irreps ({scope}), dims {dims}"
        except Exception as exc:  # report the failing group and keep going
            result.failure = f"{type(exc).__name__}: {exc}"
    result.seconds = time.perf_counter() - start
    return result


def _check_spherical_harmonics(generator: torch.Generator) -> _CheckResult:
    r"""Equivariance :math:`Y(R x) = D(R)\,Y(x)` for l = 0..L_MAX on random points and rotations."""
    start = time.perf_counter()
    result = _CheckResult(name="Y_l, D^l", detail=f"l = 0..{L_MAX}, Y(x R^T) = Y(x) D(R)^T")
    try:
        from steertorch import o3
        from steertorch.group import so3_group

        R = so3_group().sample(N_SAMPLES, generator=generator, dtype=torch.float64)
        x = torch.randn(N_SAMPLES, 3, generator=generator, dtype=torch.float64)
        ls = list(range(L_MAX + 1))
        y = o3.spherical_harmonics(ls, x, normalize=True)
        y_rot = o3.spherical_harmonics(ls, torch.einsum("nij,nj->ni", R, x), normalize=True)
        expected_dim = (L_MAX + 1) ** 2
        if y.shape != (N_SAMPLES, expected_dim):
            raise ValueError(f"spherical_harmonics returned shape {list(y.shape)}, "
                             f"expected {[N_SAMPLES, expected_dim]}")
        hom, orth, i = 0.0, 0.0, 0
        for l in ls:
            D = o3.wigner_D(l, R)
            d = 2 * l + 1
            hom = max(hom, _max_abs(y_rot[:, i:i + d] - torch.einsum("nij,nj->ni", D, y[:, i:i + d])))
            orth = max(orth, _max_abs(D.transpose(-1, -2) @ D - torch.eye(d, dtype=D.dtype)))
            i += d
        result.hom_error, result.orth_error = hom, orth
    except Exception as exc:
        result.failure = f"{type(exc).__name__}: {exc}"
    result.seconds = time.perf_counter() - start
    return result


def _demo_groups() -> list[tuple[str, Callable[[], object]]]:
    """The groups checked by ``steertorch selfcheck``: (display name, constructor).

    Constructors are looked up lazily, so a group missing from ``steertorch.group`` fails
    alone and the others are still checked.
    """
    from steertorch import group as g

    return [
        ("SO(2)", lambda: g.so2_group()),
        ("O(2)", lambda: g.o2_group()),
        ("C8", lambda: g.cyclic_group(8)),
        ("D4", lambda: g.dihedral_group(4)),
        ("SO(3)", lambda: g.so3_group()),
        ("O(3)", lambda: g.o3_group()),
        ("O (octahedral)", lambda: g.group_from_name("O")),
        ("Ih (icosahedral)", lambda: g.group_from_name("Ih")),
    ]


def _format_error(x: float) -> str:
    return "-" if x != x else f"{x:.1e}"  # x != x: NaN, the check did not run


def _print_table(results: Sequence[_CheckResult]) -> None:
    headers = ("check", "max |psi(gh) - psi(g)psi(h)|", "max |psi^T psi - I|", "time", "status", "detail")
    rows = []
    for r in results:
        status = "ok" if r.ok else "FAIL"
        detail = r.failure if r.failure is not None else r.detail
        rows.append((r.name, _format_error(r.hom_error), _format_error(r.orth_error),
                     f"{r.seconds * 1e3:.0f} ms", status, detail))
    widths = [max(len(str(row[k])) for row in (headers, *rows)) for k in range(len(headers) - 1)]

    def line(row: Sequence[str]) -> str:
        cells = [str(c).ljust(w) for c, w in zip(row[:-1], widths)]
        return "  ".join(cells) + "  " + str(row[-1])

    print(line(headers))
    print("  ".join("-" * w for w in widths) + "  " + "-" * len(headers[-1]))
    for row in rows:
        print(line(row))


def _run_selfcheck(args: argparse.Namespace) -> int:
    print(f"steertorch {_version()} (torch {torch.__version__})")
    try:
        from steertorch.group import available_groups

        names = list(available_groups())
        print(f"available groups ({len(names)}): {', '.join(map(str, names))}")
    except Exception as exc:
        print(f"available groups: could not be listed ({type(exc).__name__}: {exc})")
        names = None

    generator = torch.Generator().manual_seed(args.seed)
    print(f"\nself-check in float64 on {N_SAMPLES} random elements (seed {args.seed}), "
          f"tolerance {TOLERANCE:.0e}:\n")
    results: list[_CheckResult] = []
    try:
        groups = _demo_groups()
    except Exception as exc:
        results.append(_CheckResult(name="steertorch.group", detail="",
                                    failure=f"{type(exc).__name__}: {exc}"))
        groups = []
    for name, make in groups:
        results.append(_check_group(name, make, generator))
    results.append(_check_spherical_harmonics(generator))
    _print_table(results)

    failed = [r.name for r in results if not r.ok]
    if names is None:
        failed.insert(0, "available_groups")
    if failed:
        print(f"\nFAILED: {', '.join(failed)}")
        return 1
    print("\nall checks passed")
    return 0


#: largest equivariance error of the trained demo model (float64) accepted by ``steertorch demo``
DEMO_TOLERANCE = 1e-9


def _run_demo(args: argparse.Namespace) -> int:
    from steertorch.group._group import float64_default

    from ._tetris_demo import run_tetris_demo

    copies = 10 if args.quick else args.copies
    if copies < 1 or args.max_steps < 1:
        print("--copies and --max-steps must be >= 1")
        return 2
    print(f"steertorch {_version()} (torch {torch.__version__}, {torch.get_num_threads()} threads)")
    with float64_default():  # exact constants: the measured equivariance error is rounding only
        result = run_tetris_demo(seed=args.seed, copies=copies, max_steps=args.max_steps, verbose=True)
    ok = result["accuracy"] == 1.0 and result["mirror_accuracy"] == 1.0 and result["equivariance_error"] <= \
        DEMO_TOLERANCE
    if ok:
        print("\ndemo passed: every rotated, translated and mirrored shape classified correctly")
        return 0
    print(f"\nFAILED: accuracy {result['accuracy']:.1%}, mirror accuracy {result['mirror_accuracy']:.1%}, "
          f"equivariance error {result['equivariance_error']:.1e} (tolerance {DEMO_TOLERANCE:.0e})")
    return 1


def _run_info(args: argparse.Namespace) -> int:
    print(f"steertorch {_version()}")
    print(f"python     {platform.python_version()} ({sys.executable})")
    print(f"torch      {torch.__version__}")
    print(f"platform   {platform.platform()}")
    print(f"threads    {torch.get_num_threads()}")
    print("devices    cpu: available")
    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(count))
        print(f"           cuda: {count} device(s) ({names}), CUDA {torch.version.cuda}")
    else:
        built = f"built with CUDA {torch.version.cuda}" if torch.version.cuda else "CPU-only build"
        print(f"           cuda: not available ({built})")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        print("           mps: available")
    from .o3._tensor_product_kernel import kernel_info  # compiles the kernel on the first call (a few seconds)

    kernel = kernel_info()
    if kernel["available"]:
        print(f"cpu kernel in use: {kernel['path']}")
    else:
        print(f"cpu kernel not in use (the torch path runs): {kernel['reason']}")
    print(f"           cache: {kernel['cache']}")
    for note in kernel["notes"] if kernel["available"] else ():  # (else already in the reason)
        print(f"           note: {note}")
    from .graph._radius_kernel import radius_kernel_info
    from .group._spherical_harmonics_kernel import sh_kernel_info

    for what, info in (("harmonics", sh_kernel_info()), ("radius search", radius_kernel_info())):
        state = f"in use: {info['path']}" if info["available"] else f"not in use: {info['reason']}"
        print(f"{what + ' kernel':>17}: {state}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="steertorch",
        description="steertorch: group-equivariant deep learning in PyTorch.",
    )
    parser.add_argument("--version", action="version", version=f"steertorch {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="train a tensor field network on 3D tetris and classify rotated shapes")
    demo.add_argument("--seed", type=int, default=0, help="random seed of the model and the test copies (default 0)")
    demo.add_argument("--copies", type=int, default=100,
                      help="rotated copies of each shape in the test set (default 100)")
    demo.add_argument("--max-steps", type=int, default=300, help="largest number of training steps (default 300)")
    demo.add_argument("--quick", action="store_true", help="a smaller test set (10 copies per shape)")
    demo.set_defaults(func=_run_demo)
    check = sub.add_parser("selfcheck", help="list the groups and run a numerical self-check of the maths core")
    check.add_argument("--seed", type=int, default=0, help="random seed of the sampled elements (default 0)")
    check.set_defaults(func=_run_selfcheck)
    info = sub.add_parser("info", help="print versions and available devices")
    info.set_defaults(func=_run_info)
    from .train._cli import add_train_commands

    add_train_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``steertorch`` command; returns the process exit code.

    ``argv`` defaults to ``sys.argv[1:]``. Subcommands: ``demo`` (tetris training, exit code 1
    unless every rotated shape is classified correctly), ``selfcheck`` (maths self-check, exit
    code 1 if any check fails) and ``info`` (versions and devices).

    >>> main(["info"])  # doctest: +ELLIPSIS
    steertorch ...
    0
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    return int(args.func(args))
