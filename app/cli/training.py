"""Training commands: `train`, `plan`, `stages`, `presets`.

They use the training core directly: no web server, database or queue. Torch is
imported inside the commands so `stagewise --help` stays instant.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import ValidationError

from app.presets import InvalidOverride, UnknownPreset, load_preset, parse_set_option, preset_names, resolve_config
from app.schemas.catalog import BACKBONES
from app.schemas.metrics import RunSummary
from app.schemas.plan import Plan
from app.schemas.train_config import TrainConfig
from app.services.errors import InvalidInput
from app.services.weights import check_weights, probe_downloads
from app.settings import get_settings

ConfigArg = Annotated[str, typer.Argument(help="a YAML/JSON config file, or a preset name such as cifar10-4000/model-d")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="override a field: dotted.path=value (repeatable), e.g. --set epochs=2"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def load_config(source: str, sets: list[str] | None, extra: dict[str, Any] | None = None) -> TrainConfig:
    """A validated config from a file or preset plus `--set` overrides; exits with the field on error."""
    path = Path(source)
    try:
        overrides = dict(parse_set_option(item) for item in sets or [])
        overrides.update(extra or {})
        if path.suffix in (".yaml", ".yml", ".json") or path.is_file():
            if not path.is_file():
                raise _fail(f"config file {source} not found")
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            return resolve_config(data, overrides)
        return resolve_config(source, overrides)
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}" for err in exc.errors()]
        raise _fail("invalid config\n  " + "\n  ".join(lines)) from None
    except (UnknownPreset, InvalidOverride) as exc:
        raise _fail(str(exc)) from None


def train(
    config: ConfigArg,
    out: Annotated[Path, typer.Option("--out", help="folder for metrics.jsonl, summary.json, checkpoint.pt")],
    epochs: Annotated[int | None, typer.Option(help="override the number of epochs")] = None,
    device: Annotated[str | None, typer.Option(help="auto | cpu | cuda | cuda:N")] = None,
    sets: SetOpt = None,
) -> None:
    """Train a config; resume if OUT already holds its checkpoint."""
    from worker.runtimes import runtime_from_settings
    from worker.training.errors import TrainingError
    from worker.training.loop import fit

    cfg = load_config(config, sets, {"epochs": epochs} if epochs is not None else None)
    settings = get_settings()
    try:  # before the data set is decoded: say at once what is missing and where it goes
        check_weights(settings, cfg, ("weights",), probe_downloads(settings, cfg.model_dump()))
    except InvalidInput as exc:
        raise _fail(str(exc)) from None
    runtime = runtime_from_settings(settings, out, device=device or settings.device, progress=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(cfg.model_dump_json(indent=2) + "\n")
    started = time.monotonic()
    try:
        result = fit(cfg, runtime)
    except TrainingError as exc:
        raise _fail(str(exc), code=1) from None
    typer.echo(summary_line(result.summary, cfg.epochs, time.monotonic() - started, out), err=True)
    summary = result.summary.model_dump()
    if summary["best_epoch"] is not None:  # printed 1-based, as the progress bar counted (summary.json: 0-based)
        summary["best_epoch"] += 1
    typer.echo(json.dumps(summary, indent=2))


def summary_line(summary: RunSummary, epochs: int, seconds: float, out: Path) -> str:
    """One sentence for a person at the end of `train` (the JSON on stdout is for scripts)."""
    pct = lambda value: "–" if value is None else f"{100 * value:.2f}%"
    ended = "stopped" if summary.stopped else "finished"
    parts = [f"{ended}: {summary.epochs_done}/{epochs} epochs in {seconds:.0f} s"]
    if summary.best_val_acc is not None:
        parts.append(f"best val acc {pct(summary.best_val_acc)} (epoch {(summary.best_epoch or 0) + 1})")
    parts.append(f"test acc at best val {pct(summary.test_acc_at_best_val)}")
    if summary.images_per_s:
        parts.append(f"{summary.images_per_s:,.0f} img/s")
    return ", ".join(parts) + f"; files in {out}"


def plan(config: ConfigArg, as_json: JsonOpt = False, sets: SetOpt = None) -> None:
    """Show each stage's LR per epoch, its parameter count and whether it is frozen (no training)."""
    from worker.training.errors import TrainingError
    from worker.training.plan import plan_for

    cfg = load_config(config, sets)
    try:
        result = plan_for(cfg, get_settings().data_dir)
    except TrainingError as exc:
        raise _fail(str(exc), code=1) from None
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    typer.echo(f"{cfg.backbone}, {result.num_classes} classes, {cfg.epochs} epochs, schedule {cfg.schedule.name}")
    shown = sorted({0, (cfg.epochs - 1) // 2, cfg.epochs - 1})
    heading = ", ".join(str(e + 1) for e in shown)
    typer.echo(f"{'stage':<12} {'params':>12}  {'frozen in epochs':<17} LR in epochs {heading} (from → to within an epoch)")
    for stage in result.stages:
        lrs = " | ".join(_epoch_lr(result, stage.name, e) for e in shown)
        typer.echo(f"{stage.name:<12} {stage.params:>12,}  {_epoch_ranges(result.frozen[stage.name]):<17} {lrs}")
    typer.echo(f"trainable {result.trainable_params:,} of {result.total_params:,} parameters")


def _epoch_lr(result: Plan, stage: str, epoch: int) -> str:
    """A stage's LR in one epoch (0-based): "frozen", one value, or where a warm-up ramps from and to."""
    if result.frozen[stage][epoch]:
        return "frozen"
    n = result.points_per_epoch
    samples = result.lr_curve[stage][epoch * n : (epoch + 1) * n]
    return f"{samples[0]:.3g}" if samples[0] == samples[-1] else f"{samples[0]:.3g} → {samples[-1]:.3g}"


def _epoch_ranges(flags: list[bool]) -> str:
    """Epochs (1-based, as every page counts them) where a flag holds: "–", "all", "1–3, 7"."""
    if all(flags):
        return "all"
    ranges: list[list[int]] = []
    for epoch, flag in enumerate(flags, start=1):
        if flag and ranges and ranges[-1][1] == epoch - 1:
            ranges[-1][1] = epoch
        elif flag:
            ranges.append([epoch, epoch])
    return ", ".join(f"{a}" if a == b else f"{a}–{b}" for a, b in ranges) or "–"


def stages(
    backbone: Annotated[str, typer.Argument(help="a registered backbone, e.g. resnet18")],
    as_json: JsonOpt = False,
    num_classes: Annotated[int, typer.Option(help="classes of the replaced head")] = 1000,
) -> None:
    """List a backbone's stages, their modules and parameter counts."""
    from worker.training.backbones import count_stage_params

    if backbone not in BACKBONES:
        raise _fail(f"unknown backbone {backbone!r}; allowed: {', '.join(BACKBONES)}")
    spec = BACKBONES[backbone]
    counts = count_stage_params(backbone, num_classes)
    rows = [{"name": name, "modules": list(prefixes), "params": counts[name]} for name, prefixes in spec.stages]
    if as_json:
        typer.echo(json.dumps({"backbone": backbone, "family": spec.family, "stages": rows}, indent=2))
        return
    for row in rows:
        typer.echo(f"{row['name']:<12} {row['params']:>12,}  {', '.join(m.rstrip('.') for m in row['modules'])}")


def presets(
    show: Annotated[str | None, typer.Option(help="print one preset's YAML")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the ready-made configs (the reference CIFAR-10-4000 table, Ants & Bees, Caltech-101, demo)."""
    if show is not None:
        try:
            typer.echo(yaml.safe_dump(load_preset(show), sort_keys=False))
        except UnknownPreset as exc:
            raise _fail(str(exc)) from None
        return
    rows = [{"name": name, "title": load_preset(name).get("name", "")} for name in preset_names()]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        typer.echo(f"{row['name']:<30} {row['title']}")


def register(cli: typer.Typer) -> None:
    """Add the training commands to `cli`."""
    cli.command()(train)
    cli.command()(plan)
    cli.command()(stages)
    cli.command()(presets)
