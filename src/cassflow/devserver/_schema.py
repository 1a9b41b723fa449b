"""The schema model of the dev server: keyspaces, tables, columns, user types.

Everything here is immutable. A :class:`Schema` holds every keyspace, the system ones included
(``system``, ``system_schema``, ``system_auth``, ``system_distributed``, ``system_traces`` and
the virtual ``system_views`` and ``system_virtual_schema``), and a ``version`` UUID that
changes with every change (``system.local.schema_version``; drivers compare it with their
peers' to wait for schema agreement).

The errors and :class:`TableOptions` are re-exported here. DDL is a set of pure functions in
:mod:`cassflow.devserver._schema_changes`:
``create_table(schema, table)`` returns a :class:`SchemaUpdate` (the new schema, the
Schema_change to answer and push, client warnings) or raises a
:class:`~cassflow.devserver._schema_options.SchemaError` subclass carrying Cassandra's
message. :meth:`Schema.to_json` / :meth:`Schema.from_json` persist the user part of the
schema (plus the replication of the replicated system keyspaces, which users may alter);
the system tables themselves are defined in code (:mod:`._system_keyspaces`).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from cassflow.devserver._schema_options import (
    SchemaAlreadyExistsError,
    SchemaConfigError,
    SchemaError,
    SchemaInvalidError,
    SchemaSyntaxError,
    SchemaUnauthorizedError,
    TableOptions,
)
from cassflow.devserver._schema_types import (
    FREEZABLE,
    cql_type,
    data_type_from_json,
    data_type_to_json,
    is_multi_cell,
    maybe_quote,
)
from cassflow.protocol import DataType, SchemaChange, TypeCode

__all__ = [
    "LOCAL_SYSTEM_KEYSPACES",
    "REPLICATED_SYSTEM_KEYSPACES",
    "SYSTEM_KEYSPACES",
    "VIRTUAL_KEYSPACES",
    "ClusteringOrder",
    "ColumnKind",
    "ColumnMetadata",
    "DroppedColumn",
    "IndexMetadata",
    "KeyspaceMetadata",
    "Schema",
    "SchemaAlreadyExistsError",
    "SchemaConfigError",
    "SchemaError",
    "SchemaInvalidError",
    "SchemaSyntaxError",
    "SchemaUnauthorizedError",
    "SchemaUpdate",
    "TableMetadata",
    "TableOptions",
    "UserType",
    "is_valid_name",
]

LOCAL_SYSTEM_KEYSPACES = frozenset({"system", "system_schema"})
REPLICATED_SYSTEM_KEYSPACES = frozenset({"system_auth", "system_distributed", "system_traces"})
VIRTUAL_KEYSPACES = frozenset({"system_views", "system_virtual_schema"})
SYSTEM_KEYSPACES = LOCAL_SYSTEM_KEYSPACES | REPLICATED_SYSTEM_KEYSPACES | VIRTUAL_KEYSPACES
#: SchemaConstants.NAME_LENGTH
NAME_LENGTH = 48
_JSON_FORMAT = 1


def is_valid_name(name: str) -> bool:
    """``SchemaConstants.isValidName``: 1 to 48 ASCII word characters."""
    return 0 < len(name) <= NAME_LENGTH and name.isascii() and name.replace("_", "a").isalnum()


class ColumnKind(StrEnum):
    """``system_schema.columns.kind``."""

    PARTITION_KEY = "partition_key"
    CLUSTERING = "clustering"
    REGULAR = "regular"
    STATIC = "static"


class ClusteringOrder(StrEnum):
    """``system_schema.columns.clustering_order``."""

    ASC = "asc"
    DESC = "desc"
    NONE = "none"


_PRIMARY_KEY_KINDS = (ColumnKind.PARTITION_KEY, ColumnKind.CLUSTERING)


@dataclass(frozen=True, slots=True, kw_only=True)
class ColumnMetadata:
    """One column.

    ``position`` is the index within the partition key or the clustering columns, -1 for
    regular and static columns. ``frozen`` is the top-level frozen flag of a collection or
    user type (nested types are always frozen; tuples always are). Build columns with
    :meth:`partition_key`, :meth:`clustering`, :meth:`regular` and :meth:`static`.
    """

    name: str
    type: DataType
    kind: ColumnKind = ColumnKind.REGULAR
    position: int = -1
    clustering_order: ClusteringOrder = ClusteringOrder.NONE
    frozen: bool = False

    def __post_init__(self) -> None:
        if self.type.code is TypeCode.TUPLE and not self.frozen:
            object.__setattr__(self, "frozen", True)
        elif (
            self.frozen and self.type.code not in FREEZABLE and self.type.code is not TypeCode.TUPLE
        ):
            raise SchemaInvalidError(
                "frozen<> is only allowed on collections, tuples, and user-defined types "
                f"(got {cql_type(self.type)})"
            )
        if self.kind in _PRIMARY_KEY_KINDS:
            if self.position < 0:
                raise ValueError(f"{self.kind} column {self.name!r} needs a position")
        elif self.position != -1:
            raise ValueError(f"{self.kind} column {self.name!r} has no position (use -1)")
        if self.kind is ColumnKind.CLUSTERING:
            if self.clustering_order is ClusteringOrder.NONE:
                object.__setattr__(self, "clustering_order", ClusteringOrder.ASC)
        elif self.clustering_order is not ClusteringOrder.NONE:
            raise ValueError(f"only clustering columns have an order ({self.name!r})")

    @classmethod
    def partition_key(
        cls, name: str, type: DataType, position: int = 0, *, frozen: bool = False
    ) -> ColumnMetadata:
        """A partition key column."""
        return cls(
            name=name, type=type, kind=ColumnKind.PARTITION_KEY, position=position, frozen=frozen
        )

    @classmethod
    def clustering(
        cls,
        name: str,
        type: DataType,
        position: int = 0,
        order: ClusteringOrder = ClusteringOrder.ASC,
        *,
        frozen: bool = False,
    ) -> ColumnMetadata:
        """A clustering column, ascending unless ``order`` says otherwise."""
        return cls(
            name=name,
            type=type,
            kind=ColumnKind.CLUSTERING,
            position=position,
            clustering_order=order,
            frozen=frozen,
        )

    @classmethod
    def regular(cls, name: str, type: DataType, *, frozen: bool = False) -> ColumnMetadata:
        """A regular column."""
        return cls(name=name, type=type, frozen=frozen)

    @classmethod
    def static(cls, name: str, type: DataType, *, frozen: bool = False) -> ColumnMetadata:
        """A static column."""
        return cls(name=name, type=type, kind=ColumnKind.STATIC, frozen=frozen)

    @property
    def cql_type(self) -> str:
        """The type as ``system_schema.columns.type`` spells it, e.g. ``frozen<list<int>>``."""
        return cql_type(self.type, frozen=self.frozen)

    @property
    def is_multi_cell(self) -> bool:
        """Non-frozen collections and user types: stored and updated element by element."""
        return is_multi_cell(self.type, frozen=self.frozen)

    @property
    def is_primary_key(self) -> bool:
        """Partition key or clustering column."""
        return self.kind in _PRIMARY_KEY_KINDS

    @property
    def is_reversed(self) -> bool:
        """A DESC clustering column."""
        return self.clustering_order is ClusteringOrder.DESC

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {
            "name": self.name,
            "type": data_type_to_json(self.type),
            "kind": self.kind.value,
            "position": self.position,
            "clustering_order": self.clustering_order.value,
            "frozen": self.frozen,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ColumnMetadata:
        """The inverse of :meth:`to_json`."""
        return cls(
            name=data["name"],
            type=data_type_from_json(data["type"]),
            kind=ColumnKind(data["kind"]),
            position=data["position"],
            clustering_order=ClusteringOrder(data["clustering_order"]),
            frozen=data["frozen"],
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexMetadata:
    """A secondary index (``system_schema.indexes``): a built-in (COMPOSITES) index on one
    column, whose ``target`` is ``IndexTarget.asCqlString()``: the column's CQL name, or
    ``values(c)``, ``keys(c)``, ``entries(c)``, ``full(c)``."""

    name: str
    column: str
    #: ``simple``, ``values``, ``keys``, ``entries`` or ``full`` (IndexTarget.Type).
    target_type: str
    kind: str = "COMPOSITES"

    @property
    def target(self) -> str:
        """The ``target`` option as Cassandra writes it."""
        if self.target_type == "simple":
            return maybe_quote(self.column)
        return f"{self.target_type}({maybe_quote(self.column)})"

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {
            "name": self.name,
            "column": self.column,
            "target_type": self.target_type,
            "kind": self.kind,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> IndexMetadata:
        """The inverse of :meth:`to_json`."""
        return cls(
            name=data["name"],
            column=data["column"],
            target_type=data["target_type"],
            kind=data["kind"],
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DroppedColumn:
    """A dropped column (``system_schema.dropped_columns``); user types expanded to tuples."""

    name: str
    type: DataType
    kind: ColumnKind
    frozen: bool = False
    #: When it was dropped, microseconds since the epoch (the DROP's write timestamp).
    dropped_time: int = 0

    @property
    def cql_type(self) -> str:
        """The type as ``system_schema.dropped_columns.type`` spells it."""
        return cql_type(self.type, frozen=self.frozen)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {
            "name": self.name,
            "type": data_type_to_json(self.type),
            "kind": self.kind.value,
            "frozen": self.frozen,
            "dropped_time": self.dropped_time,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DroppedColumn:
        """The inverse of :meth:`to_json`."""
        return cls(
            name=data["name"],
            type=data_type_from_json(data["type"]),
            kind=ColumnKind(data["kind"]),
            frozen=data["frozen"],
            dropped_time=data["dropped_time"],
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class UserType:
    """A user-defined type: ``CREATE TYPE keyspace.name (field type, ...)``.

    ``field_frozen`` says which fields were declared ``frozen<...>`` (collections may be
    non-frozen in a type, UDT fields must be frozen, tuples always are); it defaults to all
    False.
    """

    keyspace: str
    name: str
    field_names: tuple[str, ...]
    field_types: tuple[DataType, ...]
    field_frozen: tuple[bool, ...] = ()

    def __post_init__(self) -> None:
        if len(self.field_names) != len(self.field_types):
            raise ValueError("a user type needs one type per field name")
        frozen = self.field_frozen or (False,) * len(self.field_types)
        if len(frozen) != len(self.field_types):
            raise ValueError("field_frozen needs one flag per field")
        # Tuples are always frozen; a non-frozen UDT field is CREATE TYPE's error to report.
        frozen = tuple(
            f or t.code is TypeCode.TUPLE for f, t in zip(frozen, self.field_types, strict=True)
        )
        object.__setattr__(self, "field_frozen", frozen)

    @property
    def data_type(self) -> DataType:
        """The :class:`DataType` of columns of this type (as the protocol describes it)."""
        return DataType.udt(
            self.keyspace, self.name, dict(zip(self.field_names, self.field_types, strict=True))
        )

    @property
    def field_cql_types(self) -> tuple[str, ...]:
        """The field types as ``system_schema.types.field_types`` spells them."""
        return tuple(
            cql_type(t, frozen=f) for t, f in zip(self.field_types, self.field_frozen, strict=True)
        )

    @property
    def cql_name(self) -> str:
        """``keyspace.name`` as Cassandra prints it in messages."""
        return f"{maybe_quote(self.keyspace)}.{maybe_quote(self.name)}"

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {
            "name": self.name,
            "fields": [
                [n, data_type_to_json(t), f]
                for n, t, f in zip(
                    self.field_names, self.field_types, self.field_frozen, strict=True
                )
            ],
        }

    @classmethod
    def from_json(cls, keyspace: str, data: Mapping[str, Any]) -> UserType:
        """The inverse of :meth:`to_json`."""
        fields = data["fields"]
        return cls(
            keyspace=keyspace,
            name=data["name"],
            field_names=tuple(f[0] for f in fields),
            field_types=tuple(data_type_from_json(f[1]) for f in fields),
            field_frozen=tuple(f[2] for f in fields),
        )


def _column_order(column: ColumnMetadata) -> tuple[int, int, bytes]:
    # Cassandra's "select order": partition key, clustering, then static and regular columns
    # each in alphabetical (UTF-8 byte) order, whatever their complexity.
    rank = (ColumnKind.PARTITION_KEY, ColumnKind.CLUSTERING, ColumnKind.STATIC, ColumnKind.REGULAR)
    return rank.index(column.kind), column.position, column.name.encode()


@dataclass(frozen=True, slots=True, kw_only=True)
class TableMetadata:
    """A table (or a virtual table) and its columns in Cassandra's ``SELECT *`` order.

    ``columns`` may be given in any order; they are sorted on construction. ``counter`` is
    the table's COUNTER flag; by default it is derived from the columns.
    """

    keyspace: str
    name: str
    columns: tuple[ColumnMetadata, ...]
    id: uuid.UUID = field(default_factory=uuid.uuid1)
    options: TableOptions = field(default_factory=TableOptions)
    dropped_columns: tuple[DroppedColumn, ...] = ()
    counter: bool | None = None
    virtual: bool = False
    #: Secondary indexes, in creation order.
    indexes: tuple[IndexMetadata, ...] = ()
    _by_name: dict[str, ColumnMetadata] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        columns = tuple(sorted(self.columns, key=_column_order))
        object.__setattr__(self, "columns", columns)
        by_name = {c.name: c for c in columns}
        if len(by_name) != len(columns):
            raise ValueError(f"duplicate column names in {self.keyspace}.{self.name}")
        object.__setattr__(self, "_by_name", by_name)
        for kind in _PRIMARY_KEY_KINDS:
            positions = [c.position for c in columns if c.kind is kind]
            if positions != list(range(len(positions))):
                raise ValueError(f"{kind} positions of {self.keyspace}.{self.name} must be 0..n-1")
        if not any(c.kind is ColumnKind.PARTITION_KEY for c in columns):
            raise ValueError(f"{self.keyspace}.{self.name} has no partition key")
        if self.counter is None:
            has_counter = any(c.type.code is TypeCode.COUNTER for c in columns)
            object.__setattr__(self, "counter", has_counter)

    @property
    def partition_key(self) -> tuple[ColumnMetadata, ...]:
        """Partition key columns, in key order."""
        return tuple(c for c in self.columns if c.kind is ColumnKind.PARTITION_KEY)

    @property
    def clustering_columns(self) -> tuple[ColumnMetadata, ...]:
        """Clustering columns, in key order."""
        return tuple(c for c in self.columns if c.kind is ColumnKind.CLUSTERING)

    @property
    def primary_key(self) -> tuple[ColumnMetadata, ...]:
        """Partition key then clustering columns."""
        return tuple(c for c in self.columns if c.is_primary_key)

    @property
    def static_columns(self) -> tuple[ColumnMetadata, ...]:
        """Static columns, alphabetically."""
        return tuple(c for c in self.columns if c.kind is ColumnKind.STATIC)

    @property
    def regular_columns(self) -> tuple[ColumnMetadata, ...]:
        """Regular columns, alphabetically."""
        return tuple(c for c in self.columns if c.kind is ColumnKind.REGULAR)

    def column(self, name: str) -> ColumnMetadata | None:
        """The column called ``name`` (case-sensitive, as stored), or None."""
        return self._by_name.get(name)

    def index(self, name: str) -> IndexMetadata | None:
        """The secondary index called ``name``, or None."""
        return next((i for i in self.indexes if i.name == name), None)

    def dropped_column(self, name: str) -> DroppedColumn | None:
        """The record of a dropped column called ``name``, or None."""
        return next((d for d in self.dropped_columns if d.name == name), None)

    @property
    def is_counter(self) -> bool:
        """A counter table."""
        return bool(self.counter)

    @property
    def flags(self) -> tuple[str, ...]:
        """``system_schema.tables.flags``: always compound (no COMPACT STORAGE), maybe counter."""
        return ("compound", "counter") if self.counter else ("compound",)

    @property
    def cql_name(self) -> str:
        """``keyspace.table`` as Cassandra prints it in messages (``TableMetadata.toString``)."""
        return f"{maybe_quote(self.keyspace)}.{maybe_quote(self.name)}"

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {
            "name": self.name,
            "id": str(self.id),
            "columns": [c.to_json() for c in self.columns],
            "options": self.options.to_json(),
            "dropped_columns": [d.to_json() for d in self.dropped_columns],
            "counter": self.counter,
            "indexes": [i.to_json() for i in self.indexes],
        }

    @classmethod
    def from_json(cls, keyspace: str, data: Mapping[str, Any]) -> TableMetadata:
        """The inverse of :meth:`to_json`."""
        return cls(
            keyspace=keyspace,
            name=data["name"],
            id=uuid.UUID(data["id"]),
            columns=tuple(ColumnMetadata.from_json(c) for c in data["columns"]),
            options=TableOptions.from_json(data["options"]),
            dropped_columns=tuple(DroppedColumn.from_json(d) for d in data["dropped_columns"]),
            counter=data["counter"],
            indexes=tuple(IndexMetadata.from_json(i) for i in data.get("indexes", ())),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyspaceMetadata:
    """A keyspace: replication map as ``system_schema.keyspaces`` shows it, tables, types.

    ``replication`` holds the full class name and text values, e.g.
    ``{'class': 'org.apache.cassandra.locator.SimpleStrategy', 'replication_factor': '1'}``.
    Virtual keyspaces have an empty replication map.
    """

    name: str
    replication: Mapping[str, str]
    durable_writes: bool = True
    tables: Mapping[str, TableMetadata] = field(default_factory=dict)
    user_types: Mapping[str, UserType] = field(default_factory=dict)
    virtual: bool = False

    def table(self, name: str) -> TableMetadata | None:
        """The table called ``name``, or None."""
        return self.tables.get(name)

    def user_type(self, name: str) -> UserType | None:
        """The user type called ``name``, or None."""
        return self.user_types.get(name)

    def with_table(self, table: TableMetadata) -> KeyspaceMetadata:
        """This keyspace with ``table`` added or replaced."""
        return replace(self, tables={**self.tables, table.name: table})

    def without_table(self, name: str) -> KeyspaceMetadata:
        """This keyspace without the table ``name``."""
        return replace(self, tables={k: v for k, v in self.tables.items() if k != name})

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {
            "name": self.name,
            "replication": dict(self.replication),
            "durable_writes": self.durable_writes,
            "types": [t.to_json() for t in self.user_types.values()],
            "tables": [t.to_json() for t in self.tables.values()],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> KeyspaceMetadata:
        """The inverse of :meth:`to_json`."""
        name = data["name"]
        types = (UserType.from_json(name, t) for t in data["types"])
        tables = (TableMetadata.from_json(name, t) for t in data["tables"])
        return cls(
            name=name,
            replication=dict(data["replication"]),
            durable_writes=data["durable_writes"],
            user_types={t.name: t for t in types},
            tables={t.name: t for t in tables},
        )


def _version_from(*parts: bytes) -> uuid.UUID:
    # A name-based (v3, MD5) UUID, as Cassandra derives schema versions from digests.
    return uuid.UUID(bytes=hashlib.md5(b"".join(parts), usedforsecurity=False).digest(), version=3)


@dataclass(frozen=True, slots=True, kw_only=True)
class Schema:
    """Every keyspace of the node, system and virtual ones included, and the schema version.

    Start from :meth:`initial` (the system keyspaces only) or :meth:`from_json`. Schemas hash
    and compare by content; ``hash`` uses the version only, so caching on a schema is cheap.
    """

    keyspaces: Mapping[str, KeyspaceMetadata]
    version: uuid.UUID

    def __hash__(self) -> int:
        return hash(self.version)

    @classmethod
    def initial(cls) -> Schema:
        """A fresh node's schema: the system keyspaces and nothing else."""
        keyspaces = _system_keyspaces()
        return cls(keyspaces={k.name: k for k in keyspaces}, version=_version_from(b"cassflow"))

    def keyspace(self, name: str) -> KeyspaceMetadata | None:
        """The keyspace called ``name``, or None."""
        return self.keyspaces.get(name)

    def table(self, keyspace: str, name: str) -> TableMetadata | None:
        """The table ``keyspace.name``, or None."""
        ks = self.keyspaces.get(keyspace)
        return None if ks is None else ks.tables.get(name)

    def user_type(self, keyspace: str, name: str) -> UserType | None:
        """The user type ``keyspace.name``, or None."""
        ks = self.keyspaces.get(keyspace)
        return None if ks is None else ks.user_types.get(name)

    def user_keyspaces(self) -> Iterator[KeyspaceMetadata]:
        """The keyspaces that are not system keyspaces."""
        return (k for k in self.keyspaces.values() if k.name not in SYSTEM_KEYSPACES)

    def with_keyspace(self, keyspace: KeyspaceMetadata, change: SchemaChange) -> Schema:
        """This schema with ``keyspace`` added or replaced, under a new version."""
        return Schema(
            keyspaces={**self.keyspaces, keyspace.name: keyspace},
            version=self._next_version(change),
        )

    def without_keyspace(self, name: str, change: SchemaChange) -> Schema:
        """This schema without the keyspace ``name``, under a new version."""
        return Schema(
            keyspaces={k: v for k, v in self.keyspaces.items() if k != name},
            version=self._next_version(change),
        )

    def _next_version(self, change: SchemaChange) -> uuid.UUID:
        return _version_from(self.version.bytes, repr(change).encode())

    def to_json(self) -> str:
        """The schema as JSON text, for the storage layer to keep.

        Local and virtual system keyspaces are defined in code and left out; the replicated
        system keyspaces keep only their (alterable) replication and durable_writes.
        """
        keyspaces: list[dict[str, Any]] = []
        for ks in self.keyspaces.values():
            if ks.name in LOCAL_SYSTEM_KEYSPACES or ks.virtual:
                continue
            data = ks.to_json()
            if ks.name in REPLICATED_SYSTEM_KEYSPACES:
                data["types"], data["tables"] = [], []
            keyspaces.append(data)
        return json.dumps(
            {"format": _JSON_FORMAT, "version": str(self.version), "keyspaces": keyspaces},
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> Schema:
        """A schema from :meth:`to_json` text, on top of the code-defined system keyspaces."""
        data = json.loads(text)
        if data.get("format") != _JSON_FORMAT:
            raise ValueError(f"unknown schema JSON format {data.get('format')!r}")
        keyspaces = {k.name: k for k in _system_keyspaces()}
        for ks_data in data["keyspaces"]:
            name = ks_data["name"]
            if name in REPLICATED_SYSTEM_KEYSPACES:
                keyspaces[name] = replace(
                    keyspaces[name],
                    replication=dict(ks_data["replication"]),
                    durable_writes=ks_data["durable_writes"],
                )
            elif name not in SYSTEM_KEYSPACES:
                keyspaces[name] = KeyspaceMetadata.from_json(ks_data)
        return cls(keyspaces=keyspaces, version=uuid.UUID(data["version"]))


@dataclass(frozen=True, slots=True)
class SchemaUpdate:
    """What a DDL statement did.

    ``change`` is the Schema_change to answer with and to push to REGISTERed clients; None
    means nothing changed (``IF [NOT] EXISTS`` made it a no-op: answer with a Void result).
    ``warnings`` go into the response's warnings.
    """

    schema: Schema
    change: SchemaChange | None
    warnings: tuple[str, ...] = ()


def _system_keyspaces() -> Iterable[KeyspaceMetadata]:
    # The definitions are built from this module's classes, so they live in a module that
    # imports this one; import it when first needed instead of at the top.
    from cassflow.devserver._system_keyspaces import system_keyspaces  # noqa: PLC0415

    return system_keyspaces()
