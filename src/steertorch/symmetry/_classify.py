r"""Name a finite group of orthogonal 3 x 3 matrices (Schoenflies symbol) and find its standard frame.

The flowchart: two or more 3-fold axes make a cubic group (T, Th, Td, O, Oh) or, with 5-fold axes,
an icosahedral one (I, Ih). Otherwise n, the highest order of a rotation axis, is the principal
order: the rotations form C_n (order n) or D_n (order 2n, n perpendicular 2-fold axes); an improper
element gives C_nh / D_nh when the mirror perpendicular to the principal axis is present, else
C_nv / D_nd when some mirror is present, else S_2n (Ci for n = 1).
"""

from __future__ import annotations

import numpy as np
import torch

from ._standard import standard_elements

__all__ = ["classify_elements"]

_MATCH = 0.3  # distinct elements of a point group with rotation orders <= 8 are > 0.7 apart (Frobenius)


def _proper_part(m: np.ndarray) -> np.ndarray:
    return m * np.sign(np.linalg.det(m))[:, None, None]


def _axes_and_angles(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit axis and angle in [0, pi] of the proper part of each matrix (axis arbitrary for the identity)."""
    p = _proper_part(m)
    angle = np.arccos(np.clip((np.trace(p, axis1=1, axis2=2) - 1) / 2, -1.0, 1.0))
    _, _, vh = np.linalg.svd(p - np.eye(3))
    return vh[:, -1], angle


def _distinct_axes(axes: np.ndarray, orders: np.ndarray) -> list[tuple[np.ndarray, int]]:
    """Axes up to sign, each with the highest order found for it, highest order first."""
    out: list[list] = []
    for a, n in zip(axes, orders):
        for entry in out:
            if abs(float(entry[0] @ a)) > 0.99:
                entry[1] = max(entry[1], n)
                break
        else:
            out.append([a, n])
    out.sort(key=lambda e: -e[1])
    return [(a, int(n)) for a, n in out]


def _same_set(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape:
        return False
    d = np.linalg.norm(a.reshape(-1, 1, 9) - b.reshape(1, -1, 9), axis=-1)
    return bool((d.min(axis=1) < _MATCH).all() and (d.min(axis=0) < _MATCH).all())


def _name(m: np.ndarray) -> tuple[str, list[np.ndarray]]:
    """Schoenflies symbol and the candidate principal axes."""
    det = np.linalg.det(m)
    proper = m[det > 0]
    improper = m[det < 0]
    n_rot = len(proper)
    axes, angles = _axes_and_angles(proper)
    moving = angles > 1e-3
    orders = np.where(moving, np.round(2 * np.pi / np.maximum(angles, 1e-3)), 1).astype(int)
    rot_axes = _distinct_axes(axes[moving], orders[moving])
    has_inversion = bool(len(improper)) and bool((np.abs(improper + np.eye(3)).reshape(len(improper), -1).max(-1)
                                                  < _MATCH).any())
    mirrors = [g for g in improper if np.trace(g) > 0.95]  # trace 1: -g is a half turn
    normals = [_axes_and_angles(-g[None])[0][0] for g in mirrors]
    n3 = sum(1 for _, k in rot_axes if k == 3)
    n5 = sum(1 for _, k in rot_axes if k == 5)
    if n5 > 1:
        return ("Ih" if len(improper) else "I"), [a for a, k in rot_axes if k == 2]
    if n3 > 1:
        if n_rot == 24:
            return ("Oh" if len(improper) else "O"), [a for a, k in rot_axes if k == 4]
        c2 = [a for a, k in rot_axes if k == 2]
        if not len(improper):
            return "T", c2
        return ("Th" if has_inversion else "Td"), c2
    n = rot_axes[0][1] if rot_axes else 1
    principal = [a for a, k in rot_axes if k == n]
    if n == 1:
        if not len(improper):
            return "C1", []
        return ("Ci", []) if has_inversion else ("Cs", normals)
    dihedral = n_rot == 2 * n
    stem = f"D{n}" if dihedral else f"C{n}"
    if not len(improper):
        return stem, principal
    for z in principal:
        if any(abs(float(z @ v)) > 0.99 for v in normals):
            return stem + "h", [z] + [a for a in principal if a is not z]
    if normals:
        return stem + ("d" if dihedral else "v"), principal
    return (f"S{2 * n}", principal)


def classify_elements(elements: torch.Tensor | np.ndarray) -> tuple[str, torch.Tensor]:
    r"""The Schoenflies symbol of a finite group of orthogonal matrices ``[|G|, 3, 3]``, and the rotation
    ``frame`` (``[3, 3]``, float64, det +1) taking it to the standard group of that name:
    :math:`\{F g F^\top\}` = ``standard_elements(name)``.

    The matrices may be approximate (within about 0.1), as found from a noisy structure.

    >>> from steertorch.o3 import rand_matrix
    >>> R = rand_matrix(dtype=torch.float64)
    >>> elements = R.T @ standard_elements("D3d") @ R
    >>> name, frame = classify_elements(elements)
    >>> aligned = frame @ elements @ frame.T  # the standard D3d, element for element up to order
    >>> name, bool(torch.cdist(aligned.flatten(1), standard_elements("D3d").flatten(1)).min(1).values.max() < 1e-6)
    ('D3d', True)
    """
    m = np.asarray(torch.as_tensor(elements, dtype=torch.float64).detach().cpu(), dtype=np.float64)
    if m.ndim != 3 or m.shape[1:] != (3, 3) or len(m) == 0:
        raise ValueError(f"elements must be matrices [|G|, 3, 3], got {list(m.shape)}")
    name, zs = _name(m)
    target = standard_elements(name).numpy()
    if len(target) != len(m):
        raise ValueError(f"the {len(m)} matrices look like {name} (order {len(target)}): not a closed group")
    # candidate x axes: rotation axes, mirror normals and their products with z
    axes, angles = _axes_and_angles(m)
    special = list(axes[angles > 1e-3]) + list(axes[(np.linalg.det(m) < 0)])
    zs = list(zs) or [np.array([0.0, 0.0, 1.0])]
    for z in zs:
        z = z / np.linalg.norm(z)
        perp = [a - (a @ z) * z for a in special]
        cands = [p for p in perp if np.linalg.norm(p) > 0.5] + [np.cross(z, p) for p in perp if np.linalg.norm(p) > 0.5]
        helper = np.eye(3)[int(np.argmin(np.abs(z)))]
        cands.append(np.cross(z, helper))
        for x in cands:
            x = x - (x @ z) * z
            x = x / np.linalg.norm(x)
            for sz in (1.0, -1.0):
                zz = sz * z
                frame = np.stack([x, np.cross(zz, x), zz])
                if _same_set(frame @ m @ frame.T, target):
                    return name, torch.from_numpy(frame)
    raise RuntimeError(f"found the group {name} but no frame aligning it with the standard {name}")
