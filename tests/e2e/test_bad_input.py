"""A corpus of bad input: every record is written or quarantined, with file:line and the reason.

Wrong types, nulls in key columns, invalid UTF-8, ragged rows, values too large for their type
or for Cassandra (a key over 64 KiB), an unterminated quote, and bad JSON Lines. The run
report adds up exactly and each quarantine entry names the physical line of its record.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cassandra.cluster import Session

from commands import run_cassflow

HEADER = b"id,ck,n,small,at,s\n"

# (line the record starts on, its bytes, the reason's telling words or None if good)
CSV_CORPUS: list[tuple[int, bytes, str | None]] = [
    (2, b"1,a,10,1,2024-05-01T12:00:00.123+02:00,first\n", None),
    (3, b"2,a,abc,1,2024-05-01,wrong type\n", "expected an int"),
    (4, b",a,10,1,2024-05-01,null partition key\n", "id"),
    (5, b"3,,10,1,2024-05-01,unquoted empty clustering key is null\n", "ck"),
    (6, b'4,b,10,1,2024-05-01,""\n', None),  # a quoted empty string is no null
    (7, b"5,a,10,1,2024-05-01,bad \xff\xfe utf-8\n", "UTF-8"),
    (8, b"6,a,10,1,2024-05-01,too,many,fields\n", "fields"),
    (9, b'7,a,10,1,2024-05-01,"two\nlines, fine"\n', None),
    (11, b"8,a,10,70000,2024-05-01,smallint out of range\n", "smallint"),
    (12, b"9,a,99999999999,1,2024-05-01,int out of range\n", "int"),
    (13, b"10,a,10,1,2024-13-01,no such month\n", "timestamp"),
    (14, b"11," + b"k" * 70_000 + b",10,1,2024-05-01,partition key over 64 KiB\n", "65535"),
    (15, b"12,a,10,1,2024-05-01,last good\n", None),
    (16, b'13,a,10,1,2024-05-01,"never closed\n', "quote"),
]

JSONL_CORPUS: list[tuple[int, bytes, str | None]] = [
    (1, b'{"id": 20, "ck": "j", "n": 1, "small": 1, "at": "2024-05-01", "s": "ok"}\n', None),
    (2, b'{"id": 21, "ck": "j", "n": 1,\n', "JSON"),
    (3, b"[1, 2, 3]\n", "object"),
    (4, b'{"id": 22, "ck": "j", "n": "x", "small": 1, "at": "2024-05-01", "s": "s"}\n', "int"),
    (
        5,
        b'{"id": 23, "ck": "j", "n": 1, "small": 1, "at": "2024-05-01", "s": "s", "zz": 1}\n',
        "zz",
    ),
    (6, b"\n", None),  # a blank line is no record
    (7, b'{"id": null, "ck": "j", "n": 1, "small": 1, "at": "2024-05-01", "s": "s"}\n', "id"),
    (8, b'{"id": 24, "ck": "j", "n": 1, "small": 1, "at": "2024-05-01", "s": "last"}\n', None),
]


def _quarantined(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for name in report["quarantine_files"]
        for line in Path(name).read_text(encoding="utf-8").splitlines()
    ]


def _load(
    tmp_path: Path, source: Path, keyspace: str, connections: Path
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    report_path = tmp_path / f"{source.name}.report.json"
    result = run_cassflow(
        [
            "copy",
            str(source),
            f"cassandra://db/{keyspace}.t",
            "--connections",
            str(connections),
            "--state-dir",
            str(tmp_path / "state"),
            "--max-errors",
            "-1",
            "--report",
            str(report_path),
            "--quiet",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (activity,) = json.loads(report_path.read_text())["activities"]
    return activity["copy"], _quarantined(activity["copy"])


def _check(
    corpus: list[tuple[int, bytes, str | None]],
    name: str,
    report: dict[str, Any],
    entries: list[dict[str, Any]],
) -> None:
    records = [c for c in corpus if c[1].strip()]
    bad = {line: words for line, _, words in records if words is not None}
    assert report["rows"] == {
        "read": len(records),
        "written": len(records) - len(bad),
        "quarantined": len(bad),
        "skipped": 0,
    }
    by_line = {}
    for entry in entries:
        path, _, line = entry["source"].rpartition(":")
        assert path.endswith(name), entry["source"]
        by_line[int(line)] = entry
    assert sorted(by_line) == sorted(bad)
    for line, words in bad.items():
        assert words.lower() in by_line[line]["reason"].lower(), (line, by_line[line])


def test_every_bad_record_is_quarantined_with_its_line_and_reason(
    session: Session, keyspace: str, connections_file: Any, tmp_path: Path
) -> None:
    session.execute(
        f"CREATE TABLE {keyspace}.t (id int, ck text, n int, small smallint, at timestamp,"
        " s text, PRIMARY KEY ((id, ck)))"
    )
    connections = connections_file()
    csv_file = tmp_path / "bad.csv"
    csv_file.write_bytes(HEADER + b"".join(record for _, record, _ in CSV_CORPUS))
    jsonl_file = tmp_path / "bad.jsonl"
    jsonl_file.write_bytes(b"".join(record for _, record, _ in JSONL_CORPUS))

    report, entries = _load(tmp_path, csv_file, keyspace, connections)
    _check(CSV_CORPUS, "bad.csv", report, entries)
    report, entries = _load(tmp_path, jsonl_file, keyspace, connections)
    _check(JSONL_CORPUS, "bad.jsonl", report, entries)

    rows = {(r.id, r.ck): r for r in session.execute(f"SELECT * FROM {keyspace}.t")}
    assert sorted(rows) == [(1, "a"), (4, "b"), (7, "a"), (12, "a"), (20, "j"), (24, "j")]
    assert rows[(4, "b")].s == ""
    assert rows[(7, "a")].s == "two\nlines, fine"
    assert rows[(1, "a")].at.isoformat() == "2024-05-01T10:00:00.123000"
