r"""The initial states of the published charged n-body data set, drawn again from numpy's seeded generator.

The EGNN and SEGNN papers train and test on one data set made by the EGNN repository's
``generate_dataset.py --simulation charged --num-train 10000 --seed 43 --suffix small``: after
``np.random.seed(43)``, 10,000 training, then 2,000 validation, then 2,000 test systems, each drawn
by these calls of numpy's legacy global generator, in this order:

1. the charges, ``choice([-1, 0, 1], size=(5, 1), p=[1/2, 0, 1/2])``;
2. the positions, ``randn(3, 5)`` (standard deviation 1, x of the five particles first);
3. the velocities, ``randn(3, 5)``, each particle's scaled to norm 0.5;
4. two noise arrays ``randn(49, 3, 5)`` (49 saved frames of a 5,000-step trajectory), multiplied by
   a noise variance of 0 but drawn all the same.

Positions beyond the box ``[-5, 5]`` are then reflected into it with their velocity component
pointed inwards (at the start only). numpy's legacy generator (``RandomState``) keeps its stream
across versions, so these draws give the published initial states exactly; integrated by
:func:`~steertorch.data.simulate_charged_particles` they give the published trajectories up to the
last bits of float64 (the two integrations order their sums differently; a chaotic close encounter
can grow that difference).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["reference_initial_states", "REFERENCE_SPLITS"]

#: the published set's split sizes, in the order they were drawn
REFERENCE_SPLITS = (("train", 10_000), ("valid", 2_000), ("test", 2_000))


def _reflect(loc: np.ndarray, vel: np.ndarray, box: float) -> None:
    """Reflect coordinates beyond ``[-box, box]`` into it, velocities pointing inwards (in place)."""
    over = loc > box
    loc[over] = 2 * box - loc[over]
    vel[over] = -np.abs(vel[over])
    under = loc < -box
    loc[under] = -2 * box - loc[under]
    vel[under] = np.abs(vel[under])


def reference_initial_states(seed: int = 43, splits: tuple[tuple[str, int], ...] = REFERENCE_SPLITS,
                             num_particles: int = 5, saved_frames: int = 49, loc_std: float = 1.0,
                             vel_norm: float = 0.5, box: float = 5.0) -> dict[str, tuple[torch.Tensor, ...]]:
    r"""Initial states of the published data set's systems (see the module docstring for the draws).

    Args:
        seed: the generator's seed (43 for the published set).
        splits: ``(name, number of systems)`` in the order they are drawn.
        num_particles, saved_frames: particles per system and frames saved per trajectory (the size of the
            noise draws: 49 for 5,000 steps saved every 100).
        loc_std, vel_norm, box: position scale, speed and half-width of the box.

    Returns:
        ``{name: (pos [S, N, 3], vel [S, N, 3], charges [S, N, 1])}``, float64, for
        :func:`~steertorch.data.simulate_charged_particles` (``initial=``).

    >>> states = reference_initial_states(splits=(("train", 2),))
    >>> pos, vel, charges = states["train"]
    >>> pos.shape, sorted(set(charges.flatten().tolist()))
    (torch.Size([2, 5, 3]), [-1.0, 1.0])
    >>> bool(torch.allclose(vel.norm(dim=-1), torch.full((2, 5), 0.5, dtype=torch.float64)))
    True
    """
    rng = np.random.RandomState(seed)
    charge_types = np.array([-1.0, 0.0, 1.0])
    out = {}
    for name, count in splits:
        pos = np.empty((count, num_particles, 3))
        vel = np.empty((count, num_particles, 3))
        charges = np.empty((count, num_particles, 1))
        for s in range(count):
            charges[s] = rng.choice(charge_types, size=(num_particles, 1), p=[0.5, 0.0, 0.5])
            loc = rng.randn(3, num_particles) * loc_std
            v = rng.randn(3, num_particles)
            v = v * vel_norm / np.sqrt((v**2).sum(axis=0)).reshape(1, -1)
            _reflect(loc, v, box)
            rng.randn(saved_frames, 3, num_particles)  # the noise draws (times a variance of 0)
            rng.randn(saved_frames, 3, num_particles)
            pos[s], vel[s] = loc.T, v.T
        out[name] = (torch.from_numpy(pos), torch.from_numpy(vel), torch.from_numpy(charges))
    return out
