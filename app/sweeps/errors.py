"""Domain errors of sweeps."""

from __future__ import annotations


class InvalidSweep(ValueError):
    """A sweep spec does not fit its base config; `loc` says where in the spec (as FastAPI's
    error locations do, without "body"), e.g. `("space", "features", "stages", 3)`."""

    def __init__(self, loc: tuple[str | int, ...], msg: str) -> None:
        super().__init__(f"{'.'.join(map(str, loc))}: {msg}")
        self.loc = loc
        self.msg = msg
