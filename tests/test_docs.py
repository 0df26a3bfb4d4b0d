"""The documentation runs: every ```python block of each docs/*.md file is executed.

Blocks of one file run in order in one namespace (a later block may use names of an earlier
one), so each page is one test; a failure names the file, the block number and its first line.
"""

from __future__ import annotations

import re
import traceback
from pathlib import Path

import pytest
import torch

DOCS = Path(__file__).resolve().parents[1] / "docs"
_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``[(line, code), ...]``: the ```python blocks of a markdown text and the line each code starts on."""
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in _BLOCK.finditer(text)]


PAGES = sorted(DOCS.glob("*.md"))


def test_block_extraction():
    text = "intro\n```python\na = 1\n```\n```bash\nls\n```\n\n```python\nb = a + 1\n```\n"
    assert python_blocks(text) == [(3, "a = 1\n"), (10, "b = a + 1\n")]
    assert PAGES, f"no markdown pages found in {DOCS}"


def run_page(page: Path) -> None:
    """Execute the python blocks of ``page`` in order in one namespace; ``pytest.fail`` names the failing block."""
    blocks = python_blocks(page.read_text())
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    dtype, threads = torch.get_default_dtype(), torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for number, (line, code) in enumerate(blocks, start=1):
            try:
                exec(compile(code, f"{page.name}, block {number} (line {line})", "exec"), namespace)
            except Exception as err:  # noqa: BLE001 - report any failure with its place in the docs
                tb = "".join(traceback.format_exception(type(err), err, err.__traceback__, limit=-3))
                pytest.fail(f"{page.name}: python block {number} (starting at line {line}) failed:\n{tb}",
                            pytrace=False)
    finally:
        torch.set_default_dtype(dtype)
        torch.set_num_threads(threads)


def test_a_failing_block_is_reported_with_file_and_number(tmp_path: Path):
    page = tmp_path / "broken.md"
    page.write_text("```python\nx = 1\n```\ntext\n```python\nassert x == 2, 'x is not 2'\n```\n")
    with pytest.raises(pytest.fail.Exception, match=r"broken.md: python block 2 \(starting at line 6\)"):
        run_page(page)
    page.write_text("```python\nimport torch\ntorch.set_default_dtype(torch.float64)\n```\n")
    run_page(page)  # passes, and the default dtype is restored afterwards
    assert torch.get_default_dtype() == torch.float32


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_doc_page_runs(page: Path):
    run_page(page)
