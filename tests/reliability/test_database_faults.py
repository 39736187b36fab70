"""A database write that fails while an epoch is being recorded leaves the run consistent.

Proven against a real server, a real worker, PostgreSQL and Redis, with faults injected
inside PostgreSQL by a trigger on `epoch_metrics`: once, the worker's connection is
terminated in the middle of writing epoch 1 (the write is retried and the run completes
with each epoch once); and a disk-full error that refuses epoch 1 every time fails the
run with a message naming the epoch and the cause, its stored epochs matching
`epochs_done`, and nothing left `running`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.reliability.harness import (
    TINY,
    Tally,
    finished_cleanly,
    launched,
    libpq_url,
    run_row,
    submit,
    tally_api,
    tally_database,
    wait_finished,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
CONFIG = {**TINY, "epochs": 3}
FAULTY_EPOCH = 1

# Runs in the worker's own transaction. A sequence, because nextval survives the rollback
# that the fault causes: "only the first time" is remembered.
DISCONNECT_ONCE = """
IF NEW.epoch = %(epoch)s AND nextval('reliability_fault_hits') = 1 THEN
    PERFORM pg_terminate_backend(pg_backend_pid());
END IF;
"""
DISK_FULL = """
IF NEW.epoch = %(epoch)s THEN
    RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full';
END IF;
"""


class Faults:
    """A trigger on `epoch_metrics` whose body is swapped between scenarios."""

    def __init__(self, database_url: str) -> None:
        self.connection = psycopg.connect(libpq_url(database_url), autocommit=True)
        self.connection.execute("CREATE SEQUENCE reliability_fault_hits")
        self.inject("")
        self.connection.execute(
            "CREATE TRIGGER reliability_fault BEFORE INSERT OR UPDATE ON epoch_metrics"
            " FOR EACH ROW EXECUTE FUNCTION reliability_fault()"
        )

    def inject(self, body: str) -> None:
        statement = body % {"epoch": FAULTY_EPOCH}
        self.connection.execute(
            "CREATE OR REPLACE FUNCTION reliability_fault() RETURNS trigger LANGUAGE plpgsql AS $$"
            f" BEGIN {statement} RETURN NEW; END $$"
        )

    def remove(self) -> None:
        self.connection.execute("DROP TRIGGER IF EXISTS reliability_fault ON epoch_metrics")
        self.connection.execute("DROP FUNCTION IF EXISTS reliability_fault()")
        self.connection.execute("DROP SEQUENCE IF EXISTS reliability_fault_hits")
        self.connection.close()


@pytest.fixture(scope="module")
def faulted(
    tmp_path_factory: pytest.TempPathFactory, postgres_url: str, redis_url: str, session_token: str
) -> Iterator[Any]:
    """One run whose connection dies once mid-write, then one whose epoch 1 the database always refuses."""
    root = tmp_path_factory.mktemp("db-faults")
    with launched(root, database_url=postgres_url, broker_url=redis_url, token=session_token) as stack:
        faults = Faults(postgres_url)
        try:
            stack.start_server()
            stack.start_worker()
            with stack.client() as client:
                faults.inject(DISCONNECT_ONCE)
                reconnected = submit(client, CONFIG)
                wait_finished(client, [reconnected])
                faults.inject(DISK_FULL)
                refused = submit(client, CONFIG)
                wait_finished(client, [refused])
                yield stack, reconnected, refused, tally_api(client)
        finally:
            faults.remove()


def _only(tally: Tally, run_id: int) -> Tally:
    return Tally({run_id: tally.runs[run_id]}, {run_id: tally.epochs[run_id]})


def test_a_connection_lost_mid_write_is_retried_and_the_run_completes_once(faulted: Any) -> None:
    stack, reconnected, _, over_api = faulted
    stored = (_only(over_api, reconnected), _only(tally_database(stack.settings), reconnected))
    expected = finished_cleanly([reconnected], CONFIG["epochs"])
    assert (stored, run_row(stack.settings, reconnected)["attempt"]) == ((expected, expected), 1)


def test_an_epoch_the_database_refuses_fails_the_run_with_its_rows_matching_epochs_done(faulted: Any) -> None:
    stack, _, refused, over_api = faulted
    expected = Tally({refused: ("failed", FAULTY_EPOCH)}, {refused: list(range(FAULTY_EPOCH))})
    assert (_only(over_api, refused), _only(tally_database(stack.settings), refused)) == (expected, expected)


def test_the_refused_runs_error_names_the_epoch_and_the_cause(faulted: Any) -> None:
    stack, _, refused, _ = faulted
    error = run_row(stack.settings, refused)["error"] or ""
    assert (f"record epoch {FAULTY_EPOCH}" in error, "No space left on device" in error) == (True, True), error
