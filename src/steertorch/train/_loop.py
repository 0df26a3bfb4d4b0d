r"""The training loop: :func:`fit` (what ``steertorch train`` runs) and :func:`evaluate_checkpoint`.

A run directory holds ``last.pt`` (everything needed to continue: model, optimiser, scheduler,
torch RNG state, epoch, history, best validation metric), ``best.pt`` (the model of the best
validation epoch), ``run.json`` (task, config, versions), ``metrics.jsonl`` / ``metrics.csv``
(one row per epoch), ``results.json`` (the best epoch's metrics on every evaluation split, wall
time, parameter count) and ``curve.png`` (with matplotlib). All are written atomically, and
only by the process of rank 0.

Reproducibility: the model is initialised after ``torch.manual_seed(seed)``; epoch ``e``'s order
of the training examples comes from ``DistributedSampler(seed=seed).set_epoch(e)``, a function of
``(seed, e)`` only; ``last.pt`` stores the RNG state, optimiser and scheduler, so a resumed run
reaches bit for bit the parameters of an uninterrupted one (on CPU).

Data parallel: under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) the model is wrapped in
``DistributedDataParallel`` (gloo on CPU, NCCL on CUDA) and each of the ``W`` processes takes
``batch_size / W`` examples of every step: ``DistributedSampler`` gives process ``r`` the
examples ``r, r + W, ...`` of the epoch's order, so a step sees the same examples as the
single-process run and the averaged gradient is the same up to rounding.

>>> import tempfile, os
>>> from steertorch.train import get_task
>>> task = get_task("nbody")
>>> config = task.Config(model="linear", epochs=2, lr=0.1, num_train=20, num_valid=10, num_test=10,
...                      frame_in=1, frame_out=2, batch_size=10, cache=False)
>>> out = os.path.join(tempfile.mkdtemp(), "run")
>>> result = fit(task, config, out, log=lambda *a: None)
>>> result["best_epoch"] in (1, 2), {"best.pt", "last.pt", "metrics.csv", "results.json"} <= set(os.listdir(out))
(True, True)
"""

from __future__ import annotations

import csv
import dataclasses
import gc
import io
import json
import math
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from ._checkpoint import atomic_save, atomic_write_text, load_checkpoint
from ._config import TrainConfig, config_from_dict, config_to_dict
from ._task import Task, get_task

__all__ = ["fit", "evaluate", "evaluate_checkpoint", "RunExistsError", "NonFiniteLossError", "package_version"]


class RunExistsError(FileExistsError):
    """The run directory exists and is not empty, and ``resume`` was not asked for."""


class NonFiniteLossError(RuntimeError):
    """A training step produced a NaN or infinite loss; the last good checkpoint is kept."""


def package_version() -> str:
    import steertorch

    return str(getattr(steertorch, "__version__", "unknown"))


# ---------------------------------------------------------------------------------------------------------------
# processes


@dataclasses.dataclass
class _Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    started_here: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            torch.distributed.barrier()

    def sum_(self, t: torch.Tensor) -> torch.Tensor:
        if self.world > 1:
            torch.distributed.all_reduce(t)
        return t


def _setup_dist(device_kind: str) -> _Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist()
    import torch.distributed as dist

    started = False
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_kind == "cuda" else "gloo")
        started = True
    return _Dist(rank=dist.get_rank(), world=dist.get_world_size(),
                 local_rank=int(os.environ.get("LOCAL_RANK", "0")), started_here=started)


def _device(kind: str, d: _Dist) -> torch.device:
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("--device cuda: torch sees no CUDA device (see `steertorch info`)")
        torch.cuda.set_device(d.local_rank)
        return torch.device("cuda", d.local_rank)
    if kind != "cpu":
        raise ValueError(f"device must be 'cpu' or 'cuda', got {kind!r}")
    return torch.device("cpu")


def _move(obj: Any, device: torch.device, dtype: torch.dtype) -> Any:
    """Tensors inside ``obj`` (dataclasses, dicts, lists, tuples) moved to ``device``; floating ones to ``dtype``."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device=device, dtype=dtype) if obj.is_floating_point() else obj.to(device)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.replace(obj, **{f.name: _move(getattr(obj, f.name), device, dtype)
                                          for f in dataclasses.fields(obj) if f.init})
    if isinstance(obj, dict):
        return {k: _move(v, device, dtype) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_move(v, device, dtype) for v in obj)
    return obj


# ---------------------------------------------------------------------------------------------------------------
# pieces of a run


def _optimizer(params: Any, c: TrainConfig) -> torch.optim.Optimizer:
    if c.optimizer == "adam":
        return torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay)
    if c.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay)
    return torch.optim.SGD(params, lr=c.lr, momentum=0.9, weight_decay=c.weight_decay)


def _scheduler(opt: torch.optim.Optimizer, c: TrainConfig) -> Any:
    if c.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, c.epochs), eta_min=c.lr_min)
    if c.lr_schedule == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, c.lr_step), gamma=c.lr_gamma)
    return None


def _check_config(c: TrainConfig, world: int) -> None:
    for key in ("epochs", "batch_size", "eval_every"):
        if getattr(c, key) < 1:
            raise ValueError(f"config {key} must be >= 1, got {getattr(c, key)}")
    if c.batch_size % world:
        raise ValueError(f"batch_size {c.batch_size} must be divisible by the number of processes {world}")
    if c.lr <= 0 or c.grad_clip < 0 or c.patience < 0:
        raise ValueError("config: need lr > 0, grad_clip >= 0, patience >= 0")


def _improved(value: float, best: float | None, mode: str) -> bool:
    if not math.isfinite(value):
        return False
    return best is None or (value < best if mode == "min" else value > best)


def evaluate(task: Task, model: torch.nn.Module, split: Any, config: TrainConfig, device: torch.device,
             dist: _Dist | None = None) -> dict[str, float]:
    """Mean loss and metrics of ``model`` over a split (weighted by batch sizes, over all processes)."""
    dist = dist or _Dist()
    dtype = getattr(torch, config.dtype)
    n = len(split)
    index = torch.arange(dist.rank, n, dist.world)  # no padding: every example counted once
    sums: dict[str, torch.Tensor] = {}
    count = torch.zeros((), dtype=torch.float64)
    was_training = model.training
    model.eval()
    step = max(1, config.batch_size // dist.world)
    with torch.no_grad():
        for start in range(0, len(index), step):
            idx = index[start:start + step]
            batch = _move(task.make_batch(split, idx), device, dtype)
            loss, metrics = task.loss(model, batch, config)
            w = float(len(idx))
            for k, v in {"loss": loss, **metrics}.items():
                sums.setdefault(k, torch.zeros((), dtype=torch.float64))
                sums[k] += w * float(v)
            count += w
    model.train(was_training)
    names = sorted(sums) if sums else ["loss"]
    if dist.world > 1:  # every process must contribute the same keys, even with no examples
        keys = list(names)
        packed = torch.stack([sums.get(k, torch.zeros((), dtype=torch.float64)) for k in keys] + [count])
        dist.sum_(packed)
        sums, count = dict(zip(keys, packed[:-1])), packed[-1]
    return {k: float(sums[k] / count) if count > 0 else float("nan") for k in names}


def _write_metrics(history: list[dict[str, float]], out: Path) -> None:
    atomic_write_text("".join(json.dumps(row) + "\n" for row in history), out / "metrics.jsonl")
    keys: list[str] = []
    for row in history:
        keys += [k for k in row if k not in keys]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    writer.writerows(history)
    atomic_write_text(buf.getvalue(), out / "metrics.csv")


def _plot(history: list[dict[str, float]], out: Path, select: str, log: Callable[..., None]) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib is not installed: skipping the learning-curve plot (pip install matplotlib)")
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = [r["epoch"] for r in history]
    ax.plot(epochs, [r["train_loss"] for r in history], label="train loss")
    valid = [(r["epoch"], r[f"valid_{select}"]) for r in history if f"valid_{select}" in r]
    if valid:
        ax.plot(*zip(*valid), label=f"valid {select}")
    ax.set_xlabel("epoch")
    if all(r["train_loss"] > 0 for r in history):
        ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    from ._checkpoint import _atomic_write

    _atomic_write(out / "curve.png", lambda f: f.write(buf.getvalue()))


def _progress(total: int, desc: str, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True)


# ---------------------------------------------------------------------------------------------------------------
# the loop


def fit(task: Task, config: TrainConfig, out_dir: str | os.PathLike, device: str = "cpu", resume: bool = False,
        log: Callable[..., None] = print, progress: bool = False) -> dict[str, Any]:
    """Train ``task`` with ``config``, writing the run directory ``out_dir``; returns the results dict.

    ``resume``: continue the run in ``out_dir`` from its ``last.pt`` (``config`` should be the
    stored one; only ``epochs`` may differ). Without it an existing non-empty ``out_dir`` raises
    :class:`RunExistsError`. A non-finite loss raises :class:`NonFiniteLossError` and leaves
    ``last.pt`` as it was after the last good epoch. ``progress``: a tqdm bar per epoch (if tqdm
    is installed). See the module docstring for the files written.
    """
    out = Path(out_dir)
    if not resume and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RunExistsError(f"run directory {str(out)!r} exists and is not empty: pass --resume to continue it, "
                             f"or choose another --out")
    if resume and not (out / "last.pt").is_file():
        raise FileNotFoundError(f"--resume: no checkpoint {str(out / 'last.pt')!r} to continue from")
    d = _setup_dist(device)
    threads = torch.get_num_threads()
    try:
        return _fit(task, config, out, _device(device, d), resume, log if d.main else (lambda *a, **k: None),
                    progress and d.main, d)
    finally:
        torch.set_num_threads(threads)  # config.num_threads applies to this run only
        if d.started_here:
            # free the DDP wrapper first: its reducer holds the process group, and a wrapper left to the cycle
            # collector is destroyed after the group, at exit, where it can abort the process ("terminate called
            # without an active exception", seen about once in ten runs of the gloo test under load)
            gc.collect()
            torch.distributed.destroy_process_group()


def _fit(task: Task, config: TrainConfig, out: Path, device: torch.device, resume: bool,
         log: Callable[..., None], progress: bool, d: _Dist) -> dict[str, Any]:
    _check_config(config, d.world)
    if config.num_threads > 0:
        torch.set_num_threads(config.num_threads)
    dtype = getattr(torch, config.dtype)
    wall_start = time.perf_counter()
    state = load_checkpoint(out / "last.pt") if resume else None

    data = task.build_data(config)
    for split in ("train", "valid"):
        if split not in data:
            raise ValueError(f"task {task.name!r}: build_data must return a {split!r} split, got {sorted(data)}")
    torch.manual_seed(config.seed)
    model = task.build_model(config).to(device=device, dtype=dtype)
    num_params = sum(p.numel() for p in model.parameters())
    net = model
    if d.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    opt = _optimizer(model.parameters(), config)
    sched = _scheduler(opt, config)

    epoch0, history, best, best_epoch, bad_evals, train_seconds = 0, [], None, 0, 0, 0.0
    run_info = {"task": task.name, "version": package_version(), "torch": torch.__version__,
                "config": config_to_dict(config), "world_size": d.world, "device": str(device.type)}
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if sched is not None and state.get("scheduler") is not None:
            sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng_cpu"])
        if device.type == "cuda" and state.get("rng_cuda") is not None:
            torch.cuda.set_rng_state(state["rng_cuda"], device)
        epoch0, history = int(state["epoch"]), list(state["history"])
        best, best_epoch, bad_evals = state["best"], int(state["best_epoch"]), int(state["bad_evals"])
        train_seconds = float(state["train_seconds"])
        log(f"resuming {out} at epoch {epoch0 + 1} of {config.epochs}")
    elif d.main:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(json.dumps(run_info, indent=2) + "\n", out / "run.json")
    d.barrier()
    log(f"{task.name}: {type(model).__name__}, {num_params} parameters, {len(data['train'])} training examples, "
        f"{d.world} process(es) on {device.type}, {torch.get_num_threads()} thread(s); run directory {out}")

    from torch.utils.data import DistributedSampler

    train = data["train"]
    sampler = DistributedSampler(train, num_replicas=d.world, rank=d.rank, shuffle=True, seed=config.seed)
    per_rank = config.batch_size // d.world
    select, mode = task.select_metric, task.select_mode
    stopped = ""
    for epoch in range(epoch0 + 1, config.epochs + 1):
        t0 = time.perf_counter()
        sampler.set_epoch(epoch)
        order = torch.tensor(list(iter(sampler)), dtype=torch.long)
        model.train()
        sums: dict[str, float] = {}
        count = 0
        steps = (len(order) + per_rank - 1) // per_rank
        bar = _progress(steps, f"epoch {epoch}/{config.epochs}", progress)
        for s in range(steps):
            idx = order[s * per_rank:(s + 1) * per_rank]
            batch = _move(task.make_batch(train, idx), device, dtype)
            loss, metrics = task.loss(net, batch, config)
            bad = torch.tensor(0.0 if torch.isfinite(loss.detach()).all() else 1.0)
            if d.world > 1:
                d.sum_(bad)
            if bad > 0:
                where = f"{out / 'last.pt'} (epoch {epoch - 1})" if epoch > 1 else "none (first epoch)"
                raise NonFiniteLossError(
                    f"non-finite loss ({float(loss.detach())}) at epoch {epoch}, step {s + 1}: training stopped; "
                    f"the last good checkpoint is {where}. Try a smaller lr, grad_clip, or a different seed.")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            opt.step()
            w = len(idx)
            for k, v in {"loss": loss.detach(), **metrics}.items():
                sums[k] = sums.get(k, 0.0) + w * float(v)
            count += w
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{float(loss):.4g}")
        if bar is not None:
            bar.close()
        lr = opt.param_groups[0]["lr"]
        if sched is not None:
            sched.step()
        if d.world > 1:
            keys = sorted(sums)
            packed = torch.tensor([sums[k] for k in keys] + [float(count)], dtype=torch.float64)
            d.sum_(packed)
            sums, count = dict(zip(keys, packed[:-1].tolist())), float(packed[-1])
        train_seconds += time.perf_counter() - t0
        row: dict[str, float] = {"epoch": epoch, "lr": lr, **{f"train_{k}": v / count for k, v in sums.items()}}
        improved = False
        if epoch % config.eval_every == 0 or epoch == config.epochs:
            valid = evaluate(task, net, data["valid"], config, device, d)
            row.update({f"valid_{k}": v for k, v in valid.items()})
            value = valid.get(select, float("nan"))
            improved = _improved(value, best, mode)
            if improved:
                best, best_epoch, bad_evals = value, epoch, 0
            else:
                bad_evals += 1
        row["seconds"] = time.perf_counter() - t0
        history.append(row)
        if d.main:
            common = {"task": task.name, "version": package_version(), "config": config_to_dict(config)}
            if improved:
                atomic_save({**common, "epoch": epoch, "model": model.state_dict(), "metric": best}, out / "best.pt")
            atomic_save({**common, "epoch": epoch, "model": model.state_dict(), "optimizer": opt.state_dict(),
                         "scheduler": None if sched is None else sched.state_dict(), "rng_cpu": torch.get_rng_state(),
                         "rng_cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
                         "history": history, "best": best, "best_epoch": best_epoch, "bad_evals": bad_evals,
                         "train_seconds": train_seconds}, out / "last.pt")
            _write_metrics(history, out)
        v = f"  valid {select} {row[f'valid_{select}']:.5g}" if f"valid_{select}" in row else ""
        b = f" (best {best:.5g} @ {best_epoch})" if best is not None else ""
        log(f"epoch {epoch:4d}/{config.epochs}  train loss {row['train_loss']:.5g}{v}{b}  lr {lr:.2e}  "
            f"{row['seconds']:.1f} s")
        if config.patience and bad_evals >= config.patience:
            stopped = f"early stop: no better valid {select} in {bad_evals} evaluations"
            log(stopped)
            break
    replica_diff = _replica_difference(model, d)
    d.barrier()

    # the best validation epoch's model on every evaluation split
    best_path = out / "best.pt"
    if best_path.is_file():
        model.load_state_dict(load_checkpoint(best_path, map_location=device)["model"])
    results: dict[str, Any] = {"task": task.name, "best_epoch": best_epoch, f"best_valid_{select}": best,
                               "epochs_run": len(history), "num_parameters": num_params,
                               "train_seconds": train_seconds, "wall_seconds_this_session":
                               time.perf_counter() - wall_start, "stopped": stopped or "completed",
                               **{k: v for k, v in run_info.items() if k != "config"}, "config": run_info["config"]}
    if d.world > 1:
        results["replica_max_abs_diff"] = replica_diff
    for name, split in data.items():
        if name != "train":
            results[name] = evaluate(task, net, split, config, device, d)
    if d.main:
        atomic_write_text(json.dumps(results, indent=2) + "\n", out / "results.json")
        _plot(history, out, select, log)
        tests = "  ".join(f"{n} " + " ".join(f"{k} {v:.5g}" for k, v in m.items())
                          for n, m in results.items() if isinstance(m, dict) and n not in ("config",))
        log(f"best epoch {best_epoch}: {tests}")
    return results


def _replica_difference(model: torch.nn.Module, d: _Dist) -> float:
    """Largest difference between this process's parameters and rank 0's, over all processes (0 when alone)."""
    if d.world <= 1:
        return 0.0
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    ref = flat.clone()
    torch.distributed.broadcast(ref, src=0)
    diff = (flat - ref).abs().max().reshape(1).to(torch.float64)
    torch.distributed.all_reduce(diff, op=torch.distributed.ReduceOp.MAX)
    return float(diff)


def evaluate_checkpoint(path: str | os.PathLike, split: str = "test", device: str = "cpu",
                        overrides: Mapping[str, Any] | None = None) -> dict[str, float]:
    """Metrics of a saved model on one split: ``path`` is a run directory (its ``best.pt``) or a checkpoint file."""
    p = Path(path)
    if p.is_dir():
        p = p / "best.pt" if (p / "best.pt").is_file() else p / "last.pt"
    state = load_checkpoint(p)
    task = get_task(state["task"])
    config = config_from_dict(task.Config, {**state["config"], **(overrides or {})})
    data = task.build_data(config)
    if split not in data:
        raise ValueError(f"task {task.name!r} has no split {split!r}; splits: {', '.join(data)}")
    dev = _device(device, _Dist())
    torch.manual_seed(config.seed)
    model = task.build_model(config).to(device=dev, dtype=getattr(torch, config.dtype))
    model.load_state_dict(state["model"])
    return evaluate(task, model, data[split], config, dev)
