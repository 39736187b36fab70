"""Redis killed with -9 and restarted, append-only file on: no queued run is lost.

Proven against a real server, a real worker, PostgreSQL and a private redis-server
(`--appendonly yes --appendfsync always`, its own port and folder). Runs submitted
while no worker runs survive the crash; while Redis is down a submit is refused with
503 and leaves no row behind, and reads keep answering; once Redis is back the same
server submits again, and a worker started then finishes every run exactly once.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.reliability.harness import (
    TINY,
    RedisServer,
    finished_cleanly,
    launched,
    submit,
    tally_api,
    tally_database,
    wait_finished,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
QUEUED = 3


@pytest.fixture(scope="module")
def restarted(tmp_path_factory: pytest.TempPathFactory, postgres_url: str, session_token: str) -> Any:
    """Three runs queued, Redis killed -9 (a submit and a list tried meanwhile), restarted, one more run, a worker."""
    root = tmp_path_factory.mktemp("broker")
    broker = RedisServer(root)
    broker.start()
    try:
        with launched(root, database_url=postgres_url, broker_url=broker.url, token=session_token) as stack:
            stack.start_server()
            with stack.client() as client:
                queued = [submit(client, TINY) for _ in range(QUEUED)]
                broker.kill()
                while_down = {
                    "submit": client.post("/api/runs", json={"config": TINY}),
                    "list": client.get("/api/runs"),
                    "stored": tally_database(stack.settings),
                }
                broker.start()
                queued.append(submit(client, TINY))  # the server reconnects by itself
                stack.start_worker()
                wait_finished(client, queued)
                yield stack, queued, while_down, tally_api(client)
    finally:
        broker.kill()


def test_a_submit_while_redis_is_down_gets_503_and_stores_nothing(restarted: Any) -> None:
    _, queued, while_down, _ = restarted
    response = while_down["submit"]
    assert (response.status_code, "queue is unreachable" in response.json()["detail"], sorted(while_down["stored"].runs)) == (
        503, True, queued[:QUEUED],
    )  # fmt: skip


def test_runs_can_be_listed_while_redis_is_down(restarted: Any) -> None:
    _, _, while_down, _ = restarted
    response = while_down["list"]
    assert (response.status_code, response.json()["total"]) == (200, QUEUED)


def test_every_queued_run_survives_the_restart_and_finishes_exactly_once(restarted: Any) -> None:
    stack, queued, _, over_api = restarted
    expected = finished_cleanly(queued, TINY["epochs"])
    assert (over_api, tally_database(stack.settings)) == (expected, expected)
