"""The ``steertorch`` command: ``info`` and ``demo``."""

import importlib.metadata
import subprocess
import sys

import pytest

from steertorch.cli import main


def _expected_version() -> str:
    import steertorch

    version = getattr(steertorch, "__version__", None)
    return str(version) if version else importlib.metadata.version("steertorch")


def test_info_prints_versions(capsys):
    import torch

    assert main(["info"]) in (0, None)
    out = capsys.readouterr().out
    assert f"steertorch {_expected_version()}" in out
    assert torch.__version__ in out
    assert "cpu: available" in out


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_unknown_command_is_an_error():
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code != 0


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert _expected_version() in capsys.readouterr().out


def _require_group_api():
    group = pytest.importorskip("steertorch.group")
    try:
        group.available_groups  # noqa: B018 - attribute presence check
    except AttributeError:
        pytest.skip("steertorch.group.available_groups is not implemented yet")


def test_demo_passes(capsys):
    _require_group_api()
    code = main(["demo"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "all checks passed" in out
    assert "FAIL" not in out
    for name in ("SO(2)", "O(2)", "C8", "D4", "SO(3)", "O(3)", "Ih"):
        assert name in out


def test_python_dash_m_runs_the_cli():
    result = subprocess.run(
        [sys.executable, "-m", "steertorch", "info"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "steertorch" in result.stdout
