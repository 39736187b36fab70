"""The LR per stage per epoch of a config, before it runs (the trainer's own `make_plan`)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.schemas.accounts import Principal
from app.schemas.plan import Plan
from app.schemas.runs import RunCreate
from app.services.configs import build_config
from app.services.errors import InvalidInput
from app.settings import Settings


def preview_plan(*, db: Session, settings: Settings, principal: Principal, request: RunCreate) -> Plan:
    """Validate the request like a submit would and return its plan; nothing is stored.

    Raises:
        InvalidInput: the config is invalid, or its dataset folder is missing.
    """
    # torch is imported on first use, not when the API starts.
    from worker.training.datasets import num_classes_for
    from worker.training.errors import TrainingError
    from worker.training.plan import make_plan

    config = build_config(
        db=db, settings=settings, principal=principal, config=request.config, preset=request.preset,
        overrides=request.overrides, name=request.name,
    )  # fmt: skip
    try:
        num_classes = num_classes_for(config.dataset, settings.data_dir)
    except TrainingError as exc:
        raise InvalidInput.at(("body", "config", "dataset"), str(exc)) from exc
    return make_plan(config, num_classes)
