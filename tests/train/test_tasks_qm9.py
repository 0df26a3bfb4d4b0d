"""The ``qm9`` task on a small fixture of QM9-format files written here: clear error without data, the split and
standardisation, rotation invariance of both models (float64), and a tiny run of each."""

from __future__ import annotations

import math

import pytest
import torch

from steertorch.train import MissingDataError, fit, get_task

torch.set_num_threads(1)


def _fixture(folder, n=16, seed=0):
    """``n`` random molecules (a heavy atom and 1-4 bonded hydrogens, 15 random properties) in the archive's
    layout, with ``*^`` exponents as the archive writes them."""
    g = torch.Generator().manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, n + 1):
        heavy = ["C", "N", "O", "F"][i % 4]
        nh = 4 - i % 4
        pos = [[0.0, 0.0, 0.0]] + (torch.randn(nh, 3, generator=g) * 0.3
                                  + torch.tensor([[1.09, 0, 0], [-0.36, 1.03, 0], [-0.36, -0.5, 0.9],
                                                  [-0.36, -0.5, -0.9]])[:nh]).tolist()
        props = (torch.rand(15, generator=g) - 0.5).tolist()
        props[10] = -40.0 - float(torch.rand(1, generator=g))  # U0 in Hartree
        lines = [str(1 + nh), f"gdb {i}\t" + "\t".join(f"{p:.6f}" for p in props)]
        for el, p in zip([heavy] + ["H"] * nh, pos):
            lines.append(el + "\t" + "\t".join(f"{c:.6e}".replace("e", "*^") for c in p) + "\t0.0")
        lines += ["1000.0", "C\tC", "InChI=1S/x\tInChI=1S/x"]
        (folder / f"dsgdb9nsd_{i:06d}.xyz").write_text("\n".join(lines) + "\n")
    return folder


def test_missing_data_is_a_clear_error(tmp_path):
    task = get_task("qm9")
    with pytest.raises(MissingDataError, match="data_path.*dsgdb9nsd.xyz.tar.bz2"):
        task.build_data(task.Config())
    with pytest.raises(MissingDataError, match="does not exist.*figshare"):
        task.build_data(task.Config(data_path=str(tmp_path / "nowhere")))


@pytest.mark.parametrize("model", ["segnn", "tfn"])
def test_splits_and_rotation_invariance(tmp_path, model):
    task = get_task("qm9")
    config = task.Config(data_path=str(_fixture(tmp_path / "qm9")), num_train=10, num_valid=3, model=model,
                         hidden_features=8, num_layers=2, dtype="float64")
    data = task.build_data(config)
    assert [len(data[s]) for s in ("train", "valid", "test")] == [10, 3, 3]
    torch.manual_seed(0)
    net = task.build_model(config).double().eval()
    y = data["train"].y
    assert float(net.mean) == pytest.approx(float(y.mean())) and float(net.std) == pytest.approx(float(y.std()))
    batch = data["test"].batch(torch.arange(3))
    assert batch["x"].shape == (batch["pos"].shape[0], 5) and bool((batch["x"].sum(1) == 1).all())
    with torch.no_grad():
        loss, metrics = task.loss(net, batch, config)
        q, _ = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2)))
        turned = {**batch, "pos": batch["pos"] @ q.T + 1.5}  # a rotation or reflection and a translation
        loss2, metrics2 = task.loss(net, turned, config)
    assert float(metrics["mae"]) > 0
    assert abs(float(loss) - float(loss2)) <= 1e-10 * max(1.0, float(loss))


def test_smoke_run(tmp_path):
    task = get_task("qm9")
    config = task.Config(data_path=str(_fixture(tmp_path / "qm9")), num_train=10, num_valid=3, epochs=1,
                         batch_size=5, hidden_features=8, num_layers=1)
    result = fit(task, config, tmp_path / "run", log=lambda *a, **k: None)
    assert math.isfinite(result["test"]["mae"])
