"""Runs started from another run's checkpoint: `run:<id>`, `run:<id>:best`, `run:<id>:last`.

The checkpoint is pinned as it is at the submit (a hard link under the source's
`snapshots/`, its epoch in the name), shown by the API as `weights_source` and by the Run
page and Compare as a link to the source run.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import torch
from conftest import TINY, make_run
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.models import RunStatus
from app.settings import Settings

BROWSER = {"Accept": "text/html"}


def write_checkpoint(path: Path, epoch: int) -> None:
    """A checkpoint shaped like the loop's (`loop._payload`): a state dict, then `epoch`, then per-epoch records."""
    payload = {
        "format": 1, "model": torch.nn.Linear(3, 2).state_dict(), "epoch": epoch, "config": {"epochs": 9},
        "records": [{"epoch": e} for e in range(epoch)],
    }  # fmt: skip
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)  # as `checkpoints.save_atomic` does


def with_checkpoints(settings: Settings, run_id: int, *, best: int = 3, last: int = 4) -> Path:
    folder = settings.runs_dir / str(run_id)
    folder.mkdir(parents=True)
    write_checkpoint(folder / "best.pt", best)
    write_checkpoint(folder / "checkpoint.pt", last)
    return folder


@pytest.mark.parametrize(("kind", "epoch"), [("best", 3), ("last", 4)])
def test_a_named_checkpoint_is_pinned_with_its_epoch(
    client: TestClient, db: Session, settings: Settings, kind: str, epoch: int
) -> None:
    source = make_run(db, status=RunStatus.succeeded)
    with_checkpoints(settings, source.id)
    body = client.post("/api/runs", json={"config": {**TINY, "weights": f"run:{source.id}:{kind}"}}).json()
    assert body["config"]["weights"] == f"runs/{source.id}/snapshots/{kind}-epoch{epoch}.pt"
    assert body["weights_source"] == {"run_id": source.id, "checkpoint": kind, "epoch": epoch}
    assert client.get(f"/api/runs/{body['id']}").json()["weights_source"]["epoch"] == epoch


def test_a_checkpoint_of_a_running_run_is_the_one_of_the_submit(
    client: TestClient, db: Session, settings: Settings
) -> None:
    source = make_run(db, status=RunStatus.running)
    folder = with_checkpoints(settings, source.id, best=2)
    before = (folder / "best.pt").read_bytes()
    body = client.post("/api/runs", json={"config": {**TINY, "weights": f"run:{source.id}:best"}}).json()
    write_checkpoint(folder / "best.pt", 5)  # the source trains on and finds a better epoch
    assert body["weights_source"] == {"run_id": source.id, "checkpoint": "best", "epoch": 2}
    assert (settings.data_dir / body["config"]["weights"]).read_bytes() == before


def test_a_plain_run_reference_to_a_run_still_training_is_409_naming_weights(
    client: TestClient, db: Session, settings: Settings
) -> None:
    source = make_run(db, status=RunStatus.running)
    with_checkpoints(settings, source.id)
    response = client.post("/api/runs", json={"config": {**TINY, "weights": f"run:{source.id}"}})
    assert response.status_code == 409
    assert response.json()["detail"].startswith("config.weights: run") and f"run:{source.id}:best" in response.json()["detail"]


def test_a_file_without_a_readable_epoch_is_taken_as_it_is(client: TestClient, db: Session, settings: Settings) -> None:
    source = make_run(db, status=RunStatus.succeeded)
    (settings.runs_dir / str(source.id)).mkdir(parents=True)
    (settings.runs_dir / str(source.id) / "best.pt").write_bytes(b"not a torch file: the worker will say so")
    body = client.post("/api/runs", json={"config": {**TINY, "weights": f"run:{source.id}"}}).json()
    assert body["config"]["weights"] == f"runs/{source.id}/best.pt"
    assert body["weights_source"] == {"run_id": source.id, "checkpoint": "best", "epoch": None}


def test_an_unknown_checkpoint_name_is_422(client: TestClient, db: Session, settings: Settings) -> None:
    source = make_run(db, status=RunStatus.succeeded)
    with_checkpoints(settings, source.id)
    response = client.post("/api/runs", json={"config": {**TINY, "weights": f"run:{source.id}:worst"}})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "config", "weights"]


def test_other_weights_have_no_source(client: TestClient) -> None:
    assert client.post("/api/runs", json={"config": {**TINY, "weights": "none"}}).json()["weights_source"] is None


def _links_to(html: str, run_id: int) -> list[str]:
    """The texts of the links to /runs/<run_id> in `html`."""
    return re.findall(rf'<a href="/runs/{run_id}">([^<]*)</a>', html)


def test_the_run_page_links_the_source_run_with_checkpoint_and_epoch(
    client: TestClient, db: Session, settings: Settings
) -> None:
    source = make_run(db, status=RunStatus.succeeded)
    with_checkpoints(settings, source.id)
    chained = client.post("/api/runs", json={"config": {**TINY, "weights": f"run:{source.id}:best"}}).json()
    html = client.get(f"/runs/{chained['id']}", headers=BROWSER).text
    section = html[html.index('id="weights-source"') :]
    assert _links_to(section, source.id)[0] == f"run #{source.id}, best checkpoint (epoch 3)"
    assert "snapshots/" not in section.split("</p>")[0]  # a link, not the file's path


def test_compare_links_the_source_run_in_the_weights_column(
    client: TestClient, db: Session, settings: Settings
) -> None:
    source = make_run(db, status=RunStatus.succeeded)
    with_checkpoints(settings, source.id)
    chained = client.post("/api/runs", json={"config": {**TINY, "weights": f"run:{source.id}:last"}}).json()
    html = client.get(f"/compare?ids={source.id},{chained['id']}", headers=BROWSER).text
    table = html[html.index('id="summary-table"') : html.index("</table>")]
    assert f"run #{source.id}, last checkpoint (epoch 4)" in _links_to(table, source.id)
