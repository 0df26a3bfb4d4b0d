r"""The ``qm9`` task: regression of one QM9 property with SEGNN or a tensor field network.

Data: :func:`steertorch.data.load_qm9` on the user's copy of the published archive (``data_path``: the
``dsgdb9nsd.xyz.tar.bz2`` file or the folder it unpacks to; nothing is downloaded). Energies in eV and, by
default, ``U0 U H G`` as atomization energies (``atomization``). Split: :func:`steertorch.data.qm9_split` with
``split_seed``, 110,000 / 10,000 / the rest by default (SchNet / DimeNet); the Cormorant / EGNN / SEGNN split is
``exclude_uncharacterized=true, num_train=100000, num_valid=17748``. Node features: one-hot H, C, N, O, F;
edges: the radius graph within ``r_max`` (Angstrom). The model predicts the standardised target
(:class:`QM9Model` stores the training mean and standard deviation); the loss is the L1 error in standard
units, the metric ``mae`` the mean absolute error in meV for energies (``homo lumo gap zpve U0 U H G``) and in
the units of :data:`~steertorch.data.QM9_UNITS` otherwise.

Defaults follow the SEGNN paper's QM9 runs (7 layers, 128 hidden features, lmax 1, cutoff 2 Angstrom, batch 128,
Adam 5e-4, cosine schedule, weight decay 1e-8, 1000 epochs): days on a GPU. Numbers on real QM9 are for users
with the data; on two CPU cores use ``num_train`` of a few thousand and a smaller model.

>>> from steertorch.train import get_task
>>> get_task("qm9").Config().target
'U0'
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ...data import QM9, QM9_PROPERTIES, load_qm9, qm9_split
from ...graph import radius_graph
from ...models import SEGNN, TensorFieldNetwork
from .._config import TrainConfig
from .._task import MissingDataError, Task, register_task

__all__ = ["QM9Config", "QM9Task", "QM9Model", "MoleculeSplit"]

_SPECIES = (1, 6, 7, 8, 9)
_MEV = ("homo", "lumo", "gap", "zpve", "U0", "U", "H", "G")


class QM9Model(nn.Module):
    r"""``model(pos, x, edge_index, batch, num_graphs)`` -> property ``[num_graphs]`` in the target's units:
    :math:`y = \sigma f(\ldots) + \mu` with :math:`f` a SEGNN or TFN (one-hot species in, ``0e`` out).

    >>> m = QM9Model("tfn", hidden_features=4, num_layers=1, lmax=1, r_max=2.0)
    >>> m(torch.randn(3, 3), torch.eye(5)[:3], torch.tensor([[0, 1], [1, 0]]), torch.zeros(3, dtype=torch.long),
    ...   1).shape
    torch.Size([1])
    """

    def __init__(self, model: str = "segnn", hidden_features: int = 128, num_layers: int = 7, lmax: int = 1,
                 r_max: float = 2.0, mean: float = 0.0, std: float = 1.0) -> None:
        super().__init__()
        irreps_in = f"{len(_SPECIES)}x0e"
        if model == "segnn":
            self.net: nn.Module = SEGNN(irreps_in, "0e", hidden_features=hidden_features, lmax_attr=lmax,
                                        num_layers=num_layers, pool="sum")
        elif model == "tfn":
            self.net = TensorFieldNetwork(irreps_in, "0e", lmax=lmax, mul=hidden_features, num_layers=num_layers,
                                          r_max=r_max, pool="sum")
        else:
            raise ValueError(f"QM9Model: model must be 'segnn' or 'tfn', got {model!r}")
        self.kind = model
        self.r_max = float(r_max)
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))

    def forward(self, pos: torch.Tensor, x: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor,
                num_graphs: int) -> torch.Tensor:
        if self.kind == "segnn":
            out = self.net(x=x, pos=pos, edge_index=edge_index, batch=batch, num_graphs=num_graphs)
        else:
            out = self.net(pos, x=x, edge_index=edge_index, batch=batch, num_graphs=num_graphs)
        return self.std * out[:, 0] + self.mean


class MoleculeSplit:
    """Molecules of a :class:`~steertorch.data.QM9` as a split: ``batch(index)`` gives ``pos``, one-hot ``x``,
    ``batch`` and the target ``y`` ``[B]``."""

    def __init__(self, data: QM9, target: str) -> None:
        self.data = data
        self.y = data.target(target)
        self.ptr = data.ptr
        self.onehot = torch.zeros(10, len(_SPECIES), dtype=torch.float64)
        self.onehot[list(_SPECIES), torch.arange(len(_SPECIES))] = 1.0

    def __len__(self) -> int:
        return len(self.data)

    def batch(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        counts = self.data.num_atoms[index]
        atoms = torch.cat([torch.arange(int(self.ptr[i]), int(self.ptr[i + 1])) for i in index.tolist()])
        return {"pos": self.data.pos[atoms], "x": self.onehot[self.data.z[atoms]],
                "batch": torch.arange(index.numel()).repeat_interleave(counts), "y": self.y[index]}


@dataclass
class QM9Config(TrainConfig):
    """QM9: one target, SEGNN or TFN.

    Attributes:
        data_path: the archive ``dsgdb9nsd.xyz.tar.bz2`` or its folder (required).
        target: one of ``A B C mu alpha homo lumo gap r2 zpve U0 U H G Cv``; atomization: ``U0 U H G Cv`` minus
            the free atoms' values.
        num_train, num_valid, split_seed: the split (test: the rest); exclude_uncharacterized: leave out the
            3,054 molecules of ``uncharacterized.txt`` (beside the data); limit: read only this many molecules.
        model: ``segnn`` or ``tfn``; hidden_features, num_layers, lmax, r_max: its size and cutoff.
    """

    epochs: int = 1000
    batch_size: int = 128
    lr: float = 5e-4
    weight_decay: float = 1e-8
    lr_schedule: str = field(default="cosine", metadata={"choices": ("constant", "cosine", "step")})
    data_path: str | None = None
    target: str = field(default="U0", metadata={"choices": QM9_PROPERTIES})
    atomization: bool = True
    num_train: int = 110_000
    num_valid: int = 10_000
    split_seed: int = 0
    exclude_uncharacterized: bool = False
    limit: int | None = None
    model: str = field(default="segnn", metadata={"choices": ("segnn", "tfn")})
    hidden_features: int = 128
    num_layers: int = 7
    lmax: int = 1
    r_max: float = 2.0


@register_task
class QM9Task(Task):
    name = "qm9"
    description = "QM9 molecular property regression (your copy of the published xyz archive), SEGNN or TFN"
    published = ("test MAE on U0: EGNN 11 meV, SEGNN 15 meV (Cormorant split); numbers on real QM9 need the "
                 "user's copy of the data")
    Config = QM9Config
    select_metric = "mae"
    select_mode = "min"

    def __init__(self) -> None:
        self._cache: tuple[tuple, dict[str, MoleculeSplit]] | None = None

    def _splits(self, config: QM9Config) -> dict[str, MoleculeSplit]:
        key = (config.data_path, config.atomization, config.exclude_uncharacterized, config.limit, config.target,
               config.num_train, config.num_valid, config.split_seed)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        if config.data_path is None:
            raise MissingDataError("qm9: set data_path to the published archive dsgdb9nsd.xyz.tar.bz2 or the folder "
                                   "of its dsgdb9nsd_XXXXXX.xyz files (https://doi.org/10.6084/m9.figshare.c.978904)")
        try:
            data = load_qm9(config.data_path, atomization=config.atomization,
                            exclude="uncharacterized" if config.exclude_uncharacterized else None, limit=config.limit)
        except FileNotFoundError as e:
            raise MissingDataError(str(e)) from None
        train, valid, test = qm9_split(len(data), config.num_train, config.num_valid, seed=config.split_seed)
        splits = {name: MoleculeSplit(data.subset(idx), config.target)
                  for name, idx in (("train", train), ("valid", valid), ("test", test))}
        self._cache = (key, splits)
        return splits

    def build_data(self, config: QM9Config) -> dict[str, MoleculeSplit]:
        return self._splits(config)

    def build_model(self, config: QM9Config) -> nn.Module:
        y = self._splits(config)["train"].y
        std = float(y.std()) if y.numel() > 1 else 1.0
        return QM9Model(config.model, config.hidden_features, config.num_layers, config.lmax, config.r_max,
                        mean=float(y.mean()), std=std if std > 0 else 1.0)

    def loss(self, model, batch, config):
        edge_index = radius_graph(batch["pos"], config.r_max, batch=batch["batch"])
        pred = model(batch["pos"], batch["x"], edge_index, batch["batch"], batch["y"].shape[0])
        std = getattr(model, "module", model).std  # DDP wraps the model in .module
        err = pred - batch["y"]
        unit = 1000.0 if config.target in _MEV else 1.0
        return (err / std).abs().mean(), {"mae": unit * err.detach().abs().mean()}
