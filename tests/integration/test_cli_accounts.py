"""`stagewise users …` and `stagewise tokens …` as an admin types them on the server,
against a real database (SQLite and PostgreSQL), in real subprocesses."""

from __future__ import annotations

import subprocess

import pytest
from conftest import STAGEWISE
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import ApiToken, User
from app.services import accounts
from app.services.errors import LoginRefused
from app.services.unit_of_work import UnitOfWork
from app.settings import Settings, child_environment

PASSWORD = "a long enough password"


def stagewise(settings: Settings, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*STAGEWISE, *args], input=stdin, env=child_environment(settings), capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture
def alice(settings: Settings) -> subprocess.CompletedProcess[str]:
    return stagewise(settings, "users", "create", "alice", "--admin", "--password-stdin", stdin=PASSWORD + "\n")


def test_users_create_stores_an_argon2_hash_never_the_password(alice: subprocess.CompletedProcess[str], db: Session) -> None:
    user = db.scalar(select(User).where(User.name == "alice"))
    assert (alice.returncode, user.is_admin, user.password_hash.startswith("$argon2id$")) == (0, True, True)
    assert PASSWORD not in user.password_hash


def test_a_taken_name_exits_2_naming_it(alice: subprocess.CompletedProcess[str], settings: Settings) -> None:
    again = stagewise(settings, "users", "create", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    assert (again.returncode, "user 'alice' exists already" in again.stderr) == (2, True)


def test_a_short_password_is_refused(settings: Settings, db: Session) -> None:
    result = stagewise(settings, "users", "create", "bob", "--password-stdin", stdin="short\n")
    assert (result.returncode, "at least 10 characters" in result.stderr) == (2, True)
    assert db.scalar(select(User).where(User.name == "bob")) is None


def test_tokens_create_prints_the_secret_once_and_stores_its_hash(
    alice: subprocess.CompletedProcess[str], settings: Settings, db: Session, uow: UnitOfWork
) -> None:
    result = stagewise(settings, "tokens", "create", "alice", "--name", "ci")
    secret = result.stdout.strip()
    row = db.scalar(select(ApiToken))
    assert (result.returncode, row.name, row.digest) == (0, "ci", accounts.digest(secret))
    assert accounts.token_principal(uow=uow, secret=secret).name == "alice"


def test_tokens_revoke_stops_the_token(
    alice: subprocess.CompletedProcess[str], settings: Settings, db: Session, uow: UnitOfWork
) -> None:
    secret = stagewise(settings, "tokens", "create", "alice").stdout.strip()
    token_id = db.scalar(select(ApiToken.id))
    assert stagewise(settings, "tokens", "revoke", str(token_id)).returncode == 0
    assert accounts.token_principal(uow=uow, secret=secret) is None


def test_a_disabled_user_cannot_log_in(alice: subprocess.CompletedProcess[str], settings: Settings, uow: UnitOfWork) -> None:
    assert stagewise(settings, "users", "disable", "alice").returncode == 0
    with pytest.raises(LoginRefused):
        accounts.log_in(uow=uow, name="alice", password=PASSWORD, client="127.0.0.1")
