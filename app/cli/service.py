"""Service commands (`serve`, `worker`, `db`): filled in by the service work."""

from __future__ import annotations

import typer


def register(cli: typer.Typer) -> None:
    """Add the service commands to `cli`."""
