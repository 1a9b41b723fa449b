"""A whole dev server node: storage, schema, roles, executor and network, in one object.

:class:`DevServer` runs the node in a background thread with its own asyncio loop (the
Python API, a context manager and pytest fixture material) or in the foreground
(``cassflow dev``), and stops cleanly either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from pathlib import Path
from types import TracebackType

from cassflow.devserver._auth import RoleManager
from cassflow.devserver._compaction import CompactionSimulator
from cassflow.devserver._executor import Executor
from cassflow.devserver._faults import FaultInjector
from cassflow.devserver._server import CqlServer
from cassflow.devserver._storage import Storage
from cassflow.errors import CassflowError

log = logging.getLogger(__name__)

_AUTH_META_KEY = "auth"


class DevServerError(CassflowError):
    """The dev server could not start or stop."""


class DevServer:
    """An embedded Cassandra look-alike listening on ``host:port``.

    ``port=0`` picks a free port (read it back from :attr:`port` after :meth:`start`).
    ``data_dir`` keeps data across restarts; without it everything lives in memory.
    ``auth`` turns on PasswordAuthenticator + CassandraAuthorizer (superuser
    cassandra/cassandra). ``faults`` is a YAML rule file; :attr:`faults` changes rules live.

    >>> with DevServer() as server:                      # doctest: +SKIP
    ...     cluster = Cluster([server.host], port=server.port)
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        data_dir: str | Path | None = None,
        auth: bool = False,
        faults: str | Path | None = None,
        compaction: CompactionSimulator | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.auth = auth
        #: Simulated compaction; tune it (flush_cells, seconds_per_compaction) for tests.
        self.compaction = compaction or CompactionSimulator()
        self.faults = FaultInjector()
        if faults is not None:
            self.faults.load_file(faults)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._server: CqlServer | None = None
        self._storage: Storage | None = None

    @property
    def contact_point(self) -> str:
        """``host:port``, as CASSFLOW_TEST_HOSTS and the pipeline files spell it."""
        return f"{self.host}:{self.port}"

    # --- lifecycle -------------------------------------------------------------------------

    def _build(self) -> CqlServer:
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            storage = Storage(self.data_dir / "cassflow-dev.sqlite3")
        else:
            storage = Storage(None)
        self._storage = storage
        roles = None
        if self.auth:
            roles = RoleManager(
                lambda: storage.get_meta(_AUTH_META_KEY),
                lambda value: storage.put_meta(_AUTH_META_KEY, value),
            )
            roles.bootstrap()
        server = CqlServer(
            Executor(storage, roles=roles, compaction=self.compaction),
            authenticator=roles,
            faults=self.faults,
            transactions=storage,
        )
        executor = server.handler
        assert isinstance(executor, Executor)
        executor.attach(server, self)
        return server

    async def _main(self) -> None:
        self._stopping = self._stopping or asyncio.Event()
        self._server = self._build()
        self.host, self.port = await self._server.start(self.host, self.port)
        log.info("cassflow dev listening on %s:%s", self.host, self.port)
        self._ready.set()
        await self._stopping.wait()
        await self._server.stop()
        if self._storage is not None:
            self._storage.close()

    def _run_thread(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # reported to start() through _startup_error
            self._startup_error = exc
            self._ready.set()
        finally:
            loop.close()

    def start(self, timeout: float = 30.0) -> DevServer:
        """Start in a background thread; returns once the server accepts connections."""
        if self._thread is not None:
            raise DevServerError("the dev server is already running")
        self._thread = threading.Thread(target=self._run_thread, name="cassflow-dev", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise DevServerError(f"the dev server did not start within {timeout} s")
        if self._startup_error is not None:
            raise DevServerError(f"the dev server failed to start: {self._startup_error}")
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the background server and wait for it to close."""
        if self._thread is None:
            return
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop may already be closed
                loop.call_soon_threadsafe(stopping.set)
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise DevServerError(f"the dev server did not stop within {timeout} s")
        self._thread = None

    def serve_forever(self) -> None:
        """Run in the foreground until SIGINT or SIGTERM, then shut down cleanly."""

        async def main() -> None:
            stopping = self._stopping = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stopping.set)
            await self._main()

        asyncio.run(main())

    def __enter__(self) -> DevServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
