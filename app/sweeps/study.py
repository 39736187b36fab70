"""A `SweepSpec` as an Optuna study: its sampler, its pruner, and a trial's per-epoch reports.

Optuna's steps are epochs trained (1 after the first epoch), so a pruner's resources and
warm-up read as epochs. Pruners wait until every stage that the base config unfreezes late
has trained for an epoch: before that a trial is a different, smaller network, and
comparing it with the others would prune it for a schedule, not for its learning rates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import optuna
from optuna.pruners import BasePruner
from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage
from optuna.trial import BaseTrial, TrialState

from app.schemas.metrics import EpochRecord, EpochVerdict
from app.schemas.sweeps import SweepSpec
from app.schemas.train_config import TrainConfig
from app.sweeps.space import grid_search_space

DIRECTIONS = {"val_acc": "maximize", "val_loss": "minimize"}


def make_sampler(spec: SweepSpec) -> BaseSampler:
    """Optuna's grid, random or TPE sampler, seeded with `spec.seed` (the same spec samples the same trials)."""
    if spec.sampler == "grid":
        return optuna.samplers.GridSampler(grid_search_space(spec.space), seed=spec.seed)
    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=spec.seed)
    return optuna.samplers.TPESampler(seed=spec.seed)


def first_full_epoch(base: TrainConfig) -> int:
    """Epochs trained (Optuna's step) once every stage the base unfreezes late has trained one epoch."""
    return 1 + max((base.stage(name).unfreeze_epoch for name in base.stage_names), default=0)


def make_pruner(spec: SweepSpec, base: TrainConfig) -> BasePruner:
    """Optuna's pruner named by `spec.pruner`, stepped per epoch, silent before `first_full_epoch`."""
    warmup = first_full_epoch(base)
    if spec.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=warmup)
    if spec.pruner == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=warmup)
    if spec.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=warmup, max_resource=max(base.epochs, warmup))
    return optuna.pruners.NopPruner()


def create_study(
    spec: SweepSpec, base: TrainConfig, *, storage: str | BaseStorage | None, study_name: str | None
) -> optuna.Study:
    """The sweep's study (loaded when `study_name` exists in `storage` already).

    `storage`: None keeps it in memory; for the product's database use `app.sweeps.storage.sweep_storage`.
    """
    return optuna.create_study(
        storage=storage, study_name=study_name, direction=DIRECTIONS[spec.objective],
        sampler=make_sampler(spec), pruner=make_pruner(spec, base), load_if_exists=study_name is not None,
    )  # fmt: skip


def objective_value(record: EpochRecord, objective: str) -> float | None:
    """An epoch's objective (None when the epoch has no validation numbers)."""
    return record.val_acc if objective == "val_acc" else record.val_loss


def trial_value(records: Sequence[EpochRecord], objective: str) -> float | None:
    """A finished trial's value: the best epoch's objective (highest accuracy, lowest loss)."""
    values = [v for v in (objective_value(r, objective) for r in records) if v is not None]
    if not values:
        return None
    return max(values) if objective == "val_acc" else min(values)


def report_epoch(
    trial: BaseTrial, record: EpochRecord, objective: str, *, epochs: int | None = None
) -> EpochVerdict | None:
    """Report an epoch's objective to `trial` and pass on its pruner's answer.

    The step is the number of epochs trained, so a resumed run that reports an epoch again
    reports the same step (Optuna keeps the first value). After the trial's last epoch
    (`epochs`) the pruner is not asked: the run is complete, and pruning it then would only
    mislabel finished work (successive halving's rung at epochs = min_resource × 4 did so).
    """
    value = objective_value(record, objective)
    if value is None:
        return None
    trial.report(value, step=record.epoch + 1)
    if epochs is not None and record.epoch + 1 >= epochs:
        return None
    return EpochVerdict.PRUNE if trial.should_prune() else None


def pruning_callback(
    trial: BaseTrial, objective: str, *, epochs: int | None = None
) -> Callable[[EpochRecord], EpochVerdict | None]:
    """An `on_epoch` for `fit` that reports to `trial` and stops the run when its pruner says so."""
    return lambda record: report_epoch(trial, record, objective, epochs=epochs)


def live_trial(study: optuna.Study, number: int) -> optuna.Trial:
    """The running trial `number` of `study`, to report to from another process than the one that asked it.

    Optuna's `Trial` is made from a trial id; the storage maps (study, number) to it.
    """
    trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
    return optuna.Trial(study, trial_id)


def tell(study: optuna.Study, number: int, *, value: float | None = None, state: TrialState | None = None) -> None:
    """Tell `study` how trial `number` ended (a value, or PRUNED / FAIL); a trial told already is left as it is.

    Optuna's `GridSampler` calls `study.stop()` after the last grid point is told, which
    outside `study.optimize` raises RuntimeError — after the trial's state was stored (its
    `tell` stores in a `finally`). The sweep service stops asking by its own budget, so that
    error is dropped here. `skip_if_finished` reads the state before it writes, so two
    processes telling one trial at once (a worker as its trial ends, the API's stalled-sweep
    check) can both pass the check: the second write's UpdateFinishedTrialError means it was
    told, and is dropped too.
    """
    try:
        study.tell(number, value, state=state, skip_if_finished=True)
    except optuna.exceptions.UpdateFinishedTrialError:
        return
    except RuntimeError as exc:
        if "Study.stop" not in str(exc):
            raise
