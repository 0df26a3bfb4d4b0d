r"""Plain ``torch.nn`` modules: the computations of the field modules on ``[B, C, *grid]`` tensors, with their
constants as buffers, and nothing but torch at run time (no field types, representations or kernel bases).

Each field module without a ``torch.nn`` counterpart computes its output with one of the functions below, and its
:meth:`export` returns the module of the same name holding the constants it read off itself (in the field module's
dtype). So the exported module is the field module's own computation, not a second implementation; it pickles,
deep-copies, and runs under ``torch.jit.trace`` and ``torch.export``.

- norms of blocks of channels: :func:`block_norm_scale` (:class:`BlockNormScale`; ``NormNonLinearity``,
  ``InducedNormNonLinearity``), :class:`BlockNorm` (``NormPool``), :class:`BlockNormMax` (``InducedNormPool``),
  :class:`NormMaxPooling` (``NormMaxPool``);
- gates: :func:`channel_gates` (:class:`ChannelGates`; ``GatedNonLinearity1``, ``InducedGatedNonLinearity1``,
  ``GatedNonLinearityUniform``), :class:`TwoInputGates` (``GatedNonLinearity2``);
- Fourier nonlinearities: :func:`grid_activation` (:class:`GridActivation`);
- quadratic maps: :func:`field_tensor_square` (:class:`FieldTensorSquare`; ``TensorProductModule``),
  :class:`ChannelProducts` (with a 1x1 convolution: ``TensorProductNonLinearity``);
- :func:`sign_split` (:class:`SignSplitActivation`; ``ConcatenatedNonLinearity``), :func:`argmax_vector`
  (:class:`ArgmaxVector`; ``VectorFieldNonLinearity``);
- :class:`MultiplyByMask` (``MaskModule``), :func:`max_over_fields` (:class:`MaxOverFields`; ``GroupPooling``),
  :class:`ChannelAffine` (batch norms and ``DisentangleModule`` over a G-space without base space, ``[B, C]`` or
  ``[B, C, L]``);
- rearranging channels: :class:`SelectChannels` (``ReshuffleModule``), :class:`ChannelBranches` (``MultipleModule``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "NORM_FUNCTIONS",
    "EPS",
    "block_norm_scale",
    "channel_gates",
    "grid_activation",
    "field_tensor_square",
    "sign_split",
    "argmax_vector",
    "max_over_fields",
    "MultiplyByMask",
    "MaxOverFields",
    "ChannelAffine",
    "SelectChannels",
    "ChannelBranches",
    "BlockNormScale",
    "BlockNorm",
    "BlockNormMax",
    "NormMaxPooling",
    "ChannelGates",
    "TwoInputGates",
    "GridActivation",
    "FieldTensorSquare",
    "ChannelProducts",
    "SignSplitActivation",
    "ArgmaxVector",
]

EPS = 1e-24  # squared-norm floor: norms and their gradients stay finite at v = 0

NORM_FUNCTIONS = ("n_relu", "n_sigmoid", "n_softplus", "squash")
_NORM_F = {"n_relu": torch.relu, "n_sigmoid": torch.sigmoid, "n_softplus": F.softplus}


def _buffer(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.detach().clone()


def _bcast(t: torch.Tensor, dims: int) -> torch.Tensor:
    """``[C]`` -> ``[1, C, 1, ..., 1]`` for a tensor with ``dims`` dimensions."""
    return t.view(1, -1, *([1] * (dims - 2)))


# ---------------------------------------------------------------------------- norms of blocks
def _block_norms(x: torch.Tensor, block_index: torch.Tensor, n_blocks: int) -> torch.Tensor:
    sq = torch.zeros(x.shape[0], n_blocks, *x.shape[2:], dtype=x.dtype, device=x.device)
    return sq.index_add(1, block_index, x * x).clamp(min=EPS).sqrt()  # clamp first: finite gradient at 0


def block_norm_scale(x: torch.Tensor, block_index: torch.Tensor, n_blocks: int, bias: torch.Tensor | None,
                     function: str) -> torch.Tensor:
    r"""Rescale every block of channels by a function of its norm: :math:`v \mapsto f(|v| - b)\, v / |v|`
    (``"n_relu"``, ``"n_sigmoid"``, ``"n_softplus"``), or :math:`v \mapsto v / (|v| + 1)` (``"squash"``, no bias).

    ``block_index[c]`` is the block of channel c (``n_blocks`` blocks), ``bias`` ``[n_blocks]`` or None. The squared
    norm is floored at 1e-24 before the square root, so the output and its gradients are finite (0) at v = 0.

    >>> x = torch.tensor([3.0, 4.0, -2.0]).view(1, 3, 1, 1)
    >>> block_norm_scale(x, torch.tensor([0, 0, 1]), 2, torch.tensor([0.0, 1.0]), "n_relu").flatten().tolist()
    [3.0, 4.0, -1.0]
    """
    norm = _block_norms(x, block_index, n_blocks)
    if function == "squash":
        mult = 1.0 / (norm + 1.0)
    else:
        t = norm if bias is None else norm - _bcast(bias, x.dim())
        mult = _NORM_F[function](t) / norm
    return x * mult.index_select(1, block_index)


class BlockNormScale(nn.Module):
    """:func:`block_norm_scale` with fixed blocks and biases (buffers): an exported ``NormNonLinearity`` /
    ``InducedNormNonLinearity``.

    >>> m = BlockNormScale(torch.tensor([0, 0, 1]), None, "squash")
    >>> m(torch.tensor([3.0, 4.0, 0.0]).view(1, 3, 1, 1)).flatten().tolist()
    [0.5, 0.6666666865348816, 0.0]
    """

    def __init__(self, block_index: torch.Tensor, bias: torch.Tensor | None, function: str) -> None:
        super().__init__()
        if function not in NORM_FUNCTIONS:
            raise ValueError(f"BlockNormScale: unknown function {function!r}, expected one of {NORM_FUNCTIONS}")
        self.register_buffer("block_index", block_index.detach().clone().long())
        self.register_buffer("bias", _buffer(bias))
        self.n_blocks = int(block_index.max()) + 1 if block_index.numel() else 0
        self.function = function

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return block_norm_scale(x, self.block_index, self.n_blocks, self.bias, self.function)

    def extra_repr(self) -> str:
        return f"blocks={self.n_blocks}, function={self.function}"


class BlockNorm(nn.Module):
    """The norm of every block of channels, ``[B, C, *grid] -> [B, n_blocks, *grid]`` (squared norm floored at
    1e-24): an exported ``NormPool``.

    >>> BlockNorm(torch.tensor([0, 0, 1]))(torch.tensor([3.0, 4.0, -2.0]).view(1, 3, 1)).flatten().tolist()
    [5.0, 2.0]
    """

    def __init__(self, block_index: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("block_index", block_index.detach().clone().long())
        self.n_blocks = int(block_index.max()) + 1 if block_index.numel() else 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _block_norms(x, self.block_index, self.n_blocks)

    def extra_repr(self) -> str:
        return f"blocks={self.n_blocks}"


def block_norm_max(x: torch.Tensor, block_index: torch.Tensor, field_of_block: torch.Tensor,
                   n_fields: int) -> torch.Tensor:
    """Per field, the largest norm of its blocks (``field_of_block[k]`` is the field of block k).

    >>> x = torch.tensor([3.0, 4.0, 0.0, 1.0]).view(1, 4, 1, 1)
    >>> block_norm_max(x, torch.tensor([0, 0, 1, 1]), torch.tensor([0, 0]), 1).flatten().tolist()
    [5.0]
    """
    norms = _block_norms(x, block_index, field_of_block.shape[0])
    out = torch.zeros(x.shape[0], n_fields, *x.shape[2:], dtype=x.dtype, device=x.device)
    idx = field_of_block.view(1, -1, *([1] * (x.dim() - 2))).expand_as(norms)
    return out.scatter_reduce(1, idx, norms, reduce="amax", include_self=False)


class BlockNormMax(nn.Module):
    """:func:`block_norm_max` with fixed blocks: an exported ``InducedNormPool``.

    >>> m = BlockNormMax(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 0]))
    >>> m(torch.tensor([3.0, 4.0, 0.0, 1.0]).view(1, 4, 1, 1)).flatten().tolist()
    [5.0]
    """

    def __init__(self, block_index: torch.Tensor, field_of_block: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("block_index", block_index.detach().clone().long())
        self.register_buffer("field_of_block", field_of_block.detach().clone().long())
        self.n_fields = int(field_of_block.max()) + 1 if field_of_block.numel() else 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return block_norm_max(x, self.block_index, self.field_of_block, self.n_fields)


def norm_max_pool(x: torch.Tensor, field_index: torch.Tensor, n_fields: int, kernel_size: tuple, stride: tuple,
                  padding: tuple, dilation: tuple, ceil_mode: bool) -> torch.Tensor:
    """Per field and pooling window, the field vector at the point of largest norm (``max_pool2d`` / ``3d``
    arguments; gradients flow to the selected vectors only).

    >>> x = torch.tensor([[[[1.0, -3.0]], [[0.0, 0.0]]]])
    >>> norm_max_pool(x, torch.tensor([0, 0]), 1, (1, 2), (1, 2), (0, 0), (1, 1), False).flatten().tolist()
    [-3.0, 0.0]
    """
    b, c = x.shape[:2]
    pool = F.max_pool2d if x.dim() == 4 else F.max_pool3d
    with torch.no_grad():
        sq = torch.zeros(b, n_fields, *x.shape[2:], dtype=x.dtype, device=x.device).index_add(1, field_index, x * x)
        _, where = pool(sq, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)
    out = where.shape[2:]
    where = where.index_select(1, field_index).reshape(b, c, math.prod(out))
    return x.reshape(b, c, math.prod(x.shape[2:])).gather(2, where).reshape(b, c, *out)


class NormMaxPooling(nn.Module):
    """:func:`norm_max_pool` with a fixed window: an exported ``NormMaxPool``.

    >>> pool = NormMaxPooling(torch.tensor([0, 0]), (1, 2))
    >>> pool(torch.tensor([[[[1.0, -3.0]], [[0.0, 0.0]]]])).flatten().tolist()
    [-3.0, 0.0]
    """

    def __init__(self, field_index: torch.Tensor, kernel_size: int | tuple, stride: int | tuple | None = None,
                 padding: int | tuple = 0, dilation: int | tuple = 1, ceil_mode: bool = False) -> None:
        super().__init__()
        self.register_buffer("field_index", field_index.detach().clone().long())
        self.n_fields = int(field_index.max()) + 1 if field_index.numel() else 0
        self.kernel_size, self.padding, self.dilation = kernel_size, padding, dilation
        self.stride = kernel_size if stride is None else stride
        self.ceil_mode = bool(ceil_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return norm_max_pool(x, self.field_index, self.n_fields, self.kernel_size, self.stride, self.padding,
                             self.dilation, self.ceil_mode)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


# ---------------------------------------------------------------------------- gates
def channel_gates(x: torch.Tensor, gate_channels: torch.Tensor, bias: torch.Tensor, gated_channels: torch.Tensor,
                  gate_of: torch.Tensor, gate: Callable[[torch.Tensor], torch.Tensor],
                  order: torch.Tensor | None) -> torch.Tensor:
    r"""Gates :math:`s = \sigma(x_{\text{gate\_channels}} + b)` multiply the gated channels,
    :math:`y_c = x_{\text{gated\_channels}[c]}\; s_{\text{gate\_of}[c]}`. ``order`` None: the output is y; otherwise
    ``cat([s, y])[:, order]`` (the gates kept, in their input positions).

    >>> x = torch.tensor([0.0, 2.0, 4.0]).view(1, 3)
    >>> channel_gates(x, torch.tensor([0]), torch.zeros(1), torch.tensor([1, 2]), torch.tensor([0, 0]),
    ...               torch.sigmoid, None).tolist()
    [[1.0, 2.0]]
    """
    s = gate(x.index_select(1, gate_channels) + _bcast(bias, x.dim()))
    y = x.index_select(1, gated_channels) * s.index_select(1, gate_of)
    return y if order is None else torch.cat([s, y], 1).index_select(1, order)


class ChannelGates(nn.Module):
    """:func:`channel_gates` with fixed channels and biases (buffers): an exported ``GatedNonLinearity1``,
    ``InducedGatedNonLinearity1`` or ``GatedNonLinearityUniform``.

    >>> m = ChannelGates(torch.tensor([0]), torch.zeros(1), torch.tensor([1, 2]), torch.tensor([0, 0]))
    >>> m(torch.tensor([[0.0, 2.0, 4.0]])).tolist()
    [[1.0, 2.0]]
    """

    def __init__(self, gate_channels: torch.Tensor, bias: torch.Tensor, gated_channels: torch.Tensor,
                 gate_of: torch.Tensor, gate: Callable[[torch.Tensor], torch.Tensor] = torch.sigmoid,
                 order: torch.Tensor | None = None) -> None:
        super().__init__()
        self.register_buffer("gate_channels", gate_channels.detach().clone().long())
        self.register_buffer("bias", _buffer(bias))
        self.register_buffer("gated_channels", gated_channels.detach().clone().long())
        self.register_buffer("gate_of", gate_of.detach().clone().long())
        self.register_buffer("order", None if order is None else order.detach().clone().long())
        self.gate = gate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return channel_gates(x, self.gate_channels, self.bias, self.gated_channels, self.gate_of, self.gate,
                             self.order)

    def extra_repr(self) -> str:
        return f"gates={self.gate_channels.numel()}, gated={self.gated_channels.numel()}, keep_gates=" \
               f"{self.order is not None}"


class TwoInputGates(nn.Module):
    r""":math:`(s, x) \mapsto x \cdot \sigma(s + b)_{\text{gate\_of}}`: an exported ``GatedNonLinearity2``
    (``forward(gates, x)``).

    >>> TwoInputGates(torch.tensor([0, 0]), torch.zeros(1))(torch.zeros(1, 1), torch.ones(1, 2)).tolist()
    [[0.5, 0.5]]
    """

    def __init__(self, gate_of: torch.Tensor, bias: torch.Tensor,
                 gate: Callable[[torch.Tensor], torch.Tensor] = torch.sigmoid) -> None:
        super().__init__()
        self.register_buffer("gate_of", gate_of.detach().clone().long())
        self.register_buffer("bias", _buffer(bias))
        self.gate = gate

    def forward(self, gates: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(gates + _bcast(self.bias, x.dim())).index_select(1, self.gate_of)


# ---------------------------------------------------------------------------- Fourier
def grid_activation(x: torch.Tensor, A: torch.Tensor, Ainv: torch.Tensor, channels: int,
                    function: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    r"""Per field (``channels`` fields of size D): :math:`c \mapsto \mathrm{Ainv}\, \sigma(A\, c)`, with A ``[n, D]``
    (samples on a grid) and Ainv ``[D, n]`` (projection back).

    >>> A = torch.tensor([[1.0], [-1.0]])
    >>> grid_activation(torch.tensor([[2.0]]), A, A.T / 2, 1, torch.relu).tolist()
    [[1.0]]
    """
    b, spatial = x.shape[0], x.shape[2:]
    c = x.reshape(b, channels, A.shape[1], *spatial)
    f = torch.einsum("gd,bcd...->bcg...", A, c)
    return torch.einsum("dg,bcg...->bcd...", Ainv, function(f)).reshape(x.shape)


class GridActivation(nn.Module):
    """:func:`grid_activation` with fixed matrices (buffers): an exported ``FourierPointwise``, ``FourierELU``,
    ``QuotientFourierPointwise`` or ``QuotientFourierELU``.

    >>> A = torch.tensor([[1.0], [-1.0]])
    >>> GridActivation(A, A.T / 2, 1, torch.relu)(torch.tensor([[-2.0]])).tolist()
    [[-1.0]]
    """

    def __init__(self, A: torch.Tensor, Ainv: torch.Tensor, channels: int,
                 function: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.register_buffer("A", _buffer(A))
        self.register_buffer("Ainv", _buffer(Ainv))
        self.channels = int(channels)
        self.function = function

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return grid_activation(x, self.A, self.Ainv, self.channels, self.function)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, grid={self.A.shape[0]}, size={self.A.shape[1]}"


# ---------------------------------------------------------------------------- quadratic
def field_tensor_square(x: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    r"""Per field c (``matrix`` ``[C, d_out, d * d]``, fields of size d): :math:`y_c = M_c\,(x_c \otimes x_c)`, the
    Kronecker square (index ``i * d + j`` holds :math:`x_{c,i} x_{c,j}`) mapped by the field's own matrix.

    >>> field_tensor_square(torch.tensor([[1.0, 2.0]]), torch.tensor([[[1.0, 0.0, 0.0, 1.0]]])).tolist()
    [[5.0]]
    """
    b, spatial = x.shape[0], x.shape[2:]
    n, d_out = matrix.shape[0], matrix.shape[1]
    v = x.reshape(b, n, x.shape[1] // n, *spatial)
    sq = torch.einsum("bci...,bcj...->bcij...", v, v).reshape(b, n, matrix.shape[2], *spatial)
    return torch.einsum("coi,bci...->bco...", matrix, sq).reshape(b, n * d_out, *spatial)


class FieldTensorSquare(nn.Module):
    """:func:`field_tensor_square` with a fixed matrix (buffer): an exported ``TensorProductModule``.

    >>> FieldTensorSquare(torch.tensor([[[1.0, 0.0, 0.0, 1.0]]]))(torch.tensor([[3.0, 4.0]])).tolist()
    [[25.0]]
    """

    def __init__(self, matrix: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("matrix", _buffer(matrix))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return field_tensor_square(x, self.matrix)


class ChannelProducts(nn.Module):
    """``x[:, left] * x[:, right]``: the channel products of an exported ``TensorProductNonLinearity`` (followed by
    its linear map).

    >>> ChannelProducts(torch.tensor([0, 0]), torch.tensor([0, 1]))(torch.tensor([[2.0, 3.0]])).tolist()
    [[4.0, 6.0]]
    """

    def __init__(self, left: torch.Tensor, right: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("left", left.detach().clone().long())
        self.register_buffer("right", right.detach().clone().long())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.index_select(1, self.left) * x.index_select(1, self.right)


# ---------------------------------------------------------------------------- concatenated, vector field
def sign_split(x: torch.Tensor, function: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    r"""Every channel c becomes two, :math:`y_{2c} = f(x_c)`, :math:`y_{2c+1} = f(-x_c)`.

    >>> sign_split(torch.tensor([[2.0, -1.0]]), torch.relu).tolist()
    [[2.0, 0.0, 0.0, 1.0]]
    """
    return torch.stack([function(x), function(-x)], 2).reshape(x.shape[0], 2 * x.shape[1], *x.shape[2:])


class SignSplitActivation(nn.Module):
    """:func:`sign_split`: an exported ``ConcatenatedNonLinearity``.

    >>> SignSplitActivation(torch.relu)(torch.tensor([[-3.0]])).tolist()
    [[0.0, 3.0]]
    """

    def __init__(self, function: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.function = function

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sign_split(x, self.function)


def argmax_vector(x: torch.Tensor, n: int) -> torch.Tensor:
    r"""Fields of ``n`` channels (functions on :math:`C_n`) to plane vectors: with :math:`k^*` the channel of the
    largest value m of the field, :math:`y = \max(m, 0)\,(\cos(2\pi k^*/n), \sin(2\pi k^*/n))`.

    >>> y = argmax_vector(torch.tensor([[0.0, 2.0, 1.0, -1.0]]), 4)         # largest: 2.0 at k = 1 (90 degrees)
    >>> bool(torch.allclose(y, torch.tensor([[0.0, 2.0]]), atol=1e-6))
    True
    """
    b, spatial = x.shape[0], x.shape[2:]
    m, k = x.reshape(b, x.shape[1] // n, n, *spatial).max(2)
    m = torch.relu(m)
    angle = k.to(x.dtype) * (2 * math.pi / n)
    return torch.stack([torch.cos(angle) * m, torch.sin(angle) * m], 2).reshape(b, 2 * (x.shape[1] // n), *spatial)


class ArgmaxVector(nn.Module):
    """:func:`argmax_vector`: an exported ``VectorFieldNonLinearity``.

    >>> ArgmaxVector(4)(torch.tensor([[3.0, -1.0, 0.0, 1.0]])).tolist()
    [[3.0, 0.0]]
    """

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = int(n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return argmax_vector(x, self.n)

    def extra_repr(self) -> str:
        return f"n={self.n}"


# ---------------------------------------------------------------------------- masks, group pooling
class MultiplyByMask(nn.Module):
    """``x * mask`` with a fixed ``mask`` buffer (broadcast over batch and channels): an exported ``MaskModule``.

    >>> MultiplyByMask(torch.tensor([[0.0, 1.0]]))(torch.ones(1, 2, 1, 2))
    tensor([[[[0., 1.]],
    <BLANKLINE>
             [[0., 1.]]]])
    """

    def __init__(self, mask: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mask", mask.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.mask


def max_over_fields(x: torch.Tensor, size: int | None, field_index: torch.Tensor | None, n_fields: int) -> torch.Tensor:
    r"""The maximum over each field's channels, ``[B, C, *grid] -> [B, n_fields, *grid]``: fields of ``size``
    consecutive channels each, or (``size`` None) channel c in field ``field_index[c]``, fields of any sizes.

    >>> x = torch.tensor([[1.0, 3.0, 2.0]])
    >>> max_over_fields(x, None, torch.tensor([0, 0, 1]), 2).tolist()
    [[3.0, 2.0]]
    """
    if size is not None:
        return x.reshape(x.shape[0], n_fields, size, *x.shape[2:]).amax(2)
    out = torch.full((x.shape[0], n_fields, *x.shape[2:]), float("-inf"), dtype=x.dtype, device=x.device)
    idx = field_index.view(1, -1, *([1] * (x.dim() - 2))).expand_as(x)
    return out.scatter_reduce(1, idx, x, reduce="amax", include_self=False)


class MaxOverFields(nn.Module):
    """:func:`max_over_fields`: the maximum over each field's ``size`` consecutive channels,
    ``[B, F * size, *grid] -> [B, F, *grid]``, or over the channels of each field given by ``field_index`` (fields of
    any sizes): an exported ``GroupPooling``.

    >>> MaxOverFields(2)(torch.tensor([[1.0, 3.0, 2.0, 0.0]])[..., None, None]).flatten()
    tensor([3., 2.])
    >>> MaxOverFields(field_index=torch.tensor([0, 1, 1, 1]))(torch.tensor([[1.0, 3.0, 2.0, 0.0]])).tolist()
    [[1.0, 3.0]]
    """

    def __init__(self, size: int | None = None, field_index: torch.Tensor | None = None) -> None:
        super().__init__()
        if (size is None) == (field_index is None):
            raise ValueError("MaxOverFields: give exactly one of size and field_index")
        self.size = None if size is None else int(size)
        self.register_buffer("field_index", None if field_index is None else field_index.detach().clone().long())
        self.n_fields = 0 if field_index is None or not field_index.numel() else int(field_index.max()) + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[1] // self.size if self.size is not None else self.n_fields
        return max_over_fields(x, self.size, self.field_index, n)

    def extra_repr(self) -> str:
        return f"size={self.size}" if self.size is not None else f"fields={self.n_fields}"


class ChannelAffine(nn.Module):
    r""":math:`y_{b,o} = \sum_i W_{oi}\, x_{b,i} + c_o` at every point, on ``[B, C, *rest]`` with any number of trailing
    axes (none included): an exported batch norm (or, without bias, ``DisentangleModule``) of a G-space without base
    space.

    >>> ChannelAffine(torch.tensor([[2.0, 0.0]]), torch.tensor([1.0]))(torch.tensor([[3.0, 5.0]])).tolist()
    [[7.0]]
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None) -> None:
        super().__init__()
        self.register_buffer("weight", _buffer(weight))
        self.register_buffer("bias", _buffer(bias))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.einsum("oi,bi...->bo...", self.weight, x)
        return y if self.bias is None else y + _bcast(self.bias, x.dim())


# ---------------------------------------------------------------------------- rearranging channels
class SelectChannels(nn.Module):
    """``x[:, index]``: channel ``index[c]`` of the input becomes channel c of the output (a permutation of the
    channels, or a selection): an exported ``ReshuffleModule``.

    >>> SelectChannels(torch.tensor([2, 0, 1]))(torch.tensor([[1.0, 2.0, 3.0]])).tolist()
    [[3.0, 1.0, 2.0]]
    """

    def __init__(self, index: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("index", index.detach().clone().long())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.index_select(1, self.index)

    def extra_repr(self) -> str:
        return f"channels={self.index.numel()}"


class ChannelBranches(nn.Module):
    """Split the channels into groups, apply a module to some groups each, concatenate the outputs along the
    channels: ``cat([module_k(x[:, channels[j]] for j in inputs[k]) for k], 1)``. An exported ``MultipleModule``
    (a group per label; a module taking several labels gets several inputs).

    >>> m = ChannelBranches([torch.tensor([0, 2]), torch.tensor([1])], [(nn.ReLU(), [0]), (nn.Identity(), [1])])
    >>> m(torch.tensor([[-1.0, -2.0, 3.0]])).tolist()
    [[0.0, 3.0, -2.0]]
    """

    def __init__(self, channels: list[torch.Tensor], branches: list[tuple[nn.Module, list[int]]]) -> None:
        super().__init__()
        for k, c in enumerate(channels):
            self.register_buffer(f"channels_{k}", c.detach().clone().long())
        self.n_groups = len(channels)
        self.branches = nn.ModuleList(m for m, _ in branches)
        self.inputs = [[int(j) for j in js] for _, js in branches]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        groups = [x.index_select(1, getattr(self, f"channels_{k}")) for k in range(self.n_groups)]
        return torch.cat([m(*[groups[j] for j in js]) for m, js in zip(self.branches, self.inputs)], 1)

    def extra_repr(self) -> str:
        return f"groups={self.n_groups}, inputs={self.inputs}"
