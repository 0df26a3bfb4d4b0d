r"""Wigner D matrices and Wigner 3j symbols of SO(3) in the real basis of e3nn.

- :func:`wigner_D` evaluates :math:`D^l(R)` from batched rotation matrices (or e3nn's Euler
  angles, turned into matrices) through the
  defining property of the harmonics, :math:`Y^l(R x) = D^l(R) Y^l(x)`, on a fixed
  well-conditioned set of points: no Euler angles, hence no gimbal-lock loss of accuracy,
  and exactly :math:`D^1(R) = R`.
- :func:`wigner_3j` is the invariant tensor of :math:`D^{l_1} \otimes D^{l_2} \otimes
  D^{l_3}` with unit Frobenius norm. The complex Clebsch-Gordan coefficients are computed
  exactly (integer arithmetic, Racah's formula written with binomials), then changed to the
  real basis with :math:`Q_l` (the real-to-complex map times :math:`(-i)^l`), which gives
  e3nn's phase (>= 0.5) at every degree.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from ._angles import angles_to_matrix
from ._rotation import axis_angle_to_matrix, check_rotation, quaternion_to_matrix
from ._spherical_harmonics import _sh_blocks

__all__ = ["wigner_D", "wigner_3j", "su2_clebsch_gordan", "change_basis_real_to_complex", "su2_generators",
           "so3_generators"]


# ----------------------------------------------------------------------------- Wigner D
@functools.cache
def _fit_points(l: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed points X ``[K, 3]`` on the sphere and the right pseudo-inverse of ``Y^l(X)``."""
    k = 2 * (2 * l + 1) + 2
    i = np.arange(k) + 0.5
    # Fibonacci points, slightly turned so that no point lies on a coordinate axis
    polar = np.arccos(1 - 2 * i / k)
    azim = np.pi * (1 + 5**0.5) * i + 0.3
    pts = np.stack([np.sin(polar) * np.cos(azim), np.sin(polar) * np.sin(azim), np.cos(polar)], -1)
    y = _sh_blocks(torch.from_numpy(pts.T.copy()), l, "component", True)[l].numpy()  # [2l+1, K]
    pinv = np.linalg.pinv(y)  # [K, 2l+1]
    return pts, pinv


@functools.lru_cache(maxsize=64)
def _fit_tensors(l: int, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    pts, pinv = _fit_points(l)
    return (torch.tensor(pts, dtype=dtype, device=device), torch.tensor(pinv, dtype=dtype, device=device))


def wigner_D(
    l: int,
    *args: torch.Tensor,
    R: torch.Tensor | None = None,
    alpha: torch.Tensor | None = None,
    beta: torch.Tensor | None = None,
    gamma: torch.Tensor | None = None,
    quaternion: torch.Tensor | None = None,
    axis_angle: tuple[torch.Tensor, torch.Tensor] | None = None,
    check: bool = True,
) -> torch.Tensor:
    r"""Wigner D matrix :math:`D^l(R)` ``[..., 2l+1, 2l+1]`` of batched rotations.

    Give the rotations as matrices, ``wigner_D(l, R)`` with ``R`` ``[..., 3, 3]``; or as e3nn's
    Euler angles, ``wigner_D(l, alpha, beta, gamma)`` (broadcast, :math:`R = R_y(\alpha) R_x(\beta)
    R_y(\gamma)`, see :func:`~steertorch.o3.angles_to_matrix`), with e3nn's values; or as unit
    quaternions ``quaternion=q`` ``[..., 4]`` (w, x, y, z), or as ``axis_angle=(axis, angle)``.
    ``R=``, ``alpha=, beta=, gamma=`` work as keywords too.
    Satisfies :math:`Y^l(R x) = D^l(R)\, Y^l(x)`, :math:`D^l(R_1 R_2) = D^l(R_1) D^l(R_2)`
    and :math:`D^1(R) = R`. A matrix that is not a rotation raises ``ValueError``
    (``check=False`` skips that test).

    >>> R = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    >>> torch.equal(wigner_D(1, R), R)
    True
    >>> wigner_D(2, R).shape
    torch.Size([5, 5])
    >>> a, b, c = torch.tensor([0.1, 0.2]), torch.tensor(0.3), torch.tensor(0.4)  # e3nn's form, broadcast
    >>> wigner_D(1, a, b, c).shape
    torch.Size([2, 3, 3])
    """
    if isinstance(l, bool) or not isinstance(l, int) or l < 0:
        raise ValueError(f"l must be an int >= 0, got {l!r}")
    if len(args) == 1:
        R = args[0] if R is None else _both("R")
    elif len(args) == 3:
        if alpha is not None or beta is not None or gamma is not None:
            _both("alpha, beta, gamma")
        alpha, beta, gamma = args
    elif args:
        raise ValueError(f"wigner_D takes (l, R) or (l, alpha, beta, gamma), got {1 + len(args)} positional arguments")
    angles = (alpha, beta, gamma)
    if any(t is not None for t in angles) and any(t is None for t in angles):
        raise ValueError("give all three angles alpha, beta, gamma")
    given = sum(v is not None for v in (R, alpha, quaternion, axis_angle))
    if given != 1:
        raise ValueError("give exactly one of R (matrices), alpha, beta, gamma (angles), quaternion= or axis_angle=")
    if alpha is not None:
        R = angles_to_matrix(alpha, beta, gamma)
    elif quaternion is not None:
        R = quaternion_to_matrix(quaternion)
    elif axis_angle is not None:
        R = axis_angle_to_matrix(*axis_angle)
    elif check:
        check_rotation(R)
    if l == 0:
        return torch.ones(*R.shape[:-2], 1, 1, dtype=R.dtype, device=R.device)
    if l == 1:
        return R.clone()  # a new tensor: writing to D^1 must not change R
    pts, pinv = _fit_tensors(l, R.dtype, R.device)
    batch = R.shape[:-2]
    rx = (R.reshape(-1, 3, 3) @ pts.T)  # [B, 3, K]: the rotated points
    b, k = rx.shape[0], rx.shape[2]
    xt = rx.transpose(0, 1).reshape(3, b * k)
    y = _sh_blocks(xt, l, "component", True)[l]  # [2l+1, B*K]
    y = y.reshape(2 * l + 1, b, k).transpose(0, 1)  # [B, 2l+1, K]
    return (y @ pinv).reshape(*batch, 2 * l + 1, 2 * l + 1)


def _both(what: str):
    raise ValueError(f"wigner_D: {what} given both by position and by keyword")


# ----------------------------------------------------------------------------- generators
def _complex_dtype(dtype: torch.dtype | None) -> torch.dtype:
    dtype = dtype or torch.get_default_dtype()
    if dtype.is_complex:
        return dtype
    return {torch.float64: torch.complex128, torch.float32: torch.complex64}.get(dtype, torch.complex64)


@functools.cache
def _su2_generators_numpy(j: float) -> np.ndarray:
    m = np.arange(-j, j + 1)
    up = np.sqrt(j * (j + 1) - m[:-1] * (m[:-1] + 1))  # J+ |m> = up |m + 1>
    raising = np.diag(-up, -1)  # e3nn's sign: J+ enters with a minus sign, below the diagonal
    lowering = np.diag(up, 1)
    return np.stack([0.5 * (raising + lowering), np.diag(1j * m), -0.5j * (raising - lowering)])


def su2_generators(j: float, dtype: torch.dtype | None = None,
                   device: torch.device | str | None = None) -> torch.Tensor:
    r"""e3nn's generators ``[3, 2j+1, 2j+1]`` of SU(2) in spin j, in the complex basis m = -j..j.

    With :math:`c_m = \sqrt{j(j+1) - m(m+1)}`, :math:`A = -\sum_m c_m E_{m+1, m}` (raising, with
    e3nn's sign) and :math:`B = \sum_m c_m E_{m, m+1}` (lowering):
    ``X[0]`` :math:`= \tfrac12 (A + B)`, ``X[1]`` :math:`= i\, \mathrm{diag}(m)`,
    ``X[2]`` :math:`= -\tfrac i2 (A - B)`. They are anti-Hermitian with
    :math:`[X_0, X_1] = X_2` (cyclically). ``j`` may be a half-integer. The dtype is the
    complex type of ``dtype`` (default: of the default dtype), as e3nn.

    >>> X = su2_generators(1)
    >>> X.shape, X.dtype
    (torch.Size([3, 3, 3]), torch.complex64)
    >>> bool(torch.allclose(X[0] @ X[1] - X[1] @ X[0], X[2]))
    True
    """
    if isinstance(j, bool) or not isinstance(j, (int, float)) or j < 0 or (2 * j) % 1:
        raise ValueError(f"j must be an integer or half-integer >= 0, got {j!r}")
    return torch.tensor(_su2_generators_numpy(float(j)), dtype=_complex_dtype(dtype), device=device)


def so3_generators(l: int, dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> torch.Tensor:
    r"""Real generators ``[3, 2l+1, 2l+1]`` of SO(3) in the real basis of degree l, as e3nn:
    :math:`X = Q_l^\dagger\, X^{SU(2)}\, Q_l` (:func:`su2_generators`, :func:`change_basis_real_to_complex`).

    They generate :func:`wigner_D`: :math:`D^l(\alpha, \beta, \gamma) = e^{\alpha X_1} e^{\beta X_0}
    e^{\gamma X_1}`; for l = 1, :math:`e^{t X_0} = R_x(t)`, :math:`e^{t X_1} = R_y(t)`, :math:`e^{t X_2} = R_z(t)`.

    >>> X = so3_generators(1, dtype=torch.float64)
    >>> a, b = torch.tensor(0.0, dtype=torch.float64), torch.tensor(0.3, dtype=torch.float64)
    >>> R = wigner_D(1, a, b, a)  # about x
    >>> bool(torch.allclose(torch.linalg.matrix_exp(0.3 * X[0]), R))
    True
    """
    if isinstance(l, bool) or not isinstance(l, int) or l < 0:
        raise ValueError(f"l must be an int >= 0, got {l!r}")
    q = _q_real_to_complex(l)
    x = q.conj().T @ _su2_generators_numpy(float(l)) @ q
    return torch.tensor(x.real.copy(), dtype=dtype or torch.get_default_dtype(), device=device)


# ----------------------------------------------------------------------------- 3j symbols
@functools.cache
def _factorial(n: int) -> int:
    return math.factorial(n)


def _su2_cg_coefficient(j1: int, m1: int, j2: int, m2: int, j3: int) -> float:
    r"""Complex Clebsch-Gordan coefficient :math:`\langle j_1 m_1 j_2 m_2 | j_3, m_1 + m_2\rangle`
    (Condon-Shortley), exact up to the final square root and rounding to float."""
    m3 = m1 + m2
    a, b, c = j1 + j2 - j3, j1 - j2 + j3, -j1 + j2 + j3
    s = 0
    for k in range(max(0, j1 - m1 - b, j2 + m2 - c), min(a, j1 - m1, j2 + m2) + 1):
        term = math.comb(a, k) * math.comb(b, j1 - m1 - k) * math.comb(c, j2 + m2 - k)
        s += -term if k % 2 else term
    if s == 0:
        return 0.0
    f = _factorial
    num = (2 * j3 + 1) * f(j3 + m3) * f(j3 - m3) * f(j1 - m1) * f(j1 + m1) * f(j2 - m2) * f(j2 + m2)
    den = f(j1 + j2 + j3 + 1) * f(a) * f(b) * f(c)
    return s * math.sqrt(num / den)


@functools.cache
def _su2_cg_numpy(j1: int, j2: int, j3: int) -> np.ndarray:
    out = np.zeros((2 * j1 + 1, 2 * j2 + 1, 2 * j3 + 1))
    for m1 in range(-j1, j1 + 1):
        for m2 in range(max(-j2, -j3 - m1), min(j2, j3 - m1) + 1):
            out[j1 + m1, j2 + m2, j3 + m1 + m2] = _su2_cg_coefficient(j1, m1, j2, m2, j3)
    return out


def su2_clebsch_gordan(j1: int, j2: int, j3: int) -> torch.Tensor:
    r"""Complex-basis Clebsch-Gordan coefficients :math:`\langle j_1 m_1 j_2 m_2 | j_3 m_3 \rangle`
    ``[2j1+1, 2j2+1, 2j3+1]`` (float64, Condon-Shortley phase, indices m + j), for integer j.

    >>> round(float(su2_clebsch_gordan(1, 1, 0)[2, 0, 0]) ** 2, 12)  # <1 1; 1 -1 | 0 0>^2 = 1/3
    0.333333333333
    """
    _check_triangle(j1, j2, j3)
    return torch.from_numpy(_su2_cg_numpy(j1, j2, j3).copy())


@functools.cache
def _q_real_to_complex(l: int) -> np.ndarray:
    q = np.zeros((2 * l + 1, 2 * l + 1), dtype=np.complex128)
    r = 2**-0.5
    for m in range(-l, 0):
        q[l + m, l + abs(m)] = r
        q[l + m, l - abs(m)] = -1j * r
    q[l, l] = 1
    for m in range(1, l + 1):
        q[l + m, l + m] = (-1) ** m * r
        q[l + m, l - m] = 1j * (-1) ** m * r
    return (-1j) ** l * q


def change_basis_real_to_complex(l: int, dtype: torch.dtype | None = None,
                                 device: torch.device | str | None = None) -> torch.Tensor:
    r"""The unitary :math:`Q_l` ``[2l+1, 2l+1]`` with the real basis in its columns:
    row m of :math:`Q_l` expresses the complex harmonic of order m - l ... l in real ones,
    times :math:`(-i)^l` (the phase that makes the real 3j symbols real).

    As e3nn, the dtype is the complex type of ``dtype`` (complex64 for float32, complex128 for
    float64; default: of the default dtype). The values are computed in complex128.

    >>> Q = change_basis_real_to_complex(2, dtype=torch.float64)
    >>> bool(torch.allclose(Q.conj().T @ Q, torch.eye(5, dtype=torch.complex128)))
    True
    """
    if isinstance(l, bool) or not isinstance(l, int) or l < 0:
        raise ValueError(f"l must be an int >= 0, got {l!r}")
    return torch.tensor(_q_real_to_complex(l), dtype=_complex_dtype(dtype), device=device)


def _check_triangle(l1: int, l2: int, l3: int) -> None:
    for v in (l1, l2, l3):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"degrees must be ints >= 0, got ({l1!r}, {l2!r}, {l3!r})")
    if not abs(l1 - l2) <= l3 <= l1 + l2:
        raise ValueError(f"degrees ({l1}, {l2}, {l3}) violate the triangle rule |l1 - l2| <= l3 <= l1 + l2")


@functools.cache
def _wigner_3j_numpy(l1: int, l2: int, l3: int) -> np.ndarray:
    c = _su2_cg_numpy(l1, l2, l3)
    q1, q2, q3 = _q_real_to_complex(l1), _q_real_to_complex(l2), _q_real_to_complex(l3)
    # C_real[j, l, m] = sum_{i,k,n} Q1[i, j] Q2[k, l] conj(Q3[n, m]) C[i, k, n]
    t = np.tensordot(q1, c, axes=([0], [0]))  # [j, k, n]
    t = np.tensordot(q2, t, axes=([0], [1]))  # [l, j, n]
    t = np.tensordot(t, q3.conj(), axes=([2], [0]))  # [l, j, m]
    real = t.transpose(1, 0, 2).real.copy()
    return real / np.linalg.norm(real)


def wigner_3j(l1: int, l2: int, l3: int, dtype: torch.dtype | None = None,
              device: torch.device | str | None = None) -> torch.Tensor:
    r"""Wigner 3j symbols :math:`C` ``[2l1+1, 2l2+1, 2l3+1]`` in the real basis, equal to e3nn's.

    .. math::

        C_{lmn} = C_{ijk} D^{l_1}_{il}(R) D^{l_2}_{jm}(R) D^{l_3}_{kn}(R), \qquad
        \sum_{ijk} C_{ijk}^2 = 1.

    Exact at any degree (no cap) and cached.

    >>> C = wigner_3j(1, 1, 0, dtype=torch.float64)
    >>> bool(torch.allclose(C[:, :, 0], torch.eye(3, dtype=torch.float64) / 3**0.5))
    True
    """
    _check_triangle(l1, l2, l3)
    return torch.tensor(_wigner_3j_numpy(l1, l2, l3), dtype=dtype or torch.get_default_dtype(), device=device)
