"""Request tracing: the rows a traced request leaves in ``system_traces``.

A request whose frame sets the tracing flag is answered with a tracing session id, and its
session and events are written to ``system_traces.sessions`` / ``system_traces.events``
(the tables ``QueryTrace`` of the drivers and cqlsh's ``TRACING ON`` read). The session row
carries what Cassandra's ``Tracing.begin``/``stopSession`` write (command, client,
coordinator, parameters, request, started_at, duration); the events name the stages of the
request as Cassandra's do (parsing, preparing, reading or applying the mutation).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from cassflow.protocol import (
    Batch,
    Consistency,
    Execute,
    Message,
    Prepare,
    Query,
    RowsResult,
    VoidResult,
)

_NATIVE = "Native-Transport-Requests-1"
#: Trace rows live a day (``tracetype_query_ttl``).
_TTL = 86400
_REQUESTS = {
    Query: "Execute CQL3 query",
    Execute: "Execute CQL3 prepared query",
    Batch: "Execute batch of CQL3 queries",
    Prepare: "Preparing CQL3 query",
}


@dataclass(frozen=True, slots=True)
class TracedRequest:
    """What tracing records of one request."""

    message: Message
    #: The CQL text (of the prepared statement for EXECUTE; statements joined for BATCH).
    query: str | None
    #: The table the request read or wrote, when it names one.
    table: str | None
    #: The answer: rows for a read, Void for a write, anything else for the rest.
    result: Message
    client: str
    coordinator: str
    coordinator_port: int
    #: When the request arrived (seconds since the epoch) and how long it took.
    started_at: float
    duration_us: int


def trace_inserts(request: TracedRequest) -> tuple[uuid.UUID, list[str]]:
    """A new tracing session id and the INSERTs that record ``request`` under it."""
    started_ms = int(request.started_at * 1000)
    session_id = _time_uuid(request.started_at)
    parameters = _parameters(request)
    inserts = [
        "INSERT INTO system_traces.sessions (session_id, command, client, coordinator, "
        "coordinator_port, duration, parameters, request, started_at) VALUES ("
        f"{session_id}, 'QUERY', '{request.client}', '{request.coordinator}', "
        f"{request.coordinator_port}, {max(request.duration_us, 1)}, {_map(parameters)}, "
        f"'{_REQUESTS.get(type(request.message), 'Execute CQL3 query')}', {started_ms}) "
        f"USING TTL {_TTL}"
    ]
    events = list(_events(request))
    for index, (activity, thread) in enumerate(events):
        # Events spread over the request's duration, in order.
        elapsed = request.duration_us * (index + 1) // (len(events) + 1)
        # From started_at as stored (milliseconds), so no event follows the session's end.
        event_id = _time_uuid(started_ms / 1000 + elapsed / 1_000_000, sequence=index)
        inserts.append(
            "INSERT INTO system_traces.events (session_id, event_id, activity, source, "
            f"source_port, source_elapsed, thread) VALUES ({session_id}, {event_id}, "
            f"{_text(activity)}, '{request.coordinator}', {request.coordinator_port}, "
            f"{elapsed}, '{thread}') USING TTL {_TTL}"
        )
    return session_id, inserts


def _events(request: TracedRequest) -> Iterator[tuple[str, str]]:
    message = request.message
    if isinstance(message, Query | Prepare) and request.query is not None:
        yield f"Parsing {request.query}", _NATIVE
        yield "Preparing statement", _NATIVE
    if isinstance(message, Prepare):
        return
    result = request.result
    if isinstance(result, RowsResult):
        yield f"Read {len(result.rows)} live rows and 0 tombstone cells", "ReadStage-2"
    elif isinstance(result, VoidResult):
        yield "Determining replicas for mutation", _NATIVE
        yield "Appending to commitlog", "MutationStage-2"
        if request.table is not None:
            yield f"Adding to {request.table} memtable", "MutationStage-2"


def _parameters(request: TracedRequest) -> dict[str, str]:
    message = request.message
    parameters: dict[str, str] = {}
    if isinstance(message, Query | Execute):
        params = message.parameters
        parameters["consistency_level"] = params.consistency.name
        if params.page_size is not None:
            parameters["page_size"] = str(params.page_size)
        serial = params.serial_consistency or Consistency.SERIAL
        parameters["serial_consistency_level"] = serial.name
    elif isinstance(message, Batch):
        parameters["consistency_level"] = message.consistency.name
        serial = message.serial_consistency or Consistency.SERIAL
        parameters["serial_consistency_level"] = serial.name
    if request.query is not None:
        parameters["query"] = request.query
    return parameters


def _time_uuid(at: float, sequence: int = 0) -> uuid.UUID:
    """A version 1 UUID of ``at`` (a timeuuid, as tracing ids and event ids are)."""
    ticks = int(at * 10_000_000) + 0x01B21DD213814000 + sequence
    node = uuid.getnode()
    clock = uuid.uuid4().int & 0x3FFF
    fields = (
        ticks & 0xFFFFFFFF,
        (ticks >> 32) & 0xFFFF,
        ((ticks >> 48) & 0x0FFF) | 0x1000,
        (clock >> 8) | 0x80,
        clock & 0xFF,
        node,
    )
    return uuid.UUID(fields=fields)


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _map(values: dict[str, str]) -> str:
    return "{" + ", ".join(f"{_text(k)}: {_text(v)}" for k, v in sorted(values.items())) + "}"


__all__ = ["TracedRequest", "trace_inserts"]
