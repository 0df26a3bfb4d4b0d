"""Draw docs/images/implicit_kernels.png: O(2)-steerable kernels (vector -> scalar) on R^2, the analytic basis
(top) and kernels from random O(2)-equivariant MLPs (bottom). Run: ``python3 docs/images/implicit_kernels.py``."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from steertorch.gspaces import flipRot2dOnR2  # noqa: E402
from steertorch.kernels import kernel_basis  # noqa: E402
from steertorch.nn import FieldType, ImplicitKernel  # noqa: E402

torch.manual_seed(0)
gs = flipRot2dOnR2(-1)
t_in, t_out = FieldType(gs, [gs.irrep(1, 1)]), FieldType(gs, [gs.trivial_repr])
n = 41
axis = torch.linspace(-2.0, 2.0, n)
pts = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
basis = kernel_basis(gs, t_in.representation, t_out.representation, radii=[0.0, 1.0, 2.0], sigma=0.6).sample(pts)
fig, axes = plt.subplots(2, 4, figsize=(10, 5))
for j in range(4):
    ax = axes[0, j]
    if j < basis.shape[0]:
        ax.imshow(basis[j, 0, 0].reshape(n, n).T, cmap="RdBu", origin="lower")
        ax.set_title(f"analytic {j} (x comp.)", fontsize=8)
    ax.axis("off")
    k = ImplicitKernel(gs, t_in, t_out, hidden=[8, 8], r_max=2.0)
    with torch.no_grad():
        img = k(pts)[:, 0, 0].reshape(n, n)
    axes[1, j].imshow(img.T, cmap="RdBu", origin="lower")
    axes[1, j].set_title(f"implicit MLP {j} (x comp.)", fontsize=8)
    axes[1, j].axis("off")
fig.suptitle("O(2)-steerable kernels, vector -> scalar, on R^2")
fig.tight_layout()
fig.savefig(Path(__file__).with_suffix(".png"), dpi=80)
