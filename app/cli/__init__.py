"""The `stagewise` command line: training commands and service commands."""

from __future__ import annotations

import typer

from app.cli import accounts, health, lr_find, model_use, runs, service, sweep, training

cli = typer.Typer(no_args_is_help=True, add_completion=False, help="Stage-wise fine-tuning of image classifiers.")
training.register(cli)
lr_find.register(cli)
model_use.register(cli)
sweep.register(cli)
service.register(cli)
accounts.register(cli)
health.register(cli)
runs.register(cli)


def main() -> None:
    """Console-script entry point."""
    cli()
