"""Studies saved from Compare and re-run with overrides (issue 12 §7).

A saved study is the runs tagged `study:<name>` (the Runs list's tags, no table of its own):
saving a Compare selection tags those runs, and "Run with overrides" queues each of the
study's configurations × the chosen seeds with the overrides applied, tagged alike, in one
transaction (all or none, the quota counting every run). A configuration is a config with
its name and seed set aside, so the runs of one configuration over several seeds form one
group, reported as mean ± std like the reference table (`study_groups`).

Why grouped runs and not a sweep over the fixed configurations: there is nothing to sample
or prune, so an Optuna study would only add storage and per-epoch reports; runs with a tag
already show everywhere a run does (Runs list `?tag=`, Compare, their Run pages).
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.models import Run
from app.models.runs import RunTag
from app.schemas.accounts import Principal
from app.schemas.catalog import BACKBONES
from app.schemas.runs import MAX_TAGS, RunRead, StudyRuns
from app.schemas.saved_studies import (
    STUDY_TAG,
    SavedStudyCreate,
    SavedStudyRead,
    SavedStudySummary,
    StudyGroup,
    StudyRerun,
)
from app.services import runs
from app.services.configs import build_config, probe_request
from app.services.datasets import UPLOAD_PREFIX
from app.services.errors import FieldError, InvalidInput, RunNotFound, StudyNotFound
from app.services.unit_of_work import UnitOfWork
from app.services.weights import DownloadProbe

SEED_SUFFIX = re.compile(r" \(seed -?\d+\)$")


def save_study(*, uow: UnitOfWork, principal: Principal, request: SavedStudyCreate) -> SavedStudyRead:
    """Tag the runs as members of the study `request.name` (created, or added to).

    Raises:
        RunNotFound: a run that does not exist or is not one `principal` may see (nothing tagged).
        InvalidInput: a run already carries the most tags a run may have.
    """
    tag = STUDY_TAG + request.name
    with uow.writing() as db:
        found = {run.id: run for run in db.scalars(_visible(principal).where(Run.id.in_(request.run_ids)))}
        missing = [run_id for run_id in request.run_ids if run_id not in found]
        if missing:
            raise RunNotFound(missing[0])
        for run in found.values():
            if tag in run.tags:
                continue
            if len(run.tags) >= MAX_TAGS:
                raise InvalidInput.at(("body", "run_ids"), f"run {run.id} already carries {MAX_TAGS} tags")
            run.tag_rows.append(RunTag(tag=tag))
    return get_saved_study(uow=uow, principal=principal, name=request.name)


def list_saved_studies(*, uow: UnitOfWork, principal: Principal) -> list[SavedStudySummary]:
    """The studies among the runs `principal` sees, by name."""
    query = (
        select(RunTag.tag, Run.config).join(Run, Run.id == RunTag.run_id).where(RunTag.tag.startswith(STUDY_TAG))
    )
    if not principal.is_admin:
        query = query.where(Run.owner_id == principal.user_id)
    members: dict[str, list[dict[str, Any]]] = {}
    with uow.reading() as db:
        for tag, config in db.execute(query):
            members.setdefault(tag.removeprefix(STUDY_TAG), []).append(config)
    return [
        SavedStudySummary(name=name, runs=len(configs), configurations=len({configuration_key(c) for c in configs}))
        for name, configs in sorted(members.items())
    ]


def get_saved_study(*, uow: UnitOfWork, principal: Principal, name: str) -> SavedStudyRead:
    """The study's runs and one group per configuration.

    Raises:
        StudyNotFound: no run `principal` sees carries the study's tag.
    """
    with uow.reading() as db:
        members = [RunRead.model_validate(run) for run in _members(db, principal, name)]
    groups = study_groups(members)
    return SavedStudyRead(name=name, runs=len(members), configurations=len(groups), groups=groups, members=members)


def rerun_study(*, uow: UnitOfWork, principal: Principal, name: str, request: StudyRerun) -> StudyRuns:
    """Queue every configuration of the study × `request.seeds`, with the overrides, tagged as the study.

    Raises:
        StudyNotFound: no such study among the runs `principal` sees.
        InvalidInput: an override that makes a configuration invalid (named `body.epochs`,
            `body.dataset`, `body.backbone`), or the queue is unknown.
        QuotaExceeded, BrokerUnavailable: as for any run; nothing is stored.
    """
    with uow.reading() as db:
        sources = {configuration_key(run.config): run.config for run in _members(db, principal, name)}
    # The weights' download probe may wait on the network: never inside the write block.
    probes = {
        key: probe_request(uow.settings, config=config, preset=None, overrides=overrides(config, request, 0))
        for key, config in sources.items()
    }
    with uow.writing() as db:
        members = _members(db, principal, name)
        configs, seen = [], set()
        for key, config in {configuration_key(run.config): run.config for run in members}.items():
            for seed in request.seeds:
                made = _config_for(db, uow, principal, config, request, seed, probes.get(key))
                key = configuration_key(made.model_dump(mode="json")), seed
                if key not in seen:  # overrides can make two configurations one
                    seen.add(key)
                    configs.append(made)
        queued = runs.queue_configs(uow, db, principal=principal, configs=configs, queue=request.queue)
        db.add_all(RunTag(run_id=run.id, tag=STUDY_TAG + name) for run in queued)
    return StudyRuns(study=name, runs=queued, compare_url="/compare?" + "&".join(f"ids={r.id}" for r in queued))


def _config_for(
    db: Session,
    uow: UnitOfWork,
    principal: Principal,
    config: dict[str, Any],
    request: StudyRerun,
    seed: int,
    downloads: DownloadProbe | None,
) -> Any:
    name = SEED_SUFFIX.sub("", str(config.get("name") or "run"))
    try:
        return build_config(
            db=db, settings=uow.settings, principal=principal, config=config, preset=None,
            overrides=overrides(config, request, seed), name=f"{name} (seed {seed})"[:200],
            downloads=downloads or DownloadProbe(),
        )  # fmt: skip
    except InvalidInput as exc:
        raise InvalidInput([FieldError(_override_loc(e.loc, request), e.msg, e.type) for e in exc.errors]) from None


def overrides(config: dict[str, Any], request: StudyRerun, seed: int) -> dict[str, Any]:
    """The dotted-path overrides of one re-run: the seed, and each override given.

    A new dataset starts from its default split (uploads are image folders); a new backbone
    keeps the LRs of the stages it shares with the old one.
    """
    changes: dict[str, Any] = {"seed": seed}
    if request.epochs is not None:
        changes["epochs"] = request.epochs
    if request.dataset is not None:
        split_seed = (config.get("dataset") or {}).get("split_seed", 0)
        if request.dataset.startswith(UPLOAD_PREFIX):
            changes["dataset"] = {"name": "imagefolder", "path": request.dataset, "split_seed": split_seed}
        else:
            changes["dataset"] = {"name": request.dataset, "split_seed": split_seed}
    if request.backbone is not None:
        changes["backbone"] = request.backbone
        known = BACKBONES.get(request.backbone)
        if known is not None:
            stages = config.get("stages") or {}
            changes["stages"] = {stage: spec for stage, spec in stages.items() if stage in known.stage_names}
    return changes


def _override_loc(loc: tuple[str | int, ...], request: StudyRerun) -> tuple[str | int, ...]:
    """A config error as the override that caused it (the request names no config paths)."""
    path = [str(part) for part in loc[2:]]
    for field in ("epochs", "dataset", "backbone"):
        if path[:1] == [field] and getattr(request, field) is not None:
            return ("body", field)
    if path[:1] == ["stages"]:
        return ("body", "epochs" if request.epochs is not None else "backbone")
    return loc


def configuration_key(config: dict[str, Any]) -> str:
    """What makes two runs the same configuration: the config without its name and seed."""
    return json.dumps({k: v for k, v in config.items() if k not in ("name", "seed")}, sort_keys=True, default=str)


def study_groups(members: Sequence[RunRead]) -> list[StudyGroup]:
    """One group per configuration, in the order of its first run; statistics over succeeded runs."""
    grouped: dict[str, list[RunRead]] = {}
    for run in members:
        grouped.setdefault(configuration_key(run.config), []).append(run)
    return [_group(group) for group in grouped.values()]


def _group(group: list[RunRead]) -> StudyGroup:
    first, done = group[0], [run for run in group if run.status == "succeeded" and run.summary is not None]
    config = first.config

    def stats(values: list[float | None]) -> tuple[float | None, float | None]:
        numbers = [v for v in values if v is not None]
        if not numbers:
            return None, None
        return statistics.fmean(numbers), statistics.stdev(numbers) if len(numbers) > 1 else None

    test = stats([run.summary.final_test_acc for run in done if run.summary])
    val = stats([run.summary.best_val_acc for run in done if run.summary])
    train = stats([run.summary.final_train_acc for run in done if run.summary])
    dataset = (config.get("dataset") or {}).get("path") or (config.get("dataset") or {}).get("name")
    return StudyGroup(
        label=SEED_SUFFIX.sub("", first.name or f"run {first.id}"),
        description=f"{config.get('backbone')} on {dataset}, {config.get('epochs')} epochs, weights {config.get('weights')}",
        run_ids=[run.id for run in group], seeds=[int(run.config.get("seed", 0)) for run in group],
        finished=len(done), test_acc_mean=test[0], test_acc_std=test[1], val_acc_mean=val[0], val_acc_std=val[1],
        train_acc_mean=train[0],
    )  # fmt: skip


def _visible(principal: Principal) -> Any:
    query = select(Run).options(selectinload(Run.tag_rows), selectinload(Run.owner))
    return query if principal.is_admin else query.where(Run.owner_id == principal.user_id)


def _members(db: Session, principal: Principal, name: str) -> list[Run]:
    tagged = select(RunTag.run_id).where(RunTag.tag == STUDY_TAG + name)
    members = list(db.scalars(_visible(principal).where(Run.id.in_(tagged)).order_by(Run.id)))
    if not members:
        raise StudyNotFound(name)
    return members
