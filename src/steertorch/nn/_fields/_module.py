r"""The base of the field modules (escnn's ``EquivariantModule``): ``GeometricTensor`` in and out, and
``check_equivariance``."""

from __future__ import annotations

import torch

from ._type import FieldType, GeometricTensor

__all__ = ["EquivariantModule"]


class EquivariantModule:
    r"""Mixin of every module on grid fields (a module with ``in_type`` / ``out_type`` :class:`FieldType`\ s).

    Calling the module on a plain ``[B, C, *spatial]`` tensor returns a plain tensor (the module's ``forward``).
    Calling it on a :class:`GeometricTensor` checks that the tensor's type *is* ``in_type`` (``ValueError``
    otherwise: a tensor of another type with the same number of channels is refused, not silently reinterpreted)
    and returns a ``GeometricTensor`` of type ``out_type``. Further arguments pass through unchanged. A point-cloud
    ``GeometricTensor`` (``coords`` set, rows ``[N, C]``) goes through modules that act point by point (linear maps,
    nonlinearities, batch norms, invariant maps); its ``coords`` are kept.

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> from steertorch.nn import FieldType, ReLU
    >>> gs = rot2dOnR2(4)
    >>> relu = ReLU(FieldType(gs, [gs.regular_repr]))
    >>> y = relu(relu.in_type(torch.randn(1, 4, 5, 5)))
    >>> type(y).__name__, y.type == relu.out_type
    ('GeometricTensor', True)
    """

    def __call__(self, x, *args, **kwargs):
        if isinstance(x, GeometricTensor):
            in_type = self.in_type
            if x.type != in_type:
                raise ValueError(f"{type(self).__name__}: the input GeometricTensor has type {x.type!r}, but the "
                                 f"module's in_type is {in_type!r}")
            if x.coords is not None:
                return self._call_on_points(x, *args, **kwargs)
            return GeometricTensor(super().__call__(x.tensor, *args, **kwargs), self.out_type)
        return super().__call__(x, *args, **kwargs)

    def _call_on_points(self, x: GeometricTensor, *args, **kwargs) -> GeometricTensor:
        """A point-cloud ``GeometricTensor`` (rows ``[N, C]`` with ``coords``) through a module that acts at each
        point on its own: the rows are seen as ``N`` grids of one pixel (``[N, C, 1, ..., 1]``). Modules with a
        spatial window (``kernel_size``: convolutions, pooling) raise ``ValueError``: a window of a grid means
        nothing on points (use :class:`~steertorch.nn.R2PointConv` / :class:`~steertorch.nn.R3PointConv`)."""
        if hasattr(self, "kernel_size"):
            raise ValueError(f"{type(self).__name__}: acts on grids (it has a kernel_size), got a point-cloud "
                             "GeometricTensor (with coords); use R2PointConv / R3PointConv on points")
        d = self.in_type.gspace.dimensionality
        n = x.tensor.shape[0]
        y = super().__call__(x.tensor.reshape(n, x.tensor.shape[1], *([1] * d)), *args, **kwargs)
        return GeometricTensor(y.reshape(n, y.shape[1]), self.out_type, x.coords)

    def export(self):
        """The plain ``torch.nn`` equivalent of this module in eval mode (:func:`~steertorch.nn.export_module`;
        ``NotImplementedError`` where there is none)."""
        from ._export import export_module

        return export_module(self)

    def check_equivariance(self, atol: float = 1e-7, rtol: float = 1e-5, size: int = 9,
                           elements: list | None = None) -> list[tuple[torch.Tensor, float]]:
        r"""Check :math:`f(g\cdot x) = g\cdot f(x)` on a random input (escnn's ``check_equivariance``).

        ``x`` is ``[3, in_type.size, size, ..., size]`` in the module's dtype (float64 for a module without
        parameters or constants); ``elements`` default to the G-space's
        :attr:`~steertorch.gspaces.GSpace.testing_elements` (the group elements that map the grid onto itself,
        under which a grid module is exactly equivariant; for a module whose ``out_type`` lives on a subgroup,
        such as :class:`RestrictionModule`, the subgroup's elements). Choose ``size`` so that strided windows sit
        symmetrically on the grid (see the pooling modules). Runs in eval mode (restored afterwards). Returns
        ``[(g, max abs error)]`` and raises ``AssertionError`` if some error exceeds ``atol + rtol * max|f(x)|``.
        For exact (float64) results, call it on ``module.double()``.
        """
        from ..._dtype import module_dtype

        in_type: FieldType = self.in_type
        out_type: FieldType = self.out_type
        dtype = module_dtype(self) or torch.float64
        d = in_type.gspace.dimensionality
        gen = torch.Generator().manual_seed(0)
        tensors = [*self.parameters(), *self.buffers()]
        device = tensors[0].device if tensors else torch.device("cpu")
        x = torch.randn(3, in_type.size, *([size] * d), generator=gen, dtype=torch.float64).to(device, dtype)
        include = None
        if out_type.fibergroup != in_type.fibergroup:  # the output lives on a subgroup: act with its elements
            include = in_type.fibergroup.inclusion(out_type.fibergroup)
        if elements is None:
            elements = out_type.gspace.testing_elements
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                y = self(x)
                scale = float(y.abs().max()) if y.numel() else 0.0
                errors = []
                for g in elements:
                    g_in = g if include is None else include(g)
                    err = (self(in_type.transform(x, g_in)) - out_type.transform(y, g)).abs()
                    errors.append((g, float(err.max()) if err.numel() else 0.0))
        finally:
            self.train(was_training)
        worst = max((e for _, e in errors), default=0.0)
        if worst > atol + rtol * scale:
            raise AssertionError(f"{type(self).__name__} is not equivariant: max error {worst:.3e} "
                                 f"(atol {atol}, rtol {rtol}, output scale {scale:.3e})")
        return errors
