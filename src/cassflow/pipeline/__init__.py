"""Pipelines: the YAML file (connections, datasets, activities), validated.

The local runner and the sensors come with the copy engine; for now this package reads and
validates pipeline files (:func:`load_pipeline`).
"""

from cassflow.pipeline._loader import PipelineError, load_connections, load_pipeline
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
    "ActivitySpec",
    "AuthSpec",
    "ConnectionSpec",
    "CopySpec",
    "CqlSpec",
    "FileDatasetSpec",
    "PipelineError",
    "PipelineSpec",
    "SqlDatasetSpec",
    "TableDatasetSpec",
    "WaitSpec",
    "load_connections",
    "load_pipeline",
    "parse_duration",
]
