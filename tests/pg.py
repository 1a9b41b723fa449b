"""A real PostgreSQL for tests, started from the Debian package's binaries in a temporary directory.

``postgres_server()`` runs ``initdb`` and ``pg_ctl`` from ``/usr/lib/postgresql/<version>/bin``,
listening on 127.0.0.1 on a free port only (no Unix socket), with scram-sha-256 password
authentication, one login role with a password and one database owned by it. It stops the
server (and everything it started) on exit and removes the directory.

initdb and postgres refuse to run as root. When the tests run as root (CI does), both run as
the ``postgres`` system user that the Debian package creates, through ``runuser``, in a
directory owned by that user.

Missing binaries skip the tests, except under CI (``CI=true``), where ``.ci/run`` installs them
and their absence is a broken build.
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

#: Bounds for each step; a healthy server starts in a second or two.
START_TIMEOUT = 30
STOP_TIMEOUT = 30

#: Settings that make a throwaway server fast; durability is worthless here.
_FAST = (
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    " -c max_connections=60 -c shared_buffers=16MB"
)


@dataclass(frozen=True)
class PostgresServer:
    """How to reach the test server: a login role with a password, and its database."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    database: str
    #: The postmaster's process id (to check that stopping leaves nothing behind).
    pid: int = 0

    def url(self, *, password: str | None = None, database: str | None = None) -> str:
        """A SQLAlchemy URL (psycopg 3 driver); ``password`` overrides the real one."""
        secret = self.password if password is None else password
        return (
            f"postgresql+psycopg://{self.user}:{secret}@{self.host}:{self.port}/"
            f"{database or self.database}"
        )


def _bin_dir() -> Path | None:
    """The newest installed PostgreSQL's bin directory."""
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not found:
        return None
    return Path(max(found, key=lambda p: int(Path(p).parts[-3]))).parent


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Runner:
    """Runs the server's programs as the current user, or as ``postgres`` when we are root."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.as_postgres = os.geteuid() == 0

    def own(self, path: Path) -> None:
        if self.as_postgres:
            shutil.chown(path, "postgres", "postgres")

    def run(self, *argv: str | Path, timeout: float) -> subprocess.CompletedProcess[str]:
        prefix: list[str | Path] = ["runuser", "-u", "postgres", "--"] if self.as_postgres else []
        return subprocess.run(
            [*prefix, *argv],
            cwd=self.workdir,  # the postgres user may not be allowed into the caller's cwd
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def _postmaster_pid(data: Path) -> int | None:
    try:
        return int((data / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def _stop(runner: _Runner, pg_ctl: Path, data: Path) -> None:
    """Fast shutdown; immediate if that does not finish; SIGKILL as the last resort."""
    pid = _postmaster_pid(data)
    if pid is None:
        return  # never started, or already gone
    for mode in ("fast", "immediate"):
        done = runner.run(
            pg_ctl,
            "stop",
            "-D",
            data,
            "-m",
            mode,
            "-w",
            "-t",
            str(STOP_TIMEOUT),
            timeout=STOP_TIMEOUT + 10,
        )
        if done.returncode == 0 or _postmaster_pid(data) is None:
            break
    if pid is not None and _alive(pid):
        os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Start a throwaway PostgreSQL on 127.0.0.1 and yield how to reach it; stop it on exit."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        message = "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}; CI must install them (apt-get install postgresql)")
        pytest.skip(f"{message} (apt-get install postgresql to run these tests)")
    workdir = Path(tempfile.mkdtemp(prefix="cassflow-pg-"))
    runner = _Runner(workdir)
    runner.own(workdir)
    data, log, pwfile = workdir / "data", workdir / "server.log", workdir / "pw"
    admin_password = secrets.token_urlsafe(16)
    pwfile.write_text(admin_password + "\n")
    runner.own(pwfile)
    try:
        init = runner.run(
            bin_dir / "initdb",
            "-D",
            data,
            "-U",
            "postgres",
            "--pwfile",
            pwfile,
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
            timeout=START_TIMEOUT * 2,
        )
        pwfile.unlink()
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{init.stdout}\n{init.stderr}")
        admin = None
        for _attempt in range(3):  # another process may take the free port before we bind it
            port = _free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories='' {_FAST}"
            )
            start = runner.run(
                bin_dir / "pg_ctl",
                "start",
                "-D",
                data,
                "-l",
                log,
                "-o",
                options,
                "-w",
                "-t",
                str(START_TIMEOUT),
                timeout=START_TIMEOUT + 10,
            )
            if start.returncode == 0:
                admin = PostgresServer(
                    "127.0.0.1",
                    port,
                    "postgres",
                    admin_password,
                    "postgres",
                    _postmaster_pid(data) or 0,
                )
                break
            if _postmaster_pid(data) is not None:  # it runs but is not ready: report the log
                raise RuntimeError(f"PostgreSQL did not start:\n{_tail(log)}")
        if admin is None:
            raise RuntimeError(f"PostgreSQL did not start:\n{start.stderr}\n{_tail(log)}")
        try:
            server = _create_role_and_database(admin)
        except Exception as exc:
            raise RuntimeError(f"PostgreSQL refuses connections: {exc}\n{_tail(log)}") from exc
        yield server
    finally:
        _stop(runner, bin_dir / "pg_ctl", data)
        shutil.rmtree(workdir, ignore_errors=True)


def _create_role_and_database(admin: PostgresServer) -> PostgresServer:
    """The test role (scram password) and its database; pg_ctl -w returned once the server
    was ready, so one connection with a timeout is enough."""
    import psycopg
    from psycopg import sql

    user, password, database = "cassflow", secrets.token_urlsafe(16), "cassflow_test"
    with psycopg.connect(
        host=admin.host,
        port=admin.port,
        user=admin.user,
        password=admin.password,
        dbname="postgres",
        connect_timeout=10,
        autocommit=True,  # CREATE DATABASE cannot run in a transaction
    ) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(user), sql.Literal(password)
            )
        )
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(database), sql.Identifier(user)
            )
        )
    return PostgresServer(admin.host, admin.port, user, password, database, admin.pid)
