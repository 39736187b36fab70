"""The Runs page (`/`): query parsing and the rows the table shows, from one `RunPage`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, get_args
from urllib.parse import urlencode

from pydantic import ValidationError

from app.pages.progress import eta_from_elapsed, run_duration
from app.schemas.catalog import BACKBONES, DATASETS
from app.schemas.runs import RunFilter, RunPage, RunRead, RunStatusName

SORT_LABELS = {"id": "id", "name": "name", "best_val_acc": "best val acc", "created_at": "created", "finished_at": "finished"}


@dataclass(frozen=True)
class RunRow:
    """One row of the runs table."""

    id: int
    name: str
    status: str
    epochs: int
    epochs_done: int
    eta: float | None
    dataset: str
    backbone: str
    best_val_acc: float | None
    test_acc: float | None
    duration: float | None
    created_at: datetime
    owner: str
    can_cancel: bool
    can_delete: bool
    cancelling: bool = False  # cancel requested, the worker has not stopped yet
    tags: tuple[str, ...] = ()


def dataset_label(config: dict[str, Any]) -> str:
    """"cifar10-4000" for a 4,000-image subset of CIFAR-10, else the dataset's name."""
    dataset = config.get("dataset") or {}
    name, size = dataset.get("name", "?"), dataset.get("train_size")
    return f"{name}-{size}" if size else str(name)


def _eta(run: RunRead, now: datetime) -> float | None:
    """The worker's own estimate from its last heartbeat, else elapsed ÷ epochs done × epochs left
    (which stands still inside an epoch)."""
    if run.progress is not None and run.progress.eta_s is not None:
        return run.progress.eta_s
    return eta_from_elapsed(run.epochs, run.epochs_done, run.started_at, now)


def run_row(run: RunRead, now: datetime) -> RunRow:
    """The table row of one run; ETA from its pace so far, so no metrics are read."""
    live = run.status in ("queued", "running")
    return RunRow(
        id=run.id, name=run.name or f"run {run.id}", status=run.status, epochs=run.epochs,
        epochs_done=run.epochs_done,
        eta=_eta(run, now) if run.status == "running" else None,
        dataset=dataset_label(run.config), backbone=run.backbone, best_val_acc=run.best_val_acc,
        test_acc=run.summary.final_test_acc if run.summary else None,  # the reference table's figure
        duration=run_duration(run.started_at, run.finished_at, now),
        created_at=run.created_at, owner=run.owner_name or "–", can_cancel=live and not run.cancel_requested, can_delete=run.status != "running",
        cancelling=live and run.cancel_requested,
        tags=tuple(run.tags),
    )  # fmt: skip


def parse_filter(params: dict[str, str], max_limit: int) -> tuple[RunFilter, str | None]:
    """The list query from the page's URL; a bad value falls back to the default with a message.

    Empty selects mean "any". A page renders rather than answering 422, so a stale
    bookmark still shows the runs.
    """
    values: dict[str, Any] = {k: v for k, v in params.items() if k in RunFilter.model_fields and v != ""}
    try:
        query = RunFilter.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        return RunFilter(), f"ignored {'.'.join(map(str, error['loc']))}: {error['msg']}"
    if query.limit > max_limit:
        return query.model_copy(update={"limit": max_limit}), f"showing {max_limit} runs per page at most"
    return query, None


@dataclass(frozen=True)
class RunsPage:
    """Everything templates/runs_list.html shows."""

    rows: list[RunRow]
    total: int
    query: RunFilter
    notice: str | None = None
    error: str | None = None
    total_capped: bool = False  # more matches than `total` (the list counts up to a cap)

    statuses = get_args(RunStatusName)
    datasets = tuple(DATASETS)
    backbones = tuple(BACKBONES)

    @property
    def filters(self) -> RunFilter:
        return self.query

    @property
    def sort(self) -> str:
        return self.query.sort

    @property
    def limit(self) -> int:
        return self.query.limit

    @property
    def filtered(self) -> bool:
        return any((self.query.status, self.query.dataset, self.query.backbone, self.query.owner, self.query.tag,
                    self.query.q))

    @property
    def sort_label(self) -> str:
        key = self.query.sort.lstrip("-")
        return f"sorted by {SORT_LABELS.get(key, key)}, {'descending' if self.query.sort.startswith('-') else 'ascending'}"

    def url(self, **changes: Any) -> str:
        """This page's URL with some query values changed (defaults left out)."""
        values = {**self.query.model_dump(), **changes}
        defaults = RunFilter().model_dump()
        kept = {k: v for k, v in values.items() if v is not None and v != defaults.get(k)}
        return "/?" + urlencode(kept) if kept else "/"

    @property
    def here(self) -> str:
        return self.url()

    @property
    def total_label(self) -> str:
        """How many runs match, as people read it: "1,234", or "10,000+" past the count's cap."""
        return f"{self.total:,}" + ("+" if self.total_capped else "")

    @property
    def first(self) -> int:
        return min(self.query.offset + 1, self.total)

    @property
    def last(self) -> int:
        return min(self.query.offset + len(self.rows), self.total)

    @property
    def prev_url(self) -> str | None:
        return self.url(offset=max(self.query.offset - self.query.limit, 0)) if self.query.offset > 0 else None

    @property
    def next_url(self) -> str | None:
        end = self.query.offset + self.query.limit
        return self.url(offset=end) if end < self.total or self.total_capped else None


def runs_page(page: RunPage, query: RunFilter, now: datetime, *, notice: str | None = None,
              error: str | None = None) -> RunsPage:
    """The Runs page view of one page of runs."""
    rows = [run_row(run, now) for run in page.items]
    return RunsPage(rows, page.total, query, notice, error, total_capped=page.total_capped)

