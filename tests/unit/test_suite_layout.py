"""The suite collects as one run: no two test modules share a file name.

pytest imports test modules by their base name here (rootdir-relative packages are not used),
so `tests/unit/pages/test_x.py` and `tests/e2e/test_x.py` collide — and only when the whole
suite runs, as CI does; a run of either folder alone never shows it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_no_two_test_modules_share_a_name() -> None:
    names = Counter(path.name for path in TESTS.rglob("test_*.py"))
    assert {name: count for name, count in names.items() if count > 1} == {}
