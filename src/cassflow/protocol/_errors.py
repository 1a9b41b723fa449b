"""Errors raised by the codec, split by whose fault the problem is (as h11 does)."""

from __future__ import annotations

from cassflow.errors import CassflowError


class ProtocolError(CassflowError):
    """Base class of every error the protocol codec raises.

    Decoding never raises anything else, whatever bytes it is given.
    """


class LocalProtocolError(ProtocolError):
    """The caller misused the API: a message that cannot be encoded in this version, a
    value out of range for its wire type, or a message sent in the wrong connection state."""


class RemoteProtocolError(ProtocolError):
    """The peer sent bytes that break the protocol.

    ``stream`` is the stream id of the offending frame when it could be read. ``reply``, when
    set, holds the encoded ERROR frame that Cassandra would send back in this situation; a
    transport should write it before acting on ``fatal``. When ``fatal`` is true the byte
    stream cannot be trusted any more and the transport must close the connection; when it is
    false the offending frame was consumed whole and the connection can go on.
    """

    def __init__(
        self,
        message: str,
        *,
        stream: int | None = None,
        reply: bytes | None = None,
        fatal: bool = True,
    ) -> None:
        super().__init__(message)
        self.stream = stream
        self.reply = reply
        self.fatal = fatal
