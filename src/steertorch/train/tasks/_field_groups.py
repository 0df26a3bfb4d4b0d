"""The symmetry groups the broken-symmetry tasks (``nbody_field``, ``shapes``) choose between (no task here).

``group`` names a G-space on R^3: ``"o3"`` (:func:`~steertorch.gspaces.flipRot3dOnR3`, rotations and
reflections), ``"so3"`` (:func:`~steertorch.gspaces.rot3dOnR3`), ``"o2"`` (:func:`~steertorch.gspaces.conicalOnR3`,
rotations about z and mirrors through planes containing z) and ``"so2"`` (:func:`~steertorch.gspaces.rot2dOnR3`,
rotations about z).

>>> field_gspace("o2").fibergroup.name
'O(2)zv'
"""

from __future__ import annotations

from ...gspaces import conicalOnR3, flipRot3dOnR3, rot2dOnR3, rot3dOnR3

__all__ = ["FIELD_GROUPS", "field_gspace"]

FIELD_GROUPS = ("o3", "so3", "o2", "so2")

_FACTORIES = {"o3": flipRot3dOnR3, "so3": rot3dOnR3, "o2": conicalOnR3, "so2": rot2dOnR3}


def field_gspace(group: str):
    """The G-space named ``group`` (one of :data:`FIELD_GROUPS`)."""
    if group not in _FACTORIES:
        raise ValueError(f"unknown group {group!r}; choose one of {FIELD_GROUPS}")
    return _FACTORIES[group]()
