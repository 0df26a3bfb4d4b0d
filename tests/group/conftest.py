"""Shared fixtures for the group tests: float64 by default, and the groups every test runs on.

Only in modules that set ``USE_GROUP_FIXTURES = True`` (other modules here are left alone):
float64 is the default dtype (and torch uses one thread) during each test, and a test that takes an argument ``group``
runs on every group below, ``finite_group`` on the finite ones, ``continuous_group`` on the
continuous ones.
"""

import pytest
import torch

from steertorch.group import (
    cyclic_group,
    dihedral_group,
    group_from_name,
    o2_group,
    o3_group,
    so2_group,
    so3_group,
)

CONTINUOUS = {
    "SO2": lambda: so2_group(),
    "O2": lambda: o2_group(),
    "SO2z": lambda: so2_group(3),
    "O2z": lambda: o2_group(3),
    "O2zv": lambda: o2_group(3, "mirror"),
    "SO3": so3_group,
    "O3": o3_group,
    "Cinfh": lambda: group_from_name("Cinfh"),
    "Dinfh": lambda: group_from_name("Dinfh"),
}

FINITE = {}
for _n in (1, 2, 3, 5, 8):
    FINITE[f"C{_n}"] = lambda n=_n: cyclic_group(n)
    FINITE[f"C{_n}z"] = lambda n=_n: cyclic_group(n, 3)
for _n in (1, 2, 3, 4, 6):
    FINITE[f"D{_n}"] = lambda n=_n: dihedral_group(n)
    FINITE[f"D{_n}z"] = lambda n=_n: dihedral_group(n, 3, "rotation")
    FINITE[f"D{_n}zv"] = lambda n=_n: dihedral_group(n, 3, "mirror")
for _name in ("T", "O", "I", "Th", "Td", "Oh", "Ih", "C4h", "D3h"):
    FINITE[_name] = lambda name=_name: group_from_name(name)


def _opted_in(module) -> bool:
    return bool(getattr(module, "USE_GROUP_FIXTURES", False))


@pytest.fixture(autouse=True)
def _float64_one_thread(request):
    if not _opted_in(request.module):
        yield
        return
    old, threads = torch.get_default_dtype(), torch.get_num_threads()
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)  # tiny tensors: one thread is fastest, and immune to busy machines
    yield
    torch.set_default_dtype(old)
    torch.set_num_threads(threads)


def pytest_generate_tests(metafunc):
    if not _opted_in(metafunc.module):
        return
    choices = {
        "group": {**CONTINUOUS, **FINITE},
        "finite_group": FINITE,
        "continuous_group": CONTINUOUS,
    }
    for argument, groups in choices.items():
        if argument in metafunc.fixturenames:
            metafunc.parametrize(argument, [factory() for factory in groups.values()], ids=list(groups))
