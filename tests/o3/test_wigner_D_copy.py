"""wigner_D returns new tensors: D^1(R) equals R but is not R (writing to it leaves R alone)."""

import torch

from steertorch import o3


def test_degree_one_is_a_copy_of_the_matrix():
    R = o3.rand_matrix(3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    keep = R.clone()
    D = o3.wigner_D(1, R)
    assert torch.equal(D, R) and D is not R and D.data_ptr() != R.data_ptr()
    D.zero_()
    assert torch.equal(R, keep)
    Rt = keep.transpose(-1, -2)  # a non-contiguous input: the copy keeps its values
    assert torch.equal(o3.wigner_D(1, Rt), Rt)


def test_every_degree_is_a_new_tensor():
    R = o3.rand_matrix(generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for l in range(4):
        D = o3.wigner_D(l, R)
        assert D.data_ptr() != R.data_ptr() and D.shape == (2 * l + 1, 2 * l + 1)
