"""Bypass attempts through the wire: a proxy with the real Gatekeeper, a token verifier and a
policy, in front of the cluster under test (the dev server, or CASSFLOW_TEST_HOSTS).

Identity ``alice`` may SELECT and MODIFY ``<ks>.allowed`` and nothing else; ``bob`` may SELECT
and MODIFY ``<ks>.secret`` and nothing else. Every attempt below is something alice (or bob)
must not get away with: it is sent through the proxy with the unmodified driver, or as raw
frames (:class:`cassflow.protocol.Connection` over a socket) where the driver would not send
it. Each must be refused with the error the client is owed (Unauthorized; Cassandra's own
SyntaxException for text Cassandra refuses as well; UNPREPARED for another identity's prepared
id), leave the data and the schema as they were (checked with a direct session to the
cluster, not through the proxy), and leave a ``denied`` audit line that returned no rows.
cqlsh is run through the same gatekeeper at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cassandra import InvalidRequest, Unauthorized
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster, Session
from cassandra.protocol import SyntaxException
from cassandra.query import BatchStatement, BatchType, PreparedStatement, SimpleStatement
from cryptography.hazmat.primitives import serialization

from cassflow.protocol import (
    CLOSED,
    NEED_DATA,
    Authenticate,
    AuthResponse,
    AuthSuccess,
    Batch,
    Connection,
    Consistency,
    Envelope,
    ErrorMessage,
    Execute,
    Message,
    Prepare,
    PreparedResult,
    Query,
    QueryParameters,
    Role,
    RowsResult,
    SetKeyspaceResult,
    Startup,
    Unprepared,
    decode_rows,
)
from cassflow.protocol import BatchStatement as RawBatchEntry
from cassflow.protocol import BatchType as RawBatchType
from cassflow.proxy._audit import AuditLog
from cassflow.proxy._gate import Gatekeeper, gated_server
from cassflow.proxy._keys import generate_key, issue_token
from cassflow.proxy._policy import Policy, parse_policy
from cassflow.proxy._server import ProxyServer
from cassflow.proxy._tokens import TokenSettings, TokenVerifier
from cassflow.proxy._upstream import UpstreamConfig
from clusters import scratch_keyspace
from proxies import upstream_of

ISSUER = "https://id.bypass.example.test"
AUDIENCE = "cassflow-proxy"
UNAUTHORIZED = 0x2100
UNPREPARED = 0x2500
#: Rows of the tables alice must not read carry this; it must never come back to her.
SECRET = "secret-7e1f"
#: The password of a CREATE ROLE alice attempts: it must not reach the audit log.
ROLE_PASSWORD = "pw-not-in-audit-5d1e"
TIMEOUT = 10.0
CompletedProcess = subprocess.CompletedProcess[str]
CQLSH_TIMEOUT = 90.0


# --- the world: keyspaces, tables, a gatekeeping proxy, two identities --------------------------


@dataclass
class World:
    """Everything an attempt needs; names are as stored (lower case unless quoted)."""

    ks: str  # alice may SELECT/MODIFY ks.allowed; bob ks.secret
    other: str  # another keyspace with a table named allowed too
    qks: str  # a case-sensitive keyspace ("Bwq_..."), with a table named allowed too
    evil_ks: str  # a keyspace name no one may create
    server: ProxyServer
    verifier: TokenVerifier
    audit_path: Path
    tokens: dict[str, str]
    clusters: dict[str, Cluster]
    sessions: dict[str, Session]
    prepared: dict[str, PreparedStatement] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def raw_version(self) -> int:
        return max(self.server.protocol_versions)

    def fresh_session(self, who: str = "alice") -> Session:
        """A session of its own (its USE must not move the shared one)."""
        return self.clusters[who].connect()

    def raw(self, who: str = "alice", version: int | None = None) -> RawClient:
        return RawClient(self.port, self.tokens[who], version or self.raw_version)


@pytest.fixture(scope="module")
def world(
    contact: tuple[list[str], int], session: Session, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    work = tmp_path_factory.mktemp("bypass")
    with contextlib.ExitStack() as stack:
        ks = stack.enter_context(scratch_keyspace(session, "bw"))
        other = stack.enter_context(scratch_keyspace(session, "bwo"))
        qks = f"Bwq_{uuid.uuid4().hex[:12]}"
        session.execute(
            f'CREATE KEYSPACE "{qks}" WITH replication = '
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        stack.callback(session.execute, f'DROP KEYSPACE IF EXISTS "{qks}"')
        _fill(session, ks, other, qks)

        key = generate_key("ec")
        public = work / "public.pem"
        public.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        verifier = TokenVerifier(
            TokenSettings(issuer=ISSUER, audience=AUDIENCE, public_keys=[public])
        )
        policy = parse_policy(
            f"""
version: 1
rules:
  - name: alice-allowed
    match: {{subjects: [alice]}}
    allow:
      - {{keyspace: {ks}, tables: [allowed], verbs: [SELECT, MODIFY]}}
  - name: bob-secret
    match: {{subjects: [bob]}}
    allow:
      - {{keyspace: {ks}, tables: [secret], verbs: [SELECT, MODIFY]}}
"""
        )
        audit_path = work / "audit.jsonl"
        server = stack.enter_context(_proxy(upstream_of(contact), verifier, policy, audit_path))
        tokens = {
            who: issue_token(key, subject=who, issuer=ISSUER, audience=AUDIENCE, ttl=900.0)
            for who in ("alice", "bob")
        }
        clusters = {
            who: Cluster(
                ["127.0.0.1"],
                port=server.port,
                auth_provider=PlainTextAuthProvider("token", token),
                connect_timeout=TIMEOUT,
                control_connection_timeout=TIMEOUT,
            )
            for who, token in tokens.items()
        }
        for cluster in clusters.values():
            stack.callback(cluster.shutdown)
        sessions = {who: cluster.connect() for who, cluster in clusters.items()}
        w = World(
            ks=ks,
            other=other,
            qks=qks,
            evil_ks=f"bw_evil_{uuid.uuid4().hex[:12]}",
            server=server,
            verifier=verifier,
            audit_path=audit_path,
            tokens=tokens,
            clusters=clusters,
            sessions=sessions,
        )
        w.prepared["alice_insert"] = sessions["alice"].prepare(
            f"INSERT INTO {ks}.allowed (k, v) VALUES (?, ?)"
        )
        w.prepared["bob_update"] = sessions["bob"].prepare(
            f"UPDATE {ks}.secret SET v = ? WHERE k = ?"
        )
        yield w


@contextlib.contextmanager
def _proxy(
    upstream: UpstreamConfig, verifier: TokenVerifier, policy: Policy, audit_path: Path
) -> Iterator[ProxyServer]:
    """A proxy with the real Gatekeeper (rate limits held by ``pace``) and an audit file."""
    audit = AuditLog(audit_path)
    server = gated_server(
        "127.0.0.1", 0, upstream, Gatekeeper(verifier, lambda: policy, audit=audit)
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
        audit.close()


def _fill(session: Session, ks: str, other: str, qks: str) -> None:
    for text in (
        f"CREATE TABLE {ks}.allowed (k int PRIMARY KEY, v text)",
        f"CREATE TABLE {ks}.secret (k int PRIMARY KEY, v text)",
        f'CREATE TABLE {ks}."Allowed" (k int PRIMARY KEY, v text)',
        f"CREATE TABLE {ks}.hits (k int PRIMARY KEY, c counter)",
        f"CREATE TABLE {other}.allowed (k int PRIMARY KEY, v text)",
        f'CREATE TABLE "{qks}".allowed (k int PRIMARY KEY, v text)',
    ):
        session.execute(text)
    for i in range(4):
        session.execute(f"INSERT INTO {ks}.allowed (k, v) VALUES ({i}, 'a{i}')")
        session.execute(f"INSERT INTO {ks}.secret (k, v) VALUES ({i}, '{SECRET}-s{i}')")
        session.execute(f"INSERT INTO {ks}.\"Allowed\" (k, v) VALUES ({i}, '{SECRET}-q{i}')")
        session.execute(f"INSERT INTO {other}.allowed (k, v) VALUES ({i}, '{SECRET}-o{i}')")
        session.execute(f"INSERT INTO \"{qks}\".allowed (k, v) VALUES ({i}, '{SECRET}-c{i}')")
    session.execute(f"UPDATE {ks}.hits SET c = c + 5 WHERE k = 1")


def _snapshot(session: Session, w: World) -> dict[str, Any]:
    """Data and schema an attempt could touch, read directly from the cluster. Write times
    are part of it: a write of the value a row already holds changes it too."""
    reads = [
        f"SELECT k, v, writetime(v) FROM {table}"
        for table in (
            f"{w.ks}.allowed",
            f"{w.ks}.secret",
            f'{w.ks}."Allowed"',
            f"{w.other}.allowed",
            f'"{w.qks}".allowed',
        )
    ]
    reads.append(f"SELECT k, c FROM {w.ks}.hits")
    found: dict[str, Any] = {
        read: sorted(tuple(row) for row in session.execute(read)) for read in reads
    }
    for keyspace in (w.ks, w.other, w.qks, w.evil_ks):
        for what, columns in (
            ("columns", "table_name, column_name, type"),
            ("indexes", "table_name, index_name"),
        ):
            found[f"{what} of {keyspace}"] = sorted(
                tuple(row)
                for row in session.execute(
                    f"SELECT {columns} FROM system_schema.{what} WHERE keyspace_name = %s",
                    (keyspace,),
                )
            )
        found[f"keyspace {keyspace}"] = list(
            session.execute(
                "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = %s",
                (keyspace,),
            )
        )
    found["roles"] = sorted(
        tuple(row)
        for row in session.execute("SELECT role, is_superuser, can_login FROM system_auth.roles")
    )
    return found


def _audit_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# --- raw frames ---------------------------------------------------------------------------------


class RefusedError(Exception):
    """A raw request answered with an ERROR (``answer``) instead of a result."""

    def __init__(self, answer: ErrorMessage) -> None:
        super().__init__(f"0x{int(answer.code):04x}: {answer.message}")
        self.answer = answer


class RawClient:
    """A bare CQL connection, for what the driver never sends: another identity's prepared
    id, a v5 keyspace field of the caller's choosing, requests pipelined on one connection."""

    def __init__(self, port: int, token: str, version: int) -> None:
        self.version = version
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.conn = Connection(Role.CLIENT, version=version)
        started = self.request(Startup(options={"CQL_VERSION": "3.0.0"}))
        assert isinstance(started, Authenticate), started
        login = self.request(AuthResponse(token=b"\x00token\x00" + token.encode()))
        assert isinstance(login, AuthSuccess), login

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def send(self, *messages: Message) -> list[int]:
        """Send ``messages`` in one write; their stream ids."""
        streams, data = [], b""
        for message in messages:  # each send marks its id in flight: the next id is another
            streams.append(self.conn.free_stream_id())
            data += self.conn.send(Envelope(stream=streams[-1], message=message))
        self.sock.sendall(data)
        return streams

    def answers(self, streams: list[int]) -> dict[int, Message]:
        got: dict[int, Message] = {}
        deadline = time.monotonic() + TIMEOUT
        while not all(stream in got for stream in streams):
            event = self.conn.next_event()
            if event is CLOSED:
                raise ConnectionError("the proxy closed the connection")
            if event is NEED_DATA:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no answer on streams {streams} in {TIMEOUT} s")
                self.sock.settimeout(remaining)
                self.conn.receive_data(self.sock.recv(1 << 16))
                continue
            assert isinstance(event, Envelope)
            got[event.stream] = event.message
        return got

    def request(self, message: Message) -> Message:
        (stream,) = self.send(message)
        return self.answers([stream])[stream]

    def ok(self, message: Message) -> Message:
        """The answer to ``message``; raise :class:`RefusedError` for an ERROR."""
        answer = self.request(message)
        if isinstance(answer, ErrorMessage):
            raise RefusedError(answer)
        return answer


def _params(*values: bytes | None, keyspace: str | None = None) -> QueryParameters:
    return QueryParameters(
        consistency=Consistency.LOCAL_ONE, values=values, page_size=100, keyspace=keyspace
    )


def _int(value: int) -> bytes:
    return struct.pack(">i", value)


def _text(value: str) -> bytes:
    return value.encode()


def _execute(client: RawClient, prepared: PreparedStatement, *values: bytes) -> Message:
    metadata_id = prepared.result_metadata_id if client.version >= 5 else None
    return client.ok(
        Execute(
            query_id=prepared.query_id, result_metadata_id=metadata_id, parameters=_params(*values)
        )
    )


# --- the attempts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """One bypass attempt: ``run`` must raise ``expect`` (with ``code`` for raw frames)."""

    id: str
    run: Callable[[World], object]
    expect: type[Exception] = Unauthorized
    code: int | None = None
    who: str = "alice"
    v5: bool = False  # needs protocol v5 upstream


def _q(text: str, who: str = "alice") -> Callable[[World], object]:
    """Run ``text`` (formatted with the world's names) on the identity's shared session."""

    def run(w: World) -> object:
        return w.sessions[who].execute(_fmt(text, w))

    return run


def _after_use(use: str, text: str) -> Callable[[World], object]:
    """``use`` on a session of its own, then ``text`` on it."""

    def run(w: World) -> object:
        via = w.fresh_session()
        try:
            try:
                via.execute(_fmt(use, w))
            except Exception as exc:  # the USE must pass: Cassandra checks no permission for it
                raise AssertionError(f"{use!r} itself was refused: {exc}") from exc
            return via.execute(_fmt(text, w))
        finally:
            via.shutdown()

    return run


def _fmt(text: str, w: World) -> str:
    return text.format(ks=w.ks, KS=w.ks.upper(), other=w.other, qks=w.qks, evil_ks=w.evil_ks)


def _driver_batch(
    kind: BatchType, *entries: str | tuple[str, tuple[Any, ...]]
) -> Callable[[World], object]:
    """A BATCH message from the driver: text entries, or (prepared name, values)."""

    def run(w: World) -> object:
        batch = BatchStatement(batch_type=kind)
        for entry in entries:
            if isinstance(entry, tuple):
                batch.add(w.prepared[entry[0]], entry[1])
            else:
                batch.add(SimpleStatement(_fmt(entry, w)))
        return w.sessions["alice"].execute(batch)

    return run


def _execute_others_id(who: str, prepared: str, *values: bytes) -> Callable[[World], object]:
    """``who`` EXECUTEs, on a raw connection, an id another identity prepared."""

    def run(w: World) -> object:
        with w.raw(who) as client:
            return _execute(client, w.prepared[prepared], *values)

    return run


def _raw_batch_of_ids(w: World) -> object:
    """alice's BATCH holding her own prepared INSERT and bob's prepared UPDATE of secret."""
    mine, bobs = w.prepared["alice_insert"], w.prepared["bob_update"]
    with w.raw("alice") as client:
        return client.ok(
            Batch(
                batch_type=RawBatchType.LOGGED,
                statements=(
                    RawBatchEntry(statement=mine.query_id, values=(_int(910), _text("x"))),
                    RawBatchEntry(statement=bobs.query_id, values=(_text("x"), _int(1))),
                ),
                consistency=Consistency.LOCAL_ONE,
            )
        )


def _v5_prepare(text: str, keyspace: str) -> Callable[[World], object]:
    def run(w: World) -> object:
        with w.raw("alice", 5) as client:
            return client.ok(Prepare(query=_fmt(text, w), keyspace=_fmt(keyspace, w)))

    return run


def _v5_query(text: str, keyspace: str, use: str | None = None) -> Callable[[World], object]:
    def run(w: World) -> object:
        with w.raw("alice", 5) as client:
            if use is not None:
                assert isinstance(client.ok(Query(query=_fmt(use, w))), SetKeyspaceResult)
            return client.ok(
                Query(query=_fmt(text, w), parameters=_params(keyspace=_fmt(keyspace, w)))
            )

    return run


def _v5_batch(text: str, keyspace: str) -> Callable[[World], object]:
    def run(w: World) -> object:
        with w.raw("alice", 5) as client:
            return client.ok(
                Batch(
                    statements=(RawBatchEntry(statement=_fmt(text, w)),),
                    consistency=Consistency.LOCAL_ONE,
                    keyspace=_fmt(keyspace, w),
                )
            )

    return run


def _bobs_prepared_through_the_driver(w: World) -> object:
    # The proxy answers UNPREPARED (alice never prepared it); the driver prepares the text
    # again on alice's connection, where the PREPARE is decided, and refused.
    return w.sessions["alice"].execute(w.prepared["bob_update"], ("x", 1))


ATTEMPTS = [
    # USE switching: the keyspace USE sets is the one unqualified names resolve against.
    Attempt("use-other-then-select", _after_use("USE {other}", "SELECT * FROM allowed")),
    Attempt(
        "use-other-then-insert",
        _after_use("USE {other}", "INSERT INTO allowed (k, v) VALUES (901, 'x')"),
    ),
    Attempt("use-quoted-case-keyspace", _after_use('USE "{qks}"', "SELECT * FROM allowed")),
    Attempt(
        "use-quoted-own-keyspace-then-secret", _after_use('USE "{ks}"', "SELECT * FROM secret")
    ),
    Attempt(
        "use-uppercase-own-keyspace-then-update-secret",
        _after_use("USE {KS}", "UPDATE secret SET v = 'x' WHERE k = 1"),
    ),
    Attempt("use-behind-comment", _after_use("USE /* {ks} */ {other}", "SELECT * FROM allowed")),
    Attempt("use-own-then-quoted-Allowed", _after_use("USE {ks}", 'SELECT * FROM "Allowed"')),
    Attempt("use-system_auth-then-roles", _after_use("USE system_auth", "SELECT * FROM roles")),
    # Quoted and case tricks: quoted names keep their case, unquoted ones fold.
    Attempt("quoted-Allowed-table", _q('SELECT * FROM {ks}."Allowed"')),
    Attempt("quoted-ALLOWED-table", _q('SELECT * FROM {ks}."ALLOWED"')),
    Attempt("quoted-Allowed-insert", _q("INSERT INTO {ks}.\"Allowed\" (k, v) VALUES (902, 'x')")),
    Attempt("quoted-keyspace-and-secret", _q('SELECT * FROM "{ks}"."secret"')),
    Attempt("uppercase-secret", _q("SELECT * FROM {KS}.SECRET")),
    Attempt("quoted-case-keyspace", _q('SELECT * FROM "{qks}".allowed')),
    Attempt("doubled-quote-in-table-name", _q('SELECT * FROM {ks}."allowed"""')),
    Attempt(
        "keyspace-dot-table-in-one-quoted-name",
        _after_use("USE {ks}", 'SELECT * FROM "{ks}.allowed"'),
    ),
    # Comments neither hide nor supply a name.
    Attempt("block-comment-after-dot", _q("SELECT * FROM {ks}./* allowed */secret")),
    Attempt("dashdash-comment-naming-allowed", _q("SELECT * FROM {ks}.secret -- {ks}.allowed\n")),
    Attempt("slashslash-comment-naming-allowed", _q("SELECT * FROM // {ks}.allowed\n{ks}.secret")),
    Attempt("block-comment-hiding-keyspace", _q("SELECT * FROM /* {ks}. */{other}.allowed")),
    # Cassandra's block comments do not nest: the first */ ends this one, leaving secret.
    Attempt(
        "nested-looking-block-comment",
        _q("SELECT * FROM /* /* */ {ks}.secret -- */ {ks}.allowed\n"),
    ),
    Attempt(
        "dollar-string-with-quote",
        _q("SELECT * FROM {ks}.secret WHERE k = 1 AND v = $$'$$ ALLOW FILTERING"),
    ),
    Attempt(
        "block-comment-hiding-into",
        _q("INSERT /* INTO {ks}.allowed */ INTO {ks}.secret (k, v) VALUES (903, 'x')"),
    ),
    # Batches mixing an allowed and a forbidden table: the allowed half must not run either.
    Attempt(
        "logged-batch-allowed-and-secret",
        _driver_batch(
            BatchType.LOGGED,
            "INSERT INTO {ks}.allowed (k, v) VALUES (904, 'x')",
            "INSERT INTO {ks}.secret (k, v) VALUES (904, 'x')",
        ),
    ),
    Attempt(
        "unlogged-batch-allowed-and-other-keyspace",
        _driver_batch(
            BatchType.UNLOGGED,
            "INSERT INTO {ks}.allowed (k, v) VALUES (905, 'x')",
            "INSERT INTO {other}.allowed (k, v) VALUES (905, 'x')",
        ),
    ),
    Attempt(
        "batch-prepared-allowed-and-text-secret",
        _driver_batch(
            BatchType.LOGGED,
            ("alice_insert", (906, "x")),
            "DELETE FROM {ks}.secret WHERE k = 1",
        ),
    ),
    Attempt(
        "counter-batch",
        _driver_batch(BatchType.COUNTER, "UPDATE {ks}.hits SET c = c + 1 WHERE k = 1"),
    ),
    Attempt(
        "batch-text-in-one-query",
        _q(
            "BEGIN BATCH INSERT INTO {ks}.allowed (k, v) VALUES (907, 'x'); "
            "INSERT INTO {ks}.secret (k, v) VALUES (907, 'x'); APPLY BATCH"
        ),
    ),
    Attempt(
        "unlogged-batch-text-comment-split",
        _q(
            "BEGIN UNLOGGED BATCH INSERT INTO {ks}.allowed (k, v) VALUES (908, 'x'); "
            "INSERT INTO {ks}/* .allowed */.secret (k, v) VALUES (908, 'x'); APPLY BATCH"
        ),
    ),
    Attempt("batch-with-bobs-prepared-id", _raw_batch_of_ids, RefusedError, UNPREPARED),
    # EXECUTE of another identity's prepared id: the gate answers UNPREPARED, nothing runs.
    Attempt(
        "bob-executes-alices-id",
        _execute_others_id("bob", "alice_insert", _int(909), _text("from-bob")),
        RefusedError,
        UNPREPARED,
        who="bob",
    ),
    Attempt(
        "alice-executes-bobs-id",
        _execute_others_id("alice", "bob_update", _text("from-alice"), _int(1)),
        RefusedError,
        UNPREPARED,
    ),
    Attempt("alice-driver-executes-bobs-statement", _bobs_prepared_through_the_driver),
    # The v5 keyspace field of PREPARE, QUERY and BATCH names the keyspace of unqualified names.
    Attempt(
        "v5-prepare-keyspace-secret",
        _v5_prepare("SELECT * FROM secret", "{ks}"),
        RefusedError,
        UNAUTHORIZED,
        v5=True,
    ),
    Attempt(
        "v5-prepare-keyspace-other",
        _v5_prepare("INSERT INTO allowed (k, v) VALUES (?, ?)", "{other}"),
        RefusedError,
        UNAUTHORIZED,
        v5=True,
    ),
    Attempt(
        "v5-query-keyspace-other",
        _v5_query("SELECT * FROM allowed", "{other}"),
        RefusedError,
        UNAUTHORIZED,
        v5=True,
    ),
    Attempt(
        "v5-query-keyspace-beats-use",
        _v5_query("DELETE FROM allowed WHERE k = 0", "{other}", use="USE {ks}"),
        RefusedError,
        UNAUTHORIZED,
        v5=True,
    ),
    Attempt(
        "v5-query-keyspace-case-sensitive",
        _v5_query("SELECT * FROM allowed", "{qks}"),
        RefusedError,
        UNAUTHORIZED,
        v5=True,
    ),
    Attempt(
        "v5-query-keyspace-empty",
        _v5_query("SELECT * FROM allowed", ""),
        RefusedError,
        UNAUTHORIZED,
        v5=True,
    ),
    Attempt(
        "v5-batch-keyspace-other",
        _v5_batch("INSERT INTO allowed (k, v) VALUES (911, 'x')", "{other}"),
        RefusedError,
        UNAUTHORIZED,
        v5=True,
    ),
    # System keyspaces: only the schema reads are open (docs/proxy-policy.md).
    Attempt("system_auth-roles", _q("SELECT * FROM system_auth.roles")),
    Attempt("system_auth-roles-quoted", _q('SELECT * FROM "system_auth"."roles"')),
    Attempt(
        "system_auth-roles-insert",
        _q(
            "INSERT INTO system_auth.roles (role, can_login, is_superuser) "
            "VALUES ('bw_evil', true, true)"
        ),
    ),
    Attempt("system_distributed-read", _q("SELECT * FROM system_distributed.repair_history")),
    Attempt("system_traces-read", _q("SELECT * FROM system_traces.sessions")),
    Attempt(
        "system_traces-write",
        _q(
            "DELETE FROM system_traces.sessions "
            "WHERE session_id = 6ba7b810-9dad-11d1-80b4-00c04fd430c8"
        ),
    ),
    Attempt(
        "system_distributed-write",
        _q(
            "INSERT INTO system_distributed.view_build_status (keyspace_name, view_name, host_id) "
            "VALUES ('{ks}', 'v', 6ba7b810-9dad-11d1-80b4-00c04fd430c8)"
        ),
    ),
    Attempt(
        "system-local-write",
        _q("UPDATE system.local SET cluster_name = 'evil' WHERE key = 'local'"),
    ),
    Attempt(
        "system_schema-write",
        _q(
            "DELETE FROM system_schema.tables "
            "WHERE keyspace_name = '{ks}' AND table_name = 'secret'"
        ),
    ),
    # DDL and AUTH verbs: alice has neither, not even on her own table.
    Attempt("create-table", _q("CREATE TABLE {ks}.evil (k int PRIMARY KEY)")),
    Attempt("drop-own-table", _q("DROP TABLE {ks}.allowed")),
    Attempt("alter-own-table", _q("ALTER TABLE {ks}.allowed ADD evil int")),
    Attempt("create-index", _q("CREATE INDEX ON {ks}.allowed (v)")),
    Attempt("truncate-secret", _q("TRUNCATE {ks}.secret")),
    Attempt("drop-keyspace", _q("DROP KEYSPACE {ks}")),
    Attempt(
        "create-keyspace",
        _q(
            "CREATE KEYSPACE {evil_ks} WITH replication = "
            "{{'class': 'SimpleStrategy', 'replication_factor': 1}}"
        ),
    ),
    Attempt("grant-select-on-secret", _q("GRANT SELECT ON TABLE {ks}.secret TO alice")),
    Attempt(
        "create-role",
        _q(f"CREATE ROLE bw_evil WITH PASSWORD = '{ROLE_PASSWORD}' AND LOGIN = true"),
    ),
    Attempt("list-roles", _q("LIST ROLES")),
    # Lightweight transactions and counters on forbidden tables.
    Attempt(
        "lwt-insert-secret", _q("INSERT INTO {ks}.secret (k, v) VALUES (912, 'x') IF NOT EXISTS")
    ),
    Attempt(
        "lwt-condition-reads-secret",
        _q("UPDATE {ks}.secret SET v = 'x' WHERE k = 1 IF v = 'guess'"),
    ),
    Attempt("counter-update", _q("UPDATE {ks}.hits SET c = c + 1 WHERE k = 1")),
    # Functions and JSON on forbidden tables, and a function of another keyspace.
    Attempt("select-json-secret", _q("SELECT JSON * FROM {ks}.secret")),
    Attempt("token-secret", _q("SELECT token(k), k FROM {ks}.secret")),
    Attempt("writetime-ttl-secret", _q("SELECT writetime(v), ttl(v) FROM {ks}.secret")),
    Attempt("count-secret", _q("SELECT count(*) FROM {ks}.secret")),
    Attempt("function-of-other-keyspace", _q("SELECT {other}.leak(v) FROM {ks}.allowed")),
    # Text Cassandra refuses too, with the error it gives: InvalidRequest (0x2200) for a table
    # without keyspace on a session without one, SyntaxException (0x2000) for the rest.
    Attempt("unqualified-without-keyspace", _q("SELECT * FROM secret"), InvalidRequest),
    Attempt(
        "select-then-drop",
        _q("SELECT * FROM {ks}.allowed; DROP TABLE {ks}.secret"),
        SyntaxException,
    ),
    Attempt(
        "insert-allowed-then-insert-secret",
        _q(
            "INSERT INTO {ks}.allowed (k, v) VALUES (913, 'x'); "
            "INSERT INTO {ks}.secret (k, v) VALUES (913, 'x')"
        ),
        SyntaxException,
    ),
    Attempt("trailing-garbage", _q("SELECT * FROM {ks}.allowed garbage"), SyntaxException),
    Attempt(
        "create-role-with-garbage-keeps-the-password-out",
        _q(f"CREATE ROLE bw_evil WITH PASSWORD = '{ROLE_PASSWORD}' AND LOGIN = perhaps"),
        SyntaxException,
    ),
    Attempt(
        "insert-with-trailing-garbage",
        _q("INSERT INTO {ks}.allowed (k, v) VALUES (914, 'x') )"),
        SyntaxException,
    ),
]


@pytest.mark.parametrize("attempt", ATTEMPTS, ids=[a.id for a in ATTEMPTS])
def test_bypass_attempt_is_refused(attempt: Attempt, world: World, session: Session) -> None:
    if attempt.v5 and 5 not in world.server.protocol_versions:
        pytest.skip("the upstream does not speak protocol v5")
    before = _snapshot(session, world)
    audited = len(_audit_lines(world.audit_path))
    with pytest.raises(attempt.expect) as refused:
        attempt.run(world)
    if attempt.code is not None:
        assert isinstance(refused.value, RefusedError)
        assert int(refused.value.answer.code) == attempt.code, refused.value
        if attempt.code == UNPREPARED:
            assert isinstance(refused.value.answer, Unprepared)
    assert SECRET not in str(refused.value)
    assert ROLE_PASSWORD not in str(refused.value)
    assert _snapshot(session, world) == before, "the forbidden data or schema changed"
    new = _audit_lines(world.audit_path)[audited:]
    denied = [line for line in new if line["decision"] == "denied"]
    assert denied, f"no denied audit line among {new}"
    assert all(line["subject"] == attempt.who for line in denied)
    assert all(line["rows"] == 0 and line["reason"] for line in denied)
    text = json.dumps(new)
    assert SECRET not in text
    assert ROLE_PASSWORD not in text


# --- allowed requests: the same answers as a direct session -----------------------------------


def _rows(result: Any) -> list[tuple[Any, ...]]:
    return sorted(tuple(row) for row in result)


def test_allowed_statements_answer_as_direct(world: World, session: Session) -> None:
    alice, ks = world.sessions["alice"], world.ks
    for through, direct in (
        (f"SELECT k, v FROM {ks}.allowed", f"SELECT k, v FROM {ks}.allowed"),
        (f"SELECT k, v FROM {ks.upper()}.ALLOWED", f"SELECT k, v FROM {ks}.allowed"),
        (f'SELECT k, v FROM "{ks}"."allowed"', f"SELECT k, v FROM {ks}.allowed"),
        (
            f"SELECT /* {ks}.secret */ k, v FROM {ks}.allowed -- {ks}.secret\n",
            f"SELECT k, v FROM {ks}.allowed",
        ),
        (f"SELECT token(k), k FROM {ks}.allowed", f"SELECT token(k), k FROM {ks}.allowed"),
        (f"SELECT count(*) FROM {ks}.allowed", f"SELECT count(*) FROM {ks}.allowed"),
        (
            f"SELECT table_name FROM system_schema.tables WHERE keyspace_name = '{ks}'",
            f"SELECT table_name FROM system_schema.tables WHERE keyspace_name = '{ks}'",
        ),
    ):
        assert _rows(alice.execute(through)) == _rows(session.execute(direct)), through
    # Writes, conditional writes and a prepared statement land as they would directly.
    alice.execute(world.prepared["alice_insert"], (700, "via-proxy"))
    assert alice.execute(f"INSERT INTO {ks}.allowed (k, v) VALUES (701, 'x') IF NOT EXISTS").one()[
        0
    ]
    assert not alice.execute(
        f"INSERT INTO {ks}.allowed (k, v) VALUES (701, 'y') IF NOT EXISTS"
    ).one()[0]
    assert _rows(session.execute(f"SELECT k, v FROM {ks}.allowed WHERE k IN (700, 701)")) == [
        (700, "via-proxy"),
        (701, "x"),
    ]
    alice.execute(f"DELETE FROM {ks}.allowed WHERE k IN (700, 701)")
    assert session.execute(f"SELECT k FROM {ks}.allowed WHERE k = 700").one() is None
    # USE of the allowed keyspace, then unqualified names in it.
    via = world.fresh_session()
    try:
        via.execute(f"USE {ks}")
        assert _rows(via.execute("SELECT k, v FROM allowed")) == _rows(
            session.execute(f"SELECT k, v FROM {ks}.allowed")
        )
    finally:
        via.shutdown()


def test_v5_keyspace_field_naming_the_allowed_keyspace_answers_as_direct(
    world: World, session: Session
) -> None:
    if 5 not in world.server.protocol_versions:
        pytest.skip("the upstream does not speak protocol v5")
    direct = _rows(session.execute(f"SELECT k, v FROM {world.ks}.allowed"))
    with world.raw("alice", 5) as client:
        # USE another keyspace first: the request's own keyspace field wins over it.
        assert isinstance(client.ok(Query(query=f"USE {world.other}")), SetKeyspaceResult)
        answer = client.ok(
            Query(query="SELECT k, v FROM allowed", parameters=_params(keyspace=world.ks))
        )
        assert isinstance(answer, RowsResult)
        assert answer.metadata.columns is not None
        assert sorted(decode_rows(answer.metadata.columns, answer.rows, 5)) == direct
        prepared = client.ok(Prepare(query="SELECT k, v FROM allowed", keyspace=world.ks))
        assert isinstance(prepared, PreparedResult)
        rows = client.ok(
            Execute(
                query_id=prepared.query_id,
                result_metadata_id=prepared.result_metadata_id,
                parameters=_params(),
            )
        )
        assert isinstance(rows, RowsResult)
        assert len(rows.rows) == len(direct)


# --- cqlsh through the full gatekeeper --------------------------------------------------------


def _cqlsh(world: World, home: Path, script: str, port: int | None = None) -> CompletedProcess:
    """cqlsh against the proxy as alice. The token goes in on standard input, to cqlsh's own
    password prompt (no controlling terminal: getpass reads stdin): never on the command line,
    in the environment or in a file."""
    home.mkdir(exist_ok=True)
    rc = home / "cqlshrc"
    rc.write_text(
        "[connection]\ntimeout = 20\nrequest_timeout = 20\n[history]\ndisabled = true\n",
        encoding="utf-8",
    )
    cqlsh = Path(sys.executable).parent / "cqlsh"
    return subprocess.run(
        [str(cqlsh), "--cqlshrc", str(rc), "-u", "token", "127.0.0.1", str(port or world.port)],
        input=world.tokens["alice"] + "\n" + script,
        capture_output=True,
        text=True,
        timeout=CQLSH_TIMEOUT,
        env={**os.environ, "HOME": str(home), "CQLSH_NO_BUNDLED": "TRUE"},
        start_new_session=True,  # no controlling terminal: the prompt reads standard input
        check=False,
    )


def _assert_token_nowhere(world: World, home: Path, result: CompletedProcess) -> None:
    token = world.tokens["alice"]
    assert token not in result.stdout
    assert token not in result.stderr
    for path in home.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path
    assert token not in world.audit_path.read_text(encoding="utf-8")


def test_cqlsh_through_the_gatekeeper(world: World, session: Session, tmp_path: Path) -> None:
    ks = world.ks
    before = _snapshot(session, world)
    script = (
        f"SELECT k, v FROM {ks}.allowed;\n"
        f"SELECT k, v FROM {ks}.secret;\n"
        f"INSERT INTO {ks}.secret (k, v) VALUES (990, 'from-cqlsh');\n"
        f"SELECT v FROM {ks}.allowed WHERE k = 2;\n"
    )
    result = _cqlsh(world, tmp_path / "home", script)
    _assert_token_nowhere(world, tmp_path / "home", result)
    # Connecting read the system and schema tables: the schema reads let it.
    assert "Connection error" not in result.stderr, result.stderr
    for i in range(4):
        assert f" a{i}" in result.stdout  # the allowed rows, printed
    assert SECRET not in result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("<stdin>:")]
    # Line 1 of standard input is the token (read by the prompt).
    assert [line.split(":")[1] for line in errors] == ["3", "4"], result.stderr
    assert all("Unauthorized" in line and f"{ks}.secret" in line for line in errors), errors
    assert "(1 rows)" in result.stdout  # the statement after the refusals ran
    assert result.returncode != 0  # cqlsh reports that statements failed
    assert _snapshot(session, world) == before


def test_cqlsh_with_its_default_serial_consistency_reads_the_allowed_table(
    world: World, tmp_path: Path
) -> None:
    result = _cqlsh(world, tmp_path / "home", f"SELECT k, v FROM {world.ks}.allowed;\n")
    _assert_token_nowhere(world, tmp_path / "home", result)
    assert result.returncode == 0, result.stderr
    assert " a0" in result.stdout


def test_cqlsh_describes_the_allowed_keyspace(
    world: World, session: Session, tmp_path: Path
) -> None:
    try:
        session.execute(f"DESCRIBE KEYSPACE {world.ks}")
    except Exception as exc:  # the dev server does not implement DESCRIBE (4.0's server side)
        pytest.skip(f"the cluster under test does not answer DESCRIBE directly: {exc}")
    _describe_with_cqlsh(world, world.port, tmp_path / "home")


def _describe_with_cqlsh(world: World, port: int, home: Path) -> None:
    """DESCRIBE KEYSPACE and DESCRIBE TABLES of alice's keyspace through the proxy at
    ``port``: schema reads, which Cassandra lets every login make."""
    script = f"DESCRIBE KEYSPACE {world.ks};\nUSE {world.ks};\nDESCRIBE TABLES;\n"
    result = _cqlsh(world, home, script, port)
    _assert_token_nowhere(world, home, result)
    assert result.returncode == 0, result.stderr
    assert f"CREATE KEYSPACE {world.ks} WITH" in result.stdout
    assert f"CREATE TABLE {world.ks}.allowed (" in result.stdout
    tables = result.stdout.split(f"CREATE TABLE {world.ks}.secret", 1)[-1]
    assert "allowed" in tables.split()  # DESCRIBE TABLES lists the keyspace's tables


# --- a request held by its rate limit while a USE is answered ---------------------------------


def test_a_held_request_runs_in_the_keyspace_it_was_authorized_in(
    world: World, contact: tuple[list[str], int], tmp_path: Path
) -> None:
    """alice's rule holds her to one request every two seconds. She USEs her keyspace, spends
    her request, then sends ``USE other`` and ``SELECT ... FROM allowed`` in one write.
    The SELECT is authorized in her keyspace (the USE is not answered yet) and held by the
    rate limit; the USE's answer arrives meanwhile. The SELECT must still run in the keyspace
    it was authorized in (docs/proxy-authorization.md: the forwarder runs a statement with
    exactly the keyspace it was resolved against), never read other.allowed."""
    policy = parse_policy(
        f"""
version: 1
rules:
  - name: alice-allowed-slowly
    match: {{subjects: [alice]}}
    allow:
      - {{keyspace: {world.ks}, tables: [allowed], verbs: [SELECT, MODIFY]}}
    rate: {{requests_per_second: 0.5, burst: 2}}
"""
    )
    audit_path = tmp_path / "audit.jsonl"
    with (
        _proxy(upstream_of(contact), world.verifier, policy, audit_path) as server,
        RawClient(server.port, world.tokens["alice"], world.raw_version) as client,
    ):
        # Both keyspaces once, so that the proxy holds an upstream connection in each and
        # the USE below is answered well within the hold.
        for keyspace in (world.other, world.ks):
            assert isinstance(client.ok(Query(query=f"USE {keyspace}")), SetKeyspaceResult)
        select = Query(query="SELECT k, v FROM allowed", parameters=_params())
        assert isinstance(client.ok(select), RowsResult)  # spends her request
        use, held = client.send(Query(query=f"USE {world.other}"), select)
        answers = client.answers([use, held])
        assert isinstance(answers[use], SetKeyspaceResult)
        _assert_not_from_other(world, answers[held])
        # The same with a PREPARE: its id, registered as alice's SELECT of her own table,
        # would stand for other.allowed at every EXECUTE, held or not.
        assert isinstance(client.ok(Query(query=f"USE {world.ks}")), SetKeyspaceResult)
        prepare = Prepare(query="SELECT k, v FROM allowed")
        use, held = client.send(Query(query=f"USE {world.other}"), prepare)
        answers = client.answers([use, held])
        prepared = answers[held]
        if isinstance(prepared, PreparedResult):
            metadata_id = prepared.result_metadata_id if client.version >= 5 else None
            execute = Execute(
                query_id=prepared.query_id, result_metadata_id=metadata_id, parameters=_params()
            )
            _assert_not_from_other(world, client.request(execute))
        else:
            assert isinstance(prepared, ErrorMessage), prepared


def _assert_not_from_other(world: World, answer: Message) -> None:
    """``answer`` is a refusal, or rows of alice's own table (no row of other.allowed)."""
    if isinstance(answer, RowsResult):
        assert answer.metadata.columns is not None
        rows = decode_rows(answer.metadata.columns, answer.rows, world.raw_version)
        assert all(SECRET not in str(v) for _k, v in rows), f"read {world.other}.allowed: {rows}"
    else:
        assert isinstance(answer, ErrorMessage), answer


def test_a_prepared_use_moves_its_client_and_no_one_else(world: World) -> None:
    """A USE can be prepared and executed: Cassandra switches the keyspace of the (shared)
    upstream connection it ran on. The proxy must move alice (her next unqualified statement
    is decided in the new keyspace) and keep bob's statements in bob's keyspace."""
    with world.raw("alice") as alice, world.raw("bob") as bob:
        for client in (alice, bob):
            assert isinstance(client.ok(Query(query=f"USE {world.ks}")), SetKeyspaceResult)
        use = alice.ok(Prepare(query=f"USE {world.other}"))
        assert isinstance(use, PreparedResult)
        metadata_id = use.result_metadata_id if alice.version >= 5 else None
        moved = alice.ok(
            Execute(query_id=use.query_id, result_metadata_id=metadata_id, parameters=_params())
        )
        assert moved == SetKeyspaceResult(keyspace=world.other)
        with pytest.raises(RefusedError) as refused:
            alice.ok(Query(query="SELECT k, v FROM allowed", parameters=_params()))
        assert int(refused.value.answer.code) == UNAUTHORIZED
        assert f"{world.other}.allowed" in refused.value.answer.message
        for _ in range(4):  # over every upstream connection of bob's keyspace
            rows = bob.ok(Query(query="SELECT k, v FROM secret", parameters=_params()))
            assert isinstance(rows, RowsResult)
            assert rows.metadata.columns is not None
            assert {c.keyspace for c in rows.metadata.columns} == {world.ks}
            assert len(rows.rows) == 4
