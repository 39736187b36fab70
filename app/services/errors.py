"""Domain errors of the service. `app.main` maps each to one HTTP status, in one place."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class ServiceError(Exception):
    """Base class; the message is shown to the user as is."""


class RunNotFound(ServiceError):
    """No run has this id (404)."""

    def __init__(self, run_id: int) -> None:
        super().__init__(f"run {run_id} not found")
        self.run_id = run_id


class EvaluationNotFound(ServiceError):
    """No evaluation has this id, or not one of the caller's runs (404)."""

    def __init__(self, evaluation_id: int) -> None:
        super().__init__(f"evaluation {evaluation_id} not found")
        self.evaluation_id = evaluation_id


class UserNotFound(ServiceError):
    """No such user or token, or not one the caller may see (404)."""


class LoginRefused(ServiceError):
    """Wrong user name or password, or no valid credentials (401)."""


class Forbidden(ServiceError):
    """The caller is known but may not do this, e.g. an admin-only action (403)."""


class TooManyAttempts(ServiceError):
    """Too many failed logins (429); `retry_after_s` is how long to wait at most."""

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class QuotaExceeded(ServiceError):
    """The user has as many active runs as allowed (429)."""


class ArtifactNotFound(ServiceError):
    """The run exists but has no such file (404)."""


class LrFindNotFound(ServiceError):
    """No LR range test has this id, or not one the caller may see (404)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"LR range test {job_id} not found")


class StudyNotFound(ServiceError):
    """No run the caller sees belongs to a saved study of this name (404)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"study {name!r} not found")


class DatasetNotFound(ServiceError):
    """No dataset of this name on the server (404)."""


class DatasetInUse(ServiceError):
    """Queued or running runs train on the dataset, so it cannot be deleted (409)."""


class RunStateConflict(ServiceError):
    """The run's status forbids the request, e.g. cancelling a finished run (409)."""


class ExportFailed(ServiceError):
    """An export did not pass its check against PyTorch's outputs; nothing is offered (500)."""


class BrokerUnavailable(ServiceError):
    """The job queue cannot be reached; nothing was queued (503)."""


class InsufficientStorage(ServiceError):
    """The data volume is under the free-space threshold: no new runs (507)."""


@dataclass(frozen=True)
class FieldError:
    """One invalid input: where it is (`loc`, as in FastAPI's errors) and why."""

    loc: tuple[str | int, ...]
    msg: str
    type: str = "value_error"


class InvalidInput(ServiceError):
    """The request is well-formed JSON but its values do not fit (422)."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, e.loc))}: {e.msg}" for e in errors))
        self.errors = list(errors)

    @classmethod
    def at(cls, loc: tuple[str | int, ...], msg: str) -> InvalidInput:
        return cls([FieldError(loc, msg)])


class UploadTooLarge(InvalidInput):
    """An upload passes a size, count or compression-ratio limit (413)."""


class DatasetNameTaken(InvalidInput):
    """A dataset of this name exists already (409)."""


class SweepNotFound(ServiceError):
    """No sweep has this id, or not one the caller may see (404)."""

    def __init__(self, sweep_id: int) -> None:
        super().__init__(f"sweep {sweep_id} not found")
        self.sweep_id = sweep_id


class SweepStateConflict(ServiceError):
    """The sweep's state forbids the request, e.g. cancelling a finished sweep (409)."""
