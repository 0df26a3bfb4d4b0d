"""3D tetris (Thomas et al. 2018): the shapes, the batches, and a TFN that learns them from unrotated examples."""

import torch

from steertorch.data import TETRIS_SHAPES, tetris_batch, tetris_shapes
from steertorch.models import TensorFieldNetwork

EXPECTED = {
    "chiral_1": [(0, 0, 0), (0, 0, 1), (1, 0, 0), (1, 1, 0)],
    "chiral_2": [(0, 0, 0), (0, 0, 1), (1, 0, 0), (1, -1, 0)],
    "square": [(0, 0, 0), (1, 0, 0), (0, 1, 0), (1, 1, 0)],
    "line": [(0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 0, 3)],
    "corner": [(0, 0, 0), (0, 0, 1), (0, 1, 0), (1, 0, 0)],
    "L": [(0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 0)],
    "T": [(0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 1)],
    "zigzag": [(0, 0, 0), (1, 0, 0), (1, 1, 0), (2, 1, 0)],
}


def _triple_product(p):
    """Signed volume spanned by the three edges leaving the first cube of a chiral shape: a pseudoscalar."""
    return torch.linalg.det(p[1:] - p[0])


def test_shapes_are_the_papers():
    pos, labels, names = tetris_shapes(torch.float64)
    assert names == list(EXPECTED) == list(TETRIS_SHAPES)
    assert torch.equal(labels, torch.arange(8))
    for k, name in enumerate(names):
        assert pos[k].tolist() == [list(map(float, p)) for p in EXPECTED[name]]
    # the chiral pair: mirror images (y -> -y), opposite handedness, so no rotation maps one onto the other
    mirror = pos[0] * torch.tensor([1.0, -1.0, 1.0], dtype=torch.float64)
    assert torch.equal(mirror, pos[1])
    assert _triple_product(pos[0]) == -_triple_product(pos[1]) != 0
    # every shape is four unit cubes joined by faces: 3 face contacts at least, distances >= 1
    for p in pos:
        d = torch.cdist(p, p)
        assert d[~torch.eye(4, dtype=torch.bool)].min() == 1
        assert int((d == 1).sum()) // 2 >= 3


def test_batches():
    g = torch.Generator().manual_seed(0)
    data = tetris_batch(copies=3, rotate=True, translate=True, r=1.1, generator=g, dtype=torch.float64)
    assert data.pos.shape == (96, 3) and data.num_graphs == 24 and data.y.tolist() == list(range(8)) * 3
    assert torch.equal(data.batch, torch.arange(24).repeat_interleave(4))
    shapes = tetris_shapes(torch.float64)[0].repeat(3, 1, 1)
    moved = data.pos.reshape(24, 4, 3)
    # rotations and translations keep the distances; edges join face-sharing cubes only (distance 1)
    assert torch.allclose(torch.cdist(moved, moved), torch.cdist(shapes, shapes), atol=1e-12)
    src, dst = data.edge_index
    assert torch.allclose((data.pos[src] - data.pos[dst]).norm(dim=1), torch.ones(src.shape[0], dtype=torch.float64))
    assert torch.equal(data.batch[src], data.batch[dst])
    full = tetris_batch(copies=2)
    assert full.edge_index.shape == (2, 16 * 12)  # every ordered pair inside a shape
    # mirrored copies: the chiral labels swap, and so does the handedness
    mirrored = tetris_batch(reflect=True, rotate=True, generator=g, dtype=torch.float64)
    assert mirrored.y.tolist() == [1, 0, 2, 3, 4, 5, 6, 7]
    p = mirrored.pos.reshape(8, 4, 3)
    assert _triple_product(p[0]) * _triple_product(shapes[0]) < 0


def test_tfn_learns_tetris_from_unrotated_shapes():
    torch.manual_seed(0)
    train = tetris_batch(r=1.1)
    model = TensorFieldNetwork(lmax=2, mul=8, num_layers=2, r_max=1.5, num_classes=8)
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    kwargs = dict(edge_index=train.edge_index, batch=train.batch, num_graphs=train.num_graphs)
    for _ in range(200):
        logits = model(train.pos, **kwargs)
        loss = torch.nn.functional.cross_entropy(logits, train.y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if loss.item() < 0.1 and bool((logits.argmax(1) == train.y).all()):
            break
    assert loss.item() < 0.1
    test = tetris_batch(copies=25, rotate=True, translate=True, r=1.1, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        pred = model(test.pos, edge_index=test.edge_index, batch=test.batch, num_graphs=test.num_graphs).argmax(1)
    assert torch.equal(pred, test.y)  # 100% on 200 rotated and translated copies, chiral pair included
