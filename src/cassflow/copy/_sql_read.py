"""The reading side of :class:`cassflow.copy._sql.SqlSource`: reflection, planning, streaming.

Slice specs (JSON-able, stored in checkpoints):

* ``{"kind": "range", "key": k, "lo": lo, "hi": hi}``: ``lo <= k < hi``; ``None`` bounds are open;
* ``{"kind": "nulls", "key": k}``: the rows whose (nullable) key column is null;
* ``{"kind": "keyset", "order": [pk...]}``: the whole table, page by page in primary key order
  (``WHERE (pk) > (last) ORDER BY pk LIMIT n``: no transaction stays open between pages);
* ``{"kind": "scan"}``: a table without a key, streamed;
* ``{"kind": "query"}``: the query, streamed through a server-side cursor.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cassflow.copy._model import Chunk, CopyError, Field, PlannedSlice
from cassflow.copy._sql import key_ranges
from cassflow.copy._sql_types import cql_type_of, is_integer, pg_result_type
from cassflow.copy._sql_values import Convert, reader
from cassflow.copy._sqlalchemy import Database, sa, sa_exc

if TYPE_CHECKING:
    from cassflow.copy._sql import SqlSource


def split_table_name(name: str) -> tuple[str | None, str]:
    """``schema.table`` as (schema, table); a name without a dot has no schema."""
    schema, dot, table = name.rpartition(".")
    return (schema, table) if dot and schema and table else (None, name)


def reflect_table(db: Database, name: str) -> sa.Table | None:
    """The table's columns and primary key as the database describes them; None if missing."""
    schema, table = split_table_name(name)
    try:
        return sa.Table(table, sa.MetaData(), schema=schema, autoload_with=db.engine)
    except sa_exc.NoSuchTableError:
        return None
    except sa_exc.SQLAlchemyError as exc:
        raise db.error(exc, f"reading the definition of table {name}") from None


@dataclass(frozen=True, slots=True)
class _Layout:
    """What reading needs: column names, fields, per-column readers, key column indexes."""

    columns: tuple[str, ...]
    fields: list[Field]
    readers: tuple[tuple[int, Convert], ...]
    key_indexes: tuple[int, ...]

    def convert(self, raw: Any) -> tuple[Any, ...]:
        row = tuple(raw)
        if not self.readers:
            return row
        values = list(row)
        for index, read in self.readers:
            if values[index] is not None:
                values[index] = read(values[index])
        return tuple(values)


class TableReader:
    """Reads the table or query of one :class:`SqlSource`."""

    def __init__(self, source: SqlSource) -> None:
        self.source = source
        self.db = Database(source.url, write=False, must_exist=True, location=source.location)
        self._lock = threading.RLock()  # _read_layout holds it while it reflects
        self._table: sa.Table | None = None
        self._layout: _Layout | None = None

    def close(self) -> None:
        """Close the pooled connections."""
        self.db.dispose()

    # --- what the dataset looks like ---------------------------------------------------------

    def fields(self) -> list[Field]:
        """The columns read, typed as CQL."""
        return list(self._read_layout().fields)

    def _read_layout(self) -> _Layout:
        with self._lock:
            if self._layout is None:
                self._layout = (
                    self._query_layout() if self.source.query is not None else self._table_layout()
                )
            return self._layout

    def _reflected(self) -> sa.Table:
        with self._lock:
            if self._table is None:
                name = self.source.table
                assert name is not None
                table = reflect_table(self.db, name)
                if table is None:
                    raise CopyError(f"{self.source.location}: no table {name}")
                self._table = table
            return self._table

    def _table_layout(self) -> _Layout:
        table = self._reflected()
        dialect = self.db.dialect
        columns = list(table.columns)
        names = tuple(c.name for c in columns)
        keys = tuple(i for i, c in enumerate(columns) if c.primary_key)
        if not keys and self.source.key is not None:
            keys = (self._key_column(table)[0],)
        readers = [(i, reader(c.type, dialect)) for i, c in enumerate(columns)]
        return _Layout(
            columns=names,
            fields=[
                Field(c.name, cql_type_of(c.type, dialect), key=c.primary_key) for c in columns
            ],
            readers=tuple((i, r) for i, r in readers if r is not None),
            key_indexes=keys,
        )

    def _query_layout(self) -> _Layout:
        """The query's result columns, from a run of it that returns no rows."""
        query = self._query_text()
        probe = sa.text(f"SELECT * FROM ({_literal_colons(query)}) AS cassflow_query WHERE 1 = 0")
        try:
            with self.db.engine.connect() as conn:
                result = conn.execute(probe)
                description = result.cursor.description or ()
                result.close()
        except sa_exc.SQLAlchemyError as exc:
            raise self.db.error(exc, "reading the query's columns") from None
        names = tuple(str(d[0]) for d in description)
        if len(set(names)) != len(names):
            raise CopyError(
                f"{self.source.location}: the query returns columns with the same name "
                f"({', '.join(names)}); give them distinct names with AS"
            )
        if self.db.dialect != "postgresql":
            # Other drivers do not say what type a result column has: pass values on as the
            # driver returns them, and let the sink convert each to its column's type.
            return _Layout(names, [Field(n) for n in names], (), ())
        fields, readers = [], []
        for index, column in enumerate(description):
            sql_type = pg_result_type(str(getattr(column, "type_display", "") or ""))
            fields.append(Field(names[index], cql_type_of(sql_type, "postgresql")))
            read = reader(sql_type, "postgresql")
            if read is not None:
                readers.append((index, read))
        return _Layout(names, fields, tuple(readers), ())

    def _query_text(self) -> str:
        query = (self.source.query or "").strip().rstrip(";").strip()
        if not query:
            raise CopyError(f"{self.source.location}: the query is empty")
        return query

    def _key_column(self, table: sa.Table) -> tuple[int, sa.Column[Any]]:
        """The ``key`` column given, checked to be an integer column of the table."""
        name = self.source.key
        columns = list(table.columns)
        for index, column in enumerate(columns):
            if column.name == name:
                if not is_integer(column.type):
                    raise CopyError(
                        f"{self.source.location}: key column {name} is {column.type}; key "
                        f"ranges need an integer column"
                    )
                return index, column
        raise CopyError(
            f"{self.source.location}: no column {name} to cut key ranges over "
            f"(the table has: {', '.join(c.name for c in columns)})"
        )

    # --- planning ------------------------------------------------------------------------------

    def plan(self, splits: int) -> list[PlannedSlice]:
        """The slices (see the module docstring); ``splits`` ranges at most for key ranges."""
        if self.source.query is not None:
            self._read_layout()  # a query that does not run fails here, before any slice
            return [("query", {"kind": "query"})]
        table = self._reflected()
        name = self.source.table
        pk = list(table.primary_key.columns)
        if self.source.key is not None:
            key: sa.Column[Any] | None = self._key_column(table)[1]
        elif len(pk) == 1 and is_integer(pk[0].type):
            key = pk[0]
        else:
            key = None
        if key is None:
            if pk:
                order = [c.name for c in pk]
                return [(f"{name}:keyset", {"kind": "keyset", "order": order})]
            return [(f"{name}:scan", {"kind": "scan"})]
        slices = self._ranges(key, splits)
        if key.nullable and not key.primary_key:
            slices.append((f"{name}:{key.name}:null", {"kind": "nulls", "key": key.name}))
        return slices

    def _ranges(self, key: sa.Column[Any], splits: int) -> list[PlannedSlice]:
        try:
            with self.db.engine.connect() as conn:
                low, high = conn.execute(sa.select(sa.func.min(key), sa.func.max(key))).one()
        except sa_exc.SQLAlchemyError as exc:
            raise self.db.error(exc, f"finding the key range of {self.source.table}") from None
        ranges = [(None, None)] if low is None else key_ranges(int(low), int(high), splits)
        prefix = f"{self.source.table}:{key.name}"
        return [
            (
                f"{prefix}:{_bound(lo)}..{_bound(hi)}",
                {"kind": "range", "key": key.name, "lo": lo, "hi": hi},
            )
            for lo, hi in ranges
        ]

    # --- reading -------------------------------------------------------------------------------

    def read(self, spec: Mapping[str, Any]) -> Iterator[Chunk]:
        """The rows of one slice, chunk by chunk."""
        layout = self._read_layout()
        kind = spec.get("kind")
        if kind == "query":
            if self.source.query is None:
                raise CopyError(f"{self.source.location}: a query slice for a table source")
            text = sa.text(_literal_colons(self._query_text()))
            return self._stream(layout, lambda conn: conn.execute(text))
        if self.source.table is None:
            raise CopyError(f"{self.source.location}: a table slice for a query source: {spec}")
        table = self._reflected()
        if kind == "keyset":
            return self._keyset(layout, table, [table.c[n] for n in spec["order"]])
        select = sa.select(*table.columns)
        if kind == "range":
            key = table.c[spec["key"]]
            if spec.get("lo") is not None:
                select = select.where(key >= int(spec["lo"]))
            if spec.get("hi") is not None:
                select = select.where(key < int(spec["hi"]))
            if spec.get("lo") is None and spec.get("hi") is None:
                select = select.where(key.is_not(None))  # nulls have their own slice
            select = select.order_by(key)
        elif kind == "nulls":
            select = select.where(table.c[spec["key"]].is_(None))
        elif kind != "scan":
            raise CopyError(f"{self.source.location}: not a slice of this source: {spec}")
        statement = select
        return self._stream(layout, lambda conn: conn.execute(statement))

    def _chunk(self, layout: _Layout, rows: list[Any]) -> Chunk:
        return Chunk(
            columns=layout.columns,
            origin=self.source.table or "query",
            rows=[layout.convert(r) for r in rows],
            key_indexes=layout.key_indexes,
        )

    def _stream(
        self, layout: _Layout, run: Callable[[sa.Connection], sa.CursorResult[Any]]
    ) -> Iterator[Chunk]:
        """Rows through a server-side cursor (``stream_results``): memory holds one chunk."""
        rows_per_chunk = self.source.chunk_rows
        try:
            with self.db.engine.connect() as conn:
                streaming = conn.execution_options(stream_results=True, yield_per=rows_per_chunk)
                result = run(streaming)
                for part in result.partitions(rows_per_chunk):
                    yield self._chunk(layout, list(part))
        except sa_exc.SQLAlchemyError as exc:
            raise self.db.error(exc, "reading rows", in_slice=True) from None

    def _keyset(
        self, layout: _Layout, table: sa.Table, order: list[sa.Column[Any]]
    ) -> Iterator[Chunk]:
        """Pages in primary key order, each one short query after the last key seen."""
        positions = [list(table.columns).index(c) for c in order]
        last: tuple[Any, ...] | None = None
        while True:
            select = sa.select(*table.columns).order_by(*order).limit(self.source.chunk_rows)
            if last is not None:
                select = select.where(_after(order, last))
            try:
                with self.db.engine.connect() as conn:
                    rows = list(conn.execute(select).all())
            except sa_exc.SQLAlchemyError as exc:
                raise self.db.error(exc, "reading rows", in_slice=True) from None
            if not rows:
                return
            yield self._chunk(layout, rows)
            if len(rows) < self.source.chunk_rows:
                return
            last = tuple(rows[-1][i] for i in positions)


def _literal_colons(query: str) -> str:
    """The query for ``sa.text()`` with every colon literal: a source query has no bind
    parameters, and ``:name`` in it (a cast ``::int``, a time '10:30') is SQL, not a bind.
    (``text()`` also escapes ``%`` for drivers that use it as a placeholder.)"""
    return query.replace(":", "\\:")


def _bound(value: int | None) -> str:
    return "" if value is None else str(value)


def _after(order: list[sa.Column[Any]], last: tuple[Any, ...]) -> sa.ColumnElement[bool]:
    """``(a, b) > (x, y)`` spelled with AND/OR, which every database orders the same way."""
    clauses = []
    for index, column in enumerate(order):
        equal = [c == v for c, v in zip(order[:index], last[:index], strict=True)]
        clauses.append(sa.and_(*equal, column > last[index]))
    return sa.or_(*clauses)
