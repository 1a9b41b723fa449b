"""PipelineRunner's ``only`` (the activities of one Airflow task) and ``identity`` options."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from cassandra.cluster import Session

from cassflow.access._identity import TaskIdentity, current_identity
from cassflow.copy import CopyError
from cassflow.pipeline import PipelineRunner, PipelineSpec
from commands import connection_spec


def _spec(contact: tuple[list[str], int], keyspace: str) -> PipelineSpec:
    table = f"{keyspace}.t"
    return PipelineSpec.model_validate(
        {
            "name": "steps",
            "connections": {"db": connection_spec(contact, keyspace)},
            "activities": [
                {
                    "name": "create",
                    "cql": {
                        "connection": "db",
                        "statements": [f"CREATE TABLE {table} (id int PRIMARY KEY, v text)"],
                    },
                },
                {
                    "name": "fill",
                    "after": ["create"],
                    "cql": {
                        "connection": "db",
                        "statements": [f"INSERT INTO {table} (id, v) VALUES (1, 'one')"],
                    },
                },
            ],
        }
    )


def test_only_runs_and_reports_the_named_activities(
    session: Session, keyspace: str, contact: tuple[list[str], int], tmp_path: Path
) -> None:
    spec = _spec(contact, keyspace)
    state = tmp_path / "state"
    created = PipelineRunner(spec, state_dir=state, run_id="r1", only=["create"]).run()
    assert [a.name for a in created.activities] == ["create"]
    assert created.ok, created.summary()
    assert list(session.execute(f"SELECT * FROM {keyspace}.t")) == []

    # The next task of the same run: "fill" runs although "create" is not among its activities.
    filled = PipelineRunner(spec, state_dir=state, run_id="r1", only=["fill"]).run()
    assert [(a.name, a.status) for a in filled.activities] == [("fill", "done")]
    assert [tuple(r) for r in session.execute(f"SELECT id, v FROM {keyspace}.t")] == [(1, "one")]


def test_only_refuses_an_unknown_activity(
    keyspace: str, contact: tuple[list[str], int], tmp_path: Path
) -> None:
    with pytest.raises(CopyError, match="pipeline steps has no activity nope"):
        PipelineRunner(_spec(contact, keyspace), state_dir=tmp_path, only=["create", "nope"])


class _IdentityRecorder(logging.Handler):
    """Records the current identity at each log record (what log lines are stamped with)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seen: list[TaskIdentity | None] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(current_identity())


def test_the_given_identity_is_the_runs(
    keyspace: str, contact: tuple[list[str], int], tmp_path: Path
) -> None:
    identity = TaskIdentity("steps", run_id="r9", dag_id="etl", task_id="schema", try_number=3)
    recorder = _IdentityRecorder()
    logger = logging.getLogger("cassflow.pipeline._run")
    logger.addHandler(recorder)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        report = PipelineRunner(
            _spec(contact, keyspace), state_dir=tmp_path, run_id="r9", identity=identity,
            only=["create"],
        ).run()  # fmt: skip
    finally:
        logger.removeHandler(recorder)
        logger.setLevel(level)
    assert report.ok, report.summary()
    # "create: statement 1 of 1" was logged while the activity ran, under its identity.
    assert identity.for_activity("create") in recorder.seen


def test_rerun_done_runs_a_finished_run_again_and_resumes_an_unfinished_one(
    session: Session, keyspace: str, contact: tuple[list[str], int], tmp_path: Path
) -> None:
    spec = _spec(contact, keyspace)
    state = tmp_path / "state"

    def run(*only: str) -> str:
        report = PipelineRunner(
            spec, state_dir=state, run_id="task", only=list(only), rerun_done=True
        ).run()
        assert report.ok, report.summary()
        assert [a.status for a in report.activities] == ["done"] * len(only)
        return report.run_id

    # Two tasks of one DAG run share the run id: the second is not a rerun of the first.
    assert run("create") == "task"
    assert run("fill") == "task"
    # "fill" cleared after it succeeded: it runs again (the row comes back), as generation 2.
    session.execute(f"DELETE FROM {keyspace}.t WHERE id = 1")
    assert run("fill") == "task.r2"
    assert [tuple(r) for r in session.execute(f"SELECT id, v FROM {keyspace}.t")] == [(1, "one")]
    # Without rerun_done the finished run is only found done.
    again = PipelineRunner(spec, state_dir=state, run_id="task.r2", only=["fill"]).run()
    assert [a.status for a in again.activities] == ["already_done"]


def test_rerun_done_resumes_a_failed_run(
    session: Session, keyspace: str, contact: tuple[list[str], int], tmp_path: Path
) -> None:
    spec = _spec(contact, keyspace)
    state = tmp_path / "state"
    # "fill" before its table exists fails: its retry must resume the same run, not a new one.
    failed = PipelineRunner(
        spec, state_dir=state, run_id="task", only=["fill"], rerun_done=True
    ).run()
    assert [a.status for a in failed.activities] == ["failed"]
    PipelineRunner(spec, state_dir=state, run_id="other", only=["create"]).run()
    retried = PipelineRunner(
        spec, state_dir=state, run_id="task", only=["fill"], rerun_done=True
    ).run()
    assert retried.run_id == "task"
    assert [a.status for a in retried.activities] == ["done"]
