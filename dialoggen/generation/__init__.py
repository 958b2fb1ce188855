"""Dialogue writers: ``agents`` (turn by turn) and ``oneshot`` (one structured call)."""

from typing import Any


class GenerationFailure(Exception):
    """A scenario that produced no usable dialogue; recorded with its reason, never dropped."""

    def __init__(self, reason: str, detail: str, raw: str = "", **usage: Any) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.raw = raw
        self.usage = usage
