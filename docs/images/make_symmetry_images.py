"""Draw the pictures of docs/symmetry.md (needs matplotlib).

Run from the repository root: ``PYTHONPATH=src python3 docs/images/make_symmetry_images.py``.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from steertorch.o3 import SphericalTensor, plot_spherical_signal  # noqa: E402
from steertorch.symmetry import encode_points  # noqa: E402

HERE = Path(__file__).resolve().parent
torch.set_default_dtype(torch.float64)


def save(fig, name):
    fig.savefig(HERE / name, dpi=80, bbox_inches="tight")
    plt.close(fig)
    print("wrote", HERE / name)


# methane: the H channel as a signal on the sphere (peaks of height |r| at the four H directions)
h = 0.63 * torch.tensor([[1.0, 1.0, 1.0], [1.0, -1.0, -1.0], [-1.0, 1.0, -1.0], [-1.0, -1.0, 1.0]])
fig = plt.figure(figsize=(8, 4))
for i, lmax in enumerate((4, 10)):
    ax = fig.add_subplot(1, 2, i + 1, projection="3d")
    plot_spherical_signal(encode_points(h, lmax=lmax)[0], lmax, ax=ax, res=50)
    ax.set_title(f"methane H channel, lmax = {lmax}")
save(fig, "symmetry_methane_signal.png")

# the order parameters found by break_symmetry: x^2 - y^2 (2e, square -> rectangle) and the l = 1 pattern
# z (shown as a function; the tilt's 1e is the axial vector along z)
st = SphericalTensor(2, 1, -1)
x2_y2 = st.with_peaks_at(torch.tensor([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]]), torch.ones(2))
x2_y2 = x2_y2 - st.with_peaks_at(torch.tensor([[0.0, 1.0, 0.0], [0.0, -1.0, 0.0]]), torch.ones(2))
fig = plt.figure(figsize=(8, 4))
ax = fig.add_subplot(1, 2, 1, projection="3d")
plot_spherical_signal(x2_y2, 2, ax=ax, res=50)
ax.set_title("square -> rectangle: 2e, x^2 - y^2")
ax = fig.add_subplot(1, 2, 2, projection="3d")
plot_spherical_signal(torch.tensor([0.0, 0.0, 0.0, 1.0]), 1, ax=ax, res=50)
ax.set_title("octahedral tilt: 1e along z")
save(fig, "symmetry_order_parameters.png")
