"""Data sets and generators: the 3D tetris shapes of the tensor field network paper, charged particles
(n-body) and synthetic (rotated) digits drawn offline.

>>> from steertorch.data import tetris_batch
>>> data = tetris_batch()
>>> data.pos.shape, data.num_graphs
(torch.Size([32, 3]), 8)
"""

from ._digits import DIGIT_TEMPLATES, digits, rotated_digits
from ._nbody import NBodyBatch, load_nbody_arrays, nbody_batch, nbody_graph, simulate_charged_particles
from ._tetris import TETRIS_SHAPES, tetris_batch, tetris_shapes

__all__ = [
    "TETRIS_SHAPES",
    "tetris_shapes",
    "tetris_batch",
    "simulate_charged_particles",
    "NBodyBatch",
    "nbody_batch",
    "nbody_graph",
    "load_nbody_arrays",
    "digits",
    "rotated_digits",
    "DIGIT_TEMPLATES",
]
