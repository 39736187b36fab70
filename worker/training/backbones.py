"""Backbones as torch modules: building them, loading starting weights, and their stages.

The catalog (`app.schemas.catalog.BACKBONES`) says which modules form each stage; this
module applies it to a real `nn.Module`. Weights are only ever read with
`weights_only=True` (or from safetensors), so a checkpoint file cannot run code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import torch
import torchvision
from torch import nn

from app.schemas.catalog import BACKBONES, BackboneSpec
from app.schemas.train_config import TrainConfig
from worker.training.checkpoints import load_tensors
from worker.training.errors import CheckpointMismatch, TrainingError, WeightsUnavailable

# Wrappers add these to every key: DistributedDataParallel ("module.") and torch.compile
# ("_orig_mod."). Checkpoints saved from a wrapped model still fit the bare one.
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")

# DenseNet's published weights predate a renaming of its layers ("norm.1" → "norm1");
# torchvision fixes the keys with this pattern when it loads them (models/densenet.py).
_DENSENET_LEGACY_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)

# How many offending keys an error message lists before it just counts them.
_SHOWN_KEYS = 5


def _summary(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOWN_KEYS])
    more = f" … and {len(keys) - _SHOWN_KEYS} more" if len(keys) > _SHOWN_KEYS else ""
    return f"{len(keys)}: {shown}{more}"


def _labelled(groups: dict[str, list[str]]) -> str:
    """E.g. "missing 2: a, b; unexpected 1: c", leaving out empty groups ("" if all are)."""
    return "; ".join(f"{label} {_summary(keys)}" for label, keys in groups.items() if keys)


def _canonical_name(name: str) -> str:
    """A parameter or module name without the prefixes wrappers add."""
    while name.startswith(_WRAPPER_PREFIXES):
        name = name.split(".", 1)[1]  # each wrapper prefix is one dotted segment
    return name


def _matches(name: str, prefix: str) -> bool:
    # "conv1" must own "conv1.weight" but not "conv10.weight": a prefix without a
    # trailing dot names a whole module or parameter.
    if prefix.endswith("."):
        return name.startswith(prefix)
    return name == prefix or name.startswith(prefix + ".")


def _stages_of(name: str, spec: BackboneSpec) -> list[str]:
    canonical = _canonical_name(name)
    return [stage for stage, prefixes in spec.stages if any(_matches(canonical, p) for p in prefixes)]


def stage_parameters(model: nn.Module, backbone: str) -> dict[str, list[tuple[str, nn.Parameter]]]:
    """The model's named parameters grouped by stage, in the catalog's stage order.

    Raises:
        ValueError: a parameter matches no stage's prefixes, or more than one stage's;
            the stage map of `backbone` is wrong for this model.
    """
    spec = BACKBONES[backbone]
    grouped: dict[str, list[tuple[str, nn.Parameter]]] = {stage: [] for stage in spec.stage_names}
    orphans: list[str] = []
    shared: list[str] = []
    for name, param in model.named_parameters():
        stages = _stages_of(name, spec)
        if len(stages) == 1:
            grouped[stages[0]].append((name, param))
        elif stages:
            shared.append(f"{name} ({', '.join(stages)})")
        else:
            orphans.append(name)
    problems = _labelled({"in no stage": orphans, "in several stages": shared})
    if problems:
        raise ValueError(f"stage map of {backbone} does not fit the model; parameters {problems}")
    return grouped


def stage_modules(model: nn.Module, backbone: str) -> dict[str, list[nn.Module]]:
    """Every named submodule inside each stage (nested ones too), in catalog stage order.

    Modules outside every stage (pooling, activations, containers spanning stages) are
    left out; they hold no parameters of their own.
    """
    spec = BACKBONES[backbone]
    grouped: dict[str, list[nn.Module]] = {stage: [] for stage in spec.stage_names}
    for name, module in model.named_modules():
        # "features.0." (a map's prefix for a whole block) owns the block "features.0" itself too.
        stages = _stages_of(name + ".", spec) if name else []
        if len(stages) == 1:
            grouped[stages[0]].append(module)
    return grouped


def _replace_head(model: nn.Module, spec: BackboneSpec, num_classes: int) -> None:
    parent_path, _, attr = spec.head.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    old = getattr(parent, attr)
    if not isinstance(old, nn.Linear):
        raise TypeError(f"{spec.name}: {spec.head} is {type(old).__name__}, expected nn.Linear")
    setattr(parent, attr, nn.Linear(old.in_features, num_classes))


def _architecture(spec: BackboneSpec, num_classes: int) -> nn.Module:
    """The randomly initialised model with its head sized for `num_classes`."""
    model = torchvision.models.get_model(spec.name, weights=None)
    _replace_head(model, spec, num_classes)
    return model


def empty_model(backbone: str, num_classes: int) -> nn.Module:
    """The backbone's architecture with a `num_classes` head and random weights, to load a checkpoint into."""
    return _architecture(BACKBONES[backbone], num_classes)


def count_stage_params(backbone: str, num_classes: int) -> dict[str, int]:
    """Parameters per stage, counted on the meta device (no memory, no weights needed)."""
    with torch.device("meta"):
        model = _architecture(BACKBONES[backbone], num_classes)
    return {stage: sum(p.numel() for _, p in params) for stage, params in stage_parameters(model, backbone).items()}


def imagenet_weights_file(backbone: str) -> tuple[str, str]:
    """The file name torchvision gives the backbone's default ImageNet weights, and its URL."""
    url = torchvision.models.get_model_weights(backbone).DEFAULT.url
    return url.rsplit("/", 1)[-1], url


def build_model(
    config: TrainConfig,
    num_classes: int,
    *,
    data_root: Path,
    weights_dir: Path | None = None,
    allow_download: bool = False,
) -> nn.Module:
    """The config's backbone with its starting weights and a head for `num_classes`.

    Args:
        config: `backbone` picks the architecture; `weights` is "none" (random),
            "imagenet" (torchvision's default weights) or a checkpoint file under
            `data_root`. `config.allow_download: false` forbids downloading for this run;
            it cannot permit what `allow_download` (the admin's setting) forbids.
        num_classes: outputs of the new head.
        data_root: checkpoint paths are relative to it and may not leave it.
        weights_dir: where ImageNet weight files are looked up (default: torch hub's
            `checkpoints/` folder, where torchvision itself caches them).
        allow_download: fetch missing ImageNet weights from download.pytorch.org (the server's
            setting: the config can only narrow it).

    Raises:
        WeightsUnavailable: ImageNet weights are missing and downloading is not allowed.
        CheckpointMismatch: a checkpoint's keys or shapes do not fit the backbone.
        TrainingError: a checkpoint path is missing, unreadable or outside `data_root`.
    """
    spec = BACKBONES[config.backbone]
    if config.weights == "none":
        return _architecture(spec, num_classes)
    if config.weights == "imagenet":
        model = torchvision.models.get_model(spec.name, weights=None)
        state = _imagenet_state_dict(spec.name, weights_dir, allow_download and config.allow_download is not False)
        _load_weights(model, state, spec, source=f"ImageNet weights of {spec.name}")
        _replace_head(model, spec, num_classes)
        return model
    # Our own checkpoints usually already have the right head: size it first so that a
    # checkpoint of the same class count keeps its trained head.
    model = _architecture(spec, num_classes)
    path = _checkpoint_path(config.weights, data_root)
    _load_weights(model, _read_checkpoint(path), spec, source=str(path))
    return model


def _imagenet_state_dict(backbone: str, weights_dir: Path | None, allow_download: bool) -> dict[str, torch.Tensor]:
    file_name, url = imagenet_weights_file(backbone)
    folder = weights_dir if weights_dir is not None else _hub_folder()
    path = folder / file_name
    if path.is_file():
        return _torch_load(path, shown=f"{file_name} in the weights folder" if weights_dir is not None else None)
    if allow_download:
        hub = _hub_folder()
        return _torch_load(_download(url, hub / file_name), shown=f"{hub.parent.name}/{hub.name}/{file_name} under torch's home")
    raise WeightsUnavailable(
        f"ImageNet weights for {backbone} are not on this machine: download {file_name} from {url} "
        f"and place it in {folder}, or allow downloading, or train with weights: none"
    )


def _hub_folder() -> Path:
    """Where torch hub (and torchvision) keep downloaded weights."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def _download(url: str, path: Path) -> Path:
    """`path`, fetched from `url` unless already there, its SHA-256 checked against the name's hash.

    Not torchvision's `get_state_dict`: that reads whatever file sits in the hub folder with
    `weights_only=False`, so a file planted there would run code when a run asks for downloads.
    """
    if not path.is_file():
        found = torch.hub.HASH_REGEX.search(path.name)  # resnet18-f37072fd.pth: a prefix of its SHA-256
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(url, str(path), hash_prefix=found.group(1) if found else None)
        except (OSError, RuntimeError) as error:  # URLError is an OSError; a hash mismatch a RuntimeError
            raise WeightsUnavailable(f"could not download {url} to {path.parent}: {error}") from error
    return path


def _checkpoint_path(relative: str, data_root: Path) -> Path:
    root = data_root.resolve()
    # resolve() follows symlinks, so a link inside the data root cannot point out of it.
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise TrainingError(f"checkpoint {relative!r} is outside the data root {root}: refused")
    if not path.is_file():
        raise TrainingError(f"checkpoint {path} not found: place the file under the data root {root}")
    return path


def _torch_load(path: Path, *, shown: str | None = None) -> dict[str, torch.Tensor]:
    loaded = load_tensors(path, what="weights", shown=shown)
    if not isinstance(loaded, Mapping):
        raise TrainingError(f"{shown or path} holds a {type(loaded).__name__}, not a state dict")
    return dict(loaded)


def _read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a .safetensors, or a .pt/.pth raw state dict or {"model": ...}."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file  # only needed for this format

        try:
            return load_file(path, device="cpu")
        except Exception as error:  # a truncated or foreign file
            raise TrainingError(f"cannot read {path} as safetensors: {error}") from error
    loaded = _torch_load(path)
    model_state = loaded.get("model")
    return dict(model_state) if isinstance(model_state, Mapping) else loaded


def _normalized_keys(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    keys = {_canonical_name(key): value for key, value in state.items()}
    return {_DENSENET_LEGACY_KEY.sub(r"\1\2", key): value for key, value in keys.items()}


def _load_weights(model: nn.Module, state: Mapping[str, torch.Tensor], spec: BackboneSpec, *, source: str) -> None:
    """Load `state` into `model`, keeping the model's head when only the head's shape differs."""
    state = _normalized_keys(state)
    expected = model.state_dict()
    # BatchNorm fills in a missing counter itself; very old weight files lack it.
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    reshaped = [k for k in state if k in expected and state[k].shape != expected[k].shape]
    head_keys = {f"{spec.head}.weight", f"{spec.head}.bias"}
    if reshaped and set(reshaped) <= head_keys and not missing and not unexpected:
        # Another class count: everything but the head transfers, the head stays fresh.
        state = {k: v for k, v in state.items() if k not in head_keys}
    elif missing or unexpected or reshaped:
        shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}" for k in reshaped]
        problems = _labelled({"missing": missing, "unexpected": unexpected, "shape differs": shapes})
        raise CheckpointMismatch(f"{source} does not fit {spec.name}: keys {problems}")
    model.load_state_dict(state, strict=False)
