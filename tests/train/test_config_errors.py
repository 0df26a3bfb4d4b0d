"""Bad input to ``steertorch train`` gives one clear error line (exit status 2) and loses nothing."""

from __future__ import annotations

import pytest

from steertorch.cli import main
from steertorch.train import ConfigError, apply_overrides, get_task, load_toml, parse_assignments

TINY = ["--set", "model=linear", "--set", "num_train=4", "--set", "num_valid=2", "--set", "num_test=2",
        "--set", "frame_in=1", "--set", "frame_out=2", "--set", "cache=false", "--set", "batch_size=2",
        "--set", "num_threads=1", "--epochs", "1", "--no-progress"]


def _error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def test_unknown_task_lists_tasks(capsys):
    err = _error(capsys, ["train", "nbdy"])
    assert "unknown task 'nbdy'" in err and "nbody" in err and "tetris" in err


def test_unknown_key_lists_valid_keys(capsys, tmp_path):
    err = _error(capsys, ["train", "nbody", "--set", "modle=egnn", "--out", str(tmp_path / "r")])
    assert "unknown config key 'modle'" in err and "did you mean 'model'" in err
    assert "model (segnn|egnn|tfn|linear)" in err and "lr (float)" in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("assignment, expected", [
    ("lr=fast", "config key 'lr' expects float, got 'fast'"),
    ("epochs=1.5", "config key 'epochs' expects int, got '1.5'"),
    ("cache=maybe", "config key 'cache' expects bool"),
    ("model=gcn", "config key 'model' must be one of segnn, egnn, tfn, linear; got 'gcn'"),
])
def test_wrong_value_type(capsys, assignment, expected):
    assert expected in _error(capsys, ["train", "nbody", "--set", assignment])


def test_toml_types_are_checked(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[nbody]\nmodel = "egnn"\nlr = 1\nepochs = "ten"\n')
    values = load_toml(path)
    with pytest.raises(ConfigError, match="config key 'epochs' expects int, got 'ten'"):
        apply_overrides(get_task("nbody").Config(), values)
    config = apply_overrides(get_task("nbody").Config(), {"model": "egnn", "lr": 1})
    assert config.lr == 1.0 and isinstance(config.lr, float)
    with pytest.raises(ConfigError, match="expects bool"):
        apply_overrides(get_task("nbody").Config(), {"cache": 1})
    with pytest.raises(ConfigError, match="--set expects key=value"):
        parse_assignments(["lr"])
    with pytest.raises(ConfigError, match="does not exist"):
        load_toml(tmp_path / "missing.toml")


def test_missing_data_names_the_file_and_its_source(capsys, tmp_path):
    err = _error(capsys, ["train", "nbody", "--set", f"data_dir={tmp_path}", "--out", str(tmp_path / "r")])
    assert f"{tmp_path}/loc_train_charged5_initvel1small.npy" in err
    assert "generate_dataset.py" in err and "github.com/vgsatorras/egnn" in err


def test_existing_run_dir_is_refused_without_resume(capsys, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("keep me")
    err = _error(capsys, ["train", "nbody", "--out", str(run), *TINY])
    assert "exists and is not empty" in err and "--resume" in err
    assert (run / "notes.txt").read_text() == "keep me" and sorted(p.name for p in run.iterdir()) == ["notes.txt"]
    err = _error(capsys, ["train", "nbody", "--out", str(tmp_path / "none"), "--resume"])
    assert "no checkpoint" in err


def test_resume_refuses_new_settings(capsys, tmp_path):
    assert main(["train", "nbody", "--out", str(tmp_path / "run"), *TINY]) == 0
    capsys.readouterr()
    err = _error(capsys, ["train", "nbody", "--out", str(tmp_path / "run"), "--resume", "--set", "lr=1"])
    assert "only --epochs may change" in err
    err = _error(capsys, ["train", "tetris", "--out", str(tmp_path / "run"), "--resume"])
    assert "is a run of task 'nbody'" in err
