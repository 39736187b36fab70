"""The one mapping from service errors to HTTP statuses, used by the API's handlers and the pages."""

from __future__ import annotations

from app.services.errors import (
    ArtifactNotFound,
    BrokerUnavailable,
    DatasetInUse,
    DatasetNameTaken,
    DatasetNotFound,
    EvaluationNotFound,
    ExportFailed,
    Forbidden,
    InsufficientStorage,
    InvalidInput,
    LoginRefused,
    LrFindNotFound,
    QuotaExceeded,
    RunNotFound,
    RunStateConflict,
    ServiceError,
    StudyNotFound,
    SweepNotFound,
    SweepStateConflict,
    TooManyAttempts,
    UploadTooLarge,
    UserNotFound,
)

# The first match wins, so subclasses first.
STATUS_OF: dict[type[ServiceError], int] = {
    RunNotFound: 404,
    EvaluationNotFound: 404,
    SweepNotFound: 404,
    ArtifactNotFound: 404,
    LrFindNotFound: 404,
    StudyNotFound: 404,
    DatasetNotFound: 404,
    UserNotFound: 404,
    LoginRefused: 401,
    Forbidden: 403,
    TooManyAttempts: 429,
    QuotaExceeded: 429,
    RunStateConflict: 409,
    SweepStateConflict: 409,
    DatasetNameTaken: 409,
    DatasetInUse: 409,
    UploadTooLarge: 413,
    InvalidInput: 422,
    BrokerUnavailable: 503,
    ExportFailed: 500,
    InsufficientStorage: 507,
}


def status_of(exc: ServiceError) -> int:
    """The HTTP status of a service error (500 for one the table does not know)."""
    return next((code for kind, code in STATUS_OF.items() if isinstance(exc, kind)), 500)
