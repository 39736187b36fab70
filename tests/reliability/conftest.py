"""Reliability fixtures: the integration layer's real server, workers and PostgreSQL, and Redis.

The integration conftest is loaded under its own module name (pytest imports every
conftest as plain `conftest`), so `harness.py` and the tests can import its helpers
from `integration_fixtures`. Fault injection needs the server databases only: every
test here runs on PostgreSQL and a Redis broker, never on the embedded SQLite files.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_PATH = Path(__file__).resolve().parents[1] / "integration" / "conftest.py"
_SPEC = importlib.util.spec_from_file_location("integration_fixtures", _PATH)
assert _SPEC is not None and _SPEC.loader is not None
integration_fixtures = importlib.util.module_from_spec(_SPEC)
sys.modules["integration_fixtures"] = integration_fixtures
_SPEC.loader.exec_module(integration_fixtures)

session_token = integration_fixtures.session_token
postgres_url = integration_fixtures.postgres_url
redis_url = integration_fixtures.redis_url
