"""Retry decisions by exception class, backoff with full jitter, against real driver errors."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from cassandra import (
    AlreadyExists,
    AuthenticationFailed,
    InvalidRequest,
    OperationTimedOut,
    ReadTimeout,
    Unauthorized,
    Unavailable,
    WriteTimeout,
)
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable
from cassandra.connection import ConnectionShutdown
from cassandra.policies import FallthroughRetryPolicy, RoundRobinPolicy
from cassandra.protocol import OverloadedErrorMessage, SyntaxException

from cassflow.copy import Backoff, ErrorClass, RetryExhaustedError, classify_error, retry
from cassflow.devserver import DevServer


@pytest.mark.parametrize(
    "error",
    [
        ReadTimeout("x"),
        WriteTimeout("x", write_type=0),
        Unavailable("x"),
        OperationTimedOut("x"),
        ConnectionShutdown("x"),
        OverloadedErrorMessage(0x1001, "overloaded", None),
        ConnectionResetError(),
        NoHostAvailable("none", {"127.0.0.1": Unavailable("x")}),
        NoHostAvailable("none", {}),
    ],
)
def test_transient_errors(error: BaseException) -> None:
    assert classify_error(error) is ErrorClass.TRANSIENT


@pytest.mark.parametrize(
    "error",
    [
        SyntaxException(0x2000, "bad", None),
        Unauthorized("no"),
        InvalidRequest("no"),
        AlreadyExists(keyspace="k", table="t"),
        AuthenticationFailed("no"),
        NoHostAvailable("none", {"127.0.0.1": AuthenticationFailed("bad password")}),
        ValueError("a bug"),
    ],
)
def test_terminal_errors(error: BaseException) -> None:
    assert classify_error(error) is ErrorClass.TERMINAL


def test_full_jitter_stays_within_the_exponential_ceiling() -> None:
    backoff = Backoff(base=0.1, cap=2.0, rng=random.Random(7))
    for attempt in range(12):
        ceiling = min(2.0, 0.1 * 2**attempt)
        delays = [backoff.delay(attempt) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # it does use the whole range
    assert Backoff(base=1, cap=5).delay(10_000) <= 5  # no overflow for huge attempts


def test_retry_recovers_from_transient_errors_and_reports_each_retry() -> None:
    outcomes: Iterator[BaseException | str] = iter(
        [WriteTimeout("x", write_type=0), Unavailable("x"), "done"]
    )

    def call() -> str:
        outcome = next(outcomes)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    waits: list[float] = []
    seen: list[tuple[int, str]] = []
    result = retry(
        call,
        attempts=5,
        backoff=Backoff(base=0.5, cap=4, rng=random.Random(1)),
        sleep=waits.append,
        on_retry=lambda n, exc, _delay: seen.append((n, type(exc).__name__)),
    )
    assert result == "done"
    assert seen == [(1, "WriteTimeout"), (2, "Unavailable")]
    assert len(waits) == 2
    assert 0 <= waits[0] <= 0.5
    assert 0 <= waits[1] <= 1.0


def test_terminal_errors_are_not_retried() -> None:
    calls = []

    def call() -> None:
        calls.append(1)
        raise InvalidRequest("no such table")

    with pytest.raises(InvalidRequest):
        retry(call, attempts=5, sleep=lambda _s: None)
    assert len(calls) == 1


def test_exhausted_retries_keep_the_last_error() -> None:
    def call() -> None:
        raise ReadTimeout("slow")

    with pytest.raises(RetryExhaustedError) as caught:
        retry(call, attempts=3, sleep=lambda _s: None)
    assert caught.value.attempts == 3
    assert isinstance(caught.value.__cause__, ReadTimeout)


@pytest.mark.devserver_only
def test_retry_rides_out_injected_faults_on_a_real_driver_session() -> None:
    with DevServer() as server:
        profile = ExecutionProfile(
            load_balancing_policy=RoundRobinPolicy(), retry_policy=FallthroughRetryPolicy()
        )
        cluster = Cluster(
            [server.host], port=server.port, execution_profiles={EXEC_PROFILE_DEFAULT: profile}
        )
        session = cluster.connect()
        session.execute(
            "CREATE KEYSPACE r WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        session.execute("CREATE TABLE r.t (k int PRIMARY KEY, v int)")
        server.faults.add({"fault": "write_timeout", "table": "t", "count": 2})
        server.faults.add({"fault": "overloaded", "table": "t", "count": 1})
        retries: list[str] = []
        retry(
            lambda: session.execute("INSERT INTO r.t (k, v) VALUES (1, 1)"),
            attempts=5,
            sleep=lambda _s: None,
            on_retry=lambda _n, exc, _d: retries.append(type(exc).__name__),
        )
        assert len(retries) == 3
        assert session.execute("SELECT v FROM r.t WHERE k = 1").one().v == 1
        cluster.shutdown()
