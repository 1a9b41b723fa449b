"""``checkpoints:`` keeps a pipeline run's checkpoints in a Cassandra table: validated like the
rest of the file, used by the runner instead of the SQLite file, and resumable from it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from cassandra.cluster import Session

from cassflow.copy._model import CopyError
from cassflow.pipeline import PipelineError, load_pipeline
from cassflow.pipeline._run import PipelineRunner
from commands import connection_spec, run_cassflow


def _pipeline(tmp_path: Path, contact: tuple[list[str], int], keyspace: str, **top: object) -> Path:
    (tmp_path / "numbers.csv").write_text(
        "id,name\n" + "".join(f"{i},n{i}\n" for i in range(30)), encoding="utf-8"
    )
    spec = {
        "name": "numbers",
        "connections": {"db": connection_spec(contact, keyspace)},
        "datasets": {
            "numbers_csv": {"format": "csv", "path": "numbers.csv"},
            "numbers": {"connection": "db", "table": "numbers"},
        },
        "activities": [
            {
                "name": "create",
                "cql": {
                    "connection": "db",
                    "statements": [
                        f"CREATE TABLE IF NOT EXISTS {keyspace}.numbers"
                        " (id int PRIMARY KEY, name text)"
                    ],
                },
            },
            {"name": "load", "after": ["create"], "copy": {"from": "numbers_csv", "to": "numbers"}},
        ],
        **top,
    }
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def test_checkpoints_name_a_known_connection(
    tmp_path: Path, contact: tuple[list[str], int]
) -> None:
    path = _pipeline(tmp_path, contact, "ks", checkpoints={"connection": "nope"})
    with pytest.raises(PipelineError, match="checkpoints name unknown connection 'nope'"):
        load_pipeline(path, env={})
    path = _pipeline(tmp_path, contact, "ks", checkpoints={"connection": "db", "tabel": "x"})
    with pytest.raises(PipelineError, match="tabel"):
        load_pipeline(path, env={})
    spec = load_pipeline(_pipeline(tmp_path, contact, "ks", checkpoints={"connection": "db"}))
    assert spec.checkpoints is not None
    assert (spec.checkpoints.table, spec.checkpoints.keyspace) == ("cassflow_checkpoints", None)


def test_a_run_checkpoints_in_the_table_and_resumes_from_it(
    tmp_path: Path, contact: tuple[list[str], int], keyspace: str, session: Session
) -> None:
    path = _pipeline(
        tmp_path, contact, keyspace, checkpoints={"connection": "db", "table": "checks"}
    )
    spec = load_pipeline(path, env={})
    state = tmp_path / "state"
    first = PipelineRunner(spec, base_dir=tmp_path, state_dir=state).run()
    assert first.ok, first.summary()
    assert not (state / "checkpoints.sqlite3").exists()
    runs = {
        row.run_id
        for row in session.execute(f"SELECT run_id, position, state FROM {keyspace}.checks")
    }
    assert runs == {first.run_id, f"{first.run_id}/create", f"{first.run_id}/load"}
    count = session.execute(f"SELECT count(*) FROM {keyspace}.numbers").one()[0]
    assert count == 30

    again = PipelineRunner(
        spec, base_dir=tmp_path, state_dir=tmp_path / "elsewhere", run_id=first.run_id, resume=True
    ).run()  # another machine: only the table is shared
    assert again.ok, again.summary()
    create, load = again.activities
    assert create.status == "already_done"
    assert load.report is not None
    assert (load.report.resumed_slices, load.report.slices_run) == (1, 0)
    assert load.report.counts.written == 30

    with pytest.raises(CopyError, match=f"no run nope in Cassandra table {keyspace}.checks"):
        PipelineRunner(spec, base_dir=tmp_path, state_dir=state, run_id="nope", resume=True).run()


def test_a_missing_checkpoints_keyspace_is_named(
    tmp_path: Path, contact: tuple[list[str], int], keyspace: str
) -> None:
    path = _pipeline(
        tmp_path, contact, keyspace, checkpoints={"connection": "db", "keyspace": "no_such_ks"}
    )
    runner = PipelineRunner(load_pipeline(path, env={}), base_dir=tmp_path, state_dir=tmp_path)
    with pytest.raises(CopyError, match=r"checkpoints: .*keyspace no_such_ks does not exist"):
        runner.run()


def test_cassflow_copy_takes_a_checkpoints_table(
    tmp_path: Path, contact: tuple[list[str], int], keyspace: str, session: Session
) -> None:
    (tmp_path / "numbers.csv").write_text("id,name\n1,one\n2,two\n", encoding="utf-8")
    session.execute(f"CREATE TABLE {keyspace}.numbers (id int PRIMARY KEY, name text)")
    connections = tmp_path / "connections.yaml"
    connections.write_text(
        yaml.safe_dump({"connections": {"db": connection_spec(contact, keyspace)}}),
        encoding="utf-8",
    )
    common = ["copy", "numbers.csv", f"cassandra://db/{keyspace}.numbers"]
    common += ["--connections", str(connections), "--quiet"]
    done = run_cassflow([*common, "--checkpoints", f"cassandra://db/{keyspace}.cp"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / ".cassflow" / "checkpoints.sqlite3").exists()
    states = [row.state for row in session.execute(f"SELECT state FROM {keyspace}.cp")]
    assert "done" in states
    wrong = run_cassflow([*common, "--checkpoints", "postgresql://u:secret@db/x#cp"], cwd=tmp_path)
    assert wrong.returncode == 2
    assert "--checkpoints: expected cassandra://" in wrong.stderr
    assert "secret" not in wrong.stderr
