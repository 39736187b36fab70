"""The New run form: its fields are the config's dotted paths, so errors map back to them.

Every input is named after the `TrainConfig` path it sets (`epochs`, `dataset.train_size`;
a stage row's inputs sit under `stages.<name>.`), which is also how the API's 422 errors
name a field (`loc`). So an error finds its input by name (or its row, by the longest
matching prefix), whether it came from `POST /api/runs` (the JavaScript
path) or from validating the posted form on the server (the no-JavaScript path).

Pydantic's lax mode turns "64" and "1e-4" into numbers, so values stay strings here and
a bad one fails validation at its own path instead of being mangled on the way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.pages.compare_page import weights_label
from app.pages.descriptions import describe_stages, stage_lrs
from app.pages.sweep_form import SweepPanel, SweepRow, sweep_panel
from app.presets import apply_overrides
from app.presets.studies import STUDIES, Study
from app.schemas.catalog import BACKBONES, DATASETS
from app.schemas.errors import field_message
from app.schemas.runs import RunRead
from app.schemas.train_config import TrainConfig
from app.services.datasets import UPLOAD_PREFIX
from app.services.runs import clone_name

# Inputs that are not config paths.
STAGE_PREFIX = "stages."
NON_CONFIG_FIELDS = frozenset({"base_config", "preset", "from_run", "csrf_token"})
PANEL_PREFIXES = ("sweep.", "lr_find.")  # the Sweep… and LR range test panels: not the run's config
CHECKBOXES = ("optimizer.nesterov", "train_frozen_bn")


@dataclass(frozen=True)
class StageRow:
    """One row of the stage LR editor, as the form shows it."""

    name: str
    mode: str  # "lr" (absolute) or "mult" (times optimizer.lr)
    value: str  # "" = the optimizer's base LR
    frozen: bool
    unfreeze_at: int | str  # 1-based: the first epoch the stage trains; a string re-shows what was typed
    params: int | None = None


def stage_rows(config: Mapping[str, Any], stage_names: Sequence[str], params: Mapping[str, int]) -> list[StageRow]:
    """Editor rows for `stage_names`, filled from a config mapping's `stages`."""
    stages = config.get("stages")
    stages = stages if isinstance(stages, Mapping) else {}
    rows = []
    for name in stage_names:
        spec = stages.get(name, {})
        if isinstance(spec, (int, float)):
            spec = {"lr": spec}
        spec = spec if isinstance(spec, Mapping) else {}
        mode = "mult" if spec.get("mult") is not None else "lr"
        value = spec.get(mode)
        frozen = value == 0
        rows.append(
            StageRow(name, mode, "" if value is None or frozen else _number(value), frozen,
                     unfreeze_at(spec.get("unfreeze_epoch", 0)), params.get(name))
        )  # fmt: skip
    return rows


def unfreeze_at(unfreeze_epoch: Any) -> int | str:
    """The form's "unfreeze at epoch k" (1-based: the first epoch the stage trains) for the
    config's `unfreeze_epoch` (0-based: the epochs it stays frozen); anything else as typed."""
    return unfreeze_epoch + 1 if isinstance(unfreeze_epoch, int) else str(unfreeze_epoch)


def unfreeze_epoch(shown: str) -> int | str | None:
    """The config's `unfreeze_epoch` for what the form's "unfreeze at epoch" holds (None: from the start)."""
    if shown.isdigit():
        return int(shown) - 1 if int(shown) > 1 else None
    return shown or None  # not a whole number: validation names the field


def _number(value: Any) -> str:
    """A stored LR compactly (1e-4, 0.05); anything else (a re-shown bad input) as typed."""
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def _stage_specs(form: Mapping[str, str], stage_names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Stage rows (`stages.<name>.mode|value|frozen|unfreeze_epoch`) as config stages.

    `mode` says whether `value` is an absolute LR or a multiplier of `optimizer.lr`; an
    empty value means the optimizer's base LR; frozen means LR 0, so the stage never
    enters the optimizer.
    """
    specs: dict[str, dict[str, Any]] = {}
    for name in stage_names:
        prefix = f"{STAGE_PREFIX}{name}."
        spec: dict[str, Any] = {}
        value = form.get(prefix + "value", "").strip()
        if form.get(prefix + "frozen"):
            spec["lr"] = 0
        elif value:
            spec["mult" if form.get(prefix + "mode") == "mult" else "lr"] = value
        unfreeze = unfreeze_epoch(form.get(prefix + "unfreeze_epoch", "").strip())
        if unfreeze is not None:
            spec["unfreeze_epoch"] = unfreeze
        if spec:
            specs[name] = spec
    return specs


def config_from_form(form: Mapping[str, str], base: Mapping[str, Any], stage_names: Iterable[str]) -> dict[str, Any]:
    """The config mapping the form describes: `base` (preset or cloned run) with the inputs laid over.

    An empty input means "not set" (the schema's default, e.g. automatic image size). The
    stage editor replaces the base's stages wholesale, because its rows show every stage.
    """
    overrides: dict[str, Any] = {}
    for key, raw in form.items():
        if key in NON_CONFIG_FIELDS or key.startswith((STAGE_PREFIX, *PANEL_PREFIXES)) or key in CHECKBOXES:
            continue
        overrides[key] = raw.strip() or None
    for key in CHECKBOXES:
        overrides[key] = bool(form.get(key))
    data = apply_overrides(base, overrides)
    data["stages"] = _stage_specs(form, stage_names)
    dataset = data.get("dataset")
    if isinstance(dataset, dict):
        _upload_choice(dataset)
        _drop_fields_of_other_datasets(dataset)
        fractions = dataset.get("fractions")
        if isinstance(fractions, dict) and all(v is None for v in fractions.values()):
            dataset["fractions"] = None  # no fraction typed: the dataset's default split
    return data


# Fieldsets of the form that apply to one kind of split, or to one dataset only. The page
# hides and disables the others; their values (from a preset or a cloned run of another
# dataset) must not reach the config.
SPLIT_FIELDS = {"official": ("train_size", "val_size", "test_size"), "fractions": ("fractions",)}
DATASET_FIELDS = {"fake": ("num_classes", "num_images"), "imagefolder": ("path",)}


def _upload_choice(dataset: dict[str, Any]) -> None:
    """The Dataset menu's `uploads/<name>` entries are image folders: name imagefolder, path the upload."""
    choice = str(dataset.get("name") or "")
    if choice.startswith(UPLOAD_PREFIX):
        dataset["name"], dataset["path"] = "imagefolder", choice


def _drop_fields_of_other_datasets(dataset: dict[str, Any]) -> None:
    spec = DATASETS.get(str(dataset.get("name")))
    if spec is None:
        return  # an unknown name: the schema names it
    for kind, fields in SPLIT_FIELDS.items():
        if kind != spec.split:
            dataset.update(dict.fromkeys(fields))
    for name, fields in DATASET_FIELDS.items():
        if name != spec.name:
            dataset.update(dict.fromkeys(fields))


def errors_by_field(errors: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Pydantic/FastAPI error records keyed by the dotted config path they name.

    `("body", "config", "dataset", "fractions")` → `"dataset.fractions"`; a stage's error
    (`stages.conv3.lr`) is keyed by its row (`stages.conv3`), as run_form.js places it; a root
    error (no path) is keyed "" and shown above the form.
    """
    found: dict[str, str] = {}
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        while loc and loc[0] in ("body", "config"):
            loc = loc[1:]
        if len(loc) > 2 and loc[0] == "stages":  # a stage row shows its errors in one place (its row)
            loc = loc[:2]
        key = ".".join(loc)
        message = field_message(error)
        found[key] = f"{found[key]}; {message}" if key in found else message
    return found


# ---- the page around the form ----

AUGMENT_OPTIONS = (
    ("auto", "auto (by image size)"), ("none", "none"), ("flip", "flip"),
    ("crop_flip", "pad-crop + flip"), ("resized_crop_flip", "random-resized crop + flip"),
)  # fmt: skip
QUICK_FILL_GROUP = "cifar10-4000/"  # the presets of the reference table: Models A–D


@dataclass(frozen=True)
class QuickFill:
    """A reference model's stage LRs and starting weights, one click away."""

    label: str
    title: str
    stages: dict[str, float]
    weights: str


def quick_fills(presets: Mapping[str, Mapping[str, Any]]) -> list[QuickFill]:
    """One button per distinct (weights, stage LRs) among the reference presets."""
    fills: dict[tuple[str, str], QuickFill] = {}
    for name, raw in presets.items():
        if not name.startswith(QUICK_FILL_GROUP):
            continue
        config = TrainConfig.model_validate(raw)
        lrs = {s.name: s.lr for s in stage_lrs(config)}
        model = (config.name or name).split(",")[0]
        weights = "ImageNet weights" if config.weights == "imagenet" else "from scratch"
        fill = QuickFill(f"{model} · {describe_stages(stage_lrs(config))}",
                         f"{config.name} ({weights}; sets stage LRs and starting weights)", lrs, config.weights)
        fills.setdefault((config.weights, json.dumps(lrs, sort_keys=True)), fill)
    return sorted(fills.values(), key=lambda f: f.label)


def _deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """`top` laid over `base`; a section of `base` (a mapping) is never replaced by a scalar,
    so a malformed config ("dataset": 5) still renders, its error shown beside the fields."""
    merged = dict(base)
    for key, value in top.items():
        if isinstance(merged.get(key), Mapping):
            if isinstance(value, Mapping):
                merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def form_values(base: Mapping[str, Any]) -> dict[str, Any]:
    """The values the form shows: `base` over the schema's defaults, even when `base` is invalid."""
    return _deep_merge(TrainConfig().model_dump(mode="json"), base)


IMAGENET_LABELS = {
    "here": "ImageNet (torchvision's weights, on this server)",
    "downloadable": "ImageNet (torchvision's weights, downloaded when the run starts)",
    "missing": "ImageNet (torchvision's weights: missing on this server)",
}


def weights_options(
    current: str, checkpoints: Sequence[tuple[int, str]], imagenet: str = "here"
) -> list[tuple[str, str]]:
    """ImageNet (saying whether this server has it), scratch, then earlier runs' best checkpoints
    as `run:<id>` (resolved by the service)."""
    options = [("imagenet", IMAGENET_LABELS[imagenet]), ("none", "none: train from scratch")]
    options += [(f"run:{run_id}", f"run #{run_id} {name}: best checkpoint") for run_id, name in checkpoints]
    known = {value for value, _ in options}
    if current not in known:  # e.g. a cloned run's pinned "runs/12/snapshots/best-epoch3.pt", shown as its run
        options.append((current, weights_label(current)))
    return options


def fractions_shown(values: Mapping[str, Any]) -> dict[str, Any]:
    """The split fractions to show: the config's, or its dataset's defaults."""
    dataset = values.get("dataset") or {}
    fractions = dataset.get("fractions")
    spec = DATASETS.get(str(dataset.get("name")))
    if isinstance(fractions, Mapping):
        return dict(fractions)
    if isinstance(fractions, (list, tuple)) and len(fractions) == 3:
        return dict(zip(("train", "val", "test"), fractions))
    defaults = spec.fractions if spec and spec.fractions else (None, None, None)
    return dict(zip(("train", "val", "test"), defaults))


@dataclass(frozen=True)
class RunFormPage:
    """Everything templates/run_form.html shows."""

    base_config: dict[str, Any]  # what the form started from: kept whole, the inputs laid over it
    config: dict[str, Any]  # the values shown
    rows: list[StageRow]
    presets: list[str]
    preset: str | None
    source: str | None
    quick_fills: list[QuickFill]
    backbone_options: list[tuple[str, str]]
    dataset_options: list[tuple[str, str]]
    weights_options: list[tuple[str, str]]
    catalog: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)
    augment_options: tuple[tuple[str, str], ...] = AUGMENT_OPTIONS
    template_row: StageRow = StageRow("__STAGE__", "lr", "", False, 1)
    plan_summary: str = "Loading the LR preview…"
    sweep: SweepPanel | None = None
    sweep_template_row: SweepRow = field(default_factory=lambda: SweepRow("__STAGE__"))
    studies: tuple[Study, ...] = tuple(STUDIES.values())

    @property
    def split_kind(self) -> str:
        spec = DATASETS.get(str(self.config["dataset"].get("name")))
        return spec.split if spec else "fractions"

    @property
    def dataset_choice(self) -> str:
        """The Dataset menu's selected entry: an upload's own entry when the config trains on one."""
        dataset = self.config["dataset"]
        path = str(dataset.get("path") or "")
        if dataset.get("name") == "imagefolder" and path in dict(self.dataset_options):
            return path
        return str(dataset.get("name"))

    @property
    def dataset_hint(self) -> str:
        spec = DATASETS.get(str(self.config["dataset"].get("name")))
        return spec.description if spec else ""

    @property
    def fractions(self) -> dict[str, Any]:
        return fractions_shown(self.config)


def _catalog(imagenet: Mapping[str, str], uploads: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
    """What run_form.js needs to switch datasets and backbones without a round trip; an upload
    is an image folder (its split and fields), under its own key."""
    datasets = {
        s.name: {"split": s.split, "fractions": s.fractions, "description": s.description, "fields": s.name}
        for s in DATASETS.values()
    }
    folder = DATASETS["imagefolder"]
    for key, label in uploads:
        datasets[key] = {"split": folder.split, "fractions": folder.fractions, "description": label, "fields": ""}
    return {
        "datasets": datasets,
        "backbones": {
            b.name: {"stages": list(b.stage_names), "imagenet": IMAGENET_LABELS[imagenet.get(b.name, "here")]}
            for b in BACKBONES.values()
        },
    }


def default_weights(base: Mapping[str, Any], imagenet: Mapping[str, str]) -> dict[str, Any]:
    """`base`, with ImageNet weights only where the file is on this server when `base` names none.

    So the form's defaults start a run that succeeds on a fresh offline install; a preset or
    a run that asks for ImageNet keeps asking (and the preview says what is missing).
    """
    if "weights" in base:
        return dict(base)
    backbone = str(base.get("backbone", TrainConfig().backbone))
    return {**base, "weights": "imagenet" if imagenet.get(backbone, "here") == "here" else "none"}


def run_form_page(
    *,
    base: Mapping[str, Any],
    shown: Mapping[str, Any] | None = None,
    presets: Mapping[str, Mapping[str, Any]],
    checkpoints: Sequence[tuple[int, str]],
    preset: str | None = None,
    source: str | None = None,
    errors: Mapping[str, str] | None = None,
    uploads: Sequence[tuple[str, str]] = (),
    imagenet: Mapping[str, str] | None = None,
    sweep_form: Mapping[str, str] | None = None,
) -> RunFormPage:
    """The New run page, started from `base` (a preset, a run's config, or the defaults).

    `shown` is what the user posted when the server re-renders the form with errors.
    `uploads` are (key, label) of uploaded datasets, offered in the Dataset menu by name.
    Parameter counts are left to the LR preview (`POST /api/plan` returns them): counting
    needs torch, and the page should not wait for it. `imagenet` says per backbone whether its
    ImageNet weights are `here`, `downloadable` or `missing` (`services.weights`).
    `sweep_form` re-shows the Sweep… panel as posted (`app.pages.sweep_form`).
    """
    imagenet = imagenet or {}
    values = form_values(shown if shown is not None else default_weights(base, imagenet))
    backbone = BACKBONES.get(str(values["backbone"]), BACKBONES["resnet18"])
    return RunFormPage(
        base_config=dict(base),
        config=values,
        rows=stage_rows(values, backbone.stage_names, {}),
        presets=list(presets),
        preset=preset,
        source=source,
        quick_fills=quick_fills(presets),
        backbone_options=[(b.name, f"{b.name}: {b.description}") for b in BACKBONES.values()],
        dataset_options=[(s.name, s.name) for s in DATASETS.values()] + list(uploads),
        weights_options=weights_options(str(values.get("weights")), checkpoints, imagenet.get(backbone.name, "here")),
        catalog=_catalog(imagenet, uploads),
        errors=dict(errors or {}),
        sweep=sweep_panel(backbone.stage_names, sweep_form),
    )


def base_from_run(run: RunRead) -> dict[str, Any]:
    """A run's config as the start of a new one, named as a copy (as the API's clone names it)."""
    return {**run.config, "name": clone_name(run.name, run.id)}
