"""steertorch: group-equivariant deep learning on one representation-theory core.

>>> import steertorch
>>> steertorch.__version__
'0.1.0'
"""

from . import data, graph, group, gspaces, kernels, math, models, nn, o3, testing

__version__ = "0.1.0"

__all__ = ["data", "graph", "group", "gspaces", "kernels", "math", "models", "nn", "o3", "testing", "__version__"]
