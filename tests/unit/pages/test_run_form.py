"""The New run form maps to config paths both ways: inputs → config, API errors → inputs."""

from __future__ import annotations

from app.pages.run_form import (
    config_from_form,
    errors_by_field,
    quick_fills,
    stage_rows,
)
from app.presets import load_preset, preset_names
from app.schemas.train_config import TrainConfig

STAGES = ("conv1", "conv2", "conv3", "conv4", "conv5", "classifier")


def test_inputs_are_laid_over_the_base_config_and_the_rest_is_kept() -> None:
    base = {"label_smoothing": 0.1, "epochs": 100, "dataset": {"name": "cifar10", "train_size": 4000}}
    data = config_from_form({"epochs": "3", "dataset.train_size": "", "backbone": "resnet18"}, base, STAGES)
    assert (data["label_smoothing"], data["epochs"], data["dataset"]["train_size"]) == (0.1, "3", None)


def test_stage_rows_become_stage_schedules() -> None:
    form = {
        "stages.conv1.frozen": "1", "stages.conv1.value": "0.5",
        "stages.conv2.mode": "mult", "stages.conv2.value": "0.1", "stages.conv2.unfreeze_epoch": "1",
        "stages.conv3.mode": "lr", "stages.conv3.value": "",
        "stages.conv4.value": "1e-3", "stages.conv4.unfreeze_epoch": "3",
    }  # fmt: skip
    stages = config_from_form(form, {}, STAGES)["stages"]
    # "Unfreeze at epoch 3" = trains from the 3rd epoch = frozen for 2 (the config's unfreeze_epoch);
    # "at epoch 1" = from the start.
    assert stages == {"conv1": {"lr": 0}, "conv2": {"mult": "0.1"}, "conv4": {"lr": "1e-3", "unfreeze_epoch": 2}}


def test_a_non_numeric_unfreeze_epoch_goes_as_typed_so_validation_names_it() -> None:
    stages = config_from_form({"stages.conv4.unfreeze_epoch": "soon"}, {}, STAGES)["stages"]
    assert stages == {"conv4": {"unfreeze_epoch": "soon"}}


def test_the_form_output_validates_as_a_train_config() -> None:
    form = {"epochs": "2", "batch_size": "8", "stages.classifier.value": "0.1", "optimizer.nesterov": ""}
    config = TrainConfig.model_validate(config_from_form(form, {}, STAGES))
    assert (config.epochs, config.stage("classifier").lr, config.optimizer.nesterov) == (2, 0.1, False)


def test_empty_fractions_mean_an_official_split() -> None:
    form = {"dataset.fractions.train": "", "dataset.fractions.val": "", "dataset.fractions.test": ""}
    assert config_from_form(form, {"dataset": {"name": "cifar10"}}, STAGES)["dataset"]["fractions"] is None


def test_api_errors_are_keyed_by_the_config_path_they_name_and_stage_errors_by_their_row() -> None:
    errors = [
        {"loc": ["body", "config", "stages", "conv1", "lr"], "msg": "Input should be greater than or equal to 0"},
        {"loc": ["body", "config", "dataset", "fractions"], "msg": "Value error, train + val + test must be <= 1"},
        {"loc": ["body"], "msg": "give exactly one of config or preset"},
    ]
    assert errors_by_field(errors) == {
        "stages.conv1": "Input should be greater than or equal to 0",  # shown beside the conv1 row
        "dataset.fractions": "train + val + test must be <= 1",
        "": "give exactly one of config or preset",
    }


def test_editor_rows_show_frozen_multiplier_and_absolute_stages() -> None:
    config = {"stages": {"conv1": {"lr": 0}, "conv2": {"mult": 0.1, "unfreeze_epoch": 3}, "classifier": 0.1}}
    rows = {row.name: row for row in stage_rows(config, STAGES, {"conv1": 9536})}
    assert (rows["conv1"].frozen, rows["conv1"].params) == (True, 9536)
    assert (rows["conv2"].mode, rows["conv2"].value, rows["conv2"].unfreeze_at) == ("mult", "0.1", 4)  # 1-based
    assert rows["conv3"].unfreeze_at == 1  # trains from the first epoch
    assert (rows["classifier"].mode, rows["classifier"].value) == ("lr", "0.1")
    assert rows["conv5"].value == ""  # the base LR


def test_reference_quick_fills_are_distinct_and_carry_weights() -> None:
    fills = quick_fills({name: load_preset(name) for name in preset_names()})
    by_label = {fill.label: fill for fill in fills}
    model_d = by_label["Model D · conv1–3 1e-4, conv4–5 1e-3, classifier 1e-1"]
    assert (model_d.weights, model_d.stages["conv4"]) == ("imagenet", 1e-3)
    assert len(fills) == 6  # Model D with a cosine schedule has Model D's stage LRs
