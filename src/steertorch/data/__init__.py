"""Data sets and generators: the 3D tetris shapes of the tensor field network paper, charged particles
(n-body) and synthetic (rotated) digits drawn offline.

>>> from steertorch.data import tetris_batch
>>> data = tetris_batch()
>>> data.pos.shape, data.num_graphs
(torch.Size([32, 3]), 8)
"""

from ._digits import DIGIT_TEMPLATES, digits, rotated_digits
from ._nbody import NBodyBatch, nbody_batch, simulate_charged_particles
from ._shapes import SHAPE_CLASSES, upright_shapes
from ._tetris import TETRIS_SHAPES, tetris_batch, tetris_shapes

__all__ = [
    "TETRIS_SHAPES",
    "tetris_shapes",
    "tetris_batch",
    "simulate_charged_particles",
    "NBodyBatch",
    "nbody_batch",
    "digits",
    "rotated_digits",
    "DIGIT_TEMPLATES",
    "SHAPE_CLASSES",
    "upright_shapes",
]
