"""Cassandra's response warnings, logged once per kind instead of once per request.

Cassandra sends a warning back with every request that crosses one of its thresholds (a batch
over ``batch_size_warn_threshold``, an unlogged batch over
``unlogged_batch_across_partitions_warn_threshold`` partitions, a read over
``tombstone_warn_threshold`` tombstones...), and the driver logs each one ("Server warning:
..."). A bulk copy makes the same request a million times: the log would hold a million lines
saying one thing. :class:`RepeatedServerWarnings` lets the first of each kind through and
counts the rest; :meth:`~RepeatedServerWarnings.summary` says how many were held back.
"""

from __future__ import annotations

import logging
import re
import threading

__all__ = ["DRIVER_LOGGER", "RepeatedServerWarnings", "quiet_negotiation"]

#: The driver's logger of response warnings.
DRIVER_LOGGER = "cassandra.protocol"
_PREFIX = "Server warning: "
# Numbers (sizes, counts, partition keys) vary between requests; the kind is the rest.
_NUMBERS = re.compile(r"\d+(?:\.\d+)?")


class RepeatedServerWarnings(logging.Filter):
    """A logging filter for :data:`DRIVER_LOGGER`: each kind of server warning passes once."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a server warning whose kind was logged already (it is counted)."""
        message = record.getMessage()
        if not message.startswith(_PREFIX):
            return True
        kind = _NUMBERS.sub("N", message[len(_PREFIX) :])
        with self._lock:
            count = self._counts.get(kind, 0) + 1
            self._counts[kind] = count
        return count == 1

    @property
    def counts(self) -> dict[str, int]:
        """How many warnings of each kind arrived (numbers in the text replaced by ``N``)."""
        with self._lock:
            return dict(self._counts)

    def summary(self) -> str | None:
        """One line on the warnings held back, or None if none were."""
        repeats = {kind: n - 1 for kind, n in self.counts.items() if n > 1}
        if not repeats:
            return None
        total = sum(repeats.values())
        kinds = "; ".join(f"{n:,} x {kind}" for kind, n in repeats.items())
        return f"{total:,} more server warnings of the kinds logged above were not logged: {kinds}"


def quiet_negotiation(record: logging.LogRecord) -> bool:
    """A filter for ``cassandra.cluster``: drops the driver's warning that it negotiated a
    lower protocol version (without a configured ``protocol_version`` that is how it finds the
    cluster's, not a problem)."""
    return not record.getMessage().startswith("Downgrading core protocol version")
