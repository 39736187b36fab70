"""/api/runs/{id}/predict and /api/runs/{id}/export: use a trained run's model."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from app.api.deps import IdPath, PrincipalDep, UowDep
from app.schemas.inference import CheckpointKind, ExportFormat, PredictionRead
from app.services import inference
from app.settings import Settings

router = APIRouter(prefix="/runs", tags=["inference"])

PREDICT_PATH = re.compile(r"/api/runs/[0-9]+/predict")
FORM_OVERHEAD_BYTES = 64 * 1024  # multipart framing and the small fields


def body_limits(settings: Settings) -> list[tuple[re.Pattern[str], int]]:
    """Predict takes up to `max_predict_files` images of `max_predict_file_bytes`; a larger body gets 413."""
    return [(PREDICT_PATH, settings.max_predict_files * settings.max_predict_file_bytes + FORM_OVERHEAD_BYTES)]


@router.post("/{run_id}/predict", response_model=PredictionRead)
def predict(
    run_id: IdPath, uow: UowDep, principal: PrincipalDep,
    files: Annotated[list[UploadFile], File(description="one or more images (any format Pillow reads)")],
    top_k: Annotated[int, Form(ge=1, le=inference.MAX_TOP_K)] = 5,
    checkpoint: Annotated[CheckpointKind, Form()] = "best",
    heatmap: Annotated[bool, Form(description="add a Grad-CAM heat map of the top class")] = False,
) -> PredictionRead:  # fmt: skip
    """The top-k classes of each image, seen through the run's eval transform and normalization.

    A file that is not an image → 422, one too large or a decompression bomb → 413; the
    message names the file. Nothing is stored. 409 while the run has no checkpoint.
    """
    uploads = [inference.ImageUpload(name=f.filename or f"file {i + 1}", source=f.file) for i, f in enumerate(files)]
    return inference.predict(
        uow=uow, principal=principal, run_id=run_id, files=uploads, top_k=top_k,
        checkpoint=checkpoint, heatmap=heatmap,
    )  # fmt: skip


@router.get("/{run_id}/export", response_class=FileResponse)
def export(
    run_id: IdPath, uow: UowDep, principal: PrincipalDep,
    format: Annotated[ExportFormat, Query(description="onnx | torchscript | safetensors")] = "onnx",
    checkpoint: Annotated[CheckpointKind, Query()] = "best",
) -> FileResponse:  # fmt: skip
    """A zip of the model (`model.onnx`, `model.pt` or `model.safetensors`) and `model_card.json`.

    Each export is checked against PyTorch's logits before it is offered (ONNX with
    onnxruntime, TorchScript reloaded, safetensors loaded into a fresh torchvision model).
    409 while the run has no checkpoint.
    """
    folder = Path(tempfile.mkdtemp(prefix="stagewise-export-"))
    try:
        exported = inference.export_run(
            uow=uow, principal=principal, run_id=run_id, fmt=format, checkpoint=checkpoint,
            folder=folder,
        )  # fmt: skip
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(
        exported.path, media_type="application/zip", filename=exported.filename,
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )  # fmt: skip
