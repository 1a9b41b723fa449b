"""ERROR messages: one class per error code, registered by code (as asyncpg does).

These are messages, not exceptions: a server sends them, a client receives them. Codes with
extra body fields carry them as typed attributes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from cassflow.protocol._constants import Consistency, ErrorCode, Opcode
from cassflow.protocol._errors import LocalProtocolError
from cassflow.protocol._messages import Message


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorMessage(Message):
    """Base of ERROR messages: a code and a human-readable message."""

    opcode: ClassVar[Opcode] = Opcode.ERROR
    code: ClassVar[ErrorCode]
    message: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerError(ErrorMessage):
    """0x0000: something unexpected happened on the server."""

    code: ClassVar[ErrorCode] = ErrorCode.SERVER_ERROR


@dataclass(frozen=True, slots=True, kw_only=True)
class ProtocolViolation(ErrorMessage):
    """0x000A: a client message broke the protocol (also: unsupported protocol version)."""

    code: ClassVar[ErrorCode] = ErrorCode.PROTOCOL_ERROR


@dataclass(frozen=True, slots=True, kw_only=True)
class BadCredentials(ErrorMessage):
    """0x0100: authentication was required and failed."""

    code: ClassVar[ErrorCode] = ErrorCode.BAD_CREDENTIALS


@dataclass(frozen=True, slots=True, kw_only=True)
class Unavailable(ErrorMessage):
    """0x1000: not enough replicas alive for the consistency level."""

    code: ClassVar[ErrorCode] = ErrorCode.UNAVAILABLE
    consistency: Consistency
    required: int
    alive: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Overloaded(ErrorMessage):
    """0x1001: the coordinator is overloaded."""

    code: ClassVar[ErrorCode] = ErrorCode.OVERLOADED


@dataclass(frozen=True, slots=True, kw_only=True)
class IsBootstrapping(ErrorMessage):
    """0x1002: the coordinator is bootstrapping."""

    code: ClassVar[ErrorCode] = ErrorCode.IS_BOOTSTRAPPING


@dataclass(frozen=True, slots=True, kw_only=True)
class TruncateError(ErrorMessage):
    """0x1003: a TRUNCATE failed."""

    code: ClassVar[ErrorCode] = ErrorCode.TRUNCATE_ERROR


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteTimeout(ErrorMessage):
    """0x1100: replicas did not acknowledge a write in time.

    ``contentions`` is sent from v5 on, and only when ``write_type`` is CAS.
    """

    code: ClassVar[ErrorCode] = ErrorCode.WRITE_TIMEOUT
    consistency: Consistency
    received: int
    block_for: int
    write_type: str
    contentions: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadTimeout(ErrorMessage):
    """0x1200: replicas did not answer a read in time."""

    code: ClassVar[ErrorCode] = ErrorCode.READ_TIMEOUT
    consistency: Consistency
    received: int
    block_for: int
    data_present: bool


def _check_failures(num_failures: int, reason_map: Mapping[str, int]) -> None:
    if reason_map and len(reason_map) != num_failures:
        raise LocalProtocolError(
            f"num_failures is {num_failures} but the reason map names {len(reason_map)} nodes"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadFailure(ErrorMessage):
    """0x1300: replicas failed a read.

    v4 carries only ``num_failures``; v5 carries ``reason_map`` (node address -> failure
    code), whose size is the number of failures.
    """

    code: ClassVar[ErrorCode] = ErrorCode.READ_FAILURE
    consistency: Consistency
    received: int
    block_for: int
    num_failures: int
    reason_map: Mapping[str, int] = field(default_factory=dict)
    data_present: bool = False

    def __post_init__(self) -> None:
        _check_failures(self.num_failures, self.reason_map)


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionFailure(ErrorMessage):
    """0x1400: a user-defined function failed."""

    code: ClassVar[ErrorCode] = ErrorCode.FUNCTION_FAILURE
    keyspace: str
    function: str
    arg_types: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteFailure(ErrorMessage):
    """0x1500: replicas failed a write (see :class:`ReadFailure` for the v4/v5 split)."""

    code: ClassVar[ErrorCode] = ErrorCode.WRITE_FAILURE
    consistency: Consistency
    received: int
    block_for: int
    num_failures: int
    reason_map: Mapping[str, int] = field(default_factory=dict)
    write_type: str = "SIMPLE"

    def __post_init__(self) -> None:
        _check_failures(self.num_failures, self.reason_map)


@dataclass(frozen=True, slots=True, kw_only=True)
class CdcWriteFailure(ErrorMessage):
    """0x1600: a write to a CDC-tracked table was refused (CDC space exhausted)."""

    code: ClassVar[ErrorCode] = ErrorCode.CDC_WRITE_FAILURE


@dataclass(frozen=True, slots=True, kw_only=True)
class CasWriteUnknown(ErrorMessage):
    """0x1700: a contended CAS write may or may not have been applied."""

    code: ClassVar[ErrorCode] = ErrorCode.CAS_WRITE_UNKNOWN
    consistency: Consistency
    received: int
    block_for: int


@dataclass(frozen=True, slots=True, kw_only=True)
class InvalidSyntax(ErrorMessage):
    """0x2000: the statement does not parse."""

    code: ClassVar[ErrorCode] = ErrorCode.SYNTAX_ERROR


@dataclass(frozen=True, slots=True, kw_only=True)
class Unauthorized(ErrorMessage):
    """0x2100: the logged-in role may not run this statement."""

    code: ClassVar[ErrorCode] = ErrorCode.UNAUTHORIZED


@dataclass(frozen=True, slots=True, kw_only=True)
class Invalid(ErrorMessage):
    """0x2200: the statement parses but is invalid."""

    code: ClassVar[ErrorCode] = ErrorCode.INVALID


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigError(ErrorMessage):
    """0x2300: the statement is invalid because of the server's configuration."""

    code: ClassVar[ErrorCode] = ErrorCode.CONFIG_ERROR


@dataclass(frozen=True, slots=True, kw_only=True)
class AlreadyExists(ErrorMessage):
    """0x2400: the keyspace or table exists; ``table`` is empty for a keyspace."""

    code: ClassVar[ErrorCode] = ErrorCode.ALREADY_EXISTS
    keyspace: str
    table: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Unprepared(ErrorMessage):
    """0x2500: the prepared id is unknown to this node; the client must prepare again."""

    code: ClassVar[ErrorCode] = ErrorCode.UNPREPARED
    query_id: bytes


ERROR_CLASSES: Mapping[ErrorCode, type[ErrorMessage]] = {
    cls.code: cls
    for cls in (
        ServerError,
        ProtocolViolation,
        BadCredentials,
        Unavailable,
        Overloaded,
        IsBootstrapping,
        TruncateError,
        WriteTimeout,
        ReadTimeout,
        ReadFailure,
        FunctionFailure,
        WriteFailure,
        CdcWriteFailure,
        CasWriteUnknown,
        InvalidSyntax,
        Unauthorized,
        Invalid,
        ConfigError,
        AlreadyExists,
        Unprepared,
    )
}
