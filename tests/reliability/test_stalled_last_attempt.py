"""A run whose worker stops heart-beating on its last allowed attempt is failed, with the reason.

Proven against a real server, a real worker (frozen with SIGSTOP), PostgreSQL and Redis:
with `max_attempts=1` the sweeper does not re-queue the silent run but fails it after
`heartbeat_timeout_s` with a message that says what happened and what to do.
"""

from __future__ import annotations

import signal

import pytest

from tests.reliability.harness import LONG, launched, signal_worker, submit, wait_run

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_a_silent_run_with_no_attempts_left_fails_with_the_reason(
    tmp_path_factory: pytest.TempPathFactory, postgres_url: str, redis_url: str, session_token: str
) -> None:
    root = tmp_path_factory.mktemp("last-attempt")
    with launched(root, database_url=postgres_url, broker_url=redis_url, token=session_token, max_attempts=1) as stack:
        stack.start_server()
        stack.start_worker()
        with stack.client() as client:
            run_id = submit(client, LONG)
            wait_run(client, run_id, lambda run: run["status"] == "running", "to start")
            signal_worker(stack.workers[0], signal.SIGSTOP)
            run = wait_run(client, run_id, lambda run: run["status"] not in ("queued", "running"), "to end", timeout=60)
    assert (run["status"], "no heartbeat for over 5 s" in (run["error"] or "")) == ("failed", True), run["error"]
