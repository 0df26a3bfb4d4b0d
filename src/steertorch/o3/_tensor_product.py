r"""Clebsch-Gordan tensor products with weights, e3nn's instructions, normalisation and weight layout.

For an instruction (i1, i2, i_out, mode, has_weight, path_weight) the path computes, with
:math:`C` the real Wigner 3j symbol of :func:`~steertorch.o3.wigner_3j` and
:math:`\alpha` the path normalisation,

.. math::

    z^{(o)}_{w k} \mathrel{+}= \sqrt{\alpha} \sum_{u v i j} W_{u v w}\, C_{ijk}\, x_{u i}\, y_{v j}
    \qquad \text{(mode "uvw"; the other modes tie or drop indices: uvu, uvv, uuw, uuu, uvuv)}.

:math:`\alpha` = ``dim(ir_out)`` ("component") or ``dim(ir_1) dim(ir_2)`` ("norm"), divided by
the fan-in of the output ("element": summed over the paths into that output; "path": per
path), times ``out_var`` and ``path_weight``, exactly as e3nn, so weights and outputs carry
over. Weights of all weighted instructions live in one flat vector in instruction order,
each reshaped to its ``path_shape``.

Implementation (no code generation). When every path is a weighted "uvw" path whose second
input block has multiplicity 1 (features times spherical harmonics, as in a point
convolution), a specialised plan runs (:mod:`._tensor_product_plan`): y is contracted with
the Clebsch-Gordan coefficients first (no channel index), then x, then the channels are mixed
by one GEMM per (input-1 block, output block) with shared weights, or one batched product per path on
views of the per-sample weights (never copied); no intermediate is concatenated. On CPU (not under
``torch.compile``) the same plan runs with a hand-written backward (:mod:`._tensor_product_fused`; gradients of
every order): in a compiled C kernel, one sample at a time (:mod:`._tensor_product_kernel`, built on first use
where a C compiler exists; shared or per-sample weights), else, with shared weights, in torch operations on reused
buffers. When every path is a weighted "uvu" path with a multiplicity-1 second input (a tensor field network's
convolution), the compiled kernel runs it on CPU where available (:mod:`._tensor_product_uvu`). Otherwise
instructions are grouped by input pair; one GEMM contracts :math:`y` with the stacked
Clebsch-Gordan coefficients of all the pair's paths and one batched product contracts
:math:`x`; "uvw" paths into the same output are then merged into a single GEMM with the
concatenated weights.
"""

from __future__ import annotations

import math
from collections import namedtuple
from collections.abc import Sequence

import torch
from torch import nn

from .._dtype import ExactConstants, check_input_dtype
from ..group._wigner import wigner_3j
from ._empty import connected_zeros
from ._irreps import Irreps
from ._tensor_product_fused import FusedPlan, fused_product, fused_uvw_single
from ._tensor_product_plan import forward_uvw_single, plan_uvw_single
from ._tensor_product_uvu import UvuPlan, plan_uvu_single

__all__ = ["TensorProduct", "FullyConnectedTensorProduct", "Instruction"]

Instruction = namedtuple("Instruction", "i_in1 i_in2 i_out connection_mode has_weight path_weight path_shape")
Instruction.__doc__ = """One path ``irreps_in1[i_in1] x irreps_in2[i_in2] -> irreps_out[i_out]`` of a
:class:`TensorProduct` (e3nn's fields): its connection mode, whether it is weighted, its normalisation factor
and weight shape.

>>> tp = FullyConnectedTensorProduct("2x0e", "0e", "3x0e")
>>> tp.instructions[0].connection_mode, tp.instructions[0].path_shape
('uvw', (2, 1, 3))
"""

_UV_MODES = ("uvw", "uvu", "uvv", "uvuv", "uvu<v", "u<vw")
_MODES = ("uvw", "uvu", "uvv", "uuw", "uuu", "uvuv", "uvu<v", "u<vw")


class TensorProduct(ExactConstants):
    r"""Tensor product of two irreps features with explicit instructions (e3nn's ``TensorProduct``).

    Args:
        irreps_in1, irreps_in2, irreps_out: irreps of the inputs and the output.
        instructions: tuples ``(i_in1, i_in2, i_out, mode, has_weight[, path_weight])`` with
            mode one of ``"uvw", "uvu", "uvv", "uuw", "uuu", "uvuv"``.
        in1_var, in2_var, out_var: variances per block for the normalisation (default 1).
        irrep_normalization: ``"component"`` (default), ``"norm"`` or ``"none"``.
        path_normalization: ``"element"`` (default), ``"path"`` or ``"none"``.
        internal_weights: hold the weights as a parameter ``weight`` (default: when shared).
        shared_weights: one set of weights for the whole batch (default True); otherwise
            ``forward`` takes ``weight`` of shape ``[..., weight_numel]``.

    On CPU, "uvw" products of features with multiplicity-1 second inputs (point convolutions) run with a
    hand-written backward: in a C kernel compiled on first use where a C compiler exists
    (``steertorch.o3.cpu_kernel_available()``; shared or per-sample weights), else, with shared weights, on buffers
    reused from call to call (``steertorch.o3.release_tensor_product_buffers()`` frees them). So do the depthwise
    "uvu" products of that shape (tensor field networks' convolutions), in the same kernel where it is available.

    >>> tp = TensorProduct("2x1o", "1o", "2x0e", [(0, 0, 0, "uvw", True)])
    >>> tp(torch.randn(10, 6), torch.randn(10, 3)).shape, tp.weight_numel
    (torch.Size([10, 2]), 4)
    """

    def __init__(
        self,
        irreps_in1: object,
        irreps_in2: object,
        irreps_out: object,
        instructions: Sequence[tuple],
        in1_var: Sequence[float] | None = None,
        in2_var: Sequence[float] | None = None,
        out_var: Sequence[float] | None = None,
        irrep_normalization: str | None = "component",
        path_normalization: str | None = "element",
        internal_weights: bool | None = None,
        shared_weights: bool | None = None,
        compile_left_right: bool = True,
        compile_right: bool = False,
        normalization: str | None = None,
        _specialized_code: bool | None = None,
        _optimize_einsums: bool | None = None,
    ) -> None:
        # compile_left_right, compile_right, _specialized_code, _optimize_einsums: e3nn's code-generation switches,
        # accepted so e3nn code runs unchanged; steertorch has one implementation (nothing to switch).
        # normalization: e3nn's older name of irrep_normalization.
        super().__init__()
        if normalization is not None:
            irrep_normalization = normalization
        if irrep_normalization is None:
            irrep_normalization = "component"
        if path_normalization is None:
            path_normalization = "element"
        self.irreps_in1 = Irreps(irreps_in1)
        self.irreps_in2 = Irreps(irreps_in2)
        self.irreps_out = Irreps(irreps_out)
        if irrep_normalization not in ("component", "norm", "none"):
            raise ValueError(f"irrep_normalization must be 'component', 'norm' or 'none', got {irrep_normalization!r}")
        if path_normalization not in ("element", "path", "none"):
            raise ValueError(f"path_normalization must be 'element', 'path' or 'none', got {path_normalization!r}")
        self.irrep_normalization = irrep_normalization
        self.path_normalization = path_normalization
        raw = [tuple(ins) if len(ins) == 6 else tuple(ins) + (1.0,) for ins in instructions]
        in1_var = [1.0] * len(self.irreps_in1) if in1_var is None else [float(v) for v in in1_var]
        in2_var = [1.0] * len(self.irreps_in2) if in2_var is None else [float(v) for v in in2_var]
        out_var = [1.0] * len(self.irreps_out) if out_var is None else [float(v) for v in out_var]
        for name, var, irr in (("in1_var", in1_var, self.irreps_in1), ("in2_var", in2_var, self.irreps_in2),
                               ("out_var", out_var, self.irreps_out)):
            if len(var) != len(irr):
                raise ValueError(f"{name} needs one value per block of {irr} ({len(irr)}), got {len(var)}")
        self.instructions = self._normalize(raw, in1_var, in2_var, out_var)

        if shared_weights is None:
            shared_weights = True
        if internal_weights is None:
            internal_weights = shared_weights and any(ins.has_weight for ins in self.instructions)
        if internal_weights and not shared_weights:
            raise ValueError("internal_weights=True needs shared_weights=True")
        self.shared_weights = shared_weights
        self.internal_weights = internal_weights
        self.weight_numel = sum(math.prod(ins.path_shape) for ins in self.instructions if ins.has_weight)
        if internal_weights and self.weight_numel > 0:
            self.weight = nn.Parameter(torch.randn(self.weight_numel))
        else:
            self.register_buffer("weight", torch.empty(0), persistent=False)
        self._build_plan()

    # ------------------------------------------------------------------ set-up
    def _normalize(self, raw, in1_var, in2_var, out_var) -> list[Instruction]:
        i1s, i2s, ios = self.irreps_in1, self.irreps_in2, self.irreps_out
        checked = []
        for ins in raw:
            if len(ins) != 6:
                raise ValueError(f"an instruction is (i_in1, i_in2, i_out, mode, has_weight[, path_weight]), "
                                 f"got {ins!r}")
            a, b, o, mode, has_weight, path_weight = ins
            for idx, irr, what in ((a, i1s, "irreps_in1"), (b, i2s, "irreps_in2"), (o, ios, "irreps_out")):
                if not isinstance(idx, int) or not 0 <= idx < len(irr):
                    raise ValueError(f"instruction {ins!r}: index {idx!r} out of range for {what} = {irr}")
            if mode not in _MODES:
                raise ValueError(f"instruction {ins!r}: mode must be one of {_MODES}, got {mode!r}")
            (m1, ir1), (m2, ir2), (mo, iro) = i1s[a], i2s[b], ios[o]
            if iro not in ir1 * ir2:
                raise ValueError(f"instruction {ins!r}: {ir1} x {ir2} cannot produce {iro} (allowed: {ir1 * ir2})")
            need = {"uvw": None, "uvu": (m1, mo), "uvv": (m2, mo), "uuw": (m1, m2), "uuu": (m1, m2, mo),
                    "uvuv": (m1 * m2, mo), "uvu<v": (m1, m2), "u<vw": (m1, m2)}[mode]
            if mode == "uvu<v" and mo != m1 * (m1 - 1) // 2:
                raise ValueError(f"instruction {ins!r}: mode 'uvu<v' needs output multiplicity mul (mul - 1) / 2 = "
                                 f"{m1 * (m1 - 1) // 2}, got {mo}")
            if need is not None and len(set(need)) != 1:
                raise ValueError(f"instruction {ins!r}: mode {mode!r} needs equal multiplicities, got "
                                 f"{m1}x{ir1}, {m2}x{ir2} -> {mo}x{iro}")
            if mode == "uvw" and not has_weight:
                raise ValueError(f"instruction {ins!r}: mode 'uvw' needs weights (has_weight=True)")
            if mode == "uuw" and not has_weight and mo != 1:
                raise ValueError(f"instruction {ins!r}: mode 'uuw' without weights sums over u: the output "
                                 f"multiplicity must be 1, got {mo}")
            shape = {"uvw": (m1, m2, mo), "uvu": (m1, m2), "uvv": (m1, m2), "uuw": (m1, mo), "uuu": (m1,),
                     "uvuv": (m1, m2), "uvu<v": (m1 * (m2 - 1) // 2,), "u<vw": (m1 * (m2 - 1) // 2, mo)}[mode]
            checked.append((a, b, o, mode, bool(has_weight), float(path_weight), shape))

        def num_elements(a, b, mode):
            m1, m2 = i1s[a].mul, i2s[b].mul
            return {"uvw": m1 * m2, "uvu": m2, "uvv": m1, "uuw": m1, "uuu": 1, "uvuv": 1, "uvu<v": 1,
                    "u<vw": m1 * (m2 - 1) // 2}[mode]

        out = []
        for a, b, o, mode, has_weight, path_weight, shape in checked:
            if self.irrep_normalization == "component":
                alpha = ios[o].ir.dim
            elif self.irrep_normalization == "norm":
                alpha = i1s[a].ir.dim * i2s[b].ir.dim
            else:
                alpha = 1.0
            if self.path_normalization == "element":
                x = sum(in1_var[a2] * in2_var[b2] * num_elements(a2, b2, m2)
                        for a2, b2, o2, m2, *_ in checked if o2 == o)
            elif self.path_normalization == "path":
                x = in1_var[a] * in2_var[b] * num_elements(a, b, mode)
                x *= sum(1 for c in checked if c[2] == o)
            else:
                x = 1.0
            if x > 0:
                alpha /= x
            alpha *= out_var[o] * path_weight
            out.append(Instruction(a, b, o, mode, has_weight, math.sqrt(alpha), shape))
        return out

    def _build_plan(self) -> None:
        """Group paths by input pair; stack their scaled Clebsch-Gordan coefficients into buffers."""
        i1s, i2s, ios = self.irreps_in1, self.irreps_in2, self.irreps_out
        self._w_offsets = []
        off = 0
        for ins in self.instructions:
            self._w_offsets.append(off)
            if ins.has_weight:
                off += math.prod(ins.path_shape)
        pairs: dict[tuple[int, int], list[int]] = {}
        for n, ins in enumerate(self.instructions):
            if ins.path_weight == 0 or 0 in ins.path_shape:
                continue
            pairs.setdefault((ins.i_in1, ins.i_in2), []).append(n)
        # one group per block of input 1: its pairs (b, members, ksizes, K) share one batched product with x
        by_a: dict[int, list] = {}
        for (a, b), members in pairs.items():
            ksizes = [ios[self.instructions[n].i_out].ir.dim for n in members]
            by_a.setdefault(a, []).append((b, members, ksizes, sum(ksizes)))
        # when every block of input 2 has multiplicity 1 (e.g. spherical harmonics), y @ one block matrix gives
        # the contraction with all of them at once
        self._y_single = all(mul == 1 for mul, _ in i2s)
        self._groups = []
        for a, plist in by_a.items():
            d1 = i1s[a].ir.dim
            mats = []
            for b, members, _, k in plist:
                blocks = [wigner_3j(i1s[a].ir.l, i2s[b].ir.l, ios[self.instructions[n].i_out].ir.l,
                                    dtype=torch.float64) * self.instructions[n].path_weight for n in members]
                cg = torch.cat(blocks, dim=2)  # [d1, d2, K]
                mats.append(cg.permute(1, 2, 0).reshape(i2s[b].ir.dim, k * d1))  # [d2, K * d1]
            if self._y_single:
                full = torch.zeros(i2s.dim, sum(m.shape[1] for m in mats), dtype=torch.float64)
                col, sl = 0, i2s.slices()
                for (b, *_), m in zip(plist, mats):
                    full[sl[b], col:col + m.shape[1]] = m
                    col += m.shape[1]
                mats = [full]
            for j, m in enumerate(mats):
                self.register_constant(f"cg_{a}_{j}", m)  # float64 master: .double() is float64-exact
            uv = any(self.instructions[n].connection_mode in _UV_MODES for _, members, _, _ in plist for n in members)
            self._groups.append((a, plist, len(mats), uv))
        # uvw paths merged per output block
        self._uvw_by_out: dict[int, list[int]] = {}
        for n, ins in enumerate(self.instructions):
            if ins.connection_mode == "uvw" and ins.has_weight and ins.path_weight != 0 and 0 not in ins.path_shape:
                self._uvw_by_out.setdefault(ins.i_out, []).append(n)
        # fast path: only weighted uvw paths with second-input multiplicity 1 (features x spherical harmonics)
        plan = plan_uvw_single(self.instructions, i1s, i2s, ios, self._w_offsets)
        self._fast_groups = None
        self._fused_plan = None
        if plan is not None:
            self._fast_groups, cg, perm = plan
            self._fused_plan = FusedPlan(self._fast_groups, i1s, i2s, ios)
            self.register_constant("cg_fast", cg)
            identity = torch.equal(perm, torch.arange(perm.numel())) and perm.numel() == self.weight_numel
            self.register_buffer("w_perm_fast", None if identity else perm, persistent=False)
        # depthwise fast path: only weighted uvu paths with second-input multiplicity 1 (a point convolution's
        # features x spherical harmonics, one weight per channel and path); run by the compiled CPU kernel
        uvu = plan_uvu_single(self.instructions, i1s, i2s, ios, self._w_offsets)
        self._uvu_plan = None
        if uvu is not None:
            self._uvu_plan = UvuPlan(uvu[0], i1s, i2s, ios)
            self.register_constant("cg_uvu", uvu[1])

    # ------------------------------------------------------------------ weights
    def weight_view_for_instruction(self, instruction: int, weight: torch.Tensor | None = None) -> torch.Tensor:
        """The weights of one instruction, ``[..., *path_shape]`` (e3nn's layout)."""
        ins = self.instructions[instruction]
        if not ins.has_weight:
            raise ValueError(f"instruction {instruction} has no weights")
        w = self._get_weight(weight)
        off = self._w_offsets[instruction]
        return w.narrow(-1, off, math.prod(ins.path_shape)).reshape(*w.shape[:-1], *ins.path_shape)

    def weight_views(self, weight: torch.Tensor | None = None, yield_instruction: bool = False):
        """The weights of each weighted instruction, ``[..., *path_shape]`` (e3nn's ``weight_views``); with
        ``yield_instruction``, ``(index, instruction, view)``."""
        w = self._get_weight(weight)
        for i, ins in enumerate(self.instructions):
            if ins.has_weight:
                view = w.narrow(-1, self._w_offsets[i], math.prod(ins.path_shape)).reshape(*w.shape[:-1],
                                                                                          *ins.path_shape)
                yield (i, ins, view) if yield_instruction else view

    @property
    def output_mask(self) -> torch.Tensor:
        """``[irreps_out.dim]``: 1 where some path writes the output, 0 where the output is always zero (e3nn's
        ``output_mask``; computed, not stored: steertorch's state dicts do not carry it).

        >>> tp = TensorProduct("1o", "1o", "0e + 1e + 2o", [(0, 0, 0, "uvw", True), (0, 0, 1, "uvw", True)])
        >>> tp.output_mask.tolist()  # no path reaches 2o
        [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        >>> [w.shape for w in tp.weight_views()]
        [torch.Size([1, 1, 1]), torch.Size([1, 1, 1])]
        """
        ref = next((t for t in (*self.parameters(), *self.buffers()) if t.is_floating_point()), None)
        mask = torch.zeros(self.irreps_out.dim, dtype=torch.get_default_dtype() if ref is None else ref.dtype,
                           device=None if ref is None else ref.device)
        for ins in self.instructions:
            if ins.path_weight != 0 and 0 not in ins.path_shape:
                mask[self.irreps_out.slices()[ins.i_out]] = 1
        return mask

    def _get_weight(self, weight: torch.Tensor | list | tuple | None) -> torch.Tensor:
        if isinstance(weight, (list, tuple)):  # e3nn: one tensor per weighted instruction, [..., *path_shape]
            shapes = [ins.path_shape for ins in self.instructions if ins.has_weight]
            if len(weight) != len(shapes):
                raise ValueError(f"expected {len(shapes)} weight tensors (one per weighted instruction), got "
                                 f"{len(weight)}")
            batch = weight[0].shape[:weight[0].dim() - len(shapes[0])] if weight else ()
            weight = torch.cat([w.reshape(*batch, math.prod(sh)) for w, sh in zip(weight, shapes)], dim=-1)
        if weight is None:
            if not self.internal_weights:
                if self.weight_numel == 0:
                    return self.weight
                raise ValueError(f"this TensorProduct has no internal weights: pass weight [..., {self.weight_numel}]")
            return self.weight
        if weight.shape[-1] != self.weight_numel:
            raise ValueError(f"expected weight [..., {self.weight_numel}], got {list(weight.shape)}")
        if self.shared_weights and weight.dim() != 1:
            raise ValueError(f"shared weights must have shape [{self.weight_numel}], got {list(weight.shape)}")
        return weight

    # ------------------------------------------------------------------ forward
    def _check(self, x: torch.Tensor, irreps: Irreps, name: str) -> None:
        if x.shape[-1] != irreps.dim:
            raise ValueError(f"{name}: expected features of irreps {irreps} (last dim {irreps.dim}), "
                             f"got shape {list(x.shape)}")

    def _check_dtypes(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> None:
        """ValueError unless the inputs have the dtype of the Clebsch-Gordan constants and weights."""
        name = type(self).__name__
        consts = [t for t in self._buffers.values() if t is not None and t.is_floating_point() and t.numel()]
        dtype = consts[0].dtype if consts else (w.dtype if w.numel() else None)
        check_input_dtype(name, "input x", x, dtype)
        check_input_dtype(name, "input y", y, dtype)
        if w.numel():
            check_input_dtype(name, "weight", w, dtype)

    def forward(self, x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` ``[..., irreps_in1.dim]``, ``y`` ``[..., irreps_in2.dim]`` -> ``[..., irreps_out.dim]``."""
        self._check(x, self.irreps_in1, "input 1")
        self._check(y, self.irreps_in2, "input 2")
        w = self._get_weight(weight)
        self._check_dtypes(x, y, w)
        batch = torch.broadcast_shapes(x.shape[:-1], y.shape[:-1])
        if not self.shared_weights:
            batch = torch.broadcast_shapes(batch, w.shape[:-1])
        z = math.prod(batch)
        if not self.shared_weights:
            w = w.expand(*batch, self.weight_numel).reshape(z, self.weight_numel)
        x = x.expand(*batch, x.shape[-1]).reshape(z, x.shape[-1])
        y = y.expand(*batch, y.shape[-1]).reshape(z, y.shape[-1])
        if z == 0:  # empty batch (e.g. a graph without edges): zeros, on the graph of the inputs and weights
            return x.new_zeros(*batch, self.irreps_out.dim) + connected_zeros(x, y, w)
        out = self._forward(x, y, w)
        # no path (empty irreps): keep the zeros on the autograd graph (not in a trace, which records no autograd)
        if not out.requires_grad and torch.is_grad_enabled() and not torch.jit.is_tracing():
            out = out + connected_zeros(x, y, w)
        return out.reshape(*batch, self.irreps_out.dim)

    def _forward(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if self._fast_groups is not None:
            # on CPU the hand-written backward; per-sample weights only in the compiled kernel. Not under
            # torch.jit.trace: the tracer cannot see the kernel's writes (it would record an uninitialised tensor)
            if x.device.type == "cpu" and not torch.compiler.is_compiling() and not torch.jit.is_tracing() and (
                    self.shared_weights or self._fused_plan.kernel(x, y, w, self.cg_fast) is not None):
                return fused_uvw_single(x, y, w, self.cg_fast, self._fused_plan)
            return forward_uvw_single(x, y, w, self.cg_fast, self.w_perm_fast, self._fast_groups, self.irreps_in1,
                                      self.irreps_out, self.shared_weights)
        if self._uvu_plan is not None and x.device.type == "cpu" and not torch.compiler.is_compiling() and \
                not torch.jit.is_tracing() and self._uvu_plan.kernel(x, y, w, self.cg_uvu) is not None:
            return fused_product(x, y, w, self.cg_uvu, self._uvu_plan)  # (derivatives of every order in the kernel)
        z = x.shape[0]
        i1s, i2s, ios = self.irreps_in1, self.irreps_in2, self.irreps_out
        # split (not slice): the backward of a split is one concatenation, not a zero-filled copy per slice
        xs = x.split([mi.dim for mi in i1s], dim=1)
        ys = y.split([mi.dim for mi in i2s], dim=1)
        shared = self.shared_weights
        uv_parts: dict[int, torch.Tensor] = {}  # instruction -> [z, k, u, v] (uv modes)
        uu_parts: dict[int, torch.Tensor] = {}  # instruction -> [z, k, u]
        for a, plist, _, uv in self._groups:
            m1, ir1 = i1s[a]
            d1 = ir1.dim
            x1 = xs[a].reshape(z, m1, d1)
            # A[z, (b, v, K), i] = sum_j y_b[z, v, j] C_b[i, j, K]
            if self._y_single:
                amat = (y @ getattr(self, f"cg_{a}_0")).reshape(z, -1, d1)
            else:
                amat = torch.cat([(ys[b].reshape(z * i2s[b].mul, i2s[b].ir.dim) @ getattr(self, f"cg_{a}_{j}"))
                                  .reshape(z, -1, d1) for j, (b, *_) in enumerate(plist)], dim=1)
            sizes = [i2s[b].mul * k for b, _, _, k in plist]
            # Y[z, (b, v, K), u] = sum_i A[z, (b, v, K), i] x[z, u, i]: one batched product for the whole group
            yy = torch.bmm(amat, x1.transpose(1, 2)) if uv else None
            a_parts = amat.split(sizes, dim=1)
            y_parts = yy.split(sizes, dim=1) if uv else [None] * len(plist)
            for (b, members, ksizes, k), ap, yp in zip(plist, a_parts, y_parts):
                m2 = i2s[b].mul
                modes = [self.instructions[n].connection_mode for n in members]
                if yp is not None:
                    for n, mode, part in zip(members, modes, yp.reshape(z, m2, k, m1).split(ksizes, dim=2)):
                        if mode in _UV_MODES:
                            uv_parts[n] = part.permute(0, 2, 3, 1)  # [z, k, u, v]
                if any(mode in ("uuw", "uuu") for mode in modes):
                    yd = (ap.reshape(z, m2, k, d1) * x1[:, :, None, :]).sum(-1)  # [z, u, K]
                    for n, mode, part in zip(members, modes, yd.split(ksizes, dim=2)):
                        if mode in ("uuw", "uuu"):
                            uu_parts[n] = part.transpose(1, 2)  # [z, k, u]
        outs: list[torch.Tensor | None] = [None] * len(ios)

        def add(o: int, t: torch.Tensor) -> None:  # t: [z, k, mul_out]
            outs[o] = t if outs[o] is None else outs[o] + t

        merged = set()
        for o, members in self._uvw_by_out.items():
            ko = ios[o].ir.dim
            ycat = torch.cat([uv_parts[n].reshape(z, ko, -1) for n in members], dim=2)  # [z, k, sum uv]
            if shared:
                wcat = torch.cat([w.narrow(-1, self._w_offsets[n], math.prod(self.instructions[n].path_shape))
                                  .reshape(-1, ios[o].mul) for n in members], dim=0)
                add(o, (ycat.reshape(z * ko, -1) @ wcat).reshape(z, ko, ios[o].mul))
            else:
                wcat = torch.cat([w.narrow(-1, self._w_offsets[n], math.prod(self.instructions[n].path_shape))
                                  .reshape(z, -1, ios[o].mul) for n in members], dim=1)
                add(o, torch.bmm(ycat, wcat))
            merged.update(members)
        for n, ins in enumerate(self.instructions):
            if n in merged or (n not in uv_parts and n not in uu_parts):
                continue
            mode = ins.connection_mode
            wv = self.weight_view_for_instruction(n, w) if ins.has_weight else None
            if mode in ("uuw", "uuu"):
                t = uu_parts[n]  # [z, k, u]
                if mode == "uuw":
                    t = torch.einsum("zku,uw->zkw" if shared else "zku,zuw->zkw", t, wv) if wv is not None \
                        else t.sum(-1, keepdim=True)
                elif wv is not None:
                    t = t * (wv if shared else wv[:, None, :])
            else:
                t = uv_parts[n]  # [z, k, u, v]
                zz = "" if shared else "z"
                if mode == "uvw":  # per-sample uvw weights of a path not merged (cannot happen) or unweighted
                    raise RuntimeError("uvw paths are merged per output")
                elif mode == "uvu":
                    t = torch.einsum(f"zkuv,{zz}uv->zku", t, wv) if wv is not None else t.sum(3)
                elif mode == "uvv":
                    t = torch.einsum(f"zkuv,{zz}uv->zkv", t, wv) if wv is not None else t.sum(2)
                elif mode == "uvuv":
                    t = (t * (wv if shared else wv[:, None])) if wv is not None else t
                    t = t.reshape(z, t.shape[1], -1)
                else:  # u < v pairs
                    iu, iv = torch.triu_indices(t.shape[2], t.shape[3], 1, device=t.device)
                    t = t[:, :, iu, iv]  # [z, k, P]
                    if mode == "uvu<v":
                        t = (t * (wv if shared else wv[:, None])) if wv is not None else t
                    else:
                        t = torch.einsum(f"zkp,{zz}pw->zkw", t, wv) if wv is not None else t.sum(-1, keepdim=True)
            add(ins.i_out, t)
        pieces = []
        for o, (mul, ir) in enumerate(ios):
            t = outs[o]
            if t is None:
                pieces.append(x.new_zeros(z, mul * ir.dim))
            else:
                pieces.append(t.transpose(1, 2).reshape(z, mul * ir.dim))
        if not pieces:
            return x.new_zeros(z, 0)
        return torch.cat(pieces, dim=1)

    def right(self, y: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """The linear map ``[..., irreps_in1.dim, irreps_out.dim]`` with ``B(x, y) = x @ right(y)``.

        ``B`` is the bilinear map of :meth:`TensorProduct.forward` (called as such, so subclasses
        whose ``forward`` takes other arguments, like :class:`TensorSquare`, still work).
        """
        self._check(y, self.irreps_in2, "input 2")
        batch = y.shape[:-1]
        if not self.shared_weights and weight is not None:
            batch = torch.broadcast_shapes(batch, weight.shape[:-1])
        d1 = self.irreps_in1.dim
        eye = torch.eye(d1, dtype=y.dtype, device=y.device)
        xb = eye.expand(*batch, d1, d1)
        yb = y[..., None, :].expand(*batch, d1, y.shape[-1])
        wb = weight
        if weight is not None and not self.shared_weights:
            wb = weight[..., None, :].expand(*batch, d1, weight.shape[-1])
        return TensorProduct.forward(self, xb, yb, wb)

    def extra_repr(self) -> str:
        return (f"{self.irreps_in1} x {self.irreps_in2} -> {self.irreps_out} | {len(self.instructions)} paths | "
                f"{self.weight_numel} weights")


class FullyConnectedTensorProduct(TensorProduct):
    r"""Every path ``ir_1 x ir_2 -> ir_out`` allowed by the selection rules, mode "uvw", weighted.

    Instruction order and weight layout are e3nn's, so a state dict moves between the two.

    >>> tp = FullyConnectedTensorProduct("8x0e + 8x1o", "0e + 1o", "8x0e + 8x1o")
    >>> tp.weight_numel  # four paths 0e x 0e, 0e x 1o, 1o x 0e, 1o x 1o, each 8 x 8
    256
    """

    def __init__(self, irreps_in1: object, irreps_in2: object, irreps_out: object,
                 irrep_normalization: str = "component", path_normalization: str = "element", **kwargs) -> None:
        i1, i2, io = Irreps(irreps_in1), Irreps(irreps_in2), Irreps(irreps_out)
        instr = [
            (a, b, o, "uvw", True, 1.0)
            for a, (_, ir1) in enumerate(i1)
            for b, (_, ir2) in enumerate(i2)
            for o, (_, iro) in enumerate(io)
            if iro in ir1 * ir2
        ]
        super().__init__(i1, i2, io, instr, irrep_normalization=irrep_normalization,
                         path_normalization=path_normalization, **kwargs)
