"""The integration conftest as an importable module, for the suites that build on it.

pytest imports every conftest as plain `conftest`, so tests/security and tests/reliability
cannot import the integration helpers by that name. `load()` executes
tests/integration/conftest.py once per process, registers it as `integration_fixtures`
(so `from integration_fixtures import Stack` works), and returns it for re-exporting
its fixtures. Loading it once matters: each load would define its own session fixtures
(a second PostgreSQL test database, a second Redis queue).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

NAME = "integration_fixtures"
PATH = Path(__file__).resolve().parent / "integration" / "conftest.py"


def load() -> ModuleType:
    """The integration conftest, loaded on first call and shared afterwards."""
    if NAME in sys.modules:
        return sys.modules[NAME]
    spec = importlib.util.spec_from_file_location(NAME, PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[NAME] = module
    spec.loader.exec_module(module)
    return module
