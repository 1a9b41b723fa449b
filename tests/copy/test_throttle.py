"""AIMD concurrency and the rows-per-second cap, on an injected clock."""

from __future__ import annotations

import pytest

from cassflow.copy import AimdThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_additive_increase_and_multiplicative_decrease() -> None:
    clock = Clock()
    throttle = AimdThrottle(
        initial_concurrency=16, max_concurrency=20, increase_every=10, cooldown=1.0, clock=clock
    )
    for _ in range(30):
        throttle.on_success()
    assert throttle.concurrency == 19
    throttle.on_distress()
    assert throttle.concurrency == 9
    throttle.on_distress()  # same burst, within the cooldown: no second cut
    assert throttle.concurrency == 9
    clock.now = 1.5
    throttle.on_distress()
    assert throttle.concurrency == 4
    for _ in range(1000):
        throttle.on_success()
    assert throttle.concurrency == 20  # capped at max_concurrency
    assert throttle.stats.decreases == 2
    assert throttle.stats.increases == 3 + 16


def test_never_below_the_minimum() -> None:
    clock = Clock()
    throttle = AimdThrottle(initial_concurrency=4, min_concurrency=2, cooldown=0, clock=clock)
    for step in range(10):
        clock.now = step
        throttle.on_distress()
    assert throttle.concurrency == 2


def test_slow_answers_count_as_distress() -> None:
    clock = Clock()
    throttle = AimdThrottle(initial_concurrency=10, latency_target=0.2, clock=clock)
    throttle.on_success(latency=0.05)
    assert throttle.concurrency == 10
    throttle.on_success(latency=0.5)
    assert throttle.concurrency == 5


def test_latency_rising_against_the_clusters_own_pace_is_distress() -> None:
    clock = Clock()
    throttle = AimdThrottle(
        initial_concurrency=64, latency_rise=3.0, cooldown=1.0, increase_every=1000, clock=clock
    )
    for _ in range(100):  # steady 10 ms answers: the normal pace, whatever it is
        throttle.on_success(latency=0.010)
    assert throttle.concurrency == 64
    for _ in range(5):  # a few slow answers move the average, but not past 3x
        throttle.on_success(latency=0.040)
    assert throttle.concurrency == 64
    for _ in range(20):  # a queue builds up: answers take 10x as long
        throttle.on_success(latency=0.100)
    assert throttle.concurrency == 32
    assert throttle.stats.decreases == 1  # one burst, one cut (cooldown)


def test_a_cluster_that_gets_slower_for_good_becomes_the_new_pace() -> None:
    clock = Clock()
    throttle = AimdThrottle(initial_concurrency=64, latency_rise=3.0, cooldown=0.0, clock=clock)
    for _ in range(50):
        throttle.on_success(latency=0.010)
    for step in range(3000):  # from now on every answer takes 50 ms
        clock.now = step
        throttle.on_success(latency=0.050)
    assert throttle.stats.decreases > 0  # it backed off at first...
    before = throttle.stats.decreases
    for step in range(3000, 3100):
        clock.now = step
        throttle.on_success(latency=0.050)
    assert throttle.stats.decreases == before  # ...and then took 50 ms as normal


def test_rate_cap_spreads_rows_over_time() -> None:
    clock = Clock()
    throttle = AimdThrottle(max_rows_per_second=1000, clock=clock)
    assert throttle.acquire_rows(1000) == 0.0  # the bucket starts full
    wait = throttle.acquire_rows(500)
    assert wait == pytest.approx(0.5)
    clock.now = 0.5
    assert throttle.acquire_rows(0) == 0.0  # the debt is paid after waiting
    clock.now = 1.0
    assert throttle.acquire_rows(500) == 0.0
    assert throttle.stats.rate_waits == 1
    assert throttle.stats.waited_seconds == pytest.approx(0.5)


def test_no_cap_means_no_wait() -> None:
    assert AimdThrottle().acquire_rows(10**9) == 0.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial_concurrency": 0},
        {"initial_concurrency": 10, "max_concurrency": 5},
        {"decrease_factor": 1.5},
        {"max_rows_per_second": 0},
        {"latency_rise": 1.0},
    ],
)
def test_invalid_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is the settings' own
        AimdThrottle(**kwargs)  # type: ignore[arg-type]
