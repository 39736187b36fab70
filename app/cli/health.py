"""`stagewise worker-alive`: the health check of a worker container (docker compose).

A worker is healthy when its heartbeat reached the database within
STAGEWISE_HEARTBEAT_TIMEOUT_S; that one row shows that the process, its heartbeat thread
and the database all work, which a `celery inspect ping` through the broker would not.
"""

from __future__ import annotations

import socket
from typing import Annotated

import typer

from app.settings import get_settings


def worker_alive(
    host: Annotated[str | None, typer.Option(help="the worker's host name (default: this machine's)")] = None,
) -> None:
    """Exit 0 when a worker on this host has beaten recently, else 1 (saying what was seen)."""
    from app.db import Database
    from app.services.workers import live_workers

    settings = get_settings()
    host = host or socket.gethostname()
    database = Database.connect(settings.database_url)
    try:
        with database.sessions() as db:
            here = [w for w in live_workers(db=db, settings=settings) if w.host == host]
    finally:
        database.dispose()
    if not here:
        typer.echo(f"no worker on {host} has beaten within {settings.heartbeat_timeout_s:g} s", err=True)
        raise typer.Exit(1)
    typer.echo(", ".join(f"{w.name} (last seen {w.last_seen:%H:%M:%S})" for w in here))


def register(cli: typer.Typer) -> None:
    """Add the health-check command to `cli`."""
    cli.command("worker-alive")(worker_alive)
