"""Training commands (`train`, `plan`, `stages`, `presets`)."""

from __future__ import annotations

import typer


def register(cli: typer.Typer) -> None:
    """Add the training commands to `cli`."""
