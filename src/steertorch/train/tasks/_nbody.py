r"""The ``nbody`` task: the charged 5-particle system of the EGNN and SEGNN papers.

Input: positions, velocities and charges of 5 particles at frame 30; target: the positions at
frame 40 (1000 integration steps later); loss and metric: the mean squared error over
particles and coordinates. 3000 / 2000 / 2000 train / valid / test systems, simulated by
:func:`steertorch.data.simulate_charged_particles` (seeded by ``seed``; cached on disk, since
7000 systems take a minute or two on one core), or read from the reference's saved arrays
(``loc_*``, ``vel_*``, ``charges_*`` ``.npy`` files) when ``data_dir`` names their folder.

Models (``model``):

- ``"segnn"``: :class:`~steertorch.models.SEGNN` as the SEGNN paper's n-body setting (node
  input ``2x1o + 1x0e``: position relative to the system's centre, velocity, speed; edge
  features the distance and :math:`q_i q_j`; edge attributes the harmonics of :math:`x_j - x_i`, node
  attributes their mean plus the velocity's with scalar part 1, all as the reference code; 4 layers,
  ``32x0e + 32x1o``, sum aggregation; the displacement is predicted);
- ``"egnn"``: :class:`~steertorch.models.EGNN` as the EGNN paper's EGNN-vel (node input
  :math:`|v|`, edge attributes :math:`q_i q_j` and the input's squared distance, 4 layers of
  64, coordinate messages clamped to [-100, 100] as the reference code);
- ``"tfn"``: :class:`~steertorch.models.TensorFieldNetwork` with inputs ``2x1o + 2x0e``
  (relative position, velocity, speed, charge), predicting the displacement;
- ``"linear"``: the papers' linear baseline :math:`x + \lambda v` (one learned :math:`\lambda`).

Published test MSE: linear 0.0819, SE(3)-Transformer 0.0244, TFN 0.0155, EGNN 0.0071,
SEGNN 0.0043.

>>> from steertorch.train import get_task
>>> task = get_task("nbody")
>>> config = task.Config(model="egnn", num_train=4, num_valid=2, num_test=2, frame_in=1, frame_out=2, cache=False)
>>> data = task.build_data(config)
>>> batch = data["train"].batch(torch.arange(2))
>>> loss, metrics = task.loss(task.build_model(config), batch, config)
>>> loss.shape, sorted(metrics)
(torch.Size([]), ['mse'])
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ...data import load_nbody_arrays, nbody_graph, simulate_charged_particles
from ...data._nbody import REFERENCE_SUFFIX, NBodyBatch
from ...data._nbody_reference import REFERENCE_SPLITS, reference_initial_states
from ...graph import scatter_mean, spherical_edge_attributes
from ...models import EGNN, SEGNN, TensorFieldNetwork
from .._checkpoint import atomic_save
from .._config import TrainConfig
from .._task import MissingDataError, Task, register_task

__all__ = ["NBodyConfig", "NBodyTask", "NBodySplit", "NBodyLinear", "NBodyEGNN", "NBodySEGNN", "NBodyTFN"]


@dataclass
class NBodyConfig(TrainConfig):
    """N-body: the papers' hyper-parameters (Adam, lr 5e-4, batch 100, weight decay 1e-12, 4 layers).

    Attributes:
        model: ``"segnn"``, ``"egnn"``, ``"tfn"`` or ``"linear"``.
        num_train, num_valid, num_test: systems per split (3000 / 2000 / 2000).
        frame_in, frame_out: input and target frames (30 -> 40).
        data_dir: folder of the reference's ``.npy`` arrays (``""``: simulate).
        initial_states: of the simulated systems: ``"seeded"`` (drawn from ``seed``) or ``"reference"``
            (the published data set's, drawn again by numpy's generator with the reference's seed 43, see
            :func:`~steertorch.data.reference_initial_states`; the data are then the same for every ``seed``).
        data_suffix: their file suffix (``loc_train_{data_suffix}.npy``).
        cache: keep simulated data sets in ``$STEERTORCH_CACHE`` (default ``~/.cache/steertorch``).
        hidden, num_layers: width (EGNN features; SEGNN "hidden features" as the paper, 64 ->
            ``32x0e + 32x1o``; TFN multiplicity) and number of message-passing layers.
        coords_clamp: EGNN's clamp of coordinate messages (0: none).
        segnn_parametrization: ``"e3nn"`` or ``"reference"`` (see :class:`~steertorch.graph.O3TensorProduct`).
        segnn_aggr: SEGNN's message aggregation (``"sum"``, as the reference).
        tfn_lmax, tfn_r_max: TFN's harmonics degree and radial cutoff.
    """

    model: str = field(default="segnn", metadata={"choices": ("segnn", "egnn", "tfn", "linear")})
    epochs: int = 1000
    batch_size: int = 100
    lr: float = 5e-4
    weight_decay: float = 1e-12
    num_train: int = 3000
    num_valid: int = 2000
    num_test: int = 2000
    frame_in: int = 30
    frame_out: int = 40
    data_dir: str = ""
    initial_states: str = field(default="seeded", metadata={"choices": ("seeded", "reference")})
    data_suffix: str = REFERENCE_SUFFIX
    cache: bool = True
    hidden: int = 64
    num_layers: int = 4
    coords_clamp: float = 100.0
    segnn_parametrization: str = field(default="e3nn", metadata={"choices": ("e3nn", "reference")})
    segnn_aggr: str = field(default="sum", metadata={"choices": ("sum", "mean")})
    tfn_lmax: int = 1
    tfn_r_max: float = 10.0


class NBodySplit:
    """Systems as tensors ``[S, N, 3]`` (``charges`` ``[S, N, 1]``); ``batch(index)`` -> :class:`NBodyBatch`."""

    def __init__(self, pos: torch.Tensor, vel: torch.Tensor, charges: torch.Tensor, target: torch.Tensor) -> None:
        self.pos, self.vel, self.charges, self.target = pos, vel, charges, target

    def __len__(self) -> int:
        return self.pos.shape[0]

    def batch(self, index: torch.Tensor) -> NBodyBatch:
        return nbody_graph(self.pos[index], self.vel[index], self.charges[index], self.target[index])


def _cache_dir() -> Path:
    return Path(os.environ.get("STEERTORCH_CACHE", Path.home() / ".cache" / "steertorch"))


@functools.lru_cache(maxsize=1)
def _reference_states() -> dict[str, tuple[torch.Tensor, ...]]:
    """The published set's initial states, drawn once per process (a few seconds; only read: the simulator copies)."""
    return reference_initial_states()


def _simulate(num_systems: int, num_frames: int, seed: int, cache: bool,
              external_field: float = 0.0, reference_split: str = "") -> tuple[torch.Tensor, ...]:
    """Simulated trajectories (float64), from the on-disk cache when there (``external_field``: E_z;
    ``reference_split``: start from the published set's initial states of that split instead of ``seed``'s)."""
    key = {"num_systems": num_systems, "num_frames": num_frames, "seed": seed, "version": 1}
    if external_field != 0:  # field-free keys stay as they were (existing caches remain valid)
        key["external_field"] = float(external_field)
    if reference_split:
        key = {"num_systems": num_systems, "num_frames": num_frames, "reference_split": reference_split,
               "reference_seed": 43, "version": 1}
    path = _cache_dir() / "nbody" / (hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16] + ".pt")
    if cache and path.is_file():
        try:
            stored = torch.load(path, weights_only=True)
            if stored.get("key") == key:
                return stored["pos"], stored["vel"], stored["charges"]
        except Exception:  # a corrupt or foreign file: simulate again
            pass
    initial = None
    if reference_split:
        initial = tuple(t[:num_systems] for t in _reference_states()[reference_split])
    pos, vel, charges = simulate_charged_particles(num_systems, num_frames=num_frames,
                                                   generator=torch.Generator().manual_seed(seed),
                                                   external_field=external_field, initial=initial)
    if cache:
        try:
            atomic_save({"key": key, "pos": pos, "vel": vel, "charges": charges}, path)
        except OSError:  # read-only home: run without the cache
            pass
    return pos, vel, charges


class NBodyLinear(nn.Module):
    r"""The linear baseline :math:`\hat x = x + \lambda v` (one learned scalar)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.zeros(()))

    def forward(self, b: NBodyBatch) -> torch.Tensor:
        return b.pos + self.scale * b.vel


class NBodyEGNN(nn.Module):
    """EGNN-vel on a batch of systems: node input ``|v|``, edge attributes ``(q_i q_j, |x_i - x_j|^2)``."""

    def __init__(self, hidden: int = 64, num_layers: int = 4, coords_clamp: float | None = 100.0) -> None:
        super().__init__()
        self.egnn = EGNN(1, hidden_features=hidden, out_features=0, edge_attr_dim=2, num_layers=num_layers,
                         use_velocity=True, coords_clamp=coords_clamp)

    def forward(self, b: NBodyBatch) -> torch.Tensor:
        src, dst = b.edge_index
        qq = b.charges[src] * b.charges[dst]
        dist2 = (b.pos[dst] - b.pos[src]).pow(2).sum(-1, keepdim=True)
        _, pos = self.egnn(b.vel.norm(dim=-1, keepdim=True), b.pos, b.edge_index,
                           edge_attr=torch.cat([qq, dist2], dim=-1), vel=b.vel)
        return pos


def _centred(b: NBodyBatch) -> torch.Tensor:
    """Positions relative to each system's centre (the mean of its particles)."""
    return b.pos - scatter_mean(b.pos, b.batch, dim=0, dim_size=b.num_graphs)[b.batch]


class NBodySEGNN(nn.Module):
    """SEGNN on a batch of systems, as the SEGNN paper's n-body model; predicts the displacement."""

    def __init__(self, hidden: int = 64, num_layers: int = 4, parametrization: str = "e3nn",
                 aggr: str = "sum") -> None:
        super().__init__()
        self.segnn = SEGNN("2x1o + 1x0e", "1x1o", hidden_features=hidden, lmax_attr=1, num_layers=num_layers,
                           irreps_edge_features="2x0e", aggr=aggr, task="node", edge_invariant="none",
                           parametrization=parametrization)

    def forward(self, b: NBodyBatch) -> torch.Tensor:
        src, dst = b.edge_index
        # as the reference code: the edge vector x_j - x_i from the receiver i to the sender j, "integral"
        # harmonics (Y^0 = 1 / sqrt(4 pi)), node attributes the mean of the edge harmonics plus those of the
        # velocity, with the scalar part then set to 1 (the reference's SEGNN does so for every node)
        rel = b.pos[src] - b.pos[dst]
        edge_attr = spherical_edge_attributes(rel, 1, normalization="integral")
        node_attr = scatter_mean(edge_attr, dst, dim=0, dim_size=b.pos.shape[0]) + \
            spherical_edge_attributes(b.vel, 1, normalization="integral")
        node_attr = torch.cat([torch.ones_like(node_attr[:, :1]), node_attr[:, 1:]], dim=1)
        speed = b.vel.norm(dim=-1, keepdim=True)
        x = torch.cat([_centred(b), b.vel, speed], dim=-1)
        features = torch.cat([rel.norm(dim=-1, keepdim=True), b.charges[src] * b.charges[dst]], dim=-1)
        out = self.segnn(x, b.pos, b.edge_index, edge_features=features, node_attr=node_attr, edge_attr=edge_attr)
        return b.pos + out


class NBodyTFN(nn.Module):
    """Tensor field network on a batch of systems (inputs ``2x1o + 2x0e``); predicts the displacement.

    Mean over neighbours and a Gaussian radial basis: with the default Bessel basis and square-root
    degree normalisation the initial outputs of this dense, 4-layer setting have second moment ~1e8.
    """

    def __init__(self, mul: int = 16, num_layers: int = 4, lmax: int = 1, r_max: float = 10.0) -> None:
        super().__init__()
        self.tfn = TensorFieldNetwork("2x1o + 2x0e", "1x1o", lmax=lmax, mul=mul, num_layers=num_layers,
                                      r_max=r_max, pool=None, normalization="degree", radial_basis="gaussian")

    def forward(self, b: NBodyBatch) -> torch.Tensor:
        x = torch.cat([_centred(b), b.vel, b.vel.norm(dim=-1, keepdim=True), b.charges], dim=-1)
        return b.pos + self.tfn(b.pos, x=x, edge_index=b.edge_index, batch=b.batch, num_graphs=b.num_graphs)


@register_task
class NBodyTask(Task):
    name = "nbody"
    description = "charged 5-particle system (EGNN / SEGNN papers): positions 1000 steps ahead, MSE"
    published = "test MSE: SEGNN 0.0043, EGNN 0.0071, TFN 0.0155, SE(3)-Transformer 0.0244, linear 0.0819"
    Config = NBodyConfig
    select_metric = "mse"

    def build_data(self, config: NBodyConfig) -> dict[str, NBodySplit]:
        if not 0 <= config.frame_in < config.frame_out:
            raise ValueError(f"nbody: need 0 <= frame_in < frame_out, got {config.frame_in}, {config.frame_out}")
        if config.data_dir and config.initial_states != "seeded":
            raise ValueError(f"nbody: data_dir ({config.data_dir!r}) reads saved arrays; initial_states="
                             f"{config.initial_states!r} is for simulated data: give one of them")
        dtype = getattr(torch, config.dtype)
        sizes = {"train": config.num_train, "valid": config.num_valid, "test": config.num_test}
        out = {}
        for k, (split, n) in enumerate(sizes.items()):
            if config.data_dir:
                try:
                    pos, vel, charges = load_nbody_arrays(config.data_dir, split, config.data_suffix)
                except FileNotFoundError as exc:
                    raise MissingDataError(str(exc)) from None
                if pos.shape[0] <= config.frame_out:
                    raise ValueError(f"nbody: {config.data_dir} has {pos.shape[0]} frames, frame_out is "
                                     f"{config.frame_out}")
                pos, vel, charges = pos[:, :n], vel[:, :n], charges[:n]
            elif config.initial_states == "reference":
                available = dict(REFERENCE_SPLITS)[split]
                if n > available:
                    raise ValueError(f"nbody: the published data set has {available} {split} systems, "
                                     f"num_{split} is {n}")
                pos, vel, charges = _simulate(n, config.frame_out + 1, 0, config.cache, reference_split=split)
            else:
                pos, vel, charges = _simulate(n, config.frame_out + 1, 1000 * config.seed + k, config.cache)
            fi, fo = config.frame_in, config.frame_out
            out[split] = NBodySplit(pos[fi].to(dtype), vel[fi].to(dtype), charges.to(dtype), pos[fo].to(dtype))
        return out

    def build_model(self, config: NBodyConfig) -> nn.Module:
        if config.model == "linear":
            return NBodyLinear()
        if config.model == "egnn":
            return NBodyEGNN(config.hidden, config.num_layers, config.coords_clamp or None)
        if config.model == "segnn":
            return NBodySEGNN(config.hidden, config.num_layers, config.segnn_parametrization, config.segnn_aggr)
        return NBodyTFN(config.hidden, config.num_layers, config.tfn_lmax, config.tfn_r_max)

    def loss(self, model, batch, config):
        mse = (model(batch) - batch.target).pow(2).mean()
        return mse, {"mse": mse.detach()}
