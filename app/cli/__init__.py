"""The `stagewise` command line: training commands and service commands."""

from __future__ import annotations

import typer

from app.cli import accounts, lr_find, service, sweep, training

cli = typer.Typer(no_args_is_help=True, add_completion=False, help="Stage-wise fine-tuning of image classifiers.")
training.register(cli)
lr_find.register(cli)
sweep.register(cli)
service.register(cli)
accounts.register(cli)


def main() -> None:
    """Console-script entry point."""
    cli()
