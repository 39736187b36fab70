"""Ready-made configs (YAML files beside this module) and dotted-path overrides.

A preset is named by its path without the extension, e.g. `cifar10-4000/model-d`.
`resolve_config` turns a preset name or a config mapping plus overrides such as
`{"epochs": 2, "dataset.train_size": 100}` into a validated `TrainConfig`; the CLI's
`--set` and the API's `overrides` both go through it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from importlib import resources
from typing import Any

import yaml

from app.schemas.train_config import TrainConfig


class UnknownPreset(ValueError):
    """No preset has that name."""

    def __init__(self, name: str, allowed: list[str]) -> None:
        super().__init__(f"unknown preset {name!r}; allowed: {', '.join(allowed)}")
        self.name = name
        self.allowed = allowed


class InvalidOverride(ValueError):
    """An override's dotted path does not fit the config's shape."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path


def _preset_files() -> dict[str, Any]:
    root = resources.files(__name__)
    found: dict[str, Any] = {}
    for group in sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.name):
        for item in sorted(group.iterdir(), key=lambda p: p.name):
            if item.name.endswith(".yaml"):
                found[f"{group.name}/{item.name[: -len('.yaml')]}"] = item
    return found


def preset_names() -> list[str]:
    """All preset names, sorted."""
    return list(_preset_files())


def load_preset(name: str) -> dict[str, Any]:
    """The raw mapping of a preset (not yet validated)."""
    files = _preset_files()
    if name not in files:
        raise UnknownPreset(name, list(files))
    return yaml.safe_load(files[name].read_text(encoding="utf-8")) or {}


def apply_overrides(data: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `data` with each dotted path set, e.g. `stages.conv1.lr` = 1e-3.

    Intermediate mappings are created when missing; stepping into a scalar is an error.
    A stage given as a bare number (`conv1: 1e-4`) is widened to `{lr: …}` first.
    """
    result = copy.deepcopy(dict(data))
    for path, value in overrides.items():
        keys = path.split(".")
        if not all(keys):
            raise InvalidOverride(path, "empty key in dotted path")
        node: dict[str, Any] = result
        for depth, key in enumerate(keys[:-1]):
            child = node.get(key)
            if child is None:
                child = node[key] = {}
            elif isinstance(child, (int, float)) and not isinstance(child, bool) and keys[depth - 1:depth] == ["stages"]:
                child = node[key] = {"lr": child}
            elif not isinstance(child, dict):
                raise InvalidOverride(path, f"{'.'.join(keys[: depth + 1])} is not a mapping")
            node = child
        node[keys[-1]] = value
    return result


def parse_set_option(text: str) -> tuple[str, Any]:
    """`path=value` from the CLI's `--set`, the value parsed as YAML (`1e-4`, `true`, `[1, 2]`)."""
    path, sep, raw = text.partition("=")
    if not sep or not path.strip():
        raise InvalidOverride(text, "expected dotted.path=value")
    value = yaml.safe_load(raw) if raw.strip() else ""
    # YAML 1.1 reads `1e-4` as a string; numbers are what users mean.
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    return path.strip(), value


def resolve_config(source: str | Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """A validated config from a preset name or a mapping, with overrides applied."""
    data = load_preset(source) if isinstance(source, str) else dict(source)
    return TrainConfig.model_validate(apply_overrides(data, overrides or {}))
