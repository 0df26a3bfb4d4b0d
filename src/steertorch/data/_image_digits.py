r"""Handwritten digits from files: the rotated-MNIST benchmark files and scikit-learn's bundled 8x8 digits.

**Rotated MNIST** (Larochelle et al. 2007, the G-CNN / steerable-CNN benchmark): the archive
``mnist_rotation_new.zip`` (http://www.iro.umontreal.ca/~lisa/icml2007data/) unpacks to

- ``mnist_all_rotation_normalized_float_train_valid.amat``: 12,000 rows;
- ``mnist_all_rotation_normalized_float_test.amat``: 50,000 rows;

each row 784 whitespace-separated floats in [0, 1] (a 28 x 28 image, row-major, as the G-CNN and e2cnn
experiments read it) and then the label. The usual split takes the first 10,000 rows of ``train_valid`` for
training and the last 2,000 for validation.

**scikit-learn digits** (the UCI optical-recognition test set, 1,797 images of 8 x 8 pixels with values 0-16,
bundled with scikit-learn: no download): returned as values in [0, 1].
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

__all__ = ["load_rotated_mnist", "ROTATED_MNIST_FILES", "sklearn_digits"]

#: split -> file name of the rotated-MNIST archive
ROTATED_MNIST_FILES: dict[str, str] = {
    "train_valid": "mnist_all_rotation_normalized_float_train_valid.amat",
    "test": "mnist_all_rotation_normalized_float_test.amat",
}
_SPLITS = ("train", "valid", "train_valid", "test")
_NUM_TRAIN = 10_000


def _read_amat(file: Path) -> tuple[torch.Tensor, torch.Tensor]:
    values = np.array(file.read_text().split(), dtype=np.float32)
    if values.size % 785 != 0 or values.size == 0:
        raise ValueError(f"rotated MNIST: {file} must hold rows of 784 pixel values and a label "
                         f"({values.size} numbers is not a multiple of 785)")
    rows = torch.from_numpy(values.reshape(-1, 785))
    labels = rows[:, 784]
    if not bool((labels == labels.round()).all()) or float(labels.min()) < 0 or float(labels.max()) > 9:
        raise ValueError(f"rotated MNIST: {file}: the last value of each row must be a digit label 0-9")
    return rows[:, :784].reshape(-1, 1, 28, 28).contiguous(), labels.long()


def load_rotated_mnist(path: str | os.PathLike, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    r"""Images ``[n, 1, 28, 28]`` (float32, [0, 1]) and labels ``[n]`` of the rotated-MNIST files in ``path``.

    ``split``: ``"train"`` (the first 10,000 rows of ``train_valid``), ``"valid"`` (the other 2,000),
    ``"train_valid"`` (all 12,000) or ``"test"`` (50,000). Files with fewer rows split the same way
    (``"valid"`` is then what follows row 10,000, possibly nothing).

    Raises ``FileNotFoundError`` naming the expected file and where it comes from when it is absent.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> row = " ".join(["0.5"] * 784) + " 7.0\n"
    >>> _ = (folder / ROTATED_MNIST_FILES["test"]).write_text(row * 3)
    >>> x, y = load_rotated_mnist(folder, "test")
    >>> x.shape, y.tolist()
    (torch.Size([3, 1, 28, 28]), [7, 7, 7])
    """
    if split not in _SPLITS:
        raise ValueError(f"rotated MNIST: split must be one of {_SPLITS}, got {split!r}")
    key = "test" if split == "test" else "train_valid"
    folder = Path(path).expanduser()
    file = folder / ROTATED_MNIST_FILES[key]
    if not file.is_file():
        raise FileNotFoundError(
            f"rotated MNIST: {file} not found. Expected the folder holding {ROTATED_MNIST_FILES['train_valid']} "
            f"and {ROTATED_MNIST_FILES['test']}, from mnist_rotation_new.zip at "
            f"http://www.iro.umontreal.ca/~lisa/icml2007data/ (Larochelle et al., ICML 2007)")
    x, y = _read_amat(file)
    if split == "train":
        return x[:_NUM_TRAIN], y[:_NUM_TRAIN]
    if split == "valid":
        return x[_NUM_TRAIN:], y[_NUM_TRAIN:]
    return x, y


def sklearn_digits(dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    r"""scikit-learn's bundled digits: images ``[1797, 1, 8, 8]`` with values in [0, 1] (the 0-16 counts
    divided by 16) and labels ``[1797]``. Needs scikit-learn (``pip install steertorch[digits]``).

    >>> x, y = sklearn_digits()  # doctest: +SKIP
    >>> x.shape, y.shape  # doctest: +SKIP
    (torch.Size([1797, 1, 8, 8]), torch.Size([1797]))
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise ImportError("sklearn_digits needs scikit-learn: pip install scikit-learn "
                          "(or pip install 'steertorch[digits]')") from e
    bunch = load_digits()
    x = torch.from_numpy(np.asarray(bunch.images, dtype=np.float64) / 16.0)
    x = x.to(dtype or torch.get_default_dtype()).reshape(-1, 1, 8, 8)
    return x, torch.from_numpy(np.asarray(bunch.target)).long()
