"""e3nn's ``nn.models.v2106`` (June 2021): ``points_convolution.Convolution`` (self-connection mixed by a learned
scalar), ``gate_points_message_passing.MessagePassing`` and the networks of ``gate_points_networks``
(``SimpleNetwork``, ``NetworkForAGraphWithAttributes``).

>>> from steertorch.nn.models.v2106 import gate_points_networks
>>> gate_points_networks.SimpleNetwork.__name__
'SimpleNetwork'
"""

from . import gate_points_message_passing, gate_points_networks, points_convolution

__all__ = ["points_convolution", "gate_points_message_passing", "gate_points_networks"]
