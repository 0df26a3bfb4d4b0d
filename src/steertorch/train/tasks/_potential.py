r"""The ``potential`` task: an interatomic potential trained on energies and forces, as NequIP / MACE users do.

Data: :func:`steertorch.data.emt_md_frames`, Langevin MD of a periodic fcc Cu cell (32 atoms at the default
``repeat = 2``) with ASE's EMT calculator, generated once in seconds and cached. The frames are split in time
(consecutive blocks, so held-out frames are not neighbours of training frames): the first ``num_train``, the
next ``num_valid``, then ``num_test``.

Model: :class:`EnergyModel`, a tensor field network on the periodic radius graph (``r_max``) whose per-atom
outputs are summed, scaled and shifted, :math:`E = s\,\sum_a \epsilon_a + N \mu` (``s``: the RMS of the training
forces, ``mu``: the mean training energy per atom, as NequIP); forces :math:`F = -\partial E / \partial x` by
autograd (:func:`~steertorch.models.energy_and_forces`), with ``create_graph`` while training so the force loss
trains the parameters (double backward). Loss: :math:`w_E\,\mathrm{MSE}(E / N) / s^2 + w_F\,\mathrm{MSE}(F) /
s^2`. Metrics: ``energy_mae`` (meV / atom) and ``force_mae`` (meV / Angstrom, over components). A trained model
runs MD in ASE through :class:`steertorch.ase.Calculator`.

>>> from steertorch.train import get_task
>>> task = get_task("potential")
>>> task.Config().r_max, task.Config().model
(4.0, 'tfn')
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ...data import PotentialFrames, emt_md_frames
from ...graph import radius_graph
from ...models import TensorFieldNetwork, energy_and_forces
from .._config import TrainConfig
from .._task import Task, register_task

__all__ = ["PotentialConfig", "PotentialTask", "EnergyModel", "FrameSplit"]


class EnergyModel(nn.Module):
    r"""Energy of atomic structures: :math:`E = s \sum_a \epsilon_a + N_g \mu` with :math:`\epsilon` a
    :class:`~steertorch.models.TensorFieldNetwork` (sum pooling, output ``0e``) on one-hot species features.

    ``forward(pos, x=None, edge_index=None, batch=None, num_graphs=None, shifts=None, cell=None)`` returns the
    energies ``[num_graphs]`` (the signature :class:`steertorch.ase.Calculator` calls; ``x`` defaults to ones,
    a single species). ``scale`` and ``shift`` are buffers.

    >>> model = EnergyModel(r_max=3.0, lmax=1, mul=4, num_layers=1, avg_num_neighbors=12.0).double()
    >>> model(torch.randn(4, 3, dtype=torch.float64)).shape
    torch.Size([1])
    """

    def __init__(self, r_max: float = 4.0, lmax: int = 1, mul: int = 16, num_layers: int = 2,
                 avg_num_neighbors: float = 18.0, num_species: int = 1, scale: float = 1.0,
                 shift: float = 0.0) -> None:
        super().__init__()
        irreps_in = f"{num_species}x0e"
        # a constant neighbour normalisation keeps the energy smooth when atoms cross r_max
        self.tfn = TensorFieldNetwork(irreps_in=irreps_in, irreps_out="0e", lmax=lmax, mul=mul,
                                      num_layers=num_layers, r_max=r_max, normalization=float(avg_num_neighbors))
        self.r_max = float(r_max)
        self.num_species = num_species
        self.register_buffer("scale", torch.tensor(float(scale)))
        self.register_buffer("shift", torch.tensor(float(shift)))

    def forward(self, pos: torch.Tensor, x: torch.Tensor | None = None, edge_index: torch.Tensor | None = None,
                batch: torch.Tensor | None = None, num_graphs: int | None = None,
                shifts: torch.Tensor | None = None, cell: torch.Tensor | None = None) -> torch.Tensor:
        if x is None:
            x = pos.new_ones(pos.shape[0], self.num_species)
        if batch is None:
            batch = torch.zeros(pos.shape[0], dtype=torch.long, device=pos.device)
            num_graphs = 1
        num_graphs = num_graphs if num_graphs is not None else int(batch.max()) + 1
        e = self.tfn(pos, x=x, edge_index=edge_index, batch=batch, num_graphs=num_graphs, shifts=shifts,
                     cell=cell)[:, 0]
        counts = torch.bincount(batch, minlength=num_graphs).to(e.dtype)
        return self.scale * e + self.shift * counts


class FrameSplit:
    """Frames of one cell as a split: ``batch(index)`` concatenates the chosen frames' atoms (``pos``, ``batch``,
    ``cell`` ``[B, 3, 3]``, ``energy`` ``[B]``, ``forces`` ``[B N, 3]``, ``num_atoms``)."""

    def __init__(self, frames: PotentialFrames) -> None:
        self.frames = frames

    def __len__(self) -> int:
        return len(self.frames)

    def batch(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.frames
        b, n = index.numel(), f.numbers.numel()
        return {"pos": f.pos[index].reshape(b * n, 3), "batch": torch.arange(b).repeat_interleave(n),
                "cell": f.cell.expand(b, 3, 3).clone(), "energy": f.energy[index],
                "forces": f.forces[index].reshape(b * n, 3), "num_atoms": torch.full((b,), n)}


@dataclass
class PotentialConfig(TrainConfig):
    """Potential: EMT Cu frames, a tensor field network energy model, energy + force loss.

    Attributes:
        num_train, num_valid, num_test: frames of each split (consecutive blocks of the MD run).
        repeat, temperature, interval: the cell (``4 repeat^3`` atoms), thermostat (K), MD steps per frame.
        model: ``tfn``; r_max (Angstrom), lmax, mul, num_layers: its size.
        energy_weight, force_weight: weights of the two loss terms.
        cache: keep the generated frames in the user cache (``$STEERTORCH_CACHE``, ``~/.cache/steertorch``).
    """

    epochs: int = 30
    batch_size: int = 5
    lr: float = 5e-3
    lr_schedule: str = field(default="cosine", metadata={"choices": ("constant", "cosine", "step")})
    dtype: str = "float64"
    num_train: int = 100
    num_valid: int = 25
    num_test: int = 100
    repeat: int = 2
    temperature: float = 600.0
    interval: int = 5
    model: str = field(default="tfn", metadata={"choices": ("tfn",)})
    r_max: float = 4.0
    lmax: int = 1
    mul: int = 16
    num_layers: int = 2
    energy_weight: float = 1.0
    force_weight: float = 10.0
    cache: bool = True


def _frames(config: PotentialConfig) -> PotentialFrames:
    n = config.num_train + config.num_valid + config.num_test
    return emt_md_frames(n, repeat=config.repeat, temperature=config.temperature, interval=config.interval,
                         seed=config.seed, cache=config.cache)


@register_task
class PotentialTask(Task):
    name = "potential"
    description = "interatomic potential of periodic fcc Cu (EMT molecular dynamics): energies and forces"
    published = "none: the data are generated locally (EMT), no published number applies"
    Config = PotentialConfig
    select_metric = "force_mae"
    select_mode = "min"

    def build_data(self, config: PotentialConfig) -> dict[str, FrameSplit]:
        frames = _frames(config)
        a, b = config.num_train, config.num_train + config.num_valid
        idx = torch.arange(len(frames))
        return {"train": FrameSplit(frames.subset(idx[:a])), "valid": FrameSplit(frames.subset(idx[a:b])),
                "test": FrameSplit(frames.subset(idx[b:]))}

    def build_model(self, config: PotentialConfig) -> nn.Module:
        frames = _frames(config).subset(torch.arange(config.num_train))
        n = frames.numbers.numel()
        edge_index, _ = radius_graph(frames.pos[0], config.r_max, cell=frames.cell)
        return EnergyModel(r_max=config.r_max, lmax=config.lmax, mul=config.mul, num_layers=config.num_layers,
                           avg_num_neighbors=edge_index.shape[1] / n,
                           scale=float(frames.forces.pow(2).mean().sqrt()), shift=float(frames.energy.mean() / n))

    def loss(self, model, batch, config):
        pos, cell, graph = batch["pos"], batch["cell"], batch["batch"]
        num_graphs = batch["energy"].shape[0]
        edge_index, shifts = radius_graph(pos.detach(), config.r_max, batch=graph, cell=cell)
        energy, forces = energy_and_forces(model, pos, edge_index=edge_index, batch=graph, num_graphs=num_graphs,
                                           shifts=shifts, cell=cell, create_graph=torch.is_grad_enabled())
        scale = float(getattr(model, "module", model).scale)  # DDP wraps the model in .module
        per_atom = (energy - batch["energy"]) / batch["num_atoms"].to(energy.dtype)
        loss = (config.energy_weight * per_atom.pow(2).mean() + config.force_weight
                * (forces - batch["forces"]).pow(2).mean()) / scale**2
        return loss, {"energy_mae": 1000 * per_atom.detach().abs().mean(),
                      "force_mae": 1000 * (forces.detach() - batch["forces"]).abs().mean()}
