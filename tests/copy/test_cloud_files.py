"""Files on object stores: S3 (a moto server) and Azure Blob (Azurite), reached through fsspec.

Both servers run once per session (``s3_storage``, ``azure_storage`` in ``conftest.py``); each
test writes under a fresh prefix of the shared bucket or container.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cloud import CloudStorage, azurite_blob, moto_s3

STORAGES = ["s3_storage", "azure_storage"]


@pytest.fixture(params=STORAGES)
def storage(request: pytest.FixtureRequest) -> CloudStorage:
    """Each test once on S3 and once on Azure Blob."""
    found: CloudStorage = request.getfixturevalue(request.param)
    return found


def test_objects_written_are_read_listed_globbed_and_removed(storage: CloudStorage) -> None:
    fs = storage.filesystem()
    base = storage.prefix()
    fs.pipe(f"{base}/a/one.csv", b"id\n1\n")
    fs.pipe(f"{base}/a/two.csv", b"id\n2\n")
    fs.pipe(f"{base}/b/three.json", b'{"id": 3}\n')

    assert fs.cat(f"{base}/a/two.csv") == b"id\n2\n"
    strip = len(f"{storage.protocol}://")
    assert sorted(fs.ls(f"{base}/a", detail=False)) == [
        f"{base}/a/one.csv"[strip:],
        f"{base}/a/two.csv"[strip:],
    ]
    assert sorted(fs.glob(f"{base}/*/*.csv")) == [
        f"{base}/a/one.csv"[strip:],
        f"{base}/a/two.csv"[strip:],
    ]
    assert fs.info(f"{base}/b/three.json")["size"] == len(b'{"id": 3}\n')

    fs.rm(f"{base}/a", recursive=True)
    assert not fs.exists(f"{base}/a/one.csv")
    assert fs.glob(f"{base}/*/*") == [f"{base}/b/three.json"[strip:]]


def test_storage_options_work_through_fsspec_open(storage: CloudStorage) -> None:
    """What the copy engine does: ``fsspec.open(url, **storage)`` with the options as given."""
    import fsspec

    url = f"{storage.prefix()}/text.jsonl"
    with fsspec.open(url, "w", encoding="utf-8", **storage.storage_options()) as out:
        out.write('{"k": "välue"}\n')
    with fsspec.open(url, "r", encoding="utf-8", **storage.storage_options()) as back:
        assert back.read() == '{"k": "välue"}\n'


def test_the_secret_is_kept_out_of_the_storage_repr(storage: CloudStorage) -> None:
    assert storage.secret
    assert storage.secret in str(storage.storage_options())  # the options do carry it
    assert storage.secret not in repr(storage)


def _closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _refuses(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize("server", [moto_s3, azurite_blob], ids=["moto", "azurite"])
def test_a_server_listens_on_localhost_and_is_gone_after_exit(
    server: Callable[..., contextlib.AbstractContextManager[CloudStorage]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A proxy that refuses everything: the clients must reach 127.0.0.1 directly anyway.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with server("other") as started:
        assert "127.0.0.1" in os.environ["NO_PROXY"]
        host, port = started.endpoint_url.removeprefix("http://").split("/")[0].split(":")
        assert host == "127.0.0.1"
        fs = started.filesystem()
        fs.pipe(started.url("x"), b"1")
        assert fs.cat(started.url("x")) == b"1"
    assert _refuses(int(port))
    assert "NO_PROXY" not in os.environ
    with pytest.raises(ProcessLookupError):
        os.kill(started.pid, 0)


def test_a_server_dies_with_a_test_process_that_is_killed(tmp_path: Path) -> None:
    """No clean-up runs in a SIGKILLed test process; the server must go all the same."""
    import cloud

    code = (
        "import sys, cloud\n"
        "with cloud.moto_s3('other') as started:\n"
        "    print(started.endpoint_url, flush=True)\n"
        "    sys.stdin.read()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=Path(cloud.__file__).parent,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "TMPDIR": str(tmp_path)},  # the server's directory, left behind
    )
    try:
        assert child.stdout is not None
        endpoint = child.stdout.readline().decode().strip()  # moto_s3 bounds its own start
        assert endpoint.startswith("http://127.0.0.1:"), endpoint
        port = int(endpoint.rsplit(":", 1)[1])
        assert not _refuses(port)
    finally:
        child.kill()
        child.wait(timeout=10)
    deadline = time.monotonic() + 10
    while not _refuses(port):
        assert time.monotonic() < deadline, f"the server on port {port} outlived its parent"
        time.sleep(0.05)  # polling a condition with a deadline, not synchronising by sleep


@pytest.fixture
def _no_azurite(monkeypatch: pytest.MonkeyPatch) -> None:
    import cloud

    monkeypatch.setattr(cloud.shutil, "which", lambda _name: None)
    monkeypatch.setattr(cloud, "AZURITE_IN_REPO", cloud.Path("/nonexistent/azurite-blob"))
    monkeypatch.delenv("CASSFLOW_AZURITE", raising=False)


@pytest.mark.usefixtures("_no_azurite")
def test_missing_azurite_skips_outside_ci_and_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="azurite-blob"), azurite_blob():
        pass
    monkeypatch.setenv("CI", "true")
    with (
        pytest.raises(pytest.fail.Exception, match=r"CI must install it \(npm install"),
        azurite_blob(),
    ):
        pass


def test_missing_moto_skips_outside_ci_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    import cloud

    monkeypatch.setattr(cloud.importlib.util, "find_spec", lambda _name: None)
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="moto"), moto_s3():
        pass
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"CI must install it \(pip install"), moto_s3():
        pass


@pytest.mark.usefixtures("_no_azurite")
def test_azurite_is_found_through_the_environment_last(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import cloud

    assert cloud.azurite_program() is None
    program = tmp_path / "azurite-blob"
    program.write_text("#!/bin/sh\n")
    monkeypatch.setenv("CASSFLOW_AZURITE", str(program))
    assert cloud.azurite_program() == str(program)
