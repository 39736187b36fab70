"""Reliability fixtures: the integration layer's real server, workers and PostgreSQL, and Redis.

The integration conftest is loaded once as the module `integration_fixtures`
(`tests/integration_layer.py`), so `harness.py` and the tests can import its helpers
from `integration_fixtures`. Fault injection needs the server databases only: every
test here runs on PostgreSQL and a Redis broker, never on the embedded SQLite files.
"""

from __future__ import annotations

from tests import integration_layer

integration_fixtures = integration_layer.load()

session_token = integration_fixtures.session_token
postgres_url = integration_fixtures.postgres_url
redis_url = integration_fixtures.redis_url
