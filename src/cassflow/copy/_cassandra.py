"""Cassandra tables as a copy's source and sink.

:class:`CassandraSource` reads a table by token ranges, as dsbulk does: the ring is cut into
slices (:mod:`cassflow.copy._slicing`), each read with one prepared ``SELECT ... WHERE
token(pk) > ? AND token(pk) <= ?``, paged, one chunk per page. Besides the columns it can pass
on each cell's write time and TTL, as fields ``<column>_writetime`` (microseconds since the
epoch, ``bigint``) and ``<column>_ttl`` (seconds left, ``int``; null without a TTL), so that
a copy to another table can keep them (see the sink's ``timestamp_column`` and
``ttl_column``).

:class:`CassandraSink` upserts rows with one prepared ``INSERT`` (``UPDATE ... SET c = c + ?``
for counter tables), batching the rows of a partition; :mod:`._cassandra_writer` holds the
write path. Writes are idempotent, so a slice redone after a failure duplicates nothing, with
two exceptions the sink refuses unless ``allow_non_idempotent`` is set:

* **counter** tables: every redone increment counts again;
* **non-frozen list** columns written with an explicit ``timestamp_column``: an INSERT of a
  whole list first deletes the old list with a tombstone at ``timestamp - 1``, then appends
  elements under fresh time-UUID cell names. Redone with the driver's (always newer) client
  timestamp, the tombstone covers the first attempt, so the list is replaced; redone with the
  *same* explicit timestamp, it does not, and the elements appear twice. Sets and maps key
  their cells by value and are idempotent either way.

Neither source nor sink closes the :class:`CassandraConnection`: one connection often serves
both ends of a table-to-table copy; whoever made it closes it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cassandra import InvalidRequest, RequestValidationException
from cassandra.metadata import protect_name
from cassandra.query import UNSET_VALUE, BatchType

from cassflow.copy._cassandra_writer import (
    Binding,
    CassandraSliceWriter,
    Gate,
    SinkStats,
    WritePlan,
)
from cassflow.copy._connect import TUPLE_ROWS_PROFILE, CassandraConnection, consistency_level
from cassflow.copy._convert import cql_type_name, to_cql
from cassflow.copy._model import (
    Chunk,
    CopyError,
    Drift,
    DriftPolicy,
    Field,
    PlannedSlice,
)
from cassflow.copy._retry import Backoff, retry
from cassflow.copy._slicing import TokenRange, token_ranges
from cassflow.copy._throttle import AimdThrottle
from cassflow.observe import SinkObserver

__all__ = ["CassandraSink", "CassandraSource", "SinkStats", "default_splits"]

#: Rows per batch: dsbulk's default (``maxBatchStatements``).
DEFAULT_BATCH_SIZE = 32
#: A batch's size as Cassandra measures it (values, plus 8 bytes of timestamp per cell and per
#: row): ``batch_size_warn_threshold`` (5 KiB by default), over which every batch logs a
#: warning on the coordinator and sends one back to the client; the fail threshold is 50 KiB.
DEFAULT_MAX_BATCH_BYTES = 5 * 1024
#: Partitions one batch may span: Cassandra's ``unlogged_batch_across_partitions_warn_threshold``
#: (10), over which every batch warns as above.
DEFAULT_MAX_BATCH_PARTITIONS = 10
#: How rows are grouped into batches: whole partitions that have the same replicas (the
#: default; dsbulk's REPLICA_SET, cqlsh COPY's grouping, within Cassandra's warning
#: thresholds); the rows of one partition (dsbulk's default PARTITION_KEY: with unique keys
#: every row is a request of its own, three to four times the client CPU per row); or none.
BATCH_MODES = ("replica", "partition", "none")


def default_splits() -> int:
    """Token-range slices when neither the source nor the run chooses: 8 per CPU (dsbulk's
    ``maxConcurrentQueries`` sizing), so that slices stay small enough to resume cheaply."""
    return max(1, 8 * (os.cpu_count() or 1))


def _qualified(table: Any) -> str:
    return f"{protect_name(table.keyspace_name)}.{protect_name(table.name)}"


def _schema_order(table: Any) -> list[str]:
    """Partition key, clustering columns, then the others in the driver's order."""
    keys = [c.name for c in table.partition_key] + [c.name for c in table.clustering_key]
    return keys + [name for name in table.columns if name not in keys]


def _match(name: str, columns: Sequence[str]) -> str | None:
    """The column ``name`` means: exact, else the one column equal ignoring case."""
    if name in columns:
        return name
    folded = [c for c in columns if c.lower() == name.lower()]
    return folded[0] if len(folded) == 1 else None


def _token_where(partition_key: Sequence[str], includes_start: bool) -> str:
    # TokenRange.where() renders the same clause but quotes only mixed-case names, not
    # reserved words (a partition key column called "order"); protect_name does both.
    columns = ", ".join(protect_name(c) for c in partition_key)
    low = ">=" if includes_start else ">"
    return f"token({columns}) {low} ? AND token({columns}) <= ?"


def _prepare(
    session: Any,
    statement: str,
    what: str,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
) -> Any:
    # A struggling coordinator can time out a PREPARE too; that is worth a few tries.
    try:
        return retry(lambda: session.prepare(statement), attempts=5, on_retry=on_retry)
    except RequestValidationException as exc:
        raise CopyError(f"{what}: Cassandra refused {statement!r}: {exc}") from exc


# --- source ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ReadLayout:
    fields: list[Field]
    columns: tuple[str, ...]
    key_indexes: tuple[int, ...]
    partition_key: list[str]
    select: str


class CassandraSource:
    """A Cassandra table (or some of its columns), read slice by slice over token ranges.

    ``columns`` picks columns (returned in schema order); ``writetime_columns`` and
    ``ttl_columns`` add the fields ``<column>_writetime`` and ``<column>_ttl``.
    ``splits`` fixes the number of slices, over the run's hint (default:
    :func:`default_splits`, which depends on the CPU count: fix it when another machine may
    resume the run).
    """

    def __init__(
        self,
        connection: CassandraConnection,
        keyspace: str,
        table: str,
        *,
        columns: Sequence[str] | None = None,
        consistency: str | None = None,
        fetch_size: int = 5000,
        splits: int | None = None,
        writetime_columns: Sequence[str] = (),
        ttl_columns: Sequence[str] = (),
    ) -> None:
        if fetch_size < 1:
            raise CopyError("fetch_size must be at least 1")
        if splits is not None and splits < 1:
            raise CopyError("splits must be at least 1")
        self.connection = connection
        self.keyspace = keyspace
        self.table = table
        self.columns = list(columns) if columns is not None else None
        self.consistency = consistency_level(consistency) if consistency is not None else None
        self.fetch_size = fetch_size
        self.splits = splits
        self.writetime_columns = list(writetime_columns)
        self.ttl_columns = list(ttl_columns)
        self.location = f"{keyspace}.{table} ({connection.contact})"
        self._lock = threading.Lock()
        self._layout: _ReadLayout | None = None
        self._statements: dict[bool, Any] = {}

    def fields(self) -> list[Field]:
        """The columns read, in schema order, then the write time and TTL fields."""
        return list(self._read_layout().fields)

    def plan(self, splits: int) -> list[PlannedSlice]:
        """Token ranges covering the ring once: ``self.splits``, else the hint, else the
        default. Each slice's spec is ``{"start", "end", "includes_start"}``."""
        count = self.splits or (splits if splits >= 1 else default_splits())
        return [
            (r.slice_id, {"start": r.start, "end": r.end, "includes_start": r.includes_start})
            for r in token_ranges(count)
        ]

    def read(self, spec: Mapping[str, Any]) -> Iterator[Chunk]:
        """The rows of one token range, one chunk per page; the next page is fetched while
        the caller works on this one. Errors (timeouts mid-read) propagate to the runner."""
        token_range = _token_range(spec)
        layout = self._read_layout()
        statement = self._statement(token_range.includes_start)
        bound = statement.bind((token_range.start, token_range.end))
        bound.fetch_size = self.fetch_size
        if self.consistency is not None:
            bound.consistency_level = self.consistency
        origin = f"{self.keyspace}.{self.table}"
        session = self.connection.session()
        future = session.execute_async(bound, execution_profile=TUPLE_ROWS_PROFILE)
        result = future.result()
        while True:
            rows = result.current_rows
            more = future.has_more_pages
            if more:
                future.start_fetching_next_page()
            if rows:
                yield Chunk(
                    columns=layout.columns,
                    origin=origin,
                    rows=rows,
                    key_indexes=layout.key_indexes,
                )
            if not more:
                return
            result = future.result()

    def close(self) -> None:
        """Nothing to release: the connection belongs to whoever made it."""

    def _read_layout(self) -> _ReadLayout:
        with self._lock:
            if self._layout is None:
                self._layout = self._build_layout()
            return self._layout

    def _build_layout(self) -> _ReadLayout:
        table = self.connection.table(self.keyspace, self.table)
        order = _schema_order(table)
        name = f"{self.keyspace}.{self.table}"
        if self.columns is None:
            chosen = order
        else:
            wanted = {self._column(order, c, "columns") for c in self.columns}
            chosen = [c for c in order if c in wanted]
        keys = {c.name for c in table.partition_key} | {c.name for c in table.clustering_key}
        extra_names: list[str] = []
        selectors: list[str] = []
        for option, function, suffix in (
            (self.writetime_columns, "writetime", "writetime"),
            (self.ttl_columns, "ttl", "ttl"),
        ):
            for given in option:
                column = self._column(order, given, f"{function}_columns")
                if column in keys:
                    raise CopyError(
                        f"{name}: {function}() needs a regular column; {column} is part of "
                        "the primary key"
                    )
                field_name = f"{column}_{suffix}"
                if field_name in order or field_name in extra_names:
                    raise CopyError(
                        f"{name}: cannot add field {field_name} for {function}({column}): "
                        "the name is taken"
                    )
                extra_names.append(field_name)
                selectors.append(f"{function}({protect_name(column)})")
        select = ", ".join([protect_name(c) for c in chosen] + selectors)
        partition_key = [c.name for c in table.partition_key]
        # The prepared statement's result metadata gives each field's type exactly as the
        # driver decodes it (user types with their field names, writetime as bigint).
        statement = self._prepare_read(table, select, partition_key, includes_start=True)
        types = [column[3] for column in statement.result_metadata]
        pk = set(partition_key)
        names = chosen + extra_names
        fields = [
            Field(n, cql_type=t, key=n in pk and i < len(chosen))
            for i, (n, t) in enumerate(zip(names, types, strict=True))
        ]
        with_keys = tuple(i for i, n in enumerate(chosen) if n in pk)
        self._statements[True] = statement
        return _ReadLayout(fields, tuple(names), with_keys, partition_key, select)

    def _column(self, order: list[str], given: str, option: str) -> str:
        column = _match(given, order)
        if column is None:
            raise CopyError(
                f"{option}: table {self.keyspace}.{self.table} has no column {given} "
                f"(its columns: {', '.join(order)})"
            )
        return column

    def _prepare_read(
        self, table: Any, select: str, partition_key: list[str], *, includes_start: bool
    ) -> Any:
        where = _token_where(partition_key, includes_start)
        statement = f"SELECT {select} FROM {_qualified(table)} WHERE {where}"
        return _prepare(self.connection.session(), statement, self.location)

    def _statement(self, includes_start: bool) -> Any:
        layout = self._read_layout()
        with self._lock:
            statement = self._statements.get(includes_start)
            if statement is None:
                table = self.connection.table(self.keyspace, self.table)
                statement = self._prepare_read(
                    table, layout.select, layout.partition_key, includes_start=includes_start
                )
                self._statements[includes_start] = statement
            return statement


def _token_range(spec: Mapping[str, Any]) -> TokenRange:
    try:
        start, end, includes_start = spec["start"], spec["end"], spec["includes_start"]
    except (KeyError, TypeError):
        raise CopyError(
            f"not a token range slice: {spec!r} (expected start, end, includes_start)"
        ) from None
    if not isinstance(start, int) or not isinstance(end, int) or start > end:
        raise CopyError(f"not a token range slice: {spec!r} (expected integers start <= end)")
    return TokenRange(start=start, end=end, includes_start=bool(includes_start))


# --- sink --------------------------------------------------------------------------------


class CassandraSink:
    """Upserts rows into a Cassandra table; see the module docstring for idempotence.

    ``ttl`` (seconds) applies to every row, ``ttl_column`` / ``timestamp_column`` name
    incoming fields whose values become each row's ``USING TTL`` / ``USING TIMESTAMP``
    (microseconds) instead of columns; a null there falls back to ``ttl`` (or the table's
    default) and to the write time. Nulls in other columns are left unset (no tombstones)
    unless ``write_nulls``. ``throttle`` may be shared by several sinks; by default each
    sink adapts on its own. ``batch_mode`` is one of :data:`BATCH_MODES`.
    """

    def __init__(
        self,
        connection: CassandraConnection,
        keyspace: str,
        table: str,
        *,
        consistency: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
        max_batch_partitions: int = DEFAULT_MAX_BATCH_PARTITIONS,
        throttle: AimdThrottle | None = None,
        ttl: int | None = None,
        timestamp_column: str | None = None,
        ttl_column: str | None = None,
        allow_non_idempotent: bool = False,
        request_attempts: int = 5,
        backoff: Backoff | None = None,
        write_nulls: bool = False,
        batch_mode: str = "replica",
    ) -> None:
        if batch_size < 1:
            raise CopyError("batch_size must be at least 1 (1: no batches)")
        if max_batch_bytes < 1:
            raise CopyError("max_batch_bytes must be positive")
        if max_batch_partitions < 1:
            raise CopyError("max_batch_partitions must be at least 1")
        if ttl is not None and ttl < 0:
            raise CopyError(f"ttl must be 0 (none) or more seconds, not {ttl}")
        if request_attempts < 1:
            raise CopyError("request_attempts must be at least 1")
        if batch_mode not in BATCH_MODES:
            raise CopyError(
                f"batch_mode must be one of {', '.join(BATCH_MODES)}, not {batch_mode!r}"
            )
        if timestamp_column is not None and timestamp_column == ttl_column:
            raise CopyError("timestamp_column and ttl_column must be different fields")
        self.connection = connection
        self.keyspace = keyspace
        self.table = table
        self.consistency = consistency_level(consistency) if consistency is not None else None
        self.batch_size = batch_size
        self.max_batch_bytes = max_batch_bytes
        self.max_batch_partitions = max_batch_partitions
        self.throttle = throttle or AimdThrottle()
        self.ttl = ttl
        self.timestamp_column = timestamp_column
        self.ttl_column = ttl_column
        self.allow_non_idempotent = allow_non_idempotent
        self.request_attempts = request_attempts
        self.backoff = backoff or Backoff()
        self.write_nulls = write_nulls
        self.batch_mode = batch_mode
        self.location = f"{keyspace}.{table} ({connection.contact})"
        #: Counts over every slice written so far (see :class:`SinkStats`).
        self.stats = SinkStats()
        self._metrics: SinkObserver | None = None
        self._stats_lock = threading.Lock()
        self._gate = Gate(self.throttle)
        self._plan: WritePlan | None = None

    # --- prepare -------------------------------------------------------------------------

    def prepare(self, fields: Sequence[Field], policy: DriftPolicy) -> Drift:
        """Map fields to columns (exact name, else the one column equal ignoring case),
        apply the drift policy, refuse what cannot be written idempotently, and prepare the
        write statement."""
        name = f"{self.keyspace}.{self.table}"
        names = [f.name for f in fields]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise CopyError(f"{name}: the source has several fields named {', '.join(duplicates)}")
        usings = [c for c in (self.timestamp_column, self.ttl_column) if c is not None]
        for using in usings:
            if using not in names:
                raise CopyError(
                    f"{name}: no source field {using} for the row's TTL or timestamp "
                    f"(source fields: {', '.join(names)})"
                )
        table = self.connection.table(self.keyspace, self.table, refresh=True)
        value_fields = [f for f in fields if f.name not in usings]
        mapping, extra = self._map(table, value_fields)
        added: list[str] = []
        ignored: list[str] = []
        if extra and policy is DriftPolicy.FAIL:
            raise CopyError(
                f"table {name} has no column for field(s) {', '.join(extra)} "
                f"(its columns: {', '.join(_schema_order(table))}); leave them out with the "
                "ignore_extra drift policy, or add them with add_columns"
            )
        if extra and policy is DriftPolicy.IGNORE_EXTRA:
            ignored = extra
        elif extra:
            added = self._add_columns(table, [f for f in value_fields if f.name in extra])
            table = self.connection.table(self.keyspace, self.table, refresh=True)
            mapping, extra = self._map(table, value_fields)
            if extra:  # the ALTER went through, yet the columns are not there
                raise CopyError(f"{name}: columns {', '.join(extra)} were not added")
        keys = [c.name for c in table.partition_key] + [c.name for c in table.clustering_key]
        filled = set(mapping.values())
        missing_keys = [k for k in keys if k not in filled]
        if missing_keys:
            raise CopyError(
                f"{name}: the source has no field for primary key column(s) "
                f"{', '.join(missing_keys)} (source fields: {', '.join(names) or 'none'})"
            )
        self._check_idempotent(table, mapping)
        self._plan = self._write_plan(table, mapping, keys, frozenset(ignored))
        missing = [c for c in _schema_order(table) if c not in filled]
        return Drift(extra=tuple(ignored), missing=tuple(missing), added=tuple(added))

    def _map(self, table: Any, fields: Sequence[Field]) -> tuple[dict[str, str], list[str]]:
        """Field name -> column name, and the fields with no column."""
        columns = _schema_order(table)
        mapping: dict[str, str] = {}
        extra: list[str] = []
        taken: dict[str, str] = {}
        for f in fields:
            column = _match(f.name, columns)
            if column is None:
                extra.append(f.name)
                continue
            if column in taken:
                raise CopyError(
                    f"{self.keyspace}.{self.table}: fields {taken[column]} and {f.name} would "
                    f"both fill column {column}"
                )
            taken[column] = f.name
            mapping[f.name] = column
        return mapping, extra

    def _add_columns(self, table: Any, fields: Sequence[Field]) -> list[str]:
        """``ALTER TABLE ... ADD`` a column per field, typed from it (text when untyped)."""
        additions = ", ".join(
            f"{protect_name(f.name)} "
            f"{cql_type_name(f.cql_type) if f.cql_type is not None else 'text'}"
            for f in fields
        )
        statement = f"ALTER TABLE {_qualified(table)} ADD ({additions})"
        what = f"{self.keyspace}.{self.table}"
        try:
            self.connection.session().execute(statement)
        except InvalidRequest as exc:
            # Another worker may have added them a moment ago; prepare() checks again.
            fresh = self.connection.table(self.keyspace, self.table, refresh=True)
            if all(_match(f.name, _schema_order(fresh)) is not None for f in fields):
                return []
            raise CopyError(f"{what}: Cassandra refused {statement!r}: {exc}") from exc
        except RequestValidationException as exc:
            raise CopyError(f"{what}: Cassandra refused {statement!r}: {exc}") from exc
        self.connection.wait_for_schema_agreement(f"{what}: {statement}")
        return [f.name for f in fields]

    def _check_idempotent(self, table: Any, mapping: Mapping[str, str]) -> None:
        if self.allow_non_idempotent:
            return
        name = f"{self.keyspace}.{self.table}"
        counters = [c for c, meta in table.columns.items() if meta.cql_type == "counter"]
        if counters:
            raise CopyError(
                f"{name} is a counter table ({', '.join(counters)}): a slice redone after a "
                "failure would count its increments twice; set allow_non_idempotent to load "
                "it anyway"
            )
        if self.timestamp_column is not None:
            lists = [c for c in mapping.values() if table.columns[c].cql_type.startswith("list<")]
            if lists:
                raise CopyError(
                    f"{name}: list column(s) {', '.join(lists)} written with an explicit "
                    "timestamp would get their elements twice when a slice is redone; drop "
                    "timestamp_column or set allow_non_idempotent"
                )

    def _write_plan(
        self,
        table: Any,
        mapping: Mapping[str, str],
        keys: list[str],
        ignored: frozenset[str],
    ) -> WritePlan:
        columns = _schema_order(table)
        # Bind markers in schema order, so that statements and errors read naturally.
        by_column = {column: f for f, column in mapping.items()}
        ordered = [(by_column[c], c) for c in columns if c in by_column]
        counters = {c for c, meta in table.columns.items() if meta.cql_type == "counter"}
        usings: list[tuple[str, str]] = []
        if counters:
            if self.ttl is not None or self.ttl_column or self.timestamp_column:
                raise CopyError(
                    f"{self.keyspace}.{self.table}: counter tables take no TTL or timestamp"
                )
            increments = [(f, c) for f, c in ordered if c in counters]
            where = [(f, c) for f, c in ordered if c not in counters]
            sets = ", ".join(f"{protect_name(c)} = {protect_name(c)} + ?" for _, c in increments)
            conditions = " AND ".join(f"{protect_name(c)} = ?" for _, c in where)
            statement = f"UPDATE {_qualified(table)} SET {sets} WHERE {conditions}"
            ordered = increments + where
            batch_type = BatchType.COUNTER
        else:
            targets = ", ".join(protect_name(c) for _, c in ordered)
            markers = ", ".join("?" for _ in ordered)
            statement = f"INSERT INTO {_qualified(table)} ({targets}) VALUES ({markers})"
            options = []
            if self.ttl_column is not None:
                options.append("TTL ?")
                usings.append((self.ttl_column, "TTL"))
            elif self.ttl is not None:
                options.append(f"TTL {self.ttl}")
            if self.timestamp_column is not None:
                options.append("TIMESTAMP ?")
                usings.append((self.timestamp_column, "TIMESTAMP"))
            if options:
                statement += " USING " + " AND ".join(options)
            batch_type = BatchType.UNLOGGED
        prepared = _prepare(
            self.connection.session(), statement, self.location, self._count_prepare_retry
        )
        if self.consistency is not None:
            prepared.consistency_level = self.consistency
        types = [meta.type for meta in prepared.column_metadata]
        key_set = set(keys)
        null = None if self.write_nulls else UNSET_VALUE
        bindings = [
            Binding(f, c, to_cql(t), key=c in key_set, null=null)
            for (f, c), t in zip(ordered, types, strict=False)
        ]
        for (f, clause), t in zip(usings, types[len(ordered) :], strict=True):
            # A null TTL falls back to the sink's ttl, else to the table's default (unset);
            # a null timestamp to the write time.
            fallback = self.ttl if clause == "TTL" and self.ttl is not None else UNSET_VALUE
            bindings.append(Binding(f, f"{clause} ({f})", to_cql(t), null=fallback))
        return WritePlan(
            session=self.connection.session(),
            prepared=prepared,
            bindings=tuple(bindings),
            batch_type=batch_type,
            consistency=self.consistency,
            batch_size=self.batch_size,
            max_batch_bytes=self.max_batch_bytes,
            max_batch_partitions=self.max_batch_partitions,
            attempts=self.request_attempts,
            backoff=self.backoff,
            throttle=self.throttle,
            gate=self._gate,
            table=f"{self.keyspace}.{self.table}",
            request_timeout=self.connection.request_timeout,
            ignored=ignored,
            batch_mode=self.batch_mode,
            replicas=self._replicas(table.keyspace_name),
            metrics=self._metrics,
        )

    def _replicas(self, keyspace: str) -> Any:
        metadata = self.connection.cluster.metadata

        def replicas(routing_key: bytes) -> Any:
            return metadata.get_replicas(keyspace, routing_key)

        return replicas

    # --- write ---------------------------------------------------------------------------

    def open_slice(self, slice_id: str) -> CassandraSliceWriter:
        """A writer for one slice; writing a slice again rewrites the same rows."""
        if self._plan is None:
            raise CopyError(f"{self.location}: prepare() must come before open_slice()")
        return CassandraSliceWriter(self._plan, slice_id, self._add_stats)

    def _count_prepare_retry(self, _attempt: int, error: BaseException, _delay: float) -> None:
        """A PREPARE retried: counted like any request's retry, in the report and metrics."""
        name = type(error).__name__
        with self._stats_lock:
            self.stats.retries += 1
            self.stats.errors_by_class[name] = self.stats.errors_by_class.get(name, 0) + 1
        if self._metrics is not None:
            self._metrics.error("transient", name)
            self._metrics.retries.inc()

    def observe(self, metrics: SinkObserver) -> None:
        """Feed these Prometheus series from now on (call before :meth:`prepare`)."""
        self._metrics = metrics

    def _add_stats(self, stats: SinkStats) -> None:
        with self._stats_lock:
            self.stats.add(stats)

    def close(self) -> None:
        """Nothing to release: the connection belongs to whoever made it."""
