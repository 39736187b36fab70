"""X-Forwarded-For is believed only from the reverse proxies STAGEWISE_FORWARDED_ALLOW_IPS names.

Issue 15: it was trusted from 127.0.0.1 by default, so any local process could claim a new
address for every guess and dodge the per-address login limit. The login limit is the
client address's main reader, so the tests go through it (real app, real database).
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from people import BASE_URL, PASSWORD, Person, add_person, with_accounts

from app.main import create_app
from app.settings import Settings

PROXY, ELSEWHERE = "10.0.0.2", "10.0.0.3"


@pytest.fixture
def walker(settings: Settings) -> Person:
    return add_person(with_accounts(settings), "walker", password=PASSWORD)


def _spray_then_log_in(settings: Settings, sender: str) -> int:
    """Three failed logins, each naming another client in X-Forwarded-For, then the right password
    from a fourth: the last answer's status (429 when all four counted as one address)."""
    limited = with_accounts(settings, login_max_failures=3, login_window_s=600)
    with TestClient(create_app(limited), base_url=BASE_URL, follow_redirects=False, client=(sender, 40000)) as client:
        for n, name in enumerate(("ann", "ben", "cat"), start=1):
            client.post("/login", data={"name": name, "password": "wrong password!"},
                        headers={"X-Forwarded-For": f"203.0.113.{n}"})  # fmt: skip
        answer = client.post("/login", data={"name": "walker", "password": PASSWORD},
                             headers={"X-Forwarded-For": "203.0.113.4"})  # fmt: skip
    return answer.status_code


def test_no_proxy_is_trusted_by_default() -> None:
    assert Settings().forwarded_allow_ips == ""


def test_without_a_configured_proxy_x_forwarded_for_cannot_dodge_the_login_limit(
    settings: Settings, walker: Person
) -> None:
    assert _spray_then_log_in(settings, "127.0.0.1") == 429


def test_a_configured_proxy_has_each_forwarded_client_counted_on_its_own(settings: Settings, walker: Person) -> None:
    assert _spray_then_log_in(settings.model_copy(update={"forwarded_allow_ips": PROXY}), PROXY) == 303


def test_x_forwarded_for_from_an_address_that_is_not_the_proxy_is_ignored(settings: Settings, walker: Person) -> None:
    assert _spray_then_log_in(settings.model_copy(update={"forwarded_allow_ips": PROXY}), ELSEWHERE) == 429
