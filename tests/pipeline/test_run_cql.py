"""CQL activities: a script runs as written, once per run; a bad script runs nothing."""

from __future__ import annotations

from pathlib import Path

from cassandra.cluster import Session

from cassflow.pipeline import PipelineRunner, PipelineSpec
from commands import connection_spec


def _spec(contact: tuple[list[str], int], keyspace: str) -> PipelineSpec:
    return PipelineSpec.model_validate(
        {
            "name": "schema",
            "connections": {"db": connection_spec(contact, keyspace)},
            "datasets": {},
            "activities": [{"name": "schema", "cql": {"connection": "db", "file": "s.cql"}}],
        }
    )


def test_a_script_runs_as_written_and_once_per_run(
    session: Session, keyspace: str, contact: tuple[list[str], int], tmp_path: Path
) -> None:
    (tmp_path / "s.cql").write_text(
        f"-- tables\nCREATE TABLE IF NOT EXISTS {keyspace}.t (id int PRIMARY KEY, v text);\n"
        f"BEGIN UNLOGGED BATCH\n INSERT INTO {keyspace}.t (id, v) VALUES (1, 'a;b');\n"
        f" INSERT INTO {keyspace}.t (id, v) VALUES (2, '/* not a comment */');\nAPPLY BATCH;\n",
        encoding="utf-8",
    )
    spec = _spec(contact, keyspace)
    first = PipelineRunner(spec, base_dir=tmp_path, state_dir=tmp_path / "state").run()
    assert first.ok, first.summary()
    rows = {r.id: r.v for r in session.execute(f"SELECT id, v FROM {keyspace}.t")}
    assert rows == {1: "a;b", 2: "/* not a comment */"}

    session.execute(f"DELETE FROM {keyspace}.t WHERE id = 1")
    again = PipelineRunner(
        spec, base_dir=tmp_path, state_dir=tmp_path / "state", run_id=first.run_id, resume=True
    ).run()
    assert [a.status for a in again.activities] == ["already_done"]
    assert {r.id for r in session.execute(f"SELECT id FROM {keyspace}.t")} == {2}


def test_a_bad_script_names_its_line_and_runs_nothing(
    session: Session, keyspace: str, contact: tuple[list[str], int], tmp_path: Path
) -> None:
    (tmp_path / "s.cql").write_text(
        f"CREATE TABLE {keyspace}.t (id int PRIMARY KEY);\n\n"
        f"INSERT INTO {keyspace}.t (id) VALUS (1);\n",
        encoding="utf-8",
    )
    report = PipelineRunner(
        _spec(contact, keyspace), base_dir=tmp_path, state_dir=tmp_path / "state"
    ).run()
    (activity,) = report.activities
    assert activity.status == "failed"
    assert "s.cql" in activity.message
    assert "line 3" in activity.message
    tables = session.execute(
        "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s", [keyspace]
    )
    assert list(tables) == []
