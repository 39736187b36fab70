"""Security fixtures: the integration layer's real databases, brokers, server and worker.

The integration conftest is loaded once as the module `integration_fixtures`
(`tests/integration_layer.py`), so tests here can import its helpers from
`integration_fixtures` and use its fixtures as if they were defined here.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests import integration_layer

integration_fixtures = integration_layer.load()

# After the load: people builds on `integration_fixtures`.
from people import Person, add_person, browser, with_accounts

backend = integration_fixtures.backend
session_token = integration_fixtures.session_token
postgres_url = integration_fixtures.postgres_url
redis_url = integration_fixtures.redis_url
settings = integration_fixtures.settings
stack = integration_fixtures.stack


# The people of the ownership suites: a server with accounts, alice and bob, a browser-like
# client. A module that needs other limits defines its own `accounts_settings` (test_ownership)
# or `client` (test_auth), and these fixtures then use it.
@pytest.fixture
def accounts_settings(settings: Settings) -> Settings:
    return with_accounts(settings)


@pytest.fixture
def alice(accounts_settings: Settings) -> Person:
    return add_person(accounts_settings, "alice")


@pytest.fixture
def bob(accounts_settings: Settings) -> Person:
    return add_person(accounts_settings, "bob")


@pytest.fixture
def client(accounts_settings: Settings) -> Iterator[TestClient]:
    with browser(create_app(accounts_settings)) as test_client:
        yield test_client
