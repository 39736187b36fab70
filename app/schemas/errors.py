"""Validation errors as users read them: one place that turns pydantic's errors into field messages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_VALUE_ERROR = "Value error, "  # pydantic's prefix for a ValueError raised in a validator


def field_message(error: Mapping[str, Any]) -> str:
    """The message of one pydantic error dict, without pydantic's "Value error, " prefix."""
    return str(error.get("msg", "invalid")).removeprefix(_VALUE_ERROR)
