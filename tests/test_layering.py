"""The package's import graph: imports only point downwards (docs/architecture.md), and the files of ``group/``
import each other without a circle.

Read from the source (``ast``), so a lazy import inside a function counts like one at the top of a file. The one
exception is a module-level ``__getattr__``: a package may offer a name of a higher layer under its familiar name
(``steertorch.kernels.ImplicitKernel``, escnn's ``steertorch.nn.R2PointConv``), imported on first access; those
aliases are listed here.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "steertorch"

# bottom first; a package may import only the packages before it
LAYERS = ["_dtype", "_native", "math", "group", "o3", "io", "symmetry", "testing", "util", "gspaces", "kernels", "nn",
          "graph", "models", "data", "_tetris_demo", "ase", "train", "cli", "__main__", "__init__"]
LAZY_ALIASES = {("kernels", "nn"), ("nn", "graph")}


def _imports(path: Path, rel: tuple[str, ...]) -> list[tuple[list[str], bool, int]]:
    """``(target module path inside steertorch, lazy alias?, line)`` for each import of a steertorch module."""
    tree = ast.parse(path.read_text())
    in_getattr = {id(n) for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "__getattr__"
                  for n in ast.walk(node)}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(rel[:-1])[: len(rel) - node.level]
                module = base + (node.module.split(".") if node.module else [])
                targets = [module] if node.module else [module + [a.name] for a in node.names]
            elif node.module and node.module.split(".")[0] == "steertorch":
                targets = [node.module.split(".")[1:]]
            else:
                continue
        elif isinstance(node, ast.Import):
            targets = [a.name.split(".")[1:] for a in node.names if a.name.split(".")[0] == "steertorch"]
        else:
            continue
        out += [(t, id(node) in in_getattr, node.lineno) for t in targets if t]
    return out


def _files():
    for path in sorted(ROOT.rglob("*.py")):
        yield path, path.relative_to(ROOT).parts


def _layer(parts: tuple[str, ...] | list[str]) -> str:
    return parts[0].removesuffix(".py")


def test_every_package_has_a_layer():
    assert {_layer(rel) for _, rel in _files()} <= set(LAYERS)


def test_imports_point_downwards():
    up = []
    for path, rel in _files():
        src = _layer(rel)
        for target, lazy, _ in _imports(path, rel):
            dst = _layer(target)
            if dst != src and LAYERS.index(dst) > LAYERS.index(src) and not (lazy and (src, dst) in LAZY_ALIASES):
                up.append(f"{'/'.join(rel)} imports {'.'.join(target)}")
    assert not up, "imports pointing up:\n" + "\n".join(up)


def test_group_files_import_without_a_circle():
    graph: dict[str, set[str]] = defaultdict(set)
    lines: dict[tuple[str, str], list[int]] = defaultdict(list)  # (file, imported file) -> lines of the imports
    for path, rel in _files():
        if rel[0] != "group" or len(rel) != 2:
            continue
        for target, _, line in _imports(path, rel):
            if len(target) >= 2 and target[0] == "group" and target[1] != rel[1].removesuffix(".py"):
                graph[rel[1].removesuffix(".py")].add(target[1])
                lines[rel[1].removesuffix(".py"), target[1]].append(line)
    def find_cycle() -> list[str]:
        done: set[str] = set()

        def visit(node: str, path: list[str]) -> list[str]:
            for nxt in sorted(graph.get(node, ())):
                if nxt in path:
                    return path[path.index(nxt):] + [nxt]
                if nxt not in done:
                    found = visit(nxt, path + [nxt])
                    if found:
                        return found
            done.add(node)
            return []

        for start in sorted(graph):
            found = visit(start, [start])
            if found:
                return found
        return []

    cycle = find_cycle()
    where = "\n".join(f"  group/{a}.py line {', '.join(map(str, sorted(lines[a, b])))} imports {b}"
                      for a, b in zip(cycle, cycle[1:]))
    assert not cycle, (f"import circle in group/: {' -> '.join(cycle)}\n{where}\n(an import inside a function or "
                       f"under TYPE_CHECKING counts: move the code it needs down, see the order in "
                       f"steertorch/group/__init__.py)")
