"""What :class:`~cassflow.airflow.CassandraCopyOperator` checks and declares at DAG-parse time.

A DAG file is parsed far more often than its tasks run, so this stays cheap: the copy settings
are checked against the pipeline's :class:`~cassflow.pipeline.CopySpec` without any network or
connection lookup, and the asset URIs of the source and target need nothing but the Airflow
connection's fields (host, port, keyspace), read through Airflow's secrets backends.

Relative file paths are relative to the folder of the DAG file (``dag.folder``), both here and
when the task runs: the same DAG file then reads the same files wherever it is deployed, as
the ``.cql`` files Airflow's templating finds next to it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from cassflow.airflow._assets import dataset_uri
from cassflow.airflow._datasets import Datasets, SpecReader
from cassflow.pipeline._spec import CopySpec, DatasetSpec, FileDatasetSpec

#: Copy settings the operator takes as parameters of their own, not in ``copy_options``.
OWN_PARAMETERS = frozenset({"max_errors", "columns", "schema_drift", "verify"})
#: What ``copy_options`` may hold: every other setting of a pipeline's copy activity.
COPY_OPTIONS = frozenset(
    name for name in CopySpec.model_fields if name not in {"source", "target", *OWN_PARAMETERS}
)


class CopySettingsError(ValueError):
    """An operator's copy settings are not what a copy activity takes (names the parameter)."""


def templated(value: Any) -> bool:
    """Whether ``value`` (a string, or a dict/list holding strings) still holds Jinja."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, Mapping):
        return any(templated(k) or templated(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(templated(v) for v in value)
    return False


def copy_settings(
    *,
    max_errors: int | str,
    columns: Mapping[str, str] | None,
    schema_drift: str,
    verify: bool,
    copy_options: Mapping[str, Any] | None,
    own: Mapping[str, Any] | None = None,
    refused: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The copy activity's settings, checked as far as they are known (templated values are
    checked when the task runs); errors name the operator's parameter. ``own`` holds more
    settings the operator takes as parameters of their own (None: not given); ``refused``
    names ``copy_options`` keys the operator cannot use, with the reason."""
    own = {k: v for k, v in (own or {}).items() if v is not None}
    options = dict(copy_options or {})
    for name, reason in (refused or {}).items():
        if name in options:
            raise CopySettingsError(f"copy_options: {name} does not apply: {reason}")
    parameters = OWN_PARAMETERS | set(own)
    unknown = sorted(set(options) - (COPY_OPTIONS - parameters))
    if unknown:
        mine = [name for name in unknown if name in parameters]
        hint = f" ({', '.join(mine)}: a parameter of its own)" if mine else ""
        raise CopySettingsError(
            f"copy_options: unknown key(s) {', '.join(unknown)}{hint}; expected some of "
            f"{', '.join(sorted(COPY_OPTIONS - parameters))}"
        )
    settings: dict[str, Any] = {
        "max_errors": max_errors,
        "columns": dict(columns) if columns is not None else None,
        "schema_drift": schema_drift,
        "verify": verify,
        **own,
        **options,
    }
    check(settings, parameters)
    return settings


def check(settings: Mapping[str, Any], parameters: frozenset[str] = OWN_PARAMETERS) -> None:
    """Validate ``settings`` (its untemplated values) as a copy activity's; ``parameters``
    are the settings that are operator parameters of their own (the rest is copy_options)."""
    known = {k: v for k, v in settings.items() if not templated(v)}
    try:
        CopySpec.model_validate({**known, "from": "source", "to": "target"})
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            field = str(error["loc"][0]) if error["loc"] else "copy"
            where = field if field in parameters else f"copy_options[{field!r}]"
            problems.append(f"{where}: {error['msg']}")
        raise CopySettingsError("; ".join(problems)) from None


def asset_uris(
    source: str | Mapping[str, Any],
    target: str | Mapping[str, Any],
    *,
    read_spec: SpecReader,
    base_dir: str | None,
) -> tuple[str, str]:
    """The asset URIs of ``source`` and ``target``. Cassandra tables need their Airflow
    connection's host and port: ``read_spec`` looks them up; ``base_dir`` is the DAG file's
    folder (None: not known, and then a relative path is an error)."""
    datasets = Datasets(read_spec=read_spec)
    specs = [datasets.dataset(source, "source"), datasets.dataset(target, "target")]
    uris = []
    for role, spec in zip(("source", "target"), specs, strict=True):
        _need_folder(role, spec, base_dir)
        uris.append(dataset_uri(spec, datasets.connections, base_dir=base_dir or "."))
    return uris[0], uris[1]


def _need_folder(role: str, spec: DatasetSpec, base_dir: str | None) -> None:
    if base_dir is not None or not isinstance(spec, FileDatasetSpec):
        return
    if "://" in spec.path or os.path.isabs(spec.path):
        return
    raise CopySettingsError(
        f"{role}: {spec.path!r} is a relative path, relative to the DAG file's folder, but the "
        "operator is not in a DAG yet: create it inside the DAG, or give an absolute path"
    )
