"""Security fixtures: the integration layer's real databases, brokers, server and worker.

The integration conftest is loaded under its own module name (pytest imports every
conftest as plain `conftest`), so tests here can import its helpers from
`integration_fixtures` and use its fixtures as if they were defined here.
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

backend = integration_fixtures.backend
session_token = integration_fixtures.session_token
postgres_url = integration_fixtures.postgres_url
redis_url = integration_fixtures.redis_url
settings = integration_fixtures.settings
stack = integration_fixtures.stack
