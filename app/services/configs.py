"""Turning a request (config or preset, plus overrides) into a validated `TrainConfig`.

Errors name the field where the user can fix it: an override's dotted path when an
override caused it, else the path inside `config` or the preset.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.models import Run, RunStatus
from app.presets import InvalidOverride, UnknownPreset, apply_overrides, load_preset
from app.schemas.accounts import Principal
from app.schemas.errors import field_message
from app.schemas.runs import MAX_ID
from app.schemas.train_config import TrainConfig
from app.schemas.weights_source import CHECKPOINT_FILES
from app.services.checkpoint_snapshots import pin_checkpoint
from app.services.errors import FieldError, InvalidInput, RunStateConflict
from app.services.weights import DownloadProbe, check_weights, probe_downloads
from app.settings import Settings

Loc = tuple[str | int, ...]


def build_config(
    *,
    db: Session,
    settings: Settings,
    principal: Principal,
    config: Mapping[str, Any] | None,
    preset: str | None,
    overrides: Mapping[str, Any],
    downloads: DownloadProbe | None,
    name: str | None = None,
) -> TrainConfig:
    """Validate `config` (or the preset named `preset`) with `overrides` applied.

    `weights: "run:<id>"` becomes that run's best checkpoint under the data root; a run
    (by id or by its folder) must be one `principal` may see. `downloads` is `probe_request`
    of the same request, made before the caller's transaction (None: the weights are not
    checked, as for the plan preview, which draws the schedule whatever the weights).

    Raises:
        InvalidInput: unknown preset, bad override path, a value TrainConfig rejects, or
            one past the server's limits (`max_epochs`, `max_batch_size`, `max_image_size`),
            or ImageNet weights this server neither holds nor can download (at `weights`).
    """
    origin: Loc = ("body", "preset") if preset is not None else ("body", "config")
    try:
        data = load_preset(preset) if preset is not None else dict(config or {})
        data = apply_overrides(data, overrides)
    except UnknownPreset as exc:
        raise InvalidInput.at(("body", "preset"), str(exc)) from exc
    except InvalidOverride as exc:
        raise InvalidInput.at(("body", "overrides", exc.path), str(exc)) from exc
    if name is not None:
        data["name"] = name
    weights_loc = _where(("weights",), origin, overrides)
    data["weights"] = run_checkpoint(
        db=db, settings=settings, principal=principal, weights=data.get("weights", "imagenet"), loc=weights_loc
    )
    try:
        config = TrainConfig.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput([_field_error(e, origin, overrides) for e in exc.errors()]) from exc
    _check_limits(config, settings, origin, overrides)
    if downloads is not None:
        check_weights(settings, config, weights_loc, downloads)
    return config


def probe_request(
    settings: Settings, *, config: Mapping[str, Any] | None, preset: str | None, overrides: Mapping[str, Any]
) -> DownloadProbe:
    """Probe, before any transaction, the download a request's ImageNet weights would need
    (`build_config` then checks against this answer and never waits on the network)."""
    try:
        data = load_preset(preset) if preset is not None else dict(config or {})
        data = apply_overrides(data, overrides)
    except (UnknownPreset, InvalidOverride):
        return DownloadProbe()  # build_config refuses the request, naming the field
    return probe_downloads(settings, data)


def _check_limits(config: TrainConfig, settings: Settings, origin: Loc, overrides: Mapping[str, Any]) -> None:
    """The server's ceilings on what one run may ask for (a GPU shared by a lab)."""
    limits = (
        ("epochs", config.epochs, settings.max_epochs, "STAGEWISE_MAX_EPOCHS"),
        ("batch_size", config.batch_size, settings.max_batch_size, "STAGEWISE_MAX_BATCH_SIZE"),
        ("eval_batch_size", config.eval_batch_size, settings.max_batch_size, "STAGEWISE_MAX_BATCH_SIZE"),
        ("image_size", config.image_size, settings.max_image_size, "STAGEWISE_MAX_IMAGE_SIZE"),
    )
    errors = [
        FieldError(_where((field,), origin, overrides), f"{value} is over this server's limit of {limit} ({variable})")
        for field, value, limit, variable in limits
        if value is not None and value > limit
    ]
    if errors:
        raise InvalidInput(errors)


def run_checkpoint(*, db: Session, settings: Settings, principal: Principal, weights: Any, loc: Loc) -> Any:
    """`"run:<id>"` or `"run:<id>:best"` → `"runs/<id>/snapshots/best-epoch<k>.pt"`, `"run:<id>:last"` →
    `"runs/<id>/snapshots/last-epoch<k>.pt"`: that checkpoint pinned as it is now, with its epoch
    (relative to the data root; the live file's path if it holds no readable epoch); other values unchanged.

    A plain `run:<id>` of a run still training is refused (409): its best checkpoint is still
    changing, so the user names one (`run:<id>:best` or `:last`, as of this submit).
    A path into another user's run folder is refused like `run:<id>` of that run.

    Raises:
        InvalidInput: no such run of the caller's, a malformed reference, or no checkpoint yet (422).
        RunStateConflict: `run:<id>` of a queued or running run (409).
    """
    if not isinstance(weights, str):
        return weights
    if not weights.startswith("run:"):
        parts = posixpath.normpath(weights.replace("\\", "/")).split("/")
        if len(parts) >= 2 and parts[0] == "runs" and not _visible(db, principal, parts[1]):
            raise InvalidInput.at(loc, f"{weights!r}: no run {parts[1]} of yours")
        return weights
    ident, _, kind = weights.removeprefix("run:").partition(":")
    if not ident.isdigit() or kind not in ("", *CHECKPOINT_FILES):
        raise InvalidInput.at(loc, f"{weights!r}: expected run:<numeric id>, run:<id>:best or run:<id>:last")
    run_id = int(ident)
    source = _source(db, principal, ident)
    if source is None:
        raise InvalidInput.at(loc, f"run {run_id} does not exist")
    if not kind and source.status in (RunStatus.queued, RunStatus.running):
        raise RunStateConflict(
            f"{'.'.join(map(str, loc[1:]))}: run {run_id} is still {source.status}; name a checkpoint: "
            f"run:{run_id}:best (its best so far) or run:{run_id}:last"
        )
    relative = f"runs/{run_id}/{CHECKPOINT_FILES[kind or 'best']}"
    try:  # the checkpoint as of now, its epoch in the path (the source may train on while this run waits)
        return pin_checkpoint(settings.data_dir, run_id, kind or "best") or relative  # type: ignore[arg-type]
    except FileNotFoundError:
        message = f"run {run_id} has no {kind or 'best'} checkpoint yet (written after its first epoch)"
        raise InvalidInput.at(loc, message) from None


def _visible(db: Session, principal: Principal, ident: str) -> bool:
    return _source(db, principal, ident) is not None


def _source(db: Session, principal: Principal, ident: str) -> Run | None:
    """Run `ident` if it exists and `principal` may see it."""
    run = db.get(Run, int(ident)) if ident.isdigit() and 0 < int(ident) <= MAX_ID else None
    return run if run is not None and (principal.is_admin or run.owner_id == principal.user_id) else None


def _where(loc: tuple[Any, ...], origin: Loc, overrides: Mapping[str, Any]) -> Loc:
    """The request location of config field `loc`: the override that set it, if any."""
    dotted = ".".join(str(part) for part in loc)
    for path in overrides:
        if dotted == path or dotted.startswith(path + ".") or path.startswith(dotted + "."):
            return ("body", "overrides", path)
    return (*origin, *loc)


def _field_error(error: Mapping[str, Any], origin: Loc, overrides: Mapping[str, Any]) -> FieldError:
    msg = field_message(error)
    return FieldError(_where(tuple(error["loc"]), origin, overrides), msg, str(error["type"]))
