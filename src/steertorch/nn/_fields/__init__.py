"""Modules on feature fields ``[batch, channels, *grid]`` of a :class:`~steertorch.nn.FieldType` (escnn's
family): field types, grid convolutions, G-CNNs, nonlinearities, pooling, batch norms, containers, implicit kernels.
Exported by :mod:`steertorch.nn`."""
