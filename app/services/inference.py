"""Using a run's model: predict classes of uploaded images, export it for deployment.

Read-only: it checks that the caller may see the run, finds the checkpoint by the run's
id (never a client path), and hands the file to the training core
(`worker.training.inference`, `worker.training.export`). Uploaded images are read into
memory and decoded there; nothing is stored. The reads are short unit-of-work blocks that end before
the model is loaded, so no slow work runs inside a transaction. Torch is imported on first use (as in
`services.plan`), so the API and the CLI start without it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, get_args

from app.schemas.accounts import Principal
from app.schemas.inference import ClassProbability, ExportFormat, ImagePrediction, PredictionRead
from app.services import runs
from app.services.errors import ArtifactNotFound, ExportFailed, InvalidInput, RunStateConflict, UploadTooLarge
from app.services.unit_of_work import UnitOfWork
from app.settings import Settings
from worker.training.errors import BadImage, ExportMismatch, ImageTooLarge, TrainingError

if TYPE_CHECKING:  # torch and the models load on first use, not when the API starts
    import torch

    from worker.training.inference import Classifier

MAX_TOP_K = 100


@dataclass(frozen=True)
class ImageUpload:
    """One uploaded file: the name the client gave it and its content."""

    name: str
    source: BinaryIO


@dataclass(frozen=True)
class ExportedModel:
    """A checked export ready to download: the zip and the name to offer it under."""

    path: Path
    filename: str
    max_abs_diff: float


def _classifier(*, uow: UnitOfWork, principal: Principal, run_id: int, checkpoint: str) -> Classifier:
    """The run's model from its `best` or `last` checkpoint (404 for a run the caller may not see).

    Raises:
        RunStateConflict: the run has no such checkpoint yet, or it cannot be read (409).
    """
    run = runs.get_run(uow=uow, principal=principal, run_id=run_id)
    try:
        path = runs.checkpoint_file(uow=uow, principal=principal, run_id=run_id, kind=checkpoint)
    except ArtifactNotFound as exc:
        raise RunStateConflict(
            f"run {run_id} is {run.status} and has no {checkpoint} checkpoint yet: a run writes one after "
            "its first epoch (best.pt only with a validation split; ask for checkpoint=last then)"
        ) from exc
    from worker.training import inference

    try:
        return inference.load_classifier(path)
    except TrainingError as exc:
        raise RunStateConflict(f"run {run_id}: {exc}") from exc


def predict(
    *, uow: UnitOfWork, principal: Principal, run_id: int, files: Sequence[ImageUpload],
    top_k: int = 5, checkpoint: str = "best", heatmap: bool = False,
) -> PredictionRead:  # fmt: skip
    """The `top_k` classes of each uploaded image, as the run's test split would see it.

    Every file is checked before any is classified, so one bad file fails the request.

    Raises:
        InvalidInput: no files, too many, a file that is not an image, or `top_k` out of range (422).
        UploadTooLarge: a file over `max_predict_file_bytes` or `max_upload_image_pixels` (413).
    """
    settings = uow.settings
    if not files:
        raise InvalidInput.at(("body", "files"), "send one or more images in the multipart field 'files'")
    if len(files) > settings.max_predict_files:
        raise InvalidInput.at(("body", "files"), f"{len(files)} files; at most {settings.max_predict_files} per request")
    if not 1 <= top_k <= MAX_TOP_K:
        raise InvalidInput.at(("body", "top_k"), f"top_k must be between 1 and {MAX_TOP_K}, got {top_k}")
    classifier = _classifier(uow=uow, principal=principal, run_id=run_id, checkpoint=checkpoint)
    import torch

    from worker.training import inference

    images = [_read(classifier, settings, upload, position) for position, upload in enumerate(files)]
    ranked = inference.top_k(inference.probabilities(classifier, torch.stack(images)), top_k)
    results = []
    for upload, image, best in zip(files, images, ranked, strict=True):
        top = [ClassProbability(name=classifier.class_names[i], index=i, probability=p) for i, p in best]
        results.append(ImagePrediction(file=upload.name, top=top, heatmap_png=_heatmap(classifier, image, top[0].index)
                                       if heatmap else None))  # fmt: skip
    return PredictionRead(
        run_id=run_id, checkpoint=checkpoint, epoch=classifier.epoch, image_size=classifier.image_size,  # type: ignore[arg-type]
        normalization=classifier.normalization, predictions=results,
    )  # fmt: skip


def _read(classifier: Classifier, settings: Settings, upload: ImageUpload, position: int) -> torch.Tensor:
    """One upload as the run's stored uint8 view; errors name the file."""
    from worker.training import inference

    loc = ("body", "files", position)
    data = upload.source.read(settings.max_predict_file_bytes + 1)
    if len(data) > settings.max_predict_file_bytes:
        raise UploadTooLarge.at(loc, f"{upload.name}: larger than {settings.max_predict_file_bytes} bytes")
    try:
        return inference.read_image(classifier, io.BytesIO(data), max_pixels=settings.max_upload_image_pixels)
    except ImageTooLarge as exc:
        raise UploadTooLarge.at(loc, f"{upload.name}: {exc}") from exc
    except BadImage as exc:
        raise InvalidInput.at(loc, f"{upload.name}: {exc}") from exc


def _heatmap(classifier: Classifier, image: torch.Tensor, class_index: int) -> str | None:
    """Grad-CAM of the top class over the image; None for a backbone without a spatial last stage (ViT)."""
    from worker.training import inference

    try:
        heat = inference.grad_cam(classifier, image, class_index)
    except TrainingError:
        return None
    return inference.heatmap_png(classifier, image, heat)


def export_run(
    *, uow: UnitOfWork, principal: Principal, run_id: int, fmt: str, checkpoint: str, folder: Path
) -> ExportedModel:
    """The run's model as a checked `fmt` export with its model card, zipped in `folder` (the caller's scratch).

    Raises:
        RunStateConflict: no such checkpoint yet (409).
        ExportFailed: the exported model's logits differ from PyTorch's (500; nothing offered).
    """
    formats = get_args(ExportFormat)
    if fmt not in formats:
        raise InvalidInput.at(("query", "format"), f"unknown format {fmt!r}; allowed: {', '.join(formats)}")
    run = runs.get_run(uow=uow, principal=principal, run_id=run_id)
    classifier = _classifier(uow=uow, principal=principal, run_id=run_id, checkpoint=checkpoint)
    from worker.training import export  # torch, onnx: only once there is something to export

    extra = {
        "run_id": run_id, "run_name": run.name, "checkpoint": checkpoint,
        "metrics": run.summary.model_dump(mode="json") if run.summary else None,
    }  # fmt: skip
    try:
        result = export.export_model(classifier, fmt, folder, extra=extra)
    except ExportMismatch as exc:
        raise ExportFailed(f"run {run_id}: {exc}") from exc
    return ExportedModel(path=result.archive, filename=f"run-{run_id}-{checkpoint}-{fmt}.zip",
                         max_abs_diff=result.max_abs_diff)  # fmt: skip
