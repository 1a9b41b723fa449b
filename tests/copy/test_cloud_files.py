"""Files on object stores: S3 (a moto server) and Azure Blob (Azurite), reached through fsspec.

Both servers run once per session (``s3_storage``, ``azure_storage`` in ``conftest.py``); each
test writes under a fresh prefix of the shared bucket or container.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import os
import socket
import subprocess
import sys
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

import pytest

from cassflow.copy._files import FileSink, FileSource
from cassflow.copy._model import Chunk, CopyError, DriftPolicy, Field
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


def _dead_proxy() -> dict[str, str]:
    """Proxy settings that refuse everything: the clients must reach 127.0.0.1 directly."""
    proxy = f"http://127.0.0.1:{_closed_port()}"
    names = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")
    return dict.fromkeys(names, proxy)


# moto's twin of this test is the next one, which uses the same code (cloud._serve) to run it.
def test_a_server_listens_on_localhost_and_is_gone_after_exit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in _dead_proxy().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with azurite_blob("other") as started:
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
    """No clean-up runs in a SIGKILLed test process; the server must go all the same. (The
    child also proves that s3fs reaches the server past a proxy configured in the environment.)
    """
    import cloud

    code = (
        "import sys, cloud\n"
        "with cloud.moto_s3('other') as started:\n"
        "    started.filesystem().pipe(started.url('x'), b'1')\n"
        "    print(started.endpoint_url, flush=True)\n"
        "    sys.stdin.read()\n"
    )
    env = {k: v for k, v in os.environ.items() if k.lower() != "no_proxy"}
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=Path(cloud.__file__).parent,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        # TMPDIR: the server's directory, which the killed child leaves behind.
        env={**env, **_dead_proxy(), "TMPDIR": str(tmp_path)},
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


# -- FileSink and FileSource on the object stores ------------------------------------------

FIELDS = [Field("id"), Field("name"), Field("note")]
COLUMNS = tuple(f.name for f in FIELDS)
#: Nulls, empty strings, delimiters, quotes, line breaks inside values and non-ASCII text.
ROWS: list[tuple[str | None, ...]] = [
    ("1", "plain", None),
    ("2", "", 'comma, and "quotes"'),
    ("3", "two\nlines", "välue ☃"),
    ("4", None, "crlf\r\nend"),
]
#: The line each row of ROWS starts on in each format (CSV: after the header, and the line
#: breaks inside quoted values count; Parquet: the row's index in the file).
LINES = {"csv": [2, 3, 4, 6], "jsonl": [1, 2, 3, 4], "parquet": [1, 2, 3, 4]}
FORMATS = ["csv", "jsonl", "parquet"]


def _chunk(rows: list[tuple[str | None, ...]]) -> Chunk:
    return Chunk(COLUMNS, "test", list(rows), lines=list(range(1, len(rows) + 1)))


def _write(
    storage: CloudStorage,
    url: str,
    format: str,
    slices: dict[str, list[list[tuple[str | None, ...]]]],
    options: dict[str, Any] | None = None,
) -> None:
    """Each slice's chunks written and committed through a FileSink."""
    sink = FileSink(url, format, options, storage.storage_options())
    sink.prepare(FIELDS, DriftPolicy.FAIL)
    for slice_id, chunks in slices.items():
        writer = sink.open_slice(slice_id)
        for rows in chunks:
            result = writer.write(_chunk(rows))
            assert (result.written, result.bad) == (len(rows), [])
        writer.commit()
    sink.close()


def _read(
    storage: CloudStorage, url: str, format: str, options: dict[str, Any] | None = None
) -> list[tuple[str, tuple[Any, ...]]]:
    """(position, row) of every row a FileSource reads, slice after slice of its plan."""
    source = FileSource(url, format, options, storage.storage_options())
    assert [f.name for f in source.fields()] == list(COLUMNS)
    found: list[tuple[str, tuple[Any, ...]]] = []
    for _slice_id, spec in source.plan(4):
        for chunk in source.read(spec):
            assert chunk.bad == []
            found += [(chunk.position(i), row) for i, row in enumerate(chunk.rows)]
    source.close()
    return found


def _unschemed(found: list[tuple[str, tuple[Any, ...]]]) -> list[tuple[str, tuple[Any, ...]]]:
    """Positions without the URL scheme: adlfs names ``az://`` URLs ``abfs://`` (see
    :func:`test_positions_show_the_scheme_the_user_wrote`)."""
    return [(position.split("://", 1)[1], row) for position, row in found]


def _names(storage: CloudStorage, url: str) -> list[str]:
    fs = storage.filesystem()
    return sorted(name.rsplit("/", 1)[-1] for name in fs.ls(url, detail=False))


@pytest.mark.parametrize("format", FORMATS)
def test_each_format_is_written_and_read_back_exactly(storage: CloudStorage, format: str) -> None:
    out = f"{storage.prefix()}/out"
    _write(storage, out, format, {"s1": [ROWS]})

    assert _names(storage, out) == [f"part-s1-00001.{format}"]
    file = f"{out}/part-s1-00001.{format}".split("://", 1)[1]
    assert _unschemed(_read(storage, out, format)) == [
        (f"{file}:{line}", row) for line, row in zip(LINES[format], ROWS, strict=True)
    ]


@pytest.mark.parametrize(
    "storage",
    ["s3_storage", "azure_storage"],
    indirect=True,
)
def test_positions_show_the_scheme_the_user_wrote(storage: CloudStorage) -> None:
    out = f"{storage.prefix()}/out"
    _write(storage, out, "jsonl", {"s1": [ROWS[:1]]})
    assert _read(storage, out, "jsonl")[0][0] == f"{out}/part-s1-00001.jsonl:1"


@pytest.mark.parametrize("format", ["csv", "parquet"])
def test_a_glob_over_prefixes_reads_every_matching_file_in_order(
    storage: CloudStorage, format: str
) -> None:
    base = storage.prefix()
    _write(storage, f"{base}/x", format, {"b": [ROWS[2:]], "a": [ROWS[:2]]})
    _write(storage, f"{base}/y", format, {"c": [ROWS[1:2]]})
    storage.filesystem().pipe(f"{base}/x/notes.txt", b"not data\n")

    found = _read(storage, f"{base}/*/part-*.{format}", format)

    assert [row for _, row in found] == [*ROWS[:2], *ROWS[2:], ROWS[1]]
    assert [position.rsplit("/", 2)[-2:] for position, _ in found[::2]] == [
        ["x", f"part-a-00001.{format}:{LINES[format][0]}"],
        ["x", f"part-b-00001.{format}:{LINES[format][0]}"],
        ["y", f"part-c-00001.{format}:{LINES[format][0]}"],
    ]


#: A little more than one chunk of 20 rows of :func:`_many` per file, so three chunks make
#: three files or so (few files: each costs a few requests to the server).
FILE_SIZE = {"csv": 400, "jsonl": 1100, "parquet": 400}


def _many(start: int, count: int) -> list[tuple[str | None, ...]]:
    return [(str(n), f"name {n}", "x" * (n % 7) or None) for n in range(start, start + count)]


@pytest.mark.parametrize("format", FORMATS)
def test_file_size_splits_a_slice_into_several_files(storage: CloudStorage, format: str) -> None:
    out = f"{storage.prefix()}/out"
    chunks = [_many(n, 20) for n in range(0, 60, 20)]
    _write(storage, out, format, {"s1": chunks}, {"file_size": FILE_SIZE[format]})

    names = _names(storage, out)
    assert len(names) >= 3
    assert names == [f"part-s1-{n:05d}.{format}" for n in range(1, len(names) + 1)]
    assert [row for _, row in _read(storage, out, format)] == _many(0, 60)


@pytest.mark.parametrize("format", FORMATS)
def test_a_redone_slice_replaces_its_files(storage: CloudStorage, format: str) -> None:
    out = f"{storage.prefix()}/out"
    options = {"file_size": FILE_SIZE[format]}
    first = [_many(n, 20) for n in range(0, 60, 20)]
    _write(storage, out, format, {"s1": first, "s2": [ROWS]}, options)
    assert len(_names(storage, out)) >= 4  # s1 in three files at least, s2 in one

    # An attempt that fails leaves nothing behind, not even a temporary file.
    sink = FileSink(out, format, options, storage.storage_options())
    sink.prepare(FIELDS, DriftPolicy.FAIL)
    failed = sink.open_slice("s1")
    failed.write(_chunk(_many(500, 40)))
    failed.abort()
    # The redo writes fewer files than the first attempt: the extra old ones must go too.
    _write(storage, out, format, {"s1": [_many(100, 3)]}, options)

    assert _names(storage, out) == [f"part-s1-00001.{format}", f"part-s2-00001.{format}"]
    assert [row for _, row in _read(storage, out, format)] == [*_many(100, 3), *ROWS]


def _text(exc: BaseException) -> str:
    """Everything an error shows: its message, repr, traceback and the errors chained to it."""
    return "".join(traceback.format_exception(exc)) + repr(exc)


def _assert_secret_free(storage: CloudStorage, *texts: str) -> None:
    """No text holds the secret (the S3 secret key, the Azure account key or the connection
    string that carries it); the S3 access key id is no secret (botocore logs it)."""
    secrets = [storage.secret, *(v for k, v in storage.options.items() if k == "connection_string")]
    for text in texts:
        for secret in secrets:
            assert secret not in text


def test_secrets_show_in_no_error_repr_or_log_of_a_failing_source(
    storage: CloudStorage, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    missing = f"{storage.protocol}://no-such-{uuid.uuid4().hex[:8]}"
    texts: list[str] = []
    for url in (f"{missing}/in/*.csv", f"{missing}/in/a.csv", f"{storage.prefix()}/none/*.csv"):
        source = FileSource(url, "csv", None, storage.storage_options())
        with pytest.raises(CopyError, match=r"no-such|none") as raised:
            source.fields()
        texts += [_text(raised.value), repr(source), source.location]

    _assert_secret_free(storage, *texts, caplog.text)


def _wrong_key(azure: CloudStorage) -> CloudStorage:
    """The Azurite storage with another account key: Azurite checks the shared-key signature
    (moto checks no credentials), so every request fails."""
    wrong_key = base64.b64encode(b"not the key of devstoreaccount1!").decode()
    options = azure.storage_options()
    options["connection_string"] = options["connection_string"].replace(azure.secret, wrong_key)
    return dataclasses.replace(azure, secret=wrong_key, options=options)


def _write_one_slice(sink: FileSink) -> None:
    sink.prepare(FIELDS, DriftPolicy.FAIL)
    writer = sink.open_slice("s1")
    writer.write(_chunk(ROWS))
    writer.commit()


@pytest.mark.parametrize("case", ["s3-missing-bucket", "azure-wrong-key"])
def test_secrets_show_in_no_error_repr_or_log_of_a_failing_sink(
    case: str, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    if case == "s3-missing-bucket":
        target: CloudStorage = request.getfixturevalue("s3_storage")
        out = f"s3://no-such-{uuid.uuid4().hex[:8]}/out"
    else:
        target = _wrong_key(request.getfixturevalue("azure_storage"))
        out = f"{target.prefix()}/out"
    caplog.set_level(logging.DEBUG)
    sink = FileSink(out, "csv", None, target.storage_options())

    with pytest.raises(Exception) as raised:  # noqa: PT011 - any error; its text is the point
        _write_one_slice(sink)

    _assert_secret_free(target, _text(raised.value), repr(sink), sink.location, caplog.text)


def test_a_refused_upload_is_a_copy_error_naming_the_file(azure_storage: CloudStorage) -> None:
    wrong = _wrong_key(azure_storage)
    out = f"{wrong.prefix()}/out"
    sink = FileSink(out, "csv", None, wrong.storage_options())
    with pytest.raises(CopyError, match=r"part-s1-00001\.csv"):
        _write_one_slice(sink)
