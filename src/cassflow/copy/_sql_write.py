"""The writing side of :class:`cassflow.copy._sql.SqlSink`: table creation, drift, upserts.

Each chunk is converted row by row (a value that does not convert quarantines its row, with
the column and the type expected), then written in ``executemany`` batches inside one
transaction. If the database refuses a row (a constraint, a value too long), the chunk's
transaction is rolled back and its rows are written again one by one, each inside a savepoint,
so that only the refused rows are quarantined. Lost connections, deadlocks and serialization
failures are raised as :class:`SqlTransientError`: the runner redoes the slice, and upserts
make that harmless.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cassflow.copy._model import (
    BadRecord,
    Chunk,
    ConversionError,
    CopyError,
    Drift,
    DriftPolicy,
    Field,
    WriteResult,
)
from cassflow.copy._sql_read import reflect_table, split_table_name
from cassflow.copy._sql_types import sql_type_for
from cassflow.copy._sql_values import Convert, converter
from cassflow.copy._sqlalchemy import (
    Database,
    describe,
    is_row_refusal,
    is_transient,
    mysql,
    postgresql,
    sa,
    sa_exc,
    sqlite,
)

if TYPE_CHECKING:
    from cassflow.copy._sql import SqlSink

_UPSERT_DIALECTS = ("postgresql", "sqlite", "mysql", "mariadb")


@dataclass(frozen=True, slots=True)
class _Target:
    """The table as prepared: its reflection, the columns written, converters, statement."""

    table: sa.Table
    written: frozenset[str]
    converters: dict[str, Convert]
    types: dict[str, str]
    key: tuple[str, ...]
    statement: Any


class TableWriter:
    """Prepares and writes the table of one :class:`SqlSink`."""

    def __init__(self, sink: SqlSink) -> None:
        self.sink = sink
        self.db = Database(sink.url, write=True, must_exist=False, location=sink.location)
        self._lock = threading.Lock()
        self._target: _Target | None = None

    def close(self) -> None:
        """Close the pooled connections."""
        self.db.dispose()

    # --- prepare -------------------------------------------------------------------------------

    def prepare(self, fields: Sequence[Field], policy: DriftPolicy) -> Drift:
        """See :meth:`cassflow.copy._sql.SqlSink.prepare`."""
        with self._lock:
            table = reflect_table(self.db, self.sink.table)
            names = [f.name for f in fields]
            if len(set(names)) != len(names):
                raise CopyError(f"{self.sink.location}: the incoming fields repeat a name: {names}")
            if table is None:
                table = self._create(fields)
                drift = Drift()
            else:
                table, drift = self._check(table, fields, policy)
            self._target = self._target_for(table, [n for n in names if n not in drift.extra])
            return drift

    def _create(self, fields: Sequence[Field]) -> sa.Table:
        if not self.sink.create:
            raise CopyError(
                f"{self.sink.location}: no table {self.sink.table} (set create: true to create it)"
            )
        if self.sink.mode == "upsert" and not any(f.key for f in fields):
            raise CopyError(self._no_key_message())
        dialect = self.db.dialect
        schema, name = split_table_name(self.sink.table)
        table = sa.Table(
            name,
            sa.MetaData(),
            *[
                sa.Column(
                    f.name,
                    sql_type_for(f.cql_type, dialect),
                    primary_key=f.key,
                    nullable=not f.key,
                    autoincrement=False,
                )
                for f in fields
            ],
            schema=schema,
        )
        try:
            with self.db.engine.begin() as conn:
                table.create(conn, checkfirst=True)
        except sa_exc.SQLAlchemyError as exc:
            raise self.db.error(exc, f"creating table {self.sink.table}") from None
        created = reflect_table(self.db, self.sink.table)
        if created is None:  # pragma: no cover - a table dropped between two statements
            raise CopyError(f"{self.sink.location}: table {self.sink.table} vanished")
        return created

    def _check(
        self, table: sa.Table, fields: Sequence[Field], policy: DriftPolicy
    ) -> tuple[sa.Table, Drift]:
        have = {c.name for c in table.columns}
        incoming = {f.name for f in fields}
        extra = tuple(f.name for f in fields if f.name not in have)
        missing = tuple(c.name for c in table.columns if c.name not in incoming)
        missing_keys = [c.name for c in table.primary_key.columns if c.name not in incoming]
        if missing_keys:
            raise CopyError(
                f"{self.sink.location}: the incoming fields do not fill the primary key "
                f"column(s) {', '.join(missing_keys)}"
            )
        if self.sink.mode == "upsert" and not table.primary_key.columns:
            raise CopyError(self._no_key_message())
        if not extra:
            return table, Drift(missing=missing)
        if policy is DriftPolicy.FAIL:
            raise CopyError(
                f"{self.sink.location}: table {self.sink.table} has no column for the incoming "
                f"field(s) {', '.join(extra)} (drift: ignore_extra leaves them out, add_columns "
                f"adds them)"
            )
        if policy is DriftPolicy.IGNORE_EXTRA:
            return table, Drift(extra=extra, missing=missing)
        self._add_columns(table, [f for f in fields if f.name in extra])
        altered = reflect_table(self.db, self.sink.table)
        assert altered is not None
        return altered, Drift(missing=missing, added=extra)

    def _add_columns(self, table: sa.Table, fields: list[Field]) -> None:
        engine = self.db.engine
        quote = engine.dialect.identifier_preparer
        qualified = quote.format_table(table)
        try:
            with engine.begin() as conn:
                for f in fields:
                    sql_type = sql_type_for(f.cql_type, self.db.dialect)
                    conn.exec_driver_sql(
                        f"ALTER TABLE {qualified} ADD COLUMN {quote.quote(f.name)} "
                        f"{sql_type.compile(dialect=engine.dialect)}"
                    )
        except sa_exc.SQLAlchemyError as exc:
            raise self.db.error(exc, f"adding columns to table {self.sink.table}") from None

    def _no_key_message(self) -> str:
        return (
            f"{self.sink.location}: table {self.sink.table} has no primary key; a redone slice "
            f"would duplicate rows: add one or set mode: insert"
        )

    def _target_for(self, table: sa.Table, written: list[str]) -> _Target:
        dialect = self.db.dialect
        key = tuple(c.name for c in table.primary_key.columns)
        columns = [table.c[n] for n in written]
        for column in columns:
            if isinstance(column.type, sa.JSON):
                # Our table, our types: a missing value is SQL NULL, not the JSON text null.
                column.type.none_as_null = True
        return _Target(
            table=table,
            written=frozenset(written),
            converters={c.name: converter(c.type, dialect) for c in columns},
            types={c.name: str(c.type) for c in columns},
            key=key,
            statement=self._statement(table, written, key),
        )

    def _statement(self, table: sa.Table, written: list[str], key: tuple[str, ...]) -> Any:
        """INSERT, or the dialect's INSERT that replaces the row with the same primary key."""
        if self.sink.mode == "insert":
            return sa.insert(table)
        dialect = self.db.dialect
        update = [n for n in written if n not in key]
        if dialect in ("postgresql", "sqlite"):
            module: Any = postgresql if dialect == "postgresql" else sqlite
            insert = module.insert(table)
            if not update:
                return insert.on_conflict_do_nothing(index_elements=list(key))
            return insert.on_conflict_do_update(
                index_elements=list(key), set_={n: insert.excluded[n] for n in update}
            )
        if dialect in _UPSERT_DIALECTS:
            insert = mysql.insert(table)
            return insert.on_duplicate_key_update(
                {n: insert.inserted[n] for n in (update or list(key))}
            )
        raise CopyError(
            f"{self.sink.location}: upserts are written for PostgreSQL, SQLite and MySQL, not "
            f"{dialect}; set mode: insert"
        )

    # --- write ---------------------------------------------------------------------------------

    def open_slice(self, slice_id: str) -> SqlSliceWriter:
        """A writer for ``slice_id`` (after :meth:`prepare`)."""
        with self._lock:
            if self._target is None:
                raise CopyError(f"{self.sink.location}: prepare() must come before open_slice()")
            return SqlSliceWriter(self, self._target, slice_id)


class SqlSliceWriter:
    """Writes the chunks of one slice; each chunk is its own transaction."""

    def __init__(self, owner: TableWriter, target: _Target, slice_id: str) -> None:
        self.owner = owner
        self.target = target
        self.slice_id = slice_id

    def write(self, chunk: Chunk) -> WriteResult:
        """Convert, then write the chunk in one transaction (see the module docstring)."""
        names = [n for n in chunk.columns if n in self.target.written]
        picks = [(chunk.columns.index(n), n) for n in names]
        good: list[tuple[int, dict[str, Any]]] = []
        bad: list[BadRecord] = []
        for index, row in enumerate(chunk.rows):
            try:
                good.append((index, self._convert(row, picks)))
            except ConversionError as exc:
                bad.append(
                    BadRecord(chunk.position(index), str(exc), chunk.record(index), "convert")
                )
        if good:
            bad.extend(self._write(chunk, good))
        return WriteResult(written=len(chunk.rows) - len(bad), bad=bad)

    def _convert(self, row: tuple[Any, ...], picks: list[tuple[int, str]]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for index, name in picks:
            value = row[index]
            if value is not None:
                try:
                    value = self.target.converters[name](value)
                except ConversionError as exc:
                    raise ConversionError(
                        f"column {name} ({self.target.types[name]}): {exc}"
                    ) from None
            values[name] = value
        return values

    def _write(self, chunk: Chunk, rows: list[tuple[int, dict[str, Any]]]) -> list[BadRecord]:
        """Write ``rows``; the ones the database refuses come back as bad records."""
        db = self.owner.db
        batches = _batches(self._deduplicated(rows), self.owner.sink.batch_rows)
        try:
            with db.engine.begin() as conn:
                for batch in batches:
                    conn.execute(self.target.statement, [values for _, values in batch])
        except sa_exc.SQLAlchemyError as exc:
            if is_transient(exc) or not is_row_refusal(exc):
                raise db.error(exc, f"writing slice {self.slice_id}", in_slice=True) from None
            return self._write_one_by_one(chunk, rows)
        return []

    def _deduplicated(
        self, rows: list[tuple[int, dict[str, Any]]]
    ) -> list[tuple[int, dict[str, Any]]]:
        """In upsert mode, the last of the rows with the same primary key (they would replace
        each other anyway, and PostgreSQL refuses to upsert one row twice in a statement)."""
        key = self.target.key
        if self.owner.sink.mode != "upsert" or not key:
            return rows
        last: dict[Any, tuple[int, dict[str, Any]]] = {}
        for index, values in rows:
            identity = tuple(values.get(k) for k in key)
            try:
                hash(identity)
            except TypeError:
                identity = tuple(repr(v) for v in identity)
            last.pop(identity, None)  # keep the order of the last occurrences
            last[identity] = (index, values)
        return list(last.values())

    def _write_one_by_one(
        self, chunk: Chunk, rows: list[tuple[int, dict[str, Any]]]
    ) -> list[BadRecord]:
        db = self.owner.db
        bad: list[BadRecord] = []
        try:
            with db.engine.begin() as conn:
                for index, values in rows:
                    try:
                        with conn.begin_nested():
                            conn.execute(self.target.statement, [values])
                    except sa_exc.SQLAlchemyError as exc:
                        if is_transient(exc) or not is_row_refusal(exc):
                            raise
                        reason = f"the database refused the row: {describe(exc, db.password)}"
                        bad.append(
                            BadRecord(chunk.position(index), reason, chunk.record(index), "write")
                        )
        except sa_exc.SQLAlchemyError as exc:
            raise db.error(exc, f"writing slice {self.slice_id}", in_slice=True) from None
        return bad

    def commit(self) -> None:
        """Nothing to do: every chunk was committed by :meth:`write`."""

    def abort(self) -> None:
        """Nothing to drop: a chunk that failed was rolled back by :meth:`write`."""


def _batches(rows: list[Any], size: int) -> list[list[Any]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]
