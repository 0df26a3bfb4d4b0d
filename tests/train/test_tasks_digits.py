"""The ``digits`` task: every equivariant model is invariant under its group's grid symmetries (float64, eval
mode), the models have similar sizes, the test splits are the transformed test images, and a tiny run trains."""

from __future__ import annotations

import math

import pytest
import torch

from steertorch.train import MissingDataError, fit, get_task
from steertorch.train.tasks._digits import DIGITS_MODELS, digits_model

torch.set_num_threads(1)

# model -> the grid symmetries it is exactly invariant under: (quarter turns k, mirrored)
_EXACT = {"c4": [(1, False), (2, False), (3, False)], "c8": [(1, False), (3, False)],
          "so2": [(1, False), (2, False)], "d4": [(1, False), (0, True), (3, True)],
          "o2": [(2, False), (0, True), (1, True)]}


def _g(img, k, flip):
    return torch.rot90(torch.flip(img, (-1,)) if flip else img, k, (-2, -1))


@pytest.mark.parametrize("name", list(_EXACT))
def test_equivariant_models_are_invariant_under_their_grid_symmetries(name):
    torch.manual_seed(0)
    model = digits_model(name).double()
    model.train()
    with torch.no_grad():
        model(torch.rand(8, 1, 28, 28, dtype=torch.float64))  # running statistics move from (0, 1)
    model.eval()
    x = torch.rand(3, 1, 28, 28, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = model(x)
        for k, flip in _EXACT[name]:
            err = float((model(_g(x, k, flip)) - y).abs().max() / y.abs().max())
            assert err <= 1e-10, (name, k, flip, err)
        if name in ("c4", "c8", "so2"):  # rotation groups only: a mirror image changes the logits
            assert float((model(_g(x, 0, True)) - y).abs().max() / y.abs().max()) > 1e-3


def test_plain_cnn_is_not_invariant_and_sizes_are_similar():
    torch.manual_seed(0)
    cnn = digits_model("cnn").double().eval()
    x = torch.rand(3, 1, 28, 28, dtype=torch.float64)
    with torch.no_grad():
        assert float((cnn(_g(x, 1, False)) - cnn(x)).abs().max()) > 1e-4
    sizes = {m: sum(p.numel() for p in digits_model(m).parameters()) for m in DIGITS_MODELS}
    assert max(sizes.values()) / min(sizes.values()) < 1.05, sizes
    with pytest.raises(ValueError, match="model must be one of"):
        digits_model("c5")


def test_test_splits_are_the_transformed_test_images():
    task = get_task("digits")
    config = task.Config(num_train=8, num_valid=8, num_test=16, dtype="float64")
    data = task.build_data(config)
    assert set(data) == {"train", "valid", "test", "test_rot90", "test_d4", "test_rot"}
    upright = data["test"].batch(torch.arange(16))
    turned = data["test_rot90"].batch(torch.arange(16))
    assert torch.equal(upright["y"], turned["y"]) and int(upright["y"].max()) <= 8  # 9 dropped by default
    for a, b in zip(upright["x"], turned["x"]):  # each a quarter turn of the upright image
        assert any(torch.equal(torch.rot90(a, k, (-2, -1)), b) for k in range(4))
    d4 = data["test_d4"].batch(torch.arange(16))["x"]
    assert any(not any(torch.equal(torch.rot90(a, k, (-2, -1)), b) for k in range(4))
               for a, b in zip(upright["x"], d4))  # some are mirrored
    rot = data["test_rot"].batch(torch.arange(16))["x"]
    assert not torch.equal(rot, upright["x"]) and rot.shape == (16, 1, 28, 28)


def test_rotated_mnist_data_and_its_missing_files(tmp_path):
    task = get_task("digits")
    with pytest.raises(MissingDataError, match="data_path"):
        task.build_data(task.Config(data="mnist_rot"))
    with pytest.raises(MissingDataError, match="train_valid.amat"):
        task.build_data(task.Config(data="mnist_rot", data_path=str(tmp_path)))
    row = " ".join(["0.25"] * 784)
    for name, labels in (("train_valid", [1, 2, 9, 3]), ("test", [4, 9, 5])):
        (tmp_path / f"mnist_all_rotation_normalized_float_{name}.amat").write_text(
            "".join(f"{row} {y}.0\n" for y in labels))
    data = task.build_data(task.Config(data="mnist_rot", data_path=str(tmp_path)))
    assert data["train"].batch(torch.arange(3))["y"].tolist() == [1, 2, 3] and len(data["valid"]) == 0
    assert len(data["test_rot"]) == 2


@pytest.mark.parametrize("model", ["cnn", "d4"])
def test_smoke_run(tmp_path, model):
    task = get_task("digits")
    config = task.Config(model=model, width=2, epochs=1, batch_size=8, num_train=16, num_valid=8, num_test=8)
    result = fit(task, config, tmp_path / "run", log=lambda *a, **k: None)
    for split in ("test", "test_rot90", "test_d4", "test_rot"):
        assert 0.0 <= result[split]["accuracy"] <= 1.0 and math.isfinite(result[split]["loss"])
