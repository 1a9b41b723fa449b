"""Column mapping: which source field feeds which target column.

A copy's ``columns`` option maps target names to source names (``{order_id: id, total:
amount}``); only the mapped fields are copied, under their target names. Without a mapping
every source field goes through under its own name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from cassflow.copy._model import Chunk, CopyError, Field


class ColumnMap:
    """Renames and selects the fields of every chunk on its way from source to sink."""

    def __init__(self, source_fields: Sequence[Field], mapping: Mapping[str, str] | None) -> None:
        names = [f.name for f in source_fields]
        by_name = {f.name: f for f in source_fields}
        if not mapping:
            self.fields = list(source_fields)
            self._indexes: tuple[int, ...] | None = None
            self.columns = tuple(names)
            return
        unknown = [s for s in mapping.values() if s not in by_name]
        if unknown:
            raise CopyError(
                f"column mapping names source fields that do not exist: {', '.join(unknown)} "
                f"(the source has: {', '.join(names)})"
            )
        self.fields = [dataclasses.replace(by_name[s], name=t) for t, s in mapping.items()]
        self._indexes = tuple(names.index(s) for s in mapping.values())
        self.columns = tuple(mapping)

    def apply(self, chunk: Chunk) -> Chunk:
        """The chunk with the target's column names (and only the mapped fields)."""
        if self._indexes is None:
            return chunk
        picks = self._indexes
        keys = tuple(picks.index(i) for i in chunk.key_indexes if i in picks)
        return Chunk(
            columns=self.columns,
            origin=chunk.origin,
            rows=[tuple(row[i] for i in picks) for row in chunk.rows],
            lines=chunk.lines,
            key_indexes=keys,
            bad=chunk.bad,
            nbytes=chunk.nbytes,
        )
