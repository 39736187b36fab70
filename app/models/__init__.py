"""ORM tables. Separate from the API schemas in `app.schemas`; services translate."""

from app.models.accounts import ApiToken, LoginAttempt, LoginSession, User
from app.models.artifacts import Artifact
from app.models.base import Base
from app.models.datasets import DatasetFolder
from app.models.evaluations import Evaluation, EvaluationStatus
from app.models.metrics import EpochMetric
from app.models.runs import Run, RunStatus, RunTag
from app.models.sweeps import Sweep, SweepState
from app.models.workers import WorkerSeen

__all__ = [
    "ApiToken", "Artifact", "Base", "DatasetFolder", "EpochMetric", "Evaluation", "EvaluationStatus", "LoginAttempt",
    "LoginSession", "Run", "RunStatus", "RunTag", "Sweep", "SweepState", "User", "WorkerSeen",
]
