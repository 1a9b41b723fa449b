"""The copy engine: sources and sinks, slices, batching, throttling, retries, checkpoints.

A :class:`CopyRun` moves rows from a source (:class:`FileSource`, :class:`CassandraSource`,
:class:`SqlSource`) to a sink (:class:`FileSink`, :class:`CassandraSink`, :class:`SqlSink`)
slice by slice, in worker threads; each slice is retried on transient errors (by exception
class, exponential backoff with full jitter) and checkpointed (:class:`SqliteCheckpointStore`,
or :class:`CassandraCheckpointStore` shared by workers), so a run resumes where it stopped.
Bad records go to the :class:`Quarantine`; the :class:`RunReport` adds up exactly. Writes to
Cassandra adapt their concurrency with an :class:`AimdThrottle`. Heavy libraries (pyarrow,
fsspec, SQLAlchemy) are imported when a dataset of theirs is opened.
"""

from cassflow.copy._cassandra import CassandraSink, CassandraSource
from cassflow.copy._checkpoint import (
    CheckpointError,
    CheckpointStore,
    SliceCounts,
    SliceRecord,
    SliceState,
    SqliteCheckpointStore,
    new_run_id,
)
from cassflow.copy._checkpoint_cassandra import CassandraCheckpointStore
from cassflow.copy._connect import CassandraConnection
from cassflow.copy._files import FileSink, FileSource
from cassflow.copy._model import (
    BadRecord,
    Chunk,
    ConversionError,
    CopyError,
    Drift,
    DriftPolicy,
    Field,
    Sink,
    SliceWriter,
    Source,
    WriteResult,
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
from cassflow.copy._runner import CopyOptions, CopyRun, Progress
from cassflow.copy._slicing import TokenRange, token_ranges
from cassflow.copy._sql import SqlSink, SqlSource
from cassflow.copy._throttle import AimdThrottle, ThrottleStats

__all__ = [
    "AimdThrottle",
    "Backoff",
    "BadRecord",
    "CassandraCheckpointStore",
    "CassandraConnection",
    "CassandraSink",
    "CassandraSource",
    "CheckpointError",
    "CheckpointStore",
    "Chunk",
    "ConversionError",
    "CopyError",
    "CopyOptions",
    "CopyRun",
    "Drift",
    "DriftPolicy",
    "ErrorClass",
    "Field",
    "FileSink",
    "FileSource",
    "Progress",
    "Quarantine",
    "RetryExhaustedError",
    "RunReport",
    "Sink",
    "SliceCounts",
    "SliceRecord",
    "SliceState",
    "SliceWriter",
    "Source",
    "SqlSink",
    "SqlSource",
    "SqliteCheckpointStore",
    "ThrottleStats",
    "TokenRange",
    "WriteResult",
    "classify_error",
    "new_run_id",
    "redact",
    "retry",
    "token_ranges",
]
