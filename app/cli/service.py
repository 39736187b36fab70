"""Service commands: `serve` (API + dashboard + one local worker), `worker`, `db upgrade|downgrade`."""

from __future__ import annotations

import importlib
import logging
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from app.settings import Settings, child_environment, get_settings, is_loopback, pin_gpu

WORKER_STOP_GRACE_S = 15


def serve(
    host: Annotated[str | None, typer.Option(help="address to listen on (default: STAGEWISE_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default: STAGEWISE_PORT)")] = None,
    worker: Annotated[bool, typer.Option("--worker/--no-worker", help="also start one local worker")] = True,
) -> None:
    """Migrate the database, start one local worker and serve the API and dashboard."""
    import uvicorn

    from app.db.migrations import upgrade
    from app.main import create_app

    settings = get_settings().model_copy(update={k: v for k, v in (("host", host), ("port", port)) if v is not None})
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    upgrade(settings.database_url)
    problem = _accounts_problem(settings)
    if problem:
        typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(2)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    child = None
    try:
        child = _start_worker(settings) if worker else None
        typer.echo(f"Stagewise is running at http://{_display_host(settings.host)}:{settings.port}/  (Ctrl-C stops)")
        typer.echo("accounts: log in at /login" if settings.accounts_required else "no login: this machine only")
        # The app reads X-Forwarded-* itself, from STAGEWISE_FORWARDED_ALLOW_IPS only (`create_app`).
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info", proxy_headers=False)
    finally:
        if child is not None:
            _stop_worker(child)
    typer.echo("Stagewise stopped.")


def _exit_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM (docker stop, systemd, kill) ends `serve` as Ctrl-C does: through its `finally`.

    uvicorn shuts down on SIGTERM, restores this handler and raises the signal again; with
    the default action the process would die there and leave its worker running.
    """
    raise SystemExit(128 + signum)


def _accounts_problem(settings: Settings) -> str | None:
    """Why the server must not start as configured, or None.

    Without accounts anyone who reaches the port could run code on the GPUs (CVE-class:
    Ray's unauthenticated Jobs API), so only loopback may be served without them.
    """
    from app.services import accounts
    from app.services.errors import InvalidInput
    from app.services.unit_of_work import UnitOfWork

    if settings.auth == "none" and not is_loopback(settings.host):
        return (f"STAGEWISE_AUTH=none serves this machine only, not {settings.host}: create an admin "
                "(`stagewise users create NAME --admin`) and set STAGEWISE_AUTH=accounts, or listen on 127.0.0.1")
    if not settings.accounts_required:
        return None
    with UnitOfWork.standalone(settings) as uow:
        password = settings.admin_password.get_secret_value() if settings.admin_password else ""
        if settings.admin_user and password:
            try:
                if accounts.ensure_admin(uow=uow, name=settings.admin_user, password=password):
                    typer.echo(f"created admin {settings.admin_user} (STAGEWISE_ADMIN_USER)")
            except InvalidInput as exc:
                return f"STAGEWISE_ADMIN_USER / STAGEWISE_ADMIN_PASSWORD: {exc}"
        if accounts.has_login_accounts(uow=uow):
            return None
    return (f"listening on {settings.host} needs accounts and none exists yet: create an admin with "
            "`stagewise users create NAME --admin` (or set STAGEWISE_ADMIN_USER and STAGEWISE_ADMIN_PASSWORD)")


def _display_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::") else host


def _start_worker(settings: Settings) -> subprocess.Popen[bytes]:
    # Its own session: the terminal's Ctrl-C reaches only `serve`, which then stops the
    # worker itself, in order, after the web server.
    command = [*_stagewise_command(), "worker", "--queue", settings.default_queue]
    return subprocess.Popen(command, env=child_environment(settings), start_new_session=True)


def _stagewise_command() -> list[str]:
    script = Path(sys.executable).with_name("stagewise")
    return [str(script)] if script.is_file() else [sys.executable, "-c", "from app.cli import main; main()"]


def _stop_worker(child: subprocess.Popen[bytes]) -> None:
    """Cold-stop the worker: a run in progress is interrupted and resumes from its
    last checkpoint the next time a worker starts (training jobs are too long to wait for)."""
    if child.poll() is not None:
        return
    child.send_signal(signal.SIGQUIT)
    try:
        child.wait(timeout=WORKER_STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()


def worker(
    queue: Annotated[list[str] | None, typer.Option("--queue", "-Q", help="queue to take runs from (repeatable)")] = None,
    gpu: Annotated[int | None, typer.Option(help="GPU index this worker uses (sets CUDA_VISIBLE_DEVICES)")] = None,
    pool: Annotated[str, typer.Option(help="prefork (a fresh process per run) or solo")] = "prefork",
) -> None:
    """Run one worker process: one run at a time, on one GPU (or the CPU)."""
    from app.db import Database
    from app.queue import TaskQueue, make_celery
    from worker.heartbeat import WorkerBeat

    if gpu is not None:
        pin_gpu(gpu)  # before anything can initialise CUDA
    settings = get_settings()
    queues = queue or [settings.default_queue]
    unknown = [name for name in queues if name not in settings.queues]
    if unknown:
        typer.echo(f"note: queue {unknown[0]!r} is not in STAGEWISE_QUEUES {settings.queues}; no run can target it")
    celery = make_celery(settings)
    name = f"{'gpu' + str(gpu) if gpu is not None else 'worker'}-{os.getpid()}@{socket.gethostname()}"
    beat = WorkerBeat(
        settings=settings, database=Database.connect(settings.database_url), tasks=TaskQueue(celery, settings), name=name,
        host=socket.gethostname(), pid=os.getpid(), queues=queues, gpu=None if gpu is None else f"cuda:{gpu}",
    )  # fmt: skip
    # Load torch and the training core once here, so that each run's forked child
    # starts at once (CUDA is not initialised by importing, so forking stays safe).
    importlib.import_module("worker.training.loop")

    beat.start()
    try:
        celery.worker_main(_worker_argv(name, queues, pool))
    finally:
        beat.stop()


def _worker_argv(name: str, queues: list[str], pool: str) -> list[str]:
    argv = ["worker", f"--hostname={name}", f"--queues={','.join(queues)}", f"--pool={pool}", "--concurrency=1"]
    if pool == "prefork":
        # A fresh child per run: GPU memory and any leak go away with it.
        argv.append("--max-tasks-per-child=1")
    # Gossip, mingle and events need broadcast, which the embedded broker lacks; the
    # `workers` table does their job here.
    return [*argv, "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=INFO"]


db_cli = typer.Typer(no_args_is_help=True, help="Database schema migrations.")


@db_cli.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="target revision")] = "head") -> None:
    """Apply migrations up to `revision` (default: the newest)."""
    from app.db.migrations import upgrade

    upgrade(get_settings().database_url, revision)
    typer.echo(f"database at {revision}")


@db_cli.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="target revision, e.g. base")]) -> None:
    """Revert migrations down to `revision`."""
    from app.db.migrations import downgrade

    downgrade(get_settings().database_url, revision)
    typer.echo(f"database at {revision}")


def register(cli: typer.Typer) -> None:
    """Add the service commands to `cli`."""
    cli.command()(serve)
    cli.command()(worker)
    cli.add_typer(db_cli, name="db")
