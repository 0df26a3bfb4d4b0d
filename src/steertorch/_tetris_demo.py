r"""The ``steertorch demo`` task: a tensor field network learns 3D tetris from the unrotated shapes.

The model (:class:`~steertorch.models.TensorFieldNetwork`, edges between face-sharing cubes)
is trained on the eight shapes exactly as given, one example each. Its logits are invariant
under rotations and translations by construction, so it then classifies randomly rotated and
translated copies correctly without ever seeing one. Its pseudoscalar (0o) channels change sign
under reflections, which is what lets it tell the two chiral shapes apart; mirrored copies are
classified as the mirror shape.
"""

from __future__ import annotations

import time

import torch

from .data import tetris_batch, tetris_shapes
from .models import TensorFieldNetwork
from .o3 import rand_matrix

__all__ = ["run_tetris_demo", "tetris_model"]

#: edges join cubes sharing a face (distance 1); the radial functions vanish at R_MAX
EDGE_RADIUS = 1.1
R_MAX = 1.5


def tetris_model(mul: int = 8, num_layers: int = 2) -> TensorFieldNetwork:
    """The demo's classifier: a tensor field network (l <= 2, edges within ``R_MAX``) with 8 logits.

    >>> tetris_model().irreps_hidden
    8x0e+8x0o+4x1o+4x1e+4x2o+4x2e
    """
    return TensorFieldNetwork(lmax=2, mul=mul, num_layers=num_layers, r_max=R_MAX, num_classes=8)


def _accuracy(model: torch.nn.Module, data) -> tuple[float, torch.Tensor]:
    with torch.no_grad():
        pred = model(data.pos, edge_index=data.edge_index, batch=data.batch, num_graphs=data.num_graphs).argmax(1)
    correct = pred == data.y
    return float(correct.double().mean()), correct


def run_tetris_demo(seed: int = 0, copies: int = 100, max_steps: int = 300, lr: float = 2e-2,
                    verbose: bool = True) -> dict[str, float]:
    """Train on the 8 unrotated shapes, test on ``copies`` rotated + translated copies of each.

    Returns a dict: ``steps``, ``train_seconds``, ``loss``, ``accuracy`` (rotated copies),
    ``mirror_accuracy`` (rotated, translated and mirrored copies, chiral labels swapped) and
    ``equivariance_error``: the largest change of the logits of the unrotated shapes under 8
    random rotations + translations (float64 when the default dtype is float64).

    >>> result = run_tetris_demo(copies=1, max_steps=2, verbose=False)  # cut short: see ``steertorch demo``
    >>> result["steps"], sorted(result)
    (2, ['accuracy', 'equivariance_error', 'loss', 'mirror_accuracy', 'steps', 'train_seconds'])
    """
    say = print if verbose else (lambda *a, **k: None)
    torch.manual_seed(seed)
    train = tetris_batch(r=EDGE_RADIUS)
    model = tetris_model()
    n_params = sum(p.numel() for p in model.parameters())
    say(f"tensor field network: {model.irreps_in} -> [{model.irreps_hidden}] x {len(model.layers)} -> "
        f"{model.irreps_out} -> 8 logits ({n_params} parameters, {str(train.pos.dtype).replace('torch.', '')})")
    say(f"training on the 8 tetris shapes as given (unrotated), Adam lr {lr}:")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    start = time.perf_counter()
    step, loss_value, acc = 0, float("nan"), 0.0
    for step in range(1, max_steps + 1):
        logits = model(train.pos, edge_index=train.edge_index, batch=train.batch, num_graphs=train.num_graphs)
        loss = torch.nn.functional.cross_entropy(logits, train.y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss_value = float(loss.detach())
        acc = float((logits.detach().argmax(1) == train.y).double().mean())
        done = acc == 1.0 and loss_value < 0.1  # every shape right, with a margin
        if step == 1 or step % 10 == 0 or done:
            say(f"  step {step:4d}  loss {loss_value:7.4f}  train accuracy {round(acc * 8)}/8  "
                f"({time.perf_counter() - start:.1f} s)")
        if done:
            break
    train_seconds = time.perf_counter() - start

    model.eval()
    g = torch.Generator().manual_seed(seed + 1)
    test = tetris_batch(copies=copies, rotate=True, translate=True, r=EDGE_RADIUS, generator=g,
                        dtype=train.pos.dtype)
    accuracy, correct = _accuracy(model, test)
    names = tetris_shapes()[2]
    per_shape = ", ".join(f"{n} {int(correct[test.y == k].sum())}/{copies}" for k, n in enumerate(names))
    say(f"test on {test.num_graphs} randomly rotated and translated copies: accuracy {accuracy:.1%}")
    say(f"  {per_shape}")
    mirror = tetris_batch(copies=copies, rotate=True, translate=True, reflect=True, r=EDGE_RADIUS, generator=g,
                          dtype=train.pos.dtype)
    mirror_accuracy, _ = _accuracy(model, mirror)
    say(f"mirrored copies (x -> -x: chiral_1 and chiral_2 swap): accuracy {mirror_accuracy:.1%}")

    with torch.no_grad():
        kwargs = dict(edge_index=train.edge_index, batch=train.batch, num_graphs=train.num_graphs)
        logits = model(train.pos, **kwargs)
        R = rand_matrix(8, generator=g, dtype=train.pos.dtype)
        t = 10 * torch.randn(8, 3, generator=g, dtype=train.pos.dtype)
        error = max(float((model(train.pos @ R[k].T + t[k], **kwargs) - logits).abs().max()) for k in range(8))
    say(f"equivariance: max |logits(R x + t) - logits(x)| over 8 random rotations + translations = {error:.1e} "
        f"(logits of size {float(logits.abs().max()):.1f})")
    return {"steps": step, "train_seconds": train_seconds, "loss": loss_value, "accuracy": accuracy,
            "mirror_accuracy": mirror_accuracy, "equivariance_error": error}
