"""The ``steertorch`` command: ``info``, ``demo`` (tetris training) and ``selfcheck``."""

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
    from steertorch.o3 import cpu_kernel_available

    assert ("cpu kernel in use" in out) == cpu_kernel_available()


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    out = capsys.readouterr().out
    assert "demo" in out and "selfcheck" in out


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
    """The README's ``steertorch demo``: tetris learned from unrotated shapes, rotated copies all right."""
    code = main(["demo", "--quick"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "demo passed" in out and "FAILED" not in out
    assert "step" in out and "loss" in out  # training progress is printed
    assert "accuracy 100.0%" in out
    assert "mirrored copies" in out
    error = float(out.split("over 8 random rotations + translations = ")[1].split()[0])
    assert error <= 1e-9


def test_demo_fails_when_training_is_cut_short(capsys):
    """The exit status is earned: one training step cannot classify everything."""
    code = main(["demo", "--quick", "--max-steps", "1"])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "FAILED" in out


def test_selfcheck_passes(capsys):
    _require_group_api()
    code = main(["selfcheck"])
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
