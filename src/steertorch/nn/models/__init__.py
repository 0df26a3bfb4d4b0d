"""e3nn's reference models (``e3nn.nn.models``) built from steertorch's modules, with e3nn's constructor
signatures, input dicts and state-dict layouts: ``gate_points_2101``, ``gate_points_2102`` and ``v2106``
(``gate_points_networks``, ``gate_points_message_passing``, ``points_convolution``).

>>> from steertorch.nn.models import gate_points_2101
>>> gate_points_2101.Network.__name__
'Network'
"""

from . import gate_points_2101, gate_points_2102, v2106

__all__ = ["gate_points_2101", "gate_points_2102", "v2106"]
