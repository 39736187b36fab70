"""The LR per stage per epoch of a config, before it runs (the trainer's own `make_plan`)."""

from __future__ import annotations

from app.schemas.accounts import Principal
from app.schemas.plan import Plan
from app.schemas.runs import RunCreate
from app.services.configs import build_config
from app.services.errors import InvalidInput
from app.services.unit_of_work import UnitOfWork


def preview_plan(*, uow: UnitOfWork, principal: Principal, request: RunCreate) -> Plan:
    """Validate the request like a submit would and return its plan; nothing is stored.

    Raises:
        InvalidInput: the config is invalid, or its dataset folder is missing.
    """
    # torch is imported on first use, not when the API starts (a start-up cost, not a cycle).
    from worker.training.errors import TrainingError
    from worker.training.plan import plan_for

    settings = uow.settings
    with uow.reading() as db:
        config = build_config(
            db=db, settings=settings, principal=principal, config=request.config, preset=request.preset,
            overrides=request.overrides, name=request.name, downloads=None,
        )  # fmt: skip
    try:
        return plan_for(config, settings.data_dir)
    except TrainingError as exc:
        raise InvalidInput.at(("body", "config", "dataset"), str(exc)) from exc
