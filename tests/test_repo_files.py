"""The README's quick-start test command is the command CI runs."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEST_COMMAND = (
    'python3 -m venv .venv && . .venv/bin/activate && python -m pip install torch==2.13.0 && '
    'python -m pip install -e ".[dev]" && python -m pytest'
)
DEMO_COMMAND = (
    "python3 -m venv .venv && . .venv/bin/activate && python -m pip install torch==2.13.0 && "
    "python -m pip install -e . && steertorch demo"
)


def _read(relative: str) -> str:
    path = ROOT / relative
    if not path.is_file():
        pytest.skip(f"{relative} is not part of this installation (not a source checkout)")
    return path.read_text()


def test_ci_runs_the_readme_test_command():
    ci_lines = [line.strip() for line in _read(".ci/run").splitlines()]
    assert TEST_COMMAND in ci_lines
    readme_lines = [line.strip() for line in _read("README.md").splitlines()]
    assert TEST_COMMAND in readme_lines
    assert DEMO_COMMAND in readme_lines


def test_ci_script_is_strict():
    text = _read(".ci/run")
    assert text.startswith("#!/usr/bin/env bash")
    assert "set -euo pipefail" in text
    # the test command must be the last command, so its exit status is the script's
    commands = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert commands[-1].strip() == TEST_COMMAND


def test_every_kernel_source_is_package_data():
    """A wheel must carry the C sources that the optional kernels compile on first use."""
    import tomllib

    config = tomllib.loads(_read("pyproject.toml"))
    package_data = config["tool"]["setuptools"]["package-data"]
    sources = sorted((ROOT / "src").rglob("*.c"))
    assert sources, "the optional kernels' C sources were not found"
    for source in sources:
        package = ".".join(source.parent.relative_to(ROOT / "src").parts)
        assert "*.c" in package_data.get(package, []), f"{source.name}: add {package!r} to package-data"
