"""The proxy's audit lines and metrics: one JSON line per request, complete, no values."""

from __future__ import annotations

import json
import stat
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cassflow.proxy._audit import AuditLog, AuditRecord, ProxyMetrics, targets_of


def _record(**changes: object) -> AuditRecord:
    fields: dict[str, object] = {
        "subject": "alice",
        "client": "127.0.0.1:50123",
        "request": "QUERY",
        "decision": "allowed",
        "at": datetime(2026, 11, 22, 0, 30, 1, 123456, tzinfo=UTC),
        "groups": ("analysts",),
        "issuer": "https://id.example.com",
        "connection": 7,
        "statement": "SELECT * FROM shop.orders WHERE id = ?",
        "targets": ("shop.orders",),
        "rule": "analysts-read-shop",
        "rows": 3,
        "latency_ms": 1.23456,
    }
    fields.update(changes)
    return AuditRecord(**fields)  # type: ignore[arg-type]


def test_a_record_is_one_json_line_with_what_happened() -> None:
    line = _record().to_json()
    assert "\n" not in line
    assert json.loads(line) == {
        "time": "2026-11-22T00:30:01.123+00:00",
        "subject": "alice",
        "groups": ["analysts"],
        "issuer": "https://id.example.com",
        "client": "127.0.0.1:50123",
        "connection": 7,
        "request": "QUERY",
        "statement": "SELECT * FROM shop.orders WHERE id = ?",
        "targets": ["shop.orders"],
        "decision": "allowed",
        "rule": "analysts-read-shop",
        "rows": 3,
        "latency_ms": 1.235,
    }
    denied = json.loads(
        _record(decision="denied", reason="no rule allows MODIFY on shop.orders", rows=0).to_json()
    )
    assert (denied["decision"], denied["reason"]) == (
        "denied",
        "no rule allows MODIFY on shop.orders",
    )


def test_the_log_appends_whole_lines_from_many_threads(tmp_path: Path) -> None:
    path = tmp_path / "audit" / "proxy.jsonl"
    log = AuditLog(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # statement texts can hold literals

    def write(n: int) -> None:
        for i in range(200):
            log.write(_record(connection=n, rows=i))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    log.close()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1600
    records = [json.loads(line) for line in lines]
    assert sorted((r["connection"], r["rows"]) for r in records) == sorted(
        (n, i) for n in range(8) for i in range(200)
    )
    AuditLog(path).close()  # reopened: appended to, not truncated
    assert len(path.read_text(encoding="utf-8").splitlines()) == 1600


def test_stdout_is_a_target(capsys: pytest.CaptureFixture[str]) -> None:
    log = AuditLog("-")
    log.write(_record(request="EXECUTE", prepared_id="0a1b"))
    log.close()
    assert json.loads(capsys.readouterr().out)["prepared_id"] == "0a1b"


def test_metrics_count_requests_denials_latency_and_errors() -> None:
    metrics = ProxyMetrics()
    metrics.observe(_record())
    metrics.observe(_record(decision="denied", rule=None, reason="no rule matches"))
    metrics.observe(_record(decision="denied", rule="analysts-read-shop"))
    metrics.observe(_record(request="EXECUTE", error="OVERLOADED", latency_ms=12.0))
    sample = metrics.registry.get_sample_value
    assert sample("cassflow_proxy_requests_total", {"request": "QUERY", "decision": "allowed"}) == 1
    assert sample("cassflow_proxy_requests_total", {"request": "QUERY", "decision": "denied"}) == 2
    assert sample("cassflow_proxy_denials_total", {"rule": "none"}) == 1
    assert sample("cassflow_proxy_denials_total", {"rule": "analysts-read-shop"}) == 1
    assert sample("cassflow_proxy_upstream_errors_total", {"code": "OVERLOADED"}) == 1
    assert sample("cassflow_proxy_request_seconds_count", {"request": "EXECUTE"}) == 1
    assert sample("cassflow_proxy_request_seconds_sum", {"request": "EXECUTE"}) == 0.012
    bucket = "cassflow_proxy_request_seconds_bucket"
    assert sample(bucket, {"request": "EXECUTE", "le": "0.01"}) == 0  # buckets are cumulative
    assert sample(bucket, {"request": "EXECUTE", "le": "0.025"}) == 1
    assert sample(bucket, {"request": "EXECUTE", "le": "+Inf"}) == 1
    assert b"cassflow_proxy_client_connections" in metrics.exposition()


def test_targets_are_named_once_in_order() -> None:
    pairs = [("shop", "orders"), ("shop", None), ("shop", "orders"), (None, None), ("cat", "t")]
    assert targets_of(pairs) == ("shop.orders", "shop", "cat.t")
