"""Errors the executor raises, each mapped to the ERROR message Cassandra would send."""

from __future__ import annotations

from cassflow.errors import CassflowError
from cassflow.protocol import (
    AlreadyExists,
    ConfigError,
    ErrorMessage,
    Invalid,
    InvalidSyntax,
    ServerError,
    Unauthorized,
    Unprepared,
)


class RequestError(CassflowError):
    """A request the server refuses; :meth:`to_message` is what goes back on the wire."""

    def to_message(self) -> ErrorMessage:
        """The ERROR message for the client."""
        return ServerError(message=str(self))


class InvalidRequestError(RequestError):
    """Cassandra's InvalidRequestException (code 0x2200)."""

    def to_message(self) -> ErrorMessage:
        return Invalid(message=str(self))


class SyntaxProblemError(RequestError):
    """Cassandra's SyntaxException (code 0x2000)."""

    def to_message(self) -> ErrorMessage:
        return InvalidSyntax(message=str(self))


class UnauthorizedError(RequestError):
    """Cassandra's UnauthorizedException (code 0x2100)."""

    def to_message(self) -> ErrorMessage:
        return Unauthorized(message=str(self))


class ConfigurationError(RequestError):
    """Cassandra's ConfigurationException (code 0x2300)."""

    def to_message(self) -> ErrorMessage:
        return ConfigError(message=str(self))


class AlreadyExistsError(RequestError):
    """Cassandra's AlreadyExistsException (code 0x2400)."""

    def __init__(self, keyspace: str, table: str = "") -> None:
        what = (
            f'Cannot add already existing table "{table}" to keyspace "{keyspace}"'
            if table
            else f'Cannot add existing keyspace "{keyspace}"'
        )
        super().__init__(what)
        self.keyspace = keyspace
        self.table = table

    def to_message(self) -> ErrorMessage:
        return AlreadyExists(message=str(self), keyspace=self.keyspace, table=self.table)


class UnpreparedError(RequestError):
    """Cassandra's PreparedQueryNotFoundException (code 0x2500)."""

    def __init__(self, query_id: bytes) -> None:
        super().__init__(
            f"Prepared query with ID {query_id.hex()} not found (either the query "
            "was not prepared on this host (maybe the host has been restarted?) or "
            "you have prepared too many queries and it has been evicted from the "
            "internal cache)"
        )
        self.query_id = query_id

    def to_message(self) -> ErrorMessage:
        return Unprepared(message=str(self), query_id=self.query_id)
