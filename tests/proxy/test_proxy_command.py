"""``cassflow proxy --config``: the command runs the whole proxy from its file, a driver logs in
with a token through it, policy and audit apply, and SIGTERM stops it."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cassandra import Unauthorized
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster, Session
from cryptography.hazmat.primitives import serialization

from cassflow.proxy._config import ProxyConfigError, load_proxy_config
from cassflow.proxy._keys import generate_key, issue_token
from clusters import scratch_keyspace
from commands import CASSFLOW, run_cassflow

ISSUER = "https://id.example.test"
AUDIENCE = "cassflow-proxy"


@pytest.fixture
def shop(session: Session) -> Iterator[str]:
    with scratch_keyspace(session, "shop") as name:
        session.execute(f"CREATE TABLE {name}.orders (id int PRIMARY KEY, v text)")
        session.execute(f"INSERT INTO {name}.orders (id, v) VALUES (1, 'one')")
        yield name


def _write_config(tmp_path: Path, contact: tuple[list[str], int], shop: str) -> tuple[Path, object]:
    key = generate_key("ec")
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "public.pem").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    (tmp_path / "policy.yaml").write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "rules": [
                    {
                        "name": "analysts-read",
                        "match": {"groups": ["analysts"]},
                        "allow": [{"keyspace": shop, "verbs": ["SELECT"]}],
                    }
                ],
            }
        )
    )
    hosts, port = contact
    config = {
        "listen": {"host": "127.0.0.1", "port": 0},
        "upstream": {"hosts": [f"{h}:{port}" for h in hosts]},
        "tokens": {"issuer": ISSUER, "audience": AUDIENCE, "public_keys": ["keys/public.pem"]},
        "policy": "policy.yaml",
        "audit": "audit.jsonl",
        "metrics_port": 0,
    }
    path = tmp_path / "proxy.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, key


@pytest.mark.devserver_only  # the upstream needs no credentials here
def test_the_command_runs_the_proxy_from_its_file(
    contact: tuple[list[str], int], shop: str, tmp_path: Path
) -> None:
    path, key = _write_config(tmp_path, contact, shop)
    process = subprocess.Popen(
        [CASSFLOW, "proxy", "--config", str(path)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # the first line says where it listens
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        assert match, line + (process.stderr.read() if process.poll() is not None else "")
        token = issue_token(
            key, subject="alice", issuer=ISSUER, audience=AUDIENCE, ttl=600, groups=["analysts"]
        )  # type: ignore[arg-type]
        cluster = Cluster(
            ["127.0.0.1"],
            port=int(match[1]),
            auth_provider=PlainTextAuthProvider("token", token),
            connect_timeout=10,
        )
        try:
            via = cluster.connect()
            assert via.execute(f"SELECT v FROM {shop}.orders WHERE id = 1").one().v == "one"
            with pytest.raises(Unauthorized, match="cassflow proxy"):
                via.execute(f"INSERT INTO {shop}.orders (id, v) VALUES (2, 'two')")
        finally:
            cluster.shutdown()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert {(a["subject"], a["decision"]) for a in audit} >= {
        ("alice", "allowed"),
        ("alice", "denied"),
    }
    assert token not in (tmp_path / "audit.jsonl").read_text()


def test_a_bad_file_is_named_with_what_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "proxy.yaml"
    path.write_text("upstream: {hosts: []}\npolicy: p.yaml\n")
    with pytest.raises(ProxyConfigError) as bad:
        load_proxy_config(path)
    lines = str(bad.value).splitlines()
    assert len(lines) == 2
    assert re.fullmatch(rf"{re.escape(str(path))}:1:12: upstream.hosts: List should .*", lines[0])
    assert lines[1] == f"{path}:1:1: tokens: Field required"
    result = run_cassflow(["proxy", "--config", str(path)], cwd=tmp_path)
    assert result.returncode == 2
    assert "upstream.hosts" in result.stderr


def test_the_metrics_endpoint_serves_the_proxys_series(
    contact: tuple[list[str], int], shop: str, tmp_path: Path
) -> None:
    from cassflow.proxy._run import build_proxy

    path, key = _write_config(tmp_path, contact, shop)
    running = build_proxy(load_proxy_config(path))
    try:
        assert running.metrics_port
        url = f"http://127.0.0.1:{running.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as answer:
            body = answer.read().decode()
        assert "cassflow_proxy_client_connections 0.0" in body
        token = issue_token(
            key, subject="alice", issuer=ISSUER, audience=AUDIENCE, ttl=600, groups=["analysts"]
        )  # type: ignore[arg-type]
        cluster = Cluster(
            ["127.0.0.1"],
            port=running.server.port,
            auth_provider=PlainTextAuthProvider("token", token),
            connect_timeout=10,
        )
        try:
            via = cluster.connect()
            assert via.execute(f"SELECT v FROM {shop}.orders WHERE id = 1").one().v == "one"
            with urllib.request.urlopen(url, timeout=10) as answer:
                body = answer.read().decode()
        finally:
            cluster.shutdown()
        series = dict(
            line.rsplit(" ", 1) for line in body.splitlines() if line.startswith("cassflow_proxy_")
        )
        # The driver's control and pool connections; the proxy's own to the cluster.
        assert float(series["cassflow_proxy_client_connections"]) >= 1
        assert float(series["cassflow_proxy_upstream_connections"]) >= 1
        assert (
            float(series['cassflow_proxy_requests_total{decision="allowed",request="QUERY"}']) >= 1
        )
    finally:
        running.close()
