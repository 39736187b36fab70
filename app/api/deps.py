"""Per-request dependencies: a database session, the settings, the Celery app, the caller.

They come from `app.state`, filled by `create_app`, so nothing here is global and a
test can build an app against any database and broker.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from celery import Celery
from fastapi import Depends, Path, Request
from sqlalchemy.orm import Session

from app.schemas.accounts import Principal
from app.schemas.runs import MAX_ID
from app.services.errors import Forbidden, LoginRefused
from app.settings import Settings


def get_db(request: Request) -> Iterator[Session]:
    """A session for this request; services commit, anything left open is rolled back."""
    with request.app.state.database.sessions() as session:
        yield session


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_celery(request: Request) -> Celery:
    return request.app.state.celery


SessionDep = Annotated[Session, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
CeleryDep = Annotated[Celery, Depends(get_celery)]


def get_principal(request: Request) -> Principal:
    """Who is asking, as `app.api.guard.AuthGate` established it."""
    principal = getattr(request.state, "principal", None)
    if principal is None:  # only on the public paths, which do not ask for it
        raise LoginRefused("authentication required")
    return principal


def get_admin(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if not principal.is_admin:
        raise Forbidden("only an admin may do this")
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="a numeric id")]
AdminDep = Annotated[Principal, Depends(get_admin)]
