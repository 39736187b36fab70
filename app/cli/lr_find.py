"""`stagewise lr-find CONFIG`: the LR range test, its suggestion, and a CSV and PNG of the curve.

The test itself is `worker.training.lr_find`; this module prints and draws what it found.
The PNG is drawn with Pillow (already a dependency) rather than a plotting library.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from PIL import Image, ImageDraw

from app.cli.training import ConfigArg, SetOpt, _fail, load_config
from app.settings import get_settings

if TYPE_CHECKING:
    from worker.training.lr_find import LrFinding

SIZE, MARGIN = (800, 480), 60


def lr_find(
    config: ConfigArg,
    out: Annotated[Path, typer.Option("--out", help="folder for lr_find.csv and lr_find.png")] = Path("lr-find"),
    start: Annotated[float, typer.Option(help="the smallest base LR tried")] = 1e-7,
    end: Annotated[float, typer.Option(help="the largest base LR tried")] = 10.0,
    steps: Annotated[int, typer.Option(help="training steps, one per LR")] = 100,
    device: Annotated[str | None, typer.Option(help="auto | cpu | cuda | cuda:N")] = None,
    sets: SetOpt = None,
) -> None:
    """Sweep the base LR exponentially (stage ratios kept, frozen stages frozen) and suggest one."""
    from worker.training.errors import TrainingError
    from worker.training.lr_find import find_lr
    from worker.training.runtime import Runtime

    cfg = load_config(config, sets)
    if not 0 < start < end or steps < 2:
        raise _fail("need 0 < --start < --end and --steps >= 2")
    settings = get_settings()
    runtime = Runtime(
        data_root=settings.data_dir, out_dir=out, device=device or settings.device, weights_dir=settings.weights_dir,
        allow_download=settings.allow_download, num_workers=settings.num_workers,
    )  # fmt: skip
    try:
        found = find_lr(cfg, runtime, start=start, end=end, steps=steps)
    except TrainingError as exc:
        raise _fail(str(exc), code=1) from None
    out.mkdir(parents=True, exist_ok=True)
    write_csv(found.lrs, found.losses, found.smoothed, out / "lr_find.csv")
    draw_png(found.lrs, found.smoothed, found.suggestion, found.steepest, out / "lr_find.png")
    _print(found, out)


def _print(found: LrFinding, out: Path) -> None:
    ended = "the loss exploded" if found.diverged else "the last LR was reached"
    typer.echo(f"{len(found.lrs)} steps, {found.lrs[0]:.3g} to {found.lrs[-1]:.3g} ({ended})")
    if found.suggestion is None:
        typer.echo("no suggestion: the loss never fell; widen --start/--end or add --steps")
    else:
        typer.echo(f"suggested base LR (valley): {found.suggestion:.3g}")
        lrs = found.stage_lrs(found.suggestion)
        typer.echo("  stages: " + ", ".join(f"{stage} {lr:.3g}" for stage, lr in lrs.items()))
    if found.steepest is not None:
        typer.echo(f"steepest descent at base LR {found.steepest:.3g}")
    typer.echo(f"curve: {out / 'lr_find.csv'}, {out / 'lr_find.png'}")


def write_csv(lrs: list[float], losses: list[float], smoothed: list[float], path: Path) -> None:
    """One row per step: step, base_lr, loss, smoothed_loss."""
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["step", "base_lr", "loss", "smoothed_loss"])
        for step, row in enumerate(zip(lrs, losses, smoothed, strict=True)):
            writer.writerow([step, *(f"{value:.6g}" for value in row)])


def draw_png(lrs: list[float], smoothed: list[float], valley: float | None, steepest: float | None, path: Path) -> None:
    """Smoothed loss over log10(base LR); the valley in red, the steepest descent in grey."""
    image = Image.new("RGB", SIZE, "white")
    draw = ImageDraw.Draw(image)
    (width, height), finite = SIZE, [loss for loss in smoothed if math.isfinite(loss)] or [0.0]
    low_x, high_x = math.log10(lrs[0]), math.log10(lrs[-1]) if len(lrs) > 1 else math.log10(lrs[0]) + 1
    # Clip the explosion: show up to twice the starting loss, so the fall fills the plot.
    low_y, high_y = min(finite), max(min(2 * finite[0], max(finite)), min(finite) + 1e-9)

    def at(lr: float, loss: float) -> tuple[float, float]:
        x = MARGIN + (math.log10(lr) - low_x) / max(high_x - low_x, 1e-9) * (width - 2 * MARGIN)
        y = height - MARGIN - (min(loss, high_y) - low_y) / (high_y - low_y) * (height - 2 * MARGIN)
        return x, y

    draw.rectangle([MARGIN, MARGIN, width - MARGIN, height - MARGIN], outline="black")
    for decade in range(math.ceil(low_x), math.floor(high_x) + 1):
        x, _ = at(10.0**decade, low_y)
        draw.line([x, height - MARGIN, x, height - MARGIN + 5], fill="black")
        draw.text((x - 12, height - MARGIN + 8), f"1e{decade}", fill="black")
    draw.text((MARGIN, MARGIN - 20), f"smoothed loss {low_y:.3g} .. {high_y:.3g} vs base LR (log)", fill="black")
    points = [at(lr, loss) for lr, loss in zip(lrs, smoothed, strict=True) if math.isfinite(loss)]
    if len(points) > 1:
        draw.line(points, fill="navy", width=2)
    for value, colour, label in ((steepest, "grey", "steepest"), (valley, "red", "valley")):
        if value is not None:
            x, _ = at(value, low_y)
            draw.line([x, MARGIN, x, height - MARGIN], fill=colour, width=1)
            draw.text((x + 4, MARGIN + 4 if label == "valley" else MARGIN + 18), f"{label} {value:.2g}", fill=colour)
    image.save(path)


def register(cli: typer.Typer) -> None:
    """Add `lr-find` to `cli`."""
    cli.command("lr-find")(lr_find)
