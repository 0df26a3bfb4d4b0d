r"""An ASE calculator running a steertorch energy model: molecular dynamics, relaxations and phonons in ASE
with a trained potential.

:class:`Calculator` computes the energy :math:`E` of an ``ase.Atoms`` with the model and the forces
:math:`F = -\partial E / \partial x` by autograd (:func:`~steertorch.models.energy_and_forces`), on a radius
graph that follows the atoms' cell and periodic boundary conditions. ASE is imported only here (optional
extra ``steertorch[atoms]``); ``import steertorch`` does not need it.

>>> import pytest; _ = pytest.importorskip("ase")
>>> from ase.build import bulk
>>> from steertorch.ase import Calculator
>>> from steertorch.models import TensorFieldNetwork
>>> atoms = bulk("Cu", "fcc", a=3.61, cubic=True)  # 4 atoms, periodic
>>> atoms.calc = Calculator(TensorFieldNetwork(lmax=1, mul=4, num_layers=1, r_max=3.0).double())
>>> atoms.get_forces().shape
(4, 3)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .data._potential import _require_ase
from .graph import radius_graph
from .models import energy_and_forces

__all__ = ["Calculator"]  # noqa: F822 - built on first access by __getattr__


_DOC = r"""``Calculator(model, r_max=None, species=None, device=None, dtype=None)``: an ASE calculator
(``implemented_properties = ["energy", "free_energy", "forces"]``) from an energy model.

The model is called as ``model(pos=pos, x=x, edge_index=edge_index, shifts=shifts, cell=cell)`` (the
signature of :class:`~steertorch.models.TensorFieldNetwork`) and returns the energy ``[1]`` or ``[1, 1]``
(eV, positions in Angstrom); ``edge_index`` / ``shifts`` are the radius graph of the atoms within ``r_max``
(default ``model.r_max``) under the atoms' ``cell`` and ``pbc``. With ``species`` (atomic numbers) the node
features ``x`` are the one-hot species ``[N, len(species)]``; without, ``x`` is not passed. The model runs in
``dtype`` (default: the dtype of its parameters) on ``device`` (default: where its parameters are).
"""


def _make_class(base: type) -> type:
    from ase.calculators.calculator import all_changes

    class _Calculator(base):  # type: ignore[misc, valid-type]
        implemented_properties = ["energy", "free_energy", "forces"]

        def __init__(self, model: torch.nn.Module, r_max: float | None = None, species: Sequence[int] | None = None,
                     device: torch.device | str | None = None, dtype: torch.dtype | None = None, **kwargs) -> None:
            super().__init__(**kwargs)
            if r_max is None:
                r_max = getattr(model, "r_max", None)
                if r_max is None:
                    raise ValueError("steertorch.ase.Calculator: give r_max (the model has no r_max attribute)")
            self.r_max = float(r_max)
            param = next(iter(model.parameters()), None)
            self.dtype = dtype or (param.dtype if param is not None else torch.get_default_dtype())
            self.device = torch.device(device) if device is not None else (
                param.device if param is not None else torch.device("cpu"))
            self.model = model.to(device=self.device, dtype=self.dtype).eval()
            self.species = None if species is None else [int(z) for z in species]

        def _features(self, numbers) -> torch.Tensor | None:
            if self.species is None:
                return None
            index = {z: i for i, z in enumerate(self.species)}
            unknown = sorted({int(z) for z in numbers} - set(index))
            if unknown:
                raise ValueError(f"steertorch.ase.Calculator: atomic numbers {unknown} are not among the model's "
                                 f"species {self.species}")
            idx = torch.tensor([index[int(z)] for z in numbers], device=self.device)
            return torch.nn.functional.one_hot(idx, len(self.species)).to(self.dtype)

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
            super().calculate(atoms, properties, system_changes)
            atoms = self.atoms
            pos = torch.as_tensor(atoms.get_positions(), dtype=self.dtype, device=self.device)
            kwargs: dict[str, object] = {}
            x = self._features(atoms.numbers)
            if x is not None:
                kwargs["x"] = x
            if atoms.pbc.any():
                cell = torch.as_tensor(atoms.cell.array, dtype=self.dtype, device=self.device)
                edge_index, shifts = radius_graph(pos, self.r_max, cell=cell, pbc=atoms.pbc.tolist())
                kwargs.update(shifts=shifts, cell=cell)
            else:
                edge_index = radius_graph(pos, self.r_max)
            energy, forces = energy_and_forces(self.model, pos, edge_index=edge_index, create_graph=False, **kwargs)
            e = float(energy.detach().sum())
            self.results = {"energy": e, "free_energy": e, "forces": forces.detach().cpu().double().numpy()}

    _Calculator.__name__ = _Calculator.__qualname__ = "Calculator"
    _Calculator.__module__ = __name__
    _Calculator.__doc__ = _DOC
    return _Calculator


def __getattr__(name: str) -> type:
    """``Calculator`` is built on first access, so that importing this module does not import ASE."""
    if name == "Calculator":
        _require_ase()
        from ase.calculators.calculator import Calculator as AseCalculator

        cls = _make_class(AseCalculator)
        globals()["Calculator"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
