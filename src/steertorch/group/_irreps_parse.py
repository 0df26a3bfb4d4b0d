"""Parse irreps strings such as ``"16x0e + 8x1o + 4x2e"`` into ``(mul, (l, p))`` pairs."""

from __future__ import annotations

import re

__all__ = ["parse_irreps", "parse_irrep"]

_IRREP = re.compile(r"^\s*(\d+)\s*([eoy])\s*$")
_MUL_IRREP = re.compile(r"^\s*(?:(\d+)\s*x\s*)?(.+?)\s*$")


def parse_irrep(text: str) -> tuple[int, int]:
    """``"1o"`` -> ``(1, -1)``; ``"2e"`` -> ``(2, 1)``; ``"3y"`` -> ``(3, -1)`` (parity (-1)^l).

    >>> parse_irrep("1o"), parse_irrep(" 2e "), parse_irrep("3y")
    ((1, -1), (2, 1), (3, -1))
    """
    if not isinstance(text, str):
        raise ValueError(f"an irrep is written like '1o' or '2e', got {text!r}")
    m = _IRREP.match(text)
    if m is None:
        raise ValueError(f"malformed irrep {text!r}: expected <l><p> with l >= 0 and p in 'e', 'o', 'y' (e.g. '1o')")
    l = int(m.group(1))
    p = {"e": 1, "o": -1, "y": (-1) ** l}[m.group(2)]
    return l, p


def parse_irreps(irreps: object) -> list[tuple[int, tuple[int, int]]]:
    """Parse ``"16x0e + 8x1o"`` (or an iterable of ``(mul, (l, p))`` / ``(mul, ir)``) into a list of
    ``(mul, (l, p))``.

    >>> parse_irreps("16x0e + 8x1o + 2e")
    [(16, (0, 1)), (8, (1, -1)), (1, (2, 1))]
    """
    if isinstance(irreps, str):
        text = irreps.strip()
        if text == "":
            return []
        out = []
        for term in text.split("+"):
            m = _MUL_IRREP.match(term)
            if m is None or not term.strip():
                raise ValueError(f"malformed irreps string {irreps!r}: empty term")
            mul = int(m.group(1)) if m.group(1) is not None else 1
            try:
                ir = parse_irrep(m.group(2))
            except ValueError as err:
                raise ValueError(f"malformed irreps string {irreps!r}: {err}") from None
            out.append((mul, ir))
        return out
    out = []
    try:
        items = list(irreps)  # type: ignore[call-overload]
    except TypeError:
        raise ValueError(f"expected irreps (a string like '8x0e + 4x1o' or a list), got {irreps!r}") from None
    for item in items:
        try:
            mul, ir = item
        except (TypeError, ValueError):
            raise ValueError(f"expected (mul, irrep) pairs in irreps, got {item!r}") from None
        if hasattr(ir, "l") and hasattr(ir, "p"):
            ir = (int(ir.l), int(ir.p))
        elif isinstance(ir, str):
            ir = parse_irrep(ir)
        elif isinstance(ir, (tuple, list)) and len(ir) == 2:
            ir = (int(ir[0]), int(ir[1]))
        else:
            raise ValueError(f"expected (mul, irrep) pairs in irreps, got {item!r} (pairs are (mul, irrep) as in e3nn)")
        if not isinstance(mul, int) or mul < 0 or ir[0] < 0 or ir[1] not in (1, -1):
            raise ValueError(f"invalid (mul, (l, p)) = ({mul!r}, {ir!r}) in irreps")
        out.append((mul, ir))
    return out
