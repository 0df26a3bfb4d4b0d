"""nn.Identity: e3nn's module, the input returned unchanged, state dicts interchangeable with e3nn's."""

import pytest
import torch

from steertorch import nn


def test_identity_returns_its_input_and_checks_irreps():
    ident = nn.Identity("2x0e + 0e + 1o", "3x0e + 1o")
    x = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    assert ident(x) is x
    assert ident(torch.zeros(0, 6)).shape == (0, 6)
    with pytest.raises(ValueError, match="equal irreps"):
        nn.Identity("0e", "1o")
    with pytest.raises(ValueError, match="last dim 6"):
        ident(torch.randn(4, 5))


def test_state_dict_moves_to_and_from_e3nn():
    e3nn_nn = pytest.importorskip("e3nn.nn")
    theirs, ours = e3nn_nn.Identity("2x0e + 1o", "2x0e + 1o"), nn.Identity("2x0e + 1o", "2x0e + 1o")
    ours.load_state_dict(theirs.state_dict())
    theirs.load_state_dict(ours.state_dict())
    assert str(ours.irreps_out) == str(theirs.irreps_out)
