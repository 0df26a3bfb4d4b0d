"""Test-suite setup: make the shared helpers in ``tests/_equivariance_helpers.py`` importable from every
test directory (the tests have no ``__init__.py``), and shared fixtures."""

import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(__file__))

from _equivariance_helpers import float64  # noqa: E402


@pytest.fixture
def float64_seeded():
    """float64 as the default dtype (Clebsch-Gordan buffers follow it) and ``torch.manual_seed(0)`` (weight
    initialisation: deterministic tests). Use with ``pytestmark = pytest.mark.usefixtures("float64_seeded")``."""
    torch.manual_seed(0)
    with float64():
        yield


@pytest.fixture
def float64_default():
    """float64 as the default dtype for the test (restored after). Use with
    ``pytestmark = pytest.mark.usefixtures("float64_default")``."""
    with float64():
        yield


@pytest.fixture
def seeded():
    """``torch.manual_seed(0)``: deterministic weight initialisation. Use with
    ``pytestmark = pytest.mark.usefixtures("seeded")``."""
    torch.manual_seed(0)
