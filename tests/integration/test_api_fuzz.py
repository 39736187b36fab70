"""Generated requests against a real server: no input makes the API answer 5xx.

Schemathesis reads the server's own /openapi.json and sends, for every operation, valid
and invalid bodies, query strings and path parameters (property-based, via Hypothesis).
The server is a real `stagewise serve` process on each backend (SQLite + kombu, and
PostgreSQL + Redis), in the no-login mode, without a worker (queued runs just wait).
"Bad input gets a clear 4xx, never a 500" is checked by `not_a_server_error`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from conftest import Backend, Stack, make_settings, reset_database
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error

from app.main import create_app
from app.settings import Settings

EXAMPLES_PER_OPERATION = 25


@pytest.fixture(scope="module")
def api_server(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp(f"fuzz-{backend.name}")
    made = make_settings(backend, root / "data", max_active_runs_per_user=1_000_000)
    reset_database(made)
    running = Stack(made, root)
    try:
        running.start_server()
        yield running
    finally:
        running.stop()
        log = Path(root / "server.log").read_text(errors="replace")
        if "Traceback" in log:
            sys.stderr.write(f"\n----- server.log (tracebacks) -----\n{log[-5000:]}")


@pytest.fixture(scope="module")
def api_schema(api_server: Stack) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{api_server.base_url}/openapi.json")


def operation_labels() -> list[str]:
    """Every operation of the API, read from an app built here at collection (so each gets its own test id)."""
    spec = create_app(Settings(data_dir=Path("/nonexistent"), migrate_on_start=False)).openapi()
    methods = ("get", "put", "post", "delete", "patch")
    return [f"{method.upper()} {path}" for path, item in spec["paths"].items() for method in item if method in methods]


@pytest.mark.parametrize("label", operation_labels())
def test_no_generated_request_gets_a_server_error(api_schema: schemathesis.BaseSchema, label: str) -> None:
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None, label
    failures: list[str] = []

    @given(case=operation.as_strategy())
    @hypothesis_settings(
        max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    def probe(case: schemathesis.Case) -> None:
        try:
            case.call_and_validate(checks=[not_a_server_error])
        except Exception as exc:  # noqa: BLE001 (collected, then reported together)
            failures.append(f"{case.method} {case.formatted_path} {case.query or ''} {case.body!r:.200}: {exc!s:.300}")

    probe()
    assert not failures, "\n".join(failures[:5])
