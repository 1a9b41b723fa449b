"""Adaptive throttling: AIMD on concurrency, plus a hard rows-per-second cap.

Additive increase, multiplicative decrease (TCP's congestion control, as dsbulk's and
Scylla's loaders adapt): every ``increase_every`` successful requests raise the allowed
concurrency by one, up to ``max_concurrency``; a sign of distress (a write timeout, an
overload error, or latency above ``latency_target``) cuts it by ``decrease_factor``, at most
once per ``cooldown`` seconds so one burst of errors is one decrease. Independently, a token
bucket caps the row rate at ``max_rows_per_second``. The clock is injectable for tests.

Rising latency is judged against the cluster's own pace (``latency_rise``): a short moving
average of answer times above ``latency_rise`` times the lowest one seen is distress, as a
queue building up on the coordinators shows first in latency (the idea of TCP Vegas and of
Netflix's gradient limiter). The lowest time drifts up slowly, so a cluster that gets slower
for good becomes the new normal instead of being punished forever.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

#: Answers seen before rising latency is judged (the floor needs a few to mean anything).
_WARM_UP = 20
#: Weight of each new answer in the moving average (about the last 10 answers count).
_AVERAGE_WEIGHT = 0.1
_FLOOR_DRIFT = 1.001


@dataclass(slots=True)
class ThrottleStats:
    """What the throttle did, for metrics and the run report."""

    decreases: int = 0
    increases: int = 0
    rate_waits: int = 0
    waited_seconds: float = 0.0

    def add(self, other: ThrottleStats) -> None:
        """Add another throttle's counts to these (worker processes' throttles)."""
        self.decreases += other.decreases
        self.increases += other.increases
        self.rate_waits += other.rate_waits
        self.waited_seconds += other.waited_seconds


class AimdThrottle:
    """Concurrency limit that adapts to the cluster, and a rate cap; thread-safe."""

    def __init__(
        self,
        *,
        initial_concurrency: int = 32,
        min_concurrency: int = 1,
        max_concurrency: int = 256,
        increase_every: int = 50,
        decrease_factor: float = 0.5,
        cooldown: float = 1.0,
        latency_target: float | None = None,
        latency_rise: float | None = None,
        max_rows_per_second: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 1 <= min_concurrency <= initial_concurrency <= max_concurrency:
            raise ValueError("need 1 <= min_concurrency <= initial_concurrency <= max_concurrency")
        if not 0 < decrease_factor < 1:
            raise ValueError("decrease_factor must be between 0 and 1")
        if latency_rise is not None and latency_rise <= 1:
            raise ValueError("latency_rise must be above 1")
        if max_rows_per_second is not None and max_rows_per_second <= 0:
            raise ValueError("max_rows_per_second must be positive")
        self._lock = threading.Lock()
        self._limit = float(initial_concurrency)
        self.min_concurrency = min_concurrency
        self.max_concurrency = max_concurrency
        self.increase_every = increase_every
        self.decrease_factor = decrease_factor
        self.cooldown = cooldown
        self.latency_target = latency_target
        self.latency_rise = latency_rise
        self._latency_floor = math.inf
        self._latency_average: float | None = None
        self._latency_samples = 0
        self.max_rows_per_second = max_rows_per_second
        self._clock = clock
        self._successes = 0
        self._last_decrease = -math.inf
        self._tokens = max_rows_per_second or 0.0
        self._refilled = clock()
        self.stats = ThrottleStats()

    @property
    def concurrency(self) -> int:
        """Requests allowed in flight right now."""
        with self._lock:
            return int(self._limit)

    def on_success(self, latency: float | None = None) -> None:
        """A request succeeded (in ``latency`` seconds)."""
        target = self.latency_target
        if target is not None and latency is not None and latency > target:
            self.on_distress()
            return
        if latency is not None and self.latency_rise is not None and self._rising(latency):
            self.on_distress()
            return
        with self._lock:
            self._successes += 1
            if self._successes >= self.increase_every and self._limit < self.max_concurrency:
                self._successes = 0
                self._limit = min(self.max_concurrency, self._limit + 1)
                self.stats.increases += 1

    def _rising(self, latency: float) -> bool:
        """Whether recent answers are ``latency_rise`` times slower than the fastest seen."""
        with self._lock:
            self._latency_samples += 1
            # The floor drifts up 0.1% a sample: after ~700 slower answers it has doubled.
            self._latency_floor = min(self._latency_floor * _FLOOR_DRIFT, latency)
            average = self._latency_average
            average = (
                latency if average is None else average + _AVERAGE_WEIGHT * (latency - average)
            )
            self._latency_average = average
            if self._latency_samples < _WARM_UP:
                return False
            assert self.latency_rise is not None
            return average > self.latency_rise * self._latency_floor

    def on_distress(self) -> None:
        """A write timeout, an overload error or a slow answer: back off (once per cooldown)."""
        with self._lock:
            now = self._clock()
            if now - self._last_decrease < self.cooldown:
                return
            self._last_decrease = now
            self._successes = 0
            self._limit = max(float(self.min_concurrency), self._limit * self.decrease_factor)
            self.stats.decreases += 1

    def acquire_rows(self, rows: int) -> float:
        """Seconds to wait before sending ``rows`` rows under the rate cap (0: go now).

        The caller waits (it owns the clock's sleep); the tokens are spent either way, so
        concurrent callers queue up behind each other fairly.
        """
        if self.max_rows_per_second is None:
            return 0.0
        rate = self.max_rows_per_second
        with self._lock:
            now = self._clock()
            self._tokens = min(rate, self._tokens + (now - self._refilled) * rate)
            self._refilled = now
            self._tokens -= rows
            if self._tokens >= 0:
                return 0.0
            wait = -self._tokens / rate
            self.stats.rate_waits += 1
            self.stats.waited_seconds += wait
            return wait
