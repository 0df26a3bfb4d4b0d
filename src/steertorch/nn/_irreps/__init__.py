"""Modules on irreps features ``[..., irreps.dim]`` (e3nn's family): activations, gate, norm activation, S2 / SO(3)
grid activations, tensor-product activation, batch norm, dropout, block extraction, the scalar MLP. Exported by
:mod:`steertorch.nn`."""
