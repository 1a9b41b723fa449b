"""cqlsh (PyPI ``cqlsh``) end to end: a session script and COPY FROM / COPY TO of 100k rows.

cqlsh runs as a subprocess against the cluster under test (the embedded dev server unless
``CASSFLOW_TEST_HOSTS`` is set), non-interactively (``-f``), with bounded timeouts. On 2
cores COPY FROM of 100k rows takes about 14 s and COPY TO about 2 s.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cassandra.cluster import Session

_CQLSH = Path(sys.executable).with_name("cqlsh")
_ROWS = 100_000
#: COPY's CSV defaults: QUOTE '"' and ESCAPE '\\', so quotes inside values are escaped, not doubled.
_CQLSH_DIALECT: dict[str, Any] = {"quotechar": '"', "escapechar": "\\", "doublequote": False}

pytestmark = pytest.mark.skipif(not _CQLSH.exists(), reason="cqlsh is not installed")


def _cqlsh(
    contact: tuple[list[str], int], script: Path, home: Path, timeout: float
) -> subprocess.CompletedProcess[str]:
    hosts, port = contact
    env = {**os.environ, "HOME": str(home)}  # no user cqlshrc, no history written
    return subprocess.run(
        [str(_CQLSH), hosts[0], str(port), "-f", str(script)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
        cwd=home,
    )


def _after(text: str, marker: str, start: int = 0) -> int:
    """The index just after ``marker`` in ``text`` at or after ``start`` (fails if absent)."""
    index = text.find(marker, start)
    assert index >= 0, f"{marker!r} not found after position {start} in:\n{text[start:]}"
    return index + len(marker)


def test_a_session_script_describes_pages_and_sources(
    session: Session, keyspace: str, contact: tuple[list[str], int], tmp_path: Path
) -> None:
    session.execute(f"CREATE TABLE {keyspace}.paged (k int PRIMARY KEY, v text)")
    insert = session.prepare(f"INSERT INTO {keyspace}.paged (k, v) VALUES (?, ?)")
    for k in range(500):
        session.execute(insert, (k, f"v{k}"))
    sourced = tmp_path / "extra.cql"
    sourced.write_text(
        f"CREATE TABLE {keyspace}.src (k int PRIMARY KEY, v text);\n"
        f"INSERT INTO {keyspace}.src (k, v) VALUES (1, 'one');\n"
        f"INSERT INTO {keyspace}.src (k, v) VALUES (2, 'two');\n"
        f"SELECT * FROM {keyspace}.src WHERE k = 2;\n"
    )
    script = tmp_path / "session.cql"
    script.write_text(
        "DESCRIBE KEYSPACES;\n"
        f"USE {keyspace};\n"
        f"DESCRIBE KEYSPACE {keyspace};\n"
        "DESCRIBE TABLE paged;\n"
        "DESCRIBE SCHEMA;\n"
        "DESCRIBE CLUSTER;\n"
        "PAGING 50;\n"
        "SELECT k, v FROM paged;\n"
        "TRACING OFF;\n"
        f"SOURCE '{sourced}';\n"
    )
    done = _cqlsh(contact, script, tmp_path, timeout=60)
    out = done.stdout
    assert done.returncode == 0, done.stderr
    assert "Error" not in done.stderr, done.stderr

    # DESCRIBE KEYSPACES: the names, columnized.
    listing = out[: out.index("CREATE KEYSPACE")]
    assert {keyspace, "system", "system_schema", "system_auth"} <= set(listing.split())
    create_keyspace = (
        f"CREATE KEYSPACE {keyspace} WITH replication = {{'class': 'SimpleStrategy', "
        "'replication_factor': '1'}  AND durable_writes = true;\n"
    )
    create_table = (
        f"CREATE TABLE {keyspace}.paged (\n    k int PRIMARY KEY,\n    v text\n"
        ") WITH additional_write_policy = '99p'\n"
    )
    # DESCRIBE KEYSPACE, TABLE, SCHEMA: the server's CREATE statements, printed as they came.
    pos = _after(out, create_keyspace)
    pos = _after(out, "\n" + create_table, pos)
    pos = _after(out, "    AND speculative_retry = '99p';\n", pos)
    pos = _after(out, "\n" + create_table, pos)
    pos = _after(out, "    AND speculative_retry = '99p';\n", pos)
    pos = _after(out, create_keyspace, pos)
    pos = _after(out, "\n" + create_table, pos)
    # DESCRIBE CLUSTER with a keyspace in use: the ring's ranges too.
    pos = _after(out, "\nCluster: ", pos)
    pos = _after(out, "\nPartitioner: Murmur3Partitioner\nSnitch: ", pos)
    pos = _after(out, "\nRange ownership:\n", pos)
    # PAGING 50 then SELECT: cqlsh without a tty fetches page after page (50 rows each)
    # without pausing, and prints one header and every row.
    pos = _after(out, "Page size: 50\n", pos)
    select_end = _after(out, "(500 rows)", pos)
    table = out[pos:select_end]
    lines = [line for line in table.splitlines() if "|" in line]
    assert lines[0].split("|")[0].strip() == "k"
    assert sum(1 for line in lines if line.split("|")[0].strip() == "k") == 1
    rows = {tuple(cell.strip() for cell in line.split("|")) for line in lines[1:]}
    assert rows == {(str(k), f"v{k}") for k in range(500)}
    pos = _after(out, "TRACING is already OFF\n", select_end)
    # SOURCE: the file's statements ran, and its SELECT printed its row.
    sourced_out = out[pos:]
    assert [line.split("|")[0].strip() for line in sourced_out.splitlines() if "|" in line] == [
        "k",
        "2",
    ]
    assert "(1 rows)" in sourced_out
    count = session.execute(f"SELECT count(*) FROM {keyspace}.src").one()[0]
    assert count == 2


def test_copy_from_and_copy_to_move_100k_rows(
    session: Session, keyspace: str, contact: tuple[list[str], int], tmp_path: Path
) -> None:
    session.execute(f"CREATE TABLE {keyspace}.bulk (id int PRIMARY KEY, name text, score double)")
    source = tmp_path / "in.csv"
    with source.open("w", newline="") as f:
        writer = csv.writer(f, **_CQLSH_DIALECT)
        writer.writerow(["id", "name", "score"])
        writer.writerows([i, f'name {i}, quoted "{i % 7}"', i / 8] for i in range(_ROWS))
    target = tmp_path / "out.csv"
    script = tmp_path / "copy.cql"
    script.write_text(
        f"COPY {keyspace}.bulk (id, name, score) FROM '{source}' WITH HEADER = true;\n"
        f"COPY {keyspace}.bulk (id, name, score) TO '{target}' WITH HEADER = true;\n"
    )
    done = _cqlsh(contact, script, tmp_path, timeout=150)
    assert done.returncode == 0, done.stderr
    assert f"{_ROWS} rows imported from 1 files" in done.stdout
    assert "(0 skipped)" in done.stdout
    assert f"{_ROWS} rows exported to 1 files" in done.stdout
    assert session.execute(f"SELECT count(*) FROM {keyspace}.bulk").one()[0] == _ROWS

    def rows(path: Path) -> list[tuple[int, str, float]]:
        with path.open(newline="") as f:
            reader = csv.reader(f, **_CQLSH_DIALECT)
            assert next(reader) == ["id", "name", "score"]
            return sorted((int(i), name, float(score)) for i, name, score in reader)

    exported = rows(target)
    assert len(exported) == _ROWS
    assert exported == rows(source)


def test_tracing_on_prints_each_statements_trace(
    session: Session, keyspace: str, contact: tuple[list[str], int], tmp_path: Path
) -> None:
    session.execute(f"CREATE TABLE {keyspace}.traced (k int PRIMARY KEY, v text)")
    script = tmp_path / "tracing.cql"
    script.write_text(
        "TRACING ON;\n"
        f"INSERT INTO {keyspace}.traced (k, v) VALUES (1, 'one');\n"
        f"SELECT v FROM {keyspace}.traced WHERE k = 1;\n"
        "TRACING OFF;\n"
        f"SELECT v FROM {keyspace}.traced WHERE k = 1;\n"
    )
    done = _cqlsh(contact, script, tmp_path, timeout=60)
    out = done.stdout
    assert done.returncode == 0, done.stderr
    assert "Error" not in done.stderr, done.stderr
    # Each traced statement: its session id, then the activity table from system_traces
    # (the request, its events, and cqlsh's closing 'Request complete' row).
    pos = _after(out, "TRACING set to ON\n")
    for statement in ("INSERT INTO", "SELECT v FROM"):
        pos = _after(out, "Tracing session: ", pos)
        pos = _after(out, "Execute CQL3 query", pos)
        pos = _after(out, f"Parsing {statement}", pos)
        pos = _after(out, "Request complete", pos)
    pos = _after(out, "TRACING set to OFF\n", pos)
    assert "Tracing session" not in out[pos:]
    assert "(1 rows)" in out[pos:]
