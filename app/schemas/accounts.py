"""Who is asking, and the account objects the API shows (never a secret, except once)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

USER_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
LOCAL_USER = "local"  # the one user of the no-login mode


class Principal(BaseModel):
    """The authenticated caller of one request.

    `via` says how: a dashboard login session, an API token, or the no-login mode's local
    user. `csrf_token` is what a state-changing browser request must echo back.
    """

    model_config = ConfigDict(frozen=True)

    user_id: int
    name: str
    is_admin: bool
    via: Literal["session", "token", "local"]
    csrf_token: str | None = None


def check_user_name(value: str) -> str:
    """Lowercase letters, digits, `_ . -`; at most 64 characters."""
    if not USER_NAME.fullmatch(value):
        raise ValueError("user names are 1-64 lowercase letters, digits, '_', '.' or '-', starting with a letter or digit")
    return value


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    is_admin: bool
    disabled: bool
    created_at: datetime


class TokenCreate(BaseModel):
    """A new API token for the caller; `name` says what it is for ("laptop", "ci")."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="api", min_length=1, max_length=100)

    @field_validator("name")
    @classmethod
    def _printable(cls, value: str) -> str:
        if not value.isprintable():
            raise ValueError("must be printable text")
        return value.strip() or "api"


class TokenRead(BaseModel):
    """A token as listed: its name and first characters, never the secret."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenRead):
    """The answer to creating a token: the only time its secret is shown."""

    token: str


class UserCreate(BaseModel):
    """A new user, by an admin."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    password: SecretStr
    admin: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_user_name(value)
