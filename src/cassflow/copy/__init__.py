"""The copy engine: sources and sinks, slices, batching, throttling, retries, checkpoints.

Landed so far: retry decisions by exception class with exponential backoff and full jitter
(:mod:`._retry`); adaptive AIMD throttling with a hard rate cap (:mod:`._throttle`); the
SQLite checkpoint store that makes runs resumable (:mod:`._checkpoint`); the quarantine file
of records that could not be written (:mod:`._quarantine`); and the run report, which adds up
and hides passwords (:mod:`._report`); Cassandra tables cut into token-range slices
(:mod:`._slicing`).
"""

from cassflow.copy._checkpoint import (
    CheckpointError,
    CheckpointStore,
    SliceCounts,
    SliceRecord,
    SliceState,
    SqliteCheckpointStore,
    new_run_id,
)
from cassflow.copy._quarantine import Quarantine
from cassflow.copy._report import RunReport, redact
from cassflow.copy._retry import (
    Backoff,
    ErrorClass,
    RetryExhaustedError,
    classify_error,
    retry,
)
from cassflow.copy._slicing import TokenRange, token_ranges
from cassflow.copy._throttle import AimdThrottle, ThrottleStats

__all__ = [
    "AimdThrottle",
    "Backoff",
    "CheckpointError",
    "CheckpointStore",
    "ErrorClass",
    "Quarantine",
    "RetryExhaustedError",
    "RunReport",
    "SliceCounts",
    "SliceRecord",
    "SliceState",
    "SqliteCheckpointStore",
    "ThrottleStats",
    "TokenRange",
    "classify_error",
    "new_run_id",
    "redact",
    "retry",
    "token_ranges",
]
