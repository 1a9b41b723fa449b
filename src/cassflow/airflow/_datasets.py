"""An operator's ``source`` and ``target`` as the datasets and connections of a pipeline.

A dataset is given as ``cassflow copy`` takes it, or as a pipeline file's ``datasets:`` entry:

* ``"cassandra://<conn_id>/<keyspace>.<table>"`` (or ``.../<table>``: the connection's
  keyspace), or ``{"connection": "<conn_id>", "table": ..., ...}`` with any table dataset
  setting: a Cassandra table reached through the Airflow connection ``conn_id``, bound to that
  keyspace;
* ``"postgresql+psycopg://user:${secret:airflow:pg#password}@host/db#orders"`` (a SQLAlchemy
  URL, the table after ``#``), or ``{"url": ..., "table" | "query": ...}``;
* a path, directory or glob (``data/*.csv``, ``s3://bucket/out/``), or
  ``{"format": "csv", "path": ..., "options": {...}, "storage": {...}}``.

:func:`copy_pipeline` wraps two datasets in a one-activity :class:`PipelineSpec`, so that an
operator runs exactly what ``cassflow run`` would: the same checkpoints, quarantine, report,
keyspace guard and dynamic credentials.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from cassflow.copy._model import CopyError
from cassflow.pipeline._spec import (
    CheckpointsSpec,
    ConnectionSpec,
    DatasetSpec,
    PipelineSpec,
    TableDatasetSpec,
)
from cassflow.pipeline._urls import dataset_from_url

#: Reads an Airflow connection as a connection spec bound to a keyspace (None: its own).
SpecReader = Callable[[str, str | None], ConnectionSpec]

_DATASET: TypeAdapter[DatasetSpec] = TypeAdapter(DatasetSpec)
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass
class Datasets:
    """Datasets named in one operator, and the connections they use (by pipeline name)."""

    read_spec: SpecReader
    connections: dict[str, ConnectionSpec] = field(default_factory=dict)
    #: Pipeline connection name -> the Airflow connection id it was read from.
    conn_ids: dict[str, str] = field(default_factory=dict)

    def dataset(self, value: str | Mapping[str, Any], role: str) -> DatasetSpec:
        """The dataset ``value`` stands for (``role``, "source" or "target", names it in
        errors); the Airflow connections it uses are read into :attr:`connections`."""
        if isinstance(value, str):
            if value.lower().startswith("cassandra://"):
                return self._table_url(value, role)
            try:
                return dataset_from_url(value, connections={})
            except CopyError as exc:
                raise CopyError(f"{role}: {exc}") from None
        data = dict(value)
        if "connection" in data:
            conn_id = str(data.pop("connection"))
            keyspace = data.get("keyspace")
            data["connection"] = self._connection(conn_id, keyspace)
            data.pop("keyspace", None)
        try:
            return _DATASET.validate_python(data)
        except ValidationError as exc:
            raise CopyError(f"{role}: {_problems(exc)}") from None

    def _table_url(self, url: str, role: str) -> TableDatasetSpec:
        rest = url.split("://", 1)[1]
        conn_id, _, path = rest.partition("/")
        keyspace, dot, table = path.rpartition(".")
        if not conn_id or not table or (dot and not keyspace) or "/" in path:
            raise CopyError(
                f"{role}: {url}: expected cassandra://<conn_id>/<keyspace>.<table> "
                "or cassandra://<conn_id>/<table>"
            )
        name = self._connection(conn_id, keyspace or None)
        return TableDatasetSpec(connection=name, table=table)

    def _connection(self, conn_id: str, keyspace: str | None) -> str:
        """The pipeline name of Airflow connection ``conn_id`` bound to ``keyspace``."""
        spec = self.read_spec(conn_id, keyspace)
        base = name = pipeline_name(conn_id)
        taken = self.connections.get(name)
        if taken is not None and taken.keyspace != spec.keyspace:
            name = f"{base}-{_UNSAFE.sub('_', spec.keyspace)}"
        self.connections[name] = spec
        self.conn_ids[name] = conn_id
        return name


def with_default_connection(
    value: str | Mapping[str, Any], conn_id: str
) -> str | Mapping[str, Any]:
    """A table dataset dict that names no ``connection`` (and is no SQL ``url``) uses
    ``conn_id``; anything else is returned as it is."""
    if isinstance(value, str) or "table" not in value or "url" in value or "connection" in value:
        return value
    return {**value, "connection": conn_id}


def copy_pipeline(
    name: str,
    activity: str,
    datasets: Datasets,
    source: DatasetSpec,
    target: DatasetSpec,
    copy: Mapping[str, Any],
    checkpoints: CheckpointsSpec | None = None,
) -> PipelineSpec:
    """A pipeline of one copy activity ``activity`` from ``source`` to ``target``; ``copy``
    holds the activity's settings (``max_errors``, ``columns``, ``workers``, ...)."""
    data: dict[str, Any] = {
        "name": pipeline_name(name),
        "connections": datasets.connections,
        "datasets": {"source": source, "target": target},
        "activities": [
            {"name": activity, "copy": {**copy, "from": "source", "to": "target"}},
        ],
        "checkpoints": checkpoints,
    }
    try:
        return PipelineSpec.model_validate(data)
    except ValidationError as exc:
        raise CopyError(_problems(exc)) from None


def pipeline_name(text: str) -> str:
    """``text`` made a valid pipeline, activity or connection name."""
    cleaned = _UNSAFE.sub("_", text)
    return cleaned if re.match(r"[A-Za-z_]", cleaned) else f"_{cleaned}"


def _problems(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in error['loc']) or 'value'}: {error['msg']}"
        for error in exc.errors(include_input=False, include_url=False)
    )
