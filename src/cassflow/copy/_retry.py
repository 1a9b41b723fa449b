"""Retry decisions by exception class (never by message text), and the backoff between tries.

Transient: the cluster is busy or a connection dropped, so trying again later can succeed
(timeouts, overload, unavailable replicas, bootstrapping nodes, connection loss, replica
failures). Terminal: trying again cannot help (syntax, authorization, invalid requests,
configuration, bad credentials, anything not known to be transient). A ``NoHostAvailable``
is transient unless one of the per-host errors inside it is terminal.

Backoff is exponential with *full jitter* (AWS architecture blog's recommendation): the n-th
wait is uniform in ``[0, min(cap, base * 2**n)]``, which spreads retrying clients apart
instead of having them retry in lockstep.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

import cassandra
from cassandra import cluster as driver_cluster
from cassandra import connection as driver_connection
from cassandra import protocol as driver_protocol

from cassflow.errors import CassflowError

log = logging.getLogger(__name__)

T = TypeVar("T")


class TransientError(CassflowError):
    """Raised by sources and sinks for trouble that another try may cure (a dropped SQL
    connection, a storage service's throttling); ``__cause__`` holds the original error."""


class ErrorClass(StrEnum):
    """Whether an error is worth another try."""

    TRANSIENT = "transient"
    TERMINAL = "terminal"


_TRANSIENT: tuple[type[BaseException], ...] = (
    cassandra.Timeout,  # ReadTimeout, WriteTimeout
    cassandra.OperationTimedOut,
    cassandra.Unavailable,
    cassandra.CoordinationFailure,  # ReadFailure, WriteFailure
    driver_protocol.OverloadedErrorMessage,
    driver_protocol.IsBootstrappingErrorMessage,
    driver_protocol.TruncateError,
    driver_protocol.ServerError,
    driver_connection.ConnectionException,  # ConnectionShutdown, ConnectionBusy...
    ConnectionError,
    TimeoutError,
)
_TERMINAL: tuple[type[BaseException], ...] = (
    cassandra.AuthenticationFailed,
    cassandra.RequestValidationException,  # SyntaxException, Unauthorized, InvalidRequest...
    cassandra.FunctionFailure,
    cassandra.CDCWriteFailure,
)


def classify_error(exc: BaseException) -> ErrorClass:
    """Transient or terminal, by the exception's class (or the class it came back with
    from a worker process: an ``error_class`` attribute)."""
    declared = getattr(exc, "error_class", None)
    if isinstance(declared, ErrorClass):
        return declared
    if isinstance(exc, _TERMINAL):
        return ErrorClass.TERMINAL
    if isinstance(exc, TransientError | RetryExhaustedError):
        # A request that kept failing may pass when its whole slice is redone later.
        return ErrorClass.TRANSIENT
    if isinstance(exc, driver_cluster.NoHostAvailable):
        inner = list(getattr(exc, "errors", {}).values())
        if any(
            isinstance(e, BaseException) and classify_error(e) is ErrorClass.TERMINAL for e in inner
        ):
            return ErrorClass.TERMINAL
        return ErrorClass.TRANSIENT
    if isinstance(exc, _TRANSIENT):
        return ErrorClass.TRANSIENT
    return ErrorClass.TERMINAL


@dataclass(slots=True)
class Backoff:
    """Exponential backoff with full jitter: wait ``uniform(0, min(cap, base * 2**attempt))``."""

    base: float = 0.1
    cap: float = 10.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (0 for the first retry)."""
        ceiling = min(self.cap, self.base * (2.0 ** min(attempt, 62)))
        return self.rng.uniform(0.0, ceiling)


class RetryExhaustedError(CassflowError):
    """A transient error persisted through every allowed attempt; ``__cause__`` is the last."""

    def __init__(self, attempts: int, last: BaseException) -> None:
        super().__init__(f"gave up after {attempts} attempts: {type(last).__name__}: {last}")
        self.attempts = attempts
        self.last = last


def retry(
    call: Callable[[], T],
    *,
    attempts: int = 5,
    backoff: Backoff | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
) -> T:
    """Run ``call``; on a transient error wait and try again, at most ``attempts`` times.

    Terminal errors propagate at once, unchanged. When transient errors exhaust the attempts,
    :class:`RetryExhaustedError` is raised from the last one. ``on_retry(attempt, error,
    delay)`` is told about each retry (for metrics and the run report).
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    backoff = backoff or Backoff()
    for attempt in range(attempts):
        try:
            return call()
        except Exception as exc:
            if classify_error(exc) is ErrorClass.TERMINAL:
                raise
            if attempt == attempts - 1:
                raise RetryExhaustedError(attempts, exc) from exc
            delay = backoff.delay(attempt)
            log.debug("transient %s, retry %d in %.3f s", type(exc).__name__, attempt + 1, delay)
            if on_retry is not None:
                on_retry(attempt + 1, exc, delay)
            sleep(delay)
    raise AssertionError("unreachable")  # the loop returns or raises
