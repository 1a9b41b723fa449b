"""The quarantine: every record that cannot be written goes here, with where it came from and
why, so that nothing is lost and the run report adds up.

One JSON object per line: ``source`` (``file:line`` for files, the key for SQL rows, the
slice for Cassandra reads), ``reason`` (what was expected, as the error says it), the
``record`` as read (text fields as text, bytes as hex) and the ``slice`` and ``run_id``.
Files roll over at ``max_bytes``. Writes are line-buffered and flushed per record, so a
killed run leaves whole lines only.
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

_DEFAULT_MAX_BYTES = 64 * 1024 * 1024


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


class Quarantine:
    """Writes quarantined records of one run under ``directory``; thread-safe."""

    def __init__(
        self, directory: str | os.PathLike[str], run_id: str, *, max_bytes: int = _DEFAULT_MAX_BYTES
    ) -> None:
        self.directory = Path(directory)
        self.run_id = run_id
        self.max_bytes = max_bytes
        self.reasons: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        self._part = 0
        self._size = 0
        self.paths: list[Path] = []

    @property
    def count(self) -> int:
        """Records quarantined so far."""
        return sum(self.reasons.values())

    def add(
        self,
        *,
        source: str,
        reason: str,
        record: Any,
        slice_id: str | None = None,
        category: str = "invalid",
    ) -> None:
        """Quarantine one record. ``category`` groups reasons in the report (parse, convert,
        write...)."""
        entry = {
            "run_id": self.run_id,
            "slice": slice_id,
            "source": source,
            "category": category,
            "reason": reason,
            "record": _plain(record),
        }
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        size = len(line.encode("utf-8"))
        with self._lock:
            if self._file is None or self._size + size > self.max_bytes:
                self._roll()
            assert self._file is not None
            self._file.write(line)
            self._file.flush()
            self._size += size
            self.reasons[category] += 1

    def _roll(self) -> None:
        if self._file is not None:
            self._file.close()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._part += 1
        path = self.directory / f"quarantine-{self.run_id}-{self._part:04d}.jsonl"
        self._file = path.open("a", encoding="utf-8")
        self._size = path.stat().st_size
        self.paths.append(path)

    def close(self) -> None:
        """Close the current file."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
