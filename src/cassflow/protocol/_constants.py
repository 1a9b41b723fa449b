"""Numbers the native protocol specs define, and the limits the codec enforces.

Every limit has its reason beside it. Names follow the spec
(``doc/native_protocol_v{3,4,5}.spec`` in apache/cassandra).
"""

from __future__ import annotations

from enum import IntEnum, IntFlag, StrEnum
from typing import Final


class ProtocolVersion(IntEnum):
    """Native protocol versions this codec speaks."""

    V3 = 3
    V4 = 4
    V5 = 5

    @property
    def description(self) -> str:
        """The ``N/vN`` form Cassandra uses in SUPPORTED and in version errors."""
        return f"{int(self)}/v{int(self)}"


SUPPORTED_VERSIONS: tuple[ProtocolVersion, ...] = tuple(ProtocolVersion)
MIN_VERSION = ProtocolVersion.V3
MAX_VERSION = ProtocolVersion.V5

#: Versions 1 and 2 used an 8-byte header with a one-byte stream id. Nobody speaks them any
#: more, but Cassandra answers a client that asks for one in that client's own framing, so a
#: driver can read the refusal; we do the same.
LEGACY_HEADER_VERSIONS = frozenset({1, 2})


class Direction(IntEnum):
    """Which way a frame travels; the top bit of the version byte says so."""

    REQUEST = 0x00
    RESPONSE = 0x80


VERSION_MASK = 0x7F


class Opcode(IntEnum):
    """Message kinds (spec section 2.4)."""

    ERROR = 0x00
    STARTUP = 0x01
    READY = 0x02
    AUTHENTICATE = 0x03
    OPTIONS = 0x05
    SUPPORTED = 0x06
    QUERY = 0x07
    RESULT = 0x08
    PREPARE = 0x09
    EXECUTE = 0x0A
    REGISTER = 0x0B
    EVENT = 0x0C
    BATCH = 0x0D
    AUTH_CHALLENGE = 0x0E
    AUTH_RESPONSE = 0x0F
    AUTH_SUCCESS = 0x10


REQUEST_OPCODES = frozenset(
    {
        Opcode.STARTUP,
        Opcode.AUTH_RESPONSE,
        Opcode.OPTIONS,
        Opcode.QUERY,
        Opcode.PREPARE,
        Opcode.EXECUTE,
        Opcode.BATCH,
        Opcode.REGISTER,
    }
)
RESPONSE_OPCODES = frozenset(Opcode) - REQUEST_OPCODES


class HeaderFlag(IntFlag):
    """Frame (envelope) header flags (spec section 2.2)."""

    COMPRESSION = 0x01
    TRACING = 0x02
    CUSTOM_PAYLOAD = 0x04
    WARNING = 0x08
    USE_BETA = 0x10


class Consistency(IntEnum):
    """The [consistency] wire values."""

    ANY = 0x0000
    ONE = 0x0001
    TWO = 0x0002
    THREE = 0x0003
    QUORUM = 0x0004
    ALL = 0x0005
    LOCAL_QUORUM = 0x0006
    EACH_QUORUM = 0x0007
    SERIAL = 0x0008
    LOCAL_SERIAL = 0x0009
    LOCAL_ONE = 0x000A


class QueryFlag(IntFlag):
    """Flags of <query_parameters> in QUERY and EXECUTE, and of BATCH.

    A [byte] before v5, an [int] from v5 on, where KEYSPACE and NOW_IN_SECONDS appear.
    """

    VALUES = 0x0001
    SKIP_METADATA = 0x0002
    PAGE_SIZE = 0x0004
    WITH_PAGING_STATE = 0x0008
    WITH_SERIAL_CONSISTENCY = 0x0010
    WITH_DEFAULT_TIMESTAMP = 0x0020
    WITH_NAMES_FOR_VALUES = 0x0040
    WITH_KEYSPACE = 0x0080
    WITH_NOW_IN_SECONDS = 0x0100


class PrepareFlag(IntFlag):
    """Flags of PREPARE (v5 only)."""

    WITH_KEYSPACE = 0x01


class RowsFlag(IntFlag):
    """Flags of result set metadata (spec section 4.2.5.2)."""

    GLOBAL_TABLES_SPEC = 0x0001
    HAS_MORE_PAGES = 0x0002
    NO_METADATA = 0x0004
    METADATA_CHANGED = 0x0008


class ResultKind(IntEnum):
    """The kind [int] that opens a RESULT body."""

    VOID = 0x0001
    ROWS = 0x0002
    SET_KEYSPACE = 0x0003
    PREPARED = 0x0004
    SCHEMA_CHANGE = 0x0005


class BatchType(IntEnum):
    """The <type> [byte] of BATCH."""

    LOGGED = 0
    UNLOGGED = 1
    COUNTER = 2


class ErrorCode(IntEnum):
    """ERROR codes (spec section 9 of v5, 9 of v4)."""

    SERVER_ERROR = 0x0000
    PROTOCOL_ERROR = 0x000A
    BAD_CREDENTIALS = 0x0100
    UNAVAILABLE = 0x1000
    OVERLOADED = 0x1001
    IS_BOOTSTRAPPING = 0x1002
    TRUNCATE_ERROR = 0x1003
    WRITE_TIMEOUT = 0x1100
    READ_TIMEOUT = 0x1200
    READ_FAILURE = 0x1300
    FUNCTION_FAILURE = 0x1400
    WRITE_FAILURE = 0x1500
    CDC_WRITE_FAILURE = 0x1600
    CAS_WRITE_UNKNOWN = 0x1700
    SYNTAX_ERROR = 0x2000
    UNAUTHORIZED = 0x2100
    INVALID = 0x2200
    CONFIG_ERROR = 0x2300
    ALREADY_EXISTS = 0x2400
    UNPREPARED = 0x2500


class EventType(StrEnum):
    """Event types a client can REGISTER for."""

    TOPOLOGY_CHANGE = "TOPOLOGY_CHANGE"
    STATUS_CHANGE = "STATUS_CHANGE"
    SCHEMA_CHANGE = "SCHEMA_CHANGE"


class SchemaChangeType(StrEnum):
    """<change_type> of a schema change."""

    CREATED = "CREATED"
    UPDATED = "UPDATED"
    DROPPED = "DROPPED"


class SchemaChangeTarget(StrEnum):
    """<target> of a schema change."""

    KEYSPACE = "KEYSPACE"
    TABLE = "TABLE"
    TYPE = "TYPE"
    FUNCTION = "FUNCTION"
    AGGREGATE = "AGGREGATE"


class WriteType(StrEnum):
    """Write types Cassandra names in WriteTimeout and WriteFailure bodies."""

    SIMPLE = "SIMPLE"
    BATCH = "BATCH"
    UNLOGGED_BATCH = "UNLOGGED_BATCH"
    COUNTER = "COUNTER"
    BATCH_LOG = "BATCH_LOG"
    CAS = "CAS"
    VIEW = "VIEW"
    CDC = "CDC"


# --- limits -------------------------------------------------------------------------------

#: Header of a v3+ frame (envelope): version, flags, stream [short], opcode, length [int].
HEADER_LENGTH = 9
#: Header of a v1/v2 frame: the stream id was a single byte.
LEGACY_HEADER_LENGTH = 8

#: The spec caps a frame body at 256 MB; Cassandra refuses larger ones outright. A peer that
#: announces more is either broken or hostile, so we refuse before buffering a byte of it.
MAX_FRAME_BODY_LENGTH = 256 * 1024 * 1024

#: Stream ids are a signed [short]; requests use 0..32767 and the server pushes EVENTs on -1.
MAX_STREAM_ID = 32767
EVENT_STREAM_ID = -1

#: v5 segments carry a 17-bit payload length, so at most 128 KiB - 1 bytes each.
MAX_SEGMENT_PAYLOAD = (1 << 17) - 1
#: Uncompressed v5 segment header: 3 bytes of length + flag, 3 bytes of CRC24.
SEGMENT_HEADER_LENGTH = 6
#: LZ4 v5 segment header: 5 bytes of lengths + flag, 3 bytes of CRC24.
COMPRESSED_SEGMENT_HEADER_LENGTH = 8
#: Every v5 segment ends with the CRC32 of its payload.
SEGMENT_TRAILER_LENGTH = 4

#: Type options nest (list<map<text, frozen<tuple<...>>>>). Cassandra has no explicit cap,
#: but no real schema comes near this; it keeps hostile input from exhausting the stack.
MAX_TYPE_NESTING = 64

#: The only CQL version Cassandra 3.0+ accepts in STARTUP.
CQL_VERSION = "3.0.0"

#: The compression algorithms this codec can apply (v4 frames and v5 segments).
SUPPORTED_COMPRESSION = ("lz4",)

# Wire values to members by a dict lookup: calling an IntEnum class costs several times more,
# and the relay path converts a few per frame.
OPCODE_OF: Final = {int(member): member for member in Opcode}
DIRECTION_OF: Final = {int(member): member for member in Direction}
CONSISTENCY_OF: Final = {int(member): member for member in Consistency}
RESULT_KIND_OF: Final = {int(member): member for member in ResultKind}
