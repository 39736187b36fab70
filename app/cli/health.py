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
    from app.services.unit_of_work import UnitOfWork
    from app.services.workers import live_workers

    settings = get_settings()
    host = host or socket.gethostname()
    with UnitOfWork.standalone(settings) as uow:
        here = [w for w in live_workers(uow=uow) if w.host == host]
    if not here:
        typer.echo(f"no worker on {host} has beaten within {settings.heartbeat_timeout_s:g} s", err=True)
        raise typer.Exit(1)
    typer.echo(", ".join(f"{w.name} (last seen {w.last_seen:%H:%M:%S})" for w in here))


def register(cli: typer.Typer) -> None:
    """Add the health-check command to `cli`."""
    cli.command("worker-alive")(worker_alive)
