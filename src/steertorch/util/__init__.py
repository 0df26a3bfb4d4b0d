"""e3nn's ``e3nn.util`` names: ``steertorch.util.jit`` (TorchScript: ``compile``, ``script``, ``trace``) and
``steertorch.util.test`` (``assert_equivariant``, ``equivariance_error``,
``random_irreps``, ``format_equivariance_error``) with e3nn's signatures. steertorch's own tools with any group are
in :mod:`steertorch.testing`.

>>> from steertorch.util import test
>>> test.assert_equivariant.__module__
'steertorch.util.test'
"""

from . import jit, test

__all__ = ["jit", "test"]
