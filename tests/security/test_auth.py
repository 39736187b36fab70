"""Who may ask anything at all: every route behind the gate, API tokens, logins, and `serve`'s refusal.

The first tests walk every route the app has (API, pages, the OpenAPI schema, mounts),
so a route added later is covered without touching this file, and prove that only
/healthz, /login and /static answer without credentials. Then API tokens (by the API and
by the CLI), dashboard logins with their cookies, logout and the login rate limit.
The last tests start real `stagewise serve` processes. Every test runs on the embedded
SQLite setup and on PostgreSQL + Redis (the `settings` fixture).
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from integration_fixtures import STAGEWISE, free_port, wait_for
from people import (
    PASSWORD,
    Person,
    a_sweep,
    add_person,
    an_evaluation,
    an_lr_find,
    browser,
    csrf_of,
    finished_run,
    log_in,
    rows,
)
from sqlalchemy import select, update
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocketDisconnect

from app.db.types import utcnow
from app.main import create_app
from app.models import ApiToken, LoginSession, Run, RunStatus
from app.models.runs import RunTag
from app.services import accounts
from app.settings import Settings, child_environment
from tests.rows import unit_of_work

# What answers without credentials; everything else must be refused by the gate.
PUBLIC = {("/healthz", "GET"), ("/login", "GET"), ("/login", "POST"), ("/static", "GET"), ("/static", "HEAD")}
MOUNT_METHODS = ("GET", "HEAD")  # what StaticFiles serves


# --- every route ------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Endpoint:
    """One (route, method) of the app, with a concrete URL that reaches it."""

    route: str
    method: str
    url: str

    def __repr__(self) -> str:
        return f"{self.method} {self.url}"

    @property
    def is_api(self) -> bool:
        return self.route.startswith("/api/") or self.route == "/openapi.json"


def endpoints(app: FastAPI, params: dict[str, int | str]) -> list[Endpoint]:
    """Every method of every route of `app`, path parameters filled from `params`."""
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, Mount):
            url = f"{context.path}/{_a_file_in(route)}"
            found += [Endpoint(context.path, method, url) for method in MOUNT_METHODS]
        elif isinstance(route, (APIRoute, Route)):
            names = set(route.param_convertors)
            missing = names - set(params)
            assert not missing, f"{context.path}: give the test a value for {missing} (an id that exists)"
            url = context.path_format.format(**{name: params[name] for name in names})
            found += [Endpoint(context.path, method, url) for method in sorted(context.methods or ())]
        else:  # AuthGate passes only HTTP: a WebSocket route would skip it
            pytest.fail(
                f"{type(route).__name__} {getattr(route, 'path', '')}: a route kind this test and AuthGate do not know"
            )
    return found


def _a_file_in(mount: Mount) -> str:
    assert isinstance(mount.app, StaticFiles), f"{mount.path}: only static mounts are expected"
    root = Path(str(mount.app.directory))
    return next(p for p in sorted(root.rglob("*")) if p.is_file()).relative_to(root).as_posix()


def refused_by_gate(response: httpx.Response) -> bool:
    """The gate's own "who are you?": 401 with WWW-Authenticate, or 303 to the login page."""
    if response.status_code == 401:
        return "www-authenticate" in response.headers
    return response.status_code == 303 and response.headers["location"].startswith("/login?next=")


@pytest.fixture
def app(accounts_settings: Settings) -> FastAPI:
    return create_app(accounts_settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with browser(app) as test_client:
        yield test_client


@pytest.fixture
def root(accounts_settings: Settings) -> Person:
    """An admin: every route is one they may call."""
    return add_person(accounts_settings, "root", admin=True)


@pytest.fixture
def routes(app: FastAPI, accounts_settings: Settings, root: Person) -> list[Endpoint]:
    """Every endpoint, pointed at root's finished run and root's token (ids that exist)."""
    run_id = finished_run(accounts_settings, root)
    evaluation_id = an_evaluation(accounts_settings, run_id)
    with rows(accounts_settings) as db:  # root's run makes root's study "shapes"
        db.add(RunTag(run_id=run_id, tag="study:shapes"))
        db.commit()
    return endpoints(app, {
        "run_id": run_id, "token_id": root.token_id, "evaluation_id": evaluation_id,
        "sweep_id": a_sweep(accounts_settings, root.id), "job_id": an_lr_find(accounts_settings, root.id),
        "name": "shapes",  # root's study; as an upload's name only DELETE takes it, and it must refuse anyway
    })  # fmt: skip


def test_only_healthz_login_and_static_answer_without_credentials(client: TestClient, routes: list[Endpoint]) -> None:
    reachable = {(e.route, e.method) for e in routes if not refused_by_gate(client.request(e.method, e.url))}
    assert reachable == PUBLIC


def test_without_credentials_the_api_says_401_and_pages_send_to_login(
    client: TestClient, routes: list[Endpoint]
) -> None:
    for endpoint in (e for e in routes if (e.route, e.method) not in PUBLIC):
        response = client.request(endpoint.method, endpoint.url)
        if endpoint.is_api:
            assert (response.status_code, response.headers.get("www-authenticate")) == (401, "Bearer"), endpoint
        else:
            location = f"/login?next={quote(endpoint.url, safe='')}"
            assert (response.status_code, response.headers.get("location")) == (303, location), endpoint


def test_a_wrong_token_is_401_on_every_route(client: TestClient, routes: list[Endpoint]) -> None:
    wrong = {"Authorization": "Bearer sw_" + "x" * 43}
    for endpoint in (e for e in routes if (e.route, e.method) not in PUBLIC):
        response = client.request(endpoint.method, endpoint.url, headers=wrong)
        assert (response.status_code, response.headers.get("www-authenticate")) == (
            401, 'Bearer error="invalid_token"'
        ), endpoint  # fmt: skip


def test_a_revoked_token_is_401_on_every_route_and_changes_nothing(
    client: TestClient, routes: list[Endpoint], root: Person, accounts_settings: Settings
) -> None:
    assert client.delete(f"/api/tokens/{root.token_id}", headers=root.bearer).status_code == 200
    for endpoint in (e for e in routes if (e.route, e.method) not in PUBLIC):
        assert client.request(endpoint.method, endpoint.url, headers=root.bearer).status_code == 401, endpoint
    with rows(accounts_settings) as db:  # the DELETE and the clone above did nothing
        assert [(r.owner_id, r.status) for r in db.scalars(select(Run))] == [(root.id, RunStatus.succeeded)]


def test_a_valid_token_reaches_every_route_it_reads(client: TestClient, routes: list[Endpoint], root: Person) -> None:
    # The sweeps above prove refusals; this proves their URLs reach real routes with ids that exist.
    for endpoint in (e for e in routes if e.method == "GET"):
        response = client.get(endpoint.url, headers=root.bearer)
        # 422: /api/compare needs ids; 409: export of the placeholder best.pt, which holds no model.
        assert response.status_code in (200, 409, 422), (endpoint, response.text[:200])


def test_unknown_paths_are_behind_the_gate_too(client: TestClient) -> None:
    assert client.get("/api/nothing-here").status_code == 401
    assert client.get("/nothing-here").headers["location"] == "/login?next=%2Fnothing-here"


def test_a_websocket_is_refused_by_the_gate(client: TestClient) -> None:
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect("/api/runs"):
        pass
    assert refused.value.code == 1008


def test_the_public_static_prefix_leads_nowhere_else(client: TestClient) -> None:
    for path in (
        "/static/%2e%2e/api/runs",
        "/static/..%2f..%2fapp/settings.py",
        "/static/%2e%2e/%2e%2e/app/settings.py",
    ):
        response = client.get(path)
        assert response.status_code == 404 and "Settings" not in response.text, path


def test_a_route_added_later_is_guarded_without_declaring_anything(app: FastAPI) -> None:
    @app.get("/api/added-later")
    def added() -> dict[str, str]:
        return {"secret": "data"}

    with browser(app) as client:
        assert client.get("/api/added-later").status_code == 401


# --- API tokens -------------------------------------------------------------------------------


def test_a_token_created_by_the_api_works_as_bearer(client: TestClient, alice: Person) -> None:
    created = client.post("/api/tokens", json={"name": "laptop"}, headers=alice.bearer)
    assert created.status_code == 201 and created.json()["token"].startswith("sw_")
    me = client.get("/api/me", headers={"Authorization": f"Bearer {created.json()['token']}"}).json()
    assert (me["name"], me["via"]) == ("alice", "token")


def test_a_token_secret_is_shown_once_and_stored_only_as_a_digest(
    client: TestClient, alice: Person, accounts_settings: Settings
) -> None:
    secret = client.post("/api/tokens", json={"name": "laptop"}, headers=alice.bearer).json()["token"]
    listed = client.get("/api/tokens", headers=alice.bearer)
    assert secret not in listed.text and alice.token not in listed.text
    assert secret not in client.get("/account", headers=alice.bearer).text
    with rows(accounts_settings) as db:
        stored = [(t.digest, t.prefix, t.name) for t in db.scalars(select(ApiToken).order_by(ApiToken.id))]
    assert stored[-1][0] == hashlib.sha256(secret.encode()).hexdigest()
    assert not any(secret in value or alice.token in value for row in stored for value in row)


def stagewise(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """The `stagewise` command, as an admin runs it on the server."""
    return subprocess.run([*STAGEWISE, *args], env=child_environment(settings), capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip


def test_a_token_created_and_revoked_by_the_cli_works_then_stops(
    client: TestClient, alice: Person, settings: Settings
) -> None:
    made = stagewise(settings, "tokens", "create", "alice", "--name", "ci")
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert "shown once" in made.stderr and secret not in made.stderr
    bearer = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/me", headers=bearer).json()["name"] == "alice"
    token_id = next(t["id"] for t in client.get("/api/tokens", headers=bearer).json() if t["name"] == "ci")
    revoked = stagewise(settings, "tokens", "revoke", str(token_id))
    assert revoked.returncode == 0 and client.get("/api/me", headers=bearer).status_code == 401


def test_a_revoked_token_is_refused_at_once(client: TestClient, alice: Person) -> None:
    assert client.get("/api/runs", headers=alice.bearer).status_code == 200
    assert client.delete(f"/api/tokens/{alice.token_id}", headers=alice.bearer).json()["revoked_at"]
    assert client.get("/api/runs", headers=alice.bearer).status_code == 401


def test_a_disabled_users_token_is_refused(client: TestClient, alice: Person, accounts_settings: Settings) -> None:
    with unit_of_work(accounts_settings) as uow:
        accounts.set_disabled(uow=uow, name="alice", disabled=True)
    assert client.get("/api/runs", headers=alice.bearer).status_code == 401


def test_another_users_token_cannot_be_revoked(client: TestClient, alice: Person, accounts_settings: Settings) -> None:
    bob = add_person(accounts_settings, "bob")
    assert client.delete(f"/api/tokens/{alice.token_id}", headers=bob.bearer).status_code == 404
    assert client.get("/api/me", headers=alice.bearer).status_code == 200


def test_another_users_token_cannot_be_revoked_from_the_account_page(
    client: TestClient, alice: Person, accounts_settings: Settings
) -> None:
    bob = add_person(accounts_settings, "bob")
    assert client.post(f"/account/tokens/{alice.token_id}/revoke", headers=bob.bearer).status_code == 404
    assert client.get("/api/me", headers=alice.bearer).status_code == 200


def test_only_an_admin_lists_or_creates_users(client: TestClient, alice: Person, root: Person) -> None:
    new = {"name": "carol", "password": PASSWORD}
    assert client.get("/api/users", headers=alice.bearer).status_code == 403
    assert client.post("/api/users", json=new, headers=alice.bearer).status_code == 403
    assert client.post("/api/users", json=new, headers=root.bearer).status_code == 201


# --- logins -----------------------------------------------------------------------------------


@pytest.fixture
def walker(accounts_settings: Settings) -> Person:
    """A user who logs in with a password."""
    return add_person(accounts_settings, "walker", password=PASSWORD)


def test_a_wrong_password_is_401_without_a_cookie(client: TestClient, walker: Person) -> None:
    response = client.post("/login", data={"name": "walker", "password": "wrong password!"})
    assert response.status_code == 401 and "set-cookie" not in response.headers


def test_an_unknown_user_gets_the_same_answer_as_a_wrong_password(client: TestClient, walker: Person) -> None:
    unknown = client.post("/login", data={"name": "nobody", "password": PASSWORD})
    wrong = client.post("/login", data={"name": "walker", "password": "wrong password!"})
    assert unknown.status_code == wrong.status_code == 401
    assert "wrong user name or password" in unknown.text and "wrong user name or password" in wrong.text


def test_a_login_sets_an_httponly_samesite_session_cookie(client: TestClient, walker: Person) -> None:
    response = client.post("/login", data={"name": "walker", "password": PASSWORD, "next": "/runs/new"})
    assert (response.status_code, response.headers["location"]) == (303, "/runs/new")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("stagewise_session=") and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain http and cookie_secure unset
    assert client.get("/api/me").json()["via"] == "session"


def test_the_session_cookie_is_secure_when_configured(accounts_settings: Settings, walker: Person) -> None:
    with browser(create_app(accounts_settings.model_copy(update={"cookie_secure": True}))) as client:
        response = client.post("/login", data={"name": "walker", "password": PASSWORD})
    assert "; Secure" in response.headers["set-cookie"]


def test_the_session_id_is_stored_only_as_a_digest(
    client: TestClient, walker: Person, accounts_settings: Settings
) -> None:
    client.post("/login", data={"name": "walker", "password": PASSWORD})
    secret = client.cookies["stagewise_session"]
    with rows(accounts_settings) as db:
        digests = list(db.scalars(select(LoginSession.digest)))
    assert digests == [hashlib.sha256(secret.encode()).hexdigest()]


def test_an_expired_session_is_refused(client: TestClient, walker: Person, accounts_settings: Settings) -> None:
    log_in(client, "walker")
    with rows(accounts_settings) as db:
        db.execute(update(LoginSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.commit()
    assert client.get("/api/me").status_code == 401


def test_a_user_without_a_password_cannot_log_in(
    client: TestClient, alice: Person, accounts_settings: Settings
) -> None:
    # Token-only users, and the no-login mode's "local" user left over from before accounts were on.
    with unit_of_work(accounts_settings) as uow:
        accounts.local_principal(uow=uow)
    for name in ("alice", "local"):
        for password in ("not a password of anyone", PASSWORD):  # the first: the dummy hash's
            assert client.post("/login", data={"name": name, "password": password}).status_code == 401


def test_after_login_next_stays_on_this_site(client: TestClient, walker: Person) -> None:
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        response = client.post("/login", data={"name": "walker", "password": PASSWORD, "next": target})
        assert httpx.URL(response.headers["location"]).host == "", target
        assert not response.headers["location"].startswith(("//", "/\\")), target


def test_logout_ends_the_session_on_the_server(client: TestClient, walker: Person) -> None:
    csrf = log_in(client, "walker")
    old_cookie = client.cookies["stagewise_session"]
    response = client.post("/logout", data={"csrf_token": csrf})
    assert (response.status_code, response.headers["location"]) == (303, "/login")
    client.cookies.clear()  # a copy of the cookie kept by an attacker still opens nothing
    assert client.get("/api/me", cookies={"stagewise_session": old_cookie}).status_code == 401


def test_a_password_change_ends_every_session(client: TestClient, walker: Person, accounts_settings: Settings) -> None:
    log_in(client, "walker")
    with unit_of_work(accounts_settings) as uow:
        accounts.set_password(uow=uow, name="walker", password="another long password")
    assert client.get("/api/me").status_code == 401


def test_the_login_rate_limit_refuses_even_the_right_password(accounts_settings: Settings, walker: Person) -> None:
    limited = accounts_settings.model_copy(update={"login_max_failures": 3, "login_window_s": 600})
    with browser(create_app(limited)) as client:
        for _ in range(3):
            assert client.post("/login", data={"name": "walker", "password": "wrong password!"}).status_code == 401
        response = client.post("/login", data={"name": "walker", "password": PASSWORD})
    assert (response.status_code, response.headers["retry-after"]) == (429, "600")
    assert "set-cookie" not in response.headers


def test_the_login_rate_limit_counts_failures_per_address_across_names(
    accounts_settings: Settings, walker: Person
) -> None:
    limited = accounts_settings.model_copy(update={"login_max_failures": 3})
    with browser(create_app(limited)) as client:
        for name in ("ann", "ben", "cat"):  # password spraying from one address
            client.post("/login", data={"name": name, "password": "wrong password!"})
        assert client.post("/login", data={"name": "walker", "password": PASSWORD}).status_code == 429


def test_parallel_guesses_cannot_slip_under_the_login_rate_limit(accounts_settings: Settings, walker: Person) -> None:
    # argon2 takes a while: guesses sent together must not all pass the check before any failure counts.
    limited = accounts_settings.model_copy(update={"login_max_failures": 3})
    guess = {"name": "walker", "password": "wrong password!"}
    with browser(create_app(limited)) as client, ThreadPoolExecutor(12) as pool:
        codes = list(pool.map(lambda _: client.post("/login", data=guess).status_code, range(12)))
    assert set(codes) <= {401, 429} and codes.count(401) <= 3  # at most 3 passwords were tried


def test_a_successful_login_does_not_count_as_a_failure(accounts_settings: Settings, walker: Person) -> None:
    limited = accounts_settings.model_copy(update={"login_max_failures": 2})
    with browser(create_app(limited)) as client:
        for _ in range(3):
            assert client.post("/login", data={"name": "walker", "password": PASSWORD}).status_code == 303


# --- real `stagewise serve` processes ----------------------------------------------------------


def serve(settings: Settings, host: str, log: Path, **env: str) -> tuple[subprocess.Popen[bytes], str]:
    """`stagewise serve --no-worker` on a free port, its output in `log`: (the process, its base URL)."""
    port = free_port()
    command = [*STAGEWISE, "serve", "--no-worker", "--host", host, "--port", str(port)]
    environment = {**child_environment(settings), "PYTHONUNBUFFERED": "1", **env}
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=environment, stdout=out, stderr=subprocess.STDOUT)
    return process, f"http://127.0.0.1:{port}"


def refusal(process: subprocess.Popen[bytes], log: Path) -> tuple[int, str]:
    """The exit code and output of a serve that must refuse to start (and fails the test if it serves)."""
    try:
        process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"serve started instead of refusing: {log.read_text()[-2000:]}")
    return process.returncode, log.read_text()


def test_serve_on_a_public_address_without_accounts_refuses_to_start(settings: Settings, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    code, output = refusal(serve(settings, "0.0.0.0", log)[0], log)
    assert code == 2, output
    assert "needs accounts" in output and "stagewise users create NAME --admin" in output
    assert "STAGEWISE_ADMIN_USER" in output


def test_serve_with_auth_none_on_a_public_address_refuses_to_start(settings: Settings, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    code, output = refusal(serve(settings, "0.0.0.0", log, STAGEWISE_AUTH="none")[0], log)
    assert code == 2 and "STAGEWISE_AUTH=none serves this machine only" in output, output


def test_serve_with_a_bootstrapped_admin_serves_logins_and_tokens(settings: Settings, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    process, base = serve(settings, "127.0.0.1", log, STAGEWISE_AUTH="accounts", STAGEWISE_ADMIN_USER="boss",
                          STAGEWISE_ADMIN_PASSWORD=PASSWORD)  # fmt: skip
    try:
        wait_for(lambda: _answers(base), timeout=90, what="serve to answer /healthz")
        with httpx.Client(base_url=base, timeout=30) as http:
            assert http.get("/api/runs").status_code == 401
            assert http.post("/login", data={"name": "boss", "password": PASSWORD}).status_code == 303
            csrf = csrf_of(http.get("/account").text)
            made = http.post("/api/tokens", json={"name": "script"}, headers={"X-CSRF-Token": csrf})
            assert made.status_code == 201, made.text
        with httpx.Client(base_url=base, timeout=30) as script:
            token = {"Authorization": f"Bearer {made.json()['token']}"}
            me = script.get("/api/me", headers=token).json()
            assert (me["name"], me["is_admin"], me["via"]) == ("boss", True, "token")
            assert script.get("/api/runs", headers=token).status_code == 200
    finally:
        process.kill()
        process.wait()
    assert "created admin boss" in log.read_text()


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code in (200, 503)
    except httpx.HTTPError:
        return False
