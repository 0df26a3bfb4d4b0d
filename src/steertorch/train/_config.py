r"""Training configurations: dataclasses with defaults, overridden from TOML files and ``key=value`` strings.

A task's configuration is a dataclass deriving from :class:`TrainConfig` (the options every
task has: seed, epochs, batch size, optimiser, schedule, clipping, early stopping, dtype).
Its fields are the only valid keys: :func:`apply_overrides` checks every key and converts
and checks every value against the field's type (``int``, ``float``, ``bool``, ``str``, and
``X | None``) and, where a field lists them in ``metadata["choices"]``, its allowed values.
Errors are :class:`ConfigError` and list the valid keys.

>>> from dataclasses import dataclass
>>> @dataclass
... class MyConfig(TrainConfig):
...     hidden: int = 16
>>> config = apply_overrides(MyConfig(), parse_assignments(["hidden=32", "lr=1e-3"]), from_string=True)
>>> config.hidden, config.lr
(32, 0.001)
>>> apply_overrides(MyConfig(), {"hiden": 3})
Traceback (most recent call last):
...
steertorch.train._config.ConfigError: unknown config key 'hiden' (did you mean 'hidden'?); valid keys: ...
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "ConfigError",
    "TrainConfig",
    "config_keys",
    "parse_assignments",
    "load_toml",
    "apply_overrides",
    "config_to_dict",
    "config_from_dict",
]

C = TypeVar("C", bound="TrainConfig")


class ConfigError(ValueError):
    """A bad configuration: unknown key, value of the wrong type or outside its choices, unreadable file."""


def _choices(*values: object, help: str = "") -> dict[str, Any]:
    return {"choices": tuple(values), "help": help}


@dataclass
class TrainConfig:
    """Options every task has (a task's config derives from this class and may change the defaults).

    Attributes:
        seed: seeds the data generation (where a task generates its data), the model's
            initialisation and each epoch's shuffling (derived from ``(seed, epoch)``).
        epochs: number of training epochs.
        batch_size: examples per optimisation step, over all processes together (each of
            ``W`` data-parallel processes takes ``batch_size / W``).
        lr, weight_decay: learning rate and weight decay of the optimiser.
        optimizer: ``"adam"`` (weight decay added to the gradient, as ``torch.optim.Adam``),
            ``"adamw"`` (decoupled) or ``"sgd"`` (momentum 0.9).
        lr_schedule: ``"constant"``, ``"cosine"`` (to ``lr_min`` at the last epoch) or ``"step"``
            (times ``lr_gamma`` every ``lr_step`` epochs).
        grad_clip: largest global gradient norm (0: no clipping).
        patience: stop after this many evaluations without a better validation metric (0: never).
        eval_every: evaluate on the validation split every this many epochs (and at the last).
        dtype: ``"float32"`` or ``"float64"`` (model and floating data).
        num_threads: torch's intra-op threads (0: leave torch's default).
    """

    seed: int = 0
    epochs: int = 100
    batch_size: int = 100
    lr: float = 5e-4
    weight_decay: float = 0.0
    optimizer: str = field(default="adam", metadata=_choices("adam", "adamw", "sgd"))
    lr_schedule: str = field(default="constant", metadata=_choices("constant", "cosine", "step"))
    lr_min: float = 0.0
    lr_step: int = 100
    lr_gamma: float = 0.5
    grad_clip: float = 0.0
    patience: int = 0
    eval_every: int = 1
    dtype: str = field(default="float32", metadata=_choices("float32", "float64"))
    num_threads: int = 0


def config_keys(config: TrainConfig | type[TrainConfig]) -> list[str]:
    """The valid keys of a config (its dataclass fields), in declaration order.

    >>> config_keys(TrainConfig)[:3]
    ['seed', 'epochs', 'batch_size']
    """
    return [f.name for f in dataclasses.fields(config)]


def _describe(config: TrainConfig | type[TrainConfig]) -> str:
    hints = typing.get_type_hints(config if isinstance(config, type) else type(config))
    parts = []
    for f in dataclasses.fields(config):
        choices = f.metadata.get("choices")
        kind = "|".join(map(str, choices)) if choices else _type_name(hints[f.name])
        parts.append(f"{f.name} ({kind})")
    return ", ".join(parts)


def _type_name(tp: Any) -> str:
    if _is_optional(tp):
        return f"{_type_name(_strip_optional(tp))} or none"
    return getattr(tp, "__name__", str(tp))


def _is_optional(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in typing.get_args(tp)


def _strip_optional(tp: Any) -> Any:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if len(args) != 1:
        raise TypeError(f"config fields support X | None with one type X, got {tp}")
    return args[0]


_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def _convert(key: str, value: Any, tp: Any, from_string: bool) -> Any:
    """``value`` as type ``tp`` (strings parsed when ``from_string``), or a :class:`ConfigError`."""
    if _is_optional(tp):
        if value is None or (from_string and isinstance(value, str) and value.lower() in ("none", "null")):
            return None
        tp = _strip_optional(tp)
    bad = ConfigError(f"config key {key!r} expects {_type_name(tp)}, got {value!r} ({type(value).__name__})")
    if from_string and isinstance(value, str) and tp is not str:
        text = value.strip()
        try:
            if tp is bool:
                if text.lower() in _TRUE:
                    return True
                if text.lower() in _FALSE:
                    return False
                raise bad
            if tp is int:
                return int(text)
            if tp is float:
                return float(text)
        except ValueError:
            raise bad from None
        raise bad
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise bad
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise bad
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise bad
    if tp is str:
        if isinstance(value, str):
            return value
        raise bad
    raise TypeError(f"config key {key!r}: unsupported field type {tp}")


def apply_overrides(config: C, overrides: Mapping[str, Any], from_string: bool = False) -> C:
    """A copy of ``config`` with ``overrides`` applied, every key and value checked.

    ``from_string``: the values are strings (from ``--set key=value``) to parse by the field's
    type (``bool``: true/false/yes/no/on/off/1/0; ``X | None``: ``none`` or ``null`` for None).
    A :class:`ConfigError` names an unknown key (and lists the valid ones), a value of the wrong
    type, or a value outside the field's ``metadata["choices"]``.

    >>> apply_overrides(TrainConfig(), {"epochs": 3}).epochs
    3
    >>> apply_overrides(TrainConfig(), {"epochs": "3"})
    Traceback (most recent call last):
    ...
    steertorch.train._config.ConfigError: config key 'epochs' expects int, got '3' (str)
    """
    hints = typing.get_type_hints(type(config))
    fields = {f.name: f for f in dataclasses.fields(config)}
    changes = {}
    for key, value in overrides.items():
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown config key {key!r}{hint}; valid keys: {_describe(config)}")
        converted = _convert(key, value, hints[key], from_string)
        choices = fields[key].metadata.get("choices")
        if choices and converted not in choices:
            raise ConfigError(f"config key {key!r} must be one of {', '.join(map(str, choices))}; got {converted!r}")
        changes[key] = converted
    return dataclasses.replace(config, **changes)


def parse_assignments(assignments: Iterable[str]) -> dict[str, str]:
    """``["key=value", ...]`` (``--set`` arguments) -> ``{key: value}`` (values still strings).

    >>> parse_assignments(["model=egnn", "lr=1e-3"])
    {'model': 'egnn', 'lr': '1e-3'}
    """
    out: dict[str, str] = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def load_toml(path: str | Path) -> dict[str, Any]:
    """The key-value pairs of a TOML file (flat; one ``[table]`` level is flattened if it is the only content).

    Raises :class:`ConfigError` if the file is missing or not valid TOML.
    """
    import tomllib

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
    if len(data) == 1 and isinstance(next(iter(data.values())), dict):  # [nbody] ... : one table
        data = next(iter(data.values()))
    nested = [k for k, v in data.items() if isinstance(v, dict)]
    if nested:
        raise ConfigError(f"config file {str(path)!r}: expected flat key = value pairs, got tables {nested}")
    return data


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    """The config as a plain dict of primitives (for checkpoints and JSON).

    >>> config_to_dict(TrainConfig())["optimizer"]
    'adam'
    """
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}


def config_from_dict(config_class: type[C], values: Mapping[str, Any]) -> C:
    """Rebuild a config from :func:`config_to_dict`'s output (keys and types checked).

    >>> config_from_dict(TrainConfig, {"epochs": 7}).epochs
    7
    """
    return apply_overrides(config_class(), values)
