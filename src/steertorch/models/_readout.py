r"""Readouts of graph models: pooling node features per graph, and energies with forces.

Pooling sums (or averages) the node features of each graph, :math:`y_g = \sum_{a \in g} h_a`:
it commutes with rotations, reflections and node permutations for features of any irreps, so
invariant (0e, 0o), vector (1o) and tensor outputs all pool the same way.

Forces are the exact negative gradient of the energy, :math:`F_a = -\partial E / \partial x_a`,
by autograd; with ``create_graph=True`` the forces are differentiable, so a loss on forces
trains the model's parameters (double backward).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..graph import scatter_mean, scatter_sum

__all__ = ["pool_nodes", "energy_and_forces"]

_REDUCES = ("sum", "mean")


def pool_nodes(x: torch.Tensor, batch: torch.Tensor | None = None, num_graphs: int | None = None,
               reduce: str = "sum") -> torch.Tensor:
    r"""Node features ``[N, d]`` pooled per graph -> ``[num_graphs, d]``.

    ``batch`` ``[N]`` gives the graph of each node (default: one graph). ``reduce`` is
    ``"sum"`` or ``"mean"``; a graph without nodes gives 0. Give ``num_graphs`` when known
    (otherwise ``batch.max() + 1``).

    >>> pool_nodes(torch.tensor([[1.0], [2.0], [4.0]]), torch.tensor([0, 0, 1]), reduce="mean")
    tensor([[1.5000],
            [4.0000]])
    """
    if reduce not in _REDUCES:
        raise ValueError(f"reduce must be one of {_REDUCES}, got {reduce!r}")
    if x.dim() != 2:
        raise ValueError(f"pool_nodes: expected node features [N, d], got shape {list(x.shape)}")
    if batch is None:
        if num_graphs not in (None, 1):
            raise ValueError(f"pool_nodes: without batch there is one graph, got num_graphs={num_graphs}")
        return x.sum(0, keepdim=True) if reduce == "sum" else x.mean(0, keepdim=True)
    if batch.shape != (x.shape[0],) or batch.is_floating_point():
        raise ValueError(f"pool_nodes: expected an integer batch [{x.shape[0]}], got {batch.dtype} "
                         f"{list(batch.shape)}")
    fn = scatter_sum if reduce == "sum" else scatter_mean
    return fn(x, batch, dim=0, dim_size=num_graphs)


def energy_and_forces(model: Callable[..., torch.Tensor], pos: torch.Tensor, *args: object,
                      create_graph: bool | None = None, **kwargs: object) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Energies and forces :math:`F = -\partial E / \partial x` of an energy model.

    Calls ``model(*args, pos=pos, **kwargs)``, which returns energies ``[num_graphs]`` or
    ``[num_graphs, 1]``, and differentiates their sum with respect to ``pos`` (graphs are
    independent, so each atom gets the gradient of its own graph's energy).

    Args:
        model: the energy model (e.g. a :class:`~steertorch.models.TensorFieldNetwork` with
            ``irreps_out="0e"`` and sum pooling).
        pos: positions ``[N, 3]``; not modified (a leaf copy requiring grad is used when
            ``pos`` does not require grad).
        create_graph: keep the graph of the derivative so the forces can be differentiated
            again (training on forces). Default: ``torch.is_grad_enabled()``.

    Returns:
        ``(energy [num_graphs], forces [N, 3])``.

    >>> model = lambda pos: (pos ** 2).sum().reshape(1)  # E = |x|^2, F = -2x
    >>> energy, forces = energy_and_forces(model, torch.tensor([[1.0, 2.0, 3.0]]))
    >>> energy, forces
    (tensor([14.], grad_fn=<ViewBackward0>), tensor([[-2., -4., -6.]], grad_fn=<NegBackward0>))
    """
    if pos.dim() != 2 or pos.shape[-1] != 3 or not pos.is_floating_point():
        raise ValueError(f"energy_and_forces: expected floating point positions [N, 3], got {pos.dtype} "
                         f"{list(pos.shape)}")
    if create_graph is None:
        create_graph = torch.is_grad_enabled()
    if not pos.requires_grad:
        pos = pos.detach().requires_grad_(True)
    with torch.enable_grad():
        energy = model(*args, pos=pos, **kwargs)
        if energy.dim() == 2 and energy.shape[-1] == 1:
            energy = energy[:, 0]
        if energy.dim() != 1:
            raise ValueError(f"energy_and_forces: the model must return energies [num_graphs] or [num_graphs, 1], "
                             f"got shape {list(energy.shape)}")
        (grad,) = torch.autograd.grad(energy.sum(), pos, create_graph=create_graph, allow_unused=True)
    if grad is None:
        grad = torch.zeros_like(pos)
    return energy, -grad
