r"""Empty batches, empty irreps and zero-size weights, one mechanism for every module.

- :func:`connected_zeros`: exact zeros on the autograd graph, so the outputs of modules whose result does not
  depend on an input (an empty batch, empty irreps, a graph without edges) keep a ``grad_fn``: ``backward`` works
  and every parameter gets a (zero) gradient.
- :func:`register_weight`: a zero-size weight is a buffer, not a parameter. No output depends on it, so it would
  get no gradient, and DistributedDataParallel with its default ``find_unused_parameters=False`` fails on a
  parameter without gradient. It stays in the state dict under the same key (e3nn's modules do the same).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["connected_zeros", "register_weight"]


def connected_zeros(*tensors: torch.Tensor | None) -> torch.Tensor:
    r"""A 0-dim zero whose graph reaches each tensor given (``None`` skipped).

    It is the sum of an empty slice of each tensor, so it is exactly 0 even if the tensors hold inf or NaN
    (unlike ``0 * t.sum()``), and the gradient it sends back is zero. Add it to an output:
    ``out + connected_zeros(x, weight)`` has the shape and values of ``out``.

    >>> w = torch.tensor([float("inf"), 1.0], requires_grad=True)
    >>> z = connected_zeros(w, None)
    >>> z.item(), z.requires_grad, torch.autograd.grad(z, w)[0].tolist()
    (0.0, True, [0.0, 0.0])
    """
    parts = [t.reshape(-1)[:0].sum() for t in tensors if t is not None]
    if not parts:
        return torch.zeros(())
    out = parts[0]
    for p in parts[1:]:
        out = out + p.to(out.dtype)
    return out


def register_weight(module: nn.Module, name: str, value: torch.Tensor) -> None:
    """Register ``value`` as the parameter ``name`` of ``module``, or as a (persistent) buffer if it has no elements.

    >>> lin = nn.Module()
    >>> register_weight(lin, "weight", torch.ones(3)); register_weight(lin, "bias", torch.zeros(0))
    >>> [n for n, _ in lin.named_parameters()], list(lin.state_dict())
    (['weight'], ['weight', 'bias'])
    """
    if value.numel():
        module.register_parameter(name, nn.Parameter(value))
    else:
        module.register_buffer(name, value)
