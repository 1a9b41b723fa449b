"""A sink's per-request metrics, recorded in a worker process and replayed in the parent.

Worker processes have no Prometheus registry the parent serves or pushes. A worker's sink is
given a :class:`SinkEventRecorder` instead of a :class:`~cassflow.observe.SinkMetrics`: it
records each observation as a small tuple; the worker ships them with each chunk's counts;
the parent hands them to :func:`replay`, which makes the same calls on its own metrics, so
histograms and counters come out as if the requests had been made in the parent. In-flight
gauges are per process: the parent sums the latest value of each worker.
"""

from __future__ import annotations

import threading
from typing import Protocol

__all__ = ["SinkEventRecorder", "SinkObserver", "replay"]


class _Observes(Protocol):
    def observe(self, amount: float) -> None: ...


class _Sets(Protocol):
    def set(self, value: float) -> None: ...


class _Counts(Protocol):
    def inc(self, amount: float = 1) -> None: ...


class SinkObserver(Protocol):
    """What a sink reports per request (:class:`~cassflow.observe.SinkMetrics` is one)."""

    @property
    def in_flight(self) -> _Sets: ...

    @property
    def batch_rows(self) -> _Observes: ...

    @property
    def write_seconds(self) -> _Observes: ...

    @property
    def retries(self) -> _Counts: ...

    def error(self, error_class: str, exception: str) -> None:
        """Count one failed request."""


#: A recorded observation: ("write_seconds" | "batch_rows" | "in_flight" | "retries", number)
#: or ("error", error class, exception name).
Event = tuple[str, float] | tuple[str, str, str]


class _Recorder:
    def __init__(self, owner: SinkEventRecorder, name: str) -> None:
        self._owner = owner
        self._name = name

    def observe(self, amount: float) -> None:
        self._owner.record((self._name, amount))

    def set(self, value: float) -> None:
        self._owner.record((self._name, value))

    def inc(self, amount: float = 1) -> None:
        self._owner.record((self._name, amount))


class SinkEventRecorder:
    """A :class:`SinkObserver` that records; :meth:`drain` takes what was recorded."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self.in_flight = _Recorder(self, "in_flight")
        self.batch_rows = _Recorder(self, "batch_rows")
        self.write_seconds = _Recorder(self, "write_seconds")
        self.retries = _Recorder(self, "retries")

    def error(self, error_class: str, exception: str) -> None:
        """Record one failed request."""
        self.record(("error", error_class, exception))

    def record(self, event: Event) -> None:
        """Keep one observation until the next :meth:`drain`."""
        with self._lock:
            self._events.append(event)

    def drain(self) -> list[Event]:
        """The observations recorded since the last call."""
        with self._lock:
            events, self._events = self._events, []
        return events


def replay(events: list[Event], observer: SinkObserver) -> float | None:
    """Make the recorded calls on ``observer``, except in-flight values: the last of those
    is returned (None if there was none), for the caller to sum over workers."""
    in_flight = None
    for event in events:
        name = event[0]
        if len(event) == 3:  # ("error", error class, exception name)
            observer.error(str(event[1]), str(event[2]))
            continue
        amount = float(event[1])
        if name == "in_flight":
            in_flight = amount
        elif name == "write_seconds":
            observer.write_seconds.observe(amount)
        elif name == "batch_rows":
            observer.batch_rows.observe(amount)
        elif name == "retries":
            observer.retries.inc(amount)
    return in_flight
