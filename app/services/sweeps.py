"""Sweeps as users see them: create, list, read, cancel; and how they move on as trials end.

A sweep is an Optuna study (kept in the product's database, `app.sweeps.storage`) whose
trials are ordinary runs: each trial's run row carries `sweep_id`, `trial_number` and the
parameters it drew, is queued like any run and counted by the owner's quota. A sweep keeps
`parallel` trials in flight: when a trial's run ends, `advance_sweep` tells Optuna its
result and asks for the next trial until the budget is spent, then marks the sweep
finished. The worker calls it after every trial; the API's periodic sweep calls
`advance_stalled_sweeps` for sweeps whose trials ended without a worker (a queued trial
cancelled, a run failed by the stale-run sweep).

Optuna's storage is another database (or schema), so asking it for a trial inside our write
block takes no lock of ours twice; the ask runs under the sweep row's lock so that two
trials ending at once cannot both ask for the last slot.
"""

from __future__ import annotations

import logging
import os
import statistics
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import TrialState
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from app.db.types import utcnow
from app.models import EpochMetric, Run, RunStatus, Sweep, SweepState, User
from app.presets import InvalidOverride
from app.schemas.accounts import Principal
from app.schemas.metrics import EpochRecord, EpochVerdict, RunSummary
from app.schemas.runs import MAX_ID
from app.schemas.sweeps import BestTrial, RepeatRead, SweepRead, SweepSpec, SweepSummary, TrialRead
from app.schemas.train_config import TrainConfig
from app.services import runs
from app.services.configs import build_config, probe_request
from app.services.errors import (
    BrokerUnavailable,
    FieldError,
    InvalidInput,
    QuotaExceeded,
    SweepNotFound,
    SweepStateConflict,
)
from app.services.unit_of_work import UnitOfWork
from app.services.weights import DownloadProbe
from app.settings import Settings
from app.sweeps.errors import InvalidSweep
from app.sweeps.space import apply, check_sweep, overrides_for, trial_params
from app.sweeps.storage import sweep_storage
from app.sweeps.study import DIRECTIONS, create_study, live_trial, report_epoch, tell

log = logging.getLogger(__name__)

TRIAL_STATE = {
    RunStatus.queued: "queued", RunStatus.running: "running", RunStatus.succeeded: "complete",
    RunStatus.pruned: "pruned", RunStatus.failed: "failed", RunStatus.cancelled: "cancelled",
}  # fmt: skip
ACTIVE = (RunStatus.queued, RunStatus.running)


def create_sweep(*, uow: UnitOfWork, principal: Principal, spec: SweepSpec) -> SweepRead:
    """Check `spec`, create its Optuna study, and queue its first `parallel` trials as runs of `principal`.

    Nothing is stored or queued unless every check passes; should the queueing fail (quota,
    broker), the study is deleted again.

    Raises:
        InvalidInput: the base or the space does not fit (the location names the field, `body.space.<key>`).
        QuotaExceeded: the first trials would take the user past the quota of active runs.
        BrokerUnavailable: the queue is down; nothing was stored.
    """
    downloads = probe_request(
        uow.settings, config=spec.base.config, preset=spec.base.preset, overrides=spec.base.overrides
    )  # before any transaction: never wait on the network inside one
    queue = runs._queue(uow.settings, spec.queue)
    with uow.reading() as db:
        base = _base_config(db, uow.settings, principal, spec, downloads)
    try:
        check_sweep(spec, base)
    except InvalidSweep as exc:
        raise InvalidInput.at(("body", *exc.loc), exc.msg) from None
    study_name = f"sweep-{uuid.uuid4().hex}"
    study = create_study(spec, base, storage=_storage(uow.settings), study_name=study_name)
    try:
        with uow.writing() as db:
            sweep = Sweep(
                name=spec.name, state=SweepState.running, queue=queue,
                spec=spec.model_dump(mode="json"), base_config=base.model_dump(mode="json"), study_name=study_name,
                owner_id=principal.user_id,
            )  # fmt: skip
            db.add(sweep)
            db.flush()
            _queue_trials(uow, db, sweep, study, principal, count=min(spec.parallel, spec.trials or 1))
            sweep_id = sweep.id
    except BaseException:
        optuna.delete_study(study_name=study_name, storage=_storage(uow.settings))
        raise
    return get_sweep(uow=uow, principal=principal, sweep_id=sweep_id)


def list_sweeps(*, uow: UnitOfWork, principal: Principal) -> list[SweepSummary]:
    """The sweeps `principal` may see (an admin: everyone's), newest first."""
    query = select(Sweep).options(selectinload(Sweep.owner)).order_by(Sweep.id.desc()).limit(200)
    if not principal.is_admin:
        query = query.where(Sweep.owner_id == principal.user_id)
    with uow.reading() as db:
        sweeps = db.scalars(query).all()
        trials = _trials_of(db, [s.id for s in sweeps])
        return [_summary(s, trials.get(s.id, [])) for s in sweeps]


def get_sweep(*, uow: UnitOfWork, principal: Principal, sweep_id: int) -> SweepRead:
    """One sweep with every trial so far and the best complete one."""
    with uow.reading() as db:
        sweep = _get(db, sweep_id, principal=principal)
        trials = _trials_of(db, [sweep.id]).get(sweep.id, [])
        summary = _summary(sweep, trials)
        best = _best(trials, SweepSpec.model_validate(sweep.spec).objective)
        return SweepRead(
            **summary.model_dump(), spec=sweep.spec, trials=[t.read for t in trials],
            repeats=_repeats_read(db, sweep, trials),
            best=None if best is None else BestTrial(
                number=best.read.number, params=best.read.params, value=best.read.value or 0.0,
                run_id=best.read.run_id, config=best.config,
            ),
        )  # fmt: skip


def cancel_sweep(*, uow: UnitOfWork, principal: Principal, sweep_id: int) -> SweepRead:
    """Stop a running sweep: its queued trials are cancelled at once, running ones asked to stop.

    Raises:
        SweepStateConflict: the sweep already finished or was cancelled.
    """
    with uow.writing() as db:
        sweep = _get(db, sweep_id, principal=principal, lock=True)
        if sweep.state != SweepState.running:
            raise SweepStateConflict(f"sweep {sweep_id} is already {sweep.state}; only a running sweep can be cancelled")
        sweep.state, sweep.finished_at = SweepState.cancelled, utcnow()
        for run in db.scalars(select(Run).where(Run.sweep_id == sweep_id, Run.status.in_(ACTIVE)).with_for_update()):
            if run.status == RunStatus.queued:
                run.status, run.finished_at = RunStatus.cancelled, utcnow()
            run.cancel_requested = True
    advance_sweep(uow=uow, sweep_id=sweep_id)  # tells Optuna about the trials cancelled at once
    return get_sweep(uow=uow, principal=principal, sweep_id=sweep_id)


def sweep_importances(*, uow: UnitOfWork, principal: Principal, sweep_id: int) -> dict[str, float] | None:
    """Optuna's parameter importances (fANOVA) over the complete trials; None with fewer than two."""
    with uow.reading() as db:
        sweep = _get(db, sweep_id, principal=principal)
        study_name, spec, base = sweep.study_name, SweepSpec.model_validate(sweep.spec), sweep.base_config
    study = create_study(spec, TrainConfig.model_validate(base), storage=_storage(uow.settings), study_name=study_name)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2:
        return None
    try:
        return dict(optuna.importance.get_param_importances(study))
    except (ValueError, RuntimeError):  # e.g. every complete trial drew the same values
        return None


# --- the worker's side ---------------------------------------------------------------------


def trial_reporter(*, uow: UnitOfWork, run_id: int) -> Callable[[EpochRecord], EpochVerdict | None] | None:
    """For a sweep's trial, an `on_epoch` that reports the objective to its Optuna trial and
    answers PRUNE when the pruner says so; None for a run that is no trial."""
    with uow.reading() as db:
        run = db.get(Run, run_id)
        sweep = None if run is None or run.sweep_id is None else db.get(Sweep, run.sweep_id)
        if run is None or sweep is None or run.trial_number is None:
            return None
        number, study_name, spec, base = run.trial_number, sweep.study_name, sweep.spec, sweep.base_config
        epochs = run.epochs
    parsed = SweepSpec.model_validate(spec)
    study = create_study(parsed, TrainConfig.model_validate(base), storage=_storage(uow.settings), study_name=study_name)
    trial = live_trial(study, number)

    def report(record: EpochRecord) -> EpochVerdict | None:
        try:
            return report_epoch(trial, record, parsed.objective, epochs=epochs)
        except RuntimeError:  # the trial was told already (its sweep cancelled it): nothing to prune
            return None

    return report


def trial_ended(*, uow: UnitOfWork, run_id: int) -> None:
    """A run ended: if it is a sweep's trial, move its sweep on (`advance_sweep`)."""
    with uow.reading() as db:
        sweep_id = db.scalar(select(Run.sweep_id).where(Run.id == run_id))
    if sweep_id is not None:
        advance_sweep(uow=uow, sweep_id=sweep_id)


def advance_sweep(*, uow: UnitOfWork, sweep_id: int) -> None:
    """Tell Optuna how ended trials went, then keep `parallel` trials in flight until the budget
    is spent, and mark the sweep finished when its last trial has ended.

    Safe to call twice at once and again later: a trial told already is skipped, and the
    sweep row's lock decides who asks for the next trials. A quota or broker failure leaves
    the sweep as it is for the next call (the API's periodic `advance_stalled_sweeps`).
    """
    with uow.reading() as db:
        sweep = db.get(Sweep, sweep_id)
        if sweep is None:
            return
        spec, base = SweepSpec.model_validate(sweep.spec), TrainConfig.model_validate(sweep.base_config)
        study_name, state = sweep.study_name, sweep.state
        trials = _trials_of(db, [sweep_id]).get(sweep_id, [])
    study = create_study(spec, base, storage=_storage(uow.settings), study_name=study_name)
    _tell_ended(study, trials)
    if state != SweepState.running:
        return
    try:
        with uow.writing() as db:
            sweep = db.get(Sweep, sweep_id, with_for_update=True)
            if sweep is None or sweep.state != SweepState.running:
                return
            created, active_trials, active = _counts(db, sweep_id)
            wanted = min(spec.parallel - active, (spec.trials or 0) - created)
            owner = _owner(db, sweep)
            if wanted > 0 and owner is not None:
                _queue_trials(uow, db, sweep, study, owner, count=wanted)
                return
            search_over = active_trials == 0 and created >= (spec.trials or 0)
            if search_over and owner is not None and active < spec.parallel:
                active += _queue_repeats(uow, db, sweep, owner, room=spec.parallel - active)
            if active == 0:
                sweep.state, sweep.finished_at = SweepState.finished, utcnow()
                if owner is None:
                    sweep.error = "its owner was deleted: no more trials were queued"
    except (QuotaExceeded, BrokerUnavailable) as exc:
        log.warning("sweep %s: next trials not queued yet (%s); trying again later", sweep_id, exc)


def advance_stalled_sweeps(*, uow: UnitOfWork) -> list[int]:
    """Advance running sweeps with fewer trials in flight than they should have (a trial ended
    without a worker to advance it: cancelled while queued, failed by the stale-run sweep).

    Returns:
        The ids of the sweeps advanced.
    """
    is_trial, active = Run.trial_number.is_not(None), Run.status.in_(ACTIVE)
    is_repeat = Run.sweep_id.is_not(None) & Run.trial_number.is_(None)
    with uow.reading() as db:
        rows = db.execute(
            select(Sweep.id, Sweep.spec, func.count(Run.id).filter(is_trial), func.count(Run.id).filter(is_trial, active),
                   func.count(Run.id).filter(active), func.count(Run.id).filter(is_repeat))
            .outerjoin(Run, Run.sweep_id == Sweep.id).where(Sweep.state == SweepState.running).group_by(Sweep.id)
        ).all()  # fmt: skip
    stalled = [
        sweep_id for sweep_id, spec, created, trials_in_flight, in_flight, repeats in rows
        if in_flight == 0 or min(spec["parallel"] - in_flight, (spec["trials"] or 0) - created) > 0
        or (created >= (spec["trials"] or 0) and trials_in_flight == 0 and in_flight < spec["parallel"]
            and repeats < _repeats_planned(spec))
    ]  # fmt: skip
    for sweep_id in stalled:
        advance_sweep(uow=uow, sweep_id=sweep_id)
    return stalled


# --- helpers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Trial:
    read: TrialRead
    status: RunStatus
    config: dict[str, Any]


_STORAGES: dict[tuple[str, int], optuna.storages.BaseStorage] = {}


def _storage(settings: Settings) -> optuna.storages.BaseStorage:
    """Optuna's storage for this database, one per process (a forked child makes its own)."""
    key = (settings.database_url, os.getpid())
    if key not in _STORAGES:
        _STORAGES[key] = sweep_storage(settings.database_url)
    return _STORAGES[key]


def _base_config(
    db: Session, settings: Settings, principal: Principal, spec: SweepSpec, downloads: DownloadProbe
) -> TrainConfig:
    """The base config as a run would get it (server limits, `run:<id>` weights of the caller),
    errors located under `body.base`."""
    try:
        return build_config(
            db=db, settings=settings, principal=principal, config=spec.base.config, preset=spec.base.preset,
            overrides=spec.base.overrides, downloads=downloads,
        )  # fmt: skip
    except InvalidInput as exc:
        raise InvalidInput([FieldError(("body", "base", *e.loc[1:]), e.msg, e.type) for e in exc.errors]) from None


def _queue_trials(
    uow: UnitOfWork, db: Session, sweep: Sweep, study: optuna.Study, owner: Principal, *, count: int
) -> None:
    """Ask Optuna for `count` trials and queue each as a run (inside the caller's write).

    A drawn combination that makes no valid config (each dimension alone was checked) is
    kept as a failed run with the reason, and told to Optuna as failed.
    """
    spec, base = SweepSpec.model_validate(sweep.spec), TrainConfig.model_validate(sweep.base_config)
    asked: list[tuple[int, dict[str, Any], TrainConfig]] = []
    try:
        for _ in range(count):
            trial = study.ask()
            params = trial_params(trial, spec.space)
            name = f"{sweep.name or f'sweep {sweep.id}'} · trial {trial.number}"[:200]
            try:
                config = apply(base, overrides_for(params, spec.space)).model_copy(update={"name": name})
            except (ValidationError, InvalidOverride, InvalidSweep) as exc:
                tell(study, trial.number, state=TrialState.FAIL)
                db.add(_failed_trial(sweep, trial.number, params, base, name, f"not a valid config: {exc}"))
                continue
            asked.append((trial.number, params, config))
        queued = runs._insert_and_enqueue(
            uow, db, principal=owner, configs=[c for _, _, c in asked], queue=sweep.queue, cloned_from=None
        )
    except BaseException:
        for number, _, _ in asked:
            tell(study, number, state=TrialState.FAIL)
        raise
    for read, (number, params, _) in zip(queued, asked, strict=True):
        run = db.get(Run, read.id)  # the row just inserted, from the session
        assert run is not None
        run.sweep_id, run.trial_number, run.trial_params = sweep.id, number, params


def _failed_trial(
    sweep: Sweep, number: int, params: dict[str, Any], base: TrainConfig, name: str, error: str
) -> Run:
    return Run(
        name=name, status=RunStatus.failed, queue=sweep.queue, config=base.model_dump(mode="json"),
        dataset=base.dataset.name, backbone=base.backbone, epochs=base.epochs, owner_id=sweep.owner_id,
        sweep_id=sweep.id, trial_number=number, trial_params=params, error=error[:2000], finished_at=utcnow(),
    )  # fmt: skip


def _tell_ended(study: optuna.Study, trials: Sequence[_Trial]) -> None:
    """Tell Optuna the result of every ended trial it still thinks is running."""
    running = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    for trial in trials:
        number = trial.read.number
        if number not in running or trial.status in ACTIVE:
            continue
        if trial.status == RunStatus.succeeded and trial.read.value is not None:
            tell(study, number, value=trial.read.value)
        elif trial.status == RunStatus.pruned:
            tell(study, number, state=TrialState.PRUNED)
        else:
            tell(study, number, state=TrialState.FAIL)


def _trials_of(db: Session, sweep_ids: list[int]) -> dict[int, list[_Trial]]:
    """The trials of these sweeps with their values (the objective at each run's best epoch)."""
    if not sweep_ids:
        return {}
    rows = db.scalars(
        select(Run).where(Run.sweep_id.in_(sweep_ids), Run.trial_number.is_not(None))
        .order_by(Run.sweep_id, Run.trial_number)
    ).all()  # fmt: skip
    objectives = {
        sweep_id: spec["objective"] for sweep_id, spec in db.execute(select(Sweep.id, Sweep.spec).where(Sweep.id.in_(sweep_ids)))
    }
    values = _values(db, rows, objectives)
    out: dict[int, list[_Trial]] = {}
    for run in rows:
        assert run.sweep_id is not None
        value = values[run.id]
        summary = RunSummary.model_validate(run.summary) if run.summary else None
        read = TrialRead(
            number=run.trial_number or 0, state=TRIAL_STATE[RunStatus(run.status)], params=run.trial_params or {},
            value=value, run_id=run.id, epochs_done=run.epochs_done,
            pruned_epoch=summary.pruned_epoch if summary else None, error=run.error,
        )  # fmt: skip
        out.setdefault(run.sweep_id, []).append(_Trial(read, RunStatus(run.status), run.config))
    return out


def _values(db: Session, rows: Sequence[Run], objectives: dict[int, str]) -> dict[int, float | None]:
    """Each run's objective at its best epoch: its best val accuracy, or its lowest val loss."""
    losses: dict[int, float | None] = {
        run_id: loss for run_id, loss in db.execute(
            select(EpochMetric.run_id, func.min(EpochMetric.val_loss))
            .where(EpochMetric.run_id.in_([r.id for r in rows])).group_by(EpochMetric.run_id)
        )
    } if rows else {}  # fmt: skip
    return {
        run.id: run.best_val_acc if objectives[run.sweep_id or 0] == "val_acc" else losses.get(run.id) for run in rows
    }


# --- repeat_best: the best configurations again, with other seeds --------------------------


def _repeats_planned(spec: dict[str, Any]) -> int:
    repeat = spec.get("repeat_best")
    return 0 if not repeat else repeat["top"] * repeat["seeds"]


def _repeat_plan(trials: Sequence[_Trial], spec: SweepSpec) -> list[tuple[_Trial, int]]:
    """(trial, seed) for each repeat: the `top` best complete trials with distinct parameters,
    each with seeds trial seed + 1 … + `seeds` (never the seed that made it win)."""
    if spec.repeat_best is None:
        return []
    sign = 1 if DIRECTIONS[spec.objective] == "maximize" else -1
    complete = [t for t in trials if t.status == RunStatus.succeeded and t.read.value is not None]
    ranked = sorted(complete, key=lambda t: (-sign * (t.read.value or 0.0), t.read.number))
    chosen: list[_Trial] = []
    for trial in ranked:
        if len(chosen) < spec.repeat_best.top and all(trial.read.params != c.read.params for c in chosen):
            chosen.append(trial)
    return [
        (trial, int(trial.config.get("seed", 0)) + k) for trial in chosen for k in range(1, spec.repeat_best.seeds + 1)
    ]


def _queue_repeats(uow: UnitOfWork, db: Session, sweep: Sweep, owner: Principal, *, room: int) -> int:
    """Queue up to `room` repeats not queued yet (inside the caller's write); how many were queued.

    A repeat is a run of the sweep with no trial number, cloned from the trial it repeats.
    """
    spec = SweepSpec.model_validate(sweep.spec)
    done = {(run.cloned_from, run.config.get("seed")) for run in _repeat_runs(db, sweep.id)}
    plan = [(t, seed) for t, seed in _repeat_plan(_trials_of(db, [sweep.id]).get(sweep.id, []), spec)
            if (t.read.run_id, seed) not in done][:room]  # fmt: skip
    if not plan:
        return 0
    label = sweep.name or f"sweep {sweep.id}"
    configs = [
        TrainConfig.model_validate(t.config).model_copy(
            update={"seed": seed, "name": f"{label} · trial {t.read.number} · seed {seed}"[:200]}
        )
        for t, seed in plan
    ]
    queued = runs._insert_and_enqueue(uow, db, principal=owner, configs=configs, queue=sweep.queue, cloned_from=None)
    for read, (trial, _) in zip(queued, plan, strict=True):
        run = db.get(Run, read.id)
        assert run is not None
        run.sweep_id, run.cloned_from, run.trial_params = sweep.id, trial.read.run_id, trial.read.params
    return len(queued)


def _repeat_runs(db: Session, sweep_id: int) -> Sequence[Run]:
    return db.scalars(select(Run).where(Run.sweep_id == sweep_id, Run.trial_number.is_(None)).order_by(Run.id)).all()


def _repeats_read(db: Session, sweep: Sweep, trials: Sequence[_Trial]) -> list[RepeatRead]:
    """The repeats grouped by the trial they repeat, best trial first, with mean ± std."""
    rows = _repeat_runs(db, sweep.id)
    if not rows:
        return []
    values = _values(db, rows, {sweep.id: sweep.spec["objective"]})
    by_run = {t.read.run_id: t for t in trials}
    out: list[RepeatRead] = []
    for source in dict.fromkeys(run.cloned_from for run in rows):
        group = [run for run in rows if run.cloned_from == source]
        trial = by_run.get(source or 0)
        scores = [v for run in group if run.status == RunStatus.succeeded and (v := values[run.id]) is not None]
        tests = [
            float(t) for run in group if run.status == RunStatus.succeeded and run.summary
            and (t := run.summary.get("test_acc_at_best_val")) is not None
        ]  # fmt: skip
        out.append(RepeatRead(
            trial_number=trial.read.number if trial else -1, params=group[0].trial_params or {},
            seeds=[int(run.config.get("seed", 0)) for run in group], runs=[run.id for run in group],
            states=[TRIAL_STATE[RunStatus(run.status)] for run in group],
            mean=_mean(scores), std=_std(scores), test_acc_mean=_mean(tests), test_acc_std=_std(tests),
        ))  # fmt: skip
    return out


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _std(values: list[float]) -> float | None:
    return statistics.stdev(values) if len(values) > 1 else None


def _summary(sweep: Sweep, trials: Sequence[_Trial]) -> SweepSummary:
    spec = SweepSpec.model_validate(sweep.spec)
    counts: dict[str, int] = {}
    for trial in trials:
        counts[trial.read.state] = counts.get(trial.read.state, 0) + 1
    best = _best(trials, spec.objective)
    return SweepSummary(
        id=sweep.id, name=sweep.name, state=sweep.state, sampler=spec.sampler, pruner=spec.pruner,
        objective=spec.objective, planned_trials=spec.trials or 0, parallel=spec.parallel, queue=sweep.queue,
        trial_counts=counts,
        best_value=None if best is None else best.read.value,
        owner_name=None if sweep.owner is None else sweep.owner.name, created_at=sweep.created_at,
        finished_at=sweep.finished_at,
    )  # fmt: skip


def _best(trials: Sequence[_Trial], objective: str) -> _Trial | None:
    """The complete trial with the best value (highest accuracy, lowest loss)."""
    complete = [t for t in trials if t.status == RunStatus.succeeded and t.read.value is not None]
    if not complete:
        return None
    sign = 1 if DIRECTIONS[objective] == "maximize" else -1
    return max(complete, key=lambda t: (sign * (t.read.value or 0.0), -t.read.number))


def _counts(db: Session, sweep_id: int) -> tuple[int, int, int]:
    """(trials created, trials queued or running, runs queued or running: trials and repeats) of a sweep."""
    is_trial, active = Run.trial_number.is_not(None), Run.status.in_(ACTIVE)
    created, active_trials, in_flight = db.execute(
        select(func.count(Run.id).filter(is_trial), func.count(Run.id).filter(is_trial, active),
               func.count(Run.id).filter(active)).where(Run.sweep_id == sweep_id)
    ).one()  # fmt: skip
    return created, active_trials, in_flight


def _owner(db: Session, sweep: Sweep) -> Principal | None:
    """Who the sweep's next trials belong to (its owner; None once the owner was deleted)."""
    user = None if sweep.owner_id is None else db.get(User, sweep.owner_id)
    if user is None:
        return None
    return Principal(user_id=user.id, name=user.name, is_admin=user.is_admin, via="local")


def _get(db: Session, sweep_id: int, *, principal: Principal, lock: bool = False) -> Sweep:
    """Sweep `sweep_id` if `principal` may see it (SweepNotFound otherwise, also for another user's)."""
    sweep = db.get(Sweep, sweep_id, with_for_update=lock) if 0 < sweep_id <= MAX_ID else None
    if sweep is None or (not principal.is_admin and sweep.owner_id != principal.user_id):
        raise SweepNotFound(sweep_id)
    return sweep
