r"""Charged-particle n-body systems: the benchmark of the EGNN and SEGNN papers, simulated in torch.

Each system has ``num_particles`` particles with charges :math:`q_i = \pm 1` (probability 1/2),
initial positions :math:`x_i \sim \mathcal N(0, \sigma^2 I)` (:math:`\sigma` = ``loc_std``) and
initial velocities of norm ``vel_norm`` in uniformly random directions. The Coulomb forces

.. math::

    F_i = \sum_{j \neq i} q_i q_j \, \frac{x_i - x_j}{\|x_i - x_j\|^3}

(like charges repel; unit masses; each component clipped to ``[-max_force, max_force]`` as
the reference simulator does, which only acts at close encounters) drive a symplectic Euler
(kick-drift) integration with step ``dt``: :math:`v \mathrel{+}= dt\, F(x)`, then repeatedly
:math:`x \mathrel{+}= dt\, v`, :math:`v \mathrel{+}= dt\, F(x)`. Frame ``k`` is the state after
``(k + 1) * sample_every`` drift steps. The reference data set (5 particles, dt = 0.001,
a frame every 100 steps) predicts frame 40 from frame 30.

All systems are integrated at once (vectorised over systems), in float64 by default.
"""

from __future__ import annotations

import dataclasses

import torch

__all__ = ["simulate_charged_particles", "NBodyBatch", "nbody_batch", "nbody_graph", "load_nbody_arrays"]

#: the reference data sets' file suffix (EGNN repository, ``generate_dataset.py --simulation charged
#: --num-train 10000 --seed 43 --suffix small``): ``loc_train_charged5_initvel1small.npy`` etc.
REFERENCE_SUFFIX = "charged5_initvel1small"


def _forces(pos: torch.Tensor, qq: torch.Tensor, max_force: float | None) -> torch.Tensor:
    diff = pos.unsqueeze(-2) - pos.unsqueeze(-3)  # [S, N, N, 3]: x_i - x_j
    r2 = diff.pow(2).sum(-1)
    eye = torch.eye(pos.shape[-2], dtype=torch.bool, device=pos.device)
    inv_r3 = torch.where(eye, torch.zeros_like(r2), r2.masked_fill(eye, 1.0).pow(-1.5))
    f = (qq * inv_r3).unsqueeze(-1).mul(diff).sum(-2)
    return f.clamp(-max_force, max_force) if max_force is not None else f


def simulate_charged_particles(num_systems: int, num_particles: int = 5, num_frames: int = 49,
                               sample_every: int = 100, dt: float = 1e-3, loc_std: float = 1.0,
                               vel_norm: float = 0.5, max_force: float | None = 100.0,
                               generator: torch.Generator | None = None, dtype: torch.dtype = torch.float64,
                               initial: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
                               external_field: float = 0.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Trajectories of charged particles (see the module docstring for the dynamics).

    Args:
        num_systems: number of independent systems ``S``.
        num_particles: particles per system ``N``.
        num_frames: frames ``T`` returned; frame ``k`` is after ``(k + 1) * sample_every`` steps.
        sample_every, dt: steps between frames and the time step.
        loc_std, vel_norm: scale of the initial positions and norm of the initial velocities.
        max_force: clip of each force component (``None``: no clipping, exactly E(3)-equivariant dynamics).
        generator, dtype: random source and floating point type.
        initial: ``(pos [S, N, 3], vel [S, N, 3], charges [S, N, 1])`` instead of random ones.
        external_field: :math:`E_z` of a uniform external field :math:`E = (0, 0, E_z)`, adding the force
            :math:`q_i E` (not clipped) to every particle: the symmetry drops from O(3) to O(2) about z
            (rotations about z and mirrors through planes containing z; Zhdanov et al. 2023). 0 (default): the
            field-free system, bit-identical to the simulation without this argument.

    Returns:
        ``(pos [T, S, N, 3], vel [T, S, N, 3], charges [S, N, 1])``.

    >>> pos, vel, charges = simulate_charged_particles(2, num_frames=3, sample_every=10)
    >>> pos.shape, vel.shape, charges.shape
    (torch.Size([3, 2, 5, 3]), torch.Size([3, 2, 5, 3]), torch.Size([2, 5, 1]))
    """
    for name, v in (("num_systems", num_systems), ("num_particles", num_particles), ("num_frames", num_frames),
                    ("sample_every", sample_every)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"simulate_charged_particles: {name} must be an int >= 1, got {v!r}")
    if initial is None:
        pos = torch.randn(num_systems, num_particles, 3, generator=generator, dtype=dtype) * loc_std
        vel = torch.randn(num_systems, num_particles, 3, generator=generator, dtype=dtype)
        vel = vel * (vel_norm / vel.norm(dim=-1, keepdim=True))
        charges = torch.randint(0, 2, (num_systems, num_particles, 1), generator=generator).to(dtype) * 2 - 1
    else:
        pos, vel, charges = (t.to(dtype).clone() for t in initial)
        if pos.shape != (num_systems, num_particles, 3) or vel.shape != pos.shape or \
                charges.shape != (num_systems, num_particles, 1):
            raise ValueError(f"simulate_charged_particles: initial must be pos, vel "
                             f"[{num_systems}, {num_particles}, 3] and charges [{num_systems}, {num_particles}, 1], "
                             f"got {[list(t.shape) for t in initial]}")
    qq = charges * charges.transpose(-1, -2)  # [S, N, N]
    external = None
    if external_field != 0:
        external = charges * torch.tensor([0.0, 0.0, float(external_field)], dtype=dtype, device=charges.device)

    def _total(p: torch.Tensor) -> torch.Tensor:
        f = _forces(p, qq, max_force)
        return f if external is None else f + external

    out_pos, out_vel = [], []
    vel = vel + dt * _total(pos)
    for _ in range(num_frames):
        for step in range(sample_every):
            pos = pos + dt * vel
            if step == sample_every - 1:  # stored after the drift, before the kick (the reference's convention)
                out_pos.append(pos)
                out_vel.append(vel)
            vel = vel + dt * _total(pos)
    return torch.stack(out_pos), torch.stack(out_vel), charges


@dataclasses.dataclass
class NBodyBatch:
    """A batch of n-body systems as one graph batch (fully connected systems).

    Fields: ``pos`` ``[S*N, 3]`` and ``vel`` ``[S*N, 3]`` at the input frame, ``charges``
    ``[S*N, 1]``, ``target`` ``[S*N, 3]`` the positions at the target frame, ``edge_index``
    ``[2, S*N*(N-1)]`` (``[source, target]``, every ordered pair within a system), ``batch``
    ``[S*N]``, ``num_graphs`` ``S``.

    >>> b = nbody_batch(num_systems=2, num_particles=5)
    >>> b.pos.shape, b.edge_index.shape, b.num_graphs
    (torch.Size([10, 3]), torch.Size([2, 40]), 2)
    """

    pos: torch.Tensor
    vel: torch.Tensor
    charges: torch.Tensor
    target: torch.Tensor
    edge_index: torch.Tensor
    batch: torch.Tensor
    num_graphs: int


def nbody_batch(num_systems: int = 100, num_particles: int = 5, frame_in: int = 30, frame_out: int = 40,
                generator: torch.Generator | None = None, dtype: torch.dtype = torch.float64,
                **simulation: object) -> NBodyBatch:
    r"""Simulate ``num_systems`` charged systems and return frame ``frame_in`` with frame ``frame_out`` as target.

    The defaults are those of the EGNN / SEGNN benchmark (5 particles, frames 30 -> 40, that is
    1000 steps of 0.001 apart). Extra keyword arguments go to :func:`simulate_charged_particles`.

    >>> data = nbody_batch(4, frame_in=1, frame_out=2, sample_every=10)
    >>> data.pos.shape, data.edge_index.shape, data.num_graphs
    (torch.Size([20, 3]), torch.Size([2, 80]), 4)
    """
    if not 0 <= frame_in < frame_out:
        raise ValueError(f"nbody_batch: need 0 <= frame_in < frame_out, got {frame_in}, {frame_out}")
    pos, vel, charges = simulate_charged_particles(num_systems, num_particles, num_frames=frame_out + 1,
                                                   generator=generator, dtype=dtype, **simulation)
    return nbody_graph(pos[frame_in], vel[frame_in], charges, pos[frame_out])


def nbody_graph(pos: torch.Tensor, vel: torch.Tensor, charges: torch.Tensor, target: torch.Tensor) -> NBodyBatch:
    """Systems given as tensors ``pos``, ``vel``, ``target`` ``[S, N, 3]`` and ``charges`` ``[S, N, 1]``
    as one fully connected graph batch (:class:`NBodyBatch`).

    >>> b = nbody_graph(torch.zeros(3, 4, 3), torch.zeros(3, 4, 3), torch.ones(3, 4, 1), torch.zeros(3, 4, 3))
    >>> b.pos.shape, b.edge_index.shape, b.num_graphs
    (torch.Size([12, 3]), torch.Size([2, 36]), 3)
    """
    num_systems, n = pos.shape[0], pos.shape[1]
    if pos.shape != (num_systems, n, 3) or vel.shape != pos.shape or target.shape != pos.shape \
            or charges.shape != (num_systems, n, 1):
        raise ValueError(f"nbody_graph: expected pos, vel, target [S, N, 3] and charges [S, N, 1], got "
                         f"{[list(t.shape) for t in (pos, vel, charges, target)]}")
    device = pos.device
    i, j = torch.meshgrid(torch.arange(n, device=device), torch.arange(n, device=device), indexing="ij")
    keep = i != j
    local = torch.stack([j[keep], i[keep]])  # [source, target], sorted by target
    offsets = torch.arange(num_systems, device=device).repeat_interleave(local.shape[1]) * n
    edge_index = local.repeat(1, num_systems) + offsets
    return NBodyBatch(
        pos=pos.reshape(-1, 3),
        vel=vel.reshape(-1, 3),
        charges=charges.reshape(-1, 1),
        target=target.reshape(-1, 3),
        edge_index=edge_index,
        batch=torch.arange(num_systems, device=device).repeat_interleave(n),
        num_graphs=num_systems,
    )


def load_nbody_arrays(folder: str, split: str, suffix: str = REFERENCE_SUFFIX, dtype: torch.dtype = torch.float64
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""The reference charged n-body arrays of one split, in :func:`simulate_charged_particles`' layout.

    Reads ``loc_{split}_{suffix}.npy`` ``[S, T, 3, N]``, ``vel_{split}_{suffix}.npy`` (same) and
    ``charges_{split}_{suffix}.npy`` ``[S, N, 1]`` (or ``[S, N]``) from ``folder``: the files the
    EGNN repository's ``n_body_system/dataset/generate_dataset.py`` writes (the SEGNN repository
    uses the same files). Returns ``(pos [T, S, N, 3], vel [T, S, N, 3], charges [S, N, 1])``.
    A missing file raises ``FileNotFoundError`` naming it and how to make it.
    """
    import os

    import numpy as np

    names = {k: os.path.join(folder, f"{k}_{split}_{suffix}.npy") for k in ("loc", "vel", "charges")}
    missing = [p for p in names.values() if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(
            f"missing n-body data file(s) {', '.join(missing)}; they are written by "
            f"`python -u generate_dataset.py --num-train 10000 --seed 43 --suffix small` in the EGNN repository's "
            f"n_body_system/dataset folder (github.com/vgsatorras/egnn), or leave the data folder empty to "
            f"simulate the systems with steertorch.data.simulate_charged_particles")
    loc, vel = (torch.from_numpy(np.load(names[k])).to(dtype) for k in ("loc", "vel"))
    charges = torch.from_numpy(np.load(names["charges"])).to(dtype)
    if loc.dim() != 4 or loc.shape[2] != 3 or vel.shape != loc.shape:
        raise ValueError(f"load_nbody_arrays: expected loc and vel [S, T, 3, N], got {list(loc.shape)}, "
                         f"{list(vel.shape)}")
    s, n = loc.shape[0], loc.shape[3]
    charges = charges.reshape(s, n, 1)
    return loc.permute(1, 0, 3, 2).contiguous(), vel.permute(1, 0, 3, 2).contiguous(), charges
