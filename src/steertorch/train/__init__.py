"""Training: tasks (config + data + model + loss), the training loop, checkpoints, multi-process training.

``steertorch train TASK`` (see :mod:`steertorch.cli`) runs :func:`fit` on a registered task;
:mod:`steertorch.train._task` documents the task interface with a complete example.

>>> from steertorch.train import get_task
>>> task = get_task("tetris")
>>> task.Config().batch_size
8
"""

from ._checkpoint import atomic_save, atomic_write_text, load_checkpoint
from ._config import (
    ConfigError,
    TrainConfig,
    apply_overrides,
    config_from_dict,
    config_keys,
    config_to_dict,
    load_toml,
    parse_assignments,
)
from ._loop import NonFiniteLossError, RunExistsError, evaluate, evaluate_checkpoint, fit, package_version
from ._task import (
    GraphSplit,
    MissingDataError,
    Split,
    Task,
    TensorSplit,
    UnknownTaskError,
    available_tasks,
    get_task,
    register_task,
    require_files,
    unregister_task,
)

__all__ = [
    "atomic_save",
    "atomic_write_text",
    "load_checkpoint",
    "NonFiniteLossError",
    "RunExistsError",
    "evaluate",
    "evaluate_checkpoint",
    "fit",
    "package_version",
    "ConfigError",
    "TrainConfig",
    "apply_overrides",
    "config_from_dict",
    "config_keys",
    "config_to_dict",
    "load_toml",
    "parse_assignments",
    "GraphSplit",
    "MissingDataError",
    "Split",
    "Task",
    "TensorSplit",
    "UnknownTaskError",
    "available_tasks",
    "get_task",
    "register_task",
    "require_files",
    "unregister_task",
]
