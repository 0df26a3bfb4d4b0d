"""Reference architectures built from steertorch's layers: tensor field networks, readouts.

>>> import torch
>>> from steertorch.models import TensorFieldNetwork, energy_and_forces
>>> model = TensorFieldNetwork(irreps_out="0e", lmax=1, mul=4, num_layers=1).double()
>>> energy, forces = energy_and_forces(model, torch.randn(5, 3, dtype=torch.float64))
>>> energy.shape, forces.shape
(torch.Size([1]), torch.Size([5, 3]))
"""

from ._egnn import EGNN
from ._field_point_net import FieldPointNet
from ._readout import energy_and_forces, pool_nodes
from ._segnn import SEGNN
from ._tfn import TensorFieldNetwork

__all__ = ["TensorFieldNetwork", "SEGNN", "EGNN", "FieldPointNet", "pool_nodes", "energy_and_forces"]
