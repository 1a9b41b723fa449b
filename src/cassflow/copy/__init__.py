"""The copy engine: sources and sinks, slices, batching, throttling, retries, checkpoints.

Landed so far: retry decisions by exception class with exponential backoff and full jitter
(:mod:`._retry`), and adaptive AIMD throttling with a hard rate cap (:mod:`._throttle`).
"""

from cassflow.copy._retry import (
    Backoff,
    ErrorClass,
    RetryExhaustedError,
    classify_error,
    retry,
)
from cassflow.copy._throttle import AimdThrottle, ThrottleStats

__all__ = [
    "AimdThrottle",
    "Backoff",
    "ErrorClass",
    "RetryExhaustedError",
    "ThrottleStats",
    "classify_error",
    "retry",
]
