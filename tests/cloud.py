"""Object stores for tests: S3 from a moto server and Azure Blob from Azurite, on 127.0.0.1.

``moto_s3()`` and ``azurite_blob()`` start their server as a child process listening on
127.0.0.1 on a free port, wait (with a deadline) until it answers HTTP, create one bucket or
container, and yield a :class:`CloudStorage`: the ``s3://bucket`` / ``az://container`` root and
the fsspec storage options (s3fs, adlfs) that reach it. On exit they stop the server (SIGTERM,
then SIGKILL to its process group) and remove its working directory.

moto comes with the test dependencies (``moto[server]``). Azurite is an npm package: its
``azurite-blob`` program is looked up on ``PATH``, then in ``.ci/node_modules/.bin`` (where
``.ci/run`` installs it with ``npm install --prefix .ci azurite@3``), then in the environment
variable ``CASSFLOW_AZURITE``. A missing moto, Azurite or ``node`` skips the tests, except
under CI (``CI=true``), where it is a broken build.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest

#: Bounds for starting and stopping a server; both start in a second or two.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
#: How long one readiness probe may take, and how long to wait between two probes.
PROBE_TIMEOUT = 1.0
PROBE_INTERVAL = 0.05

#: Azurite's well-known development account (public, documented by Microsoft for emulators).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

REPO = Path(__file__).resolve().parent.parent
AZURITE_IN_REPO = REPO / ".ci" / "node_modules" / ".bin" / "azurite-blob"

#: Urllib without proxies: the probes go to 127.0.0.1 whatever HTTP_PROXY says.
_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class CloudStorage:
    """A bucket (S3) or container (Azure Blob) on a local test server, and how fsspec reaches it.

    Every test should write under its own :meth:`prefix`, since the bucket lives for the whole
    session.
    """

    #: fsspec protocol of the URLs: ``s3`` or ``az``.
    protocol: str
    #: Bucket or container name.
    container: str
    #: The server's HTTP endpoint.
    endpoint_url: str
    #: The credential that must never show in errors, reprs or logs (S3 secret key, Azure
    #: account key).
    secret: str = field(repr=False)
    #: The fsspec storage options; read them through :meth:`storage_options`.
    options: dict[str, Any] = field(repr=False)
    #: The server's process id (to check that stopping leaves nothing behind).
    pid: int = 0

    @property
    def root(self) -> str:
        """``s3://bucket`` or ``az://container``."""
        return f"{self.protocol}://{self.container}"

    def url(self, *parts: str) -> str:
        """A URL under the root: ``url("a", "b.csv")`` -> ``s3://bucket/a/b.csv``."""
        return "/".join([self.root, *(part.strip("/") for part in parts)])

    def prefix(self) -> str:
        """A fresh, empty ``s3://bucket/<random>`` prefix for one test."""
        return self.url(uuid.uuid4().hex[:16])

    def storage_options(self) -> dict[str, Any]:
        """A copy of the fsspec storage options (callers may change it freely)."""
        return copy.deepcopy(self.options)

    def filesystem(self) -> Any:
        """A new fsspec filesystem (not the cached instance) on this storage."""
        import fsspec

        return fsspec.filesystem(self.protocol, skip_instance_cache=True, **self.storage_options())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _missing(what: str, install: str) -> NoReturn:
    """Skip the tests that need ``what``; fail them under CI, which must have installed it."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} not found; CI must install it ({install})")
    pytest.skip(f"{what} not found ({install} to run these tests)")


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group, SIGKILL if it is still there after a while."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)  # its own session (start_new_session): only its processes
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=STOP_TIMEOUT)
    # Children of the server (none expected) die with the group; reap the leader.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=STOP_TIMEOUT)


def _die_with_us(argv: list[str]) -> list[str]:
    """``argv`` run so that the server is killed when the test process dies, however it dies.

    A killed CI job or pytest-timeout's ``os._exit`` skips our clean-up, and the server (in a
    session of its own) would outlive us. util-linux's ``setpriv --pdeathsig`` (Linux) sets
    the parent-death signal and execs the server; without it the clean-up on exit is all there
    is. (Not a ``preexec_fn``: the test process has threads, and forking them is unsafe.) The
    signal comes when the *thread* that started the server ends: start servers from the main
    thread, as pytest fixtures are.
    """
    setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    return [setpriv, "--pdeathsig", "KILL", "--", *argv] if setpriv else argv


def _wait_ready(
    proc: subprocess.Popen[bytes], port: int, probe: Callable[[int], bool], deadline: float
) -> bool:
    """Probe until the server answers (True), exits (False) or the deadline passes (error).

    The pause between probes is a wait on the process, so an exit is noticed at once.
    """
    while True:
        if proc.poll() is not None:
            return False
        if probe(port):
            return proc.poll() is None  # a server that answered and died is no server
        if time.monotonic() >= deadline:
            raise TimeoutError
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=PROBE_INTERVAL)


@contextlib.contextmanager
def _serve(
    name: str,
    argv: Callable[[int, Path], list[str]],
    probe: Callable[[int], bool],
    env: dict[str, str] | None = None,
) -> Iterator[tuple[int, int]]:
    """Run ``argv(port, workdir)`` until it answers ``probe(port)``; yield (port, pid).

    A free port can be taken by someone else between our check and the server's bind; the
    server then exits, and we try again on another port (three times at most).
    """
    workdir = Path(tempfile.mkdtemp(prefix=f"cassflow-{name}-"))
    log = workdir / "server.log"
    proc: subprocess.Popen[bytes] | None = None
    try:
        for _attempt in range(3):
            port = _free_port()
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    _die_with_us(argv(port, workdir)),
                    cwd=workdir,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    env=env,
                )
            try:
                ready = _wait_ready(proc, port, probe, time.monotonic() + START_TIMEOUT)
            except TimeoutError:
                raise RuntimeError(
                    f"{name} did not answer on 127.0.0.1:{port} within {START_TIMEOUT:.0f} s:\n"
                    f"{_tail(log)}"
                ) from None
            if ready:
                yield port, proc.pid
                return
            _stop(proc)
        raise RuntimeError(f"{name} exited before it answered:\n{_tail(log)}")
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


_PROXY_VARIABLES = (
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
)


@contextlib.contextmanager
def _no_proxy_for_localhost() -> Iterator[None]:
    """Keep the clients' requests to 127.0.0.1 off any proxy the environment configures.

    botocore (under s3fs) and aiohttp (under adlfs) take their proxy from the environment; on a
    machine behind a proxy they would send our local requests to it, unless ``NO_PROXY`` names
    127.0.0.1. It is added for as long as the server runs, and the old value put back after.
    """
    if not any(os.environ.get(name) for name in _PROXY_VARIABLES):
        yield
        return
    saved = {name: os.environ.get(name) for name in ("NO_PROXY", "no_proxy")}
    for name, value in saved.items():
        os.environ[name] = ",".join(part for part in (value, "127.0.0.1") if part)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _http_probe(url: str, server_header: str | None = None) -> bool:
    """True once ``url`` answers HTTP at all (any status) from the expected server."""
    try:
        with _LOCAL.open(url, timeout=PROBE_TIMEOUT) as response:
            headers = response.headers
    except urllib.error.HTTPError as exc:  # an error status is still an answer
        headers = exc.headers
    except OSError:  # refused, reset, timed out: not listening yet
        return False
    return server_header is None or headers.get("Server", "").startswith(server_header)


@contextlib.contextmanager
def moto_s3(bucket: str = "cassflow-test") -> Iterator[CloudStorage]:
    """A moto S3 server on 127.0.0.1 with one bucket; yields how s3fs reaches it.

    The storage options are what s3fs needs for a custom endpoint: ``endpoint_url`` (top level;
    s3fs gives it precedence over ``client_kwargs``), explicit ``key``/``secret`` so no AWS
    profile or environment credentials are consulted, and a fixed region in ``client_kwargs``
    so botocore neither looks one up nor signs for another. The secret is random per session,
    so a test can search for it in error texts.
    """
    # find_spec("moto.server") would import moto, and raise if it is missing.
    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("moto.server") is None:
        _missing("moto (S3 server)", "pip install 'moto[server]'")
    # moto checks nothing about credentials, but keep the server away from any real ones.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    server = _serve(
        "moto",
        lambda port, _workdir: [
            sys.executable,
            "-m",
            "moto.server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        lambda port: _http_probe(f"http://127.0.0.1:{port}/moto-api/data.json"),
        env=env,
    )
    with server as (port, pid), _no_proxy_for_localhost():
        endpoint = f"http://127.0.0.1:{port}"
        secret = f"s3secret-{secrets.token_hex(16)}"
        options: dict[str, Any] = {
            "endpoint_url": endpoint,
            "key": "cassflow-test-key",
            "secret": secret,
            "client_kwargs": {"region_name": "us-east-1"},
            # Bounded waits: a stuck server fails a test instead of hanging the suite.
            "config_kwargs": {
                "connect_timeout": 5,
                "read_timeout": 30,
                "retries": {"max_attempts": 2},
            },
        }
        _create_bucket(endpoint, options, bucket)
        yield CloudStorage("s3", bucket, endpoint, secret, options, pid)


def _create_bucket(endpoint: str, options: dict[str, Any], bucket: str) -> None:
    """Create the bucket with boto3: s3fs's ``mkdir`` would send ``LocationConstraint:
    us-east-1``, which S3 (and moto) refuse for that region."""
    import boto3  # type: ignore[import-untyped]

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=options["key"],
        aws_secret_access_key=options["secret"],
        region_name=options["client_kwargs"]["region_name"],
    )
    try:
        client.create_bucket(Bucket=bucket)
    finally:
        client.close()


def azurite_program() -> str | None:
    """The ``azurite-blob`` program: on PATH, in ``.ci/node_modules/.bin``, or $CASSFLOW_AZURITE."""
    found = shutil.which("azurite-blob")
    if found:
        return found
    if AZURITE_IN_REPO.is_file():
        return str(AZURITE_IN_REPO)
    configured = os.environ.get("CASSFLOW_AZURITE", "").strip()
    if configured and Path(configured).is_file():
        return configured
    return None


@contextlib.contextmanager
def azurite_blob(container: str = "cassflow-test") -> Iterator[CloudStorage]:
    """An Azurite blob service on 127.0.0.1 with one container; yields how adlfs reaches it.

    adlfs gets a connection string for Azurite's well-known ``devstoreaccount1`` account whose
    ``BlobEndpoint`` is the local server (path-style URL: ``http://127.0.0.1:<port>/<account>``).
    """
    program = azurite_program()
    install = "npm install --prefix .ci --no-audit --no-fund azurite@3"
    if program is None:
        _missing(
            f"azurite-blob (on PATH, {AZURITE_IN_REPO} or $CASSFLOW_AZURITE)",
            install,
        )
    if shutil.which("node") is None:
        _missing("node (to run Azurite)", "apt-get install -y nodejs npm")
    server = _serve(
        "azurite",
        lambda port, workdir: [
            program,
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--location",
            str(workdir),
            "--silent",
            "--disableTelemetry",
            # azure-storage-blob may speak a newer API version than this Azurite knows.
            "--skipApiVersionCheck",
        ],
        lambda port: _http_probe(
            f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}?comp=list", server_header="Azurite-Blob"
        ),
    )
    with server as (port, pid), _no_proxy_for_localhost():
        endpoint = f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"
        connection_string = (
            "DefaultEndpointsProtocol=http;"
            f"AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};BlobEndpoint={endpoint};"
        )
        options: dict[str, Any] = {
            "connection_string": connection_string,
            "account_name": AZURITE_ACCOUNT,
            "connection_timeout": 5,
            "read_timeout": 30,
        }
        storage = CloudStorage("az", container, endpoint, AZURITE_KEY, options, pid)
        storage.filesystem().mkdir(container)
        yield storage
