"""Rewrite the answers about the cluster's nodes so that drivers see the proxy as the cluster.

A driver learns the cluster from ``system.local`` (the node it talks to) and ``system.peers``
/ ``system.peers_v2`` (every other node), then opens connections to the addresses it read
there. Through the proxy it must only ever connect to the proxy, so (as DataStax's cql-proxy
does):

* ``system.local``: ``rpc_address``, ``broadcast_address`` and ``listen_address`` become the
  proxy's address as the client reached it, ``rpc_port`` / ``native_port`` the proxy's port,
  and ``tokens`` a single token (the node's smallest), so that this one node owns the whole
  ring and token-aware routing stays consistent (every token routes to the proxy);
* ``system.peers`` and ``system.peers_v2``: no rows (the metadata stays, so the driver's
  column lookups work).

Which requests read these tables is decided from the statement text with :mod:`cassflow.cql`
(comments, quoted names and the session's keyspace resolved as Cassandra resolves them);
prepared statements are remembered by id so that their EXECUTEs are rewritten too.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from enum import Enum
from typing import Final

from cassflow.cql import CqlError, Select, classify, parse_statement
from cassflow.protocol import ColumnSpec, ProtocolError, RowsResult

_ADDRESS_COLUMNS: Final = ("rpc_address", "broadcast_address", "listen_address")
_PORT_COLUMNS: Final = ("rpc_port", "native_port")
_PARSE_CACHE_SIZE: Final = 512


class SystemTable(Enum):
    """Which node-describing table a statement reads."""

    LOCAL = "local"
    PEERS = "peers"


@dataclass(frozen=True, slots=True)
class ProxyAddress:
    """The address and port clients reach the proxy at (what ``system.local`` reports)."""

    host: str
    port: int


def system_table_of(query: str, keyspace: str | None) -> SystemTable | None:
    """The node table ``query`` selects from, resolving unqualified names with ``keyspace``.

    ``keyspace`` is the one Cassandra would use: the request's own (v5) or else the session's.
    Text that does not parse reads nothing here (Cassandra refuses it anyway).
    """
    target = _select_target(query)
    if target is None:
        return None
    written_keyspace, table = target
    if (written_keyspace or keyspace) != "system":
        return None
    if table == "local":
        return SystemTable.LOCAL
    if table in ("peers", "peers_v2"):
        return SystemTable.PEERS
    return None


@functools.lru_cache(maxsize=_PARSE_CACHE_SIZE)
def _select_target(query: str) -> tuple[str | None, str] | None:
    try:
        statement = parse_statement(query)
    except CqlError:
        return None
    if not isinstance(statement, Select):
        return None
    found = classify(statement)
    if found.table is None:
        return None
    return found.keyspace, found.table


def rewrite_rows(
    result: RowsResult,
    table: SystemTable,
    columns: tuple[ColumnSpec, ...] | None,
    address: ProxyAddress,
    version: int,
) -> RowsResult:
    """``result`` as the proxy presents it (see the module docstring).

    ``columns`` are the result's column specs when the result itself leaves them out (an
    EXECUTE with skip_metadata: the PREPARE answer carried them). Without any column specs
    the rows cannot be read and are dropped rather than passed on unrewritten.
    """
    if table is SystemTable.PEERS:
        return replace(result, rows=(), metadata=replace(result.metadata, paging_state=None))
    specs = result.metadata.columns or columns
    if specs is None or len(specs) != result.metadata.column_count:
        return replace(result, rows=())
    index = {spec.name: i for i, spec in enumerate(specs)}
    rows = tuple(_rewrite_local_row(row, specs, index, address, version) for row in result.rows)
    return replace(result, rows=rows)


def _rewrite_local_row(
    row: tuple[bytes | None, ...],
    specs: tuple[ColumnSpec, ...],
    index: dict[str, int],
    address: ProxyAddress,
    version: int,
) -> tuple[bytes | None, ...]:
    cells = list(row)
    for name in _ADDRESS_COLUMNS:
        _set(cells, specs, index.get(name), address.host, version)
    for name in _PORT_COLUMNS:
        _set(cells, specs, index.get(name), address.port, version)
    position = index.get("tokens")
    cell = None if position is None else cells[position]
    if position is not None and cell is not None:
        token = _ring_token(cell, specs[position], version)
        if token is not None:
            _set(cells, specs, position, (token,), version)
    return tuple(cells)


def _ring_token(cell: bytes, spec: ColumnSpec, version: int) -> str | None:
    """The node's smallest token: valid for its partitioner whatever that is, and the same
    whichever columns a query selects."""
    try:
        tokens = spec.type.deserialize(cell, version)
    except ProtocolError:
        return None
    return min(tokens) if tokens else None


def _set(
    cells: list[bytes | None],
    specs: tuple[ColumnSpec, ...],
    position: int | None,
    value: object,
    version: int,
) -> None:
    if position is None or cells[position] is None:
        return
    try:
        cells[position] = specs[position].type.serialize(value, version)
    except ProtocolError:  # a column of an unexpected type: leave what the node said
        return


__all__ = ["ProxyAddress", "SystemTable", "rewrite_rows", "system_table_of"]
