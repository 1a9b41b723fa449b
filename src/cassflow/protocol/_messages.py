"""Messages, one frozen dataclass per message kind (except errors: see ``_error_messages``).

Messages are pure data: they know their opcode and nothing about bytes. The codec turns them
into frame bodies and back (``_codec``), the connection adds stream ids and frame flags
(:class:`Envelope`). Constructors are keyword-only so a call site reads like the spec.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from cassflow.protocol._buffer import Inet, Value
from cassflow.protocol._constants import (
    BatchType,
    Consistency,
    EventType,
    Opcode,
    ResultKind,
    SchemaChangeTarget,
    SchemaChangeType,
)
from cassflow.protocol._errors import LocalProtocolError
from cassflow.protocol._types import DataType


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """Base of every message."""

    opcode: ClassVar[Opcode]


# --- requests -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Startup(Message):
    """STARTUP: opens the connection; ``options`` holds CQL_VERSION, COMPRESSION, DRIVER_NAME..."""

    opcode: ClassVar[Opcode] = Opcode.STARTUP
    options: Mapping[str, str] = field(default_factory=dict)

    @property
    def compression(self) -> str | None:
        """The compression algorithm the client asks for, if any."""
        return self.options.get("COMPRESSION")


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthResponse(Message):
    """AUTH_RESPONSE: the client's SASL token (for PLAIN: ``\\0user\\0password``)."""

    opcode: ClassVar[Opcode] = Opcode.AUTH_RESPONSE
    token: bytes | None = field(default=None, repr=False)  # carries credentials: never shown


@dataclass(frozen=True, slots=True, kw_only=True)
class Options(Message):
    """OPTIONS: asks which STARTUP options the server supports."""

    opcode: ClassVar[Opcode] = Opcode.OPTIONS


@dataclass(frozen=True, slots=True, kw_only=True)
class QueryParameters:
    """<query_parameters> shared by QUERY and EXECUTE.

    ``values`` are already serialized (see :meth:`DataType.serialize`); ``names``, when given,
    names each value (flag 0x40). ``keyspace`` and ``now_in_seconds`` exist from v5 on.
    """

    consistency: Consistency = Consistency.ONE
    values: tuple[Value, ...] = ()
    names: tuple[str, ...] | None = None
    skip_metadata: bool = False
    page_size: int | None = None
    paging_state: bytes | None = None
    serial_consistency: Consistency | None = None
    timestamp: int | None = None
    keyspace: str | None = None
    now_in_seconds: int | None = None

    def __post_init__(self) -> None:
        if self.names is not None and len(self.names) != len(self.values):
            raise LocalProtocolError(f"{len(self.names)} value names for {len(self.values)} values")


@dataclass(frozen=True, slots=True, kw_only=True)
class Query(Message):
    """QUERY: runs a CQL string."""

    opcode: ClassVar[Opcode] = Opcode.QUERY
    query: str
    parameters: QueryParameters = field(default_factory=QueryParameters)


@dataclass(frozen=True, slots=True, kw_only=True)
class Prepare(Message):
    """PREPARE: prepares a CQL string; ``keyspace`` (v5) overrides the connection's."""

    opcode: ClassVar[Opcode] = Opcode.PREPARE
    query: str
    keyspace: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Execute(Message):
    """EXECUTE: runs a prepared statement; ``result_metadata_id`` is required from v5 on."""

    opcode: ClassVar[Opcode] = Opcode.EXECUTE
    query_id: bytes
    result_metadata_id: bytes | None = None
    parameters: QueryParameters = field(default_factory=QueryParameters)


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchStatement:
    """One statement of a BATCH: a CQL string (kind 0) or a prepared id (kind 1)."""

    statement: str | bytes
    values: tuple[Value, ...] = ()
    names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.names is not None and len(self.names) != len(self.values):
            raise LocalProtocolError(f"{len(self.names)} value names for {len(self.values)} values")

    @property
    def is_prepared(self) -> bool:
        """Whether ``statement`` is a prepared id rather than CQL text."""
        return isinstance(self.statement, bytes)


@dataclass(frozen=True, slots=True, kw_only=True)
class Batch(Message):
    """BATCH: several DML statements in one request."""

    opcode: ClassVar[Opcode] = Opcode.BATCH
    batch_type: BatchType = BatchType.LOGGED
    statements: tuple[BatchStatement, ...] = ()
    consistency: Consistency = Consistency.ONE
    serial_consistency: Consistency | None = None
    timestamp: int | None = None
    keyspace: str | None = None
    now_in_seconds: int | None = None

    def __post_init__(self) -> None:
        named = {s.names is not None for s in self.statements}
        if len(named) > 1:
            raise LocalProtocolError("either every batch statement names its values or none")


@dataclass(frozen=True, slots=True, kw_only=True)
class Register(Message):
    """REGISTER: subscribes the connection to server events."""

    opcode: ClassVar[Opcode] = Opcode.REGISTER
    event_types: tuple[EventType, ...] = ()


# --- responses other than RESULT and ERROR ------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Ready(Message):
    """READY: the connection is set up (or a REGISTER succeeded)."""

    opcode: ClassVar[Opcode] = Opcode.READY


@dataclass(frozen=True, slots=True, kw_only=True)
class Authenticate(Message):
    """AUTHENTICATE: the server wants SASL authentication with this authenticator class."""

    opcode: ClassVar[Opcode] = Opcode.AUTHENTICATE
    authenticator: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Supported(Message):
    """SUPPORTED: the STARTUP options the server accepts, each with its allowed values."""

    opcode: ClassVar[Opcode] = Opcode.SUPPORTED
    options: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthChallenge(Message):
    """AUTH_CHALLENGE: a further SASL challenge."""

    opcode: ClassVar[Opcode] = Opcode.AUTH_CHALLENGE
    token: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthSuccess(Message):
    """AUTH_SUCCESS: authentication finished."""

    opcode: ClassVar[Opcode] = Opcode.AUTH_SUCCESS
    token: bytes | None = field(default=None, repr=False)


# --- RESULT -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ColumnSpec:
    """One column of result metadata, or one bind marker of prepared metadata."""

    keyspace: str
    table: str
    name: str
    type: DataType


@dataclass(frozen=True, slots=True, kw_only=True)
class RowsMetadata:
    """<metadata> of a Rows result (and <result_metadata> of a Prepared result).

    ``columns`` is None when the server left the column specs out (No_metadata); then only
    ``column_count`` says how wide the rows are.
    """

    column_count: int
    columns: tuple[ColumnSpec, ...] | None = None
    paging_state: bytes | None = None
    new_metadata_id: bytes | None = None

    def __post_init__(self) -> None:
        if self.columns is not None and len(self.columns) != self.column_count:
            raise LocalProtocolError(
                f"column_count {self.column_count} but {len(self.columns)} column specs"
            )
        if self.columns is None and self.new_metadata_id is not None:
            raise LocalProtocolError("a changed metadata id comes with the new column specs")

    @classmethod
    def of(cls, columns: tuple[ColumnSpec, ...], **kwargs: bytes | None) -> RowsMetadata:
        """Metadata listing ``columns``."""
        return cls(column_count=len(columns), columns=columns, **kwargs)


@dataclass(frozen=True, slots=True, kw_only=True)
class Result(Message):
    """Base of the RESULT kinds."""

    opcode: ClassVar[Opcode] = Opcode.RESULT
    kind: ClassVar[ResultKind]


@dataclass(frozen=True, slots=True, kw_only=True)
class VoidResult(Result):
    """Void: success with nothing to say."""

    kind: ClassVar[ResultKind] = ResultKind.VOID


#: One row as it travels: a serialized cell (or null) per column.
RawRow = tuple[bytes | None, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class RowsResult(Result):
    """Rows: a page of a result set, cells still serialized (see :func:`decode_rows`)."""

    kind: ClassVar[ResultKind] = ResultKind.ROWS
    metadata: RowsMetadata
    rows: tuple[RawRow, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SetKeyspaceResult(Result):
    """Set_keyspace: the answer to USE."""

    kind: ClassVar[ResultKind] = ResultKind.SET_KEYSPACE
    keyspace: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PreparedMetadata:
    """<metadata> of a Prepared result: the bind markers and where the partition key is.

    ``partition_key_indexes`` (v4+) lists, for each partition key column in order, the index
    of the bind marker that carries it; drivers use it for token-aware routing.
    """

    columns: tuple[ColumnSpec, ...] = ()
    partition_key_indexes: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PreparedResult(Result):
    """Prepared: the id of a prepared statement, its bind markers and its result columns."""

    kind: ClassVar[ResultKind] = ResultKind.PREPARED
    query_id: bytes
    result_metadata_id: bytes | None = None
    metadata: PreparedMetadata = field(default_factory=PreparedMetadata)
    result_metadata: RowsMetadata = field(
        default_factory=lambda: RowsMetadata(column_count=0, columns=None)
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SchemaChange:
    """What changed in the schema: shared by the Schema_change result and the event.

    ``name`` is absent for keyspaces; ``argument_types`` is present for functions and
    aggregates only.
    """

    change_type: SchemaChangeType
    target: SchemaChangeTarget
    keyspace: str
    name: str | None = None
    argument_types: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        wants_name = self.target is not SchemaChangeTarget.KEYSPACE
        wants_args = self.target in (SchemaChangeTarget.FUNCTION, SchemaChangeTarget.AGGREGATE)
        if wants_name != (self.name is not None) or wants_args != (self.argument_types is not None):
            raise LocalProtocolError(f"fields do not fit a {self.target} schema change")


@dataclass(frozen=True, slots=True, kw_only=True)
class SchemaChangeResult(Result):
    """Schema_change: the answer to DDL."""

    kind: ClassVar[ResultKind] = ResultKind.SCHEMA_CHANGE
    change: SchemaChange


# --- EVENT --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Event(Message):
    """Base of server-pushed events (always on stream -1)."""

    opcode: ClassVar[Opcode] = Opcode.EVENT
    event_type: ClassVar[EventType]


@dataclass(frozen=True, slots=True, kw_only=True)
class TopologyChangeEvent(Event):
    """A node joined (NEW_NODE), left (REMOVED_NODE) or moved (MOVED_NODE)."""

    event_type: ClassVar[EventType] = EventType.TOPOLOGY_CHANGE
    change: str
    address: Inet


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusChangeEvent(Event):
    """A node went UP or DOWN."""

    event_type: ClassVar[EventType] = EventType.STATUS_CHANGE
    change: str
    address: Inet


@dataclass(frozen=True, slots=True, kw_only=True)
class SchemaChangeEvent(Event):
    """The schema changed."""

    event_type: ClassVar[EventType] = EventType.SCHEMA_CHANGE
    change: SchemaChange


# --- the frame around a message -----------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    """A message with what its frame header and body prefix carry.

    ``tracing`` asks for (request) or reports (response) tracing; a response that reports it
    carries ``tracing_id``. ``warnings`` appear on responses (v4+). ``custom_payload`` is the
    generic [bytes map] (v4+).
    """

    stream: int
    message: Message
    tracing: bool = False
    tracing_id: uuid.UUID | None = None
    warnings: tuple[str, ...] = ()
    custom_payload: Mapping[str, bytes | None] | None = None
    use_beta: bool = False
