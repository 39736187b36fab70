"""`stagewise evaluate RUN DATASET`: a run folder judged on a folder of photos, no server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image, ImageFilter
from typer.testing import CliRunner

from app.cli import cli
from tests import trained_run

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, shared_datasets: Path) -> Path:
    root = tmp_path_factory.mktemp("photos")
    (root / "hymenoptera_data").symlink_to(shared_datasets / "hymenoptera_data", target_is_directory=True)
    return trained_run.train(root, tmp_path_factory.mktemp("trained"))


def test_evaluate_a_folder_of_blurred_photos_prints_accuracy_and_matrix(
    trained: Path, shared_datasets: Path, tmp_path: Path
) -> None:
    for name in ("ants", "bees"):
        (tmp_path / "blurred" / name).mkdir(parents=True)
        for photo in sorted((shared_datasets / "hymenoptera_data" / "val" / name).glob("*.jpg"))[:4]:
            Image.open(photo).filter(ImageFilter.GaussianBlur(4)).save(tmp_path / "blurred" / name / photo.name)
    result = runner.invoke(cli, ["evaluate", str(trained), str(tmp_path / "blurred")])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["count"] == 8 and sum(map(sum, body["confusion"])) == 8
    assert body["class_mapping"] == {"ants": 0, "bees": 1} and 0 <= body["accuracy"] <= 1


def evaluate_by_name(trained: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> dict:
    from app.settings import get_settings

    monkeypatch.setenv("STAGEWISE_DATA_DIR", str(data_root))
    get_settings.cache_clear()
    try:
        result = runner.invoke(cli, ["evaluate", str(trained), "hymenoptera", *args])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_evaluate_a_catalog_dataset_by_name_under_the_data_root(
    trained: Path, shared_datasets: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert evaluate_by_name(trained, shared_datasets, monkeypatch, "--split", "all")["count"] == 398  # every photo


def test_the_runs_own_dataset_by_name_is_split_as_the_run_split_it(
    trained: Path, shared_datasets: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = evaluate_by_name(trained, shared_datasets, monkeypatch, "--split", "test")
    report = json.loads((trained / "test_report.json").read_text())
    assert (body["confusion"], body["accuracy"]) == (report["confusion"], report["accuracy"])


def test_evaluate_names_missing_and_extra_classes(trained: Path, shared_datasets: Path, tmp_path: Path) -> None:
    for folder, source in (("ants", "ants"), ("wasps", "bees")):
        (tmp_path / "other" / folder).mkdir(parents=True)
        photo = next((shared_datasets / "hymenoptera_data" / "val" / source).glob("*.jpg"))
        (tmp_path / "other" / folder / photo.name).write_bytes(photo.read_bytes())
    result = runner.invoke(cli, ["evaluate", str(trained), str(tmp_path / "other")])
    assert result.exit_code == 1 and "missing: bees; extra: wasps" in result.output
