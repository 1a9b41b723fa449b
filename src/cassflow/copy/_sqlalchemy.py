"""The one module that imports SQLAlchemy: engines from URLs, and database errors told apart.

Importing it without SQLAlchemy installed raises :class:`CopyError` naming the extra to install,
so the SQL source and sink import it only once they are used.

Engines. ``postgresql://`` (and ``postgres://``) URLs get the psycopg 3 driver; a missing
DB-API driver names the package to install. SQLite connections get real transactions (the
``sqlite3`` module's legacy mode begins one only before DML, so savepoints and DDL would run
outside it): ``BEGIN`` for readers, ``BEGIN IMMEDIATE`` for writers, which takes the write lock
up front and waits for it (``timeout``) instead of failing at the first write when another
writer holds it. PostgreSQL intervals are read as :class:`cassandra.util.Duration` (months,
days, nanoseconds) rather than psycopg's ``timedelta``, which turns a month into 30 days.
JSON documents are read and written as their text (:class:`JsonText`).

Errors. :func:`describe` is the database's own message with every form of the URL's password
blanked out; :func:`is_transient` tells a lost connection, a deadlock or a serialization
failure (worth redoing the slice) from a refusal (constraint, bad value) by error class and
SQLSTATE, never by message text.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import urllib.parse
from pathlib import Path
from typing import Any

from cassandra.util import Duration
from pydantic import SecretStr

from cassflow.copy._model import CopyError
from cassflow.copy._report import redact
from cassflow.errors import CassflowError

try:
    import sqlalchemy as sa
    from sqlalchemy import event
    from sqlalchemy import exc as sa_exc
    from sqlalchemy.dialects import mysql, postgresql, sqlite
    from sqlalchemy.engine import URL, Engine
    from sqlalchemy.sql import sqltypes
    from sqlalchemy.types import TypeEngine
except ModuleNotFoundError as exc:  # pragma: no cover - the test environment has SQLAlchemy
    raise CopyError("SQL sources and sinks need SQLAlchemy: pip install 'cassflow[sql]'") from exc

__all__ = [
    "URL",
    "Database",
    "Engine",
    "JsonText",
    "SqlTransientError",
    "TypeEngine",
    "describe",
    "is_connection_failure",
    "is_row_refusal",
    "is_transient",
    "make_engine",
    "mysql",
    "postgresql",
    "sa",
    "sa_exc",
    "sqlite",
    "sqltypes",
]

#: Driver modules by SQLAlchemy dialect+driver, with what to install when one is missing.
_DRIVER_HINTS = {
    "psycopg": "pip install 'cassflow[postgresql]'",
    "psycopg2": "pip install psycopg2-binary",
    "pymysql": "pip install pymysql",
    "mysqldb": "pip install mysqlclient",
}

#: SQLSTATEs worth another try: connection exceptions (class 08), serialization failure,
#: deadlock, too many connections, lock not available, server shutting down or starting.
_TRANSIENT_SQLSTATE_CLASSES = ("08",)
_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "53300", "55P03", "57P01", "57P02", "57P03"})
#: MySQL error numbers: lock wait timeout, deadlock, too many connections, connection lost.
_TRANSIENT_MYSQL = frozenset({1040, 1205, 1213, 2002, 2003, 2006, 2013})
#: SQLite: the database file is locked by another connection.
_TRANSIENT_SQLITE = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


class SqlTransientError(CassflowError, ConnectionError):
    """The database dropped the connection, deadlocked or could not serialize: redo the slice.

    A ``ConnectionError`` so that :func:`cassflow.copy._retry.classify_error`, which decides by
    class, counts it as transient.
    """


def _password(url: URL) -> str | None:
    """The password, from the URL's user part or its query string (``?password=``)."""
    if url.password is not None:
        return str(url.password)
    value = url.query.get("password")
    return value if isinstance(value, str) else None


class JsonText(str):
    """The text of a JSON document, passed through untouched in both directions: read as the
    database returns it (``json`` keeps its spacing and key order; ``jsonb`` is normalized
    by the server), and written as given, rather than parsed and re-serialized."""

    __slots__ = ()


def _load_json(data: str | bytes | bytearray | memoryview) -> JsonText:
    """The engines' JSON deserializer (psycopg hands over bytes, SQLite and MySQL text)."""
    return JsonText(data if isinstance(data, str) else bytes(data).decode("utf-8"))


def _dump_json(value: Any) -> str:
    """The engines' JSON serializer: :class:`JsonText` as it is, other values as JSON."""
    if isinstance(value, JsonText):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def make_engine(url: SecretStr, *, write: bool, must_exist: bool) -> tuple[Engine, str | None]:
    """An engine for ``url`` and its password (to blank out of messages).

    ``must_exist`` refuses a SQLite file that is not there (SQLite would create an empty one);
    ``write`` makes SQLite transactions take the write lock when they begin.
    """
    raw = url.get_secret_value()
    try:
        parsed = sa.make_url(raw)
    except sa_exc.ArgumentError:
        raise CopyError(f"not a database URL: {redact(raw)!r}") from None
    password = _password(parsed)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        _check_sqlite_path(parsed, must_exist=must_exist)
    try:
        engine = sa.create_engine(
            parsed, pool_pre_ping=True, json_serializer=_dump_json, json_deserializer=_load_json
        )
    except sa_exc.NoSuchModuleError:
        raise CopyError(
            f"no SQLAlchemy dialect for {parsed.drivername!r} ({redact(raw)})"
        ) from None
    except ImportError as exc:
        driver = parsed.get_driver_name()
        hint = _DRIVER_HINTS.get(driver, f"install the DB-API module {exc.name or driver!r}")
        raise CopyError(f"the {driver} database driver is not installed: {hint}") from None
    if engine.dialect.name == "sqlite":
        _sqlite_transactions(engine, "BEGIN IMMEDIATE" if write else "BEGIN")
    elif engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
        event.listen(engine, "connect", _read_intervals_as_durations)
    return engine, password


def _check_sqlite_path(url: URL, *, must_exist: bool) -> None:
    database = url.database or ""
    if not must_exist or database in ("", ":memory:") or url.query.get("uri") == "true":
        return
    if not Path(database).is_file():
        raise CopyError(f"no SQLite database at {database}")


def _sqlite_transactions(engine: Engine, begin: str) -> None:
    """Let SQLAlchemy, not the sqlite3 module, decide where transactions begin (its docs'
    recipe for savepoints and transactional DDL on pysqlite)."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)


_INTERVAL = re.compile(
    r"""^\s*(?:(?P<years>[-+]?\d+)\s+years?\s*)?
    (?:(?P<months>[-+]?\d+)\s+mons?\s*)?
    (?:(?P<days>[-+]?\d+)\s+days?\s*)?
    (?:(?P<sign>[-+])?(?P<hours>\d+):(?P<minutes>\d+):(?P<seconds>\d+)(?:\.(?P<fraction>\d{1,9}))?)?
    \s*$""",
    re.VERBOSE,
)


def parse_pg_interval(text: str) -> Duration:
    """A PostgreSQL interval in ``IntervalStyle = postgres`` output as a Duration.

    >>> parse_pg_interval("1 year 2 mons -3 days -04:05:06.5")
    Duration(14, -3, -14706500000000)
    """
    match = _INTERVAL.match(text)
    if match is None or not text.strip():
        raise ValueError(f"not a PostgreSQL interval: {text!r}")
    parts = match.groupdict()
    months = 12 * int(parts["years"] or 0) + int(parts["months"] or 0)
    nanos = 0
    if parts["hours"] is not None:
        fraction = (parts["fraction"] or "").ljust(9, "0")
        seconds = int(parts["hours"]) * 3600 + int(parts["minutes"]) * 60 + int(parts["seconds"])
        nanos = seconds * 1_000_000_000 + int(fraction)
        if parts["sign"] == "-":
            nanos = -nanos
    return Duration(months, int(parts["days"] or 0), nanos)


def _read_intervals_as_durations(dbapi_connection: Any, _record: Any) -> None:
    from psycopg.adapt import Loader  # noqa: PLC0415 - psycopg is only here on PostgreSQL

    class DurationLoader(Loader):
        def load(self, data: Any) -> Duration:
            return parse_pg_interval(bytes(data).decode("ascii"))

    with dbapi_connection.cursor() as cursor:
        # Our parser reads the default output style; a role or database may set another.
        cursor.execute("SET IntervalStyle = postgres")
    if not dbapi_connection.autocommit:
        dbapi_connection.commit()
    dbapi_connection.adapters.register_loader("interval", DurationLoader)


#: Passwords at least this long are blanked wherever they appear; shorter ones only where
#: they stand alone, so that a password ``p`` does not turn "port" into "***ort".
_BLANK_EVERYWHERE = 6


def _blank(text: str, password: str | None) -> str:
    text = redact(text)
    if password:
        for form in {
            password,
            urllib.parse.quote(password, safe=""),
            urllib.parse.quote_plus(password),
        }:
            if len(form) >= _BLANK_EVERYWHERE:
                text = text.replace(form, "***")
            else:
                text = re.sub(rf"(?<!\w){re.escape(form)}(?!\w)", "***", text)
    return text


def describe(exc: BaseException, password: str | None) -> str:
    """The database's message for ``exc`` (not SQLAlchemy's wrapper with the statement and its
    parameters), with the password blanked out."""
    orig = getattr(exc, "orig", None) if isinstance(exc, sa_exc.StatementError) else None
    inner = orig if isinstance(orig, BaseException) else exc
    text = str(inner).strip() or type(inner).__name__
    return _blank(text, password)


def is_transient(exc: BaseException) -> bool:
    """Whether redoing the work later can succeed: lost connections, deadlocks, busy files."""
    if isinstance(exc, sa_exc.DisconnectionError | sa_exc.TimeoutError):
        return True
    if not isinstance(exc, sa_exc.DBAPIError):
        return isinstance(exc, ConnectionError | TimeoutError)
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if isinstance(sqlstate, str):
        return sqlstate in _TRANSIENT_SQLSTATES or sqlstate[:2] in _TRANSIENT_SQLSTATE_CLASSES
    if isinstance(orig, sqlite3.Error):
        return getattr(orig, "sqlite_errorcode", None) in _TRANSIENT_SQLITE
    args: tuple[Any, ...] = getattr(orig, "args", ())
    return bool(args) and isinstance(args[0], int) and args[0] in _TRANSIENT_MYSQL


def is_connection_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is psycopg's failure to connect or to keep a connection: an
    ``OperationalError`` the server gave no SQLSTATE for (psycopg reports a refused connection,
    a reset and a failed login that way). MySQL's are told by :func:`is_transient`'s numbers."""
    if not isinstance(exc, sa_exc.OperationalError):
        return False
    orig = exc.orig
    return type(orig).__module__.startswith("psycopg") and getattr(orig, "sqlstate", 0) is None


def is_row_refusal(exc: BaseException) -> bool:
    """Whether the database refused the values of a row (a constraint, a value out of range
    or too long, a value the driver cannot send), rather than the statement as a whole."""
    if isinstance(exc, sa_exc.IntegrityError | sa_exc.DataError):
        return True
    # A value a bind processor or the driver could not turn into a parameter.
    return (
        isinstance(exc, sa_exc.StatementError)
        and not isinstance(exc, sa_exc.DBAPIError)
        and isinstance(exc.orig, TypeError | ValueError | ArithmeticError)
    )


class Database:
    """One database of a source or sink: its engine, made on first use and shared by the
    slices' threads, and its errors turned into cassflow's (the password blanked out)."""

    def __init__(self, url: SecretStr, *, write: bool, must_exist: bool, location: str) -> None:
        self._url = url
        self._write = write
        self._must_exist = must_exist
        self.location = location
        self.password: str | None = None
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        """The engine (created on first use)."""
        with self._lock:
            if self._engine is None:
                self._engine, self.password = make_engine(
                    self._url, write=self._write, must_exist=self._must_exist
                )
            return self._engine

    @property
    def dialect(self) -> str:
        """The dialect's name: ``postgresql``, ``sqlite``, ``mysql``..."""
        return str(self.engine.dialect.name)

    def error(self, exc: BaseException, doing: str, *, in_slice: bool = False) -> CassflowError:
        """``exc`` as :class:`SqlTransientError` (redo the slice) or :class:`CopyError`, with
        the database's message, what we were doing, and never the password.

        ``in_slice``: the database was reachable when the copy was planned, so failing to
        connect now (a restart, the network) is worth another try; before that, a connection
        failure is most likely a wrong URL or password, and is reported as it is.
        """
        text = f"{self.location}: {doing}: {describe(exc, self.password)}"
        if is_transient(exc) or (in_slice and is_connection_failure(exc)):
            return SqlTransientError(text)
        return CopyError(text)

    def dispose(self) -> None:
        """Close the pooled connections."""
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
