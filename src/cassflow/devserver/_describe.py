"""Server-side DESCRIBE, as Cassandra 4.1 runs it (``DescribeStatement``).

Since 4.0 the server answers ``DESCRIBE`` itself and cqlsh only prints the rows. Listings
(``DESCRIBE KEYSPACES``, ``TABLES``, ``TYPES``, ``FUNCTIONS``, ``AGGREGATES``) answer
``keyspace_name, type, name``; the element forms (``KEYSPACE``, ``TABLE``, ``TYPE``,
``SCHEMA``, a bare name...) add ``create_statement``, the CQL text Cassandra's
``toCqlString`` writes; ``DESCRIBE CLUSTER`` answers ``cluster, partitioner, snitch`` and,
with a user keyspace in use, ``range_ownership``. Results page by row offset; a schema change
between two pages fails the next page, as in Cassandra.

The dev server has no secondary indexes, materialized views or user-defined functions, so
the forms naming them answer Cassandra's "not found" errors and listings of them are empty.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from cassflow.cql import Describe, DescribeKind
from cassflow.devserver._errors import InvalidRequestError
from cassflow.devserver._schema import (
    SYSTEM_KEYSPACES,
    ColumnKind,
    ColumnMetadata,
    DroppedColumn,
    KeyspaceMetadata,
    Schema,
    TableMetadata,
    UserType,
)
from cassflow.devserver._schema_options import LOCATOR, TableOptions, _java_double
from cassflow.devserver._schema_types import maybe_quote
from cassflow.devserver._system_tables import NodeInfo
from cassflow.protocol import ColumnSpec, DataType, RowsMetadata, RowsResult, TypeCode

__all__ = ["describe"]

_TEXT = DataType(TypeCode.VARCHAR)
_RANGE_OWNERSHIP = DataType.map_of(_TEXT, DataType.list_of(_TEXT))
_PAGING_VERSION = 1
_PAGING_STATE = struct.Struct(">H16sq")
_INDENT = "    "
SCHEMA_CHANGED_WHILE_PAGING = (
    "The schema has changed since the previous page of the DESCRIBE statement result. "
    "Please retry the DESCRIBE statement."
)


def _spec(name: str, dtype: DataType = _TEXT) -> ColumnSpec:
    return ColumnSpec(keyspace="system", table="describe", name=name, type=dtype)


_LIST_COLUMNS = (_spec("keyspace_name"), _spec("type"), _spec("name"))
_ELEMENT_COLUMNS = (*_LIST_COLUMNS, _spec("create_statement"))
_CLUSTER_COLUMNS = (_spec("cluster"), _spec("partitioner"), _spec("snitch"))


@dataclass(frozen=True, slots=True)
class _Element:
    """One schema element: its keyspace, ``SchemaElementType`` name, name and CQL."""

    keyspace: str
    type: str
    name: str
    create_statement: str

    def row(self, with_statement: bool) -> tuple[bytes | None, ...]:
        values = [maybe_quote(self.keyspace), self.type, maybe_quote(self.name)]
        if with_statement:
            values.append(self.create_statement)
        return tuple(v.encode() for v in values)


def describe(
    statement: Describe,
    schema: Schema,
    node: NodeInfo,
    keyspace: str | None,
    *,
    page_size: int | None = None,
    paging_state: bytes | None = None,
) -> RowsResult:
    """Run ``statement`` with ``keyspace`` as the session keyspace; one page of rows."""
    offset = _offset(paging_state, schema.version)
    columns: tuple[ColumnSpec, ...]
    if statement.kind is DescribeKind.CLUSTER:
        columns, rows = _cluster(node, keyspace)
    else:
        listing, elements = _elements(statement, schema, keyspace)
        columns = _LIST_COLUMNS if listing else _ELEMENT_COLUMNS
        rows = [e.row(not listing) for e in elements]
    rows = rows[offset:]
    next_state = None
    if page_size is not None and page_size > 0:
        rows = rows[:page_size]
        if len(rows) == page_size:
            next_state = _PAGING_STATE.pack(
                _PAGING_VERSION, schema.version.bytes, offset + page_size
            )
    return RowsResult(metadata=RowsMetadata.of(columns, paging_state=next_state), rows=tuple(rows))


def _offset(paging_state: bytes | None, version: uuid.UUID) -> int:
    if not paging_state:
        return 0
    if len(paging_state) != _PAGING_STATE.size:
        raise InvalidRequestError("Invalid paging state.")
    marker, schema_version, offset = _PAGING_STATE.unpack(paging_state)
    if marker != _PAGING_VERSION:
        raise InvalidRequestError("Incompatible paging state")
    if schema_version != version.bytes:
        raise InvalidRequestError(SCHEMA_CHANGED_WHILE_PAGING)
    return max(0, int(offset))


# --- which elements ---------------------------------------------------------------------------


def _name_key(name: str) -> str:
    # SchemaElement.NAME_COMPARATOR: String.compareToIgnoreCase.
    return name.lower()


def _sorted_keyspaces(schema: Schema) -> list[KeyspaceMetadata]:
    return sorted(schema.keyspaces.values(), key=lambda k: _name_key(k.name))


def _keyspace(schema: Schema, name: str) -> KeyspaceMetadata:
    keyspace = schema.keyspace(name)
    if keyspace is None:
        raise InvalidRequestError(f"'{name}' not found in keyspaces")
    return keyspace


def _element_keyspace(schema: Schema, named: str | None, session: str | None) -> KeyspaceMetadata:
    name = named if named is not None else session
    if name is None:
        raise InvalidRequestError("No keyspace specified and no current keyspace")
    return _keyspace(schema, name)


def _elements(
    statement: Describe, schema: Schema, session: str | None
) -> tuple[bool, list[_Element]]:
    """Whether the answer is a listing (no create_statement), and its elements in order."""
    kind, internals = statement.kind, statement.with_internals
    if kind is DescribeKind.KEYSPACES:
        return True, [_keyspace_element(k) for k in _sorted_keyspaces(schema)]
    if kind in (
        DescribeKind.TABLES,
        DescribeKind.TYPES,
        DescribeKind.FUNCTIONS,
        DescribeKind.AGGREGATES,
    ):
        keyspaces = _sorted_keyspaces(schema) if session is None else [_keyspace(schema, session)]
        found: list[_Element] = []
        for ks in keyspaces:
            if kind is DescribeKind.TABLES:
                tables = sorted(ks.tables.values(), key=lambda t: _name_key(t.name))
                found.extend(_table_element(t, internals) for t in tables)
            elif kind is DescribeKind.TYPES:
                types = sorted(ks.user_types.values(), key=lambda t: _name_key(t.name))
                found.extend(_type_element(t) for t in types)
        return True, found
    if kind in (DescribeKind.SCHEMA, DescribeKind.FULL_SCHEMA):
        full = kind is DescribeKind.FULL_SCHEMA
        return False, [
            element
            for ks in _sorted_keyspaces(schema)
            if full or ks.name not in SYSTEM_KEYSPACES
            for element in _keyspace_elements(ks, internals, only=False)
        ]
    if kind is DescribeKind.KEYSPACE:
        ks = _element_keyspace(schema, statement.keyspace, session)
        return False, list(_keyspace_elements(ks, internals, only=statement.only))
    name = statement.name or ""
    if kind is DescribeKind.GENERIC:
        return False, _generic(schema, statement.keyspace, name, session, internals)
    ks = _element_keyspace(schema, statement.keyspace, session)
    if kind is DescribeKind.TABLE:
        table = ks.table(name)
        if table is None:
            raise InvalidRequestError(f"Table '{name}' not found in keyspace '{ks.name}'")
        return False, list(_table_elements(table, internals))
    if kind is DescribeKind.TYPE:
        user_type = ks.user_type(name)
        if user_type is None:
            raise InvalidRequestError(f"User defined type '{name}' not found in '{ks.name}'")
        return False, [_type_element(user_type)]
    if kind is DescribeKind.INDEX:
        indexed = _indexed_table(ks, name)
        if indexed is None:
            raise InvalidRequestError(f"Table for existing index '{name}' not found in '{ks.name}'")
        return False, [_index_element(indexed, name)]
    if kind is DescribeKind.MATERIALIZED_VIEW:
        raise InvalidRequestError(f"Materialized view '{name}' not found in '{ks.name}'")
    what = "function" if kind is DescribeKind.FUNCTION else "aggregate"
    raise InvalidRequestError(f"User defined {what} '{name}' not found in '{ks.name}'")


def _generic(
    schema: Schema, keyspace: str | None, name: str, session: str | None, internals: bool
) -> list[_Element]:
    # cqlsh's help: "a keyspace or a table or an index or a materialized view (in this order)".
    if keyspace is None:
        named = schema.keyspace(name)
        if named is not None:
            return list(_keyspace_elements(named, internals, only=False))
        keyspace = session if session is not None else name
    ks = _keyspace(schema, keyspace)
    table = ks.table(name)
    if table is not None:
        return list(_table_elements(table, internals))
    indexed = _indexed_table(ks, name)
    if indexed is None:
        raise InvalidRequestError(f"'{name}' not found in keyspace '{ks.name}'")
    return [_index_element(indexed, name)]


def _keyspace_elements(ks: KeyspaceMetadata, internals: bool, *, only: bool) -> Iterator[_Element]:
    yield _keyspace_element(ks)
    if only:
        return
    yield from (_type_element(t) for t in _types_in_dependency_order(ks))
    for table in sorted(ks.tables.values(), key=lambda t: _name_key(t.name)):
        yield from _table_elements(table, internals)


def _table_elements(table: TableMetadata, internals: bool) -> Iterator[_Element]:
    """The table, then its indexes by name (DescribeStatement.getTableElements)."""
    yield _table_element(table, internals)
    for index in sorted(table.indexes, key=lambda i: _name_key(i.name)):
        yield _index_element(table, index.name)


def _indexed_table(ks: KeyspaceMetadata, index: str) -> TableMetadata | None:
    return next((t for t in ks.tables.values() if t.index(index) is not None), None)


def _index_element(table: TableMetadata, name: str) -> _Element:
    """``IndexMetadata.toCqlString`` of a built-in index."""
    index = table.index(name)
    assert index is not None
    cql = f"CREATE INDEX {maybe_quote(index.name)} ON {table.cql_name} ({index.target});"
    return _Element(table.keyspace, "index", index.name, cql)


def _types_in_dependency_order(ks: KeyspaceMetadata) -> list[UserType]:
    """``Types.sortedStream``: each type after the types its fields use."""
    order: dict[str, None] = {}

    def visit(dtype: DataType) -> None:
        for param in dtype.params:
            visit(param)
        if dtype.code is TypeCode.UDT and dtype.keyspace == ks.name and dtype.name:
            order.setdefault(dtype.name, None)

    for name in sorted(ks.user_types, key=str.encode):
        user_type = ks.user_types[name]
        for field_type in user_type.field_types:
            visit(field_type)
        order.setdefault(name, None)
    return [ks.user_types[n] for n in order if n in ks.user_types]


# --- CREATE statements ------------------------------------------------------------------------


def _keyspace_element(ks: KeyspaceMetadata) -> _Element:
    name = maybe_quote(ks.name)
    if ks.virtual:
        text = (
            f"/*\nWarning: Keyspace {name} is a virtual keyspace and cannot be recreated with "
            f"CQL.\nStructure, for reference:\nVIRTUAL KEYSPACE {name};\n*/"
        )
    else:
        text = (
            f"CREATE KEYSPACE {name} WITH replication = {_replication(ks.replication)}"
            f"  AND durable_writes = {_bool(ks.durable_writes)};"
        )
    return _Element(ks.name, "keyspace", ks.name, text)


def _replication(replication: Mapping[str, str]) -> str:
    """``ReplicationParams.appendCqlTo``: bundled strategies by their simple name."""
    options = dict(replication)
    class_name = str(options.pop("class", ""))
    if class_name.startswith(LOCATOR) and "." not in class_name[len(LOCATOR) :]:
        class_name = class_name[len(LOCATOR) :]
    parts = [f"'class': {_quote(class_name)}"]
    parts.extend(f"{_quote(k)}: {_quote(v)}" for k, v in sorted(options.items()))
    return "{" + ", ".join(parts) + "}"


def _type_element(user_type: UserType) -> _Element:
    fields = ",\n".join(
        f"{_INDENT}{maybe_quote(name)} {type_text}"
        for name, type_text in zip(user_type.field_names, user_type.field_cql_types, strict=True)
    )
    text = (
        f"CREATE TYPE {maybe_quote(user_type.keyspace)}.{maybe_quote(user_type.name)} (\n"
        f"{fields}\n);"
    )
    return _Element(user_type.keyspace, "type", user_type.name, text)


def _create_order(table: TableMetadata) -> list[ColumnMetadata]:
    """``allColumnsInCreateOrder``: key columns by position, then static and regular columns,
    each with the simple (single-cell) ones before the complex ones, by name."""

    def others(kind: ColumnKind) -> list[ColumnMetadata]:
        chosen = [c for c in table.columns if c.kind is kind]
        return sorted(chosen, key=lambda c: (c.is_multi_cell, c.name.encode()))

    return [
        *table.partition_key,
        *table.clustering_columns,
        *others(ColumnKind.STATIC),
        *others(ColumnKind.REGULAR),
    ]


def _column_text(column: ColumnMetadata | DroppedColumn) -> str:
    static = " static" if column.kind is ColumnKind.STATIC else ""
    return f"{maybe_quote(column.name)} {column.cql_type}{static}"


def _table_element(table: TableMetadata, internals: bool) -> _Element:
    return _Element(table.keyspace, "table", table.name, _table_cql(table, internals))


def _table_cql(table: TableMetadata, internals: bool) -> str:
    """``TableMetadata.toCqlString(withInternals, ifNotExists=false)``; internals also
    replay the dropped columns, as Cassandra does."""
    include_dropped = internals and bool(table.dropped_columns)
    dropped_names = {d.name for d in table.dropped_columns} if internals else set()
    single_key = len(table.partition_key) == 1 and not table.clustering_columns
    lines: list[str] = []
    columns = [c for c in _create_order(table) if c.name not in dropped_names]
    for index, column in enumerate(columns):
        text = _column_text(column)
        if single_key and column.kind is ColumnKind.PARTITION_KEY:
            text += " PRIMARY KEY"
        if not single_key or include_dropped or index < len(columns) - 1:
            text += ","
        lines.append(_INDENT + text)
    if internals:
        for dropped in table.dropped_columns:
            # Cassandra tests the exhausted column iterator here, so a table with a
            # one-column primary key gets no commas between its dropped columns.
            lines.append(_INDENT + _column_text(dropped) + ("" if single_key else ","))
    if not single_key:
        lines.append(_INDENT + _primary_key(table))
    head = f"CREATE TABLE {table.cql_name} (\n" if not table.virtual else ""
    body = "\n".join(lines)
    options = _table_options(table, internals)
    if table.virtual:
        text = (
            f"/*\nWarning: Table {table.cql_name} is a virtual table and cannot be recreated "
            f"with CQL.\nStructure, for reference:\nVIRTUAL TABLE {table.cql_name} (\n"
            f"{body}\n) WITH {options}\n*/"
        )
    else:
        text = f"{head}{body}\n) WITH {options}"
    if internals:
        for dropped in table.dropped_columns:
            text += (
                f"\nALTER TABLE {table.cql_name} DROP {maybe_quote(dropped.name)} "
                f"USING TIMESTAMP {dropped.dropped_time};"
            )
            current = table.column(dropped.name)
            if current is not None:
                text += f"\nALTER TABLE {table.cql_name} ADD {_column_text(current)};"
    return text


def _primary_key(table: TableMetadata) -> str:
    partition = [maybe_quote(c.name) for c in table.partition_key]
    key = f"({', '.join(partition)})" if len(partition) > 1 else partition[0]
    clustering = [maybe_quote(c.name) for c in table.clustering_columns]
    return f"PRIMARY KEY ({', '.join([key, *clustering])})"


def _table_options(table: TableMetadata, internals: bool) -> str:
    """``appendTableOptions``: ID, CLUSTERING ORDER BY, then the options, ``AND``-joined."""
    parts: list[str] = []
    if internals:
        parts.append(f"ID = {table.id}")
    if table.clustering_columns:
        order = ", ".join(
            f"{maybe_quote(c.name)} {'DESC' if c.is_reversed else 'ASC'}"
            for c in table.clustering_columns
        )
        parts.append(f"CLUSTERING ORDER BY ({order})")
    if table.virtual:
        parts.append(f"comment = {_quote(table.options.comment)}")
    else:
        parts.extend(_params(table.options))
    return f"\n{_INDENT}AND ".join(parts) + ";"


def _params(o: TableOptions) -> list[str]:
    """``TableParams.appendCqlTo`` of Cassandra 4.1, in its order (memtable after compression)."""
    extensions = {k: "0x" + v.hex() for k, v in o.extensions.items()}
    return [
        f"additional_write_policy = {_quote(o.additional_write_policy)}",
        f"bloom_filter_fp_chance = {_java_double(o.bloom_filter_fp_chance)}",
        f"caching = {_map(o.caching)}",
        f"cdc = {_bool(o.cdc)}",
        f"comment = {_quote(o.comment)}",
        f"compaction = {_map(o.compaction)}",
        f"compression = {_map(o.compression)}",
        f"memtable = {_quote(o.memtable)}",
        f"crc_check_chance = {_java_double(o.crc_check_chance)}",
        f"default_time_to_live = {o.default_time_to_live}",
        f"extensions = {_map(extensions, quote_values=False)}",
        f"gc_grace_seconds = {o.gc_grace_seconds}",
        f"max_index_interval = {o.max_index_interval}",
        f"memtable_flush_period_in_ms = {o.memtable_flush_period_in_ms}",
        f"min_index_interval = {o.min_index_interval}",
        f"read_repair = {_quote(o.read_repair)}",
        f"speculative_retry = {_quote(o.speculative_retry)}",
    ]


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _map(options: Mapping[str, str], *, quote_values: bool = True) -> str:
    # CqlBuilder.append(Map): keys in sorted order, single-quoted.
    items = sorted(options.items())
    return (
        "{" + ", ".join(f"{_quote(k)}: {_quote(v) if quote_values else v}" for k, v in items) + "}"
    )


# --- DESCRIBE CLUSTER -------------------------------------------------------------------------


def _cluster(
    node: NodeInfo, keyspace: str | None
) -> tuple[tuple[ColumnSpec, ...], list[tuple[bytes | None, ...]]]:
    partitioner = node.partitioner.removeprefix("org.apache.cassandra.dht.")
    row: list[bytes | None] = [
        node.cluster_name.encode(),
        partitioner.encode(),
        b"SimpleSnitch",
    ]
    if keyspace is None or keyspace in SYSTEM_KEYSPACES:
        return _CLUSTER_COLUMNS, [tuple(row)]
    # One node owns every range; each range is keyed by its right token. Endpoints are
    # InetAddressAndPort.toString(): InetAddress.toString() ("/" and the literal address,
    # the host name being unknown for an address given as an IP), then ":" and the port.
    address = node.broadcast_address or node.listen_address
    port = node.broadcast_port or node.listen_port
    endpoint = f"/[{address}]:{port}" if ":" in address else f"/{address}:{port}"
    tokens = sorted(node.tokens, key=str.encode)
    ownership = {token: [endpoint] for token in tokens}
    row.append(_RANGE_OWNERSHIP.serialize(ownership, 4))
    return (*_CLUSTER_COLUMNS, _spec("range_ownership", _RANGE_OWNERSHIP)), [tuple(row)]
