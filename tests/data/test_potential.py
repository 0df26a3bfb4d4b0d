"""EMT molecular-dynamics frames: shapes, the stored energies and forces are EMT's, determinism, the cache (keyed
on every argument, written atomically, read without running ASE) and the errors."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from steertorch.data import PotentialFrames, _potential, emt_md_frames

_SMALL = dict(num_frames=4, repeat=1, interval=2, equilibration=3)


def test_frames_hold_emt_energies_and_forces(tmp_path):
    pytest.importorskip("ase")
    from ase import Atoms
    from ase.calculators.emt import EMT

    frames = emt_md_frames(**_SMALL, cache_dir=tmp_path)
    assert isinstance(frames, PotentialFrames) and len(frames) == 4
    assert frames.pos.shape == (4, 4, 3) and frames.forces.shape == (4, 4, 3) and frames.energy.shape == (4,)
    assert frames.numbers.tolist() == [29] * 4 and bool(frames.pbc.all())
    assert torch.allclose(frames.cell, 3.61 * torch.eye(3, dtype=torch.float64))
    assert frames.pos.dtype == torch.float64
    assert float((frames.pos[1:] - frames.pos[:-1]).abs().max()) > 1e-3  # the atoms move
    for k in (0, 3):
        atoms = Atoms(numbers=frames.numbers.numpy(), positions=frames.pos[k].numpy(), cell=frames.cell.numpy(),
                      pbc=True)
        atoms.calc = EMT()
        assert atoms.get_potential_energy() == pytest.approx(float(frames.energy[k]), abs=1e-10)
        assert np.allclose(atoms.get_forces(), frames.forces[k].numpy(), atol=1e-10)
    sub = frames.subset(torch.tensor([3, 1]))
    assert torch.equal(sub.energy, frames.energy[[3, 1]]) and torch.equal(sub.cell, frames.cell)


def test_cache_is_keyed_and_read_without_ase(tmp_path, monkeypatch):
    pytest.importorskip("ase")
    first = emt_md_frames(**_SMALL, cache_dir=tmp_path)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 1 and files[0].endswith(".pt")  # no temporary file left
    other = emt_md_frames(**{**_SMALL, "seed": 1}, cache_dir=tmp_path)
    assert len(list(tmp_path.iterdir())) == 2 and not torch.equal(other.pos, first.pos)
    assert torch.equal(emt_md_frames(**_SMALL, cache=False).pos, first.pos)  # same seed, same frames

    def no_md(**kwargs):
        raise AssertionError("the cached frames should have been read")

    monkeypatch.setattr(_potential, "_generate", no_md)
    again = emt_md_frames(**_SMALL, cache_dir=tmp_path)
    for name in ("numbers", "cell", "pbc", "pos", "energy", "forces"):
        assert torch.equal(getattr(again, name), getattr(first, name)), name
    with pytest.raises(AssertionError, match="should have been read"):
        emt_md_frames(**{**_SMALL, "temperature": 300.0}, cache_dir=tmp_path)  # another key


def test_default_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("STEERTORCH_CACHE", str(tmp_path / "c"))
    assert _potential.default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("STEERTORCH_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert _potential.default_cache_dir() == tmp_path / "x" / "steertorch"


def test_errors(tmp_path, monkeypatch):
    pytest.importorskip("ase")
    with pytest.raises(ValueError, match="num_frames must be an int >= 1"):
        emt_md_frames(0, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="inconsistent shapes"):
        PotentialFrames(numbers=torch.tensor([29]), cell=torch.eye(3), pbc=torch.ones(3, dtype=torch.bool),
                        pos=torch.zeros(2, 1, 3), energy=torch.zeros(3), forces=torch.zeros(2, 1, 3))
    monkeypatch.setitem(sys.modules, "ase", None)
    with pytest.raises(ImportError, match="pip install ase"):
        emt_md_frames(**_SMALL, cache_dir=tmp_path)
