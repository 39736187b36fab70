"""Uploaded datasets are shared by the lab, but only their uploader or an admin may delete one."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from people import Person, add_person, rows
from sqlalchemy import select

from app.models import DatasetFolder
from app.settings import Settings


@pytest.fixture
def alices_upload(accounts_settings: Settings) -> Person:
    """alice, owner of the upload `shapes` (a row and its folder)."""
    alice = add_person(accounts_settings, "alice")
    (accounts_settings.data_dir / "uploads" / "shapes").mkdir(parents=True)
    with rows(accounts_settings) as db:
        db.add(DatasetFolder(name="imagefolder", path="uploads/shapes", owner_id=alice.id))
        db.commit()
    return alice


def upload_left(settings: Settings) -> bool:
    with rows(settings) as db:
        row = db.scalar(select(DatasetFolder).where(DatasetFolder.path == "uploads/shapes"))
    return row is not None and (settings.data_dir / "uploads" / "shapes").is_dir()


def test_another_user_may_see_but_not_delete_an_upload(
    client: TestClient, accounts_settings: Settings, alices_upload: Person
) -> None:
    bob = add_person(accounts_settings, "bob")
    listed = client.get("/api/datasets/on-disk", headers=bob.bearer).json()
    assert [(d["key"], d["uploader"], d["can_delete"]) for d in listed if d["kind"] == "upload"] == [
        ("uploads/shapes", "alice", False)]  # fmt: skip
    api = client.delete("/api/datasets/uploads/shapes", headers=bob.bearer)
    page = client.post("/datasets/delete", data={"name": "shapes"}, headers=bob.bearer)
    assert (api.status_code, page.status_code) == (403, 403)
    assert upload_left(accounts_settings)


@pytest.mark.parametrize("who", ["uploader", "admin"])
def test_the_uploader_or_an_admin_deletes_it(
    client: TestClient, accounts_settings: Settings, alices_upload: Person, who: str
) -> None:
    caller = alices_upload if who == "uploader" else add_person(accounts_settings, "root", admin=True)
    assert client.delete("/api/datasets/uploads/shapes", headers=caller.bearer).status_code == 204
    assert not upload_left(accounts_settings)
