"""Per-request dependencies: a unit of work, the settings, the caller.

They come from `app.state`, filled by `create_app`, so nothing here is global and a
test can build an app against any database and broker.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Request

from app.schemas.accounts import Principal
from app.schemas.runs import MAX_ID
from app.services.errors import Forbidden, LoginRefused
from app.services.unit_of_work import UnitOfWork
from app.settings import Settings


def get_uow(request: Request) -> Iterator[UnitOfWork]:
    """This request's unit of work: its services open their own read and write blocks."""
    state = request.app.state
    with UnitOfWork.open(state.database, state.settings, state.tasks) as uow:
        yield uow


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


UowDep = Annotated[UnitOfWork, Depends(get_uow)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


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
