"""Data sets and generators: the 3D tetris shapes of the tensor field network paper, charged particles
(n-body), synthetic (rotated) digits drawn offline; loaders of rotated MNIST, scikit-learn's digits and QM9;
energies and forces of a metal cell from molecular dynamics (ASE's EMT).

>>> from steertorch.data import tetris_batch
>>> data = tetris_batch()
>>> data.pos.shape, data.num_graphs
(torch.Size([32, 3]), 8)
"""

from ._digits import DIGIT_TEMPLATES, digits, rotated_digits
from ._image_digits import ROTATED_MNIST_FILES, load_rotated_mnist, sklearn_digits
from ._nbody import NBodyBatch, load_nbody_arrays, nbody_batch, nbody_graph, simulate_charged_particles
from ._nbody_reference import reference_initial_states
from ._potential import PotentialFrames, default_cache_dir, emt_md_frames
from ._qm9 import HARTREE_TO_EV, QM9, QM9_ATOMREF, QM9_PROPERTIES, QM9_UNITS, load_qm9, qm9_split
from ._shapes import SHAPE_CLASSES, upright_shapes
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
    "reference_initial_states",
    "digits",
    "rotated_digits",
    "DIGIT_TEMPLATES",
    "load_rotated_mnist",
    "ROTATED_MNIST_FILES",
    "sklearn_digits",
    "QM9",
    "QM9_PROPERTIES",
    "QM9_UNITS",
    "QM9_ATOMREF",
    "HARTREE_TO_EV",
    "load_qm9",
    "qm9_split",
    "PotentialFrames",
    "emt_md_frames",
    "default_cache_dir",
    "SHAPE_CLASSES",
    "upright_shapes",
]
