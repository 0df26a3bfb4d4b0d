r"""Export of field modules to plain ``torch.nn`` modules (escnn's ``export()``, for every module with a plain
equivalent, whole models included).

An exported module computes what the field module computes **in eval mode**, on plain ``[B, C, *grid]``
tensors, without field types, kernel bases or steertorch: convolutions (steerable, G-CNN) become ``Conv2d`` /
``Conv3d`` with the expanded filter, batch norms (in eval mode an affine map of each pixel's channels) a 1x1
convolution, ``DisentangleModule`` (a change of basis) a 1x1 convolution without bias, pointwise nonlinearities,
pools, adaptive pools and upsampling their ``torch.nn`` counterparts, anti-aliased pools a depthwise convolution
with their Gaussian (after a stride-1 ``MaxPool`` for the max pool), norm, gated and Fourier nonlinearities the
plain modules of :mod:`._plain` (through their own ``export()``), masks a multiplication by a fixed buffer, group
pooling a max over each field's channels, ``ReshuffleModule`` a selection of channels, ``MultipleModule`` its
branches on their channels, dropout and ``RestrictionModule`` ``Identity``; a ``SequentialModule`` exports to an
``nn.Sequential`` of its exported modules, an ``EquivariantMLP`` to an ``nn.Sequential`` of ``nn.Linear`` maps and
its exported nonlinearities. A module without a plain equivalent raises ``NotImplementedError`` naming it. escnn
cannot export ``MaskModule``; steertorch can.

The affine maps are read off the module itself: :math:`b = m(0)` and :math:`A e_j = m(e_j) - b` per pixel,
exact for any module that is affine in eval mode, in the module's dtype.
"""

from __future__ import annotations

import torch
from torch import nn

from ._plain import ChannelAffine, ChannelBranches, MaxOverFields, MultiplyByMask, SelectChannels

__all__ = ["export_module", "linear_as_conv", "MultiplyByMask", "MaxOverFields"]


_POINTWISE = {"p_relu": nn.ReLU, "p_sigmoid": nn.Sigmoid, "p_tanh": nn.Tanh, "p_softplus": nn.Softplus}


def _dims(module: nn.Module) -> int:
    return module.in_type.gspace.dimensionality


def _float_dtype(module: nn.Module) -> torch.dtype:
    for t in (*module.parameters(), *module.buffers()):
        if t.is_floating_point():
            return t.dtype
    return torch.get_default_dtype()


def _conv_cls(module: nn.Module) -> type[nn.Module]:
    d = _dims(module)
    if d not in (2, 3):
        raise NotImplementedError(f"{type(module).__name__}: export needs a G-space on R^2 or R^3, got "
                                  f"{module.in_type.gspace.name}")
    return nn.Conv2d if d == 2 else nn.Conv3d


def _gaussian_conv(module: nn.Module, stride, padding) -> nn.Module:
    """The depthwise convolution of an anti-aliased pool: the d-dimensional Gaussian (the outer product of the 1D
    ``filter``) on every channel, no bias."""
    g, d, c = module.filter, _dims(module), module.in_type.size
    kernel = g
    for _ in range(d - 1):
        kernel = kernel[..., None] * g
    conv = _conv_cls(module)(c, c, g.shape[0], stride=stride, padding=padding, groups=max(c, 1), bias=False,
                             dtype=g.dtype, device=g.device)
    with torch.no_grad():
        conv.weight.copy_(kernel.expand(c, 1, *kernel.shape))
    return conv


def linear_as_conv(weight: torch.Tensor, bias: torch.Tensor | None, d: int) -> nn.Module:
    r"""The map :math:`x \mapsto W x + b` of every pixel's channels (``weight`` ``[C_out, C_in]``, ``bias``
    ``[C_out]`` or None) as a 1x1 ``Conv{d}d`` on ``[B, C, *grid]`` (d = 2, 3), or a :class:`ChannelAffine` without
    base space (d = 0: ``[B, C]`` or ``[B, C, L]``), in the dtype and on the device of ``weight``."""
    if d == 0:
        return ChannelAffine(weight, bias)
    c_out, c_in = weight.shape
    conv = (nn.Conv2d if d == 2 else nn.Conv3d)(c_in, c_out, 1, bias=bias is not None, dtype=weight.dtype,
                                                 device=weight.device)
    with torch.no_grad():
        conv.weight.copy_(weight.reshape(c_out, c_in, *([1] * d)))
        if bias is not None:
            conv.bias.copy_(bias)
    return conv


def _affine_as_conv(module: nn.Module) -> nn.Module:
    """A module affine in each pixel's channels (eval mode) as a 1x1 convolution, read off the module."""
    if module.training:
        raise RuntimeError(f"{type(module).__name__}.export(): call .eval() first (the export is of eval mode)")
    c_in, c_out, d = module.in_type.size, module.out_type.size, _dims(module)
    p = next((t for t in (*module.parameters(), *module.buffers()) if t.is_floating_point()), None)
    dtype, device = _float_dtype(module), None if p is None else p.device
    probe = torch.cat([torch.zeros(1, c_in, dtype=dtype, device=device),
                       torch.eye(c_in, dtype=dtype, device=device)]).reshape(c_in + 1, c_in, *([1] * d))
    with torch.no_grad():
        out = module(probe).reshape(c_in + 1, c_out)
    bias, weight = out[0], (out[1:] - out[0]).T  # weight[o, i] = m(e_i)_o - m(0)_o
    return linear_as_conv(weight, bias, d)


def _multiple_module(module: nn.Module) -> nn.Module:
    """``MultipleModule``: every branch exported, applied to the channels of its labels."""
    branching, merging = module.branching, module.merging
    labels = list(branching.out_type)
    channels = [getattr(branching, f"_channels_{k}") for k in range(len(labels))]
    branches = [(export_module(getattr(merging, f"submodule_{i}")), [labels.index(lab) for lab in labs])
                for i, labs in enumerate(merging.branch_labels)]
    return ChannelBranches(channels, branches)


def export_module(module: nn.Module) -> nn.Module:
    """The plain ``torch.nn`` equivalent of the field module ``module`` in eval mode (see the module docstring).

    >>> from steertorch.gspaces import rot2dOnR2
    >>> from steertorch.nn import FieldType, InnerBatchNorm, R2Conv, ReLU, SequentialModule, GroupPooling
    >>> gs = rot2dOnR2(4)
    >>> t_in, t_hid = FieldType(gs, [gs.trivial_repr]), FieldType(gs, [gs.regular_repr] * 2)
    >>> net = SequentialModule(R2Conv(t_in, t_hid, 3), InnerBatchNorm(t_hid), ReLU(t_hid), GroupPooling(t_hid)).eval()
    >>> plain = export_module(net)
    >>> [type(m).__name__ for m in plain]
    ['Conv2d', 'Conv2d', 'ReLU', 'MaxOverFields']
    >>> x = torch.randn(2, 1, 9, 9)
    >>> bool((plain(x) - net(x)).abs().max() < 1e-5)
    True
    """
    from ._adaptive_pooling import _AdaptivePool
    from ._avg_pooling import _PointwiseAvgPool, _PointwiseAvgPoolAntialiased, _PointwiseMaxPoolAntialiased
    from ._batchnorm import _FieldBatchNorm
    from ._containers import RestrictionModule, SequentialModule
    from ._misc import ELU, FieldDropout, IdentityModule, LeakyReLU, MaskModule, PointwiseDropout
    from ._nonlinearity import PointwiseNonLinearity
    from ._pooling import GroupPooling, _PointwiseMaxPool
    from ._structure import DisentangleModule, MultipleModule, ReshuffleModule
    from ._upsampling import _NEAREST, _Upsampling

    if isinstance(module, SequentialModule):
        return nn.Sequential(*(export_module(m) for m in module))
    from ._module import EquivariantModule

    own = getattr(type(module), "export", None)
    if own is not None and own is not EquivariantModule.export:
        return module.export()
    if isinstance(module, _FieldBatchNorm):
        return _affine_as_conv(module)
    if isinstance(module, (IdentityModule, FieldDropout, PointwiseDropout, RestrictionModule)):
        return nn.Identity()
    if isinstance(module, LeakyReLU):
        return nn.LeakyReLU(module.negative_slope)
    if isinstance(module, ELU):
        return nn.ELU(module.alpha)
    if isinstance(module, PointwiseNonLinearity) and module.function_name in _POINTWISE:
        return _POINTWISE[module.function_name]()
    if isinstance(module, PointwiseNonLinearity) and module.function_name == "p_elu":
        return nn.ELU()
    if isinstance(module, _PointwiseMaxPool):
        pool = nn.MaxPool2d if _dims(module) == 2 else nn.MaxPool3d
        return pool(module.kernel_size, module.stride, module.padding, module.dilation, ceil_mode=module.ceil_mode)
    if isinstance(module, _PointwiseAvgPool):
        pool = nn.AvgPool2d if _dims(module) == 2 else nn.AvgPool3d
        return pool(module.kernel_size, module.stride, module.padding, ceil_mode=module.ceil_mode,
                    count_include_pad=module.count_include_pad)
    if isinstance(module, _PointwiseAvgPoolAntialiased):
        return _gaussian_conv(module, module.stride, module.padding)
    if isinstance(module, _PointwiseMaxPoolAntialiased):
        pool = nn.MaxPool2d if _dims(module) == 2 else nn.MaxPool3d
        return nn.Sequential(pool(module.kernel_size, 1, module.padding, module.dilation),
                             _gaussian_conv(module, module.stride, module._blur_padding))
    if isinstance(module, MaskModule):
        return MultiplyByMask(module.mask)
    if isinstance(module, GroupPooling):
        if module._uniform is not None:
            return MaxOverFields(module._uniform)
        return MaxOverFields(field_index=module.field_index)
    if isinstance(module, _Upsampling):
        align = None if module.mode in _NEAREST else module.align_corners
        return nn.Upsample(module.size, module.scale_factor, module.mode, align)
    if isinstance(module, _AdaptivePool):
        cls = {("avg", 2): nn.AdaptiveAvgPool2d, ("avg", 3): nn.AdaptiveAvgPool3d, ("max", 2): nn.AdaptiveMaxPool2d,
               ("max", 3): nn.AdaptiveMaxPool3d}[module.kind, module.dims_required]
        return cls(module.output_size)
    if isinstance(module, ReshuffleModule):
        return SelectChannels(module.channels)
    if isinstance(module, DisentangleModule):
        return linear_as_conv(module.change_of_basis, None, _dims(module))
    if isinstance(module, MultipleModule):
        return _multiple_module(module)
    raise NotImplementedError(f"{type(module).__name__} has no plain torch.nn equivalent to export to (yet); keep "
                              f"the module itself in the exported model")

