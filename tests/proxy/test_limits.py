"""Rate limits: token buckets per identity and rule hold their rates within 10% under bounded
load loops, with a fake clock and, briefly, the real one."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cassflow.cql import Verb
from cassflow.proxy._limits import RateLimiter, RateLimits, TokenBucket
from cassflow.proxy._policy import Action, RateSpec, parse_policy


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_a_bucket_starts_full_and_refills_at_its_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10, 5, clock=clock)
    assert [bucket.try_acquire() for _ in range(6)] == [True] * 5 + [False]
    assert bucket.delay_for(1) == pytest.approx(0.1)
    clock.advance(0.099)
    assert not bucket.try_acquire()
    clock.advance(0.001)
    assert bucket.try_acquire()
    clock.advance(60)
    assert bucket.tokens == 5  # never more than the capacity


def test_a_request_larger_than_the_bucket_is_granted_when_full_and_leaves_debt() -> None:
    clock = FakeClock()
    bucket = TokenBucket(100, 50, clock=clock)
    assert bucket.delay_for(500) == 0.0
    assert bucket.try_acquire(500)
    assert bucket.tokens == -450
    assert not bucket.try_acquire(0)  # in debt
    assert bucket.delay_for(0) == pytest.approx(4.5)
    assert bucket.delay_for(500) == pytest.approx(5.0)  # until full again
    clock.advance(4.5)
    assert bucket.try_acquire(0)
    assert not bucket.try_acquire(500)


def test_charging_after_the_fact_goes_into_debt() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1000, 1000, clock=clock)
    bucket.charge(3000)
    assert bucket.tokens == -2000
    assert bucket.delay_for(0) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="negative"):
        bucket.charge(-1)
    with pytest.raises(ValueError, match="negative"):
        bucket.try_acquire(-1)
    with pytest.raises(ValueError, match="rate above 0"):
        TokenBucket(0, 1)


@pytest.mark.parametrize(("rate", "burst"), [(200.0, 2.0), (7.0, 1.0), (5000.0, 0.01)])
def test_requests_per_second_hold_within_ten_percent_with_a_fake_clock(
    rate: float, burst: float
) -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateSpec(requests_per_second=rate, burst=burst), clock=clock)
    start, seconds, granted = clock.now, 30.0, 0
    while clock.now - start < seconds:  # a greedy client: retries after the advised delay
        if limiter.try_acquire():
            granted += 1
        else:
            clock.advance(max(limiter.delay_for(), 1e-6))
    expected = rate * seconds
    assert abs(granted - expected) <= 0.1 * expected
    # And beyond the initial burst the rate is exact.
    assert granted <= expected + max(rate * burst, 1.0) + 1


def test_rows_counted_after_the_answer_hold_their_rate_within_ten_percent() -> None:
    clock = FakeClock()
    spec = RateSpec(requests_per_second=1000, rows_per_second=2000, burst=1.0)
    limiter = RateLimiter(spec, clock=clock)
    start, rows = clock.now, 0
    while clock.now - start < 20.0:
        if limiter.try_acquire():
            # Each read returns a page of 750 rows, known only once it arrives.
            limiter.charge_rows(750)
            rows += 750
            clock.advance(0.001)  # the read's own latency
        else:
            clock.advance(limiter.delay_for())
    elapsed = clock.now - start
    assert abs(rows / elapsed - 2000) <= 0.1 * 2000


def test_a_limiter_takes_from_both_buckets_or_from_neither() -> None:
    clock = FakeClock()
    limiter = RateLimiter(
        RateSpec(requests_per_second=10, rows_per_second=100, burst=1.0), clock=clock
    )
    limiter.charge_rows(150)  # in debt by 50 rows: half a second
    assert limiter.requests is not None
    before = limiter.requests.tokens
    assert not limiter.try_acquire()
    assert limiter.requests.tokens == before  # the request token was not taken
    assert limiter.delay_for() == pytest.approx(0.5)
    clock.advance(0.5)
    assert limiter.try_acquire(rows=0)
    # A write whose rows are known up front takes them with the request.
    assert limiter.delay_for(rows=100) == pytest.approx(1.0)
    clock.advance(1.0)
    assert limiter.try_acquire(rows=100)
    assert not limiter.try_acquire(rows=1)


def test_buckets_are_thread_safe() -> None:
    clock = FakeClock()  # frozen: exactly the capacity can be granted
    bucket = TokenBucket(1, 5000, clock=clock)
    granted = [0] * 8
    go = threading.Barrier(8)

    def hammer(slot: int) -> None:
        go.wait(timeout=10)
        for _ in range(2000):
            if bucket.try_acquire():
                granted[slot] += 1

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sum(granted) == 5000


def test_the_rate_holds_on_the_real_clock() -> None:
    rate, seconds = 400.0, 1.0
    limiter = RateLimiter(RateSpec(requests_per_second=rate, burst=0.05))  # 20 at once
    granted = [0] * 4
    deadline = time.monotonic() + seconds
    stop = threading.Event()

    def client(slot: int) -> None:
        while time.monotonic() < deadline:
            if limiter.try_acquire():
                granted[slot] += 1
            else:
                stop.wait(limiter.delay_for())  # pace as the limiter advises

    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    expected = rate * seconds + 20
    assert abs(sum(granted) - expected) <= 0.1 * expected, sum(granted)


def test_limiters_are_kept_per_identity_and_rule_and_follow_rate_changes() -> None:
    clock = FakeClock()
    limits = RateLimits(clock=clock)
    spec = RateSpec(requests_per_second=1)
    alice = limits.limiter("alice", "analysts", spec)
    assert limits.limiter("alice", "analysts", RateSpec(requests_per_second=1)) is alice
    assert limits.limiter("bob", "analysts", spec) is not alice
    assert limits.limiter("alice", "admins", spec) is not alice
    assert alice.try_acquire()
    assert not alice.try_acquire()  # bob and the other rule have buckets of their own
    assert limits.limiter("bob", "analysts", spec).try_acquire()
    # The policy was reloaded with another rate: a limiter with the new rate.
    faster = limits.limiter("alice", "analysts", RateSpec(requests_per_second=100))
    assert faster is not alice
    assert faster.rate.requests_per_second == 100


def test_idle_limiters_are_dropped_and_busy_ones_kept() -> None:
    clock = FakeClock()
    limits = RateLimits(clock=clock, max_idle=3)
    spec = RateSpec(requests_per_second=1)
    busy = limits.limiter("busy", "r", spec)
    assert busy.try_acquire()  # empty now: it must not be forgotten (a fresh one is full)
    for name in ("a", "b"):
        limits.limiter(name, "r", spec)
    assert len(limits) == 3
    limits.limiter("c", "r", spec)
    assert len(limits) == 2  # "a" and "b" were full: dropped; "busy" and "c" kept
    assert limits.limiter("busy", "r", spec) is busy
    assert not busy.try_acquire()


def test_a_rule_rate_from_the_policy_limits_its_identity() -> None:
    policy = parse_policy(
        """\
version: 1
rules:
  - name: agents
    match: {groups: [ai-agents]}
    allow: [{keyspace: sandbox, verbs: [SELECT]}]
    rate: {requests_per_second: 50, burst: 1}
"""
    )
    clock = FakeClock()
    limits = RateLimits(clock=clock)
    action = Action(verb=Verb.SELECT, keyspace="sandbox", table="t", page_size=100)
    start, served = clock.now, 0
    while clock.now - start < 10.0:
        decision = policy.decide("agent-7", ["ai-agents"], action)
        assert decision.allowed
        assert decision.rule is not None
        assert decision.rate is not None
        limiter = limits.limiter("agent-7", decision.rule, decision.rate)
        if limiter.try_acquire():
            served += 1
        else:
            clock.advance(limiter.delay_for())
    assert abs(served - 500) <= 50


@given(
    rate=st.floats(min_value=0.5, max_value=10_000),
    burst=st.floats(min_value=0.01, max_value=5),
    steps=st.lists(
        st.tuples(st.sampled_from(["take", "charge", "wait"]), st.floats(0, 20_000)),
        max_size=20,
    ),
    n=st.floats(min_value=0, max_value=20_000),
)
def test_waiting_the_advised_delay_always_suffices(
    rate: float, burst: float, steps: list[tuple[str, float]], n: float
) -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate, rate * burst, clock=clock)
    for op, amount in steps:
        if op == "take":
            bucket.try_acquire(amount)
        elif op == "charge":
            bucket.charge(amount)
        else:
            clock.advance(amount / 1000)
    delay = bucket.delay_for(n)
    if delay > 0:
        assert not bucket.try_acquire(n)
    clock.advance(delay * (1 + 1e-9))
    assert bucket.try_acquire(n)
