"""Requests a browser sends on its own: cross-site forgeries, and DNS rebinding of the no-login mode.

With accounts, the dashboard's session cookie is ambient: a page on another site can make
the browser send it. Every state change carried by it must come from this origin and echo
the session's CSRF token (`X-CSRF-Token`, or the `csrf_token` form field, first in a
multipart form); API tokens are never ambient and need neither. Without accounts (bound to
127.0.0.1) the same rules hold for anything that looks like a browser, the Host must be a
loopback name (a rebinding page names its own) and the client must be this machine.
Every refusal is checked to have changed nothing.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from integration_fixtures import TINY, local_client, make_run
from people import BASE_URL, PASSWORD, Person, add_person, browser, csrf_of, log_in, rows, run_count, with_accounts
from PIL import Image

from app.main import create_app
from app.models import Run, RunStatus
from app.settings import Settings

RUN = {"name": "forged?", "config": TINY}
EVIL = "http://evil.example"
CROSS_SITE = ({"Origin": EVIL}, {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
              {"Referer": f"{EVIL}/page"}, {"Origin": "null"})  # fmt: skip


def status_of_run(settings: Settings, run_id: int) -> str:
    with rows(settings) as db:
        run = db.get(Run, run_id)
        assert run is not None
        return run.status


# --- with accounts: the session cookie ----------------------------------------------------------


@pytest.fixture
def accounts_settings(settings: Settings) -> Settings:
    return with_accounts(settings)


@pytest.fixture
def walker(accounts_settings: Settings) -> Person:
    return add_person(accounts_settings, "walker", password=PASSWORD)


@pytest.fixture
def client(accounts_settings: Settings) -> Iterator[TestClient]:
    with browser(create_app(accounts_settings)) as test_client:
        yield test_client


@pytest.fixture
def csrf(client: TestClient, walker: Person) -> str:
    """Log `client` in as walker; the session's CSRF token."""
    return log_in(client, "walker")


@pytest.fixture
def queued(accounts_settings: Settings, walker: Person) -> int:
    with rows(accounts_settings) as db:
        return make_run(db, owner_id=walker.id).id


def test_a_session_post_without_the_csrf_token_is_403(
    client: TestClient, csrf: str, accounts_settings: Settings
) -> None:
    assert client.post("/api/runs", json=RUN).status_code == 403
    assert run_count(accounts_settings) == 0


def test_a_session_post_with_a_wrong_csrf_token_is_403(
    client: TestClient, csrf: str, accounts_settings: Settings
) -> None:
    assert client.post("/api/runs", json=RUN, headers={"X-CSRF-Token": csrf[::-1]}).status_code == 403
    assert run_count(accounts_settings) == 0


@pytest.mark.parametrize("headers", CROSS_SITE, ids=lambda h: ":".join(*h.items()))
def test_a_cross_site_post_is_403_even_with_the_right_token(
    client: TestClient, csrf: str, accounts_settings: Settings, headers: dict[str, str]
) -> None:
    response = client.post("/api/runs", json=RUN, headers={"X-CSRF-Token": csrf, **headers})
    assert response.status_code == 403 and "cross" in response.json()["detail"]
    assert run_count(accounts_settings) == 0


def test_a_same_origin_post_with_the_token_is_accepted(
    client: TestClient, csrf: str, accounts_settings: Settings
) -> None:
    headers = {"X-CSRF-Token": csrf, "Origin": BASE_URL, "Sec-Fetch-Site": "same-origin"}
    assert client.post("/api/runs", json=RUN, headers=headers).status_code == 201
    assert run_count(accounts_settings) == 1


def test_a_text_plain_cross_site_post_is_403(client: TestClient, csrf: str, accounts_settings: Settings) -> None:
    # MLflow CVE-2023-43472: a JSON API that also parses text/plain bodies can be driven by a
    # plain HTML form on any site, with no CORS preflight. Here it fails twice: origin and token.
    body = '{"name": "forged", "config": {"backbone": "resnet18", "weights": "none", "dataset": {"name": "fake"}}}'
    for headers in ({"Origin": EVIL}, {}):
        response = client.post("/api/runs", content=body, headers={"Content-Type": "text/plain", **headers})
        assert response.status_code == 403, headers
    assert run_count(accounts_settings) == 0


def test_a_form_post_carries_the_token_as_a_field(
    client: TestClient, csrf: str, queued: int, accounts_settings: Settings
) -> None:
    assert client.post(f"/runs/{queued}/cancel", data={"next": "/"}).status_code == 403
    assert status_of_run(accounts_settings, queued) == RunStatus.queued
    response = client.post(f"/runs/{queued}/cancel", data={"csrf_token": csrf, "next": "/"})
    assert (response.status_code, response.headers["location"]) == (303, "/")
    assert status_of_run(accounts_settings, queued) == RunStatus.cancelled


def test_the_forms_on_a_page_carry_the_sessions_token(client: TestClient, csrf: str, queued: int) -> None:
    page = client.get(f"/runs/{queued}").text
    assert f'name="csrf_token" value="{csrf}"' in page and csrf_of(page) == csrf


def dataset_zip() -> bytes:
    """A valid upload: two class folders of one small PNG each."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, colour in (("cats", (200, 30, 30)), ("dogs", (30, 30, 200))):
            image = io.BytesIO()
            Image.new("RGB", (16, 16), colour).save(image, format="PNG")
            archive.writestr(f"{name}/0.png", image.getvalue())
    return out.getvalue()


def multipart(first: str, fields: dict[str, str]) -> tuple[bytes, str]:
    """A multipart body: field `first`, the other fields, then the archive (a browser keeps form order)."""
    boundary = "----stagewise-test"
    order = [first, *[name for name in fields if name != first]]
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{fields[name]}\r\n' for name in order
    ]
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="d.zip"\r\n\r\n'
    body = "".join(parts).encode() + head.encode() + dataset_zip() + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def uploaded(settings: Settings) -> bool:
    return (settings.data_dir / "uploads" / "pets").exists()


@pytest.mark.parametrize(("first", "passes"), [("csrf_token", True), ("name", False)])
def test_an_upload_form_must_send_the_token_first(
    client: TestClient, csrf: str, accounts_settings: Settings, first: str, passes: bool
) -> None:
    body, kind = multipart(first, {"csrf_token": csrf, "name": "pets"})
    response = client.post("/datasets/upload", content=body, headers={"Content-Type": kind})
    assert (response.status_code, uploaded(accounts_settings)) == ((201, True) if passes else (403, False))


def test_an_upload_form_without_the_token_is_403(client: TestClient, csrf: str, accounts_settings: Settings) -> None:
    files = {"file": ("d.zip", io.BytesIO(dataset_zip()), "application/zip")}
    assert client.post("/datasets/upload", data={"name": "pets"}, files=files).status_code == 403
    assert not uploaded(accounts_settings)


def test_the_gate_does_not_buffer_a_huge_form_to_find_its_token(
    client: TestClient, csrf: str, accounts_settings: Settings
) -> None:
    # The upload paths take bodies up to max_upload_bytes (1 GB): a url-encoded form sent
    # there must not be read whole into memory just to find a token at its end.
    padding = "a" * (accounts_settings.max_body_bytes * 3)
    body = f"name=pets&padding={padding}&csrf_token={csrf}"
    response = client.post(
        "/datasets/upload", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 413


def test_a_token_request_needs_no_csrf_token(client: TestClient, walker: Person, accounts_settings: Settings) -> None:
    assert client.post("/api/runs", json=RUN, headers=walker.bearer).status_code == 201
    assert run_count(accounts_settings) == 1


def test_a_cross_site_login_is_403(client: TestClient, walker: Person) -> None:
    # Login CSRF: a foreign page logging the victim in as the attacker.
    response = client.post("/login", data={"name": "walker", "password": PASSWORD}, headers={"Origin": EVIL})
    assert response.status_code == 403 and "set-cookie" not in response.headers


def test_logout_without_the_token_is_403_and_the_session_lives(client: TestClient, csrf: str) -> None:
    assert client.post("/logout").status_code == 403
    assert client.get("/api/me").json()["via"] == "session"


def test_the_token_of_one_session_does_not_open_another(
    client: TestClient, csrf: str, accounts_settings: Settings
) -> None:
    add_person(accounts_settings, "other", password=PASSWORD)
    with browser(create_app(accounts_settings)) as other:
        log_in(other, "other")
        assert other.post("/api/runs", json=RUN, headers={"X-CSRF-Token": csrf}).status_code == 403
    assert run_count(accounts_settings) == 0


# --- without accounts: loopback only ---------------------------------------------------------------


@pytest.fixture
def local(settings: Settings) -> Iterator[TestClient]:
    """A script on this machine, talking to the default no-login server."""
    assert not settings.accounts_required
    with local_client(create_app(settings)) as test_client:
        yield test_client


def post_run(client: TestClient, **headers: Any) -> int:
    return client.post("/api/runs", json=RUN, headers=headers).status_code


def test_a_rebinding_host_is_400_and_changes_nothing(local: TestClient, settings: Settings) -> None:
    # DNS rebinding: evil.example resolves to 127.0.0.1, so the browser sends Host: evil.example.
    assert post_run(local, Host="evil.example:8000") == 400
    assert local.get("/api/runs", headers={"Host": "evil.example"}).status_code == 400
    assert run_count(settings) == 0


@pytest.mark.parametrize(
    "host",
    ["0.0.0.0:8000", "127.0.0.1.evil.example", "localhost.evil.example", "[::1]evil.example", "127.0.0.1:evil", ""],
)
def test_only_loopback_host_names_are_served(local: TestClient, host: str) -> None:
    assert local.get("/api/runs", headers={"Host": host}).status_code == 400


def test_with_accounts_allowed_hosts_limits_the_host_served(accounts_settings: Settings, walker: Person) -> None:
    only = accounts_settings.model_copy(update={"allowed_hosts": ["stagewise.lab.example"]})
    with TestClient(create_app(only), base_url="http://stagewise.lab.example") as client:
        assert client.get("/api/me", headers=walker.bearer).status_code == 200
        assert client.get("/api/me", headers={**walker.bearer, "Host": "evil.example"}).status_code == 400


def test_a_remote_client_is_403(settings: Settings) -> None:
    with TestClient(create_app(settings), base_url="http://127.0.0.1", client=("192.0.2.7", 50000)) as remote:
        assert post_run(remote) == 403 and remote.get("/").status_code == 403
    assert run_count(settings) == 0


@pytest.mark.parametrize("headers", CROSS_SITE, ids=lambda h: ":".join(*h.items()))
def test_a_cross_site_post_to_the_local_server_is_403(
    local: TestClient, settings: Settings, headers: dict[str, str]
) -> None:
    assert post_run(local, **headers) == 403
    assert run_count(settings) == 0


def test_a_same_origin_browser_post_needs_the_pages_token(local: TestClient, settings: Settings) -> None:
    browser_like = {"Origin": "http://127.0.0.1", "Sec-Fetch-Site": "same-origin"}
    assert post_run(local, **browser_like) == 403
    token = csrf_of(local.get("/").text)  # the page sets the (HttpOnly, SameSite=Strict) cookie it matches
    assert local.cookies.get("stagewise_csrf") == token
    assert post_run(local, **browser_like, **{"X-CSRF-Token": "not-" + token}) == 403
    assert run_count(settings) == 0
    assert post_run(local, **browser_like, **{"X-CSRF-Token": token}) == 201


def test_the_pages_token_without_its_cookie_is_403(local: TestClient, settings: Settings) -> None:
    token = csrf_of(local.get("/").text)
    local.cookies.clear()  # a forger who read a token cannot set the cookie
    assert post_run(local, **{"Origin": "http://127.0.0.1", "X-CSRF-Token": token}) == 403


def test_a_local_script_posts_without_a_token(local: TestClient, settings: Settings) -> None:
    assert post_run(local) == 201
    assert run_count(settings) == 1
