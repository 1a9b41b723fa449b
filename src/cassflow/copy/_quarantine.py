"""The quarantine: every record that cannot be written goes here, with where it came from and
why, so that nothing is lost and the run report adds up.

One file per slice of a run (``<directory>/<run_id>/<slice_id>.jsonl``), one JSON object per
line: ``source`` (``file:line`` for files, the key for SQL and Cassandra rows), ``category``
(parse, convert, write), ``reason`` (what was expected, as the error says it) and the
``record`` as read (text fields as text, bytes as hex). A slice that is redone (after a
transient failure, or on ``--resume``) starts its file afresh, so the quarantine holds each bad
record exactly once, like the counts in the checkpoint store. Lines are flushed one by one, so
a killed run leaves whole lines only.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from cassflow.copy._model import BadRecord

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _plain(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"hex": bytes(value).hex()}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


class SliceQuarantine:
    """The quarantine file of one slice attempt; used by one thread at a time."""

    def __init__(self, path: Path, run_id: str, slice_id: str) -> None:
        self.path = path
        self.run_id = run_id
        self.slice_id = slice_id
        self.reasons: Counter[str] = Counter()
        self._file: IO[str] | None = None
        path.unlink(missing_ok=True)  # a redone slice replaces what its last attempt kept

    @property
    def count(self) -> int:
        """Records quarantined by this attempt."""
        return self.reasons.total()

    def add(self, bad: BadRecord) -> None:
        """Quarantine one record."""
        entry = {
            "run_id": self.run_id,
            "slice": self.slice_id,
            "source": bad.position,
            "category": bad.category,
            "reason": bad.reason,
            "record": _plain(bad.record),
        }
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("w", encoding="utf-8")
        self._file.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self._file.flush()
        self.reasons[bad.category] += 1

    def close(self) -> None:
        """Close the file (if any record was quarantined)."""
        if self._file is not None:
            self._file.close()
            self._file = None


class Quarantine:
    """The quarantine files of one run, under ``directory/run_id/``."""

    def __init__(self, directory: str | os.PathLike[str], run_id: str) -> None:
        # A pipeline's copy run ids are <run>/<activity>: one folder per run, one per activity.
        parts = [
            _UNSAFE.sub("_", part) for part in run_id.split("/") if part not in ("", ".", "..")
        ]
        self.directory = Path(directory).joinpath(*parts)
        self.run_id = run_id

    def open_slice(self, slice_id: str) -> SliceQuarantine:
        """A fresh quarantine file for an attempt at ``slice_id``."""
        path = self.directory / (_UNSAFE.sub("_", slice_id) + ".jsonl")
        return SliceQuarantine(path, self.run_id, slice_id)

    def files(self) -> list[Path]:
        """The run's quarantine files that hold records, sorted."""
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.glob("*.jsonl") if p.stat().st_size > 0)
