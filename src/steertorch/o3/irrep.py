"""Irreps of O(3) by name, as ``e3nn.o3.irrep``: ``irrep.l1o == Irrep("1o")``.

Any attribute ``l<degree><e|o>`` is the irrep of that degree and parity.

>>> from steertorch.o3 import irrep
>>> irrep.l0e, irrep.l2o
(0e, 2o)
>>> from steertorch.o3.irrep import l1o
>>> l1o.dim
3
"""

from __future__ import annotations

import re

from ._irreps import Irrep

__all__: list[str] = []  # every name l<l><p> is an attribute (module __getattr__)

_NAME = re.compile(r"^l(\d+)([eo])$")


def __getattr__(name: str) -> Irrep:
    m = _NAME.match(name)
    if m is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r} (irreps are named like l1o, l2e)")
    return Irrep(f"{int(m.group(1))}{m.group(2)}")
