r"""Message passing in chunks of edges, for graphs whose per-edge features do not fit in memory.

A message-passing step sums per-edge messages into their target nodes,

.. math::

    \mathrm{out}_a = \sum_{e:\ \mathrm{dst}(e) = a} m(x, e),

and a plain implementation holds every edge's intermediate features (harmonics, radial weights, gathered
node features, messages) at once, and keeps them for the backward pass. :func:`chunked_message_sum`
computes the same sum over slices of ``chunk_size`` edges; under autograd each slice is checkpointed
(:func:`torch.utils.checkpoint.checkpoint`, non-reentrant), so only its inputs are kept and its
intermediates are recomputed in the backward pass. Peak memory then grows with ``chunk_size`` instead of
the number of edges, for one extra evaluation of the messages in the backward pass. The slices' messages are
summed into one output in place with a scatter-add that keeps only the target indices for the backward pass
(``index_add`` would keep every message until then). Values and gradients (double backward included, for
forces) are those of the unchunked sum up to the order of the floating-point additions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch.utils.checkpoint import checkpoint

from ._scatter import add_rows_

__all__ = ["chunked_message_sum"]


def chunked_message_sum(message: Callable[..., torch.Tensor], node_inputs: Sequence[torch.Tensor],
                        edge_inputs: Sequence[torch.Tensor], dst: torch.Tensor, num_nodes: int,
                        chunk_size: int | None = None) -> torch.Tensor:
    """``out[a] = sum over edges e with dst[e] = a of message(*node_inputs, *(t[e] for t in edge_inputs))``.

    Args:
        message: maps the node inputs and the per-edge inputs of a slice of ``k`` edges to messages ``[k, D]``.
        node_inputs: tensors every message may read (node features, positions); passed whole.
        edge_inputs: tensors with one row per edge (source indices, edge vectors, edge attributes); sliced.
        dst: target node of each edge ``[E]``.
        num_nodes: number of nodes (rows of the output).
        chunk_size: edges per slice; ``None`` (or at least ``E``): one slice, nothing recomputed.

    Returns ``[num_nodes, D]``.

    >>> import torch
    >>> x = torch.tensor([[1.0], [2.0], [3.0]])
    >>> src, dst = torch.tensor([0, 1, 2, 2]), torch.tensor([1, 0, 0, 1])
    >>> chunked_message_sum(lambda x, s: 10 * x[s], [x], [src], dst, 3, chunk_size=3)
    tensor([[50.],
            [40.],
            [ 0.]])
    """
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int)
                                   or chunk_size < 1):
        raise ValueError(f"chunk_size must be None or an int >= 1, got {chunk_size!r}")
    num_edges = dst.shape[0]
    for t in edge_inputs:
        if t.shape[0] != num_edges:
            raise ValueError(f"chunked_message_sum: every edge input needs {num_edges} rows (one per edge), got "
                             f"{list(t.shape)}")
    if chunk_size is None or num_edges <= chunk_size:
        messages = message(*node_inputs, *edge_inputs)
        return add_rows_(messages.new_zeros(num_nodes, *messages.shape[1:]), dst, messages)
    out = None
    for start in range(0, num_edges, chunk_size):
        piece = [t[start:start + chunk_size] for t in edge_inputs]
        if torch.is_grad_enabled():
            messages = checkpoint(message, *node_inputs, *piece, use_reentrant=False)
        else:
            messages = message(*node_inputs, *piece)
        if out is None:
            out = messages.new_zeros(num_nodes, *messages.shape[1:])
        add_rows_(out, dst[start:start + chunk_size], messages)
    return out
