"""What the provider's sensors wait for, each as one blocking look at the cluster.

A check is called with a :class:`~cassflow.airflow._hook.CassflowHook` and answers a
:class:`Probe`: satisfied, or not yet (with what it saw, in words and as JSON values). The
sensors call checks in ``poke`` and the triggers call them in a worker thread, so both wait
for exactly the same thing. Anything else is an exception, never "not yet": a connection that
fails, a node that is down, a table the record check cannot read. Arguments a check cannot use
raise :class:`SensorArgumentError` (retrying would not help); the rest raise what the driver or
cassflow raised, or :class:`SensorCheckError`.

Everything is read from the cluster at each call (``system_schema``, ``system.local`` and
``system.peers``, ``system_views``), never from the driver's cached schema metadata, which
lags behind changes other clients make.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from cassandra import InvalidRequest
from cassandra.metadata import protect_name

from cassflow.copy._convert import to_cql
from cassflow.copy._model import ConversionError
from cassflow.errors import CassflowError
from cassflow.pipeline._waits import compactions

if TYPE_CHECKING:
    from cassflow.airflow._hook import CassflowHook

_TABLES = "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s AND table_name = %s"
_COLUMNS = (
    "SELECT column_name, kind, position FROM system_schema.columns "
    "WHERE keyspace_name = %s AND table_name = %s"
)
_LOCAL_SCHEMA = "SELECT schema_version FROM system.local WHERE key = 'local'"
_PEERS_V2 = "SELECT * FROM system.peers_v2"
_PEERS = "SELECT * FROM system.peers"

# A CQL name: unquoted (read in lower case, as Cassandra reads it) or double-quoted ("" is a
# quote inside it).
_NAME = r'(?:[A-Za-z][A-Za-z0-9_]*|"(?:[^"]|"")+")'
_TABLE_NAME = re.compile(rf"^\s*(?:(?P<keyspace>{_NAME})\s*\.\s*)?(?P<table>{_NAME})\s*$")


class SensorArgumentError(CassflowError, ValueError):
    """A sensor's argument cannot be used (names the argument and what was expected)."""


class SensorCheckError(CassflowError):
    """The cluster could not answer what a sensor asks (not the same as "not yet")."""


@dataclass(frozen=True, slots=True)
class Probe:
    """One look at the cluster: whether the sensor is satisfied, and what was seen."""

    satisfied: bool
    #: What was seen, in words (log lines and trigger events).
    message: str
    #: What was seen, as JSON values (trigger events carry them).
    details: dict[str, Any] = field(default_factory=dict)


class Check(Protocol):
    """One kind of wait: called with a hook, answers a :class:`Probe` or raises."""

    def __call__(self, hook: CassflowHook) -> Probe:
        """Look once (blocking)."""

    def reads(self) -> list[str]:
        """Statements standing for what the check reads outside the system tables (a dynamic
        connection's lease is issued with just their grants)."""


def cql_name(text: str) -> str:
    """A CQL name as Cassandra stores it: unquoted names in lower case, quoted ones exact."""
    if text.startswith('"'):
        return text[1:-1].replace('""', '"')
    return text.lower()


def table_name(value: Any, parameter: str) -> tuple[str | None, str]:
    """``table`` or ``keyspace.table`` (CQL names) as stored: (keyspace or None, table)."""
    match = _TABLE_NAME.match(value) if isinstance(value, str) else None
    if match is None:
        raise SensorArgumentError(
            f"{parameter}={value!r} is not a table name "
            '(expected "table" or "keyspace.table", CQL names)'
        )
    keyspace = match["keyspace"]
    return (cql_name(keyspace) if keyspace else None), cql_name(match["table"])


def _non_negative_int(value: Any, parameter: str) -> int:
    # Templated values arrive as text ("{{ params.max_pending }}" renders to "3").
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise SensorArgumentError(f"{parameter}={value!r}: expected a whole number >= 0")


@dataclass(frozen=True, slots=True)
class CompactionCheck:
    """Pending plus running compactions of the keyspace (or one table) at most
    ``max_pending`` on every node, read from each node's ``system_views``; a down node is an
    error (its compactions cannot be told)."""

    table: str | None
    max_pending: Any

    def reads(self) -> list[str]:
        """Nothing but system tables."""
        return []

    def __call__(self, hook: CassflowHook) -> Probe:
        limit = _non_negative_int(self.max_pending, "max_pending")
        keyspace = hook.connection_spec().keyspace
        table = None
        if self.table is not None:
            qualified, table = table_name(self.table, "table")
            keyspace = qualified or keyspace
        what = keyspace + (f".{table}" if table else "")
        counts = compactions(hook.get_session(), keyspace, table)
        busy = {node: n for node, n in sorted(counts.items()) if n > limit}
        details = {"nodes": counts, "max_pending": limit}
        if busy:
            shown = ", ".join(f"{node}: {n}" for node, n in busy.items())
            return Probe(False, f"compactions of {what} above {limit} ({shown})", details)
        return Probe(True, f"compactions of {what} at most {limit} on every node", details)


@dataclass(frozen=True, slots=True)
class SchemaAgreementCheck:
    """Every live node has the same schema version.

    Read as the driver's control connection reads it (``wait_for_schema_agreement``): one
    node's ``system.local`` and its ``system.peers_v2`` (``system.peers`` before Cassandra 4),
    counting peers the driver does not know to be down.
    """

    def reads(self) -> list[str]:
        """Nothing but system tables."""
        return []

    def __call__(self, hook: CassflowHook) -> Probe:
        session = hook.get_session()
        cluster = hook.get_conn().cluster
        coordinator = next((h for h in session.get_pool_state() if h.is_up), None)
        if coordinator is None:
            raise SensorCheckError("no live node to ask for schema versions")
        versions: dict[str, str] = {}
        local = session.execute(_LOCAL_SCHEMA, host=coordinator).one()
        if local is not None and local[0] is not None:
            versions[str(coordinator.endpoint)] = str(local[0])
        for row in _peer_rows(session, coordinator):
            version = row.get("schema_version")
            if not version:
                continue
            endpoint = cluster.endpoint_factory.create(row)
            peer = cluster.metadata.get_host(endpoint)
            if peer is not None and peer.is_up is not False:
                versions[str(endpoint)] = str(version)
        if not versions:
            raise SensorCheckError(f"{coordinator.endpoint} reported no schema version")
        distinct = sorted(set(versions.values()))
        details = {"versions": versions}
        if len(distinct) == 1:
            return Probe(
                True, f"{len(versions)} live node(s) agree on schema {distinct[0]}", details
            )
        by_version = "; ".join(
            f"{version}: {', '.join(sorted(n for n, v in versions.items() if v == version))}"
            for version in distinct
        )
        return Probe(False, f"schema versions differ ({by_version})", details)


def _peer_rows(session: Any, host: Any) -> list[dict[str, Any]]:
    try:
        result = session.execute(_PEERS_V2, host=host)
    except InvalidRequest:  # Cassandra 3: no peers_v2
        result = session.execute(_PEERS, host=host)
    names = result.column_names
    return [dict(zip(names, row, strict=True)) for row in result]


@dataclass(frozen=True, slots=True)
class TableCheck:
    """The table exists (in ``system_schema.tables``)."""

    table: str

    def reads(self) -> list[str]:
        """Nothing but system tables."""
        return []

    def __call__(self, hook: CassflowHook) -> Probe:
        qualified, table = table_name(self.table, "table")
        keyspace = qualified or hook.connection_spec().keyspace
        found = hook.get_session().execute(_TABLES, (keyspace, table)).one()
        details = {"keyspace": keyspace, "table": table}
        if found is None:
            return Probe(False, f"table {keyspace}.{table} does not exist yet", details)
        return Probe(True, f"table {keyspace}.{table} exists", details)


@dataclass(frozen=True, slots=True)
class RecordCheck:
    """A row with these primary key values exists: a prepared ``SELECT ... LIMIT 1`` with the
    values bound. ``keys`` must name the whole partition key, and clustering columns only as a
    prefix (what Cassandra can look up without filtering); values may be the column type's
    Python values or their text forms (``'2024-01-31'``, a UUID's text)."""

    table: str
    keys: Any

    def reads(self) -> list[str]:
        """A read of the table."""
        keyspace, table = table_name(self.table, "table")
        qualified = (
            protect_name(table)
            if keyspace is None
            else (f"{protect_name(keyspace)}.{protect_name(table)}")
        )
        return [f"SELECT * FROM {qualified}"]

    def __call__(self, hook: CassflowHook) -> Probe:
        qualified, table = table_name(self.table, "table")
        keyspace = qualified or hook.connection_spec().keyspace
        session = hook.get_session()
        partition, clustering = _primary_key(session, keyspace, table)
        columns = _key_columns(self.keys, partition, clustering, f"{keyspace}.{table}")
        where = " AND ".join(f"{protect_name(c)} = ?" for c in columns)
        prepared = session.prepare(
            f"SELECT {protect_name(partition[0])} FROM {protect_name(keyspace)}."
            f"{protect_name(table)} WHERE {where} LIMIT 1"
        )
        values = []
        for (column, value), meta in zip(columns.items(), prepared.column_metadata, strict=True):
            try:
                converted = to_cql(meta.type)(value)
            except ConversionError as exc:
                raise SensorArgumentError(f"keys[{column!r}]: {exc}") from None
            if converted is None:
                raise SensorArgumentError(f"keys[{column!r}]: a primary key value cannot be null")
            values.append(converted)
        found = session.execute(prepared, values).one()
        shown = ", ".join(columns)
        details = {"keyspace": keyspace, "table": table, "columns": list(columns)}
        if found is None:
            return Probe(False, f"no row of {keyspace}.{table} with these {shown} yet", details)
        return Probe(True, f"a row of {keyspace}.{table} with these {shown} exists", details)


def _primary_key(session: Any, keyspace: str, table: str) -> tuple[list[str], list[str]]:
    """The partition key and clustering columns, in order, as the schema tables say now."""
    partition: list[tuple[int, str]] = []
    clustering: list[tuple[int, str]] = []
    for name, kind, position in session.execute(_COLUMNS, (keyspace, table)):
        if kind == "partition_key":
            partition.append((position, name))
        elif kind == "clustering":
            clustering.append((position, name))
    if not partition:
        raise SensorCheckError(
            f"table {keyspace}.{table} does not exist (wait for it with CassandraTableSensor)"
        )
    return [n for _, n in sorted(partition)], [n for _, n in sorted(clustering)]


def _key_columns(
    keys: Any, partition: list[str], clustering: list[str], what: str
) -> dict[str, Any]:
    """``keys`` by stored column name, in primary key order, checked to be a lookup by key."""
    primary = ", ".join(partition + clustering)
    if not isinstance(keys, Mapping) or not keys:
        raise SensorArgumentError(
            f"keys={keys!r}: expected a mapping of primary key columns of {what} ({primary}) "
            "to values"
        )
    given: dict[str, Any] = {}
    for name, value in keys.items():
        column = _column(name, partition + clustering)
        if column is None:
            raise SensorArgumentError(
                f"keys: {name!r} is not a primary key column of {what} (its primary key: {primary})"
            )
        given[column] = value
    missing = [c for c in partition if c not in given]
    if missing:
        raise SensorArgumentError(
            f"keys must name the whole partition key of {what} ({', '.join(partition)}); "
            f"missing {', '.join(missing)}"
        )
    named = [c for c in clustering if c in given]
    if named != clustering[: len(named)]:
        raise SensorArgumentError(
            f"keys: clustering columns of {what} must be a prefix of ({', '.join(clustering)}); "
            f"got {', '.join(named)}"
        )
    return {c: given[c] for c in partition + clustering if c in given}


def _column(name: Any, columns: list[str]) -> str | None:
    if not isinstance(name, str):
        return None
    if name in columns:
        return name
    stored = cql_name(name) if re.fullmatch(_NAME, name) else None
    return stored if stored in columns else None
