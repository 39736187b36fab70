"""Security fixtures: the integration layer's real databases, brokers, server and worker.

The integration conftest is loaded once as the module `integration_fixtures`
(`tests/integration_layer.py`), so tests here can import its helpers from
`integration_fixtures` and use its fixtures as if they were defined here.
"""

from __future__ import annotations

from tests import integration_layer

integration_fixtures = integration_layer.load()

backend = integration_fixtures.backend
session_token = integration_fixtures.session_token
postgres_url = integration_fixtures.postgres_url
redis_url = integration_fixtures.redis_url
settings = integration_fixtures.settings
stack = integration_fixtures.stack
