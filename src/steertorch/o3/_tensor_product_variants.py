r"""Tensor products with fixed instructions: elementwise, full (all paths) and square.

Each is a :class:`~steertorch.o3.TensorProduct` whose instructions, output irreps (and
their order) and normalisation are those of e3nn's classes of the same name, so outputs
agree numerically.

- :class:`ElementwiseTensorProduct`: :math:`z_u = x_u \otimes y_u`, copy by copy (mode "uuu").
- :class:`FullTensorProduct`: :math:`z_{uv} = x_u \otimes y_v`, every pair (mode "uvuv"),
  output blocks sorted by irrep.
- :class:`TensorSquare`: :math:`x \otimes x` reduced to irreps without repeating the
  symmetric or antisymmetric pairs twice; weighted (fully connected) when ``irreps_out`` is given.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from ._irreps import Irrep, Irreps
from ._tensor_product import TensorProduct

__all__ = ["ElementwiseTensorProduct", "FullTensorProduct", "TensorSquare"]


def _as_filter(filter_ir_out: Iterable[object] | None) -> list[Irrep] | None:
    """``filter_ir_out`` as a list of :class:`Irrep` (a string such as ``"0e + 1o"`` also works)."""
    if filter_ir_out is None:
        return None
    if isinstance(filter_ir_out, (str, Irreps)):
        return [ir for _, ir in Irreps(filter_ir_out)]
    if isinstance(filter_ir_out, Irrep):
        return [filter_ir_out]
    try:
        return [Irrep(ir) for ir in filter_ir_out]
    except (TypeError, ValueError) as err:
        raise ValueError(f"filter_ir_out must be an iterable of irreps (e.g. ['0e', '1o']), got {filter_ir_out!r}: "
                         f"{err}") from None


def _check_irrep_normalization(irrep_normalization: str) -> None:
    if irrep_normalization not in ("component", "norm", "none"):
        raise ValueError(f"irrep_normalization must be 'component', 'norm' or 'none', got {irrep_normalization!r}")


class ElementwiseTensorProduct(TensorProduct):
    r"""Tensor product of two features copy by copy: :math:`z_u = x_u \otimes y_u`, no weights.

    Both inputs are simplified and need the same total multiplicity; blocks are split so
    that copy u of ``irreps_in1`` meets copy u of ``irreps_in2``. Every block pair
    ``mul x ir_1``, ``mul x ir_2`` gives one output block ``mul x ir`` for each ir in
    :math:`ir_1 \otimes ir_2` (kept if in ``filter_ir_out``), in that order (not sorted).

    Args:
        irreps_in1, irreps_in2: irreps of the inputs (same number of copies).
        filter_ir_out: keep only these output irreps (default: all).
        irrep_normalization: ``"component"`` (default), ``"norm"`` or ``"none"``.
        **kwargs: passed to :class:`TensorProduct`.

    >>> tp = ElementwiseTensorProduct("5x1o + 5x1e", "10x1e", ["0e", "0o"])
    >>> tp.irreps_out
    5x0o+5x0e
    >>> tp(torch.randn(2, 30), torch.randn(2, 30)).shape
    torch.Size([2, 10])
    """

    def __init__(self, irreps_in1: object, irreps_in2: object, filter_ir_out: Iterable[object] | None = None,
                 irrep_normalization: str = "component", **kwargs) -> None:
        _check_irrep_normalization(irrep_normalization)
        i1 = [(mul, ir) for mul, ir in Irreps(irreps_in1).simplify()]
        i2 = [(mul, ir) for mul, ir in Irreps(irreps_in2).simplify()]
        keep = _as_filter(filter_ir_out)
        n1, n2 = sum(m for m, _ in i1), sum(m for m, _ in i2)
        if n1 != n2:
            raise ValueError(f"ElementwiseTensorProduct needs the same number of irreps copies in both inputs, got "
                             f"{Irreps(irreps_in1)} ({n1} copies) and {Irreps(irreps_in2)} ({n2} copies)")
        # split blocks so that block i of both inputs has the same multiplicity
        i = 0
        while i < len(i1):
            (m1, ir1), (m2, ir2) = i1[i], i2[i]
            if m1 < m2:
                i2[i: i + 1] = [(m1, ir2), (m2 - m1, ir2)]
            elif m2 < m1:
                i1[i: i + 1] = [(m2, ir1), (m1 - m2, ir1)]
            i += 1
        out, instr = [], []
        for i, ((mul, ir1), (_, ir2)) in enumerate(zip(i1, i2)):
            for ir in ir1 * ir2:
                if keep is not None and ir not in keep:
                    continue
                instr.append((i, i, len(out), "uuu", False))
                out.append((mul, ir))
        super().__init__(Irreps(i1), Irreps(i2), Irreps(out), instr, irrep_normalization=irrep_normalization,
                         **kwargs)


class FullTensorProduct(TensorProduct):
    r"""All paths of the tensor product, every copy with every copy: :math:`z_{uv} = x_u \otimes y_v`, no weights.

    Inputs are simplified. Block pair ``(mul_1 x ir_1, mul_2 x ir_2)`` gives
    ``mul_1 mul_2 x ir`` for each ir in :math:`ir_1 \otimes ir_2` (kept if in
    ``filter_ir_out``); the output blocks are then sorted by irrep (stably, not merged), as
    in e3nn. Inside a block the copy index is (u, v) with v fastest.

    Args:
        irreps_in1, irreps_in2: irreps of the inputs.
        filter_ir_out: keep only these output irreps (default: all).
        irrep_normalization: ``"component"`` (default), ``"norm"`` or ``"none"``.
        **kwargs: passed to :class:`TensorProduct`.

    >>> tp = FullTensorProduct("2x0e + 1o", "1o")
    >>> tp.irreps_out
    1x0e+2x1o+1x1e+1x2e
    >>> x, y = torch.randn(5), torch.randn(3)
    >>> torch.allclose(tp(x, y)[1:4], x[0] * y)  # 0e x 1o, component normalisation
    True
    """

    def __init__(self, irreps_in1: object, irreps_in2: object, filter_ir_out: Iterable[object] | None = None,
                 irrep_normalization: str = "component", **kwargs) -> None:
        _check_irrep_normalization(irrep_normalization)
        i1, i2 = Irreps(irreps_in1).simplify(), Irreps(irreps_in2).simplify()
        keep = _as_filter(filter_ir_out)
        out, instr = [], []
        for a, (m1, ir1) in enumerate(i1):
            for b, (m2, ir2) in enumerate(i2):
                for ir in ir1 * ir2:
                    if keep is not None and ir not in keep:
                        continue
                    instr.append((a, b, len(out), "uvuv", False))
                    out.append((m1 * m2, ir))
        out_sorted, p, _ = Irreps(out).sort()
        instr = [(a, b, p[o], mode, w) for a, b, o, mode, w in instr]
        super().__init__(i1, i2, out_sorted, instr, irrep_normalization=irrep_normalization, **kwargs)


def _square_alpha(ir1: Irrep, ir2: Irrep, ir_out: Irrep, normalization: str, diagonal: bool) -> float:
    r"""Irrep normalisation of one path of the square.

    Off-diagonal paths (two different copies) are those of an ordinary tensor product:
    ``dim(ir_out)`` ("component") or ``dim(ir_1) dim(ir_2)`` ("norm"). A copy times itself
    (diagonal, only even l_out survive) has a larger mean square because :math:`x \otimes x`
    is not an independent product: for a standard normal x of dimension d,
    :math:`E[(x \cdot x)^2] = d (d + 2)` and the l > 0 parts get half that weight, whence
    ``dim(ir_out) / (d + 2)`` (l = 0) and ``dim(ir_out) / 2`` (l > 0) in "component"; in
    "norm", ``dim(ir_out) d`` (l = 0) and ``d (d + 2) / 2`` (l > 0).
    """
    if normalization == "none":
        return 1.0
    if not diagonal:
        return float(ir_out.dim if normalization == "component" else ir1.dim * ir2.dim)
    d = ir1.dim
    if normalization == "component":
        return ir_out.dim / (d + 2) if ir_out.l == 0 else ir_out.dim / 2
    return float(ir_out.dim * d) if ir_out.l == 0 else d * (d + 2) / 2


class TensorSquare(TensorProduct):
    r"""The tensor square :math:`x \otimes x` of one feature, reduced to irreps.

    Without ``irreps_out`` there are no weights, as :class:`FullTensorProduct` of x with
    itself but without duplicates: for blocks i < j every pair (mode "uvuv"); for a block
    with itself the pairs u < v (mode "uvu<v", when mul > 1) and, for even l_out only, each
    copy with itself (mode "uuu"). Output blocks are sorted by irrep (not merged).

    With ``irreps_out`` it is fully connected and weighted: the same paths in modes "uvw"
    (i < j), "u<vw" and "uuw" (i = j) into every allowed output block.

    Each path is normalised by :func:`_square_alpha` (passed as ``path_weight``; the base
    class then uses ``irrep_normalization="none"``) and the usual path normalisation.

    Args:
        irreps_in: irreps of the input (simplified).
        irreps_out: output irreps (simplified) for the weighted version; default None.
        filter_ir_out: keep only these output irreps (weightless version only).
        irrep_normalization: ``"component"`` (default), ``"norm"`` or ``"none"``.
        **kwargs: passed to :class:`TensorProduct`.

    >>> sq = TensorSquare("2x1o")
    >>> sq.irreps_out
    1x0e+2x0e+1x1e+1x2e+2x2e
    >>> x = torch.randn(3, 6)
    >>> sq(x).shape
    torch.Size([3, 21])
    >>> TensorSquare("2x1o", "3x0e").weight_numel  # (1 pair u<v + 2 copies) x 3
    9
    """

    def __init__(self, irreps_in: object, irreps_out: object = None, filter_ir_out: Iterable[object] | None = None,
                 irrep_normalization: str = "component", **kwargs) -> None:
        _check_irrep_normalization(irrep_normalization)
        irreps_in = Irreps(irreps_in).simplify()
        keep = _as_filter(filter_ir_out)
        instr = []
        if irreps_out is None:
            out = []
            for a, (m1, ir1) in enumerate(irreps_in):
                for b, (m2, ir2) in enumerate(irreps_in):
                    if a > b:
                        continue
                    for ir in ir1 * ir2:
                        if keep is not None and ir not in keep:
                            continue
                        alpha = _square_alpha(ir1, ir2, ir, irrep_normalization, diagonal=False)
                        if a < b:
                            instr.append((a, b, len(out), "uvuv", False, alpha))
                            out.append((m1 * m2, ir))
                            continue
                        if m1 > 1:
                            instr.append((a, a, len(out), "uvu<v", False, alpha))
                            out.append((m1 * (m1 - 1) // 2, ir))
                        if ir.l % 2 == 0:
                            alpha = _square_alpha(ir1, ir1, ir, irrep_normalization, diagonal=True)
                            instr.append((a, a, len(out), "uuu", False, alpha))
                            out.append((m1, ir))
            irreps_out, p, _ = Irreps(out).sort()
            instr = [(a, b, p[o], mode, w, alpha) for a, b, o, mode, w, alpha in instr]
        else:
            if keep is not None:
                raise ValueError("TensorSquare: give irreps_out or filter_ir_out, not both")
            irreps_out = Irreps(irreps_out).simplify()
            for a, (m1, ir1) in enumerate(irreps_in):
                for b, (_, ir2) in enumerate(irreps_in):
                    if a > b:
                        continue
                    for o, (_, ir) in enumerate(irreps_out):
                        if ir not in ir1 * ir2:
                            continue
                        alpha = _square_alpha(ir1, ir2, ir, irrep_normalization, diagonal=False)
                        if a < b:
                            instr.append((a, b, o, "uvw", True, alpha))
                            continue
                        if m1 > 1:
                            instr.append((a, a, o, "u<vw", True, alpha))
                        if ir.l % 2 == 0:
                            alpha = _square_alpha(ir1, ir1, ir, irrep_normalization, diagonal=True)
                            instr.append((a, a, o, "uuw", True, alpha))
        self.irreps_in = irreps_in
        super().__init__(irreps_in, irreps_in, irreps_out, instr, irrep_normalization="none", **kwargs)

    def forward(self, x: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:  # type: ignore[override]
        """``x`` ``[..., irreps_in.dim]`` -> ``[..., irreps_out.dim]``: the base product of x with itself."""
        return super().forward(x, x, weight)

    def right(self, y: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:  # type: ignore[override]
        """The matrix ``[..., irreps_in.dim, irreps_out.dim]`` of the underlying bilinear map in its first
        argument: ``B(x, y) = x @ right(y)``, so ``forward(x) = x @ right(x)``."""
        self._check(y, self.irreps_in2, "input")
        batch = y.shape[:-1]
        if not self.shared_weights and weight is not None:
            batch = torch.broadcast_shapes(batch, weight.shape[:-1])
        d = self.irreps_in1.dim
        eye = torch.eye(d, dtype=y.dtype, device=y.device).expand(*batch, d, d)
        yb = y[..., None, :].expand(*batch, d, y.shape[-1])
        wb = weight
        if weight is not None and not self.shared_weights:
            wb = weight[..., None, :].expand(*batch, d, weight.shape[-1])
        return TensorProduct.forward(self, eye, yb, wb)
