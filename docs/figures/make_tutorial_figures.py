"""Draw the figures of the two tutorials from the pages' own code.

Runs the python blocks of ``docs/tutorial_gcnn_c4.md`` and ``docs/tutorial_steerable_cnn.md`` (in order, in one
namespace per page, as ``tests/test_docs.py`` does) and plots the objects they leave behind:

- ``tutorial_c4_kernels.png``: the trained C4 lifting kernel in its four orientations, and a group-convolution
  kernel for the four output rotations (rotate and cyclic shift);
- ``tutorial_c4_feature_maps.png``: the four lifted maps of one channel for a digit and for the digit turned by
  90 degrees;
- ``tutorial_steerable_kernels.png``: a C8-steerable kernel from a scalar to a regular field (a random combination
  of the basis) and SO(2)-steerable basis kernels (scalar -> frequencies 0..3), sampled finely and on a 7 x 7 grid;
- ``tutorial_steerable_feature_maps.png``: one regular field after ``block1`` of the C8 model, digit upright and
  turned by 90 degrees;
- ``tutorial_steerable_vector_field.png``: a frequency-1 (vector) field of the SO(2) irreps network, digit
  upright and turned.

Run: ``PYTHONPATH=src python docs/figures/make_tutorial_figures.py`` (about 30 s on one CPU thread).
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent
_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def run_page(name: str) -> dict:
    """The namespace left by the python blocks of ``docs/name`` (run in order, as the test suite does)."""
    namespace: dict = {"__name__": f"docs_{Path(name).stem}"}
    for number, code in enumerate(_BLOCK.findall((DOCS / name).read_text()), start=1):
        exec(compile(code, f"{name}, block {number}", "exec"), namespace)
    return namespace


def _show(ax, image: torch.Tensor, title: str = "", cmap: str = "RdBu_r", limit: float | None = None) -> None:
    image = image.detach().double()
    if limit is None:
        limit = float(image.abs().max()) or 1.0
    if cmap == "gray":
        ax.imshow(image, cmap=cmap)
    else:
        ax.imshow(image, cmap=cmap, vmin=-limit, vmax=limit)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def _save(fig, name: str) -> None:
    fig.tight_layout()
    fig.savefig(HERE / name, dpi=72)
    plt.close(fig)
    print("wrote", HERE / name)


def c4_figures(ns: dict) -> None:
    c4cnn, gconv, images, rotate = ns["c4cnn"], ns["gconv"], ns["images"], ns["rotate"]
    with torch.no_grad():
        lift_bank, _ = c4cnn.lift.build_filter()  # [out, 4, in, 5, 5]
        gconv_bank, _ = gconv.build_filter()  # [out, 4, in, 4, 5, 5]
    fig, axes = plt.subplots(5, 4, figsize=(6.0, 7.6))
    lim = float(lift_bank[0, :, 0].abs().max())
    for i in range(4):
        _show(axes[0, i], lift_bank[0, i, 0], f"lifting kernel, r = {i}", limit=lim)
    lim = float(gconv_bank[0, :, 0].abs().max())
    for i in range(4):
        for j in range(4):
            _show(axes[1 + i, j], gconv_bank[0, i, 0, j], f"out r = {i}, in slice {j}", limit=lim)
    fig.suptitle("C4: a lifting kernel in its 4 orientations (top);\n"
                 "a group-convolution kernel on p4 (rows: output rotation r, columns: input slices)", fontsize=9)
    _save(fig, "tutorial_c4_kernels.png")

    x = images[ns["labels"] == 3][:1]  # a digit without a rotation symmetry
    with torch.no_grad():
        maps = [c4cnn.lift(x)[0], c4cnn.lift(rotate(x, 1))[0]]  # [C, 4, H, W]
    # the channel whose four orientations differ most
    channel = int((maps[0] - maps[0].mean(1, keepdim=True)).flatten(1).std(1).argmax())
    lim = float(maps[0][channel].abs().max())
    fig, axes = plt.subplots(2, 5, figsize=(9.0, 3.9))
    for row, (img, m) in enumerate(zip((x, rotate(x, 1)), maps)):
        _show(axes[row, 0], img[0, 0], "digit" if row == 0 else "digit turned 90 deg", cmap="gray")
        for i in range(4):
            _show(axes[row, 1 + i], m[channel, i], f"rotation channel {i}", limit=lim)
    fig.suptitle(f"C4 lifting: channel {channel} of the trained lifting layer; second row = first row turned by "
                 "90 deg and shifted one column to the right", fontsize=9)
    _save(fig, "tutorial_c4_feature_maps.png")


def steerable_figures(ns: dict) -> None:
    from steertorch import gspaces
    from steertorch.kernels import grid_points, kernel_basis

    model, images = ns["model"], ns["images"]
    fine_axis = torch.linspace(-3.0, 3.0, 41, dtype=torch.float64)
    fine = torch.stack(torch.meshgrid(fine_axis, fine_axis, indexing="ij"), -1).reshape(-1, 2)
    coarse = grid_points(7, 2, dtype=torch.float64)

    # a C8-steerable kernel from a scalar to a regular field: a random combination of the basis (radii 0..3 as in a
    # 7 x 7 R2Conv; frequencies up to floor(r) on the ring of radius r, for a smooth picture), sampled finely and on
    # the grid; channel i is channel 0 turned by i * 45 degrees
    c8 = gspaces.rot2dOnR2(8)
    basis = kernel_basis(c8, c8.trivial_repr, c8.regular_repr, radii=[0.0, 1.0, 2.0, 3.0], sigma=0.6,
                         frequency_cutoff=1.0)
    weights = torch.randn(basis.dim, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    c8_fine = torch.einsum("d,dop->op", weights, basis.sample(fine)[:, :, 0]).reshape(8, 41, 41)
    c8_grid = torch.einsum("d,dop->op", weights, basis.sample(coarse)[:, :, 0]).reshape(8, 7, 7)

    so2 = gspaces.rot2dOnR2(-1)
    panels = []  # (frequency, radius, fine [41, 41], coarse [7, 7])
    for k in range(4):
        basis = kernel_basis(so2, so2.trivial_repr, so2.irrep(k), radii=[0.0, 1.0, 2.0, 3.0], sigma=0.6,
                             frequency_cutoff=10.0)
        for radius in (1.0, 2.0):
            idx = next(i for i, a in enumerate(basis.attributes) if abs(a["radius"] - radius) < 1e-9)
            panels.append((k, radius, basis.sample(fine)[idx, 0, 0].reshape(41, 41),
                           basis.sample(coarse)[idx, 0, 0].reshape(7, 7)))
    fig, axes = plt.subplots(4, 8, figsize=(13.0, 7.2))
    for i in range(8):
        _show(axes[0, i], c8_fine[i], f"C8, rotation channel {i}", limit=float(c8_fine.abs().max()))
        _show(axes[1, i], c8_grid[i], "... on the 7 x 7 grid", limit=float(c8_grid.abs().max()))
    for j, (k, radius, f, c) in enumerate(panels):
        _show(axes[2, j], f, f"SO(2) 0 -> {k}, ring r = {radius:g}")
        _show(axes[3, j], c, "... on the 7 x 7 grid")
    fig.suptitle("Steerable kernels. Rows 1-2: a C8 kernel from a scalar to a regular field (8 channels), fine and "
                 "on the grid.\nRows 3-4: SO(2) basis kernels from a scalar to frequency k (first component), fine "
                 "and on the grid", fontsize=9)
    _save(fig, "tutorial_steerable_kernels.png")

    x = images[:1]
    turned = torch.rot90(x, 1, (2, 3))
    with torch.no_grad():
        maps = [model.block1(x)[0].unflatten(0, (24, 8)), model.block1(turned)[0].unflatten(0, (24, 8))]
    field = int((maps[0] - maps[0].mean(1, keepdim=True)).flatten(1).std(1).argmax())
    lim = float(maps[0][field].abs().max())
    fig, axes = plt.subplots(2, 9, figsize=(14.0, 3.6))
    for row, (img, m) in enumerate(zip((x, turned), maps)):
        _show(axes[row, 0], img[0, 0], "digit" if row == 0 else "digit turned 90 deg", cmap="gray")
        for i in range(8):
            _show(axes[row, 1 + i], m[field, i], f"channel {i}", limit=lim)
    fig.suptitle(f"C8 model, block1, regular field {field}: second row = first row turned by 90 deg and shifted two "
                 "columns to the right", fontsize=9)
    _save(fig, "tutorial_steerable_feature_maps.png")

    v, v_turned = ns["v"], ns["v_of_turned"]
    fig, axes = plt.subplots(1, 2, figsize=(8.0, 4.2))
    rows, cols = torch.meshgrid(torch.arange(29.0), torch.arange(29.0), indexing="ij")
    step = 2
    scale = float(v.norm(dim=1).max()) * 29 / 1.8  # arrow lengths in units of the axes width: the longest 1.8 px
    for ax, img, field_ in ((axes[0], x, v), (axes[1], turned, v_turned)):
        ax.imshow(img[0, 0], cmap="gray")
        # quiver takes (x, y) = (column, -row) components for an image shown with row 0 on top
        ax.quiver(cols[::step, ::step], rows[::step, ::step], field_[0, 1, ::step, ::step],
                  -field_[0, 0, ::step, ::step], color="tab:red", scale=scale, width=0.005)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].set_title("vector field of the digit", fontsize=9)
    axes[1].set_title("of the digit turned by 90 deg", fontsize=9)
    _save(fig, "tutorial_steerable_vector_field.png")


def main() -> None:
    torch.set_num_threads(1)
    c4_figures(run_page("tutorial_gcnn_c4.md"))
    steerable_figures(run_page("tutorial_steerable_cnn.md"))


if __name__ == "__main__":
    main()
