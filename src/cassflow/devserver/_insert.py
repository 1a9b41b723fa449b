"""INSERT as a plan made once per statement and table, then run once per execution.

Everything that depends only on the statement and the table (which column each value goes
to, which are key parts, static or regular, the clustering key layout, the checks on the
column list) is worked out by :func:`plan_insert`; :meth:`InsertPlan.run` then only takes the
bound values, validates them and writes. The executor keeps the plan of each prepared
statement, so an EXECUTE of a prepared INSERT does the minimum.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from cassflow.cql import BindMarker, Insert, Null, Term, Using
from cassflow.devserver._conditions import (
    APPLIED,
    CasResult,
    CasRow,
    check_conditional,
    failure_rows,
    read_cas_row,
)
from cassflow.devserver._errors import InvalidRequestError
from cassflow.devserver._json_decode import insert_json_values
from cassflow.devserver._keycodec import STATIC_CK, clustering_key, partition_key, token
from cassflow.devserver._multicell import MultiCellWrite, overwrite_cells
from cassflow.devserver._schema import ColumnKind, ColumnMetadata, TableMetadata
from cassflow.devserver._storage import Storage
from cassflow.devserver._using import write_options
from cassflow.devserver._values import Evaluator, validate
from cassflow.devserver._where import known_column
from cassflow.protocol import UNSET, DataType, TypeCode, Value

_TEXT = DataType(TypeCode.VARCHAR)

# Types whose serialized form is valid exactly when it has this many bytes (or none), as
# cassandra.cqltypes deserializes them; other types go through the full validation.
_FIXED_SIZES = {
    TypeCode.INT: 4,
    TypeCode.BIGINT: 8,
    TypeCode.COUNTER: 8,
    TypeCode.DOUBLE: 8,
    TypeCode.FLOAT: 4,
    TypeCode.BOOLEAN: 1,
    TypeCode.UUID: 16,
    TypeCode.TIMEUUID: 16,
    TypeCode.SMALLINT: 2,
    TypeCode.TINYINT: 1,
    TypeCode.DATE: 4,
}
# Timestamps (ms) that certainly deserialize (years 100 to 9000); others get the full check.
_SAFE_TIMESTAMPS = range(-59_011_459_200_000, 221_845_392_000_000)


def _quick_valid(raw: bytes, code: TypeCode) -> bool:
    """True when ``raw`` is certainly a valid ``code`` value; False: use the full check."""
    size = _FIXED_SIZES.get(code)
    if size is not None:
        return len(raw) == size
    if code is TypeCode.BLOB:
        return True
    if code is TypeCode.TIMESTAMP:
        return len(raw) == 8 and int.from_bytes(raw, "big", signed=True) in _SAFE_TIMESTAMPS
    if code is TypeCode.VARCHAR:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True
    if code is TypeCode.ASCII:
        return raw.isascii()
    return False


@dataclass(frozen=True, slots=True)
class _Slot:
    """One value of the statement: where it comes from and where it goes."""

    column: ColumnMetadata
    term: Term
    bind_index: int | None  # the bound value's position when the term is a bind marker
    multi_cell: bool


@dataclass(frozen=True, slots=True)
class InsertPlan:
    """What an INSERT does to one table, short of the values."""

    table: TableMetadata
    table_id: str
    using: Using
    if_not_exists: bool
    slots: tuple[_Slot, ...]
    pk_slots: tuple[int, ...]  # positions in ``slots`` of the partition key, in key order
    ck_slots: tuple[int, ...]
    ck_types: tuple[DataType, ...]
    ck_desc: tuple[bool, ...]
    regular_slots: tuple[int, ...]  # simple cells (frozen values included)
    static_slots: tuple[int, ...]
    #: Non-frozen collections and user types: written as element cells.
    regular_multi: tuple[int, ...]
    static_multi: tuple[int, ...]
    #: Neither USING TIMESTAMP, USING TTL nor a default TTL: the write options are trivial.
    plain_options: bool
    #: ``INSERT ... JSON <json>``: the JSON term, whose object gives every column's value.
    json: Term | None = None
    #: ``DEFAULT UNSET``: columns the JSON object leaves out are left as they are.
    default_unset: bool = False
    #: Only static columns, no clustering: the partition's static row is all it writes.
    static_only: bool = False

    def run(
        self, evaluator: Evaluator, storage: Storage, *, default_timestamp: int, now: int
    ) -> CasResult:
        """Apply the INSERT with ``evaluator``'s values; not applied only for IF NOT EXISTS."""
        values = self._values(evaluator)
        if self.plain_options:
            timestamp, ttl = default_timestamp, None
        else:
            options = write_options(self.using, self.table, evaluator, default_timestamp)
            timestamp, ttl = options.timestamp, options.ttl
        pk_values = [_key_value(values[i], self.slots[i].column) for i in self.pk_slots]
        pk = partition_key(pk_values)
        tok = token(pk)
        if self.ck_slots:
            ck = clustering_key(
                [_key_value(values[i], self.slots[i].column) for i in self.ck_slots],
                self.ck_types,
                self.ck_desc,
            )
        else:
            ck = STATIC_CK
        if self.if_not_exists:
            existing = read_cas_row(self.table, storage, pk_values, tok, pk, ck, now)
            found = existing.static if self.static_only else existing.row
            if found is not None:
                return self._not_applied(existing)
        regular = self._cells(values, self.regular_slots)
        static = self._cells(values, self.static_slots) if self.static_slots else {}
        regular_multi = self._multi(values, self.regular_multi, timestamp)
        static_multi = self._multi(values, self.static_multi, timestamp)
        writes_row = not self.static_only
        writes_static = self.static_only or bool(static) or bool(static_multi)
        # The row and its partition's static row land together; one write needs no savepoint.
        with storage.transaction() if writes_row and writes_static else contextlib.nullcontext():
            if writes_row:
                storage.write(
                    self.table_id,
                    tok,
                    pk,
                    ck,
                    regular,
                    timestamp=timestamp,
                    ttl=ttl,
                    row_marker=True,
                    now=now,
                    multi_cell=regular_multi,
                )
            if writes_static:
                storage.write(
                    self.table_id,
                    tok,
                    pk,
                    STATIC_CK,
                    static,
                    timestamp=timestamp,
                    ttl=ttl,
                    now=now,
                    multi_cell=static_multi,
                )
        return APPLIED

    def cas_row(self, evaluator: Evaluator, storage: Storage, now: int) -> CasRow:
        """The row this INSERT names, as it is now (for conditional batches)."""
        values = self._values(evaluator)
        pk_values = [_key_value(values[i], self.slots[i].column) for i in self.pk_slots]
        pk = partition_key(pk_values)
        ck = STATIC_CK
        if self.ck_slots:
            ck = clustering_key(
                [_key_value(values[i], self.slots[i].column) for i in self.ck_slots],
                self.ck_types,
                self.ck_desc,
            )
        return read_cas_row(self.table, storage, pk_values, token(pk), pk, ck, now)

    def _not_applied(self, existing: CasRow) -> CasResult:
        # The whole row, as Cassandra's CAS read fetches it: every regular column, and the
        # static ones only when the INSERT writes one of them.
        fetched = {c.name for c in self.table.regular_columns}
        if self.static_slots or self.static_multi:
            fetched |= {c.name for c in self.table.static_columns}
        columns = self.table.columns
        return CasResult(False, columns, failure_rows(self.table, columns, [existing], fetched))

    def _values(self, evaluator: Evaluator) -> list[Value]:
        if self.json is not None:
            return self._json_values(evaluator)
        bound = evaluator.bound
        values: list[Value] = []
        for slot in self.slots:
            index = slot.bind_index
            if index is None or index >= len(bound):
                values.append(evaluator.value(slot.term, slot.column.type, slot.column.name))
                continue
            raw = bound[index]
            if raw is None or raw is UNSET or not raw:
                pass  # null, unset and empty values are valid for every column type
            elif not isinstance(raw, bytes) or not _quick_valid(raw, slot.column.type.code):
                validate(raw, slot.column.type, slot.column.name)  # raises Cassandra's error
            values.append(raw)
        return values

    def _json_values(self, evaluator: Evaluator) -> list[Value]:
        assert self.json is not None
        raw = evaluator.value(self.json, _TEXT, "[json]")
        if raw is None or raw is UNSET:
            raise InvalidRequestError("Got null for INSERT JSON values")
        assert isinstance(raw, bytes)
        values = insert_json_values(
            raw.decode("utf-8"), self.table, default_unset=self.default_unset
        )
        return [values[slot.column.name] for slot in self.slots]

    def _cells(self, values: Sequence[Value], slots: Sequence[int]) -> dict[str, bytes | None]:
        cells: dict[str, bytes | None] = {}
        for i in slots:
            value = values[i]
            if value is not UNSET:
                cells[self.slots[i].column.name] = value
        return cells

    def _multi(
        self, values: Sequence[Value], slots: Sequence[int], timestamp: int
    ) -> dict[str, MultiCellWrite] | None:
        """Each value overwrites the column: a complex deletion just below the write's
        timestamp, then its elements (none for null or empty), as Cassandra's setters do."""
        if not slots:
            return None
        writes: dict[str, MultiCellWrite] = {}
        for i in slots:
            value = values[i]
            if value is UNSET:
                continue
            column = self.slots[i].column
            elements = overwrite_cells(value, column.type) if isinstance(value, bytes) else []
            writes[column.name] = MultiCellWrite(tuple(elements), timestamp - 1)
        return writes


def _key_value(value: Value, column: ColumnMetadata) -> bytes:
    if value is UNSET:
        raise InvalidRequestError(f"Invalid unset value for column {column.name}")
    if value is None:
        # Cassandra reads an INSERT's key values as the EQ relations of a WHERE clause.
        raise InvalidRequestError(f"Invalid null value in condition for column {column.name}")
    assert isinstance(value, bytes)
    if not value and column.kind is ColumnKind.PARTITION_KEY:
        raise InvalidRequestError("Key may not be empty")
    return value


def plan_insert(statement: Insert, table: TableMetadata) -> InsertPlan:
    """Check ``statement`` against ``table`` and plan it; raises what Cassandra answers."""
    if table.counter:
        raise InvalidRequestError(
            "INSERT statements are not allowed on counter tables, use UPDATE instead"
        )
    if statement.if_not_exists:
        check_conditional(statement, table)
    if statement.json is not None:
        # Every column takes a value from the JSON object (or its DEFAULT) at each execution.
        columns = tuple(c.name for c in table.columns)
        statement = dataclasses.replace(
            statement, columns=columns, values=tuple(Null() for _ in columns)
        )
        json_term: Term | None = statement.json
    else:
        json_term = None
    if len(statement.columns) != len(statement.values):
        raise InvalidRequestError("Unmatched column names/values")
    if len(set(statement.columns)) != len(statement.columns):
        raise InvalidRequestError("The column names contains duplicates")
    slots: list[_Slot] = []
    for name, term in zip(statement.columns, statement.values, strict=True):
        column = known_column(table, name)
        index = term.index if isinstance(term, BindMarker) else None
        slots.append(_Slot(column, term, index, column.is_multi_cell))
    position = {slot.column.name: i for i, slot in enumerate(slots)}
    missing_pk = [c.name for c in table.partition_key if c.name not in position]
    if missing_pk:
        raise InvalidRequestError(f"Some partition key parts are missing: {', '.join(missing_pk)}")
    clustering = table.clustering_columns
    missing_ck = [c.name for c in clustering if c.name not in position]
    kinds = {s.column.kind for s in slots}
    # Only static columns and no clustering column: the INSERT writes the static row alone.
    static_only = (
        len(missing_ck) == len(clustering) > 0
        and ColumnKind.STATIC in kinds
        and ColumnKind.REGULAR not in kinds
    )
    if missing_ck and not static_only:
        raise InvalidRequestError(f"Some clustering keys are missing: {', '.join(missing_ck)}")
    using = statement.using
    return InsertPlan(
        table=table,
        table_id=str(table.id),
        using=using,
        if_not_exists=statement.if_not_exists,
        slots=tuple(slots),
        pk_slots=tuple(position[c.name] for c in table.partition_key),
        ck_slots=() if static_only else tuple(position[c.name] for c in clustering),
        ck_types=tuple(c.type for c in clustering),
        ck_desc=tuple(c.is_reversed for c in clustering),
        regular_slots=tuple(
            i
            for i, s in enumerate(slots)
            if not s.column.is_primary_key
            and s.column.kind is not ColumnKind.STATIC
            and not s.multi_cell
        ),
        static_slots=tuple(
            i
            for i, s in enumerate(slots)
            if s.column.kind is ColumnKind.STATIC and not s.multi_cell
        ),
        regular_multi=tuple(
            i
            for i, s in enumerate(slots)
            if s.multi_cell and s.column.kind is not ColumnKind.STATIC
        ),
        static_multi=tuple(
            i for i, s in enumerate(slots) if s.multi_cell and s.column.kind is ColumnKind.STATIC
        ),
        plain_options=(
            using.timestamp is None and using.ttl is None and not table.options.default_time_to_live
        ),
        json=json_term,
        static_only=static_only,
        default_unset=statement.default_unset,
    )


__all__ = ["InsertPlan", "plan_insert"]
