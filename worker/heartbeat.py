"""Background threads that keep the database told who is alive.

`RunWatch` runs beside `fit` in the process that trains: it beats the run's heartbeat,
and turns a pending cancel into `should_stop() -> True` (a lost claim into `RunLost`),
so `fit` polls a flag instead of the database on every step. `WorkerBeat` runs in the
worker's main process: it records the worker for /healthz and sweeps runs whose worker died.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Self

from app.db import Database
from app.queue import TaskQueue
from app.schemas.metrics import RunProgress
from app.services.evaluation_jobs import redispatch_lost_evaluations, sweep_stale_evaluations
from app.services.execution import Claim, heartbeat, redispatch_lost_tasks, sweep_stale_runs
from app.services.unit_of_work import UnitOfWork
from app.services.workers import worker_gone, worker_seen
from app.settings import Settings

UnitsOfWork = Callable[[], AbstractContextManager[UnitOfWork]]

log = logging.getLogger(__name__)


class RunLost(Exception):
    """This attempt no longer owns its run (swept, taken over, finished): it must write nothing more."""


class RunWatch:
    """Heartbeat and stop flag of one claimed run; use as a context manager around `fit`.

    Ownership is a lease: a beat the database accepted holds it for `lease_s` (the
    heartbeat timeout, after which the sweeper may hand the run on). A process that was
    frozen past its lease (SIGSTOP, a suspended VM) asks the database before its next
    step instead of training on, and writing files, for a run that is no longer its own.
    """

    def __init__(self, units_of_work: UnitsOfWork, claim: Claim, *, interval_s: float, lease_s: float) -> None:
        self.units_of_work, self.claim, self.interval_s, self.lease_s = units_of_work, claim, interval_s, lease_s
        self.lost = False  # another attempt owns the run now: write nothing more
        self._progress: RunProgress | None = None  # the latest `fit` reported; sent with the next beat
        self._epoch_told: int | None = None  # the epoch of the last report that woke the beat early
        self._confirmed = time.monotonic()  # when the last accepted beat was sent (the claim counts as one)
        self._stop = threading.Event()
        self._done = threading.Event()
        self._wake = threading.Event()  # beat now, not at the end of the interval
        self._thread = threading.Thread(target=self._loop, name=f"run-{claim.run_id}-watch", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._wake.set()
        self._thread.join(timeout=self.interval_s + 5)

    def should_stop(self) -> bool:
        """What `fit` polls between steps: True once a cancel is pending.

        Raises:
            RunLost: the run is no longer ours. Raised, not returned, because `fit` that
                stops normally still writes a summary and a test report into the run
                folder, which now belongs to another attempt.
        """
        if not self.lost and time.monotonic() - self._confirmed > self.lease_s:
            self._beat_or_give_up()
        if self.lost:
            raise RunLost(f"run {self.claim.run_id} is no longer owned by attempt {self.claim.attempt}")
        return self._stop.is_set()

    def report(self, progress: RunProgress) -> None:
        """What `fit` calls after every step: keep the latest; the next beat writes it.

        The first report of each epoch wakes the beat at once, so the Run page shows progress
        from the first step (and again right after each epoch boundary), not a heartbeat
        interval later; the other steps still wait for the beat: no write per step.
        """
        self._progress = progress
        if progress.epoch != self._epoch_told:
            self._epoch_told = progress.epoch
            self._wake.set()

    def lose(self) -> None:
        """This attempt lost the run (seen when recording an epoch): stop and write nothing."""
        self.lost = True
        self._stop.set()

    def _loop(self) -> None:
        while True:
            self._wake.wait(self.interval_s)
            self._wake.clear()
            if self._done.is_set():
                return
            try:
                self._beat()
            except Exception:  # the database may come back; if not, the sweeper takes over
                log.exception("heartbeat of run %s failed", self.claim.run_id)

    def _beat(self) -> None:
        sent = time.monotonic()
        with self.units_of_work() as uow:
            beat = heartbeat(uow=uow, run_id=self.claim.run_id, attempt=self.claim.attempt, progress=self._progress)
        if not beat.owned:
            self.lose()
            return
        self._confirmed = max(self._confirmed, sent)
        if beat.cancel_requested:
            self._stop.set()

    def _beat_or_give_up(self) -> None:
        """The lease ran out: renew it now, or give the run up if the database cannot say."""
        log.warning("run %s: no heartbeat accepted for %.0f s; checking ownership", self.claim.run_id, self.lease_s)
        try:
            self._beat()
        except Exception:  # unprovable ownership: stop; the sweeper re-queues the run
            log.exception("run %s: ownership could not be checked; giving the run up", self.claim.run_id)
            self.lose()


class JobWatch:
    """A heartbeat thread for a short job (an evaluation): `beat()` → False means the job was handed on.

    Simpler than `RunWatch`: a job keeps no files between attempts, so an attempt that lost
    its job only has to stop (`check` raises) and have its finish refused, which the
    attempt number already ensures.
    """

    def __init__(self, beat: Callable[[], bool], *, interval_s: float, name: str) -> None:
        self._send, self.interval_s = beat, interval_s
        self.lost = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join(timeout=self.interval_s + 5)

    def check(self) -> None:
        """Raise `RunLost` once another attempt owns the job."""
        if self.lost:
            raise RunLost("this attempt no longer owns the job")

    def _loop(self) -> None:
        while not self._done.wait(self.interval_s):
            try:
                if not self._send():
                    self.lost = True
                    return
            except Exception:  # the database may come back; if not, the sweeper takes over
                log.exception("heartbeat of %s failed", self._thread.name)


class WorkerBeat:
    """The worker process's own heartbeat (the `workers` table) and the stale-run sweep."""

    def __init__(
        self, *, settings: Settings, database: Database, tasks: TaskQueue, name: str, host: str, pid: int,
        queues: list[str], gpu: str | None,
    ) -> None:  # fmt: skip
        self.settings, self.database, self.tasks = settings, database, tasks
        self.identity = {"name": name, "host": host, "pid": pid, "queues": queues, "gpu": gpu}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="worker-beat", daemon=True)
        self._lost_suspects: set[int] = set()  # queued runs without a task at the last sweep
        self._lost_evaluations: set[int] = set()  # queued evaluations without a task at the last sweep

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop beating and remove this worker from the table (a clean shutdown)."""
        self._done.set()
        self._thread.join(timeout=self.settings.heartbeat_interval_s + 5)
        try:
            with self._unit_of_work() as uow:
                worker_gone(uow=uow, name=self.identity["name"])
        except Exception:
            log.exception("could not remove worker %s from the table", self.identity["name"])

    def _loop(self) -> None:
        while True:
            try:
                self.beat()
            except Exception:
                log.exception("worker heartbeat or sweep failed; retrying")
            if self._done.wait(self.settings.heartbeat_interval_s):
                return

    def beat(self) -> None:
        """One round: say this worker lives, re-queue runs whose worker went silent, and send
        again the tasks of queued runs and evaluations that the embedded broker lost (`redispatch_lost_tasks`,
        `redispatch_lost_evaluations`)."""
        with self._unit_of_work() as uow:
            worker_seen(uow=uow, **self.identity)
            for run_id, status in sweep_stale_runs(uow=uow):
                log.warning("run %s lost its worker (no heartbeat): now %s", run_id, status)
            for evaluation_id, status in sweep_stale_evaluations(uow=uow):
                log.warning("evaluation %s lost its worker (no heartbeat): now %s", evaluation_id, status)
            published, self._lost_suspects = redispatch_lost_tasks(uow=uow, suspects=self._lost_suspects)
            for run_id in published:
                log.warning("run %s was queued with no task in the broker (a worker died taking it): sent again", run_id)
            published, self._lost_evaluations = redispatch_lost_evaluations(uow=uow, suspects=self._lost_evaluations)
            for evaluation_id in published:
                log.warning(
                    "evaluation %s was queued with no task in the broker (a worker died taking it): sent again",
                    evaluation_id,
                )

    def _unit_of_work(self) -> AbstractContextManager[UnitOfWork]:
        return UnitOfWork.open(self.database, self.settings, self.tasks)
