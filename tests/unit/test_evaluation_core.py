"""Judging a trained run on another dataset: classes matched by name, the run's own eval path."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from app.schemas.metrics import TestReport
from app.schemas.train_config import DatasetConfig
from tests import trained_run
from worker.training import inference
from worker.training.evaluation import ClassMismatch, evaluate_dataset, match_classes


@pytest.fixture(scope="module")
def trained(photos: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_run.train(photos, tmp_path_factory.mktemp("trained"))


@pytest.fixture(scope="module")
def classifier(trained: Path) -> inference.Classifier:
    return inference.load_classifier(trained / "best.pt")


@pytest.fixture(scope="module")
def trained_report(trained: Path) -> TestReport:
    return TestReport.model_validate_json((trained / "test_report.json").read_text())


def test_classes_match_by_name_in_the_models_order() -> None:
    match = match_classes(["ants", "bees"], ["bees", "ants"], shared=False)
    assert (match.mapping, match.missing, match.extra) == ({"ants": 0, "bees": 1}, [], [])


def test_different_classes_name_the_missing_and_extra_ones() -> None:
    with pytest.raises(ClassMismatch) as caught:
        match_classes(["ants", "bees"], ["ants", "wasps"], shared=False)
    assert (caught.value.missing, caught.value.extra) == (["bees"], ["wasps"])
    assert "missing: bees; extra: wasps" in str(caught.value)


def test_shared_classes_keep_only_the_common_ones() -> None:
    match = match_classes(["ants", "bees"], ["ants", "wasps"], shared=True)
    assert (match.mapping, match.missing, match.extra) == ({"ants": 0}, ["bees"], ["wasps"])


def test_no_shared_class_is_refused_even_when_asked_for_shared() -> None:
    with pytest.raises(ClassMismatch):
        match_classes(["ants", "bees"], ["cats"], shared=True)


def test_the_runs_own_test_split_gives_its_test_reports_numbers(
    classifier: inference.Classifier, photos: Path, trained_report: TestReport
) -> None:
    result = evaluate_dataset(classifier, trained_run.CONFIG.dataset, photos, "test")
    assert result.count == len(trained_report.predictions or [])
    assert result.confusion == trained_report.confusion
    assert result.accuracy == pytest.approx(trained_report.accuracy)


def test_a_grayscale_copy_is_judged_image_by_image_as_predict_sees_it(
    classifier: inference.Classifier, shared_datasets: Path, tmp_path: Path
) -> None:
    import torch

    source = shared_datasets / "hymenoptera_data" / "val"
    for name in ("ants", "bees"):
        (tmp_path / "gray" / name).mkdir(parents=True)
        for photo in sorted((source / name).glob("*.jpg"))[:6]:
            ImageOps.grayscale(Image.open(photo)).save(tmp_path / "gray" / name / photo.name)
    result = evaluate_dataset(classifier, DatasetConfig(name="imagefolder", path="gray"), tmp_path, "all")
    expected = [[0, 0], [0, 0]]
    for label, name in enumerate(("ants", "bees")):
        for photo in sorted((tmp_path / "gray" / name).glob("*.jpg")):
            with photo.open("rb") as handle:
                image = inference.read_image(classifier, handle, max_pixels=10**8)
            predicted = int(inference.probabilities(classifier, image.unsqueeze(0)).argmax())
            expected[label][predicted] += 1
    assert result.count == 12 and result.confusion == expected
    assert result.accuracy == pytest.approx((expected[0][0] + expected[1][1]) / 12)
    assert result.split_hash and result.loss > 0 and torch.isfinite(torch.tensor(result.loss))


def test_shared_classes_leave_out_images_of_unknown_classes(
    classifier: inference.Classifier, shared_datasets: Path, tmp_path: Path
) -> None:
    source = shared_datasets / "hymenoptera_data" / "val"
    shutil.copytree(source / "ants", tmp_path / "mixed" / "ants")
    shutil.copytree(source / "bees", tmp_path / "mixed" / "wasps")
    config = DatasetConfig(name="imagefolder", path="mixed")
    with pytest.raises(ClassMismatch):
        evaluate_dataset(classifier, config, tmp_path, "all")
    result = evaluate_dataset(classifier, config, tmp_path, "all", shared=True)
    assert result.count == len(list((source / "ants").iterdir()))
    assert sum(result.confusion[1]) == 0 and result.per_class_accuracy["bees"] is None
    assert result.match.extra == ["wasps"]
