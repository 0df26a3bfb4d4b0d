"""The ``steertorch train``, ``steertorch eval`` and ``steertorch tasks`` subcommands.

Errors a user can fix (unknown task or key, wrong value type, missing data, existing run
directory) print one ``error: ...`` line and exit with status 2; a run stopped by a non-finite
loss exits with status 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ._config import ConfigError, apply_overrides, config_from_dict, load_toml, parse_assignments
from ._task import MissingDataError, available_tasks, get_task

__all__ = ["add_train_commands"]


def _error(message: str, status: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return status


def _run_tasks(args: argparse.Namespace) -> int:
    tasks = available_tasks()
    width = max(len(n) for n in tasks)
    for name, cls in tasks.items():
        print(f"{name.ljust(width)}  {cls.description}")
        if cls.published:
            print(f"{''.ljust(width)}  published: {cls.published}")
    return 0


def _run_train(args: argparse.Namespace) -> int:
    from ._checkpoint import load_checkpoint
    from ._loop import NonFiniteLossError, RunExistsError, fit

    try:
        task = get_task(args.task)
        if args.resume:
            if args.out is None:
                return _error("--resume needs --out RUN_DIR (the run directory to continue)")
            if args.config or args.set:
                return _error("--resume continues with the config stored in the run directory; only --epochs may "
                              "change")
            last = Path(args.out) / "last.pt"
            if not last.is_file():
                return _error(f"--resume: no checkpoint {str(last)!r} to continue from")
            state = load_checkpoint(last)
            if state["task"] != task.name:
                return _error(f"--resume: {args.out} is a run of task {state['task']!r}, not {task.name!r}")
            config = config_from_dict(task.Config, state["config"])
        else:
            config = task.Config()
            if args.config:
                config = apply_overrides(config, load_toml(args.config))
            config = apply_overrides(config, parse_assignments(args.set or []), from_string=True)
        if args.epochs is not None:
            config = apply_overrides(config, {"epochs": args.epochs})
        out = args.out or f"runs/{task.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        fit(task, config, out, device=args.device, resume=args.resume, progress=not args.no_progress)
    except (ConfigError, MissingDataError, RunExistsError) as exc:
        return _error(str(exc))
    except NonFiniteLossError as exc:
        return _error(str(exc), status=1)
    except FileNotFoundError as exc:
        return _error(str(exc))
    return 0


def _run_eval(args: argparse.Namespace) -> int:
    from ._loop import evaluate_checkpoint

    try:
        metrics = evaluate_checkpoint(args.path, split=args.split, device=args.device)
    except (ConfigError, MissingDataError, FileNotFoundError, ValueError) as exc:
        return _error(str(exc))
    print(json.dumps({"split": args.split, **metrics}))
    return 0


def add_train_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``train``, ``eval`` and ``tasks`` to the ``steertorch`` command's subparsers."""
    train = sub.add_parser("train", help="train a task (see `steertorch tasks`); also under torchrun for DDP")
    train.add_argument("task", help="task name (see `steertorch tasks`)")
    train.add_argument("--config", metavar="FILE.toml", help="config file of key = value pairs")
    train.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one config key (repeatable)")
    train.add_argument("--epochs", type=int, help="number of epochs (also when resuming: extends the run)")
    train.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    train.add_argument("--out", metavar="DIR", help="run directory (default runs/TASK-DATE-TIME); must not exist "
                                                    "unless --resume")
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    train.add_argument("--no-progress", action="store_true", help="no progress bar (one line per epoch only)")
    train.set_defaults(func=_run_train)
    ev = sub.add_parser("eval", help="evaluate a run's best model (or a checkpoint file) on a split")
    ev.add_argument("path", metavar="RUN_DIR_OR_CHECKPOINT")
    ev.add_argument("--split", default="test")
    ev.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ev.set_defaults(func=_run_eval)
    tasks = sub.add_parser("tasks", help="list the training tasks and their published numbers")
    tasks.set_defaults(func=_run_tasks)
