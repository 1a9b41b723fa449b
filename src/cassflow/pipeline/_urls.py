"""URL-style datasets for one-off copies (``cassflow copy SRC DST``).

* ``cassandra://<connection>/<keyspace>.<table>``: a table; ``--from-option`` /
  ``--to-option`` set its dataset settings (``batch_size=64``, ``batch_mode=replica``, ...).
  ``<connection>`` names a connection of the ``--connections`` file; a name that is not there
  but looks like an address
  (``10.0.0.5``, ``db.example.com:9042``, ``localhost``) is a cluster without credentials;
  any other name is an embedded dev server of that name (data kept under the state directory).
  Such an implied connection is bound to the URL's keyspace; when both URLs of one copy imply
  the same connection with different keyspaces, it is bound to the target's and may read the
  source's (pass the same ``implied`` set to both calls, source first).
* ``postgresql://...#<table>``, ``sqlite:///path.db#<table>``, ``mysql+pymysql://...#<table>``:
  a SQL table (the fragment names it), or a query given with ``--query``. Put the password in
  as ``${secret:env:PGPASSWORD}``, not in clear.
* anything else: files, by path, directory or glob, local or ``s3://``/``az://``/``gs://``;
  the format comes from the extension (``.csv``, ``.jsonl``/``.ndjson``, ``.parquet``), or from
  ``--from-format``/``--to-format`` for directories.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

from cassflow.copy._model import CopyError
from cassflow.copy._report import redact
from cassflow.pipeline._spec import (
    ConnectionSpec,
    DatasetSpec,
    FileDatasetSpec,
    SqlDatasetSpec,
    TableDatasetSpec,
)

_SQL_SCHEMES = ("postgresql", "postgres", "sqlite", "mysql", "mariadb", "mssql", "oracle")
_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
_ADDRESS = re.compile(r"^(localhost|[\d.]+|\[[0-9a-fA-F:]+\]|[\w-]+(\.[\w-]+)+)(:\d+)?$")


def _format_of(path: str, given: str | None) -> str:
    if given:
        return given
    name = PurePosixPath(path.rstrip("/")).name.lower()
    for suffix in (".gz", ".bz2", ".zst", ".xz"):
        name = name.removesuffix(suffix)
    for extension, fmt in _FORMATS.items():
        if name.endswith(extension):
            return fmt
    raise CopyError(
        f"cannot tell the format of {path!r} from its name; say --from-format/--to-format "
        "(csv, jsonl, parquet)"
    )


def dataset_from_url(
    url: str,
    *,
    connections: dict[str, ConnectionSpec],
    file_format: str | None = None,
    options: dict[str, Any] | None = None,
    storage: dict[str, Any] | None = None,
    query: str | None = None,
    implied: set[str] | None = None,
) -> DatasetSpec:
    """The dataset ``url`` stands for; a connection it implies is added to ``connections``
    and its name to ``implied`` (see the module docstring)."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme == "cassandra":
        return _table(url, connections, options or {}, implied)
    if scheme.split("+", 1)[0] in _SQL_SCHEMES:
        base, _, table = url.partition("#")
        if not table and query is None:
            raise CopyError(
                f"{_hide(url)}: name the table after '#' (postgresql://host/db#orders) "
                "or give --query"
            )
        return SqlDatasetSpec(url=base, table=table or None, query=query)
    return FileDatasetSpec(
        format=_format_of(url, file_format),  # type: ignore[arg-type]
        path=url,
        options=options or {},
        storage=storage or {},
    )


def _table(
    url: str,
    connections: dict[str, ConnectionSpec],
    options: dict[str, Any],
    implied: set[str] | None,
) -> TableDatasetSpec:
    rest = url.split("://", 1)[1]
    name, _, path = rest.partition("/")
    keyspace, dot, table = path.partition(".")
    if not name or not dot or not keyspace or not table:
        raise CopyError(f"{url}: expected cassandra://<connection>/<keyspace>.<table>")
    if name in connections and (implied is None or name not in implied):
        connection = name  # a connection of the file (or of an earlier, separate call)
    else:
        if _ADDRESS.match(name) and name not in connections:
            host, _, port = name.rpartition(":") if name.count(":") == 1 else (name, "", "")
            connection = "host_" + re.sub(r"\W", "_", name)
            spec = ConnectionSpec(
                hosts=[host.strip("[]")], port=int(port or 9042), keyspace=keyspace
            )
        else:
            connection = name
            spec = ConnectionSpec(keyspace=keyspace)
        _imply(connections, connection, spec, implied)
    # --from-option / --to-option set the table dataset's settings (batch_size, consistency...).
    return TableDatasetSpec.model_validate(
        {**options, "connection": connection, "table": table, "keyspace": keyspace}
    )


def _imply(
    connections: dict[str, ConnectionSpec],
    name: str,
    spec: ConnectionSpec,
    implied: set[str] | None,
) -> None:
    """Add an implied connection, or rebind one an earlier URL of the same copy implied: to
    this (later: the target's) keyspace, the earlier one kept readable."""
    before = connections.get(name)
    if before is not None and before.keyspace != spec.keyspace:
        readable = sorted({*before.read_keyspaces, before.keyspace} - {spec.keyspace})
        spec = before.model_copy(update={"keyspace": spec.keyspace, "read_keyspaces": readable})
    elif before is not None:
        spec = before
    connections[name] = spec
    if implied is not None:
        implied.add(name)


def _hide(url: str) -> str:
    return redact(url)
