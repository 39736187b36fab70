"""Accounts: users, passwords, API tokens, login sessions and the login rate limit.

Secrets are random (`secrets`), shown once, and stored as SHA-256 digests; a lookup
hashes what the client sent. Passwords are argon2id hashes (argon2-cffi's defaults).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.db.types import utcnow
from app.models import ApiToken, LoginAttempt, LoginSession, User
from app.schemas.accounts import LOCAL_USER, Principal, TokenCreated, TokenRead, UserRead, check_user_name
from app.schemas.runs import MAX_ID
from app.services.errors import InvalidInput, LoginRefused, TooManyAttempts, UserNotFound
from app.services.unit_of_work import UnitOfWork
from app.settings import Settings

TOKEN_PREFIX = "sw_"
MIN_PASSWORD = 10
_HASHER = PasswordHasher()
# Verified against when the user does not exist, so that a wrong name takes as long as a wrong password.
_DUMMY_HASH = _HASHER.hash("not a password of anyone")


def digest(secret: str) -> str:
    """The stored form of a token or session id."""
    return hashlib.sha256(secret.encode()).hexdigest()


# --- users --------------------------------------------------------------------------------


def create_user(*, uow: UnitOfWork, name: str, password: str | None, admin: bool = False) -> UserRead:
    """A new user; `password` None leaves it unable to log in (tokens still work).

    Raises:
        InvalidInput: bad name, name taken, or a password shorter than MIN_PASSWORD.
    """
    try:
        check_user_name(name)
    except ValueError as exc:
        raise InvalidInput.at(("name",), str(exc)) from exc
    password_hash = _hash(password)  # slow (argon2): before the write
    with uow.writing() as db:
        if db.scalar(select(User.id).where(User.name == name)) is not None:
            raise InvalidInput.at(("name",), f"user {name!r} exists already")
        user = User(name=name, password_hash=password_hash, is_admin=admin, disabled=False)
        db.add(user)
        db.flush()
        return UserRead.model_validate(user)


def set_password(*, uow: UnitOfWork, name: str, password: str) -> None:
    """Replace a user's password and end their dashboard sessions."""
    password_hash = _hash(password)
    with uow.writing() as db:
        user = _user(db, name)
        user.password_hash = password_hash
        db.execute(delete(LoginSession).where(LoginSession.user_id == user.id))


def set_disabled(*, uow: UnitOfWork, name: str, disabled: bool) -> None:
    """A disabled user can neither log in nor use tokens; their runs stay."""
    with uow.writing() as db:
        user = _user(db, name)
        user.disabled = disabled
        db.execute(delete(LoginSession).where(LoginSession.user_id == user.id))


def user_id(*, uow: UnitOfWork, name: str) -> int:
    """The id of user `name` (UserNotFound if none)."""
    with uow.reading() as db:
        return _user(db, name).id


def list_users(*, uow: UnitOfWork) -> list[UserRead]:
    with uow.reading() as db:
        return [UserRead.model_validate(u) for u in db.scalars(select(User).order_by(User.name))]


def has_login_accounts(*, uow: UnitOfWork) -> bool:
    """Whether anyone can log in: an enabled user with a password."""
    query = select(User.id).where(User.password_hash.is_not(None), User.disabled.is_(False)).limit(1)
    with uow.reading() as db:
        return db.scalar(query) is not None


def ensure_admin(*, uow: UnitOfWork, name: str, password: str) -> bool:
    """Create admin `name` unless a login account exists already (first start of a server)."""
    with uow.writing():
        if has_login_accounts(uow=uow):
            return False
        create_user(uow=uow, name=name, password=password, admin=True)
    return True


def local_principal(*, uow: UnitOfWork) -> Principal:
    """The one user of the no-login mode, created on first use (an admin: it is the machine's owner)."""
    with uow.reading() as db:
        user = db.scalar(select(User).where(User.name == LOCAL_USER))
    if user is None:
        with uow.writing() as db:
            user = db.scalar(select(User).where(User.name == LOCAL_USER))  # another process may have won
            if user is None:
                user = User(name=LOCAL_USER, password_hash=None, is_admin=True, disabled=False)
                db.add(user)
                db.flush()
    return Principal(user_id=user.id, name=user.name, is_admin=user.is_admin, via="local")


def _hash(password: str | None) -> str | None:
    if password is None:
        return None
    if len(password) < MIN_PASSWORD:
        raise InvalidInput.at(("password",), f"must be at least {MIN_PASSWORD} characters")
    return _HASHER.hash(password)


def _user(db: Session, name: str) -> User:
    user = db.scalar(select(User).where(User.name == name))
    if user is None:
        raise UserNotFound(f"no user named {name!r}")
    return user


# --- login sessions -----------------------------------------------------------------------


def log_in(*, uow: UnitOfWork, name: str, password: str, client: str) -> tuple[str, Principal]:
    """Check a password and open a session: (the cookie's secret, who logged in).

    The attempt counts as failed from before its password is checked until it succeeds:
    parallel guesses (argon2 takes a while) would otherwise all pass the rate check first.

    Raises:
        TooManyAttempts: this name or address failed too often in the window (before checking).
        LoginRefused: wrong name or password, or a disabled user (one message for all).
    """
    settings = uow.settings
    attempt = _count_attempt(uow, name=name, client=client)
    with uow.reading() as db:
        refusal = _rate_refusal(db, settings=settings, name=name, client=client)
        user = db.scalar(select(User).where(User.name == name)) if refusal is None else None
    if refusal is not None:
        with uow.writing() as db:
            db.execute(delete(LoginAttempt).where(LoginAttempt.id == attempt))  # refused unchecked: not a guess
        raise refusal
    # argon2 takes a while: the password is checked outside any transaction.
    if not _password_matches(user, password) or user is None or user.disabled:
        raise LoginRefused("wrong user name or password")  # the attempt stays, as a failure
    secret = secrets.token_urlsafe(32)
    session = LoginSession(
        user_id=user.id, digest=digest(secret), csrf_token=secrets.token_urlsafe(32),
        expires_at=utcnow() + timedelta(hours=settings.session_hours),
    )  # fmt: skip
    with uow.writing() as db:
        db.execute(delete(LoginAttempt).where(LoginAttempt.id == attempt))
        db.add(session)
        db.execute(delete(LoginSession).where(LoginSession.expires_at < utcnow()))
    return secret, _principal(user, "session", session.csrf_token)


def _password_matches(user: User | None, password: str) -> bool:
    stored = user.password_hash if user is not None else None
    try:
        return _HASHER.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def _count_attempt(uow: UnitOfWork, *, name: str, client: str) -> int:
    """Record a login attempt in its own transaction, so that parallel attempts see it; its id."""
    with uow.writing() as db:
        attempt = LoginAttempt(name=name[:64], client=client[:64])
        db.add(attempt)
        db.flush()
        return attempt.id


def _rate_refusal(db: Session, *, settings: Settings, name: str, client: str) -> TooManyAttempts | None:
    """The refusal when this name or address has more attempts in the window than allowed (this one included)."""
    since = utcnow() - timedelta(seconds=settings.login_window_s)
    attempts = db.scalar(
        select(func.count()).select_from(LoginAttempt)
        .where(LoginAttempt.at >= since, or_(LoginAttempt.name == name[:64], LoginAttempt.client == client[:64]))
    ) or 0  # fmt: skip
    if attempts <= settings.login_max_failures:
        return None
    minutes = max(1, round(settings.login_window_s / 60))
    return TooManyAttempts(
        f"too many failed logins for this user or address: try again in up to {minutes} min",
        retry_after_s=int(settings.login_window_s),
    )


def session_principal(*, uow: UnitOfWork, secret: str) -> Principal | None:
    """Who a session cookie belongs to; None if unknown, expired or the user is disabled."""
    with uow.reading() as db:
        row = db.execute(
            select(LoginSession, User).join(User, User.id == LoginSession.user_id)
            .where(LoginSession.digest == digest(secret), LoginSession.expires_at > utcnow(), User.disabled.is_(False))
        ).first()  # fmt: skip
    return None if row is None else _principal(row.User, "session", row.LoginSession.csrf_token)


def log_out(*, uow: UnitOfWork, secret: str) -> None:
    """End a dashboard session: its cookie stops working at once."""
    with uow.writing() as db:
        db.execute(delete(LoginSession).where(LoginSession.digest == digest(secret)))


# --- API tokens ---------------------------------------------------------------------------


def create_token(*, uow: UnitOfWork, principal: Principal, name: str) -> TokenCreated:
    """A new token for the caller; the secret is in the answer and nowhere else."""
    with uow.writing() as db:
        return _new_token(db, user_id=principal.user_id, name=name)


def create_token_for(*, uow: UnitOfWork, user_name: str, name: str) -> TokenCreated:
    """`stagewise tokens create USER` (the server's owner, at its console): a token for a user found by name."""
    with uow.writing() as db:
        return _new_token(db, user_id=_user(db, user_name).id, name=name)


def _new_token(db: Session, *, user_id: int, name: str) -> TokenCreated:
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user_id, name=name, digest=digest(secret), prefix=secret[:10])
    db.add(token)
    db.flush()
    return TokenCreated(**TokenRead.model_validate(token).model_dump(), token=secret)


def list_tokens(*, uow: UnitOfWork, principal: Principal) -> list[TokenRead]:
    """The caller's tokens (without their secrets)."""
    with uow.reading() as db:
        rows = db.scalars(select(ApiToken).where(ApiToken.user_id == principal.user_id).order_by(ApiToken.id))
        return [TokenRead.model_validate(t) for t in rows]


def revoke_token(*, uow: UnitOfWork, principal: Principal, token_id: int) -> TokenRead:
    """Revoke one of the caller's tokens (an admin may revoke anyone's).

    Raises:
        UserNotFound: no such token visible to the caller (404).
    """
    with uow.writing() as db:
        token = db.get(ApiToken, token_id) if 0 < token_id <= MAX_ID else None
        if token is None or (token.user_id != principal.user_id and not principal.is_admin):
            raise UserNotFound(f"token {token_id} not found")
        if token.revoked_at is None:
            token.revoked_at = utcnow()
        db.flush()
        return TokenRead.model_validate(token)


def token_principal(*, uow: UnitOfWork, secret: str) -> Principal | None:
    """Who an API token belongs to; None if unknown, revoked or the user is disabled."""
    with uow.reading() as db:
        row = db.execute(
            select(ApiToken, User).join(User, User.id == ApiToken.user_id)
            .where(ApiToken.digest == digest(secret), ApiToken.revoked_at.is_(None), User.disabled.is_(False))
        ).first()  # fmt: skip
    if row is None:
        return None
    principal = _principal(row.User, "token", None)
    last = row.ApiToken.last_used_at
    if last is None or utcnow() - last > timedelta(minutes=1):  # one write a minute, not one per request
        _touch(uow, row.ApiToken.id)
    return principal


def _touch(uow: UnitOfWork, token_id: int) -> None:
    """Record that a token was used; bookkeeping, so a busy database skips it rather than fail the request."""
    try:
        with uow.writing() as db:
            db.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=utcnow()))
    except OperationalError:
        pass  # the block rolled back; the next use records it


def _principal(user: User, via: str, csrf_token: str | None) -> Principal:
    return Principal(user_id=user.id, name=user.name, is_admin=user.is_admin, via=via, csrf_token=csrf_token)
