"""steertorch: group-equivariant deep learning on one representation-theory core.

>>> import steertorch
>>> steertorch.__version__
'0.1.0'
"""

from . import group, math, nn, o3, testing

__version__ = "0.1.0"

__all__ = ["group", "math", "nn", "o3", "testing", "__version__"]
