r"""Finding symmetry-breaking order parameters with an equivariant model (Smidt, Geiger, Miller,
Phys. Rev. Research 3, 2021).

An equivariant model f cannot make an output less symmetric than its input (Curie's principle). Given
symmetric inputs x and a less symmetric target y, give the model an extra input: an order parameter
:math:`\delta` in chosen irreps, and train the model and :math:`\delta` together on

.. math::

    \mathcal L = \mathrm{loss}(f(x, \delta), y) + \lambda \sum_{\text{blocks } b} |\delta_b|,

a group lasso: each irrep block of :math:`\delta` pays its norm, so the blocks the target does not need go
to zero, and the remaining ones are the order parameter. Its symmetry, the stabiliser
:math:`\{g \in G : D(g)\,\delta = \delta\}` of the input's group G, is the symmetry that remains.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..o3 import Irreps
from ._classify import classify_elements
from ._selection import group_elements

__all__ = ["break_symmetry", "SymmetryBreakingResult"]


@dataclass(frozen=True)
class SymmetryBreakingResult:
    """What :func:`break_symmetry` found.

    ``order_parameter`` ``[irreps.dim]`` (float64, blocks below the threshold set to zero);
    ``needed``: ``[(irrep, norm), ...]`` of the blocks kept, largest first; ``remaining``: the
    Schoenflies symbol of the stabiliser (``None`` without ``symmetry``) and ``stabilizer`` its
    matrices; ``loss``: the final fitting loss (penalty excluded).
    """

    order_parameter: torch.Tensor
    irreps: Irreps
    needed: list[tuple[str, float]]
    remaining: str | None
    stabilizer: torch.Tensor | None
    loss: float


def _block_norms(irreps: Irreps, x: torch.Tensor) -> torch.Tensor:
    out = []
    for (mul, ir), sl in zip(irreps, irreps.slices()):
        out.append(x[sl].reshape(mul, ir.dim).norm(dim=-1))
    return torch.cat(out) if out else x.new_zeros(0)


def break_symmetry(model: torch.nn.Module, inputs: object, target: torch.Tensor, irreps: Irreps | str,
                   symmetry: object = None, *, loss_fn: Callable | None = None, steps: int = 300,
                   lr: float = 0.03, penalty: float = 1e-3, threshold: float = 0.05, tol: float = 1e-2,
                   train_model: bool = True, seed: int = 0) -> SymmetryBreakingResult:
    r"""Learn the smallest order parameter (in ``irreps``) that lets ``model`` map ``inputs`` to ``target``.

    ``model(inputs, order_parameter)`` must return the prediction compared with ``target`` by ``loss_fn``
    (mean squared error by default); it must be equivariant, and ``order_parameter`` ``[irreps.dim]``
    enters it as a feature of the given irreps (e.g. added to every node). The model's parameters are
    trained too (unless ``train_model=False``), with Adam (``lr``) for ``steps`` steps from a small
    random order parameter (``seed``). A block (one per copy of an irrep) is needed when its norm is at
    least ``threshold`` times the largest and dropping it more than doubles the loss; the others are
    zeroed. ``symmetry``: the symmetry of the
    inputs (anything :func:`~steertorch.symmetry.invariant_basis` accepts: a ``point_group`` result, a
    name, matrices); the elements g with :math:`|D(g)\delta - \delta| \le` ``tol`` :math:`|\delta|` form
    the remaining symmetry.

    >>> from steertorch.o3 import CartesianTensor
    >>> sym = CartesianTensor("ij=ji")  # 0e + 2e
    >>> class Strain(torch.nn.Module):  # x -> x + S x, S the symmetric matrix of delta's 0e + 2e
    ...     def forward(self, pos, delta):
    ...         return pos + pos @ sym.to_cartesian(delta[3:9]).T
    >>> square = torch.tensor([[1.0, 1.0, 0.0], [-1.0, 1.0, 0.0], [-1.0, -1.0, 0.0], [1.0, -1.0, 0.0]])
    >>> r = break_symmetry(Strain(), square, square * torch.tensor([1.2, 0.8, 1.0]), "1o + 0e + 2e",
    ...                    symmetry="D4h", steps=200, lr=0.05)
    >>> [ir for ir, _ in r.needed], r.remaining
    (['2e'], 'D2h')
    """
    irreps = Irreps(irreps)
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    loss_fn = loss_fn if loss_fn is not None else torch.nn.functional.mse_loss
    dtype = target.dtype if target.is_floating_point() else torch.get_default_dtype()
    gen = torch.Generator().manual_seed(seed)
    delta = (1e-2 * torch.randn(irreps.dim, generator=gen, dtype=torch.float64)).to(dtype=dtype,
                                                                                    device=target.device)
    delta.requires_grad_(True)
    params = [delta] + ([p for p in model.parameters() if p.requires_grad] if train_model else [])
    opt = torch.optim.Adam(params, lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        fit = loss_fn(model(inputs, delta), target)
        (fit + penalty * _block_norms(irreps, delta).sum()).backward()
        opt.step()
    with torch.no_grad():
        final = float(loss_fn(model(inputs, delta), target))
        d = delta.detach().to(torch.float64).cpu().clone()
        norms = _block_norms(irreps, d)
        keep = norms > threshold * norms.max() if len(norms) else norms.bool()
        # a block is needed when dropping it spoils the fit: the loss more than doubles
        blocks, k = [], 0
        for (mul, ir), sl in zip(irreps, irreps.slices()):
            for j in range(mul):
                blocks.append((str(ir), slice(sl.start + j * ir.dim, sl.start + (j + 1) * ir.dim), k))
                k += 1
        needed = []
        for name, sl, k in blocks:
            if keep[k]:
                ablated = delta.detach().clone()
                ablated[sl] = 0.0
                keep[k] = float(loss_fn(model(inputs, ablated), target)) > 2 * final + 1e-10
            if keep[k]:
                needed.append((name, float(norms[k])))
            else:
                d[sl] = 0.0
    needed.sort(key=lambda t: -t[1])
    remaining, stab = None, None
    if symmetry is not None:
        mats = group_elements(symmetry, max((ir.l for _, ir in irreps), default=0))
        moved = (irreps.D_from_matrix(mats) @ d - d).norm(dim=-1)
        stab = mats[moved <= tol * max(float(d.norm()), 1e-12)]
        remaining = classify_elements(stab)[0]
    return SymmetryBreakingResult(d, irreps, needed, remaining, stab, final)
