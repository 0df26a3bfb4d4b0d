"""e3nn user code runs with only the import changed, and gives e3nn's outputs with e3nn's weights.

Two blocks written the way NequIP and MACE users write them from e3nn primitives (``o3.Linear``, a ``"uvu"``
``o3.TensorProduct`` with per-edge weights from ``nn.FullyConnectedNet``, ``o3.FullyConnectedTensorProduct``
self-connection, ``nn.Gate``; a MACE-style symmetric product basis from ``o3.TensorProduct`` / ``o3.Linear`` /
``o3.ElementwiseTensorProduct``). Each is built once with ``e3nn``'s ``o3`` / ``nn`` and once with steertorch's,
the e3nn state dict is loaded into the steertorch one (``load_e3nn_state_dict``), and the outputs are compared
in float64. The block code is the same function object: only the modules passed in differ.
"""

from __future__ import annotations

import pytest
import torch
from _equivariance_helpers import float64

import steertorch.nn as st_nn
import steertorch.o3 as st_o3
from steertorch.math import e3nn_compatible_constants

e3nn_o3 = pytest.importorskip("e3nn.o3")
e3nn_nn = pytest.importorskip("e3nn.nn")

F64 = torch.float64


# ------------------------------------------------------------------ user code (library-agnostic: o3, nn given)
def nequip_interaction(o3, nn, irreps_node: str, irreps_out: str, num_basis: int = 8):
    """A NequIP-style convolution: linear in, uvu tensor product with radial weights, scatter, linear out,
    self-connection with the node attributes, gate."""
    irreps_node, irreps_sh = o3.Irreps(irreps_node), o3.Irreps.spherical_harmonics(2)
    irreps_attr = o3.Irreps("2x0e")
    scalars = o3.Irreps([(m, ir) for m, ir in o3.Irreps(irreps_out) if ir.l == 0])
    gated = o3.Irreps([(m, ir) for m, ir in o3.Irreps(irreps_out) if ir.l > 0])
    gate = nn.Gate(scalars, [torch.nn.functional.silu], o3.Irreps(f"{gated.num_irreps}x0e"), [torch.sigmoid], gated)
    mid, instructions = [], []
    for i, (mul, ir_in) in enumerate(irreps_node):
        for j, (_, ir_sh) in enumerate(irreps_sh):
            for ir_out in ir_in * ir_sh:
                if ir_out in gate.irreps_in:
                    instructions.append((i, j, len(mid), "uvu", True))
                    mid.append((mul, ir_out))
    irreps_mid = o3.Irreps(mid)
    modules = torch.nn.ModuleDict(dict(
        linear_1=o3.Linear(irreps_node, irreps_node),
        tp=o3.TensorProduct(irreps_node, irreps_sh, irreps_mid, instructions, shared_weights=False,
                            internal_weights=False),
        linear_2=o3.Linear(irreps_mid, gate.irreps_in),
        sc=o3.FullyConnectedTensorProduct(irreps_node, irreps_attr, gate.irreps_in),
        gate=gate,
    ))
    modules["fc"] = nn.FullyConnectedNet([num_basis, 16, modules["tp"].weight_numel], torch.nn.functional.silu)
    return modules, irreps_sh


def nequip_forward(o3, modules, irreps_sh, x, attr, pos, edge_index, basis):
    src, dst = edge_index
    sh = o3.spherical_harmonics(irreps_sh, pos[src] - pos[dst], True, normalization="component")
    h = modules["linear_1"](x)
    messages = modules["tp"](h[src], sh, modules["fc"](basis))
    agg = torch.zeros(x.shape[0], messages.shape[1], dtype=x.dtype).index_add(0, dst, messages)
    return modules["gate"](modules["linear_2"](agg) + modules["sc"](x, attr))


def mace_product_basis(o3, irreps_in: str, irreps_out: str, correlation: int = 3):
    """A MACE-style product basis: A, A (x) A, (A (x) A) (x) A, each contracted to irreps_out and summed."""
    irreps_in, irreps_out = o3.Irreps(irreps_in), o3.Irreps(irreps_out)
    layers, irreps = torch.nn.ModuleList(), irreps_in
    linears = torch.nn.ModuleList([o3.Linear(irreps_in, irreps_out)])
    for _ in range(correlation - 1):
        tp = o3.FullyConnectedTensorProduct(irreps, irreps_in, irreps_in)
        layers.append(tp)
        linears.append(o3.Linear(tp.irreps_out, irreps_out))
        irreps = tp.irreps_out
    return torch.nn.ModuleDict(dict(products=layers, linears=linears,
                                    square=o3.ElementwiseTensorProduct(irreps_in, irreps_in, ["0e", "1o", "2e"])))


def mace_forward(modules, a):
    out, power = modules["linears"][0](a), a
    for tp, lin in zip(modules["products"], modules["linears"][1:]):
        power = tp(power, a)
        out = out + lin(power)
    return out, modules["square"](a, a)


# ------------------------------------------------------------------ the comparisons
def _graph(n: int = 7):
    g = torch.Generator().manual_seed(0)
    pos = torch.randn(n, 3, generator=g, dtype=F64)
    src, dst = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    keep = src != dst
    edge_index = torch.stack([src[keep], dst[keep]])
    basis = torch.randn(edge_index.shape[1], 8, generator=g, dtype=F64)
    return pos, edge_index, basis, g


def test_nequip_style_block_gives_e3nns_outputs_with_e3nns_weights():
    irreps_node, irreps_out = "8x0e + 4x1o + 2x2e", "8x0e + 4x1o + 2x2e"
    with float64():  # e3nn builds its constants in the default dtype
        torch.manual_seed(0)
        theirs, sh_e = nequip_interaction(e3nn_o3, e3nn_nn, irreps_node, irreps_out)
        with e3nn_compatible_constants():  # e3nn's estimate of the activations' second moments
            ours, sh_s = nequip_interaction(st_o3, st_nn, irreps_node, irreps_out)
    ours = ours.double()
    st_o3.load_e3nn_state_dict(ours, theirs.state_dict())
    pos, edge_index, basis, g = _graph()
    x = torch.randn(pos.shape[0], st_o3.Irreps(irreps_node).dim, generator=g, dtype=F64)
    attr = torch.randn(pos.shape[0], 2, generator=g, dtype=F64)
    expected = nequip_forward(e3nn_o3, theirs, sh_e, x, attr, pos, edge_index, basis)
    got = nequip_forward(st_o3, ours, sh_s, x, attr, pos, edge_index, basis)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


def test_mace_style_product_basis_gives_e3nns_outputs_with_e3nns_weights():
    with float64():  # e3nn builds its constants in the default dtype
        torch.manual_seed(0)
        theirs = mace_product_basis(e3nn_o3, "4x0e + 2x1o + 1x2e", "4x0e + 2x1o")
        ours = mace_product_basis(st_o3, "4x0e + 2x1o + 1x2e", "4x0e + 2x1o").double()
    st_o3.load_e3nn_state_dict(ours, theirs.state_dict())
    a = torch.randn(5, st_o3.Irreps("4x0e + 2x1o + 1x2e").dim, dtype=F64)
    for got, expected in zip(mace_forward(ours, a), mace_forward(theirs, a), strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)
