"""Organising runs over the API and the no-JavaScript forms: rename, notes, tags, search, bulk actions,
the diff's baseline on Compare, and `stagewise runs rename|tag` (SQLite and PostgreSQL)."""

from __future__ import annotations

import subprocess

import pytest
from conftest import STAGEWISE, make_run
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Run, RunStatus, RunTag
from app.settings import Settings, child_environment


def tags_of(client: TestClient, run_id: int) -> list[str]:
    return client.get(f"/api/runs/{run_id}").json()["tags"]


def listed(client: TestClient, **params: str) -> list[int]:
    return sorted(r["id"] for r in client.get("/api/runs", params=params).json()["items"])


# --- PATCH /api/runs/{id} -------------------------------------------------------------------------


def test_patch_renames_writes_notes_and_replaces_tags(client: TestClient, db: Session) -> None:
    run = make_run(db, name="old")
    response = client.patch(f"/api/runs/{run.id}", json={"name": " new name ", "notes": "*why*", "tags": ["b", "a", "a"]})
    assert response.status_code == 200, response.text
    body = client.get(f"/api/runs/{run.id}").json()
    assert (body["name"], body["notes"], body["tags"]) == ("new name", "*why*", ["a", "b"])


def test_patch_adds_and_removes_tags_and_leaves_absent_fields(client: TestClient, db: Session) -> None:
    run = make_run(db, name="kept")
    client.patch(f"/api/runs/{run.id}", json={"tags": ["a", "b"]})
    response = client.patch(f"/api/runs/{run.id}", json={"add_tags": ["c"], "remove_tags": ["a"]})
    assert (response.json()["tags"], response.json()["name"]) == (["b", "c"], "kept")


def test_replacing_tags_deletes_the_old_rows(client: TestClient, db: Session) -> None:
    run = make_run(db)
    client.patch(f"/api/runs/{run.id}", json={"tags": ["a", "b"]})
    client.patch(f"/api/runs/{run.id}", json={"tags": []})
    assert db.scalar(select(func.count()).select_from(RunTag).where(RunTag.run_id == run.id)) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "bad\x07name"}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "   "}, "name"),
        ({"notes": "a\x00b"}, "notes"),
        ({"tags": ["has space"]}, "tags"),
        ({"tags": ["x" * 41]}, "tags"),
        ({"add_tags": ["tab\there"]}, "add_tags"),
        ({"tags": [f"t{i}" for i in range(21)]}, "tags"),
    ],
)
def test_invalid_names_notes_and_tags_are_422_naming_the_field(
    client: TestClient, db: Session, body: dict, field: str
) -> None:
    run = make_run(db, name="same")
    response = client.patch(f"/api/runs/{run.id}", json=body)
    assert response.status_code == 422
    assert [e["loc"][:2] for e in response.json()["detail"]] == [["body", field]]
    assert client.get(f"/api/runs/{run.id}").json()["name"] == "same"


def test_adding_past_the_tag_limit_is_422_naming_tags(client: TestClient, db: Session) -> None:
    run = make_run(db)
    client.patch(f"/api/runs/{run.id}", json={"tags": [f"t{i}" for i in range(20)]})
    response = client.patch(f"/api/runs/{run.id}", json={"add_tags": ["one-more"]})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "tags"]
    assert len(tags_of(client, run.id)) == 20


def test_patch_of_a_missing_run_is_404(client: TestClient) -> None:
    assert client.patch("/api/runs/424242", json={"name": "x"}).status_code == 404


# --- GET /api/runs?tag=&q= -----------------------------------------------------------------------


def test_list_filters_by_tag(client: TestClient, db: Session) -> None:
    a, b, _ = make_run(db), make_run(db), make_run(db)
    client.patch(f"/api/runs/{a.id}", json={"tags": ["baseline", "x"]})
    client.patch(f"/api/runs/{b.id}", json={"tags": ["baseline"]})
    assert listed(client, tag="baseline") == [a.id, b.id]
    assert listed(client, tag="x") == [a.id]
    assert client.get("/api/runs", params={"tag": "x"}).json()["total"] == 1


def test_q_searches_name_and_notes_in_any_case(client: TestClient, db: Session) -> None:
    named = make_run(db, name="ResNet Warm-up")
    noted = make_run(db, name="other", notes="tried a WARM start")
    make_run(db, name="unrelated")
    assert listed(client, q="warm") == [named.id, noted.id]
    assert listed(client, q="RESNET") == [named.id]


def test_q_takes_like_wildcards_literally(client: TestClient, db: Session) -> None:
    percent = make_run(db, name="100% frozen")
    make_run(db, name="100 frozen")
    assert listed(client, q="100%") == [percent.id]
    assert listed(client, q="_") == []


# --- notes on the Run page ------------------------------------------------------------------------


def test_notes_render_as_markdown_without_scripts_or_javascript_links(client: TestClient, db: Session) -> None:
    run = make_run(db)
    notes = "**bold** <script>alert(1)</script> [click](javascript:alert(2)) <img src=x onerror=alert(3)>"
    client.patch(f"/api/runs/{run.id}", json={"notes": notes})
    page = client.get(f"/runs/{run.id}").text
    shown = page.split('<div class="notes" id="run-notes">', 1)[1].split("</div>", 1)[0]
    assert "<strong>bold</strong>" in shown
    assert "<script" not in shown and 'href="javascript' not in shown and "<img" not in shown
    assert "&lt;script&gt;" in shown  # shown as text, not dropped


def test_the_run_page_form_saves_name_tags_and_notes(client: TestClient, db: Session) -> None:
    run = make_run(db, name="before")
    form = {"name": "after", "tags": "a, b c", "notes": "# Heading"}
    response = client.post(f"/runs/{run.id}/organise", data=form, follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, f"/runs/{run.id}")
    body = client.get(f"/api/runs/{run.id}").json()
    assert (body["name"], body["tags"], body["notes"]) == ("after", ["a", "b", "c"], "# Heading")


def test_the_run_page_form_names_a_bad_tag_on_a_422_page(client: TestClient, db: Session) -> None:
    run = make_run(db)
    response = client.post(f"/runs/{run.id}/organise", data={"tags": "ok b@d"})
    assert response.status_code == 422 and "tags:" in response.text and "b@d" in response.text


# --- the Runs list's bulk form (one POST, no JavaScript) -----------------------------------------


def test_bulk_compare_opens_compare_with_the_ticked_runs(client: TestClient, db: Session) -> None:
    a, b = make_run(db), make_run(db)
    response = client.post("/runs/bulk", data={"ids": [a.id, b.id], "action": "compare"}, follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, f"/compare?ids={a.id}&ids={b.id}")


def test_bulk_tag_and_untag(client: TestClient, db: Session) -> None:
    a, b = make_run(db), make_run(db)
    form = {"ids": [a.id, b.id], "action": "tag", "tags": "sweep-1 keep", "next": "/?tag=keep"}
    response = client.post("/runs/bulk", data=form, follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/?tag=keep")
    assert (tags_of(client, a.id), tags_of(client, b.id)) == (["keep", "sweep-1"], ["keep", "sweep-1"])
    client.post("/runs/bulk", data={"ids": [a.id], "action": "untag", "tags": "keep"})
    assert tags_of(client, a.id) == ["sweep-1"]


def test_bulk_cancel_skips_finished_runs_and_says_why(client: TestClient, db: Session) -> None:
    queued, done = make_run(db), make_run(db, status=RunStatus.succeeded)
    response = client.post("/runs/bulk", data={"ids": [queued.id, done.id], "action": "cancel"})
    assert response.status_code == 200 and f"run {done.id} already succeeded" in response.text
    db.expire_all()
    assert (db.get(Run, queued.id).status, db.get(Run, done.id).status) == ("cancelled", "succeeded")


def test_bulk_delete_removes_runs_and_their_folders(client: TestClient, db: Session, settings: Settings) -> None:
    a, b, kept = make_run(db, status=RunStatus.failed), make_run(db, status=RunStatus.cancelled), make_run(db)
    (settings.runs_dir / str(a.id)).mkdir(parents=True)
    response = client.post("/runs/bulk", data={"ids": [a.id, b.id], "action": "delete"}, follow_redirects=False)
    assert response.status_code == 303
    assert listed(client) == [kept.id] and not (settings.runs_dir / str(a.id)).exists()


def test_bulk_with_an_unknown_run_changes_nothing(client: TestClient, db: Session) -> None:
    run = make_run(db)
    response = client.post("/runs/bulk", data={"ids": [run.id, 424242], "action": "cancel"})
    assert response.status_code == 404
    db.expire_all()
    assert db.get(Run, run.id).status == "queued"


def test_bulk_over_the_api(client: TestClient, db: Session) -> None:
    queued, running = make_run(db), make_run(db, status=RunStatus.running)
    response = client.post("/api/runs/bulk", json={"ids": [queued.id, running.id], "action": "delete"})
    assert response.status_code == 200
    assert (response.json()["done"], list(response.json()["skipped"])) == ([queued.id], [str(running.id)])


def test_bulk_without_a_selection_is_422_naming_ids(client: TestClient) -> None:
    response = client.post("/runs/bulk", data={"action": "cancel"})
    assert response.status_code == 422 and "ids:" in response.text


# --- Compare: the diff's baseline -----------------------------------------------------------------


def test_compare_flags_differences_against_the_chosen_baseline(client: TestClient, db: Session) -> None:
    a = make_run(db, name="A", config={"epochs": 2})
    b = make_run(db, name="B", config={"epochs": 2})
    c = make_run(db, name="C", config={"epochs": 5})
    first = client.get("/compare", params={"ids": f"{a.id},{b.id},{c.id}"}).text
    chosen = client.get("/compare", params={"ids": f"{a.id},{b.id},{c.id}", "baseline": str(c.id)}).text
    # Against A only C's epochs differ; against C both A's and B's do.
    assert first.count('class="diff"') == 1 and chosen.count('class="diff"') == 2
    assert f"#{c.id} C <span class=\"muted\">(baseline)</span>" in chosen


# --- the command line -----------------------------------------------------------------------------


def stagewise(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*STAGEWISE, *args], env=child_environment(settings), capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip


def test_cli_renames_and_tags_a_run(settings: Settings, db: Session, client: TestClient) -> None:
    run = make_run(db, name="old")
    renamed = stagewise(settings, "runs", "rename", str(run.id), "Model D, take 2")
    tagged = stagewise(settings, "runs", "tag", str(run.id), "paper", "fig-3")
    assert (renamed.returncode, tagged.returncode) == (0, 0), renamed.stderr + tagged.stderr
    body = client.get(f"/api/runs/{run.id}").json()
    assert (body["name"], body["tags"]) == ("Model D, take 2", ["fig-3", "paper"])
    removed = stagewise(settings, "runs", "tag", str(run.id), "paper", "--remove")
    assert removed.stdout.strip() == f"run {run.id} tags: fig-3"


def test_cli_refuses_a_bad_tag_and_a_missing_run_with_exit_2(settings: Settings, db: Session) -> None:
    run = make_run(db)
    bad = stagewise(settings, "runs", "tag", str(run.id), "no spaces allowed")
    missing = stagewise(settings, "runs", "rename", "424242", "x")
    assert (bad.returncode, missing.returncode) == (2, 2)
    assert "add_tags" in bad.stderr and "run 424242 not found" in missing.stderr
