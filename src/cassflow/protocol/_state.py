"""The connection state machine, as tables.

Theory of operation
-------------------
A connection starts IDLE. The client may ask OPTIONS at any time before STARTUP; STARTUP
fixes the protocol version and moves to STARTING. The server answers READY (no
authentication: READY state) or AUTHENTICATE (AUTHENTICATING), or ERROR (back to IDLE, the
client may try STARTUP again or close). While AUTHENTICATING the client sends AUTH_RESPONSE
tokens, the server answers AUTH_CHALLENGE (go on), AUTH_SUCCESS (READY) or ERROR (the client
may try again). In READY the client sends queries and OPTIONS; the server answers each on the
stream it came on and pushes EVENTs on stream -1.

On v5 connections the answer READY or AUTHENTICATE to STARTUP is the last unframed message:
from then on every byte both ways is segments (see ``_segment``).

The tables below say which request may be sent in which state, which answers each request
may get, and where each exchange leads. Both roles consult the same tables: the client
when it sends requests and receives responses, the server the other way round.
"""

from __future__ import annotations

from enum import Enum
from typing import Final

from cassflow.protocol._constants import Opcode


class ConnectionState(Enum):
    """Where a connection is in its life."""

    # Members are singletons compared by identity: hash them so too. Enum's own __hash__
    # (of the member's name, in Python) shows up in every transition lookup of a relay.
    __hash__ = object.__hash__

    IDLE = "IDLE"
    STARTING = "STARTING"
    AUTHENTICATING = "AUTHENTICATING"
    READY = "READY"
    CLOSED = "CLOSED"


IDLE, STARTING, AUTHENTICATING, READY = (
    ConnectionState.IDLE,
    ConnectionState.STARTING,
    ConnectionState.AUTHENTICATING,
    ConnectionState.READY,
)

_QUERIES: Final = (Opcode.QUERY, Opcode.PREPARE, Opcode.EXECUTE, Opcode.BATCH)

#: (state, request sent) -> state after sending it.
REQUEST_TRANSITIONS: Final[dict[tuple[ConnectionState, Opcode], ConnectionState]] = {
    (IDLE, Opcode.OPTIONS): IDLE,
    (IDLE, Opcode.STARTUP): STARTING,
    (AUTHENTICATING, Opcode.AUTH_RESPONSE): AUTHENTICATING,
    (READY, Opcode.OPTIONS): READY,
    (READY, Opcode.REGISTER): READY,
    **{(READY, op): READY for op in _QUERIES},
}

#: (state, request answered, response) -> state after the response.
RESPONSE_TRANSITIONS: Final[dict[tuple[ConnectionState, Opcode, Opcode], ConnectionState]] = {
    # OPTIONS may be answered after a pipelined STARTUP moved the state on: keep the state.
    **{
        (state, Opcode.OPTIONS, answer): state
        for state in (IDLE, STARTING, AUTHENTICATING, READY)
        for answer in (Opcode.SUPPORTED, Opcode.ERROR)
    },
    (STARTING, Opcode.STARTUP, Opcode.READY): READY,
    (STARTING, Opcode.STARTUP, Opcode.AUTHENTICATE): AUTHENTICATING,
    (STARTING, Opcode.STARTUP, Opcode.ERROR): IDLE,
    (AUTHENTICATING, Opcode.AUTH_RESPONSE, Opcode.AUTH_CHALLENGE): AUTHENTICATING,
    (AUTHENTICATING, Opcode.AUTH_RESPONSE, Opcode.AUTH_SUCCESS): READY,
    (AUTHENTICATING, Opcode.AUTH_RESPONSE, Opcode.ERROR): AUTHENTICATING,
    (READY, Opcode.REGISTER, Opcode.READY): READY,
    (READY, Opcode.REGISTER, Opcode.ERROR): READY,
    **{(READY, op, answer): READY for op in _QUERIES for answer in (Opcode.RESULT, Opcode.ERROR)},
}

#: States in which the server may push EVENTs.
EVENT_STATES: Final = frozenset({READY})


def unexpected_request_message(state: ConnectionState, opcode: Opcode) -> str:
    """The ProtocolError text Cassandra sends for a request out of place."""
    if state is IDLE or state is STARTING:
        return f"Unexpected message {opcode.name}, expecting STARTUP or OPTIONS"
    if state is AUTHENTICATING:
        return f"Unexpected message {opcode.name}, expecting SASL_RESPONSE"
    if opcode is Opcode.STARTUP:
        return "Unexpected message STARTUP, the connection is already initialized"
    return f"Unexpected message {opcode.name} in state {state.value}"
