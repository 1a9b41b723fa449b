"""Rate limits per identity and rule: token buckets for requests per second and rows per
second.

A bucket holds up to ``rate * burst`` tokens (at least one) and refills at ``rate`` per
second. A request larger than the whole bucket is granted when the bucket is full and leaves
it in debt, so a long-run rate holds whatever the request sizes. Rows are usually known only
after the answer: :meth:`RateLimiter.charge_rows` takes them then, and the next request waits
until the debt is paid (``try_acquire(0)`` asks "not in debt?"). The clock is injectable for
tests; every method is thread-safe.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Final

from cassflow.proxy._policy_spec import RateSpec

Clock = Callable[[], float]

# Limiters kept before full (idle) ones are dropped: a full bucket is a fresh one, so
# dropping it loses nothing, while a bucket in use (or in debt) is always kept.
_MAX_IDLE_LIMITERS: Final = 10_000
# Tokens short by less than this count as there: refills are float sums, and a wait for the
# last billionth of a token would be lost in the clock's own rounding (and could repeat).
_EPSILON: Final = 1e-9


class TokenBucket:
    """``rate`` tokens per second, up to ``capacity`` (at least 1) saved up; starts full."""

    def __init__(self, rate: float, capacity: float, *, clock: Clock = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("a token bucket needs a rate above 0")
        self.rate = rate
        self.capacity = max(capacity, 1.0)
        self._clock = clock
        self._tokens = self.capacity
        self._updated = clock()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TokenBucket(rate={self.rate}, capacity={self.capacity})"

    def _refill(self) -> None:
        now = self._clock()
        elapsed = now - self._updated
        if elapsed > 0:
            self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
        self._updated = max(now, self._updated)

    def _needed(self, n: float) -> float:
        # What must be in the bucket to grant n: never more than it can hold.
        return min(n, self.capacity)

    @property
    def tokens(self) -> float:
        """Tokens available now (negative: in debt)."""
        with self._lock:
            self._refill()
            return self._tokens

    def try_acquire(self, n: float = 1.0) -> bool:
        """Take ``n`` tokens if they are there (a full bucket grants any ``n``); ``n=0`` asks
        whether the bucket is out of debt and takes nothing."""
        if n < 0:
            raise ValueError("cannot acquire a negative number of tokens")
        with self._lock:
            self._refill()
            if self._tokens + _EPSILON < max(self._needed(n), 0.0):
                return False
            self._tokens -= n
            return True

    def delay_for(self, n: float = 1.0) -> float:
        """Seconds until :meth:`try_acquire` of ``n`` would succeed (0.0: now), if nobody else
        takes tokens meanwhile."""
        if n < 0:
            raise ValueError("cannot acquire a negative number of tokens")
        with self._lock:
            self._refill()
            missing = max(self._needed(n), 0.0) - self._tokens
            return 0.0 if missing <= _EPSILON else missing / self.rate

    def charge(self, n: float) -> None:
        """Take ``n`` tokens now, going into debt if they are not there (rows counted after
        the answer)."""
        if n < 0:
            raise ValueError("cannot charge a negative number of tokens")
        with self._lock:
            self._refill()
            self._tokens -= n

    def full(self) -> bool:
        """Whether the bucket is full (no recent use to remember)."""
        with self._lock:
            self._refill()
            return self._tokens + _EPSILON >= self.capacity


class RateLimiter:
    """The request and row buckets of one (identity, rule); either may be absent."""

    def __init__(self, rate: RateSpec, *, clock: Clock = time.monotonic) -> None:
        self.rate = rate
        rps, rows = rate.requests_per_second, rate.rows_per_second
        self.requests = None if rps is None else TokenBucket(rps, rps * rate.burst, clock=clock)
        self.rows = None if rows is None else TokenBucket(rows, rows * rate.burst, clock=clock)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RateLimiter({self.rate!r})"

    def try_acquire(self, rows: int = 0) -> bool:
        """Admit one request that will touch ``rows`` rows (0: not known yet) if both buckets
        allow it; takes from both or from neither."""
        with self._lock:
            if self.requests is not None and self.requests.delay_for(1) > 0:
                return False
            if self.rows is not None and not self.rows.try_acquire(rows):
                return False
            if self.requests is not None:
                self.requests.charge(1)
            return True

    def delay_for(self, rows: int = 0) -> float:
        """Seconds until :meth:`try_acquire` with ``rows`` would succeed (0.0: now)."""
        with self._lock:
            waits = [0.0]
            if self.requests is not None:
                waits.append(self.requests.delay_for(1))
            if self.rows is not None:
                waits.append(self.rows.delay_for(rows))
            return max(waits)

    def charge_rows(self, rows: int) -> None:
        """Count ``rows`` rows read or written after the fact (may leave the bucket in debt)."""
        if self.rows is not None and rows > 0:
            self.rows.charge(rows)

    def idle(self) -> bool:
        """Whether both buckets are full, so the limiter remembers nothing."""
        return all(bucket is None or bucket.full() for bucket in (self.requests, self.rows))


class RateLimits:
    """The limiters of every (identity subject, rule name), made on first use and replaced
    when the rule's rate changes (a policy reload)."""

    def __init__(
        self, *, clock: Clock = time.monotonic, max_idle: int = _MAX_IDLE_LIMITERS
    ) -> None:
        self._clock = clock
        self._max_idle = max_idle
        self._limiters: dict[tuple[str, str], RateLimiter] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._limiters)

    def limiter(self, subject: str, rule: str, rate: RateSpec) -> RateLimiter:
        """The limiter of ``subject`` under ``rule`` with ``rate``."""
        key = (subject, rule)
        with self._lock:
            found = self._limiters.get(key)
            if found is not None and found.rate == rate:
                return found
            if len(self._limiters) >= self._max_idle:
                self._limiters = {k: v for k, v in self._limiters.items() if not v.idle()}
            made = RateLimiter(rate, clock=self._clock)
            self._limiters[key] = made
            return made
