"""Load state dicts saved from e3nn modules into the matching steertorch modules.

Parameters (``weight``, ``bias``) have the same names, shapes and layout in both libraries
(see :class:`~steertorch.o3.TensorProduct` and :class:`~steertorch.o3.Linear`); e3nn's
state dicts also hold internal buffers that steertorch does not need: ``output_mask``, the
Wigner 3j constants of its generated code (``_compiled_main_*``), and empty ``weight`` /
``bias`` placeholders of modules without them. ``FullyConnectedNet`` weights are keyed
``layer{i}.weight`` in e3nn and ``w{i}`` here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from torch import nn

__all__ = ["load_e3nn_state_dict"]


def _is_e3nn_internal(key: str) -> bool:
    parts = key.split(".")
    return parts[-1] == "output_mask" or any(p.startswith("_compiled_main") for p in parts)


def load_e3nn_state_dict(module: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> nn.Module:
    """Copy the parameters of an e3nn state dict into ``module`` (a steertorch module or a model made of them).

    e3nn's internal buffers are dropped, as are its empty ``weight`` / ``bias`` tensors
    where ``module`` has none; everything else must match exactly (names and shapes), so a
    missing or unexpected parameter raises instead of being silently skipped.

    Returns ``module``.

    >>> import torch
    >>> from steertorch.o3 import Linear
    >>> e3nn_state = {"weight": torch.ones(6), "bias": torch.zeros(2), "output_mask": torch.ones(8)}
    >>> lin = load_e3nn_state_dict(Linear("2x0e + 1o", "2x0e + 2x1o", biases=True), e3nn_state)
    >>> lin.weight.tolist()
    [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    """
    if not isinstance(module, nn.Module):
        raise ValueError(f"expected a torch.nn.Module, got {type(module).__name__}")
    ours = module.state_dict()
    kept = {}
    for key, value in state_dict.items():
        if _is_e3nn_internal(key):
            continue
        fc = re.fullmatch(r"(.*)layer(\d+)\.weight", key)
        if key not in ours and fc is not None and f"{fc[1]}w{fc[2]}" in ours:
            key = f"{fc[1]}w{fc[2]}"  # e3nn's FullyConnectedNet keys its weights layer{i}.weight, ours w{i}
        if key not in ours and key.split(".")[-1] in ("weight", "bias") and value.numel() == 0:
            continue  # e3nn keeps an empty tensor where a module has no weights / biases
        kept[key] = value
    missing = sorted(set(ours) - set(kept))
    unexpected = sorted(set(kept) - set(ours))
    if missing or unexpected:
        raise ValueError(f"state dict does not match {type(module).__name__}: missing {missing}, "
                         f"unexpected {unexpected}")
    for key, value in kept.items():
        if tuple(value.shape) != tuple(ours[key].shape):
            raise ValueError(f"{key}: expected shape {list(ours[key].shape)}, got {list(value.shape)} "
                             f"(irreps or instructions differ between the two modules)")
    module.load_state_dict(kept, strict=True)
    return module
