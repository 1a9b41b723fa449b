"""Slices of a Cassandra table: the Murmur3 ring cut into token ranges, as dsbulk splits it.

The ring runs from -2^63 to 2^63 - 1. Range ``i`` covers ``start < token <= end``; the first
range also takes the minimum token itself (``token >= -2^63``), so that the ranges together
cover every token exactly once and a row is read by exactly one slice. Each range renders
the WHERE clause and bind values a slice reads with.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_TOKEN = -(2**63)
MAX_TOKEN = 2**63 - 1


@dataclass(frozen=True, slots=True)
class TokenRange:
    """Tokens ``start < t <= end``, or ``start <= t <= end`` for the first range."""

    start: int
    end: int
    includes_start: bool = False

    @property
    def slice_id(self) -> str:
        """A stable id for checkpoints."""
        return f"tokens:{self.start}:{self.end}"

    def contains(self, token: int) -> bool:
        """Whether ``token`` belongs to this range."""
        low_ok = token >= self.start if self.includes_start else token > self.start
        return low_ok and token <= self.end

    def where(self, partition_key: list[str]) -> tuple[str, tuple[int, int]]:
        """``token(pk) > ? AND token(pk) <= ?`` (``>=`` for the first range) and its values."""
        columns = ", ".join(_quote(c) for c in partition_key)
        low = ">=" if self.includes_start else ">"
        return f"token({columns}) {low} ? AND token({columns}) <= ?", (self.start, self.end)


def _quote(name: str) -> str:
    if name.isidentifier() and name == name.lower():
        return name
    return '"' + name.replace('"', '""') + '"'


def token_ranges(splits: int) -> list[TokenRange]:
    """The ring cut into ``splits`` contiguous ranges of (nearly) equal width."""
    if splits < 1:
        raise ValueError("splits must be at least 1")
    width = (MAX_TOKEN - MIN_TOKEN) // splits
    bounds = [MIN_TOKEN + i * width for i in range(splits)] + [MAX_TOKEN]
    return [
        TokenRange(start=bounds[i], end=bounds[i + 1], includes_start=(i == 0))
        for i in range(splits)
    ]
