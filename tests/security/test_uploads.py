"""Datasets by upload: crafted archives cannot escape, cannot exhaust the disk, leave nothing behind.

Every archive is built here with zipfile/tarfile. The extraction tests call the service's
`extract_archive` and `keep_images` directly; the API tests go through the real app and
database (SQLite, and PostgreSQL when marked); the last one trains on an upload with a
real server and worker.
"""

from __future__ import annotations

import io
import os
import random
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from integration_fixtures import TINY, Stack, local_client, wait_for
from PIL import Image

from app.main import create_app
from app.services.errors import InvalidInput, UploadTooLarge
from app.services.uploads import (
    REPORT_FILE,
    TRAINABLE_SUFFIXES,
    UploadLimits,
    extract_archive,
    keep_images,
)
from app.settings import Settings

LIMITS = UploadLimits(
    max_archive_bytes=10_000_000, max_total_bytes=50_000_000, max_files=100, max_ratio=100, max_image_pixels=10**6
)  # fmt: skip
FILE_LOC = ["body", "file"]
NAME_LOC = ["body", "name"]


# --- archive builders ---------------------------------------------------------------------


def png(colour: tuple[int, int, int] = (200, 30, 30), side: int = 16) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (side, side), colour).save(out, format="PNG")
    return out.getvalue()


def jpeg(colour: tuple[int, int, int] = (30, 30, 200), side: int = 64) -> bytes:
    out = io.BytesIO()
    Image.effect_noise((side, side), 40).convert("RGB").save(out, format="JPEG")
    return out.getvalue()


def make_zip(files: dict[str, bytes], *, links: dict[str, str] | None = None) -> io.BytesIO:
    """A zip of `files`; `links` are Unix symlink entries (name → target)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3  # Unix: external_attr's high half is st_mode
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    out.seek(0)
    return out


def make_tar(members: list[tuple[tarfile.TarInfo, bytes]], mode: str = "w") -> io.BytesIO:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode) as archive:  # type: ignore[call-overload]
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            archive.addfile(info, io.BytesIO(data) if info.isreg() else None)
    out.seek(0)
    return out


def tar_entry(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, linkname, 0o644
    return info


def class_tree(per_class: int = 2) -> dict[str, bytes]:
    return {f"{name}/{i}.png": png((40 * i, c * 120, 90)) for c, name in enumerate(("cats", "dogs")) for i in range(per_class)}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "upload" / "tree"
    folder.mkdir(parents=True)
    return folder


def refused(source: io.BytesIO, root: Path, limits: UploadLimits = LIMITS) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        extract_archive(source, root, limits)
    assert caught.value.errors[0].loc == ("body", "file")
    return caught.value


def written(tmp_path: Path) -> list[str]:
    """Every file anywhere under tmp_path: proof of what extraction wrote, inside or out."""
    return sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if not p.is_dir())


# --- paths and entry kinds ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["../evil.png", "cats/../../evil.png", "/tmp/evil.png", "C:/evil.png", "cats\\..\\..\\evil.png"])
def test_zip_entry_leaving_its_folder_is_refused_before_anything_is_written(name: str, root: Path, tmp_path: Path) -> None:
    refused(make_zip({"cats/ok.png": png(), name: png()}), root)
    assert written(tmp_path) == []


@pytest.mark.parametrize("name", ["../evil.png", "cats/../../evil.png", "/tmp/evil.png"])
def test_tar_entry_leaving_its_folder_is_refused(name: str, root: Path, tmp_path: Path) -> None:
    error = refused(make_tar([(tar_entry(name), png())]), root)
    assert name in error.errors[0].msg and written(tmp_path) == []


def test_zip_symlink_is_refused(root: Path, tmp_path: Path) -> None:
    error = refused(make_zip(class_tree(), links={"cats/passwd.png": "/etc/passwd"}), root)
    assert "symbolic link" in error.errors[0].msg and written(tmp_path) == []


@pytest.mark.parametrize(
    ("kind", "linkname", "why"),
    [(tarfile.SYMTYPE, "/etc/passwd", "symbolic link"), (tarfile.LNKTYPE, "/etc/passwd", "hard link"),
     (tarfile.LNKTYPE, "cats/a.png", "hard link"), (tarfile.CHRTYPE, "", "device"), (tarfile.BLKTYPE, "", "device"),
     (tarfile.FIFOTYPE, "", "FIFO")],
)  # fmt: skip
def test_tar_links_devices_and_fifos_are_refused(kind: bytes, linkname: str, why: str, root: Path) -> None:
    members = [(tar_entry("cats/a.png"), png()), (tar_entry("cats/b.png", kind, linkname), b"")]
    assert why in refused(make_tar(members), root).errors[0].msg
    assert not (root / "cats" / "b.png").exists()


def test_symlink_then_file_through_it_cannot_write_outside(root: Path, tmp_path: Path) -> None:
    # The CVE-2025-8917 shape: a link to a folder outside, then a file "inside" the link.
    members = [(tar_entry("cats", tarfile.SYMTYPE, str(tmp_path)), b""), (tar_entry("cats/evil.png"), png())]
    refused(make_tar(members, "w:gz"), root)
    assert written(tmp_path) == []


def test_duplicate_entries_do_not_overwrite(root: Path) -> None:
    members = [(tar_entry("cats/a.png"), png()), (tar_entry("cats/a.png"), b"second")]
    assert "appears twice" in refused(make_tar(members), root).errors[0].msg


# --- limits -------------------------------------------------------------------------------


def test_zip_bomb_by_ratio_is_refused_before_writing(root: Path, tmp_path: Path) -> None:
    bomb = make_zip({"cats/zeros.png": bytes(20_000_000)})  # ~20 kB that inflates to 20 MB
    with pytest.raises(UploadTooLarge, match="times its compressed size"):
        extract_archive(bomb, root, LIMITS)
    assert written(tmp_path) == []


def test_zip_over_total_size_is_refused(root: Path) -> None:
    noise = random.Random(0).randbytes(2_000_000)  # incompressible: the ratio is ~1
    limits = UploadLimits(**{**LIMITS.__dict__, "max_total_bytes": 1_000_000})
    with pytest.raises(UploadTooLarge, match="over the limit of 1000000 bytes extracted"):
        extract_archive(make_zip({"cats/big.png": noise}), root, limits)


def test_tar_gz_bomb_is_refused_before_writing(root: Path, tmp_path: Path) -> None:
    bomb = make_tar([(tar_entry("cats/zeros.png"), bytes(20_000_000))], "w:gz")
    with pytest.raises(UploadTooLarge):
        extract_archive(bomb, root, LIMITS)
    assert written(tmp_path) == []


def test_zip_whose_header_understates_sizes_writes_no_more_than_declared(root: Path) -> None:
    # Headers can lie: declare 100 bytes for 1 MB of zeros (local header and central directory).
    source = make_zip({"cats/zeros.png": bytes(1_000_000)})
    data = bytearray(source.getvalue())
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = data.find(signature) + offset
        data[start : start + 4] = (100).to_bytes(4, "little")
    refused(io.BytesIO(bytes(data)), root)  # zipfile stops at 100 bytes; the CRC then fails
    assert sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) <= 100


def test_too_many_entries_are_refused_before_writing(root: Path, tmp_path: Path) -> None:
    many = make_zip({f"cats/{i}.txt": b"x" for i in range(LIMITS.max_files + 1)})
    with pytest.raises(UploadTooLarge, match="more than 100 entries"):
        extract_archive(many, root, LIMITS)
    assert written(tmp_path) == []


def test_archive_over_the_upload_size_is_refused(root: Path) -> None:
    limits = UploadLimits(**{**LIMITS.__dict__, "max_archive_bytes": 1024})
    with pytest.raises(UploadTooLarge, match="over the limit of 1024"):
        extract_archive(make_zip({"cats/a.png": random.Random(1).randbytes(4096)}), root, limits)


def test_unknown_zip_compression_method_is_refused(root: Path) -> None:
    data = bytearray(make_zip({"cats/a.png": png()}).getvalue())
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        start = data.find(signature) + offset
        data[start : start + 2] = (99).to_bytes(2, "little")
    assert "not a readable zip or tar" in refused(io.BytesIO(bytes(data)), root).errors[0].msg


def test_not_an_archive_is_refused(root: Path) -> None:
    assert "not a readable zip or tar" in refused(io.BytesIO(png()), root).errors[0].msg


# --- images -------------------------------------------------------------------------------


def test_only_decodable_images_in_class_folders_are_kept_with_a_report(root: Path) -> None:
    files = {
        **class_tree(), "cats/notes.txt": b"hello", "cats/broken.jpg": jpeg()[:300], "dogs/fake.png": b"not a png",
        "loose.png": png(), "__MACOSX/cats/._0.png": b"\x00\x05\x16\x07", "dogs/.DS_Store": b"\x00",
    }  # fmt: skip
    extract_archive(make_zip(files), root, LIMITS)
    report = keep_images(root, LIMITS.max_image_pixels)
    reasons = {s.file: s.reason for s in report.skipped}
    assert (report.num_images, sorted(report.classes)) == (4, ["cats", "dogs"])
    assert sorted(reasons) == ["__MACOSX/cats/._0.png", "cats/broken.jpg", "cats/notes.txt", "dogs/.DS_Store",
                               "dogs/fake.png", "loose.png"]  # fmt: skip
    assert "cannot be decoded" in reasons["cats/broken.jpg"] and "not an image" in reasons["cats/notes.txt"]
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == [
        "cats", *sorted(f"cats/{i}.png" for i in range(2)), "dogs", *sorted(f"dogs/{i}.png" for i in range(2))
    ]  # fmt: skip


def test_images_over_the_pixel_limit_are_skipped(root: Path) -> None:
    extract_archive(make_zip({"cats/big.png": png(side=200), "cats/small.png": png()}), root, LIMITS)
    report = keep_images(root, max_pixels=100 * 100)
    assert [(s.file, "over the limit" in s.reason) for s in report.skipped] == [("cats/big.png", True)]


def test_kept_suffixes_are_those_the_trainer_reads() -> None:
    from worker.training.datasets import IMAGE_EXTENSIONS

    assert TRAINABLE_SUFFIXES == IMAGE_EXTENSIONS


# --- through the API ----------------------------------------------------------------------


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with local_client(create_app(settings)) as test_client:
        yield test_client


def post(client: TestClient, name: str, archive: io.BytesIO, filename: str = "data.zip") -> Any:
    return client.post("/api/datasets", data={"name": name}, files={"file": (filename, archive, "application/zip")})


def leftovers(settings: Settings) -> list[str]:
    uploads = settings.data_dir / "uploads"
    return sorted(p.name for p in uploads.iterdir()) if uploads.exists() else []


def test_upload_registers_a_dataset_with_its_report(client: TestClient, settings: Settings) -> None:
    files = {**{f"pets/{k}": v for k, v in class_tree(3).items()}, "pets/cats/broken.jpg": jpeg()[:200]}
    response = post(client, "pets", make_zip(files))
    body = response.json()
    assert response.status_code == 201, body
    assert (body["path"], body["num_classes"], body["num_images"]) == ("uploads/pets", 2, 6)
    assert body["dataset"] == {"name": "imagefolder", "path": "uploads/pets"}
    assert [s["file"] for s in body["skipped"]] == ["pets/cats/broken.jpg"]
    assert sorted(p.name for p in (settings.data_dir / "uploads" / "pets").iterdir()) == ["cats", "dogs", REPORT_FILE]


def test_uploaded_dataset_is_listed_and_survives_a_scan(client: TestClient) -> None:
    assert post(client, "pets", make_zip(class_tree())).status_code == 201
    for response in (client.get("/api/datasets"), client.post("/api/datasets/scan")):
        imagefolder = next(d for d in response.json() if d["name"] == "imagefolder")
        assert imagefolder["scanned"] == [{"path": "uploads/pets", "num_classes": 2, "num_images": 4}]


def test_unsafe_archive_is_422_on_file_and_leaves_nothing(client: TestClient, settings: Settings) -> None:
    response = post(client, "pets", make_tar([(tar_entry("cats/a.png"), png()), (tar_entry("../../x.png"), png())]))
    assert (response.status_code, response.json()["detail"][0]["loc"]) == (422, FILE_LOC)
    assert leftovers(settings) == [] and client.get("/api/datasets").json()[-1]["scanned"] == []


def test_bomb_is_413_on_file_and_leaves_nothing(client: TestClient, settings: Settings) -> None:
    response = post(client, "pets", make_zip({**class_tree(), "cats/zeros.png": bytes(50_000_000)}))
    assert (response.status_code, response.json()["detail"][0]["loc"]) == (413, FILE_LOC)
    assert leftovers(settings) == []


def test_archive_over_max_upload_bytes_is_413(settings: Settings) -> None:
    small = settings.model_copy(update={"max_upload_bytes": 2048})
    with local_client(create_app(small)) as client:
        response = post(client, "pets", make_zip({"cats/a.png": random.Random(2).randbytes(8192)}))
    assert response.status_code == 413


def test_archive_with_one_class_is_422_on_file(client: TestClient, settings: Settings) -> None:
    response = post(client, "pets", make_zip({"cats/a.png": png(), "cats/b.png": png()}))
    assert (response.status_code, response.json()["detail"][0]["loc"]) == (422, FILE_LOC)
    assert leftovers(settings) == []


def test_folders_of_uploads_that_died_are_swept_by_the_next(client: TestClient, settings: Settings) -> None:
    uploads = settings.data_dir / "uploads"
    old, live = uploads / ".incoming-died", uploads / ".incoming-live"
    for folder in (old, live):
        (folder / "tree").mkdir(parents=True)
    os.utime(old, (0, 0))  # as if killed long ago
    assert post(client, "pets", make_zip(class_tree())).status_code == 201
    assert leftovers(settings) == [".incoming-live", "pets"]


@pytest.mark.parametrize("name", ["", "Pets", "../pets", "pets/x", "-pets", "a" * 64, "runs!", "ok1\n", "ok1\x00"])
def test_name_that_is_not_a_slug_is_422_on_name(client: TestClient, name: str) -> None:
    response = post(client, name, make_zip(class_tree()))
    assert (response.status_code, response.json()["detail"][0]["loc"]) == (422, NAME_LOC)


def test_taken_name_is_409_on_name_and_keeps_the_first(client: TestClient, settings: Settings) -> None:
    assert post(client, "pets", make_zip(class_tree(2))).status_code == 201
    response = post(client, "pets", make_zip(class_tree(3)))
    assert (response.status_code, response.json()["detail"][0]["loc"]) == (409, NAME_LOC)
    assert len(list((settings.data_dir / "uploads" / "pets" / "cats").iterdir())) == 2


def test_missing_fields_are_422_naming_them(client: TestClient) -> None:
    response = client.post("/api/datasets", data={"name": "pets"})
    assert (response.status_code, response.json()["detail"][0]["loc"]) == (422, FILE_LOC)
    response = client.post("/api/datasets", files={"file": ("d.zip", make_zip(class_tree()), "application/zip")})
    assert (response.status_code, response.json()["detail"][0]["loc"]) == (422, NAME_LOC)


def test_upload_page_shows_the_error_beside_the_file_field(client: TestClient) -> None:
    assert 'enctype="multipart/form-data"' in client.get("/datasets/upload").text
    bad = make_zip(class_tree(), links={"cats/x.png": "/etc/passwd"})
    response = client.post("/datasets/upload", data={"name": "pets"}, files={"file": ("d.zip", bad, "application/zip")})
    assert response.status_code == 422
    assert 'data-error-for="file" aria-live="polite">archive entry' in response.text


def test_upload_page_shows_the_report(client: TestClient) -> None:
    files = {**class_tree(), "cats/readme.txt": b"hi"}
    response = client.post("/datasets/upload", data={"name": "pets"}, files={"file": ("d.zip", make_zip(files), "x")})
    assert response.status_code == 201 and "cats/readme.txt" in response.text and "uploads/pets" in response.text


# --- a real run on an upload ----------------------------------------------------------------


def hymenoptera_zip(shared: Path, per_class: int) -> io.BytesIO:
    """A tar.gz-free, real-world zip: `antsbees/<class>/<file>.jpg` from the Ants & Bees training images."""
    files = {}
    for name in ("ants", "bees"):
        for path in sorted((shared / "hymenoptera_data" / "train" / name).glob("*.jpg"))[:per_class]:
            files[f"antsbees/{name}/{path.name}"] = path.read_bytes()
    return make_zip(files)


def test_a_run_trains_on_an_uploaded_dataset(stack: Stack, shared_datasets: Path) -> None:
    with stack.client() as client:
        response = client.post(
            "/api/datasets", data={"name": "antsbees"},
            files={"file": ("antsbees.zip", hymenoptera_zip(shared_datasets, 10), "application/zip")},
        )  # fmt: skip
        assert response.status_code == 201, response.text
        assert (response.json()["num_classes"], response.json()["num_images"]) == (2, 20)
        config = {**TINY, "epochs": 1, "dataset": response.json()["dataset"]}
        run = client.post("/api/runs", json={"name": "on upload", "config": config}).json()
        done = wait_for(
            lambda: (r := client.get(f"/api/runs/{run['id']}").json())["status"] in ("succeeded", "failed") and r,
            timeout=240, what="the run on the uploaded dataset to finish",
        )  # fmt: skip
    assert done["status"] == "succeeded", done["error"]


def test_skip_reasons_and_the_report_name_no_server_path(client: TestClient, settings: Settings) -> None:
    # Pillow names the file it could not identify by its absolute path, under the staging folder.
    response = post(client, "pets", make_zip({**class_tree(), "cats/fake.jpg": b"not an image at all"}))
    report = (settings.data_dir / "uploads" / "pets" / REPORT_FILE).read_text()

    assert response.status_code == 201, response.text
    [skipped] = response.json()["skipped"]
    assert skipped["file"] == "cats/fake.jpg" and "cats/fake.jpg" in skipped["reason"]
    for text in (response.text, report):
        assert str(settings.data_dir) not in text and ".incoming" not in text and str(Path.home()) not in text
