"""Pipelines: the YAML file (connections, datasets, activities), validated and run.

:func:`load_pipeline` reads and validates a pipeline file (errors point at file:line:column);
:class:`PipelineRunner` runs it in this process, activity by activity, checkpointed and
resumable, and returns a :class:`PipelineReport`. ``cassflow run`` is a thin shell around it.
"""

from cassflow.pipeline._loader import PipelineError, load_connections, load_pipeline
from cassflow.pipeline._run import ActivityOutcome, PipelineReport, PipelineRunner
from cassflow.pipeline._spec import (
    ActivitySpec,
    AuthSpec,
    ConnectionSpec,
    CopySpec,
    CqlSpec,
    FileDatasetSpec,
    PipelineSpec,
    SqlDatasetSpec,
    TableDatasetSpec,
    WaitSpec,
    parse_duration,
)

__all__ = [
    "ActivityOutcome",
    "ActivitySpec",
    "AuthSpec",
    "ConnectionSpec",
    "CopySpec",
    "CqlSpec",
    "FileDatasetSpec",
    "PipelineError",
    "PipelineReport",
    "PipelineRunner",
    "PipelineSpec",
    "SqlDatasetSpec",
    "TableDatasetSpec",
    "WaitSpec",
    "load_connections",
    "load_pipeline",
    "parse_duration",
]
