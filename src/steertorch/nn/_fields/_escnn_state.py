r"""Load the weights of an escnn model into the same architecture written with steertorch's escnn names.

escnn's convolutions store basis coefficients (``weights``) in escnn's order of its own basis, which steertorch
does not reproduce. What both libraries agree on is the *expanded* kernel: for default arguments
(:func:`~steertorch.kernels.escnn_ring_widths`, :class:`~steertorch.kernels.EscnnFrequencyCutoff`) the kernels of
an :class:`R2Conv` / :class:`R3Conv` span escnn's kernel space. So a convolution is loaded by fitting its
coefficients w to escnn's expanded filter :math:`K_e`, after the change of basis of the fields:

.. math::  w^* = \arg\min_w \big\|K(w) - Q_{out}\, K_e\, Q_{in}^{-1}\big\|_F, \qquad
           \text{residual} = \frac{\|K(w^*) - Q_{out} K_e Q_{in}^{-1}\|_F}{\|K_e\|_F},

one least-squares problem per pair of field representations (all fields of a pair share the basis), in float64.
A residual above ``tolerance`` means escnn's filter is not in this layer's kernel space (other rings, widths,
band limit, kernel size or field types) and raises ``ValueError``.

:math:`Q` is the change of basis of the fields, :math:`x_{ours} = Q\, x_{escnn}` (block diagonal, one block per
field; :func:`escnn_change_of_basis`). Both libraries sample kernels on the same grid offsets, but escnn's sampling
frame is not steertorch's: escnn's ``get_grid_coords`` puts coordinate 0 along the last tensor axis and the others
reversed (:math:`(x, y) = (W, -H)`, :math:`(x, y, z) = (W, -H, -D)`), steertorch's are (H, W) and (D, H, W). An
escnn group element g therefore acts on the grid as steertorch's element :math:`g_o` with
:math:`M_o(g_o) = A^\top M_e(g) A` (:math:`A` the map between the two frames), and Q is the intertwiner
:math:`Q \rho_e(g) = \rho_o(g_o) Q`, computed by comparing the two libraries' representation matrices on the same
elements. Measured against escnn 1.0.11:

- planar groups (C_N, D_N, SO(2), O(2) on R^2): :math:`Q = I` for irreps and regular fields (both libraries use
  the same matrices on the same grid motions);
- SO(3) and O(3) on R^3: the real bases of the irreps differ (steertorch's is e3nn's), and with the frames
  :math:`Q_l = D^l(B)` for every degree l (and both parities), :math:`B` the half turn
  ``[[0, 1, 0], [1, 0, 0], [0, 0, -1]]``.

So features move between the two models with the same Q: a model loaded this way maps :math:`Q_{in} x` to
:math:`Q_{out} y` where escnn maps x to y (invariant outputs are equal; for planar groups everything is equal).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from ...group import Representation
from ...group._group import float64_default
from ._batchnorm import InnerBatchNorm, NormBatchNorm, _FieldBatchNorm, _IIDBatchNorm
from ._conv import R3IcoConv, _BasisExpansion, _channels, _distinct, _group_types, _RdConv
from ._type import FieldType

__all__ = ["load_escnn_state_dict", "escnn_change_of_basis"]

_DEFAULT_TOLERANCE = 1e-4  # relative residual; escnn's float32 filters fit to about 2e-7
_REP_TOL = 1e-6  # intertwining check of a change of basis on float64 representation matrices
_N_SAMPLES = 8  # random elements of a continuous group to compare representations on

# steertorch's grid coordinates (H, W) / (D, H, W) -> escnn's sampling frame (W, -H) / (W, -H, -D): x_e = A x_o
_FRAME = {2: torch.tensor([[0.0, 1.0], [-1.0, 0.0]], dtype=torch.float64),
          3: torch.tensor([[0.0, 0.0, 1.0], [0.0, -1.0, 0.0], [-1.0, 0.0, 0.0]], dtype=torch.float64)}
# the change of basis of SO(3) / O(3) irreps (measured against escnn, see the module docstring): Q_l = D^l(B)
_SO3_HALF_TURN = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]], dtype=torch.float64)
_TRAIN_MODE_HELP = ("escnn stores its expanded kernels (`filter`, `expanded_bias`) only in eval mode; escnn's "
                    "`weights` are coefficients in escnn's own basis, which steertorch does not reproduce. With "
                    "escnn installed, either pass the escnn model itself (load_escnn_state_dict(ours, escnn_model)) "
                    "or save its state dict in eval mode: escnn_model.eval(); torch.save(escnn_model.state_dict(), "
                    "path)")


# ---------------------------------------------------------------------------------------------- changes of basis
def _is_planar(ft: FieldType) -> bool:
    return ft.gspace.dimensionality == 2


def _is_so3_or_o3(ft: FieldType) -> bool:
    return ft.gspace.dimensionality == 3 and ft.fibergroup.name in ("SO(3)", "O(3)")


def _known_irrep_change(psi: Representation) -> torch.Tensor | None:
    """The change of basis of one irrep (escnn -> steertorch) where it is known without escnn's objects."""
    name = psi.group.name
    if name in ("SO(3)", "O(3)"):
        with float64_default():
            return psi(psi.group.from_matrix(_SO3_HALF_TURN)).to(torch.float64)
    return None


def _known_change_of_basis(ft: FieldType, who: str) -> torch.Tensor:
    """Q for a state dict (no escnn objects): identity for planar groups, D^l(B) blocks for SO(3) / O(3) fields that
    are sums of irreps; ValueError otherwise."""
    if _is_planar(ft):
        return torch.eye(ft.size, dtype=torch.float64)
    if _is_so3_or_o3(ft):
        blocks = []
        for i, rho in enumerate(ft.representations):
            if rho.change_of_basis is not None:
                raise ValueError(f"{who}: field {i} ({rho.name}) of {ft!r} is not a direct sum of irreps; its change "
                                 "of basis from escnn's fields needs escnn's representation: pass the escnn model "
                                 "itself instead of its state dict")
            blocks += [_known_irrep_change(psi) for psi in rho.irreps]
        return torch.block_diag(*blocks)
    raise ValueError(f"{who}: the change of basis between escnn's and steertorch's fields of {ft.gspace.name} is only "
                     "known from escnn's representations: pass the escnn model itself instead of its state dict "
                     "(supported from a state dict: planar groups, and SO(3) / O(3) fields made of irreps)")


def _escnn_elements(gspace_e: Any, gspace_o: Any) -> tuple[list[Any], torch.Tensor]:
    """Elements of escnn's group (all of a finite group, random ones of a continuous group, numpy's global random
    state restored) and the steertorch elements acting on the grid in the same way."""
    group_e = gspace_e.fibergroup
    if group_e.order() > 0:
        elements = list(group_e.elements)
    else:
        state = np.random.get_state()
        try:
            elements = [group_e.sample() for _ in range(_N_SAMPLES)]
        finally:
            np.random.set_state(state)
    d = gspace_o.dimensionality
    a = _FRAME[d]
    frame = gspace_o.frame.to(torch.float64)
    mats = torch.stack([torch.as_tensor(np.asarray(gspace_e.basespace_action(g), dtype=np.float64)) for g in elements])
    try:
        with float64_default():
            ours = gspace_o.fibergroup.from_matrix(frame.T @ a.T @ mats @ a @ frame)
    except ValueError as err:
        raise ValueError(f"escnn's {gspace_e} moves the grid in ways that {gspace_o.name} does not (another subgroup, "
                         f"e.g. another reflection axis): {err}") from None
    return elements, ours


def _rep_matrices_e(rep_e: Any, elements: list[Any]) -> torch.Tensor:
    return torch.stack([torch.as_tensor(np.asarray(rep_e(g), dtype=np.float64)) for g in elements])


def _rep_matrices_o(rep_o: Representation, elements: torch.Tensor) -> torch.Tensor:
    with float64_default():
        return rep_o(elements).to(torch.float64)


def _intertwiner(mo: torch.Tensor, me: torch.Tensor, candidate: torch.Tensor | None) -> torch.Tensor | None:
    """An orthogonal q with q me[n] = mo[n] q for all n (None if there is none): the candidate if it works, else
    the projection of the identity on the intertwiners (a deterministic choice), else one from the null space."""
    d = mo.shape[-1]
    if me.shape[-1] != d:
        return None

    def works(q: torch.Tensor) -> bool:
        return float((q @ me - mo @ q).abs().max()) < _REP_TOL

    for q in ([candidate] if candidate is not None else []) + [torch.eye(d, dtype=torch.float64)]:
        if works(q):
            return q
    # vec(q me - mo q) = (I kron me^T - mo kron I) vec(q) (row-major vec)
    eye = torch.eye(d, dtype=torch.float64)
    c = torch.cat([torch.kron(eye, m_e.T.contiguous()) - torch.kron(m_o, eye) for m_o, m_e in zip(mo, me)])
    _, s, vh = torch.linalg.svd(c)  # c has at least d^2 rows, so s has d^2 values
    null = vh[s < 1e-8 * max(float(s[0]), 1.0)]
    if not null.shape[0]:
        return None
    coef = null @ eye.reshape(-1)
    q = (coef @ null if float(coef.norm()) > 1e-6 else null[0]).reshape(d, d)
    q = q / math.sqrt(float((q @ q.T).trace()) / d)
    return q if works(q) else None


def _field_change_of_basis(rep_e: Any, rep_o: Representation, elements: list[Any], ours: torch.Tensor,
                           who: str) -> torch.Tensor:
    """Q with Q rho_e(g) = rho_o(g_o) Q for one field (see the module docstring)."""
    me, mo = _rep_matrices_e(rep_e, elements), _rep_matrices_o(rep_o, ours)
    if me.shape != mo.shape:
        raise ValueError(f"{who}: escnn's field {rep_e.name} has size {me.shape[-1]}, steertorch's {rep_o.name} "
                         f"{mo.shape[-1]}")
    if float((me - mo).abs().max()) < _REP_TOL:
        return torch.eye(rep_o.size, dtype=torch.float64)
    # irrep by irrep: Q = Q_o (+)q Q_e^-1, each escnn irrep matched to an equivalent steertorch irrep
    group_e = rep_e.group
    irreps_e = [group_e.irrep(*i) for i in rep_e.irreps]
    cob_e = torch.as_tensor(np.asarray(rep_e.change_of_basis, dtype=np.float64))
    cob_e_inv = torch.as_tensor(np.asarray(rep_e.change_of_basis_inv, dtype=np.float64))
    starts_o = np.cumsum([0] + [psi.size for psi in rep_o.irreps]).tolist()
    mid = torch.zeros(rep_o.size, rep_o.size, dtype=torch.float64)
    used: set[int] = set()
    start_e = 0
    for psi_e in irreps_e:
        m_e = _rep_matrices_e(psi_e, elements)
        for k, psi_o in enumerate(rep_o.irreps):
            if k in used or psi_o.size != psi_e.size:
                continue
            q = _intertwiner(_rep_matrices_o(psi_o, ours), m_e, _known_irrep_change(psi_o))
            if q is not None:
                used.add(k)
                mid[starts_o[k]:starts_o[k + 1], start_e:start_e + psi_e.size] = q
                break
        else:
            raise ValueError(f"{who}: escnn's irrep {psi_e.name} of field {rep_e.name} has no equivalent irrep left "
                             f"in steertorch's field {rep_o.name}: the two field types differ")
        start_e += psi_e.size
    q = rep_o.dense_change_of_basis() @ mid @ cob_e_inv
    if float((q @ me - mo @ q).abs().max()) > _REP_TOL or not torch.allclose(cob_e @ cob_e_inv, torch.eye(
            rep_o.size, dtype=torch.float64), atol=1e-8):
        raise ValueError(f"{who}: could not build the change of basis between escnn's field {rep_e.name} and "
                         f"steertorch's {rep_o.name}")
    return q


def escnn_change_of_basis(field_type: FieldType, escnn_type: Any = None) -> torch.Tensor:
    r"""The change of basis ``Q`` ``[C, C]`` (float64) from escnn's channels to steertorch's for a field type:
    :math:`x_{ours} = Q\, x_{escnn}` for the same feature map (block diagonal, one block per field).

    With ``escnn_type`` (escnn's ``FieldType`` of the same fields, used through its attributes only: escnn is not
    imported), Q is computed by comparing both libraries' representation matrices on the same group elements (the
    elements that move the grid in the same way). Without it, Q is the measured convention: the identity for planar
    groups (C_N, D_N, SO(2), O(2)), :math:`D^l(B)` per irrep of SO(3) / O(3) fields made of irreps (``ValueError``
    for other groups); docs/conventions.md ("Loading escnn's weights") gives the derivation.

    >>> import torch
    >>> from steertorch.gspaces import rot3dOnR3, rot2dOnR2
    >>> gs = rot3dOnR3()
    >>> escnn_change_of_basis(FieldType(gs, [gs.irrep(1)]))     # degree 1: (x, y, z) <- escnn's (y', x', -z')
    tensor([[ 0.,  1.,  0.],
            [ 1.,  0.,  0.],
            [ 0.,  0., -1.]], dtype=torch.float64)
    >>> gs = rot2dOnR2(8)
    >>> bool(torch.equal(escnn_change_of_basis(FieldType(gs, [gs.regular_repr])), torch.eye(8, dtype=torch.float64)))
    True
    """
    if not isinstance(field_type, FieldType):
        raise ValueError(f"escnn_change_of_basis: expected a FieldType, got {type(field_type).__name__}")
    who = "escnn_change_of_basis"
    if escnn_type is None:
        return _known_change_of_basis(field_type, who)
    return _type_change_of_basis(escnn_type, field_type, who)


def _type_change_of_basis(escnn_type: Any, field_type: FieldType, who: str) -> torch.Tensor:
    reps_e = list(getattr(escnn_type, "representations", []))
    if len(reps_e) != len(field_type.representations):
        raise ValueError(f"{who}: escnn's field type has {len(reps_e)} fields, steertorch's {field_type!r} has "
                         f"{len(field_type.representations)}")
    if field_type.gspace.dimensionality not in _FRAME:
        raise ValueError(f"{who}: only G-spaces on R^2 and R^3 are supported, got {field_type.gspace.name}")
    elements, ours = _escnn_elements(escnn_type.gspace, field_type.gspace)
    cache: dict[tuple[int, int], torch.Tensor] = {}
    blocks = []
    for i, (rep_e, rep_o) in enumerate(zip(reps_e, field_type.representations)):
        key = (id(rep_e), id(rep_o))
        if key not in cache:
            cache[key] = _field_change_of_basis(rep_e, rep_o, elements, ours, f"{who} (field {i})")
        blocks.append(cache[key])
    return torch.block_diag(*blocks)


# ---------------------------------------------------------------------------------------------- sources
class _Source:
    """An escnn state dict (and, when an escnn module was passed, its sub-modules)."""

    def __init__(self, source: nn.Module | Mapping[str, torch.Tensor]) -> None:
        self.trainable: set[str] = set()
        if isinstance(source, nn.Module):
            self.modules: dict[str, nn.Module] | None = dict(source.named_modules())
            self.state = {k: v.detach() for k, v in source.state_dict().items()}
            self.trainable = {k for k, p in source.named_parameters() if p.requires_grad}
        elif isinstance(source, Mapping):
            self.modules = None
            self.state = {k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in source.items()}
            bad = [k for k, v in self.state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
            if bad:
                raise ValueError(f"load_escnn_state_dict: a state dict maps names to tensors; bad entries {bad[:5]}")
        else:
            raise ValueError("load_escnn_state_dict: source must be an escnn module or a state dict, got "
                             f"{type(source).__name__}")
        self.used: set[str] = set()

    def module(self, name: str) -> nn.Module | None:
        return None if self.modules is None else self.modules.get(name)

    def local(self, prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix):]: v for k, v in self.state.items() if k.startswith(prefix)}

    def take(self, prefix: str, key: str, who: str) -> torch.Tensor:
        full = prefix + key
        if full not in self.state:
            raise ValueError(f"{who}: escnn's state has no {full!r}")
        self.used.add(full)
        return self.state[full].to(torch.float64)

    def use_all(self, prefix: str, keys) -> None:
        self.used.update(prefix + k for k in keys)


# ---------------------------------------------------------------------------------------------- convolutions
def _load_conv(conv: _RdConv, name: str, src: _Source, tolerance: float) -> tuple[dict[str, torch.Tensor], float]:
    who = f"load_escnn_state_dict ({name or 'the module'}: {type(conv).__name__})"
    prefix = name + "." if name else ""
    if isinstance(conv, R3IcoConv):
        raise ValueError(f"{who}: R3IcoConv uses another basis than escnn's (an analytic basis restricted to I), "
                         "so escnn's kernels are not in its span")
    if not isinstance(conv.expansion, _BasisExpansion):
        raise ValueError(f"{who}: a convolution with a kernel module (kernel=...) has no escnn counterpart")
    e_mod = src.module(name)
    local = src.local(prefix)
    if e_mod is not None:
        if not callable(getattr(e_mod, "expand_parameters", None)):
            raise ValueError(f"{who}: escnn's module at {name!r} ({type(e_mod).__name__}) has no expand_parameters(): "
                             "not an escnn convolution")
        with torch.no_grad():
            filt, bias_e = e_mod.expand_parameters()
        filt = filt.detach().to(torch.float64)
        bias_e = None if bias_e is None else bias_e.detach().to(torch.float64)
        q_in = _type_change_of_basis(e_mod.in_type, conv.in_type, who)
        q_out = _type_change_of_basis(e_mod.out_type, conv.out_type, who)
    else:
        if "filter" not in local:
            if "weights" in local:
                raise ValueError(f"{who}: escnn's state dict holds only the basis coefficients {prefix}weights, no "
                                 f"expanded {prefix}filter. {_TRAIN_MODE_HELP}")
            raise ValueError(f"{who}: escnn's state dict has no {prefix}filter (keys under {prefix!r}: "
                             f"{sorted(local)[:8]})")
        filt = src.take(prefix, "filter", who)
        if "bias" in local and "bias_expansion" in local:
            bias_e = src.take(prefix, "bias_expansion", who) @ src.take(prefix, "bias", who)
        elif "expanded_bias" in local:
            bias_e = src.take(prefix, "expanded_bias", who)
        else:
            bias_e = None
        q_in = _known_change_of_basis(conv.in_type, who)
        q_out = _known_change_of_basis(conv.out_type, who)
    src.use_all(prefix, [k for k in local if k in ("weights", "bias", "bias_expansion", "expanded_bias", "filter")
                         or k.startswith("_basisexpansion.")])

    exp = conv.expansion
    g, p = conv.groups, exp.n_points
    co, ci = conv.out_type.size // g, conv.in_type.size // g
    expected = (ci * g, co) if conv._transposed else (co * g, ci)
    if tuple(filt.shape) != expected + tuple(conv.kernel_size):
        raise ValueError(f"{who}: escnn's filter has shape {list(filt.shape)}, this module's kernel "
                         f"{list(expected + tuple(conv.kernel_size))}")
    # escnn's filter in the layout of this module's kernel [G, Co_g, Ci_g, P], in steertorch's field bases
    if conv._transposed:
        k = filt.reshape(g, ci, co, p).permute(0, 2, 1, 3)
    else:
        k = filt.reshape(g, co, ci, p)
    # every group of fields carries the same representations, so the same diagonal block of Q
    q_out_g, q_in_g = q_out[:co, :co], q_in[:ci, :ci]
    k = torch.einsum("ab,gbcp,cd->gadp", q_out_g, k, torch.linalg.inv(q_in_g))

    in_g, out_g = _group_types(conv.in_type, g, "in_type"), _group_types(conv.out_type, g, "out_type")
    in_reps, out_reps = _distinct(in_g), _distinct(out_g)
    weights = torch.zeros(exp.n_weights, dtype=torch.float64)
    sq_res = 0.0
    for i, b in enumerate(exp._blocks):
        rep_o, rep_i = out_reps[b.row], in_reps[i % len(in_reps)]
        oc = torch.tensor(_channels(out_g, rep_o))
        ic = torch.tensor(_channels(in_g, rep_i))
        target = k[:, oc][:, :, ic].reshape(g, b.n_o, b.s_o, b.n_i, b.s_i, p).permute(0, 1, 3, 2, 4, 5)
        target = target.reshape(g * b.n_o * b.n_i, -1)
        basis = exp.dense_basis(i)
        if b.dim:
            w = torch.linalg.lstsq(basis.T, target.T).solution.T  # [fields pairs, dim]
            weights[b.offset:b.offset + w.numel()] = w.reshape(-1)
            sq_res += float((w @ basis - target).pow(2).sum())
        else:
            sq_res += float(target.pow(2).sum())
    norm = float(filt.pow(2).sum())
    residual = math.sqrt(sq_res / norm) if norm > 0 else math.sqrt(sq_res)

    out: dict[str, torch.Tensor] = {"expansion.weights": weights}
    if conv.bias is None:
        if bias_e is not None and float(bias_e.abs().max()) > 0:
            raise ValueError(f"{who}: escnn's layer has a bias and this one none (bias=False)")
    else:  # escnn without a bias: a zero bias here
        e = conv.__dict__["_constant_masters"]["_bias_expansion"]  # [C_out, n], orthonormal columns
        b_o = q_out @ bias_e if bias_e is not None else torch.zeros(conv.out_type.size, dtype=torch.float64)
        coef = e.T @ b_o
        if float(b_o.norm()) > 0:  # the part of escnn's bias off the invariant directions counts as residual
            residual = max(residual, float((e @ coef - b_o).norm()) / float(b_o.norm()))
        out["bias"] = coef
    if not residual <= tolerance:
        raise ValueError(f"{who}: escnn's kernel is not in this layer's kernel space (relative residual "
                         f"{residual:.2e} > tolerance {tolerance:.0e}): build it with the same kernel_size, rings, "
                         "sigma, frequencies_cutoff, dilation and field types as escnn's (the defaults are escnn's)")
    return out, residual


# ---------------------------------------------------------------------------------------------- batch norms
def _escnn_irrep_id(psi: Representation) -> tuple:
    label = psi.label
    if psi.group.name == "O(3)":  # steertorch (l, p), escnn (0 for p = +1, 1 for p = -1, l)
        return (0 if label[1] == 1 else 1, label[0])
    return tuple(label) if isinstance(label, tuple) else (label,)


def _escnn_rep_name(rho: Representation, who: str) -> str:
    """The name escnn gives the same representation (state-dict keys of its batch norms)."""
    if rho.name == "regular":
        return "regular"
    if len(rho.irreps) == 1 and rho.change_of_basis is None:
        return "irrep_" + ",".join(str(i) for i in _escnn_irrep_id(rho.irreps[0]))
    raise ValueError(f"{who}: escnn's name of the field {rho.name} (its batch-norm keys) is not known without escnn's "
                     "field type: pass the escnn model itself instead of its state dict")


def _field_names(bn: _FieldBatchNorm, e_mod: nn.Module | None, who: str) -> list[str]:
    e_type = getattr(e_mod, "in_type", None) if e_mod is not None else None
    if e_type is not None:
        names = [r.name for r in e_type.representations]
        if len(names) != len(bn.in_type.representations):
            raise ValueError(f"{who}: escnn's module has {len(names)} fields, this one {len(bn.in_type)}")
        return [n.replace(".", "^") for n in names]
    return [_escnn_rep_name(r, who).replace(".", "^") for r in bn.in_type.representations]


def _rank(keys: list) -> list[int]:
    """Position of each field among the fields with the same key (escnn groups fields by size or name)."""
    seen: dict = {}
    out = []
    for k in keys:
        out.append(seen.get(k, 0))
        seen[k] = out[-1] + 1
    return out


def _check_affine(bn: _FieldBatchNorm, has_weight: bool, who: str) -> None:
    if bn.affine != has_weight:
        raise ValueError(f"{who}: affine={bn.affine} here, escnn's module {'has' if has_weight else 'has no'} "
                         "weights")
    if bn.track_running_stats is False:
        raise ValueError(f"{who}: track_running_stats=False here: escnn's running statistics have nowhere to go")


def _load_inner_bn(bn: InnerBatchNorm, prefix: str, src: _Source, who: str, q: torch.Tensor) -> dict:
    local = src.local(prefix)
    sizes = [r.size for r in bn.in_type.representations]
    binary = bool(((q - q.round()).abs() < 1e-8).all()) and bool((q.round() >= 0).all())
    if not binary or not bool((q.round().sum(0) == 1).all()):
        raise ValueError(f"{who}: the change of basis of the fields is not a permutation, so per-field statistics "
                         "do not carry over")
    ranks = _rank(sizes)
    _check_affine(bn, f"batch_norm_[{sizes[0]}].weight" in local, who)
    out = {}
    for ours, theirs in (("weight", "weight"), ("bias", "bias"), ("running_mean", "running_mean"),
                         ("running_var", "running_var")):
        if getattr(bn, ours) is None:
            continue
        out[ours] = torch.stack([src.take(prefix, f"batch_norm_[{s}].{theirs}", who)[r]
                                 for s, r in zip(sizes, ranks)])
    src.use_all(prefix, [k for k in local if k.startswith("batch_norm_[") or k.startswith("indices_")])
    return out


def _load_norm_bn(bn: NormBatchNorm, prefix: str, src: _Source, who: str, q: torch.Tensor) -> dict:
    local = src.local(prefix)
    if any(r.is_trivial() for r in bn.in_type.representations):
        raise ValueError(f"{who}: escnn's NormBatchNorm takes no trivial fields; this one has some")
    sizes = [r.size for r in bn.in_type.representations]
    ranks = _rank(sizes)
    _check_affine(bn, f"{sizes[0]}_weight" in local, who)
    out = {"running_var": torch.stack([src.take(prefix, f"{s}_running_var", who).reshape(-1)[r]
                                       for s, r in zip(sizes, ranks)]),
           "running_mean": torch.zeros(0, dtype=torch.float64)}
    if bn.weight is not None:
        out["weight"] = torch.stack([src.take(prefix, f"{s}_weight", who).reshape(-1)[r] for s, r in zip(sizes, ranks)])
    src.use_all(prefix, [k for k in local if re.fullmatch(r"\d+_(indices|running_var|weight)|num_batches_tracked", k)])
    return out


def _load_iid_bn(bn: _IIDBatchNorm, prefix: str, src: _Source, who: str, q: torch.Tensor,
                 e_mod: nn.Module | None) -> dict:
    local = src.local(prefix)
    names = _field_names(bn, e_mod, who)
    ranks = _rank(names)
    _check_affine(bn, f"{names[0]}_weight" in local, who)
    masters = bn.__dict__["_constant_masters"]
    e = masters["_expand"]  # [C, k]: orthonormal bases of the invariant subspaces, field by field
    starts = bn.in_type.fields_start
    mean_full = torch.zeros(bn.in_type.size, dtype=torch.float64)
    bias_full = torch.zeros(bn.in_type.size, dtype=torch.float64)
    var, weight = [], []
    for i, (name, r) in enumerate(zip(names, ranks)):
        s = bn.in_type.representations[i].size
        sl = slice(starts[i], starts[i] + s)
        qi = q[sl, sl]
        var.append(src.take(prefix, f"{name}_running_var", who)[r].reshape(()))
        if bn.weight is not None:
            weight.append(src.take(prefix, f"{name}_weight", who)[r].reshape(()))
        if f"{name}_running_mean" in local:
            mean_full[sl] = qi @ src.take(prefix, f"{name}_running_mean", who)[r]
            if bn.bias is not None:
                bias_full[sl] = qi @ (src.take(prefix, f"{name}_change_of_basis", who)
                                      @ src.take(prefix, f"{name}_bias", who)[r])
    out = {"running_var": torch.stack(var), "running_mean": e.T @ mean_full}
    if bn.weight is not None:
        out["weight"] = torch.stack(weight)
    if bn.bias is not None:
        out["bias"] = e.T @ bias_full
    for what, full in (("running mean", mean_full), ("bias", bias_full)):
        if float((e @ (e.T @ full) - full).norm()) > 1e-5 * max(float(full.norm()), 1.0):
            raise ValueError(f"{who}: escnn's {what} is not in the invariant subspace of this module's fields")
    suffixes = ("indices", "avg", "change_of_basis", "running_mean", "running_var", "weight", "bias")
    src.use_all(prefix, [k for k in local if k == "num_batches_tracked"
                         or any(k == f"{n}_{sfx}" for n in set(names) for sfx in suffixes)])
    return out


def _load_batchnorm(bn: _FieldBatchNorm, name: str, src: _Source) -> dict:
    who = f"load_escnn_state_dict ({name or 'the module'}: {type(bn).__name__})"
    prefix = name + "." if name else ""
    e_mod = src.module(name)
    if e_mod is not None and getattr(e_mod, "in_type", None) is not None:
        q = _type_change_of_basis(e_mod.in_type, bn.in_type, who)
    else:
        q = _known_change_of_basis(bn.in_type, who)
    if isinstance(bn, InnerBatchNorm):
        out = _load_inner_bn(bn, prefix, src, who, q)
    elif isinstance(bn, NormBatchNorm):
        out = _load_norm_bn(bn, prefix, src, who, q)
    elif isinstance(bn, _IIDBatchNorm):
        out = _load_iid_bn(bn, prefix, src, who, q, e_mod)
    else:
        raise ValueError(f"{who}: loading escnn's {type(bn).__name__} is not supported (supported batch norms: "
                         "InnerBatchNorm, NormBatchNorm, IIDBatchNorm1d/2d/3d)")
    src.use_all(prefix, ["num_batches_tracked"] if "num_batches_tracked" in src.local(prefix) else [])
    return out


# ---------------------------------------------------------------------------------------------- the loader
# constant buffers of escnn's parameter-free modules (index lists, pooling filters, masks, Fourier grids): rebuilt
# by steertorch from the architecture, never loaded
_ESCNN_CONSTANT = re.compile(r"(.*\.)?(\w*indices\w*|num_batches_tracked|filter|A|Ainv|mask)")


def _own_state(m: nn.Module) -> dict[str, torch.Tensor]:
    """Parameters and persistent buffers of ``m`` itself (not of its children)."""
    out = {k: v for k, v in m._parameters.items() if v is not None}
    out.update({k: v for k, v in m._buffers.items() if v is not None and k not in m._non_persistent_buffers_set})
    return out


def _check_constants(sub: nn.Module, prefix: str, src: _Source) -> None:
    """escnn's constant buffers of a module that this library rebuilds (a mask, ...) must equal ours where they
    have the same name and shape: otherwise the two modules compute different functions."""
    for key, theirs in src.local(prefix).items():
        ours = getattr(sub, key, None) if "." not in key else None
        if not isinstance(ours, torch.Tensor) or tuple(ours.shape) != tuple(theirs.shape):
            continue
        if not torch.allclose(ours.detach().to(torch.float64), theirs.to(torch.float64), rtol=1e-5, atol=1e-6):
            diff = float((ours.detach().to(torch.float64) - theirs.to(torch.float64)).abs().max())
            raise ValueError(f"load_escnn_state_dict: escnn's constant {prefix + key} differs from this module's "
                             f"({type(sub).__name__}; max difference {diff:.2g}): the two modules compute different "
                             "functions (arguments or conventions differ)")


def load_escnn_state_dict(module: nn.Module, source: nn.Module | Mapping[str, torch.Tensor], *,
                          tolerance: float = _DEFAULT_TOLERANCE) -> dict[str, float]:
    r"""Load the weights of an escnn model into ``module``, the same architecture written with steertorch's escnn
    names (an :class:`R2Conv` where escnn has an ``R2Conv``, a :class:`SequentialModule` where it has one, ...),
    module names equal. Returns, for every convolution, the relative residual of the fit below.

    ``source`` is one of:

    - the escnn model itself (used through its attributes only; escnn is not imported): every convolution's kernel
      is expanded with its ``expand_parameters()`` (in any mode) and the change of basis of every field is computed
      from escnn's representations (:func:`escnn_change_of_basis`);
    - a state dict of an escnn model saved in **eval mode**, which holds each convolution's expanded kernel
      ``filter`` (and ``expanded_bias``); the change of basis is then the measured convention (planar groups:
      none; SO(3) / O(3) fields made of irreps: :math:`D^l(B)`; other groups raise ``ValueError``);
    - a state dict saved in training mode holds only escnn's basis coefficients ``weights``, in escnn's basis
      order: ``ValueError``, which says to pass the model or to save in eval mode (with escnn installed:
      ``escnn_model.eval(); escnn_model.state_dict()``).

    Convolutions (:class:`R2Conv`, :class:`R3Conv`, :class:`R2ConvTransposed`, :class:`R3ConvTransposed`): with
    :math:`K_e` escnn's filter and :math:`Q` the fields' changes of basis (:math:`x_{ours} = Q x_{escnn}`), the
    coefficients are the least-squares fit, one problem per pair of field representations, in float64,

    .. math::  w^* = \arg\min_w \|K(w) - Q_{out} K_e Q_{in}^{-1}\|_F, \qquad
               \text{residual} = \|K(w^*) - Q_{out} K_e Q_{in}^{-1}\|_F / \|K_e\|_F ,

    and the bias is escnn's expanded bias :math:`Q_{out} b_e` on this layer's invariant directions. A residual
    above ``tolerance`` (relative, default 1e-4; escnn's float32 filters fit to about 2e-7) raises ``ValueError``:
    escnn's kernel is not in this layer's span (other rings, widths, band limit or fields; the defaults of both
    libraries agree). Batch norms (:class:`InnerBatchNorm`, :class:`NormBatchNorm`, :class:`IIDBatchNorm1d` /
    ``2d`` / ``3d``) are rearranged from escnn's per-size / per-representation buffers; plain ``torch.nn`` modules
    (``Linear``, ``BatchNorm1d``, ...) are copied by name; escnn's index buffers of parameter-free modules
    (pooling, nonlinearities) are dropped. Anything else with state, or any escnn entry left over, raises
    ``ValueError`` naming it: nothing is skipped silently.

    After loading, ``module`` maps :math:`Q_{in} x` to :math:`Q_{out} y` where escnn's model maps x to y: equal
    outputs for planar groups and invariant outputs, to float32 rounding of escnn's filters.

    Args:
        module: the steertorch model (its parameters and buffers are overwritten, in their dtype).
        source: the escnn model or its state dict (see above).
        tolerance: the largest relative residual accepted.

    Without escnn, from a state dict in eval mode (here a kernel built with a steertorch layer stands for escnn's
    ``filter``):

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> from steertorch.nn import FieldType, R2Conv
    >>> gs = rot2dOnR2(8)
    >>> t_in, t_out = FieldType(gs, [gs.trivial_repr]), FieldType(gs, [gs.regular_repr] * 2)
    >>> donor = R2Conv(t_in, t_out, 5).double()
    >>> kernel, bias = donor.expand_parameters()
    >>> escnn_state = {"filter": kernel.float(), "expanded_bias": bias.float(), "weights": torch.zeros(22)}
    >>> conv = R2Conv(t_in, t_out, 5)
    >>> residuals = load_escnn_state_dict(conv, escnn_state)
    >>> residuals[""] < 1e-6
    True
    >>> bool(torch.allclose(conv.expand_parameters()[0], kernel.float(), atol=1e-6))
    True

    With escnn (not run here): ``escnn_model.eval(); load_escnn_state_dict(ours, escnn_model.state_dict())``, or
    ``load_escnn_state_dict(ours, escnn_model)``.
    """
    if not isinstance(module, nn.Module):
        raise ValueError(f"load_escnn_state_dict: expected a torch.nn.Module, got {type(module).__name__}")
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not tolerance >= 0:
        raise ValueError(f"load_escnn_state_dict: tolerance must be a number >= 0, got {tolerance!r}")
    src = _Source(source)
    new: dict[str, torch.Tensor] = {}
    residuals: dict[str, float] = {}
    handled_prefixes: list[str] = []
    for name, sub in module.named_modules():
        prefix = name + "." if name else ""
        if any(prefix.startswith(h) for h in handled_prefixes):
            continue  # inside a module loaded as a whole
        loaded: dict[str, torch.Tensor] | None = None
        if isinstance(sub, _RdConv):
            loaded, residuals[name] = _load_conv(sub, name, src, float(tolerance))
        elif isinstance(sub, _FieldBatchNorm):
            loaded = _load_batchnorm(sub, name, src)
        if loaded is not None:
            handled_prefixes.append(prefix)
            new.update({prefix + k: v for k, v in loaded.items()})
            continue
        own = _own_state(sub)
        is_torch = type(sub).__module__.startswith("torch.nn")
        if not is_torch and not any(v is not None for v in sub._parameters.values()):
            _check_constants(sub, prefix, src)
        if not own:
            continue
        if all(k in sub.__dict__.get("_constant_masters", {}) for k in own):
            # constants built from the architecture (a pooling filter, ...): ours are kept, escnn's dropped
            src.use_all(prefix, [k for k in own if prefix + k in src.state])
            new.update({prefix + k: v.detach() for k, v in own.items()})
            continue
        if is_torch:
            for k in own:
                new[prefix + k] = src.take(prefix, k, f"load_escnn_state_dict ({name}: {type(sub).__name__})")
            continue
        raise ValueError(f"load_escnn_state_dict: no conversion from escnn for {name or 'the module'} "
                         f"({type(sub).__name__}, state {sorted(own)}); supported: R2Conv, R3Conv, R2ConvTransposed, "
                         "R3ConvTransposed, InnerBatchNorm, NormBatchNorm, IIDBatchNorm1d/2d/3d and plain torch.nn "
                         "modules")
    left = sorted(k for k in src.state if k not in src.used
                  and (k in src.trainable or not _ESCNN_CONSTANT.fullmatch(k)))
    if left:
        raise ValueError(f"load_escnn_state_dict: escnn's entries {left[:10]}{' ...' if len(left) > 10 else ''} "
                         f"have no place in {type(module).__name__} (different architecture or module names?)")
    ours = module.state_dict()
    missing = sorted(set(ours) - set(new))
    if missing:
        raise ValueError(f"load_escnn_state_dict: nothing in escnn's model for {missing[:10]}")
    with torch.no_grad():
        for key, value in new.items():
            if tuple(value.shape) != tuple(ours[key].shape):
                raise ValueError(f"load_escnn_state_dict: {key}: escnn gives shape {list(value.shape)}, this module "
                                 f"has {list(ours[key].shape)}")
        module.load_state_dict({k: v.to(ours[k].dtype) for k, v in new.items()}, strict=True)
    return residuals
