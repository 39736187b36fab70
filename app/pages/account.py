"""Login, logout and the account page (API tokens: create once-shown, list, revoke).

The login form posts the user name and password; a session cookie (HttpOnly,
SameSite=Lax, Secure over https) is set on success. Without accounts (the no-login
mode) /login and /account say so and lead back to the runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from app.api.deps import PrincipalDep, SettingsDep, UowDep
from app.api.guard import SESSION_COOKIE, secure_cookies
from app.pages.errors import safe_next, status_of
from app.pages.templating import get_templates
from app.schemas.accounts import TokenCreated, TokenRead
from app.services import accounts
from app.services.errors import InvalidInput, LoginRefused, TooManyAttempts, UserNotFound

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class LoginPage:
    next: str = "/"
    name: str = ""
    error: str = ""


@dataclass(frozen=True)
class AccountPage:
    tokens: list[TokenRead] = field(default_factory=list)
    created: TokenCreated | None = None
    error: str = ""


def _render(request: Request, template: str, page: Any, status_code: int = 200) -> HTMLResponse:
    return get_templates().TemplateResponse(request, template, {"page": page, "nav": ""}, status_code=status_code)


@router.get("/login", response_model=None)
def login_form(request: Request, settings: SettingsDep, next: str = "/") -> Response:
    """The login form (without accounts: straight to the runs)."""
    if not settings.accounts_required:
        return RedirectResponse("/", status_code=303)
    return _render(request, "login.html", LoginPage(next=safe_next(next, "/")))


@router.post("/login", response_model=None)
async def login(
    request: Request, uow: UowDep, settings: SettingsDep, name: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "", next: Annotated[str, Form()] = "/",
) -> Response:
    """Check the password; on success set the session cookie and go where the user was headed."""
    if not settings.accounts_required:
        return RedirectResponse("/", status_code=303)
    target = safe_next(next, "/")
    client = request.client.host if request.client else "unknown"
    try:
        secret, _ = await run_in_threadpool(
            accounts.log_in, uow=uow, name=name, password=password, client=client
        )
    except (LoginRefused, TooManyAttempts) as exc:
        page = LoginPage(next=target, name=name, error=str(exc))
        response = _render(request, "login.html", page, status_code=status_of(exc))
        if isinstance(exc, TooManyAttempts):
            response.headers["Retry-After"] = str(exc.retry_after_s)
        return response
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE, secret, max_age=int(settings.session_hours * 3600), path="/", httponly=True,
        samesite="lax", secure=secure_cookies(settings, request.scope),
    )  # fmt: skip
    return response


@router.post("/logout", response_model=None)
def logout(request: Request, uow: UowDep, settings: SettingsDep, _: PrincipalDep) -> Response:
    """End this browser's session."""
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        accounts.log_out(uow=uow, secret=secret)
    response = RedirectResponse("/login" if settings.accounts_required else "/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=secure_cookies(settings, request.scope))
    return response


@router.get("/account", response_class=HTMLResponse)
def account(request: Request, uow: UowDep, principal: PrincipalDep) -> HTMLResponse:
    """Who you are and your API tokens."""
    return _render(request, "account.html", AccountPage(tokens=accounts.list_tokens(uow=uow, principal=principal)))


@router.post("/account/tokens", response_class=HTMLResponse)
def create_token(
    request: Request, uow: UowDep, principal: PrincipalDep, name: Annotated[str, Form()] = "api"
) -> HTMLResponse:
    """A new token, shown on this page once."""
    try:
        created = accounts.create_token(uow=uow, principal=principal, name=_token_name(name))
    except InvalidInput as exc:
        page = AccountPage(tokens=accounts.list_tokens(uow=uow, principal=principal), error=str(exc))
        return _render(request, "account.html", page, status_code=422)
    page = AccountPage(tokens=accounts.list_tokens(uow=uow, principal=principal), created=created)
    return _render(request, "account.html", page, status_code=201)


@router.post("/account/tokens/{token_id}/revoke", response_model=None)
def revoke_token(request: Request, token_id: int, uow: UowDep, principal: PrincipalDep) -> Response:
    """Revoke one of your tokens; back to the account page."""
    try:
        accounts.revoke_token(uow=uow, principal=principal, token_id=token_id)
    except UserNotFound as exc:
        page = AccountPage(tokens=accounts.list_tokens(uow=uow, principal=principal), error=str(exc))
        return _render(request, "account.html", page, status_code=404)
    return RedirectResponse("/account", status_code=303)


def _token_name(name: str) -> str:
    cleaned = name.strip()[:100]
    if not cleaned.isprintable():
        raise InvalidInput.at(("name",), "must be printable text")
    return cleaned or "api"
