r"""The task interface: what ``steertorch train TASK`` trains, and the registry of tasks.

A task is one small file in ``steertorch/train/tasks/`` (every module there is imported when
the registry is first used, so adding the file is all it takes) defining:

- a **config**: a dataclass deriving from :class:`~steertorch.train.TrainConfig`, with the
  task's own fields and defaults (the papers' hyper-parameters); every field can be set from
  a TOML file (``--config``) or ``--set key=value`` (type-checked; a field's
  ``metadata["choices"]`` lists its allowed values);
- :meth:`Task.build_data`: ``{"train": ..., "valid": ..., "test": ...}``, each split a
  :class:`Split` (anything with ``__len__`` and ``batch(index)``, or a plain sequence of
  examples, collated by ``torch.utils.data.default_collate``). A file the task needs and
  cannot find raises :class:`MissingDataError` (see :func:`require_files`);
- :meth:`Task.build_model`: a plain ``torch.nn.Module``;
- :meth:`Task.loss`: ``(model, batch, config) -> (loss, metrics)``, the scalar to minimise
  (mean over the batch) and a dict of per-batch mean metrics (floats or 0-d tensors); the
  loop averages the metrics over a split, weighting each batch by its number of examples,
  over all processes. Call ``model(...)`` itself (it may be wrapped by DDP);
- class attributes ``name``, ``description`` (one line), ``published`` (the published numbers,
  one line, ``""`` if none), ``select_metric`` / ``select_mode`` (the validation metric that
  picks the best epoch and drives early stopping; default the loss, lower is better).

Register it with :func:`register_task`. A complete minimal task (fit ``y = 2 x``):

>>> from dataclasses import dataclass
>>> import torch
>>> from steertorch.train import Task, TrainConfig, TensorSplit, register_task, get_task
>>> @dataclass
... class LineConfig(TrainConfig):
...     num_train: int = 64          # task fields, with defaults...
...     epochs: int = 5              # ...and new defaults for common ones
...     batch_size: int = 16
...     lr: float = 0.1
>>> class LineTask(Task):
...     name = "line-example"
...     description = "fit y = 2 x with one linear layer (an example)"
...     published = ""
...     Config = LineConfig
...     def build_data(self, config):
...         g = torch.Generator().manual_seed(config.seed)
...         def split(n):
...             x = torch.randn(n, 1, generator=g)
...             return TensorSplit(x=x, y=2 * x)  # batch(index) -> {"x": x[index], "y": y[index]}
...         return {"train": split(config.num_train), "valid": split(32), "test": split(32)}
...     def build_model(self, config):
...         return torch.nn.Linear(1, 1)
...     def loss(self, model, batch, config):
...         mse = (model(batch["x"]) - batch["y"]).pow(2).mean()
...         return mse, {"mse": mse.detach()}
>>> _ = register_task(LineTask)          # in a task file: the decorator @register_task
>>> task = get_task("line-example")
>>> config = task.Config(seed=1)
>>> data = task.build_data(config)
>>> loss, metrics = task.loss(task.build_model(config), data["train"].batch(torch.arange(4)), config)
>>> loss.shape, sorted(metrics)
(torch.Size([]), ['mse'])
>>> unregister_task("line-example")

``steertorch.train.fit(task, config, out_dir)`` trains it (what ``steertorch train`` runs).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch

from ._config import ConfigError, TrainConfig

__all__ = [
    "Task",
    "Split",
    "TensorSplit",
    "GraphSplit",
    "MissingDataError",
    "UnknownTaskError",
    "require_files",
    "register_task",
    "unregister_task",
    "get_task",
    "available_tasks",
]


class MissingDataError(FileNotFoundError):
    """A data file a task needs is absent: the message says which file, where, and how to get it."""


class UnknownTaskError(ConfigError):
    """``steertorch train NAME`` with a NAME no task has; the message lists the tasks."""


@runtime_checkable
class Split(Protocol):
    """One split of a data set: its number of examples and the batch of given example indices."""

    def __len__(self) -> int: ...

    def batch(self, index: torch.Tensor) -> Any: ...


class TensorSplit:
    """A split made of tensors with the examples along their first dimension.

    ``batch(index)`` returns ``{name: tensor[index]}``.

    >>> s = TensorSplit(x=torch.zeros(5, 2), y=torch.arange(5))
    >>> len(s), s.batch(torch.tensor([1, 3]))["y"]
    (5, tensor([1, 3]))
    """

    def __init__(self, **tensors: torch.Tensor) -> None:
        if not tensors:
            raise ValueError("TensorSplit: give at least one tensor")
        sizes = {name: t.shape[0] for name, t in tensors.items()}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"TensorSplit: tensors must have the same first dimension, got {sizes}")
        self.tensors = tensors

    def __len__(self) -> int:
        return next(iter(self.tensors.values())).shape[0]

    def batch(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        return {name: t[index] for name, t in self.tensors.items()}


class GraphSplit:
    """A split made of graphs (:class:`~steertorch.graph.Graph`): ``batch(index)`` collates the chosen ones.

    :meth:`from_batch` cuts a batched graph (``batch`` vector, ``y`` one row per graph or per node)
    into its graphs.

    >>> from steertorch.graph import Graph
    >>> g = Graph(pos=torch.zeros(2, 3), edge_index=torch.tensor([[0], [1]]), y=torch.tensor([3]))
    >>> split = GraphSplit([g, g, g])
    >>> b = split.batch(torch.tensor([0, 2]))
    >>> len(split), b.num_graphs, b.edge_index.tolist(), b.y.tolist()
    (3, 2, [[0, 2], [1, 3]], [3, 3])
    """

    def __init__(self, graphs: Sequence[Any]) -> None:
        self.graphs = list(graphs)

    def __len__(self) -> int:
        return len(self.graphs)

    def batch(self, index: torch.Tensor) -> Any:
        from ..graph import Graph

        return Graph.collate([self.graphs[i] for i in index.tolist()])

    @classmethod
    def from_batch(cls, graph: Any) -> GraphSplit:
        """The graphs of a batched graph, one per value of its ``batch`` vector."""
        import dataclasses

        from ..graph import Graph

        num_graphs = int(graph.num_graphs)
        node_graph = graph.batch
        counts = torch.bincount(node_graph, minlength=num_graphs).tolist()
        starts = [0]
        for c in counts[:-1]:
            starts.append(starts[-1] + c)
        if not torch.equal(node_graph, torch.repeat_interleave(torch.arange(num_graphs), torch.tensor(counts))):
            raise ValueError("GraphSplit.from_batch: nodes must be grouped graph by graph")
        edge_graph = node_graph[graph.edge_index[0]]
        per_node_y = graph.y is not None and graph.y.shape[0] == graph.num_nodes != num_graphs
        graphs = []
        for k in range(num_graphs):
            lo, hi = starts[k], starts[k] + counts[k]
            emask = edge_graph == k
            fields = {}
            for f in dataclasses.fields(Graph):
                v = getattr(graph, f.name)
                if f.name in ("batch", "num_graphs") or v is None:
                    continue
                if f.name == "edge_index":
                    v = v[:, emask] - lo
                elif f.name in ("shifts", "edge_attr"):
                    v = v[emask]
                elif f.name == "cell":
                    v = v[k:k + 1]
                elif f.name == "y" and not per_node_y:
                    v = v[k:k + 1]
                else:
                    v = v[lo:hi]
                fields[f.name] = v
            graphs.append(Graph(**fields))
        return cls(graphs)


def require_files(folder: str | Path, names: Sequence[str], how_to_get: str) -> list[Path]:
    """The paths ``folder/name``; :class:`MissingDataError` naming the missing ones and ``how_to_get`` them.

    >>> require_files("/nonexistent", ["loc_train.npy"], "run generate_dataset.py of the EGNN repository")
    Traceback (most recent call last):
    ...
    steertorch.train._task.MissingDataError: missing data file /nonexistent/loc_train.npy ...
    """
    folder = Path(folder).expanduser()
    paths = [folder / n for n in names]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        what = "file" if len(missing) == 1 else "files"
        raise MissingDataError(f"missing data {what} {', '.join(missing)} (expected in {str(folder)!r}); "
                               f"{how_to_get}")
    return paths


class Task:
    """Base class of a training task (see the module docstring for the complete interface and an example)."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    published: ClassVar[str] = ""
    Config: ClassVar[type[TrainConfig]] = TrainConfig
    select_metric: ClassVar[str] = "loss"
    select_mode: ClassVar[str] = "min"

    def build_data(self, config: TrainConfig) -> Mapping[str, Any]:
        """``{"train": split, "valid": split, "test": split}`` (see :class:`Split`)."""
        raise NotImplementedError

    def build_model(self, config: TrainConfig) -> torch.nn.Module:
        """The model, freshly initialised (the loop seeds torch with ``config.seed`` before calling)."""
        raise NotImplementedError

    def loss(self, model: torch.nn.Module, batch: Any, config: TrainConfig
             ) -> tuple[torch.Tensor, Mapping[str, float | torch.Tensor]]:
        """``(loss, metrics)`` of one batch: the scalar to minimise and per-batch mean metrics."""
        raise NotImplementedError

    def make_batch(self, split: Any, index: torch.Tensor) -> Any:
        """The batch of examples ``index`` of ``split``: ``split.batch(index)``, else default collation."""
        if hasattr(split, "batch"):
            return split.batch(index)
        from torch.utils.data import default_collate

        return default_collate([split[i] for i in index.tolist()])


_REGISTRY: dict[str, type[Task]] = {}
_DISCOVERED = False


def register_task(cls: type[Task]) -> type[Task]:
    """Add a :class:`Task` subclass to the registry under ``cls.name`` (usable as a decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise TypeError(f"register_task expects a Task subclass, got {cls!r}")
    if not cls.name or not cls.description:
        raise ValueError(f"register_task: {cls.__name__} needs a name and a one-line description")
    if cls.select_mode not in ("min", "max"):
        raise ValueError(f"register_task: {cls.__name__}.select_mode must be 'min' or 'max'")
    old = _REGISTRY.get(cls.name)
    if old is not None and old.__qualname__ != cls.__qualname__:
        raise ValueError(f"register_task: a task named {cls.name!r} is already registered ({old.__qualname__})")
    _REGISTRY[cls.name] = cls
    return cls


def unregister_task(name: str) -> None:
    """Remove a task from the registry (for tests and examples)."""
    _REGISTRY.pop(name, None)


def _discover() -> None:
    """Import every module of ``steertorch.train.tasks`` (each registers its task)."""
    global _DISCOVERED
    if _DISCOVERED:
        return
    _DISCOVERED = True
    from . import tasks

    for info in pkgutil.iter_modules(tasks.__path__):
        importlib.import_module(f"{tasks.__name__}.{info.name}")


def available_tasks() -> dict[str, type[Task]]:
    """``{name: task class}`` of every registered task, sorted by name.

    >>> "tetris" in available_tasks()
    True
    """
    _discover()
    return dict(sorted(_REGISTRY.items()))


def get_task(name: str) -> Task:
    """An instance of the task registered as ``name``; :class:`UnknownTaskError` lists the known tasks."""
    tasks = available_tasks()
    if name not in tasks:
        listing = ", ".join(tasks) or "none"
        raise UnknownTaskError(f"unknown task {name!r}; available tasks: {listing} (see `steertorch tasks`)")
    return tasks[name]()
