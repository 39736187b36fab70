"""The CLI's own unit of work on this machine's database (accounts, runs), migrated first."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from app.settings import get_settings


@contextmanager
def unit_of_work() -> Iterator[Any]:
    """A standalone unit of work on the configured database, brought up to date first."""
    from app.db.migrations import upgrade
    from app.services.unit_of_work import UnitOfWork

    settings = get_settings()
    upgrade(settings.database_url)
    with UnitOfWork.standalone(settings) as uow:
        yield uow
