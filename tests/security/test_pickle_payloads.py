"""Pickle payloads that would run code: refused by every loader, proven over the real stack.

A pickle names importable callables and calls them while it loads, so a hostile `.pt` file
or CIFAR-10 batch runs code on the worker the moment it is unpickled (MLflow CVE-2024-37052,
ClearML CVE-2024-24590). Each payload here is live (the first tests run it through a naive
loader and see it act) and only touches a marker file. The unit tests feed every payload to
each loader; the end-to-end tests plant them where a user, or anyone who can write to the
data root, could: a `weights:` path, the ImageNet weights folder, torch hub's folder (read
when the server allows downloads), a run's `best.pt` (`weights: run:<id>`), a run's `checkpoint.pt`
before it resumes, a CIFAR-10 batch and an uploaded archive. Then a real server and worker train, and each run must fail with one sentence naming
the file, no marker may appear, and the same worker must train the next run.
"""

from __future__ import annotations

import builtins
import io
import os
import pickle
import shlex
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import torch
from integration_fixtures import TINY, Backend, Stack, make_settings, reset_database, wait_for
from numpy.testing._private.utils import runstring
from PIL import Image

from app.schemas.train_config import DatasetConfig
from worker.training import decoded_cache
from worker.training.backbones import _download, imagenet_weights_file
from worker.training.checkpoints import load_tensors
from worker.training.datasets import CIFAR10_BATCHES, load_data
from worker.training.errors import InvalidDataset, TrainingError, WeightsUnavailable

# --- payloads -----------------------------------------------------------------------------


class Payload:
    """Unpickling this calls `call(*args)`: what a hostile file does with `__reduce__`."""

    def __init__(self, call: Callable[..., Any], *args: Any) -> None:
        self.call, self.args = call, args

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return self.call, self.args


def _touch_source(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').close()"


# Each makes a payload that creates `marker`, through a different callable an allow-list must refuse.
GADGETS: dict[str, Callable[[Path], Payload]] = {
    "os.system": lambda marker: Payload(os.system, f"touch {shlex.quote(str(marker))}"),
    "builtins.exec": lambda marker: Payload(builtins.exec, _touch_source(marker)),
    "builtins.eval": lambda marker: Payload(builtins.eval, f"__import__('pathlib').Path({str(marker)!r}).touch()"),
    "subprocess.call": lambda marker: Payload(subprocess.call, ["touch", str(marker)]),
    "numpy runstring": lambda marker: Payload(runstring, _touch_source(marker), {}),  # a numpy-only gadget
}


def weights_with(payload: Payload) -> dict[str, Any]:
    """A plausible checkpoint: real tensors, with the payload where a tensor should be."""
    return {"model": {"conv1.weight": torch.zeros(64, 3, 7, 7), "fc.bias": payload}, "epoch": 1}


def cifar_batch_with(payload: Payload) -> dict[bytes, Any]:
    """A plausible CIFAR-10 batch: pixels and labels, with the payload as its label."""
    return {b"batch_label": payload, b"labels": [0], b"data": np.zeros((1, 3072), dtype=np.uint8)}


def pickle_file(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj, protocol=2))  # the protocol of CIFAR-10's batches and of torch.save


def save_weights(path: Path, payload: Payload) -> None:
    """A torch.save zip whose data.pkl holds the payload, as real checkpoints are written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(weights_with(payload), path)


def pickle_weights(path: Path, payload: Payload) -> None:
    """A bare pickle, which torch.load reads as its legacy format."""
    # No tensors: pickle writes those through torch.storage._load_from_bytes, which torch
    # refuses first, and then the payload itself would never be put to the test.
    pickle_file(path, {"model": {"fc.bias": payload}})


FORMATS: dict[str, tuple[Callable[[Path, Payload], None], Callable[[Path], object]]] = {
    "torch.save": (save_weights, lambda path: torch.load(path, weights_only=False)),
    "bare pickle": (pickle_weights, lambda path: pickle.loads(path.read_bytes())),
}


# --- unit: every loader, every payload ------------------------------------------------------


@pytest.mark.parametrize("file_format", FORMATS)
@pytest.mark.parametrize("gadget", GADGETS)
def test_each_payload_runs_code_when_loaded_naively(gadget: str, file_format: str, tmp_path: Path) -> None:
    write, naive_load = FORMATS[file_format]
    write(tmp_path / "evil.pt", GADGETS[gadget](tmp_path / "pwned"))
    naive_load(tmp_path / "evil.pt")
    assert (tmp_path / "pwned").exists()  # so "no marker" below means refused, not a dud payload


@pytest.mark.parametrize("file_format", FORMATS)
@pytest.mark.parametrize("gadget", GADGETS)
def test_the_weights_loader_refuses_each_payload_without_running_it(
    gadget: str, file_format: str, tmp_path: Path
) -> None:
    payload = GADGETS[gadget](tmp_path / "pwned")
    FORMATS[file_format][0](tmp_path / "evil.pt", payload)
    # The refused global is the payload's callable, not some tensor plumbing before it.
    with pytest.raises(TrainingError, match=rf"evil.pt: refused, it would import [\w.]*\b{payload.call.__name__}\."):
        load_tensors(tmp_path / "evil.pt", what="weights")
    assert not (tmp_path / "pwned").exists()


def test_a_refusal_never_advises_turning_the_check_off(tmp_path: Path) -> None:
    save_weights(tmp_path / "evil.pt", GADGETS["os.system"](tmp_path / "pwned"))
    with pytest.raises(TrainingError) as refused:
        load_tensors(tmp_path / "evil.pt", what="weights")
    # torch's own text says "re-run with weights_only=False" or "add_safe_globals([system])".
    assert [hint for hint in ("weights_only", "safe_globals", "\n") if hint in str(refused.value)] == []


@pytest.mark.parametrize("gadget", GADGETS)
def test_the_cifar10_unpickler_refuses_each_payload_without_running_it(gadget: str, tmp_path: Path) -> None:
    payload = GADGETS[gadget](tmp_path / "pwned")
    for name in CIFAR10_BATCHES:
        pickle_file(tmp_path / "cifar" / name, cifar_batch_with(payload))
    match = rf"data_batch_1 is not a valid CIFAR-10 batch \(refusing [\w.]*\b{payload.call.__name__}:"
    with pytest.raises(InvalidDataset, match=match):
        load_data(DatasetConfig(name="cifar10", path="cifar"), tmp_path, image_size=32)
    assert not (tmp_path / "pwned").exists()


def test_a_decode_cache_entry_that_is_a_pickle_is_ignored_without_running_it(tmp_path: Path) -> None:
    save_weights(tmp_path / "entry.safetensors", GADGETS["os.system"](tmp_path / "pwned"))
    assert (decoded_cache.read(tmp_path / "entry.safetensors"), (tmp_path / "pwned").exists()) == (None, False)


def test_a_download_whose_bytes_do_not_match_the_hash_in_its_name_is_refused_and_not_kept(tmp_path: Path) -> None:
    save_weights(tmp_path / "served.pth", GADGETS["os.system"](tmp_path / "pwned"))  # what a swapped mirror sends
    with pytest.raises(WeightsUnavailable, match="invalid hash value"):
        _download((tmp_path / "served.pth").as_uri(), tmp_path / "hub" / "resnet18-f37072fd.pth")
    assert list((tmp_path / "hub").iterdir()) == []


# --- end to end: a real server and worker ---------------------------------------------------

CLEAN = {**TINY, "epochs": 1}
LONG = {**TINY, "epochs": 5, "dataset": {"name": "fake", "num_images": 32, "num_classes": 2}}
UPLOAD = "pickled"
TORCH_HOME = "torch-home"  # under the stack's folder: the worker's torch.hub.get_dir() is TORCH_HOME/hub


@pytest.fixture(scope="module")
def stack(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The integration stack, with an ImageNet weights folder and a torch hub folder of its own to plant files in.

    Its admin allows downloads (the only way a run reads torch hub's folder): no run here needs
    the network, since the one file a download would fetch is already planted in that folder.
    """
    root = tmp_path_factory.mktemp(f"pickles-{backend.name}")
    made = make_settings(backend, root / "data", weights_dir=root / "weights", allow_download=True)
    reset_database(made)
    running = Stack(made, root)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TORCH_HOME", str(root / TORCH_HOME))  # inherited by the worker processes
        try:
            running.start_server()
            running.start_worker()
            yield running
        finally:
            running.stop()
            for log in sorted(root.glob("*.log")):
                sys.stderr.write(
                    f"\n----- {log.name} (last 3000 chars) -----\n{log.read_text(errors='replace')[-3000:]}"
                )


@pytest.fixture(scope="module")
def markers(stack: Stack) -> Path:
    """Where payloads would leave their marker files: it must stay empty."""
    folder = stack.logs / "markers"
    folder.mkdir()
    return folder


def submit(client: httpx.Client, config: dict[str, Any]) -> int:
    response = client.post("/api/runs", json={"config": config})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def outcome(client: httpx.Client, run_id: int, timeout: float = 180) -> dict[str, Any]:
    return wait_for(
        lambda: (run := client.get(f"/api/runs/{run_id}").json())["status"] in ("succeeded", "failed") and run,
        timeout=timeout, what=f"run {run_id} to finish",
    )  # fmt: skip


def pickled_upload(markers: Path) -> io.BytesIO:
    """Two class folders of PNGs, plus pickles where loaders would look: weights and CIFAR batches."""
    out, png = io.BytesIO(), io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(png, format="PNG")
    with zipfile.ZipFile(out, "w") as archive:
        for index in range(4):
            archive.writestr(f"{UPLOAD}/cats/{index}.png", png.getvalue())
            archive.writestr(f"{UPLOAD}/dogs/{index}.png", png.getvalue())
        archive.writestr(f"{UPLOAD}/cats/evil.jpg", pickle.dumps(GADGETS["os.system"](markers / "upload-jpg")))
        archive.writestr(f"{UPLOAD}/model.pt", pickle.dumps({"model": GADGETS["os.system"](markers / "upload-pt")}))
        for name in CIFAR10_BATCHES:
            batch = cifar_batch_with(GADGETS["builtins.exec"](markers / "upload-cifar"))
            archive.writestr(f"{UPLOAD}/cifar-10-batches-py/{name}", pickle.dumps(batch, protocol=2))
    out.seek(0)
    return out


def plant(
    settings_data: Path, weights_dir: Path, hub_dir: Path, markers: Path
) -> dict[str, tuple[dict[str, Any], str]]:
    """Write each hostile file; returns case → (the run config that reads it, the file it names)."""
    imagenet, hub_cached = imagenet_weights_file("resnet18")[0], imagenet_weights_file("resnet34")[0]
    save_weights(settings_data / "hostile/state_dict.pt", GADGETS["os.system"](markers / "pt"))
    pickle_weights(settings_data / "hostile/legacy.pth", GADGETS["builtins.exec"](markers / "pth"))
    save_weights(settings_data / "hostile/model.safetensors", GADGETS["os.system"](markers / "st"))
    save_weights(weights_dir / imagenet, GADGETS["subprocess.call"](markers / "imagenet"))
    # Not in weights_dir: with downloads allowed, torchvision would take it from torch hub's folder.
    save_weights(hub_dir / hub_cached, GADGETS["os.system"](markers / "hub"))
    for name in CIFAR10_BATCHES:
        batch = cifar_batch_with(GADGETS["os.system"](markers / "cifar"))
        pickle_file(settings_data / "hostile-cifar/cifar-10-batches-py" / name, batch)
    cifar = {"name": "cifar10", "path": "hostile-cifar"}
    return {
        "weights: a torch.save file": ({**CLEAN, "weights": "hostile/state_dict.pt"}, "hostile/state_dict.pt"),
        "weights: a bare pickle": ({**CLEAN, "weights": "hostile/legacy.pth"}, "hostile/legacy.pth"),
        "weights: a pickle named .safetensors": ({**CLEAN, "weights": "hostile/model.safetensors"}, "model.safetensors"),
        "weights: imagenet, from the weights folder": ({**CLEAN, "weights": "imagenet"}, imagenet),
        "weights: imagenet, downloads allowed, from torch hub's folder": (
            {**CLEAN, "backbone": "resnet34", "weights": "imagenet"}, f"hub/checkpoints/{hub_cached}",
        ),
        "a CIFAR-10 batch": ({**CLEAN, "dataset": cifar}, "cifar-10-batches-py/data_batch_1"),
        "weights: a pickle sent in an upload": ({**CLEAN, "weights": f"uploads/{UPLOAD}/model.pt"}, f"{UPLOAD}/model.pt"),
    }  # fmt: skip


HOSTILE_CASES = [
    "weights: a torch.save file", "weights: a bare pickle", "weights: a pickle named .safetensors",
    "weights: imagenet, from the weights folder", "weights: imagenet, downloads allowed, from torch hub's folder",
    "a CIFAR-10 batch", "weights: a pickle sent in an upload", "weights: run:<id>",
]  # fmt: skip


@pytest.fixture(scope="module")
def hostile(stack: Stack, markers: Path) -> dict[str, Any]:
    """Every planted payload trained, then a clean run, then `run:<id>` of that run with its best.pt replaced."""
    settings = stack.settings
    assert settings.weights_dir is not None
    cases = plant(settings.data_dir, settings.weights_dir, stack.logs / TORCH_HOME / "hub/checkpoints", markers)
    worker = stack.workers[-1]
    with stack.client() as client:
        upload = client.post("/api/datasets", data={"name": UPLOAD}, files={"file": ("p.zip", pickled_upload(markers))})
        assert upload.status_code == 201, upload.text
        ids = {case: submit(client, config) for case, (config, _) in cases.items()}
        runs = {case: outcome(client, run_id) for case, run_id in ids.items()}
        clean = outcome(client, submit(client, CLEAN))
        best = settings.runs_dir / str(clean["id"]) / "best.pt"
        save_weights(best, GADGETS["os.system"](markers / "run-best"))
        runs["weights: run:<id>"] = outcome(client, submit(client, {**CLEAN, "weights": f"run:{clean['id']}"}))
    pinned = f"runs/{clean['id']}/snapshots/best-epoch1.pt"  # best.pt as the submit found it (its "epoch" is 1)
    names = {case: name for case, (_, name) in cases.items()} | {"weights: run:<id>": pinned}
    return {"runs": runs, "names": names, "clean": clean, "worker": worker, "upload": upload.json()}


def test_no_planted_payload_ran(hostile: dict[str, Any], markers: Path) -> None:
    assert sorted(path.name for path in markers.iterdir()) == []


@pytest.mark.parametrize("case", HOSTILE_CASES)
def test_each_planted_payload_fails_its_run_naming_the_file(hostile: dict[str, Any], case: str) -> None:
    run = hostile["runs"][case]
    assert (run["status"], hostile["names"][case] in (run["error"] or "")) == ("failed", True), run["error"]


def test_each_failure_is_one_sentence_without_a_traceback_or_unsafe_advice(hostile: dict[str, Any]) -> None:
    errors = [run["error"] for run in hostile["runs"].values()]
    assert [e for e in errors if "\n" in e or "Traceback" in e or "weights_only" in e or "safe_globals" in e] == []


def test_the_same_worker_survives_and_trains_the_next_run(hostile: dict[str, Any]) -> None:
    assert (hostile["clean"]["status"], hostile["worker"].poll()) == ("succeeded", None)


def test_an_upload_keeps_none_of_its_pickles(hostile: dict[str, Any], stack: Stack) -> None:
    folder = stack.settings.data_dir / hostile["upload"]["dataset"]["path"]
    kept = sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())
    assert [name for name in kept if not name.endswith(".png") and name != "upload-report.json"] == []


@pytest.fixture(scope="module")
def resumed(stack: Stack, markers: Path) -> dict[str, Any]:
    """A run whose worker is killed mid-run, its checkpoint.pt replaced, then taken up by a new worker."""
    with stack.client() as client:
        run_id = submit(client, LONG)
        wait_for(
            lambda: (run := client.get(f"/api/runs/{run_id}").json())["epochs_done"] >= 1 and run["status"] == "running",
            timeout=120, what=f"run {run_id} to finish an epoch while running",
        )  # fmt: skip
        stack.kill_worker(stack.workers[-1])  # dead before the file is planted: nothing rewrites it
        checkpoint = stack.settings.runs_dir / str(run_id) / "checkpoint.pt"
        save_weights(checkpoint, GADGETS["os.system"](markers / "resume"))
        stack.start_worker()
        run = outcome(client, run_id)
        after = outcome(client, submit(client, CLEAN))
    return {"run": run, "after": after, "path": f"runs/{run_id}/checkpoint.pt"}


def test_a_checkpoint_planted_before_a_resume_fails_that_attempt_naming_it(resumed: dict[str, Any]) -> None:
    run = resumed["run"]
    assert (run["status"], run["attempt"], resumed["path"] in (run["error"] or "")) == ("failed", 2, True), run["error"]


def test_a_checkpoint_planted_before_a_resume_runs_no_code(resumed: dict[str, Any], markers: Path) -> None:
    assert not (markers / "resume").exists()


def test_the_worker_that_refused_the_checkpoint_trains_the_next_run(resumed: dict[str, Any]) -> None:
    assert resumed["after"]["status"] == "succeeded", resumed["after"]["error"]
