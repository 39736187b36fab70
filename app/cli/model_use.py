"""Using a trained run without a server: `predict` images, `evaluate` it on a dataset, `export` the model.

RUN is a run folder (`stagewise train --out`, or `<data root>/runs/<id>`) or a checkpoint
file; its checkpoint carries the config and class names. Torch is imported inside the
commands so `stagewise --help` stays instant.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from app.schemas.train_config import DatasetConfig
from app.settings import get_settings

RunArg = Annotated[Path, typer.Argument(help="a run folder (holding best.pt / checkpoint.pt) or a checkpoint file")]
CheckpointOpt = Annotated[str, typer.Option("--checkpoint", help="best | last")]


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def predict(
    run: RunArg,
    images: Annotated[list[Path], typer.Argument(help="image files")],
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="classes to show per image")] = 5,
    checkpoint: CheckpointOpt = "best",
) -> None:
    """Print the top classes of each image as JSON lines, through the run's eval transform."""
    import torch

    from worker.training import inference
    from worker.training.errors import TrainingError

    try:
        classifier = inference.load_classifier(inference.checkpoint_in(run, checkpoint))
    except (TrainingError, ValueError) as exc:
        raise _fail(str(exc)) from None
    pixels = get_settings().max_upload_image_pixels
    stored = []
    for image in images:
        try:
            with image.open("rb") as source:
                stored.append(inference.read_image(classifier, source, max_pixels=pixels))
        except (TrainingError, OSError) as exc:
            raise _fail(f"{image}: {exc}") from None
    ranked = inference.top_k(inference.probabilities(classifier, torch.stack(stored)), top_k)
    for image, best in zip(images, ranked, strict=True):
        top = [{"name": classifier.class_names[i], "probability": round(p, 6)} for i, p in best]
        typer.echo(json.dumps({"file": str(image), "top": top}))


def export(
    run: RunArg,
    format: Annotated[str, typer.Option("--format", help="onnx | torchscript | safetensors")] = "onnx",
    out: Annotated[Path, typer.Option("-o", "--out", help="the zip to write (model + model_card.json)")] = Path(
        "model.zip"
    ),
    checkpoint: CheckpointOpt = "best",
) -> None:
    """Write a checked export of the run's model with its model card, as a zip."""
    from worker.training import export as exporting
    from worker.training import inference
    from worker.training.errors import TrainingError

    folder = Path(tempfile.mkdtemp(prefix="stagewise-export-"))
    try:
        classifier = inference.load_classifier(inference.checkpoint_in(run, checkpoint))
        result = exporting.export_model(classifier, format, folder, extra={"checkpoint": checkpoint})
        shutil.move(result.archive, out)
    except (TrainingError, ValueError) as exc:
        raise _fail(str(exc)) from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    typer.echo(f"wrote {out} ({format}; logits within {result.max_abs_diff:.1e} of PyTorch's)")


def evaluate(
    run: RunArg,
    dataset: Annotated[str, typer.Argument(help="a class-per-folder directory, or a dataset name under the data root")],
    split: Annotated[str, typer.Option("--split", help="all | train | val | test")] = "all",
    checkpoint: CheckpointOpt = "best",
    shared_classes: Annotated[bool, typer.Option("--shared-classes", help="judge only the classes both have")] = False,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda")] = "cpu",
) -> None:
    """Judge the run's model on a dataset whose class folders are the run's classes; prints JSON.

    The images go through the run's own eval transform, as its test split did. Naming the
    run's own dataset uses its split settings, so `--split test` is the run's test split.
    """
    from worker.training import evaluation, inference
    from worker.training.errors import TrainingError

    settings = get_settings()
    folder = Path(dataset)
    if folder.is_dir():  # a folder anywhere: it becomes the data root's only dataset
        data_root, config = folder.resolve().parent, {"name": "imagefolder", "path": folder.resolve().name}
    else:
        data_root, config = settings.data_dir, {"name": dataset}
    try:
        classifier = inference.load_classifier(inference.checkpoint_in(run, checkpoint))
        own = classifier.config.dataset
        # The run's own dataset by name: its fractions and seed, so --split test is its test split.
        chosen = own if config["name"] == own.name and own.path is None else DatasetConfig.model_validate(config)
        result = evaluation.evaluate_dataset(
            classifier, chosen, data_root, split, shared=shared_classes,
            device=device, num_workers=settings.num_workers,
        )  # fmt: skip
    except (TrainingError, ValueError) as exc:
        raise _fail(str(exc)) from None
    typer.echo(json.dumps({
        "dataset": str(folder) if folder.is_dir() else dataset, "split": split, "checkpoint": checkpoint,
        "accuracy": result.accuracy, "loss": result.loss, "count": result.count, "class_names": result.class_names,
        "per_class_accuracy": result.per_class_accuracy, "confusion": result.confusion,
        "class_mapping": result.match.mapping, "missing_classes": result.match.missing,
        "extra_classes": result.match.extra, "split_hash": result.split_hash,
    }))  # fmt: skip


def register(cli: typer.Typer) -> None:
    """Add the model-use commands to `cli`."""
    cli.command()(predict)
    cli.command()(evaluate)
    cli.command()(export)
