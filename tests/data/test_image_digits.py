"""Rotated-MNIST files (small files of the published format written here) and scikit-learn's digits."""

from __future__ import annotations

import pytest
import torch

from steertorch.data import ROTATED_MNIST_FILES, _image_digits, load_rotated_mnist, sklearn_digits


def _write_amat(path, labels, seed=0):
    g = torch.Generator().manual_seed(seed)
    pixels = torch.rand(len(labels), 784, generator=g, dtype=torch.float64)
    rows = [" ".join(f"{v:.8f}" for v in p.tolist()) + f" {float(y):.1f}" for p, y in zip(pixels, labels)]
    path.write_text("\n".join(rows) + "\n")
    return pixels


def test_reads_rows_of_784_pixels_and_a_label(tmp_path, monkeypatch):
    labels = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8]
    pixels = _write_amat(tmp_path / ROTATED_MNIST_FILES["train_valid"], labels)
    test_pixels = _write_amat(tmp_path / ROTATED_MNIST_FILES["test"], [7, 0], seed=1)
    x, y = load_rotated_mnist(tmp_path, "train_valid")
    assert x.shape == (12, 1, 28, 28) and x.dtype == torch.float32 and y.tolist() == labels
    # row-major: value k of a row is pixel (k // 28, k % 28)
    assert x[4, 0, 2, 5].item() == pytest.approx(pixels[4, 2 * 28 + 5].item(), abs=1e-7)
    assert torch.allclose(x.reshape(12, 784).double(), pixels, atol=1e-7)
    xt, yt = load_rotated_mnist(str(tmp_path), "test")
    assert yt.tolist() == [7, 0] and torch.allclose(xt.reshape(2, 784).double(), test_pixels, atol=1e-7)
    # the published split: the first 10,000 rows train, the rest valid (here with 8 to keep the file small)
    monkeypatch.setattr(_image_digits, "_NUM_TRAIN", 8)
    (xa, ya), (xb, yb) = load_rotated_mnist(tmp_path, "train"), load_rotated_mnist(tmp_path, "valid")
    assert ya.tolist() == labels[:8] and yb.tolist() == labels[8:]
    assert torch.equal(torch.cat([xa, xb]), x)


def test_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"mnist_all_rotation_normalized_float_test\.amat not found.*"
                                                r"train_valid\.amat.*mnist_rotation_new\.zip"):
        load_rotated_mnist(tmp_path, "test")
    with pytest.raises(ValueError, match="split must be one of"):
        load_rotated_mnist(tmp_path, "validation")
    (tmp_path / ROTATED_MNIST_FILES["test"]).write_text(" ".join(["0.5"] * 784) + "\n")
    with pytest.raises(ValueError, match="rows of 784 pixel values and a label"):
        load_rotated_mnist(tmp_path, "test")
    (tmp_path / ROTATED_MNIST_FILES["test"]).write_text(" ".join(["0.5"] * 784) + " 10.0\n")
    with pytest.raises(ValueError, match="digit label 0-9"):
        load_rotated_mnist(tmp_path, "test")


def test_sklearn_digits():
    pytest.importorskip("sklearn")
    x, y = sklearn_digits()
    assert x.shape == (1797, 1, 8, 8) and y.shape == (1797,) and y.dtype == torch.long
    assert x.dtype == torch.get_default_dtype()
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert set(y.tolist()) == set(range(10))
    assert sklearn_digits(torch.float64)[0].dtype == torch.float64


def test_sklearn_digits_without_sklearn(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match="pip install scikit-learn"):
        sklearn_digits()
