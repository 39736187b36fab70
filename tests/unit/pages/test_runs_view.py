"""The Runs page: query parsing, progress, pagination links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.pages.progress import eta_from_elapsed, eta_from_epochs, fraction_done
from app.pages.runs_page import dataset_label, parse_filter, run_row, runs_page
from app.schemas.metrics import RunSummary
from app.schemas.runs import RunDetail, RunFilter, RunPage


def test_empty_selects_mean_any_and_a_bad_value_falls_back_with_a_message() -> None:
    query, error = parse_filter({"status": "", "sort": "-best_val_acc"}, max_limit=200)
    assert (query.status, query.sort, error) == (None, "-best_val_acc", None)
    query, error = parse_filter({"status": "sleeping"}, max_limit=200)
    assert query == RunFilter() and error is not None and "status" in error


def test_page_size_is_capped_by_the_settings() -> None:
    query, error = parse_filter({"limit": "5000"}, max_limit=200)
    assert query.limit == 200 and error


def test_pagination_links_keep_filters_and_sort() -> None:
    query = RunFilter(status="succeeded", sort="name", limit=50, offset=50)
    page = runs_page(RunPage(items=[], total=120, limit=50, offset=50), query, datetime.now(UTC))
    assert page.prev_url == "/?status=succeeded&sort=name"
    assert page.next_url == "/?status=succeeded&sort=name&offset=100"


def test_the_last_page_has_no_next_link() -> None:
    query = RunFilter(offset=100)
    assert runs_page(RunPage(items=[], total=120, limit=50, offset=100), query, datetime.now(UTC)).next_url is None


def test_eta_follows_the_pace_so_far() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert eta_from_elapsed(10, 2, start, start + timedelta(seconds=60)) == 240
    assert eta_from_elapsed(10, 0, start, start + timedelta(seconds=60)) is None
    assert eta_from_epochs(4, [10.0, 20.0]) == 30
    assert fraction_done(3, 4) == 0.75


def test_a_class_balanced_subset_is_named_by_its_size() -> None:
    assert dataset_label({"dataset": {"name": "cifar10", "train_size": 4000}}) == "cifar10-4000"
    assert dataset_label({"dataset": {"name": "digits"}}) == "digits"


def test_the_list_shows_the_last_epochs_test_accuracy_which_runs_without_a_val_split_have() -> None:
    # The reference presets have no validation split: "at best val" is empty for them, and the
    # lecture's table reports the last epoch's test accuracy.
    summary = RunSummary(epochs_done=4, best_val_acc=None, best_epoch=None, test_acc_at_best_val=None,
                         final_train_acc=0.99, final_test_acc=0.8765, images_per_s=100.0, split_hash="h")  # fmt: skip
    start = datetime(2026, 1, 1, tzinfo=UTC)
    run = RunDetail(
        id=1, name="r", status="succeeded", queue="default", dataset="cifar10", backbone="resnet18", epochs=4,
        epochs_done=4, config={"backbone": "resnet18"}, cloned_from=None, created_at=start, started_at=start,
        finished_at=start + timedelta(minutes=5), heartbeat_at=start, attempt=1, worker_host="h", gpu=None,
        cancel_requested=False, error=None, best_val_acc=None, summary=summary, progress=None,
    )  # fmt: skip
    assert run_row(run, start + timedelta(minutes=6)).test_acc == 0.8765
