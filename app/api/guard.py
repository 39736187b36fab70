"""The one gate every request passes: who is asking, from where, and is it forged?

`AuthGate` is ASGI middleware, so nothing can be routed around it: API routes, pages,
the OpenAPI schema, downloads and unknown paths alike. Only PUBLIC_PATHS pass
without credentials. It answers three questions before the app sees a request:

1. **Host and client.** Without accounts (the no-login mode) only loopback clients
   naming a loopback Host are served: a DNS-rebinding page (Host: evil.example that
   resolves to 127.0.0.1) and a remote client are refused. With accounts,
   `allowed_hosts` (if set) lists the Host headers served.
2. **Who.** `Authorization: Bearer <token>` (API clients), else the session cookie
   (the dashboard), else, without accounts, the local user. Without credentials an API
   request gets 401 and a page redirects to /login.
3. **Forged?** A state-changing request that a browser could send on its own
   (session cookie, or a browser's Origin/Sec-Fetch-Site/Referer in the no-login mode) must come from this
   origin (`Sec-Fetch-Site`, `Origin`, `Referer`) and carry the CSRF token: the
   `X-CSRF-Token` header (scripts) or a `csrf_token` form field (forms; in multipart
   forms it must be the first field). Token requests are never ambient, so they need
   neither.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.db import Database
from app.queue import TaskQueue
from app.schemas.accounts import Principal
from app.services import accounts
from app.services.unit_of_work import UnitOfWork
from app.settings import Settings, is_loopback

SESSION_COOKIE = "stagewise_session"
CSRF_COOKIE = "stagewise_csrf"  # no-login mode: the double-submitted token
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
PUBLIC_PATHS = ("/healthz", "/login")
PUBLIC_PREFIXES = ("/static/",)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
MAX_FORM_PREFIX = 64 * 1024  # bytes read to find a multipart form's first field
HOST_HEADER = re.compile(r"(?P<name>\[[0-9a-f:.]+\]|[^:\[\]]*)(?::\d+)?")  # name, then an optional numeric port


class Refused(Exception):
    """A request the gate answers itself, with a status and a message."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


class AuthGate:
    """ASGI middleware: authenticate, check Host/Origin and CSRF; see the module docstring."""

    def __init__(self, app: ASGIApp, *, settings: Settings, database: Database, tasks: TaskQueue) -> None:
        self.app, self.settings, self.database, self.tasks = app, settings, database, tasks
        self._local: Principal | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # none is served; refuse rather than pass one through unchecked
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":  # lifespan
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            self._check_host(scope, headers)
            if _is_public(scope["path"]):
                if scope["method"] not in SAFE_METHODS:
                    _check_origin(headers)  # login CSRF
                await self.app(scope, receive, send)
                return
            principal, new_csrf = await self._authenticate(scope, headers)
            receive = await self._check_forgery(scope, headers, receive, principal)
        except Refused as refused:
            await _answer(scope, send, refused)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, _with_csrf_cookie(send, new_csrf, secure_cookies(self.settings, scope)))

    def _check_host(self, scope: Scope, headers: Headers) -> None:
        host = _host_name(headers.get("host", ""))
        if not self.settings.accounts_required:
            client = (scope.get("client") or ("", 0))[0]
            if not is_loopback(client):
                raise Refused(403, "this server runs without accounts and serves only this machine (127.0.0.1)")
            if not is_loopback(host):
                raise Refused(400, f"Host {host!r} refused: without accounts only localhost / 127.0.0.1 is served")
        elif self.settings.allowed_hosts and host not in self.settings.allowed_hosts:
            raise Refused(400, f"Host {host!r} is not in STAGEWISE_ALLOWED_HOSTS")

    async def _authenticate(self, scope: Scope, headers: Headers) -> tuple[Principal, str | None]:
        """(who is asking, a CSRF token to set as a cookie if one was just issued)."""
        if not self.settings.accounts_required:
            if self._local is None:
                self._local = await run_in_threadpool(self._lookup, accounts.local_principal)
            token = _cookies(headers).get(CSRF_COOKIE)
            issued = None if token else secrets.token_urlsafe(32)
            return self._local.model_copy(update={"csrf_token": token or issued}), issued
        bearer = _bearer(headers)
        if bearer is not None:
            principal = await run_in_threadpool(self._lookup, accounts.token_principal, secret=bearer)
            if principal is None:
                raise Refused(401, "invalid or revoked API token", {"WWW-Authenticate": 'Bearer error="invalid_token"'})
            return principal, None
        cookie = _cookies(headers).get(SESSION_COOKIE)
        principal = await run_in_threadpool(self._lookup, accounts.session_principal, secret=cookie) if cookie else None
        if principal is None:
            raise _login_required(scope)
        return principal, None

    def _lookup(self, find: Callable[..., Any], **kwargs: Any) -> Any:
        with UnitOfWork.open(self.database, self.settings, self.tasks) as uow:
            return find(uow=uow, **kwargs)

    async def _check_forgery(self, scope: Scope, headers: Headers, receive: Receive, who: Principal) -> Receive:
        """Refuse a cross-site or token-less state change a browser could have sent on its own."""
        if scope["method"] in SAFE_METHODS or not _ambient(who, headers):
            return receive
        _check_origin(headers)
        expected = who.csrf_token
        sent, receive = await _sent_token(headers, receive, max_form=self.settings.max_body_bytes)
        if not expected or not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
            raise Refused(403, "CSRF token missing or wrong: reload the page and try again")
        return receive


def _is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def _ambient(who: Principal, headers: Headers) -> bool:
    """Could a browser have attached these credentials without the user meaning to?"""
    if who.via == "session":
        return True
    if who.via == "local":
        # Browsers send Origin on every POST and Sec-Fetch-Site on every request; scripts
        # (curl, httpx, requests) send neither, even with a cookie jar.
        return any(name in headers for name in ("origin", "referer", "sec-fetch-site"))
    return False


def _check_origin(headers: Headers) -> None:
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise Refused(403, f"cross-site request refused (Sec-Fetch-Site: {site})")
    origin = headers.get("origin") or headers.get("referer")
    if origin is not None and (origin == "null" or urlsplit(origin).netloc.lower() != headers.get("host", "").lower()):
        raise Refused(403, "cross-origin request refused: the Origin is not this server")


async def _sent_token(headers: Headers, receive: Receive, *, max_form: int) -> tuple[str | None, Receive]:
    """The CSRF token from the header or the form, and a `receive` that replays what was read.

    A url-encoded form is read whole (its token may come last), so it may not pass
    `max_form` bytes: the upload paths accept far larger bodies, which must not be
    buffered here.
    """
    if CSRF_HEADER in headers:
        return headers[CSRF_HEADER], receive
    kind = headers.get("content-type", "")
    if kind.startswith("application/x-www-form-urlencoded"):
        body, more = await _read(receive, limit=max_form)
        if more or len(body) > max_form:
            raise Refused(413, f"form larger than {max_form} bytes: send files as multipart/form-data")
        return parse_qs(body.decode("latin-1")).get(CSRF_FIELD, [None])[0], _replay(body, more, receive)
    if kind.startswith("multipart/form-data"):
        body, more = await _read(receive, limit=MAX_FORM_PREFIX)
        return _first_multipart_field(body, kind), _replay(body, more, receive)
    return None, receive


async def _read(receive: Receive, *, limit: int | None) -> tuple[bytes, bool]:
    """Read the body (or at least `limit` bytes of it): (bytes, whether more follows)."""
    chunks: list[bytes] = []
    size, more = 0, True
    while more and (limit is None or size < limit):
        message = await receive()
        if message["type"] != "http.request":
            raise Refused(400, "the client went away")
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        more = message.get("more_body", False)
    return b"".join(chunks), more


def _replay(body: bytes, more: bool, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": more}
        return await receive()

    return replay


def _first_multipart_field(body: bytes, content_type: str) -> str | None:
    """The value of the first part, if it is the `csrf_token` field."""
    boundary = next((p.split("=", 1)[1].strip('"') for p in content_type.split(";") if "boundary=" in p), "")
    if not boundary:
        return None
    delimiter = b"--" + boundary.encode()
    parts = body.split(delimiter)
    if len(parts) < 3:  # the first part is not complete within the prefix
        return None
    head, _, value = parts[1].partition(b"\r\n\r\n")
    if f'name="{CSRF_FIELD}"'.encode() not in head:
        return None
    return value.removesuffix(b"\r\n").decode("latin-1")


def _bearer(headers: Headers) -> str | None:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _cookies(headers: Headers) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in headers.get("cookie", "").split(";"):
        name, _, value = item.strip().partition("=")
        if name:
            out.setdefault(name, value)
    return out


def _host_name(host: str) -> str:
    """The Host header without its port ("[::1]:8000" → "[::1]", "a:80" → "a"); "" if malformed.

    Strict, so that "[::1]evil.example" or "127.0.0.1:evil" cannot pass for a loopback name.
    """
    match = HOST_HEADER.fullmatch(host.lower())
    return match.group("name") if match else ""


def _login_required(scope: Scope) -> Refused:
    path = scope["path"]
    if path.startswith("/api/") or path == "/openapi.json":
        return Refused(401, "authentication required: log in, or send Authorization: Bearer <token>",
                       {"WWW-Authenticate": "Bearer"})  # fmt: skip
    query = scope.get("query_string", b"").decode("latin-1")
    target = path + (f"?{query}" if query else "")
    return Refused(303, "log in first", {"Location": f"/login?next={quote(target, safe='')}"})


def secure_cookies(settings: Settings, scope: Scope) -> bool:
    """Whether cookies get the Secure flag: the setting, else whether this request came over https."""
    return settings.cookie_secure if settings.cookie_secure is not None else scope.get("scheme") == "https"


def _with_csrf_cookie(send: Send, token: str | None, secure: bool) -> Send:
    """Add the no-login mode's CSRF cookie to the response when one was just issued."""
    if token is None:
        return send

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            MutableHeaders(scope=message).append("set-cookie", csrf_cookie(token, secure=secure))
        await send(message)

    return sending


def csrf_cookie(token: str, *, secure: bool) -> str:
    return f"{CSRF_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict" + ("; Secure" if secure else "")


async def _answer(scope: Scope, send: Send, refused: Refused) -> None:
    body = json.dumps({"detail": refused.message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in refused.headers.items()]
    await send({"type": "http.response.start", "status": refused.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
