"""Draw docs/figures/implicit_kernels.png: O(2)-steerable kernels on R^2 from the analytic basis and from
O(2)-equivariant MLPs (ImplicitKernel on flipRot2dOnR2(-1), random initialisations, seeds 0-3).

Rows: scalar -> vector kernels (2 x 1, drawn as arrows), analytic basis elements then implicit MLPs; scalar ->
frequency-2 kernels (2 x 1, first component drawn as an image), analytic then implicit; last row: the same
scalar -> frequency-2 kernel from a gated MLP (``activation="gated"``), which is zero: gating cannot create the
frequency 2 from the input x (frequency 1), the quadratic Fourier nonlinearity can.

Run: ``PYTHONPATH=src python docs/figures/implicit_kernels.py`` (about 10 s on one CPU thread).
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from steertorch.gspaces import flipRot2dOnR2  # noqa: E402
from steertorch.kernels import kernel_basis  # noqa: E402
from steertorch.nn import FieldType, ImplicitKernel  # noqa: E402

torch.set_num_threads(1)
gs = flipRot2dOnR2(-1)
scalar = FieldType(gs, [gs.trivial_repr])
vector = FieldType(gs, [gs.irrep(1, 1)])
freq2 = FieldType(gs, [gs.irrep(1, 2)])
R = 2.0
COLS = 4


def grid(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    axis = torch.linspace(-R, R, n)
    xy = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    return axis, xy


def analytic(out: FieldType, pts: torch.Tensor) -> torch.Tensor:
    """Basis elements sampled at pts: [dim, P, 2] (the two output components, input scalar)."""
    b = kernel_basis(gs, scalar.representation, out.representation, radii=[0.0, 0.7, 1.4], sigma=0.35,
                     maximum_frequency=2, frequency_cutoff=10.0)
    return b.sample(pts)[:, :, 0, :].permute(0, 2, 1)


def implicit(out: FieldType, pts: torch.Tensor, seed: int, activation: str = "auto") -> torch.Tensor:
    torch.manual_seed(seed)
    k = ImplicitKernel(gs, scalar, out, hidden=[8, 8], r_max=R, activation=activation)
    with torch.no_grad():
        return k(pts)[:, :, 0]  # [P, 2]


def arrows(ax, axis, k, title):
    n = axis.numel()
    u, v = k[:, 0].reshape(n, n), k[:, 1].reshape(n, n)
    x, y = torch.meshgrid(axis, axis, indexing="ij")
    scale = float(k.norm(dim=-1).max()) or 1.0
    ax.quiver(x, y, u / scale, v / scale, color="k", scale=12, width=0.006)
    ax.set_title(title, fontsize=8)


def image(ax, axis, k, title):
    n = axis.numel()
    img = k[:, 0].reshape(n, n).T
    m = float(img.abs().max())
    ax.imshow(img, cmap="RdBu", origin="lower", extent=(-R, R, -R, R), vmin=-m or -1, vmax=m or 1)
    ax.set_title(title, fontsize=8)


def main() -> None:
    coarse_axis, coarse = grid(13)
    fine_axis, fine = grid(61)
    fig, axes = plt.subplots(5, COLS, figsize=(2.2 * COLS, 2.3 * 5))
    basis_v = analytic(vector, coarse)
    basis_2 = analytic(freq2, fine)
    for j in range(COLS):
        if j < basis_v.shape[0]:
            arrows(axes[0, j], coarse_axis, basis_v[j], f"analytic basis {j}: 0 -> 1")
        arrows(axes[1, j], coarse_axis, implicit(vector, coarse, j), f"implicit MLP, seed {j}: 0 -> 1")
        if j < basis_2.shape[0]:
            image(axes[2, j], fine_axis, basis_2[j], f"analytic basis {j}: 0 -> 2")
        image(axes[3, j], fine_axis, implicit(freq2, fine, j), f"implicit MLP, seed {j}: 0 -> 2")
        gated = implicit(freq2, fine, j, activation="gated")
        image(axes[4, j], fine_axis, gated, f"gated MLP, seed {j}: max {float(gated.abs().max()):.0e}")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_aspect("equal")
        if not ax.has_data():
            ax.axis("off")
    fig.suptitle("O(2)-steerable kernels on R^2: analytic basis vs O(2)-equivariant MLPs\n"
                 "(0 -> 1: scalar to vector, arrows; 0 -> 2: scalar to frequency 2, first component)", fontsize=9)
    fig.tight_layout()
    fig.savefig(Path(__file__).with_suffix(".png"), dpi=72)


if __name__ == "__main__":
    main()
