"""Bounds shared by every request schema: text without control characters, seeds torch takes.

A name that reaches a folder, a log line or a page must not carry a newline, a NUL or a
bidi override: they forge log lines, split paths and make two names look alike. Numbers
get ceilings so that a value the API accepts never fails later in the worker (a seed of
10**40 overflows torch's 64-bit generator state).
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, Field

# Control (Cc), format (Cf: bidi overrides, zero-width characters), surrogates (Cs), and
# the line and paragraph separators (Zl, Zp).
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# torch.manual_seed takes -2**63 .. 2**64 - 1; non-negative 64-bit signed values also fit
# a PostgreSQL BIGINT, JSON readers that use int64, and torch.Generator.initial_seed().
SEED_MAX = 2**63 - 1
MAX_EPOCH_COUNT = 10_000
MAX_IMAGES = 10_000_000


def no_control_characters(value: str) -> str:
    """`value` unchanged, or a ValueError naming the first control character and where it is."""
    for position, char in enumerate(value):
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise ValueError(f"must not contain control characters (found {char!r} at position {position})")
    return value


Text = Annotated[str, AfterValidator(no_control_characters)]
Seed = Annotated[int, Field(ge=0, le=SEED_MAX)]
