"""What each connection of a pipeline needs to be granted, from the pipeline's plain data.

The input is a mapping shaped like ``PipelineSpec.model_dump(by_alias=True)`` (connections,
datasets, activities, checkpoints), so this module needs nothing of ``cassflow.pipeline``:

* a copy reads its source table (SELECT) and writes its target table (MODIFY; ALTER as well
  when ``schema_drift: add_columns`` may add columns; SELECT as well with ``verify``);
* the checkpoint table, when the pipeline keeps its checkpoints in Cassandra: SELECT and
  MODIFY on it, and CREATE on its keyspace (the runner creates the table);
* a cql activity: what each of its statements needs (:func:`cassflow.access._grants.
  script_grants`), unqualified names read in the connection's keyspace.

Wait activities read system tables only, which every role may read.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from cassflow.access._grants import (
    Grant,
    GrantsError,
    keyspace_grant,
    script_grants,
    table_grant,
    unique,
)
from cassflow.cql import Permission


def _get(item: Mapping[str, Any], *names: str) -> Any:
    """The first of ``names`` present (aliases: ``copy``/``copy_``, ``from``/``source``)."""
    for name in names:
        if item.get(name) is not None:
            return item[name]
    return None


def _table_dataset(pipeline: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    dataset = (pipeline.get("datasets") or {}).get(name)
    if isinstance(dataset, Mapping) and "connection" in dataset and "table" in dataset:
        return dataset
    return None


def _keyspace(pipeline: Mapping[str, Any], connection: str, keyspace: str | None) -> str:
    if keyspace:
        return keyspace
    try:
        return str(pipeline["connections"][connection]["keyspace"])
    except (KeyError, TypeError):
        raise GrantsError(f"pipeline names unknown connection {connection!r}") from None


class _Collector:
    def __init__(self) -> None:
        self.by_connection: dict[str, list[Grant]] = {}

    def add(self, connection: str, *grants: Grant) -> None:
        self.by_connection.setdefault(connection, []).extend(grants)

    def table(self, pipeline: Mapping[str, Any], dataset: Mapping[str, Any], *perms: Any) -> None:
        connection = str(dataset["connection"])
        keyspace = _keyspace(pipeline, connection, dataset.get("keyspace"))
        self.add(connection, *(table_grant(p, keyspace, str(dataset["table"])) for p in perms))


def checkpoint_grants(pipeline: Mapping[str, Any]) -> dict[str, list[Grant]]:
    """The grants the pipeline's Cassandra checkpoint table needs, by connection ({} when the
    checkpoints live in a local file)."""
    checkpoints = pipeline.get("checkpoints")
    if not checkpoints:
        return {}
    connection = str(checkpoints["connection"])
    keyspace = _keyspace(pipeline, connection, checkpoints.get("keyspace"))
    table = str(checkpoints.get("table") or "cassflow_checkpoints")
    return {
        connection: [
            table_grant(Permission.SELECT, keyspace, table),
            table_grant(Permission.MODIFY, keyspace, table),
            keyspace_grant(Permission.CREATE, keyspace),
        ]
    }


def pipeline_grants(
    pipeline: Mapping[str, Any],
    *,
    base_dir: str | Path | None = None,
    activities: Collection[str] | None = None,
) -> dict[str, list[Grant]]:
    """The grants each connection needs to run ``activities`` (default: all) of a pipeline,
    by connection name, in the order the activities first need them.

    ``base_dir`` is where relative ``cql.file`` paths are read from (the pipeline file's
    directory; default: the current one). Connections that need nothing are left out.
    """
    known = [str(a.get("name")) for a in pipeline.get("activities") or []]
    unknown = sorted(set(activities or ()) - set(known))
    if unknown:
        raise GrantsError(
            f"pipeline has no activity {unknown[0]!r} (it has: {', '.join(known) or 'none'})"
        )
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    found = _Collector()
    uses_checkpoints = False
    for activity in pipeline.get("activities") or []:
        name = str(activity.get("name"))
        if activities is not None and name not in activities:
            continue
        copy = _get(activity, "copy", "copy_")
        cql = activity.get("cql")
        if copy is not None:
            uses_checkpoints = True
            _copy_grants(found, pipeline, copy)
        elif cql is not None:
            uses_checkpoints = True  # a cql activity records its progress too
            connection = str(cql["connection"])
            keyspace = _keyspace(pipeline, connection, None)
            text, origin = _cql_text(name, cql, base)
            found.add(connection, *script_grants(text, keyspace, origin=origin))
    if uses_checkpoints:
        for connection, grants in checkpoint_grants(pipeline).items():
            found.add(connection, *grants)
    return {name: unique(grants) for name, grants in found.by_connection.items() if grants}


def _copy_grants(found: _Collector, pipeline: Mapping[str, Any], copy: Mapping[str, Any]) -> None:
    source = _table_dataset(pipeline, str(_get(copy, "from", "source")))
    target = _table_dataset(pipeline, str(_get(copy, "to", "target")))
    if source is not None:
        found.table(pipeline, source, Permission.SELECT)
    if target is not None:
        found.table(pipeline, target, Permission.MODIFY)
        if copy.get("schema_drift") == "add_columns":
            found.table(pipeline, target, Permission.ALTER)
        if copy.get("verify"):
            found.table(pipeline, target, Permission.SELECT)


def _cql_text(name: str, cql: Mapping[str, Any], base: Path) -> tuple[str, str]:
    if cql.get("file"):
        path = Path(str(cql["file"]))
        path = path if path.is_absolute() else base / path
        try:
            return path.read_text(encoding="utf-8"), str(path)
        except OSError as exc:
            raise GrantsError(f"activity {name}: cannot read {path}: {exc.strerror}") from None
    return ";\n".join(str(s) for s in cql.get("statements") or []), f"activity {name}"


def activity_grants(
    pipeline: Mapping[str, Any],
    activity: str,
    *,
    connection: str | None = None,
    base_dir: str | Path | None = None,
) -> list[Grant]:
    """Everything one activity needs, on ``connection`` only or on every connection it uses:
    the grants a lease for that activity's task holds. Raises :class:`GrantsError` when
    the activity needs no Cassandra permission (there is nothing to issue)."""
    needs = pipeline_grants(pipeline, base_dir=base_dir, activities=[activity])
    if connection is not None:
        if connection not in (pipeline.get("connections") or {}):
            raise GrantsError(f"the pipeline has no connection called {connection!r}")
        needs = {connection: needs.get(connection, [])}
    grants = unique(g for found in needs.values() for g in found)
    if not grants:
        where = "" if connection is None else f" on connection {connection!r}"
        raise GrantsError(f"activity {activity!r} needs no Cassandra permissions{where}")
    return grants
