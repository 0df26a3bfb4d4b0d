"""Inference time of escnn's example model ``C8SteerableCNN`` (docs/tutorial_steerable_cnn.md) in eval mode.

Run with ``python3 benchmarks/run_escnn_example.py``. The model class is read from the tutorial page (the same source
``tests/test_escnn_examples.py`` runs) and built with ``from steertorch import gspaces, nn``; it runs on a batch of
random 29 x 29 images (``--batch``, default 2), float32, ``--threads`` CPU threads (default 1), under
``torch.no_grad()``. Variants, timed interleaved round-robin in one process, reported as median / best ms:

* ``steertorch``: eval mode, the expanded filters cached (the default, ``ExpansionCache``);
* ``steertorch, no cache``: the same model with ``cache_expansion = False`` on every module that expands a filter
  (the filters expanded on every call, as before the cache);
* ``steertorch, exported``: ``export()`` of every equivariant block plus the model's head (plain ``torch.nn``:
  the floor for this model);
* ``escnn``: the same source with ``from escnn import gspaces, nn`` (escnn caches its filters in eval mode), when
  escnn imports.

It also checks that the cached and uncached outputs are equal (bit for bit) and prints ratios to ``steertorch``.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
import warnings
from pathlib import Path

import torch

DOC = Path(__file__).resolve().parents[1] / "docs" / "tutorial_steerable_cnn.md"
OUR_IMPORT = "from steertorch import gspaces, nn"
ESCNN_IMPORT = "from escnn import gspaces, nn"


def model_class(library: str = "steertorch") -> type:
    """``C8SteerableCNN`` from the tutorial page, built on ``library`` (``"steertorch"`` or ``"escnn"``)."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    (code,) = [b for b in blocks if "class C8SteerableCNN(" in b]
    if library == "escnn":
        code = code.replace(OUR_IMPORT, ESCNN_IMPORT)
    namespace: dict = {"__name__": f"escnn_example_{library}"}
    exec(compile(code, f"{DOC.name} ({library})", "exec"), namespace)
    return namespace["C8SteerableCNN"]


def set_cache(model: torch.nn.Module, enabled: bool) -> None:
    from steertorch.nn._fields._expansion_cache import ExpansionCache

    for m in model.modules():
        if isinstance(m, ExpansionCache):
            m.cache_expansion = enabled


def exported(model: torch.nn.Module) -> torch.nn.Sequential:
    """Every equivariant block exported, then the head (as in tests/test_escnn_examples.py)."""
    parts = [m.export() for n, m in model.named_children() if n != "fully_net"]
    return torch.nn.Sequential(*parts, torch.nn.Flatten(), model.fully_net).eval()


def escnn_model(seed: int) -> torch.nn.Module | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import escnn.nn  # noqa: F401

            torch.manual_seed(seed)
            return model_class("escnn")().eval()
    except ImportError:
        return None


def bench(fns: dict, rounds: int, warmup: int = 2) -> dict[str, tuple[float, float]]:
    """(median, best) seconds of each function, run interleaved round-robin."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: (statistics.median(v), min(v)) for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--no-escnn", action="store_true", help="skip escnn even when it imports")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"C8SteerableCNN, eval mode, no_grad, batch {args.batch} of 29 x 29, float32, {args.threads} thread(s), "
          f"torch {torch.__version__}")

    torch.manual_seed(0)
    ours = model_class()().eval()
    plain = exported(ours)
    x = torch.randn(args.batch, 1, 29, 29, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        set_cache(ours, False)
        uncached = ours(x)
        set_cache(ours, True)
        cached, again = ours(x), ours(x)
    print(f"cached == uncached output: {torch.equal(cached, uncached) and torch.equal(again, uncached)}")

    def run(cache: bool):
        def fn() -> None:
            set_cache(ours, cache)
            ours(x)
        return fn

    fns = {"steertorch": run(True), "steertorch, no cache": run(False), "steertorch, exported": lambda: plain(x)}
    theirs = None if args.no_escnn else escnn_model(0)
    if theirs is not None:
        import escnn

        fns["escnn"] = lambda: theirs(x)  # the model wraps the tensor itself
        print(f"escnn {escnn.__version__} measured in the same run")
    else:
        print("escnn not measured (not importable, or --no-escnn)")
    with torch.no_grad():
        result = bench(fns, args.rounds)
    base = result["steertorch"][0]
    print(f"{'variant':<24} {'median ms':>10} {'best ms':>10} {'/ steertorch':>13}")
    for k, (med, best) in result.items():
        print(f"{k:<24} {1e3 * med:>10.1f} {1e3 * best:>10.1f} {med / base:>13.2f}")


if __name__ == "__main__":
    main()
