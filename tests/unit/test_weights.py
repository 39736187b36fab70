"""Starting weights: ImageNet files, our checkpoints, and files that must be refused."""

from __future__ import annotations

import builtins
import pickle
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torchvision
from safetensors.torch import save_file

from app.schemas.train_config import TrainConfig
from worker.training import checkpoints
from worker.training.backbones import build_model, imagenet_weights_file
from worker.training.errors import CheckpointMismatch, TrainingError, WeightsUnavailable


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An empty data root."""
    path = tmp_path / "data"
    path.mkdir()
    return path


def _resnet18_state(num_classes: int = 1000) -> dict[str, torch.Tensor]:
    return torchvision.models.resnet18(num_classes=num_classes).state_dict()


def _checkpoint_config(relative: str) -> TrainConfig:
    return TrainConfig(backbone="resnet18", weights=relative)


def test_missing_imagenet_file_names_the_file_and_the_folder(tmp_path: Path, root: Path) -> None:
    file_name, url = imagenet_weights_file("resnet18")

    with pytest.raises(WeightsUnavailable) as raised:
        build_model(TrainConfig(weights="imagenet"), 2, data_root=root, weights_dir=tmp_path / "weights")

    assert file_name in str(raised.value)
    assert str(tmp_path / "weights") in str(raised.value)
    assert url in str(raised.value)


def test_imagenet_file_in_weights_dir_is_loaded_under_a_new_head(tmp_path: Path, root: Path) -> None:
    saved = _resnet18_state()
    torch.save(saved, tmp_path / imagenet_weights_file("resnet18")[0])

    model = build_model(TrainConfig(weights="imagenet"), 3, data_root=root, weights_dir=tmp_path)

    assert torch.equal(model.layer3[0].conv1.weight, saved["layer3.0.conv1.weight"])
    assert model.fc.out_features == 3


def test_our_checkpoint_of_another_class_count_keeps_the_backbone_and_a_fresh_head(root: Path) -> None:
    saved = _resnet18_state(num_classes=10)
    torch.save({"model": saved, "epoch": 4}, root / "run.pt")

    model = build_model(_checkpoint_config("run.pt"), 2, data_root=root)

    assert torch.equal(model.layer4[1].conv2.weight, saved["layer4.1.conv2.weight"])
    assert torch.equal(model.bn1.running_var, saved["bn1.running_var"])
    assert model.fc.out_features == 2


def test_checkpoint_of_a_compiled_or_ddp_model_loads(root: Path) -> None:
    saved = _resnet18_state(num_classes=2)
    torch.save({f"module._orig_mod.{k}": v for k, v in saved.items()}, root / "wrapped.pth")

    model = build_model(_checkpoint_config("wrapped.pth"), 2, data_root=root)

    assert torch.equal(model.fc.weight, saved["fc.weight"])


def test_checkpoint_of_another_architecture_lists_the_mismatched_keys(root: Path) -> None:
    torch.save(torchvision.models.mobilenet_v3_small().state_dict(), root / "other.pt")

    with pytest.raises(CheckpointMismatch) as raised:
        build_model(_checkpoint_config("other.pt"), 2, data_root=root)

    message = str(raised.value)
    assert "missing 102: conv1.weight, bn1.weight" in message
    assert "unexpected" in message and "features.0.0.weight" in message


def test_safetensors_checkpoint_loads_with_its_head(root: Path) -> None:
    saved = _resnet18_state(num_classes=3)
    save_file(saved, root / "run.safetensors")

    model = build_model(_checkpoint_config("run.safetensors"), 3, data_root=root)

    assert torch.equal(model.fc.weight, saved["fc.weight"])


def test_missing_checkpoint_names_the_file(root: Path) -> None:
    with pytest.raises(TrainingError, match="nowhere.pt"):
        build_model(_checkpoint_config("nowhere.pt"), 2, data_root=root)


def test_checkpoint_symlinked_out_of_the_data_root_is_refused(tmp_path: Path, root: Path) -> None:
    torch.save(_resnet18_state(num_classes=2), tmp_path / "outside.pt")
    (root / "inside.pt").symlink_to(tmp_path / "outside.pt")

    with pytest.raises(TrainingError, match="outside the data root"):
        build_model(_checkpoint_config("inside.pt"), 2, data_root=root)


def test_absolute_checkpoint_path_outside_the_data_root_is_refused(tmp_path: Path, root: Path) -> None:
    torch.save(_resnet18_state(num_classes=2), tmp_path / "outside.pt")
    # The schema already rejects absolute paths; the loader must not rely on it.
    config = TrainConfig().model_copy(update={"weights": str(tmp_path / "outside.pt")})

    with pytest.raises(TrainingError, match="outside the data root"):
        build_model(config, 2, data_root=root)


class _OpensAFile:
    """Unpickling this calls open(marker, "w"): what a hostile checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return builtins.open, (str(self.marker), "w")


def _write_with_pickle(path: Path, payload: object) -> None:
    path.write_bytes(pickle.dumps(payload, protocol=2))


def _write_with_torch_save(path: Path, payload: object) -> None:
    torch.save(payload, path)


@pytest.mark.parametrize("write", [_write_with_pickle, _write_with_torch_save])
def test_a_pickle_that_runs_code_is_refused_without_running_it(
    write: Callable[[Path, object], None], tmp_path: Path, root: Path
) -> None:
    marker = tmp_path / "pwned"
    write(root / "evil.pt", {"model": _OpensAFile(marker)})

    with pytest.raises(TrainingError, match="cannot read"):
        build_model(_checkpoint_config("evil.pt"), 2, data_root=root)

    assert not marker.exists()


class _Lost(Exception):
    pass


def test_a_checkpoint_write_whose_run_was_lost_meanwhile_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    checkpoints.save_atomic({"epoch": 4}, path)  # the run's new owner wrote epoch 4

    def lost() -> None:
        raise _Lost("the run is no longer ours")

    with pytest.raises(_Lost):
        checkpoints.save_atomic({"epoch": 1}, path, before_replace=lost)  # a stale attempt, woken up
    assert (checkpoints.load_tensors(path, what="checkpoint")["epoch"], sorted(p.name for p in tmp_path.iterdir())) == (
        4, ["checkpoint.pt"],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("server", "config"),
    [(False, True), (True, False)],
    ids=["the admin's off beats the config's true", "the config's false narrows the admin's on"],
)
def test_downloads_need_both_the_admin_and_the_config(
    server: bool, config: bool, tmp_path: Path, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A file in torch hub's folder is what a download would have left there: reading it is a download's outcome.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    hub.mkdir(parents=True)
    torch.save(_resnet18_state(), hub / imagenet_weights_file("resnet18")[0])
    asked = TrainConfig(weights="imagenet", allow_download=config)
    with pytest.raises(WeightsUnavailable, match="resnet18"):
        build_model(asked, 2, data_root=root, weights_dir=tmp_path / "weights", allow_download=server)
    model = build_model(TrainConfig(weights="imagenet"), 2, data_root=root, weights_dir=tmp_path / "w", allow_download=True)
    assert model.fc.out_features == 2  # the same file is read when both allow it
