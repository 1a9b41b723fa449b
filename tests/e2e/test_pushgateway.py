"""``--pushgateway``: a batch run pushes its metrics to a real Prometheus Pushgateway.

The Pushgateway is Debian's ``prometheus-pushgateway``, started on 127.0.0.1 for the test
(skipped where it is not installed, except under CI, where .ci/run installs it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cassandra.cluster import Session
from prometheus_client.parser import text_string_to_metric_families

from commands import run_cassflow

START_TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return str(answer.read().decode())


@pytest.fixture
def pushgateway() -> Iterator[str]:
    """host:port of a Pushgateway running for this test."""
    binary = shutil.which("prometheus-pushgateway") or shutil.which("pushgateway")
    if binary is None:
        message = "prometheus-pushgateway is not installed"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}; CI must install it (apt-get install prometheus-pushgateway)")
        pytest.skip(f"{message} (apt-get install prometheus-pushgateway)")
    address = f"127.0.0.1:{_free_port()}"
    workdir = Path(tempfile.mkdtemp(prefix="cassflow-pushgateway-"))
    log = (workdir / "pushgateway.log").open("wb")
    process = subprocess.Popen(
        [binary, f"--web.listen-address={address}", f"--persistence.file={workdir / 'data'}"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                _get(f"http://{address}/-/ready")
                break
            except (urllib.error.URLError, ConnectionError):
                assert process.poll() is None, (workdir / "pushgateway.log").read_text()
                assert time.monotonic() < deadline, "the Pushgateway did not get ready"
                # Waits on the process (an exit ends it), not a sleep.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=0.05)
        yield address
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


def test_a_run_pushes_its_metrics_when_it_ends(
    pushgateway: str,
    session: Session,
    keyspace: str,
    connections_file: Any,
    tmp_path: Path,
) -> None:
    session.execute(f"CREATE TABLE {keyspace}.t (id int PRIMARY KEY, v text)")
    (tmp_path / "in.csv").write_text("id,v\n1,a\n2,b\n3,c\nx,bad\n", encoding="utf-8")
    result = run_cassflow(
        [
            "copy",
            "in.csv",
            f"cassandra://db/{keyspace}.t",
            "--connections",
            str(connections_file()),
            "--pushgateway",
            pushgateway,
            "--quiet",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    samples = {
        (s.name, s.labels.get("category", "")): s.value
        for family in text_string_to_metric_families(_get(f"http://{pushgateway}/metrics"))
        for s in family.samples
        if s.labels.get("job") == "cassflow_copy" and s.labels.get("activity") == "copy"
    }
    assert samples[("cassflow_rows_read_total", "")] == 4
    assert samples[("cassflow_rows_written_total", "")] == 3
    assert samples[("cassflow_rows_quarantined_total", "convert")] == 1
    assert samples[("cassflow_batch_rows_count", "")] >= 1
