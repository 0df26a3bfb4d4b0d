r"""The ``tetris`` task: what ``steertorch demo`` runs, as a training task.

A tensor field network (:func:`steertorch._tetris_demo.tetris_model`) learns the eight 3D
tetris shapes from the shapes as given (unrotated, one example each, full batch); validation
and test use randomly rotated and translated copies, and ``test_mirror`` mirrored ones (the
chiral pair's labels swapped). An E(3)-equivariant model classifies all of them correctly.

>>> from steertorch.train import get_task
>>> task = get_task("tetris")
>>> config = task.Config(copies=1)
>>> data = task.build_data(config)
>>> sorted(data), len(data["train"]), len(data["test"])
(['test', 'test_mirror', 'train', 'valid'], 8, 8)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..._tetris_demo import EDGE_RADIUS, tetris_model
from ...data import tetris_batch
from .._config import TrainConfig
from .._task import GraphSplit, Task, register_task

__all__ = ["TetrisConfig", "TetrisTask"]


@dataclass
class TetrisConfig(TrainConfig):
    """Tetris: the demo's model and optimiser (Adam, lr 0.02, full batch of the 8 shapes).

    Attributes:
        copies: rotated copies of each shape in the test splits (``valid_copies`` in validation).
        mul, num_layers: width and depth of the tensor field network.
    """

    epochs: int = 300
    batch_size: int = 8
    lr: float = 2e-2
    dtype: str = "float64"
    copies: int = 100
    valid_copies: int = 10
    mul: int = 8
    num_layers: int = 2


@register_task
class TetrisTask(Task):
    name = "tetris"
    description = "3D tetris: learn 8 shapes unrotated, classify rotated / translated / mirrored copies"
    published = "100% accuracy expected on rotated copies (exact equivariance)"
    Config = TetrisConfig

    def build_data(self, config: TetrisConfig) -> dict[str, GraphSplit]:
        g = torch.Generator().manual_seed(config.seed + 1)
        dtype = getattr(torch, config.dtype)
        common = dict(rotate=True, translate=True, r=EDGE_RADIUS, generator=g, dtype=dtype)
        return {
            "train": GraphSplit.from_batch(tetris_batch(r=EDGE_RADIUS, dtype=dtype)),
            "valid": GraphSplit.from_batch(tetris_batch(copies=config.valid_copies, **common)),
            "test": GraphSplit.from_batch(tetris_batch(copies=config.copies, **common)),
            "test_mirror": GraphSplit.from_batch(tetris_batch(copies=config.copies, reflect=True, **common)),
        }

    def build_model(self, config: TetrisConfig) -> torch.nn.Module:
        return tetris_model(mul=config.mul, num_layers=config.num_layers)

    def loss(self, model, batch, config):
        logits = model(batch.pos, edge_index=batch.edge_index, batch=batch.batch, num_graphs=batch.num_graphs)
        loss = torch.nn.functional.cross_entropy(logits, batch.y)
        accuracy = (logits.detach().argmax(1) == batch.y).double().mean()
        return loss, {"accuracy": accuracy}
