r"""The ``shapes`` task: upright point-cloud classification (a small ModelNet stand-in) with z-subgroup models.

:func:`steertorch.data.upright_shapes` draws boxes, cylinders, cones, tori and chairs with random proportions,
standing upright along z; each shape is ``num_points`` surface points joined to their ``k`` nearest neighbours.
Training shapes are upright as generated (``train_yaw = False``) or turned by a random angle about z; validation
and test shapes are turned by a random angle about z. Loss: cross-entropy; metric: accuracy.

Model: :class:`~steertorch.models.FieldPointNet` (node input: a constant scalar and the position relative to the
cloud's centroid, a vector), ``num_invariants`` invariant outputs per point averaged over the cloud, and a
two-layer MLP to the class logits. ``group`` chooses the model's symmetry (``"o3"``, ``"so3"``, ``"o2"``,
``"so2"``: see :mod:`._field_groups`), ``kernel`` its kernels (``"implicit"``: :class:`~steertorch.nn.ImplicitKernel`;
``"analytic"``: :class:`~steertorch.nn.BasisKernel`); ``hidden = 0`` picks the width of :data:`DEFAULT_HIDDEN`
(roughly equal parameter counts). Every choice is invariant to rotations about z, so the test's random yaw costs
nothing by construction; O(3) and SO(3) models are also blind to which way is up.

Sizes (one run in a few minutes on one CPU thread): 40 / 20 / 100 shapes per class in train / valid / test,
32 points per shape, 6 neighbours, 20 epochs.

>>> from steertorch.train import get_task
>>> task = get_task("shapes")
>>> config = task.Config(group="so2", hidden=2, mlp_hidden=4, num_layers=1, num_train=1, num_valid=1,
...                      num_test=1, num_points=8, k=3)
>>> data = task.build_data(config)
>>> len(data["train"]), len(data["test"])
(5, 5)
>>> loss, metrics = task.loss(task.build_model(config), data["train"].batch(torch.arange(5)), config)
>>> loss.shape, sorted(metrics)
(torch.Size([]), ['accuracy'])
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ...data import SHAPE_CLASSES, upright_shapes
from ...graph import Graph, knn_graph, scatter_mean
from ...models import FieldPointNet
from ...nn import FieldType
from .._config import TrainConfig
from .._task import GraphSplit, Task, register_task
from ._field_groups import FIELD_GROUPS, field_gspace

__all__ = ["ShapesConfig", "ShapesTask", "ShapesNet", "DEFAULT_HIDDEN"]

#: ``hidden`` (scalar and vector fields per layer) by ``(group, kernel)`` for ``hidden = 0``: roughly equal
#: parameter counts at the default sizes (see docs/results.md for the counts).
DEFAULT_HIDDEN = {
    ("o3", "implicit"): 4, ("so3", "implicit"): 4, ("o2", "implicit"): 4, ("so2", "implicit"): 4,
    ("o3", "analytic"): 10, ("so3", "analytic"): 10, ("o2", "analytic"): 5, ("so2", "analytic"): 4,
}


@dataclass
class ShapesConfig(TrainConfig):
    """Upright shapes (Adam, lr 3e-3, cosine schedule, batch 10, gradient norm clipped at 10).

    Attributes:
        group: the model's symmetry: ``"o3"``, ``"so3"``, ``"o2"`` (about z, with mirrors) or ``"so2"`` (about z).
        kernel: ``"implicit"`` or ``"analytic"``.
        train_yaw: turn the training shapes by random angles about z (validation and test always are).
        num_train, num_valid, num_test: shapes per class in each split.
        num_points, k: points per shape and neighbours per point.
        noise: Gaussian jitter of the points.
        hidden: scalar and vector fields of the hidden features (0: :data:`DEFAULT_HIDDEN`).
        mlp_hidden: width of the implicit kernels' one hidden layer.
        num_layers: message-passing layers.
        num_invariants: invariant features per point pooled for the classifier.
        r_max: cutoff radius of the kernels (the shapes fit in the unit ball).
    """

    group: str = field(default="o2", metadata={"choices": FIELD_GROUPS})
    kernel: str = field(default="implicit", metadata={"choices": ("implicit", "analytic")})
    train_yaw: bool = False
    epochs: int = 20
    batch_size: int = 10
    lr: float = 3e-3
    lr_schedule: str = field(default="cosine", metadata={"choices": ("constant", "cosine", "step")})
    grad_clip: float = 10.0
    num_train: int = 40
    num_valid: int = 20
    num_test: int = 100
    num_points: int = 32
    k: int = 6
    noise: float = 0.0
    hidden: int = 0
    mlp_hidden: int = 8
    num_layers: int = 2
    num_invariants: int = 16
    r_max: float = 0.8


class ShapesNet(nn.Module):
    """:class:`~steertorch.models.FieldPointNet` -> invariants averaged per cloud -> MLP -> class logits.

    ``forward(graph)`` takes a batched :class:`~steertorch.graph.Graph` (``pos``, ``edge_index``, ``batch``)."""

    def __init__(self, group: str = "o2", kernel: str = "implicit", hidden: int = 6, mlp_hidden: int = 8,
                 num_layers: int = 2, num_invariants: int = 16, r_max: float = 0.8,
                 num_classes: int = len(SHAPE_CLASSES)) -> None:
        super().__init__()
        gs = field_gspace(group)
        t_in = FieldType(gs, [gs.trivial_repr, gs.basespace_repr])
        t_out = FieldType(gs, [gs.trivial_repr] * num_invariants)
        self.net = FieldPointNet(gs, t_in, t_out, hidden=hidden, num_layers=num_layers, kernel=kernel, r_max=r_max,
                                 mlp_hidden=(mlp_hidden,))
        self.head = nn.Sequential(nn.Linear(num_invariants, num_invariants), nn.SiLU(),
                                  nn.Linear(num_invariants, num_classes))

    def forward(self, g: Graph) -> torch.Tensor:
        centroid = scatter_mean(g.pos, g.batch, dim=0, dim_size=g.num_graphs)
        rel = g.pos - centroid[g.batch]
        x = torch.cat([torch.ones_like(rel[:, :1]), rel], dim=-1)
        h = self.net(x, g.pos, g.edge_index)
        return self.head(scatter_mean(h, g.batch, dim=0, dim_size=g.num_graphs))


@register_task
class ShapesTask(Task):
    name = "shapes"
    description = "upright point clouds (box, cylinder, cone, torus, chair): classify, tested with random yaw"
    published = ("implicit kernels (Zhdanov et al. 2023, ModelNet40): SO(2)/O(2)-about-z models beat SO(3)/O(3) "
                 "ones on upright objects (different data: this task is a small procedural stand-in)")
    Config = ShapesConfig
    select_metric = "accuracy"
    select_mode = "max"

    def build_data(self, config: ShapesConfig) -> dict[str, GraphSplit]:
        dtype = getattr(torch, config.dtype)
        sizes = {"train": config.num_train, "valid": config.num_valid, "test": config.num_test}
        out = {}
        for s, (split, n) in enumerate(sizes.items()):
            g = torch.Generator().manual_seed(1000 * config.seed + s)
            yaw = config.train_yaw if split == "train" else True
            pos, labels = upright_shapes(n, num_points=config.num_points, yaw=yaw, noise=config.noise, generator=g,
                                         dtype=dtype)
            graphs = [Graph(pos=p, edge_index=knn_graph(p, config.k), y=y[None]) for p, y in zip(pos, labels)]
            out[split] = GraphSplit(graphs)
        return out

    def build_model(self, config: ShapesConfig) -> nn.Module:
        hidden = config.hidden or DEFAULT_HIDDEN[(config.group, config.kernel)]
        return ShapesNet(config.group, config.kernel, hidden, config.mlp_hidden, config.num_layers,
                         config.num_invariants, config.r_max)

    def loss(self, model, batch, config):
        logits = model(batch)
        loss = nn.functional.cross_entropy(logits, batch.y)
        accuracy = (logits.detach().argmax(1) == batch.y).double().mean()
        return loss, {"accuracy": accuracy}
