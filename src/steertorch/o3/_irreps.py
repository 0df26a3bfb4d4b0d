r"""``Irrep`` and ``Irreps``: irreducible representations of O(3) and their direct sums, as in e3nn.

An irrep is (l, p): degree l >= 0 and parity p = +1 ("e", even) or -1 ("o", odd) under
the inversion -I. Features are laid out "mul_ir": each block ``mul x ir`` is
``[mul, 2l + 1]`` flattened, blocks concatenated in order.

For an orthogonal matrix g with d = det g, :math:`D^{(l, p)}(g) = p^{(1 - d)/2}\, D^l(d\, g)`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence

import torch

from ..group._angles import angles_to_matrix
from ..group._irreps_parse import parse_irrep, parse_irreps
from ..group._rotation import axis_angle_to_matrix, check_orthogonal, quaternion_to_matrix
from ..group._wigner import wigner_D

__all__ = ["Irrep", "MulIr", "Irreps"]


class Irrep(tuple):
    """An O(3) irrep (l, p). Built from ``"1o"``, ``(1, -1)``, ``Irrep(1, -1)``.

    >>> Irrep("1o"), Irrep(2, 1).dim, Irrep("1o") * Irrep("1o")
    (1o, 5, [0e, 1e, 2e])
    """

    def __new__(cls, l: int | str | tuple | Irrep, p: int | None = None) -> Irrep:
        if isinstance(l, Irrep):
            return l
        if isinstance(l, str):
            if p is not None:
                raise ValueError(f"Irrep({l!r}, {p!r}): give a string alone or (l, p)")
            l, p = parse_irrep(l)
        elif isinstance(l, tuple):
            if p is not None or len(l) != 2:
                raise ValueError(f"expected an irrep (l, p), got {l!r}")
            l, p = l
        if isinstance(l, bool) or not isinstance(l, int) or l < 0:
            raise ValueError(f"irrep degree l must be an int >= 0, got {l!r}")
        if p not in (1, -1):
            raise ValueError(f"irrep parity p must be 1 or -1, got {p!r}")
        return super().__new__(cls, (l, p))

    @property
    def l(self) -> int:  # noqa: E743
        """The degree."""
        return self[0]

    @property
    def p(self) -> int:
        """The parity, +1 or -1."""
        return self[1]

    @property
    def dim(self) -> int:
        """2l + 1."""
        return 2 * self[0] + 1

    def is_scalar(self) -> bool:
        """True for 0e."""
        return self == (0, 1)

    def __repr__(self) -> str:
        return f"{self.l}{'e' if self.p == 1 else 'o'}"

    def __mul__(self, other: object):
        """Irrep * Irrep: the irreps in the tensor product, |l1 - l2| <= l <= l1 + l2, parity p1 p2."""
        if isinstance(other, Irrep):
            p = self.p * other.p
            return [Irrep(l, p) for l in range(abs(self.l - other.l), self.l + other.l + 1)]
        if isinstance(other, int):
            return Irreps([(other, self)])
        return NotImplemented

    def __rmul__(self, other: object):
        if isinstance(other, int):
            return Irreps([(other, self)])
        return NotImplemented

    def __add__(self, other: object) -> Irreps:
        return Irreps(self) + Irreps(other)

    def D_from_matrix(self, R: torch.Tensor) -> torch.Tensor:
        """:math:`D^{(l, p)}(R)` ``[..., 2l+1, 2l+1]`` for orthogonal matrices R (rotations or not).

        >>> torch.equal(Irrep("1o").D_from_matrix(-torch.eye(3)), -torch.eye(3))  # vectors flip
        True
        >>> torch.equal(Irrep("1e").D_from_matrix(-torch.eye(3)), torch.eye(3))  # pseudovectors do not
        True
        """
        check_orthogonal(R, 3)
        d = torch.sign(torch.linalg.det(R))[..., None, None]
        out = wigner_D(self.l, R * d, check=False)
        return out * d if self.p == -1 else out

    def _parity_power(self, k: object, like: torch.Tensor) -> torch.Tensor | None:
        """:math:`p^k` ``[..., 1, 1]`` for a number of inversions k (None if k is None or p = +1)."""
        if k is None or self.p == 1:
            return None
        k = torch.as_tensor(k, device=like.device)
        return (1 - 2 * torch.remainder(k, 2)).to(like.dtype)[..., None, None]

    def D_from_angles(self, alpha: torch.Tensor, beta: torch.Tensor, gamma: torch.Tensor,
                      k: torch.Tensor | None = None) -> torch.Tensor:
        r""":math:`p^k D^l(\alpha, \beta, \gamma)` ``[..., 2l+1, 2l+1]``, as e3nn: the rotation
        :math:`R_y(\alpha) R_x(\beta) R_y(\gamma)` (see :func:`~steertorch.o3.angles_to_matrix`),
        then k inversions (``k`` broadcast with the angles; None means 0).

        >>> a = torch.tensor(0.3)
        >>> torch.equal(Irrep("1o").D_from_angles(a, a, a, k=torch.tensor(1)), -Irrep("1e").D_from_angles(a, a, a))
        True
        """
        return self._with_parity(wigner_D(self.l, angles_to_matrix(alpha, beta, gamma), check=False), k)

    def _with_parity(self, D: torch.Tensor, k: object) -> torch.Tensor:
        sign = self._parity_power(k, D)
        if sign is None:
            return D
        D, sign = torch.broadcast_tensors(D, sign)
        return D * sign

    def D_from_quaternion(self, q: torch.Tensor, k: torch.Tensor | None = None) -> torch.Tensor:
        """:math:`p^k D^l(R(q))` for quaternions ``q`` ``[..., 4]`` (w, x, y, z).

        >>> Irrep("2e").D_from_quaternion(torch.tensor([1.0, 0.0, 0.0, 0.0])).shape
        torch.Size([5, 5])
        """
        return self._with_parity(wigner_D(self.l, quaternion_to_matrix(q), check=False), k)

    def D_from_axis_angle(self, axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
        """:math:`D^l` of the rotation by ``angle`` about ``axis`` (no parity: a rotation).

        >>> torch.equal(Irrep("0o").D_from_axis_angle(torch.tensor([0.0, 0.0, 1.0]), torch.tensor(1.0)),
        ...             torch.ones(1, 1))
        True
        """
        return wigner_D(self.l, axis_angle_to_matrix(axis, angle), check=False)

    @staticmethod
    def iterator(lmax: int | None = None) -> Iterator[Irrep]:
        """0e, 0o, 1o, 1e, 2e, 2o, ... up to lmax (for ever if None)."""
        for l in itertools.count():
            if lmax is not None and l > lmax:
                return
            yield Irrep(l, (-1) ** l)
            yield Irrep(l, -((-1) ** l))


class MulIr(tuple):
    """``mul x ir``: a multiplicity and an irrep.

    >>> MulIr(3, "1o"), MulIr(3, "1o").dim
    (3x1o, 9)
    """

    def __new__(cls, mul: int, ir: Irrep | str | tuple | None = None) -> MulIr:
        if ir is None:
            mul, ir = mul
        if isinstance(mul, bool) or not isinstance(mul, int) or mul < 0:
            raise ValueError(f"multiplicity must be an int >= 0, got {mul!r}")
        return super().__new__(cls, (mul, Irrep(ir)))

    @property
    def mul(self) -> int:
        return self[0]

    @property
    def ir(self) -> Irrep:
        return self[1]

    @property
    def dim(self) -> int:
        return self.mul * self.ir.dim

    def __repr__(self) -> str:
        return f"{self.mul}x{self.ir}"


class Irreps(tuple):
    """A direct sum of O(3) irreps with multiplicities: ``Irreps("16x0e + 8x1o + 4x2e")``.

    >>> irreps = Irreps("16x0e + 8x1o + 4x2e")
    >>> irreps.dim, irreps.num_irreps, irreps.lmax, irreps.ls[:3]
    (60, 28, 2, [0, 0, 0])
    >>> irreps.slices()[1]
    slice(16, 40, None)
    >>> (Irreps("1o + 0e + 1o").sort().irreps.simplify())
    1x0e+2x1o
    """

    def __new__(cls, irreps: object = None) -> Irreps:
        if isinstance(irreps, Irreps):
            return super().__new__(cls, irreps)
        if irreps is None:
            items: list[MulIr] = []
        elif isinstance(irreps, Irrep):
            items = [MulIr(1, irreps)]
        elif isinstance(irreps, str):
            items = [MulIr(mul, ir) for mul, ir in parse_irreps(irreps)]
        else:
            items = []
            try:
                seq = list(irreps)  # type: ignore[call-overload]
            except TypeError:
                raise ValueError(f"expected irreps as a string like '8x0e + 4x1o' or a list, got {irreps!r}") from None
            for item in seq:
                if isinstance(item, MulIr):
                    items.append(item)
                elif isinstance(item, Irrep):
                    items.append(MulIr(1, item))
                elif isinstance(item, str):
                    items.extend(MulIr(m, ir) for m, ir in parse_irreps(item))
                elif isinstance(item, (tuple, list)) and len(item) == 2:
                    # as e3nn, a pair is always (mul, irrep): (32, 1) is an error, not the irrep 32e
                    try:
                        items.append(MulIr(item[0], Irrep(item[1])))
                    except (ValueError, TypeError):
                        raise ValueError(f"cannot read {item!r} as (mul, irrep) in irreps {irreps!r}: a pair is "
                                         "(mul, irrep) as in e3nn, e.g. (32, '1o') or (32, (1, -1))") from None
                else:
                    raise ValueError(f"cannot read {item!r} as (mul, irrep) in irreps {irreps!r}")
        return super().__new__(cls, items)

    # ----------------------------------------------------------------- sizes
    @property
    def dim(self) -> int:
        """Total size of a feature vector."""
        return sum(mi.dim for mi in self)

    @property
    def num_irreps(self) -> int:
        """Total multiplicity."""
        return sum(mi.mul for mi in self)

    @property
    def ls(self) -> list[int]:
        """The degree of every copy, repeated by multiplicity."""
        return [mi.ir.l for mi in self for _ in range(mi.mul)]

    @property
    def lmax(self) -> int:
        if len(self) == 0:
            raise ValueError("lmax of empty irreps")
        return max(mi.ir.l for mi in self)

    def slices(self) -> list[slice]:
        """The slice of each block in a feature vector."""
        out, i = [], 0
        for mi in self:
            out.append(slice(i, i + mi.dim))
            i += mi.dim
        return out

    # ----------------------------------------------------------------- queries
    def count(self, ir: object) -> int:
        """Total multiplicity of ``ir``."""
        ir = Irrep(ir)
        return sum(mi.mul for mi in self if mi.ir == ir)

    def __contains__(self, ir: object) -> bool:
        try:
            ir = Irrep(ir)
        except ValueError:
            return False
        return any(mi.ir == ir for mi in self)

    def __getitem__(self, i):
        out = super().__getitem__(i)
        return Irreps(out) if isinstance(i, slice) else out

    @property
    def slice_by_mul(self) -> _MulSlicer:
        """Slice by copies rather than blocks: ``irreps.slice_by_mul[a:b]`` keeps copies a..b-1 (as e3nn).

        >>> Irreps("3x0e + 2x1o").slice_by_mul[2:4]
        1x0e+1x1o
        """
        return _MulSlicer(self)

    # ----------------------------------------------------------------- constructions
    def __add__(self, other: object) -> Irreps:
        return Irreps(tuple(self) + tuple(Irreps(other)))

    def __radd__(self, other: object) -> Irreps:
        return Irreps(other) + self

    def __mul__(self, other: object) -> Irreps:
        """``irreps * n``: the list repeated n times, as e3nn (``(Irreps("2x1e") * 3).simplify() == "6x1e"``).

        >>> Irreps("0e + 1o") * 2
        1x0e+1x1o+1x0e+1x1o
        """
        if isinstance(other, Irreps):
            raise ValueError("use o3.FullTensorProduct for the tensor product of two Irreps")
        if isinstance(other, int) and not isinstance(other, bool):
            return Irreps(tuple(self) * other)
        return NotImplemented

    __rmul__ = __mul__

    def simplify(self) -> Irreps:
        """Merge consecutive blocks of the same irrep and drop zero multiplicities (keeps the order)."""
        out: list[list] = []
        for mul, ir in self:
            if mul == 0:
                continue
            if out and out[-1][1] == ir:
                out[-1][0] += mul
            else:
                out.append([mul, ir])
        return Irreps([(m, ir) for m, ir in out])

    def remove_zero_multiplicities(self) -> Irreps:
        return Irreps([(m, ir) for m, ir in self if m > 0])

    def sort(self):
        """Sort the blocks by (l, p) (odd before even at equal l), stably, as e3nn.

        Returns ``(irreps, p, inv)``: block j goes to position ``p[j]``; sorted block i came
        from block ``inv[i]``.
        """
        from collections import namedtuple

        keys = [(ir.l, ir.p) for _, ir in self]
        inv = tuple(sorted(range(len(self)), key=lambda i: keys[i]))
        p = [0] * len(inv)
        for i, j in enumerate(inv):
            p[j] = i
        result = namedtuple("sort", ["irreps", "p", "inv"])
        return result(irreps=Irreps([self[i] for i in inv]), p=tuple(p), inv=inv)

    def regroup(self) -> Irreps:
        """Sort and simplify."""
        return self.sort().irreps.simplify()

    def filter(self, keep: object = None, *, drop: object = None, lmax: int | None = None,
               parity: int | None = None) -> Irreps:
        """Keep the blocks whose irrep is in ``keep`` (irreps or a predicate), drop those in ``drop``,
        and those above ``lmax`` or of the other ``parity``.

        >>> Irreps("2x0e + 1o + 2e").filter(lmax=1)
        2x0e+1x1o
        """

        def as_test(spec):
            if spec is None:
                return None
            if callable(spec) and not isinstance(spec, (Irreps, Irrep, str)):
                return spec
            allowed = {mi.ir for mi in Irreps(spec)} if not isinstance(spec, Irrep) else {spec}
            return lambda mi: mi.ir in allowed

        k, d = as_test(keep), as_test(drop)
        out = []
        for mi in self:
            if k is not None and not k(mi):
                continue
            if d is not None and d(mi):
                continue
            if lmax is not None and mi.ir.l > lmax:
                continue
            if parity is not None and mi.ir.p != parity:
                continue
            out.append(mi)
        return Irreps(out)

    @staticmethod
    def spherical_harmonics(lmax: int, p: int = -1) -> Irreps:
        """``1x0e + 1x1o + 1x2e + ...`` (p = -1) or all even (p = 1), up to lmax."""
        return Irreps([(1, (l, p**l)) for l in range(lmax + 1)])

    def randn(self, *size: int, normalization: str = "component", requires_grad: bool = False,
              dtype: torch.dtype | None = None, device: torch.device | str | None = None,
              generator: torch.Generator | None = None) -> torch.Tensor:
        """Random features; ``-1`` in ``size`` marks the feature dimension.

        ``"component"``: standard normal entries; ``"norm"``: each irrep copy has unit norm.

        >>> Irreps("2x1o").randn(4, -1).shape
        torch.Size([4, 6])
        """
        if size.count(-1) != 1:
            raise ValueError(f"size must contain exactly one -1 (the feature dimension), got {size}")
        di = size.index(-1)
        shape = list(size)
        shape[di] = self.dim
        if normalization == "component":
            x = torch.randn(*shape, dtype=dtype, device=device, generator=generator)
        elif normalization == "norm":
            lsize, rsize = size[:di], size[di + 1:]
            parts = []
            for mul, ir in self:
                v = torch.randn(*lsize, mul, ir.dim, *rsize, dtype=dtype, device=device, generator=generator)
                v = v / v.norm(dim=di + 1, keepdim=True)
                parts.append(v.reshape(*lsize, mul * ir.dim, *rsize))
            x = torch.cat(parts, dim=di) if parts else torch.zeros(*shape, dtype=dtype, device=device)
        else:
            raise ValueError(f"normalization must be 'component' or 'norm', got {normalization!r}")
        return x.requires_grad_(requires_grad)

    def D_from_matrix(self, R: torch.Tensor) -> torch.Tensor:
        """Block-diagonal representation ``[..., dim, dim]`` of orthogonal matrices (parity included).

        >>> R = torch.eye(3)
        >>> torch.equal(Irreps("2x0e + 1o").D_from_matrix(R), torch.eye(5))
        True
        """
        check_orthogonal(R, 3)
        return self._direct_sum(lambda ir: ir.D_from_matrix(R), R)

    def D_from_angles(self, alpha: torch.Tensor, beta: torch.Tensor, gamma: torch.Tensor,
                      k: torch.Tensor | None = None) -> torch.Tensor:
        """Block-diagonal :math:`p^k D(alpha, beta, gamma)` ``[..., dim, dim]``; see :meth:`Irrep.D_from_angles`.

        >>> Irreps("2x0e + 1o").D_from_angles(torch.zeros(4), torch.tensor(0.0), torch.tensor(0.0)).shape
        torch.Size([4, 5, 5])
        """
        R = angles_to_matrix(alpha, beta, gamma)
        return self._direct_sum(lambda ir: ir._with_parity(wigner_D(ir.l, R, check=False), k), R, k)

    def D_from_quaternion(self, q: torch.Tensor, k: torch.Tensor | None = None) -> torch.Tensor:
        """Block-diagonal :math:`p^k D(R(q))` ``[..., dim, dim]`` for quaternions ``q`` ``[..., 4]``.

        >>> Irreps("1o").D_from_quaternion(torch.tensor([1.0, 0.0, 0.0, 0.0]), k=torch.tensor(1))
        tensor([[-1., -0., -0.],
                [-0., -1., -0.],
                [-0., -0., -1.]])
        """
        R = quaternion_to_matrix(q)
        return self._direct_sum(lambda ir: ir._with_parity(wigner_D(ir.l, R, check=False), k), R, k)

    def D_from_axis_angle(self, axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
        """Block-diagonal :math:`D` ``[..., dim, dim]`` of the rotation by ``angle`` about ``axis``.

        >>> Irreps("0e + 1o").D_from_axis_angle(torch.tensor([0.0, 1.0, 0.0]), torch.zeros(2)).shape
        torch.Size([2, 4, 4])
        """
        R = axis_angle_to_matrix(axis, angle)
        return self._direct_sum(lambda ir: wigner_D(ir.l, R, check=False), R)

    def _direct_sum(self, block, R: torch.Tensor, k: object = None) -> torch.Tensor:
        """``[..., dim, dim]`` with ``block(ir)`` on the diagonal for every copy (one evaluation per irrep);
        the batch shape is that of the matrices ``R`` and of ``k``."""
        blocks: dict = {}
        for _, ir in self:
            if ir not in blocks:
                blocks[ir] = block(ir)
        batch = R.shape[:-2] if k is None else torch.broadcast_shapes(R.shape[:-2], torch.as_tensor(k).shape)
        out = R.new_zeros(*batch, self.dim, self.dim)
        i = 0
        for mul, ir in self:
            for _ in range(mul):
                out[..., i:i + ir.dim, i:i + ir.dim] = blocks[ir]
                i += ir.dim
        return out

    def __repr__(self) -> str:
        return "+".join(repr(mi) for mi in self)


class _MulSlicer:
    """``Irreps.slice_by_mul[a:b]``: the copies a..b-1 of an Irreps, counted across blocks."""

    def __init__(self, irreps: Irreps) -> None:
        self.irreps = irreps

    def __getitem__(self, index: slice) -> Irreps:
        if not isinstance(index, slice):
            raise IndexError("Irreps.slice_by_mul takes a slice, e.g. irreps.slice_by_mul[2:5]")
        start, stop, step = index.indices(self.irreps.num_irreps)
        if step != 1:
            raise NotImplementedError("Irreps.slice_by_mul does not take a step")
        out, i = [], 0
        for mul, ir in self.irreps:
            n = min(stop, i + mul) - max(start, i)
            if start <= i and i + mul <= stop:  # whole blocks, zero multiplicities included (as e3nn)
                out.append((mul, ir))
            elif n > 0:
                out.append((n, ir))
            i += mul
        return Irreps(out)


def _as_irreps(x: object) -> Irreps:
    return x if isinstance(x, Irreps) else Irreps(x)


def as_irreps_list(items: Iterable[object] | Sequence[object]) -> list[Irreps]:
    return [_as_irreps(x) for x in items]
