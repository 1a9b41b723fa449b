"""A scripted client/server conversation through the codec, for ``cassflow selfcheck``.

Both ends are :class:`Connection` objects wired back to back in memory: STARTUP with
authentication, a paged query, PREPARE/EXECUTE with routing metadata, and a BATCH, in every
protocol version with and without LZ4. Each exchange checks that what arrived is what was
sent.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from cassflow.protocol._codec_results import decode_rows, encode_rows
from cassflow.protocol._connection import NEED_DATA, Connection, Role
from cassflow.protocol._constants import SUPPORTED_VERSIONS, BatchType, Consistency
from cassflow.protocol._errors import ProtocolError
from cassflow.protocol._messages import (
    Authenticate,
    AuthResponse,
    AuthSuccess,
    Batch,
    BatchStatement,
    ColumnSpec,
    Envelope,
    Execute,
    Message,
    Prepare,
    PreparedMetadata,
    PreparedResult,
    Query,
    QueryParameters,
    RowsMetadata,
    RowsResult,
    Startup,
    VoidResult,
)
from cassflow.protocol._types import DataType, TypeCode


@dataclass(frozen=True, slots=True)
class SelfCheckResult:
    """The outcome of one scripted conversation."""

    version: int
    compression: str | None
    messages: int
    bytes_on_wire: int
    seconds: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether every exchange arrived intact."""
        return self.error is None


class _Pair:
    """A client and a server connection joined by an in-memory wire."""

    def __init__(self, version: int) -> None:
        self.client = Connection(Role.CLIENT, version=version)
        self.server = Connection(Role.SERVER)
        self.messages = 0
        self.wire_bytes = 0

    def exchange(self, stream: int, request: Message, answer: Message) -> Envelope:
        self._deliver(self.client, self.server, Envelope(stream=stream, message=request))
        return self._deliver(self.server, self.client, Envelope(stream=stream, message=answer))

    def _deliver(self, sender: Connection, receiver: Connection, envelope: Envelope) -> Envelope:
        data = sender.send(envelope)
        self.messages += 1
        self.wire_bytes += len(data)
        receiver.receive_data(data)
        received = receiver.next_event()
        if received is NEED_DATA or not isinstance(received, Envelope):
            raise ProtocolError(f"{envelope.message.opcode.name} did not arrive whole")
        if received.message != envelope.message:
            raise ProtocolError(f"{envelope.message.opcode.name} arrived changed")
        return received


_COLUMNS = (
    ColumnSpec(keyspace="shop", table="orders", name="id", type=DataType(TypeCode.INT)),
    ColumnSpec(keyspace="shop", table="orders", name="item", type=DataType(TypeCode.VARCHAR)),
    ColumnSpec(
        keyspace="shop",
        table="orders",
        name="tags",
        type=DataType.set_of(DataType(TypeCode.VARCHAR)),
    ),
)


def _converse(version: int, compression: str | None) -> _Pair:
    pair = _Pair(version)
    options = {"CQL_VERSION": "3.0.0"} | ({"COMPRESSION": compression} if compression else {})
    authenticator = "org.apache.cassandra.auth.PasswordAuthenticator"
    pair.exchange(0, Startup(options=options), Authenticate(authenticator=authenticator))
    pair.exchange(1, AuthResponse(token=b"\x00selfcheck\x00not-a-secret"), AuthSuccess())
    types = [c.type for c in _COLUMNS]
    values = [(i, f"item-{i}", {f"tag{i % 3}"}) for i in range(250)]
    for page, start in enumerate(range(0, len(values), 100)):
        chunk = values[start : start + 100]
        more = start + 100 < len(values)
        metadata = RowsMetadata.of(_COLUMNS, paging_state=b"page-%d" % page if more else None)
        rows = RowsResult(metadata=metadata, rows=encode_rows(types, chunk, version))
        query = Query(
            query="SELECT id, item, tags FROM shop.orders",
            parameters=QueryParameters(
                consistency=Consistency.LOCAL_QUORUM,
                page_size=100,
                paging_state=b"page-%d" % (page - 1) if page else None,
            ),
        )
        received = pair.exchange(2, query, rows)
        assert isinstance(received.message, RowsResult)
        if decode_rows(_COLUMNS, received.message.rows, version) != chunk:
            raise ProtocolError(f"page {page} decoded to other values")
    insert = "INSERT INTO shop.orders (id, item, tags) VALUES (?, ?, ?)"
    prepared = PreparedResult(
        query_id=b"\x01" * 16,
        result_metadata_id=b"\x02" * 16 if version >= 5 else None,
        metadata=PreparedMetadata(
            columns=_COLUMNS, partition_key_indexes=(0,) if version >= 4 else ()
        ),
        result_metadata=RowsMetadata(column_count=0),
    )
    pair.exchange(3, Prepare(query=insert), prepared)
    bound = encode_rows(types, [(7, "seven", {"x"})], version)[0]
    execute = Execute(
        query_id=prepared.query_id,
        result_metadata_id=prepared.result_metadata_id,
        parameters=QueryParameters(values=bound, timestamp=1_700_000_000_000_000),
    )
    pair.exchange(4, execute, VoidResult())
    batch = Batch(
        batch_type=BatchType.UNLOGGED,
        statements=tuple(
            BatchStatement(statement=prepared.query_id, values=bound) for _ in range(20)
        ),
    )
    pair.exchange(5, batch, VoidResult())
    return pair


def run_selfcheck() -> Iterator[SelfCheckResult]:
    """Run the conversation in every supported version, with and without compression."""
    for version in SUPPORTED_VERSIONS:
        for compression in (None, "lz4"):
            started = time.perf_counter()
            try:
                pair = _converse(version, compression)
            except ProtocolError as exc:
                yield SelfCheckResult(version, compression, 0, 0, 0.0, error=str(exc))
                continue
            elapsed = time.perf_counter() - started
            yield SelfCheckResult(version, compression, pair.messages, pair.wire_bytes, elapsed)
