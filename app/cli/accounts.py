"""`stagewise users …` and `stagewise tokens …`: accounts from the server's command line."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from app.cli.local_db import unit_of_work

users_cli = typer.Typer(no_args_is_help=True, help="User accounts (for the dashboard and the API).")
tokens_cli = typer.Typer(no_args_is_help=True, help="API tokens (Authorization: Bearer …).")


def _run(action: Callable[[], Any]) -> Any:
    """Run a service call; its errors become a one-line message and exit code 2."""
    from app.services.errors import ServiceError

    try:
        return action()
    except ServiceError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return typer.prompt("Password (10+ characters)", hide_input=True, confirmation_prompt=True)


@users_cli.command("create")
def create_user(
    name: Annotated[str, typer.Argument(help="lowercase letters, digits, _ . -")],
    admin: Annotated[bool, typer.Option("--admin", help="may see and cancel everyone's runs")] = False,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read the password from stdin")] = False,
) -> None:
    """Create a user who logs in with a password (asked twice, never echoed)."""
    from app.services import accounts

    password = _password(password_stdin)
    with unit_of_work() as uow:
        user = _run(lambda: accounts.create_user(uow=uow, name=name, password=password, admin=admin))
    typer.echo(f"created {'admin' if user.is_admin else 'user'} {user.name}")


@users_cli.command("password")
def set_password(
    name: str,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read the password from stdin")] = False,
) -> None:
    """Set a user's password; their dashboard sessions end."""
    from app.services import accounts

    password = _password(password_stdin)
    with unit_of_work() as uow:
        _run(lambda: accounts.set_password(uow=uow, name=name, password=password))
    typer.echo(f"password of {name} changed")


@users_cli.command("disable")
def disable(name: str, enable: Annotated[bool, typer.Option("--enable", help="enable again")] = False) -> None:
    """Disable a user: no login, no tokens; their runs stay."""
    from app.services import accounts

    with unit_of_work() as uow:
        _run(lambda: accounts.set_disabled(uow=uow, name=name, disabled=not enable))
    typer.echo(f"{name} {'enabled' if enable else 'disabled'}")


@users_cli.command("list")
def list_users() -> None:
    """Every user."""
    from app.services import accounts

    with unit_of_work() as uow:
        for user in accounts.list_users(uow=uow):
            flags = ", ".join(f for f, on in (("admin", user.is_admin), ("disabled", user.disabled)) if on)
            typer.echo(f"{user.name}{f'  ({flags})' if flags else ''}")


@tokens_cli.command("create")
def create_token(
    user: Annotated[str, typer.Argument(help="the user the token acts as")],
    name: Annotated[str, typer.Option(help="what the token is for")] = "cli",
) -> None:
    """Create an API token; it is printed once, here, and stored only as a hash."""
    from app.services import accounts

    with unit_of_work() as uow:
        created = _run(lambda: accounts.create_token_for(uow=uow, user_name=user, name=name))
    typer.echo(f"token {created.id} ({created.name}) for {user} — shown once, keep it secret:", err=True)
    typer.echo(created.token)


@tokens_cli.command("list")
def list_tokens(user: str) -> None:
    """A user's tokens: id, name, first characters, state."""
    from app.schemas.accounts import Principal
    from app.services import accounts

    with unit_of_work() as uow:
        user_id = _run(lambda: accounts.user_id(uow=uow, name=user))
        owner = Principal(user_id=user_id, name=user, is_admin=False, via="local")
        for token in accounts.list_tokens(uow=uow, principal=owner):
            state = f"revoked {token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else "active"
            typer.echo(f"{token.id}\t{token.name}\t{token.prefix}…\t{state}")


@tokens_cli.command("revoke")
def revoke_token(token_id: int) -> None:
    """Revoke a token by id; it stops working at once."""
    from app.schemas.accounts import Principal
    from app.services import accounts

    operator = Principal(user_id=0, name="cli", is_admin=True, via="local")  # the server's shell is trusted
    with unit_of_work() as uow:
        _run(lambda: accounts.revoke_token(uow=uow, principal=operator, token_id=token_id))
    typer.echo(f"token {token_id} revoked")


def register(cli: typer.Typer) -> None:
    cli.add_typer(users_cli, name="users")
    cli.add_typer(tokens_cli, name="tokens")
