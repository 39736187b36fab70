"""`stagewise runs rename ID NAME` and `stagewise runs tag ID TAG...`: organise runs from the server's shell."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from app.cli.local_db import unit_of_work

runs_cli = typer.Typer(no_args_is_help=True, help="Organise runs: rename, tag.")


def _update(run_id: int, **fields: Any) -> Any:
    """PATCH a run as the server's operator (the shell is trusted, like `stagewise tokens revoke`);
    invalid input and unknown runs become a one-line message and exit code 2."""
    from pydantic import ValidationError

    from app.schemas.accounts import Principal
    from app.schemas.errors import field_message
    from app.schemas.runs import RunUpdate
    from app.services import organisation
    from app.services.errors import ServiceError

    operator = Principal(user_id=0, name="cli", is_admin=True, via="local")
    try:
        request = RunUpdate(**fields)
        with unit_of_work() as uow:
            return organisation.update_run(uow=uow, principal=operator, run_id=run_id, request=request)
    except ValidationError as exc:
        error = exc.errors()[0]
        typer.echo(f"error: {'.'.join(map(str, error['loc']))}: {field_message(error)}", err=True)
        raise typer.Exit(2) from exc
    except ServiceError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@runs_cli.command("rename")
def rename(run_id: Annotated[int, typer.Argument(help="the run's id")], name: str) -> None:
    """Give a run a new name (1–200 characters)."""
    run = _update(run_id, name=name)
    typer.echo(f"run {run.id} is now named {run.name!r}")


@runs_cli.command("tag")
def tag(
    run_id: Annotated[int, typer.Argument(help="the run's id")],
    tags: Annotated[list[str], typer.Argument(help="letters, digits, - _ . : / +")],
    remove: Annotated[bool, typer.Option("--remove", help="remove these tags instead")] = False,
) -> None:
    """Add tags to a run (or remove them with --remove); prints the run's tags."""
    run = _update(run_id, **({"remove_tags": tags} if remove else {"add_tags": tags}))
    typer.echo(f"run {run.id} tags: {' '.join(run.tags) or '(none)'}")


def register(cli: typer.Typer) -> None:
    cli.add_typer(runs_cli, name="runs")
