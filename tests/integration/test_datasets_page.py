"""The datasets on the server: listed with counts and uploader, thumbnails by key/class/index only,
uploads deleted unless a queued or running run uses them, names checked before an upload, and
uploads offered by name in the New run form (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from conftest import make_run
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import DatasetFolder, Run, RunStatus
from app.services import accounts, uploads
from app.services.unit_of_work import UnitOfWork
from app.settings import Settings


def class_zip(classes: dict[str, int]) -> io.BytesIO:
    """A zip of one folder per class, `count` small PNGs in each."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index, (label, count) in enumerate(classes.items()):
            for n in range(count):
                image = io.BytesIO()
                Image.new("RGB", (40, 30), (50 * index, 80, 20 * n)).save(image, "PNG")
                archive.writestr(f"{label}/{n}.png", image.getvalue())
    buffer.seek(0)
    return buffer


@pytest.fixture
def shapes(uow: UnitOfWork) -> str:
    """An upload `shapes` (circles: 3 images, squares: 2) by the no-login mode's user."""
    principal = accounts.local_principal(uow=uow)
    uploads.create_upload(uow=uow, principal=principal, name="shapes", source=class_zip({"circles": 3, "squares": 2}))
    return "uploads/shapes"


@pytest.fixture
def ants_bees(settings: Settings, shared_datasets: Path) -> None:
    """Ants & Bees linked into the data root, as the README's table places it."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "hymenoptera_data").symlink_to(shared_datasets / "hymenoptera_data", target_is_directory=True)


def on_disk(client: TestClient) -> dict[str, dict]:
    return {d["key"]: d for d in client.get("/api/datasets/on-disk").json()}


def test_lists_builtin_sets_on_disk_digits_and_uploads_with_counts(
    client: TestClient, ants_bees: None, shapes: str
) -> None:
    found = on_disk(client)
    assert set(found) == {"hymenoptera", "digits", "uploads/shapes"}  # CIFAR-10 and Caltech-101 are not on disk
    ab, upload = found["hymenoptera"], found["uploads/shapes"]
    assert (ab["images"], [c["name"] for c in ab["classes"]], ab["fractions"]) == (398, ["ants", "bees"], [0.1, 0.1, 0.8])
    assert ab["size_bytes"] > 1_000_000 and ab["can_delete"] is False
    assert (upload["images"], upload["classes"]) == (5, [{"name": "circles", "images": 3}, {"name": "squares", "images": 2}])
    assert (upload["uploader"], upload["config"], upload["can_delete"]) == (
        "local", {"name": "imagefolder", "path": "uploads/shapes"}, True)  # fmt: skip


def test_the_page_shows_each_dataset_with_thumbnails(client: TestClient, ants_bees: None, shapes: str) -> None:
    page = client.get("/datasets").text
    assert 'data-dataset-key="hymenoptera"' in page and 'data-dataset-key="uploads/shapes"' in page
    assert page.count('src="/datasets/thumbnail?dataset=uploads/shapes&amp;cls=circles') == 3
    assert page.count('src="/datasets/thumbnail?dataset=uploads/shapes&amp;cls=squares') == 2
    assert '<a href="/datasets" aria-current="page">Datasets</a>' in page


def test_a_thumbnail_is_a_small_jpeg_of_that_class_image(client: TestClient, ants_bees: None) -> None:
    response = client.get("/datasets/thumbnail", params={"dataset": "hymenoptera", "cls": "bees", "index": 2})
    assert (response.status_code, response.headers["content-type"]) == (200, "image/jpeg")
    with Image.open(io.BytesIO(response.content)) as image:
        assert max(image.size) <= 96


@pytest.mark.parametrize(
    "params",
    [
        {"dataset": "hymenoptera", "cls": "ants", "index": 10_000},
        {"dataset": "hymenoptera", "cls": "../hymenoptera_data", "index": 0},
        {"dataset": "../hymenoptera_data", "cls": "ants", "index": 0},
        {"dataset": "uploads/../hymenoptera_data", "cls": "ants", "index": 0},
        {"dataset": "cifar10", "cls": "cat", "index": 0},
    ],
)
def test_a_thumbnail_is_found_by_key_class_and_index_never_a_path(
    client: TestClient, ants_bees: None, params: dict
) -> None:
    assert client.get("/datasets/thumbnail", params=params).status_code == 404


def test_an_upload_a_queued_run_uses_is_409_naming_the_run(
    client: TestClient, db: Session, settings: Settings, shapes: str
) -> None:
    run = make_run(db, dataset="imagefolder", config={"dataset": {"name": "imagefolder", "path": shapes}})
    refused = client.delete("/api/datasets/uploads/shapes")
    assert (refused.status_code, f"#{run.id} (queued)" in refused.json()["detail"]) == (409, True)
    assert (settings.data_dir / shapes).is_dir()
    client.post(f"/api/runs/{run.id}/cancel")
    assert client.delete("/api/datasets/uploads/shapes").status_code == 204
    assert not (settings.data_dir / shapes).exists()
    assert db.scalar(select(DatasetFolder).where(DatasetFolder.path == shapes)) is None
    assert "uploads/shapes" not in on_disk(client)


def test_a_finished_run_does_not_keep_an_upload(client: TestClient, db: Session, shapes: str) -> None:
    make_run(db, status=RunStatus.succeeded, dataset="imagefolder", config={"dataset": {"name": "imagefolder", "path": shapes}})
    response = client.post("/datasets/delete", data={"name": "shapes"}, follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/datasets")


def test_deleting_a_missing_upload_is_404(client: TestClient) -> None:
    assert client.delete("/api/datasets/uploads/nothing").status_code == 404


def test_name_check_answers_free_taken_or_invalid(client: TestClient, shapes: str) -> None:
    status = {name: client.get("/api/datasets/name-check", params={"name": name}).json()["status"]
              for name in ("fresh", "shapes", "Bad Name")}  # fmt: skip
    assert status == {"fresh": "free", "shapes": "taken", "Bad Name": "invalid"}


def test_the_form_offers_uploads_by_name_and_maps_them_to_an_image_folder(
    client: TestClient, db: Session, shapes: str
) -> None:
    form_page = client.get("/runs/new").text
    assert '<option value="uploads/shapes"' in form_page
    form = {"dataset.name": "uploads/shapes", "weights": "none", "epochs": "1", "image_size": "32"}
    response = client.post("/runs/new", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text[-2000:]
    run = db.get(Run, int(response.headers["location"].rsplit("/", 1)[1]))
    assert (run.config["dataset"]["name"], run.config["dataset"]["path"]) == ("imagefolder", "uploads/shapes")
    assert run.config["dataset"]["fractions"] is None  # none typed: the image folders' default split applies


def test_a_cloned_upload_run_shows_its_upload_selected(client: TestClient, db: Session, shapes: str) -> None:
    run = make_run(db, dataset="imagefolder", config={"dataset": {"name": "imagefolder", "path": shapes}})
    page = client.get("/runs/new", params={"from_run": run.id}).text
    assert '<option value="uploads/shapes" selected>' in page
