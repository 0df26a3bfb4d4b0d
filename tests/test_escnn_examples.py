"""escnn's example models run on steertorch with only the import changed.

The two model classes are read from ``docs/tutorial_steerable_cnn.md`` (one source for the page and the test):
``C8SteerableCNN`` (escnn's ``examples/model.ipynb``) and ``SO2SteerableCNN`` (the UvA deep learning course's
steerable-CNN tutorial). Each is built with ``from steertorch import gspaces, nn`` and checked: escnn's parameter
counts, invariance of the logits under quarter turns in float64 (<= 1e-10), whole-model export equal to the model in
eval mode. When escnn is importable (a test-only peer), the same source is run with ``from escnn import gspaces, nn``:
the same learnable parameters layer by layer, state-dict keys that differ only as listed in ``ESCNN_ONLY`` /
``_escnn_to_ours``, and an equivariance error no larger than escnn's.
"""

from __future__ import annotations

import copy
import re
import warnings
from pathlib import Path

import pytest
import torch
from _equivariance_helpers import float64
from test_docs import python_blocks

from steertorch.data import digits

DOC = Path(__file__).resolve().parents[1] / "docs" / "tutorial_steerable_cnn.md"
OUR_IMPORT = "from steertorch import gspaces, nn"
ESCNN_IMPORT = "from escnn import gspaces, nn"
F64 = torch.float64

# learnable parameters, measured with escnn 1.0.11 (sum of numel over parameters with requires_grad); escnn's
# model.parameters() also holds its MaskModule's 29 x 29 mask (a frozen parameter; a buffer here)
LEARNABLE = {"C8SteerableCNN": 2067434, "SO2SteerableCNN": 731842}
MASK = 29 * 29
NAMES = sorted(LEARNABLE)


def model_source(name: str) -> str:
    """The python block of the tutorial page that defines class ``name``."""
    found = [code for _, code in python_blocks(DOC.read_text()) if f"class {name}(" in code]
    assert len(found) == 1, f"{DOC.name}: expected one block defining {name}, found {len(found)}"
    return found[0]


def model_class(name: str, library: str = "steertorch") -> type:
    code = model_source(name)
    if library == "escnn":
        code = code.replace(OUR_IMPORT, ESCNN_IMPORT)
    namespace: dict = {"__name__": f"escnn_example_{library}"}
    exec(compile(code, f"{DOC.name}: {name} ({library})", "exec"), namespace)
    return namespace[name]


def equivariant_children(model: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    """The model's modules before the plain-torch head, in the order of ``forward`` (= the order of construction)."""
    return [(n, m) for n, m in model.named_children() if n != "fully_net"]


def exported(model: torch.nn.Module) -> torch.nn.Sequential:
    """The whole model as plain torch.nn: every equivariant child exported, then the head."""
    parts = [m.export() for _, m in equivariant_children(model)]
    return torch.nn.Sequential(*parts, torch.nn.Flatten(), model.fully_net).eval()


def with_statistics(model: torch.nn.Module) -> torch.nn.Module:
    """Running batch-norm statistics from one training-mode batch, then eval mode."""
    model.train()
    with torch.no_grad():
        x, _ = digits(2, generator=torch.Generator().manual_seed(1), dtype=next(model.parameters()).dtype)
        model(x)
    return model.eval()


def quarter_turns(x: torch.Tensor) -> torch.Tensor:
    """The images at 0, 90, 180, 270 degrees, stacked on the batch axis."""
    return torch.cat([torch.rot90(x, r, (2, 3)) for r in range(4)])


@pytest.fixture(scope="module")
def ours() -> dict[str, torch.nn.Module]:
    models = {}
    with float64():
        for name in NAMES:
            torch.manual_seed(0)
            models[name] = with_statistics(model_class(name)())
    return models


@pytest.fixture(scope="module")
def escnn_models() -> dict[str, torch.nn.Module]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pytest.importorskip("escnn.nn", exc_type=ImportError)  # also skips an escnn that cannot import
        models = {}
        for name in NAMES:
            torch.manual_seed(0)
            models[name] = model_class(name, "escnn")()  # escnn builds its bases in float32 only
    return models


def test_the_model_blocks_import_only_torch_and_steertorch():
    for name in NAMES:
        imports = [line for line in model_source(name).splitlines() if re.match(r"\s*(import|from) ", line)]
        assert imports == ["import torch", OUR_IMPORT], imports


@pytest.mark.parametrize("name", NAMES)
def test_learnable_parameters_are_escnns(ours, name):
    assert sum(p.numel() for p in ours[name].parameters() if p.requires_grad) == LEARNABLE[name]
    assert all(p.requires_grad for p in ours[name].parameters())


@pytest.mark.parametrize("name", NAMES)
def test_logits_are_invariant_under_quarter_turns_in_float64(ours, name):
    model = ours[name]
    x, _ = digits(1, generator=torch.Generator().manual_seed(0), dtype=F64)
    with torch.no_grad():
        logits = model(quarter_turns(x))
    scale = float(logits[0].abs().max())
    assert scale > 1e-3
    err = float((logits[1:] - logits[:1]).abs().max())
    assert err <= 1e-10 * scale, err
    with torch.no_grad():  # and the model is not trivially invariant: the input does matter
        other = model(digits(1, generator=torch.Generator().manual_seed(5), dtype=F64)[0])
    assert float((other - logits[:1]).abs().max()) > 1e-6


@pytest.mark.parametrize("name", NAMES)
def test_whole_model_export_equals_the_model_in_eval_mode(ours, name):
    from steertorch.nn._fields import _plain

    model = ours[name]
    plain = exported(model)
    for m in plain.modules():  # torch.nn's modules and the torch-only ones of _plain
        assert type(m).__module__.startswith("torch.nn") or type(m).__module__ == _plain.__name__, type(m)
    x, _ = digits(3, generator=torch.Generator().manual_seed(3), dtype=F64)
    with torch.no_grad():
        y = model(x)
        torch.testing.assert_close(plain(x), y, rtol=0, atol=1e-12 * float(y.abs().max()))


def test_float32_models_run_and_are_invariant_to_float32_rounding():
    torch.manual_seed(0)
    model = with_statistics(model_class("C8SteerableCNN")())
    x, _ = digits(1, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = model(quarter_turns(x))
    assert logits.dtype == torch.float32 and logits.shape == (4, 10)
    assert float((logits[1:] - logits[:1]).abs().max()) <= 1e-5 * float(logits.abs().max())


# ------------------------------------------------------------------------------------------ side by side with escnn
# escnn state-dict entries that have no counterpart in steertorch's: derived constants escnn saves (the expanded
# filter and bias of its convolutions, sampled bases, channel indices, batch-norm projections, full 2D pooling
# filters); also the counter of batches of its field batch norms (the plain BatchNorm1d of the head has its own in
# both)
ESCNN_ONLY = re.compile(r"(\.filter|\.expanded_bias|\.bias_expansion|sampled_basis|indices_\d+|_avg|_change_of_basis"
                        r")$")


def _escnn_to_ours(key: str) -> str:
    """escnn's name of a learnable parameter or running statistic -> steertorch's."""
    key = re.sub(r"\.weights$", ".expansion.weights", key)  # R2Conv: the basis coefficients
    key = re.sub(r"\.batch_norm_\[\d+\]\.", ".", key)  # InnerBatchNorm: one BatchNorm3d per field size in escnn
    return re.sub(r"\.regular_\[[^\]]*\]_", ".", key)  # IIDBatchNorm2d: one set per representation in escnn


@pytest.mark.parametrize("name", NAMES)
def test_escnn_has_the_same_learnable_parameters_layer_by_layer(ours, escnn_models, name):
    mine = [(n, p.numel()) for n, p in ours[name].named_parameters()]
    theirs = [(_escnn_to_ours(n), p.numel()) for n, p in escnn_models[name].named_parameters() if p.requires_grad]
    assert mine == theirs
    frozen = [(n, p.numel()) for n, p in escnn_models[name].named_parameters() if not p.requires_grad]
    assert frozen == [("block1.0.mask" if name == "C8SteerableCNN" else "mask.mask", MASK)]
    assert sum(p.numel() for p in escnn_models[name].parameters()) == LEARNABLE[name] + MASK


@pytest.mark.parametrize("name", NAMES)
def test_state_dicts_differ_from_escnns_only_as_documented(ours, escnn_models, name):
    mine = {k: tuple(v.shape) for k, v in ours[name].state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in escnn_models[name].state_dict().items()}
    mapped = {_escnn_to_ours(k): s for k, s in theirs.items() if not ESCNN_ONLY.search(k) and not k.endswith("mask")}
    field_bn_counters = {k for k in mapped if k.endswith("num_batches_tracked") and not k.startswith("fully_net.")}
    assert field_bn_counters and not field_bn_counters & set(mine)
    mapped = {k: s for k, s in mapped.items() if k not in field_bn_counters}
    # steertorch saves one buffer escnn has under the same name with another shape: the 1D Gaussian of the
    # anti-aliased pools (escnn: the 2D filter per channel)
    pools = {k for k in mine if k.endswith(".filter")}
    assert pools and all(len(mine[k]) == 1 and k in theirs for k in pools)
    assert set(mine) - pools == set(mapped)
    for k, shape in mapped.items():
        if k.endswith("running_mean") and name == "SO2SteerableCNN":
            # IIDBatchNorm2d: escnn keeps the mean of every channel, steertorch its invariant component only
            assert shape[0] == mine[k][0], k
        else:  # the same numbers; escnn's IID batch-norm parameters are [fields, 1], steertorch's [fields]
            assert torch.Size(shape).numel() == torch.Size(mine[k]).numel(), k


@pytest.mark.parametrize("name", NAMES)
def test_our_equivariance_error_is_at_most_escnns(ours, escnn_models, name):
    """Quarter turns in float64, on the model's equivariant part (escnn's GroupPooling returns float32 whatever its
    input: the C8 comparison stops before it)."""
    x, _ = digits(1, generator=torch.Generator().manual_seed(0), dtype=F64)
    xs = quarter_turns(x)
    batch, _ = digits(2, generator=torch.Generator().manual_seed(1), dtype=F64)
    errors = {}
    # (a copy: escnn shares its basis expansions between models through a global cache, which .double() would
    # convert for every later escnn model)
    for library, model in (("steertorch", ours[name]), ("escnn", copy.deepcopy(escnn_models[name]).double())):
        modules = [m for n, m in equivariant_children(model) if n != "gpool"]

        def trunk(images, model=model, modules=modules, library=library):
            y = model.input_type(images) if library == "escnn" else images
            for m in modules:
                y = m(y)
            return y.tensor if library == "escnn" else y  # [B, C, 1, 1]

        if library == "escnn":  # running statistics as for ours (with_statistics)
            model.train()
            with torch.no_grad():
                trunk(batch)
            model.eval()
        with torch.no_grad():
            y = trunk(xs)
        if name == "C8SteerableCNN":  # regular fields of C8: a quarter turn shifts each field's channels by 2
            fields = y.flatten(1).unflatten(1, (-1, 8))
            expected = torch.stack([torch.roll(fields[0], 2 * r, dims=-1) for r in range(4)])
            err = (fields - expected).abs().max() / fields.abs().max()
        else:  # invariant scalars
            err = (y - y[:1]).abs().max() / y.abs().max()
        errors[library] = float(err)
    print(f"{name}: relative quarter-turn error in float64: {errors}")
    assert errors["steertorch"] <= 1e-10
    assert errors["steertorch"] <= max(errors["escnn"], 1e-14)
