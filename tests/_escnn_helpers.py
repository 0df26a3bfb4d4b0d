"""escnn for the tests that compare with it (a test-only peer dependency): ``import_escnn()`` returns escnn's
``group``, ``gspaces`` and ``nn`` packages, or skips the test when escnn is missing or cannot import.

Import as ``from _escnn_helpers import import_escnn`` (``tests/conftest.py`` puts this directory on ``sys.path``).
"""

import warnings

import numpy as np
import pytest


def import_escnn():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pytest.importorskip("escnn.nn", exc_type=ImportError)  # also skips an escnn that cannot import
        from escnn import group as eg
        from escnn import gspaces as egs
        from escnn import nn as en
        from escnn.group import _numerical

    if not getattr(_numerical, "_steertorch_patched", False):
        # escnn 1.0.11 hands an np.matrix to scikit-learn's randomized_svd, which newer scikit-learn refuses
        svd = _numerical.randomized_svd
        _numerical.randomized_svd = lambda a, *args, **kw: svd(np.asarray(a), *args, **kw)
        _numerical._steertorch_patched = True
    return eg, egs, en
