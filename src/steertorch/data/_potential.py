r"""Energies and forces of a periodic metal cell sampled by molecular dynamics: the data an interatomic
potential (NequIP, MACE) is trained on, generated locally with ASE's bundled EMT calculator.

:func:`emt_md_frames` builds a periodic fcc cell (default Cu, cubic cell 3.61 Angstrom repeated 2 x 2 x 2:
32 atoms), draws Maxwell-Boltzmann velocities and runs Langevin dynamics at ``temperature`` (timestep 2 fs,
friction 0.02 / fs), recording every ``interval``-th step after ``equilibration`` steps. Every frame holds the
positions, the EMT energy :math:`E` (eV) and forces :math:`F = -\partial E / \partial x` (eV / Angstrom). The
frames are cached (``torch.save``, loaded with ``weights_only=True``, written atomically) under a file name
that hashes every argument and the ASE version, in ``cache_dir`` (default ``$STEERTORCH_CACHE`` or
``~/.cache/steertorch``), so a second call returns the same frames without running ASE.

About 8 ms per MD step for 32 atoms on one CPU thread: the default 500 frames take some 20 seconds once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

__all__ = ["PotentialFrames", "emt_md_frames", "default_cache_dir"]

_FIELDS = ("numbers", "cell", "pbc", "pos", "energy", "forces")


def _require_ase() -> ModuleType:
    """``import ase``, or an ``ImportError`` saying how to install it."""
    try:
        import ase
    except ImportError as e:
        raise ImportError("this needs ASE (the atomic simulation environment): pip install ase "
                          "(or pip install 'steertorch[atoms]')") from e
    return ase


def default_cache_dir() -> Path:
    """``$STEERTORCH_CACHE`` if set, else ``$XDG_CACHE_HOME/steertorch`` (default ``~/.cache/steertorch``).

    >>> isinstance(default_cache_dir(), Path)
    True
    """
    if os.environ.get("STEERTORCH_CACHE"):
        return Path(os.environ["STEERTORCH_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "steertorch"


@dataclasses.dataclass
class PotentialFrames:
    r"""Frames of one periodic cell: ``numbers`` ``[N]`` atomic numbers, ``cell`` ``[3, 3]`` (lattice vectors as
    rows, Angstrom), ``pbc`` ``[3]`` bools, ``pos`` ``[F, N, 3]`` (Angstrom), ``energy`` ``[F]`` (eV), ``forces``
    ``[F, N, 3]`` (eV / Angstrom); float64.

    >>> f64 = torch.float64
    >>> f = PotentialFrames(numbers=torch.tensor([29]), cell=torch.eye(3, dtype=f64), pbc=torch.tensor([True] * 3),
    ...                     pos=torch.zeros(4, 1, 3, dtype=f64), energy=torch.zeros(4, dtype=f64),
    ...                     forces=torch.zeros(4, 1, 3, dtype=f64))
    >>> len(f), len(f.subset(torch.tensor([0, 2])))
    (4, 2)
    """

    numbers: torch.Tensor
    cell: torch.Tensor
    pbc: torch.Tensor
    pos: torch.Tensor
    energy: torch.Tensor
    forces: torch.Tensor

    def __post_init__(self) -> None:
        f, n = self.pos.shape[:2] if self.pos.dim() == 3 else (-1, -1)
        if self.pos.shape != (f, n, 3) or self.numbers.shape != (n,) or self.cell.shape != (3, 3) \
                or self.pbc.shape != (3,) or self.energy.shape != (f,) or self.forces.shape != (f, n, 3):
            shapes = {k: list(getattr(self, k).shape) for k in _FIELDS}
            raise ValueError(f"PotentialFrames: inconsistent shapes {shapes}")

    def __len__(self) -> int:
        return int(self.pos.shape[0])

    def subset(self, idx: torch.Tensor) -> PotentialFrames:
        """The frames ``idx``."""
        return dataclasses.replace(self, pos=self.pos[idx], energy=self.energy[idx], forces=self.forces[idx])


def _generate(element: str, a: float, repeat: int, temperature: float, num_frames: int, interval: int,
              equilibration: int, seed: int) -> PotentialFrames:
    _require_ase()
    from ase import units
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    atoms = bulk(element, "fcc", a=a, cubic=True).repeat((repeat, repeat, repeat))
    atoms.calc = EMT()
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)
        dyn = Langevin(atoms, 2 * units.fs, temperature_K=temperature, friction=0.02 / units.fs, fixcm=False,
                       rng=rng)
    dyn.run(equilibration)
    pos, energy, forces = [], [], []
    for _ in range(num_frames):
        dyn.run(interval)
        pos.append(atoms.get_positions())
        energy.append(atoms.get_potential_energy())
        forces.append(atoms.get_forces())
    return PotentialFrames(numbers=torch.as_tensor(atoms.numbers, dtype=torch.long),
                           cell=torch.as_tensor(np.asarray(atoms.cell), dtype=torch.float64),
                           pbc=torch.as_tensor(atoms.pbc, dtype=torch.bool),
                           pos=torch.as_tensor(np.stack(pos), dtype=torch.float64),
                           energy=torch.as_tensor(np.asarray(energy), dtype=torch.float64),
                           forces=torch.as_tensor(np.stack(forces), dtype=torch.float64))


def emt_md_frames(num_frames: int = 500, element: str = "Cu", a: float = 3.61, repeat: int = 2,
                  temperature: float = 600.0, interval: int = 5, equilibration: int = 100, seed: int = 0,
                  cache_dir: str | os.PathLike | None = None, cache: bool = True) -> PotentialFrames:
    r"""``num_frames`` frames of Langevin MD of a periodic fcc cell with ASE's EMT calculator (see the module
    docstring), cached in ``cache_dir``.

    Args:
        num_frames: frames recorded, one every ``interval`` MD steps of 2 fs after ``equilibration`` steps.
        element: an fcc metal EMT knows (Al, Cu, Ag, Au, Ni, Pd, Pt).
        a: cubic lattice constant (Angstrom); ``repeat``: the cubic 4-atom cell repeated ``repeat`` times along
            each axis (``4 repeat^3`` atoms).
        temperature: of the Langevin thermostat and the initial velocities (K).
        seed: of the initial velocities and the thermostat's noise.
        cache_dir: where the frames are kept (default :func:`default_cache_dir`); ``cache=False`` neither reads
            nor writes it.

    >>> frames = emt_md_frames(3, interval=2, equilibration=2, cache=False)  # doctest: +SKIP
    >>> frames.pos.shape, frames.energy.shape  # doctest: +SKIP
    (torch.Size([3, 32, 3]), torch.Size([3]))
    """
    ase = _require_ase()
    for name, v in (("num_frames", num_frames), ("repeat", repeat), ("interval", interval)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"emt_md_frames: {name} must be an int >= 1, got {v!r}")
    if isinstance(equilibration, bool) or not isinstance(equilibration, int) or equilibration < 0:
        raise ValueError(f"emt_md_frames: equilibration must be an int >= 0, got {equilibration!r}")
    args = dict(element=element, a=float(a), repeat=repeat, temperature=float(temperature), num_frames=num_frames,
                interval=interval, equilibration=equilibration, seed=int(seed))
    if not cache:
        return _generate(**args)
    key = json.dumps({**args, "ase": ase.__version__, "format": 1}, sort_keys=True)
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    file = folder / f"emt_md_{element}_{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt"
    if file.is_file():
        stored = torch.load(file, weights_only=True)
        if stored.get("key") == key:
            return PotentialFrames(**{k: stored[k] for k in _FIELDS})
    frames = _generate(**args)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=file.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save({"key": key, **{k: getattr(frames, k) for k in _FIELDS}}, f)
        os.replace(tmp, file)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return frames
