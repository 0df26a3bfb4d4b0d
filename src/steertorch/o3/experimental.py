"""e3nn's ``o3.experimental`` names: the weightless tensor products ``FullTensorProductv2`` and
``ElementwiseTensorProductv2``.

>>> from steertorch.o3.experimental import FullTensorProductv2
>>> FullTensorProductv2("1o", "1o").irreps_out
1x0e+1x1e+1x2e
"""

from ._tensor_product_v2 import ElementwiseTensorProductv2, FullTensorProductv2

__all__ = ["FullTensorProductv2", "ElementwiseTensorProductv2"]
