"""The `stagewise` command line: training commands and service commands."""

from __future__ import annotations

import typer

from app.cli import accounts, runs, service, training

cli = typer.Typer(no_args_is_help=True, add_completion=False, help="Stage-wise fine-tuning of image classifiers.")
training.register(cli)
service.register(cli)
accounts.register(cli)
runs.register(cli)


def main() -> None:
    """Console-script entry point."""
    cli()
