"""Bodies of response messages (everything but RESULT rows metadata, see ``_codec_results``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cassflow.protocol._buffer import Reader, Writer
from cassflow.protocol._codec_requests import read_consistency
from cassflow.protocol._codec_results import (
    RESULT_DECODERS,
    RESULT_ENCODERS,
    read_schema_change,
    write_schema_change,
)
from cassflow.protocol._constants import (
    RESULT_KIND_OF,
    ErrorCode,
    EventType,
    Opcode,
    WriteType,
)
from cassflow.protocol._error_messages import (
    ERROR_CLASSES,
    AlreadyExists,
    CasWriteUnknown,
    ErrorMessage,
    FunctionFailure,
    Invalid,
    ReadFailure,
    ReadTimeout,
    Unavailable,
    Unprepared,
    WriteFailure,
    WriteTimeout,
)
from cassflow.protocol._errors import RemoteProtocolError
from cassflow.protocol._messages import (
    AuthChallenge,
    Authenticate,
    AuthSuccess,
    Event,
    Message,
    Ready,
    Result,
    SchemaChangeEvent,
    StatusChangeEvent,
    Supported,
    TopologyChangeEvent,
)

# --- ERROR --------------------------------------------------------------------------------


def _as_write_timeout(
    error: WriteFailure | CasWriteUnknown | WriteTimeout, write_type: str
) -> WriteTimeout:
    return WriteTimeout(
        message=error.message,
        consistency=error.consistency,
        received=error.received,
        block_for=error.block_for,
        write_type=write_type,
    )


def backwards_compatible_error(error: ErrorMessage, version: int) -> ErrorMessage:
    """The error a client of ``version`` is sent in place of ``error``, as Cassandra does.

    Versions before v4 know no failure codes, so failures become timeouts and function or CDC
    failures become Invalid; versions before v5 know no CAS_WRITE_UNKNOWN and no CAS
    contentions, so those become plain CAS write timeouts.
    """
    if version < 4:
        if isinstance(error, ReadFailure):
            return ReadTimeout(
                message=error.message,
                consistency=error.consistency,
                received=error.received,
                block_for=error.block_for,
                data_present=error.data_present,
            )
        if isinstance(error, WriteFailure):
            return _as_write_timeout(error, error.write_type)
        if error.code in (ErrorCode.FUNCTION_FAILURE, ErrorCode.CDC_WRITE_FAILURE):
            return Invalid(message=f"ERROR {error.code.name}: {error.message}")
    if version < 5:
        if isinstance(error, CasWriteUnknown):
            return _as_write_timeout(error, WriteType.CAS)
        if isinstance(error, WriteTimeout) and error.contentions is not None:
            return _as_write_timeout(error, error.write_type)
    return error


def _enc_error(w: Writer, m: ErrorMessage, v: int) -> None:
    m = backwards_compatible_error(m, v)
    w.write_int(m.code)
    w.write_string(m.message)
    if isinstance(m, Unavailable):
        w.write_short(m.consistency)
        w.write_int(m.required)
        w.write_int(m.alive)
    elif isinstance(m, WriteTimeout):
        w.write_short(m.consistency)
        w.write_int(m.received)
        w.write_int(m.block_for)
        w.write_string(m.write_type)
        if v >= 5 and m.write_type == WriteType.CAS:
            w.write_short(m.contentions or 0)
    elif isinstance(m, ReadTimeout):
        w.write_short(m.consistency)
        w.write_int(m.received)
        w.write_int(m.block_for)
        w.write_byte(1 if m.data_present else 0)
    elif isinstance(m, ReadFailure | WriteFailure):
        w.write_short(m.consistency)
        w.write_int(m.received)
        w.write_int(m.block_for)
        if v >= 5:
            # v5 reuses the failure count as the size of the reason map that follows.
            w.write_int(len(m.reason_map))
            for address, reason in m.reason_map.items():
                w.write_inetaddr(address)
                w.write_short(reason)
        else:
            w.write_int(m.num_failures)
        if isinstance(m, ReadFailure):
            w.write_byte(1 if m.data_present else 0)
        else:
            w.write_string(m.write_type)
    elif isinstance(m, FunctionFailure):
        w.write_string(m.keyspace)
        w.write_string(m.function)
        w.write_string_list(m.arg_types)
    elif isinstance(m, CasWriteUnknown):
        w.write_short(m.consistency)
        w.write_int(m.received)
        w.write_int(m.block_for)
    elif isinstance(m, AlreadyExists):
        w.write_string(m.keyspace)
        w.write_string(m.table)
    elif isinstance(m, Unprepared):
        w.write_short_bytes(m.query_id)


def _dec_error(r: Reader, v: int) -> ErrorMessage:
    raw_code = r.read_int()
    message = r.read_string()
    try:
        code = ErrorCode(raw_code)
    except ValueError:
        raise RemoteProtocolError(f"unknown error code 0x{raw_code:04x}: {message!r}") from None
    fields: dict[str, Any] = {"message": message}
    if code is ErrorCode.UNAVAILABLE:
        fields.update(consistency=read_consistency(r), required=r.read_int(), alive=r.read_int())
    elif code in (ErrorCode.WRITE_TIMEOUT, ErrorCode.READ_TIMEOUT, ErrorCode.CAS_WRITE_UNKNOWN):
        fields.update(consistency=read_consistency(r), received=r.read_int())
        fields["block_for"] = r.read_int()
        if code is ErrorCode.WRITE_TIMEOUT:
            fields["write_type"] = r.read_string()
            if v >= 5 and fields["write_type"] == WriteType.CAS:
                fields["contentions"] = r.read_short()
        elif code is ErrorCode.READ_TIMEOUT:
            fields["data_present"] = r.read_byte() != 0
    elif code in (ErrorCode.READ_FAILURE, ErrorCode.WRITE_FAILURE):
        fields.update(consistency=read_consistency(r), received=r.read_int())
        fields["block_for"] = r.read_int()
        fields["num_failures"] = count = r.read_int()
        if v >= 5:
            if count < 0:
                raise RemoteProtocolError(f"failure reason map with {count} entries")
            fields["reason_map"] = {r.read_inetaddr(): r.read_short() for _ in range(count)}
            # A node listed twice collapses in the map; keep the count consistent with it.
            fields["num_failures"] = len(fields["reason_map"])
        if code is ErrorCode.READ_FAILURE:
            fields["data_present"] = r.read_byte() != 0
        else:
            fields["write_type"] = r.read_string()
    elif code is ErrorCode.FUNCTION_FAILURE:
        fields.update(keyspace=r.read_string(), function=r.read_string())
        fields["arg_types"] = r.read_string_list()
    elif code is ErrorCode.ALREADY_EXISTS:
        fields.update(keyspace=r.read_string(), table=r.read_string())
    elif code is ErrorCode.UNPREPARED:
        fields["query_id"] = r.read_short_bytes()
    return ERROR_CLASSES[code](**fields)


# --- simple responses ---------------------------------------------------------------------


def _enc_empty(_w: Writer, _m: Message, _v: int) -> None:
    return


def _dec_ready(_r: Reader, _v: int) -> Ready:
    return Ready()


def _enc_authenticate(w: Writer, m: Authenticate, _v: int) -> None:
    w.write_string(m.authenticator)


def _dec_authenticate(r: Reader, _v: int) -> Authenticate:
    return Authenticate(authenticator=r.read_string())


def _enc_supported(w: Writer, m: Supported, _v: int) -> None:
    w.write_string_multimap(m.options)


def _dec_supported(r: Reader, _v: int) -> Supported:
    return Supported(options=r.read_string_multimap())


def _enc_auth_token(w: Writer, m: AuthChallenge | AuthSuccess, _v: int) -> None:
    w.write_bytes(m.token)


def _dec_auth_challenge(r: Reader, _v: int) -> AuthChallenge:
    return AuthChallenge(token=r.read_bytes())


def _dec_auth_success(r: Reader, _v: int) -> AuthSuccess:
    return AuthSuccess(token=r.read_bytes())


# --- RESULT and EVENT ---------------------------------------------------------------------


def _enc_result(w: Writer, m: Result, v: int) -> None:
    w.write_int(m.kind)
    RESULT_ENCODERS[m.kind](w, m, v)


def _dec_result(r: Reader, v: int) -> Result:
    raw_kind = r.read_int()
    kind = RESULT_KIND_OF.get(raw_kind)
    if kind is None:
        raise RemoteProtocolError(f"unknown RESULT kind 0x{raw_kind:04x}")
    return RESULT_DECODERS[kind](r, v)


def _enc_event(w: Writer, m: Event, v: int) -> None:
    w.write_string(m.event_type)
    if isinstance(m, TopologyChangeEvent | StatusChangeEvent):
        w.write_string(m.change)
        w.write_inet(m.address)
    elif isinstance(m, SchemaChangeEvent):
        write_schema_change(w, m.change, v)


def _dec_event(r: Reader, v: int) -> Event:
    raw_type = r.read_string()
    if raw_type == EventType.TOPOLOGY_CHANGE:
        return TopologyChangeEvent(change=r.read_string(), address=r.read_inet())
    if raw_type == EventType.STATUS_CHANGE:
        return StatusChangeEvent(change=r.read_string(), address=r.read_inet())
    if raw_type == EventType.SCHEMA_CHANGE:
        return SchemaChangeEvent(change=read_schema_change(r, v))
    raise RemoteProtocolError(f"unknown event type {raw_type!r}")


Encoder = Callable[[Writer, Any, int], None]
Decoder = Callable[[Reader, int], Message]

RESPONSE_ENCODERS: dict[Opcode, Encoder] = {
    Opcode.ERROR: _enc_error,
    Opcode.READY: _enc_empty,
    Opcode.AUTHENTICATE: _enc_authenticate,
    Opcode.SUPPORTED: _enc_supported,
    Opcode.RESULT: _enc_result,
    Opcode.EVENT: _enc_event,
    Opcode.AUTH_CHALLENGE: _enc_auth_token,
    Opcode.AUTH_SUCCESS: _enc_auth_token,
}

RESPONSE_DECODERS: dict[Opcode, Decoder] = {
    Opcode.ERROR: _dec_error,
    Opcode.READY: _dec_ready,
    Opcode.AUTHENTICATE: _dec_authenticate,
    Opcode.SUPPORTED: _dec_supported,
    Opcode.RESULT: _dec_result,
    Opcode.EVENT: _dec_event,
    Opcode.AUTH_CHALLENGE: _dec_auth_challenge,
    Opcode.AUTH_SUCCESS: _dec_auth_success,
}
