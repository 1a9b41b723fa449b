"""Secrets given as ``${secret:...}`` never show: not in output, logs, reports or state files.

A dev server with authentication; the pipeline's password comes from an environment variable
and from a mounted secret file. The runs (a good one with a quarantined record, and one with
a wrong password) are captured whole, with debug logging, and every byte cassflow wrote is
searched for the secrets.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from cassflow.devserver import DevServer
from cassflow.pipeline import load_pipeline
from cassflow.pipeline._run import PipelineRunner
from clusters import connect
from commands import run_cassflow

pytestmark = pytest.mark.devserver_only

PASSWORD = "Pw-7f3a9c-only-in-the-secret-store"
WRONG = "Wrong-51d0e2-also-a-secret"


def _pipeline(folder: Path, port: int, password_ref: str) -> Path:
    (folder / "in.csv").write_text("id,v\n1,one\n2,two\nx,bad id\n", encoding="utf-8")
    spec = {
        "name": "secretive",
        "connections": {
            "db": {
                "hosts": ["127.0.0.1"],
                "port": port,
                "keyspace": "shop",
                "auth": {"username": "loader", "password": password_ref},
                "request_timeout": 20,
            }
        },
        "datasets": {
            "csv": {"format": "csv", "path": "in.csv"},
            "table": {"connection": "db", "table": "t"},
            "export": {"format": "jsonl", "path": "out/"},
        },
        "activities": [
            {"name": "load", "copy": {"from": "csv", "to": "table", "max_errors": 5}},
            {"name": "export", "after": ["load"], "copy": {"from": "table", "to": "export"}},
        ],
    }
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def _written_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def test_secrets_never_appear_anywhere(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    secret_file = tmp_path / "secrets" / "loader.json"
    secret_file.parent.mkdir()
    secret_file.write_text(f'{{"password": "{PASSWORD}"}}', encoding="utf-8")
    with DevServer(auth=True) as server:
        cluster = connect(([server.host], server.port), auth_provider=_superuser())
        try:
            admin = cluster.connect()
            admin.execute(
                "CREATE KEYSPACE shop WITH replication = "
                "{'class': 'SimpleStrategy', 'replication_factor': 1}"
            )
            admin.execute("CREATE TABLE shop.t (id int PRIMARY KEY, v text)")
            admin.execute(f"CREATE ROLE loader WITH LOGIN = true AND PASSWORD = '{PASSWORD}'")
            admin.execute("GRANT SELECT ON KEYSPACE shop TO loader")
            admin.execute("GRANT MODIFY ON KEYSPACE shop TO loader")

            good = tmp_path / "good"
            good.mkdir()
            _pipeline(good, server.port, "${secret:env:LOADER_PASSWORD}")
            ran = run_cassflow(
                ["run", "pipeline.yaml", "--report", "report.json"],
                cwd=good,
                env={"LOADER_PASSWORD": PASSWORD},
            )
            assert ran.returncode == 0, ran.stdout + ran.stderr
            assert "quarantined 1" in ran.stdout

            wrong = tmp_path / "wrong"
            wrong.mkdir()
            _pipeline(wrong, server.port, "${secret:env:LOADER_PASSWORD}")
            refused = run_cassflow(
                ["run", "pipeline.yaml", "--report", "report.json"],
                cwd=wrong,
                env={"LOADER_PASSWORD": WRONG},
            )
            assert refused.returncode == 1
            assert "authentication" in (refused.stdout + refused.stderr).lower()

            in_process = tmp_path / "in_process"
            in_process.mkdir()
            path = _pipeline(in_process, server.port, f"${{secret:file:{secret_file}#password}}")
            caplog.set_level(logging.DEBUG)
            report = PipelineRunner(
                load_pipeline(path), base_dir=in_process, state_dir=in_process / ".cassflow"
            ).run()
            assert report.ok, report.summary()
            text = report.summary() + repr(report) + repr(load_pipeline(path))
        finally:
            cluster.shutdown()

    for secret in (PASSWORD, WRONG):
        for output in (ran.stdout, ran.stderr, refused.stdout, refused.stderr, caplog.text, text):
            assert secret not in output
        for folder in (good, wrong, in_process):
            assert secret.encode() not in _written_bytes(folder)


def _superuser() -> object:
    from cassandra.auth import PlainTextAuthProvider

    return PlainTextAuthProvider("cassandra", "cassandra")
