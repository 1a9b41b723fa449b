"""Round trips of every CQL type the cluster holds: table -> CSV / JSON Lines / Parquet ->
table -> each format again, exact.

One pipeline does it all: the source table (written through the driver, with edge values:
nulls, extremes, empty strings, text with quotes and line breaks, pre-1970 timestamps, dates
beyond Python's range, negative durations, nested collections) is exported to each format,
each export is loaded into a table of its own, and each of those tables is exported to each
format. Every loaded table must equal the source row for row, and every second-generation
export must hold exactly what the first-generation export of that format holds.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import math
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest
from cassandra.cluster import Session
from cassandra.util import Date, Duration, Time

from cassflow.pipeline import PipelineSpec
from cassflow.pipeline._run import PipelineRunner
from commands import connection_spec

FORMATS = ("csv", "jsonl", "parquet")

COLUMNS = {
    "id": "int",
    "a_ascii": "ascii",
    "a_bigint": "bigint",
    "a_blob": "blob",
    "a_boolean": "boolean",
    "a_date": "date",
    "a_decimal": "decimal",
    "a_double": "double",
    "a_duration": "duration",
    "a_float": "float",
    "a_inet": "inet",
    "a_int": "int",
    "a_smallint": "smallint",
    "a_text": "text",
    "a_time": "time",
    "a_timestamp": "timestamp",
    "a_timeuuid": "timeuuid",
    "a_tinyint": "tinyint",
    "a_uuid": "uuid",
    "a_varint": "varint",
    "a_list": "list<int>",
    "a_set": "set<text>",
    "a_map": "map<text, double>",
    "a_tuple": "frozen<tuple<int, text, timestamp>>",
    "a_nested": "frozen<list<frozen<map<text, frozen<set<int>>>>>>",
    "a_frozen_set": "frozen<set<date>>",
}

_EPOCH = datetime.datetime(1970, 1, 1)


def _rows() -> list[dict[str, Any]]:
    plain = {
        "id": 1,
        "a_ascii": "plain ascii",
        "a_bigint": 1234567890123,
        "a_blob": b"\x00\x01binary\xff",
        "a_boolean": True,
        "a_date": Date(datetime.date(2024, 5, 1)),
        "a_decimal": Decimal("12345.6789"),
        "a_double": 3.141592653589793,
        "a_duration": Duration(14, 3, 4_000_000_123),
        "a_float": 1.5,
        "a_inet": "192.168.1.10",
        "a_int": 42,
        "a_smallint": 7,
        "a_text": "hello",
        "a_time": Time(45_296_123_456_789),
        "a_timestamp": datetime.datetime(2024, 5, 1, 10, 0, 0, 123000),
        "a_timeuuid": uuid.UUID("d2177dd0-eaa2-11de-a572-001b779c76e3"),
        "a_tinyint": -3,
        "a_uuid": uuid.UUID("123e4567-e89b-42d3-a456-426614174000"),
        "a_varint": 10**30,
        "a_list": [3, 1, 2, 1],
        "a_set": {"b", "a"},
        "a_map": {"x": 1.25, "y": -0.5},
        "a_tuple": (1, "one", datetime.datetime(2001, 1, 1)),
        "a_nested": [{"k": {1, 2}}, {"": set(), "z": {-1}}],
        "a_frozen_set": {Date(datetime.date(1999, 12, 31)), Date(-800_000)},
    }
    extreme = {
        "id": 2,
        "a_ascii": "",
        "a_bigint": -(2**63),
        "a_blob": b"",
        "a_boolean": False,
        "a_date": Date(2**31 - 1),
        "a_decimal": Decimal("-1E-30"),
        "a_double": -math.inf,
        "a_duration": Duration(-1, -2, -3),
        "a_float": 3.4028234663852886e38,
        "a_inet": "2001:db8::8a2e:370:7334",
        "a_int": -(2**31),
        "a_smallint": 32767,
        "a_text": "quotes \" and 'single', commas, \r\nCRLF, tabs\t, ünïcödé 🎉",
        "a_time": Time(86_399_999_999_999),
        "a_timestamp": datetime.datetime(1901, 12, 13, 20, 45, 52, 1000),
        "a_timeuuid": uuid.UUID("00000000-0000-1000-8000-000000000000"),
        "a_tinyint": 127,
        "a_uuid": uuid.UUID(int=0),
        "a_varint": -(10**40) - 1,
        "a_list": [-(2**31), 2**31 - 1],
        "a_set": {"", "with, comma", 'with "quote"'},
        "a_map": {"": math.inf, "ü": 1e-300},
        "a_tuple": (None, "", None),
        "a_nested": [],
        "a_frozen_set": set(),
    }
    empty = {"id": 3} | {name: None for name in COLUMNS if name != "id"}
    return [plain, extreme, empty]


def _normal(value: Any) -> Any:
    """Driver values made comparable (sorted sets, floats by their bits)."""
    if isinstance(value, float):
        return ("float", value.hex())
    if isinstance(value, set | frozenset) or type(value).__name__ == "SortedSet":
        return ("set", sorted((_normal(v) for v in value), key=repr))
    if isinstance(value, dict) or hasattr(value, "items"):
        return ("map", sorted(((_normal(k), _normal(v)) for k, v in value.items()), key=repr))
    if isinstance(value, list | tuple):
        return [_normal(v) for v in value]
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    return value


def _table_rows(session: Session, table: str) -> dict[int, dict[str, Any]]:
    rows = session.execute(f"SELECT {', '.join(COLUMNS)} FROM {table}")
    return {r.id: {k: _normal(getattr(r, k)) for k in COLUMNS} for r in rows}


def _create(session: Session, table: str) -> None:
    columns = ", ".join(f"{name} {cql}" for name, cql in COLUMNS.items())
    session.execute(f"CREATE TABLE {table} ({columns}, PRIMARY KEY (id))")


def _export_content(path: Path, fmt: str) -> Any:
    files = sorted(p for p in path.rglob(f"*.{fmt}"))
    assert files, f"no {fmt} files in {path}"
    if fmt == "parquet":
        # Compared as Arrow data: to_pylist cannot make dates beyond Python's range.
        return ds.dataset([str(f) for f in files], format="parquet").to_table().sort_by("id")
    if fmt == "jsonl":
        lines = [json.loads(x) for f in files for x in f.read_text("utf-8").splitlines()]
        return sorted(lines, key=lambda r: r["id"])
    texts = [f.read_text("utf-8") for f in files]
    headers = {t.split("\n", 1)[0] for t in texts}
    assert len(headers) == 1
    return headers, sorted(t.split("\n", 1)[1] for t in texts)


@pytest.mark.slow
def test_every_type_round_trips_through_every_format(
    session: Session, keyspace: str, contact: tuple[list[str], int], tmp_path: Path
) -> None:
    _create(session, f"{keyspace}.source")
    names = ", ".join(COLUMNS)
    insert = session.prepare(
        f"INSERT INTO {keyspace}.source ({names}) VALUES ({', '.join('?' * len(COLUMNS))})"
    )
    for row in _rows():
        session.execute(insert, [row[name] for name in COLUMNS])
    datasets: dict[str, Any] = {"source": {"connection": "db", "table": "source"}}
    activities: list[dict[str, Any]] = []
    for first in FORMATS:
        _create(session, f"{keyspace}.from_{first}")
        datasets[f"{first}_1"] = {"format": first, "path": str(tmp_path / f"{first}_1")}
        datasets[f"from_{first}"] = {"connection": "db", "table": f"from_{first}"}
        activities.append(
            {"name": f"export_{first}", "copy": {"from": "source", "to": f"{first}_1"}}
        )
        activities.append(
            {
                "name": f"load_{first}",
                "after": [f"export_{first}"],
                "copy": {"from": f"{first}_1", "to": f"from_{first}", "max_errors": 0},
            }
        )
        for second in FORMATS:
            name = f"{first}_{second}_2"
            datasets[name] = {"format": second, "path": str(tmp_path / name)}
            activities.append(
                {
                    "name": f"export_{name}",
                    "after": [f"load_{first}"],
                    "copy": {"from": f"from_{first}", "to": name},
                }
            )
    spec = PipelineSpec.model_validate(
        {
            "name": "roundtrip",
            "connections": {"db": connection_spec(contact, keyspace)},
            "datasets": datasets,
            "activities": activities,
        }
    )
    report = PipelineRunner(spec, state_dir=tmp_path / "state").run()
    assert report.ok, report.summary()

    expected = _table_rows(session, f"{keyspace}.source")
    assert len(expected) == 3
    for first in FORMATS:
        assert _table_rows(session, f"{keyspace}.from_{first}") == expected, first
    for second in FORMATS:
        content = _export_content(tmp_path / f"{second}_1", second)
        for first in FORMATS:
            again = _export_content(tmp_path / f"{first}_{second}_2", second)
            assert again == content, (first, second)
