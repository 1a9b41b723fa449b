"""The proxy's forwarding core: the unmodified driver and cqlsh through it, against the cluster
under test (the dev server, or CASSFLOW_TEST_HOSTS), compared with a direct session."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cassandra import AuthenticationFailed, InvalidRequest, Unauthorized
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster, NoHostAvailable, Session
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.protocol import SyntaxException
from cassandra.query import BatchStatement, SimpleStatement

from cassflow.protocol import Batch, Execute, Prepare, Query
from cassflow.proxy._server import ProxyRequest, ProxyServer, RequestOutcome
from proxies import upstream_of

PASSWORD = "s3cret-token"
FORBIDDEN = "forbidden"


class Recorder:
    """The test's authenticate/authorize/on_request_done: refuses every text naming FORBIDDEN."""

    def __init__(self) -> None:
        self.done: list[tuple[Any, ProxyRequest, RequestOutcome, float, int]] = []
        self.lock = threading.Lock()

    def authenticate(self, username: str, password: str) -> str:
        if password != PASSWORD:
            raise ValueError(f"Bad credentials for {username}")
        return username

    def authorize(self, identity: Any, request: ProxyRequest) -> str | None:
        message = request.message
        texts: list[str] = []
        if isinstance(message, Query | Prepare):
            texts.append(message.query)
        elif isinstance(message, Batch):
            texts.extend(s.statement for s in message.statements if isinstance(s.statement, str))
        if any(FORBIDDEN in text.lower() for text in texts):
            return f"{identity} may not touch table {FORBIDDEN}"
        return None

    def on_done(
        self,
        identity: Any,
        request: ProxyRequest,
        outcome: RequestOutcome,
        latency: float,
        rows: int,
    ) -> None:
        with self.lock:
            self.done.append((identity, request, outcome, latency, rows))


@pytest.fixture(scope="module")
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture(scope="module")
def proxy(contact: tuple[list[str], int], recorder: Recorder) -> Iterator[ProxyServer]:
    upstream = upstream_of(contact)
    server = ProxyServer(
        "127.0.0.1",
        0,
        upstream,
        recorder.authenticate,
        recorder.authorize,
        recorder.on_done,
    )
    server.start()
    yield server
    server.stop()


def _cluster(proxy: ProxyServer, password: str = PASSWORD, **kwargs: Any) -> Cluster:
    return Cluster(
        ["127.0.0.1"],
        port=proxy.port,
        auth_provider=PlainTextAuthProvider("alice", password),
        connect_timeout=10,
        control_connection_timeout=10,
        **kwargs,
    )


@pytest.fixture(scope="module", params=[4, 5], ids=["v4", "v5"])
def via(request: pytest.FixtureRequest, proxy: ProxyServer) -> Iterator[Session]:
    """A driver session through the proxy, in protocol v4 and v5."""
    if request.param not in proxy.protocol_versions:
        pytest.skip(f"the upstream does not speak protocol v{request.param}")
    cluster = _cluster(proxy, protocol_version=request.param)
    yield cluster.connect()
    cluster.shutdown()


@pytest.fixture
def table(session: Session, keyspace: str) -> str:
    session.execute(f"CREATE TABLE {keyspace}.items (p int, c int, v text, PRIMARY KEY (p, c))")
    session.execute(f"CREATE TABLE {keyspace}.{FORBIDDEN} (k int PRIMARY KEY)")
    return f"{keyspace}.items"


def test_drivers_see_the_proxy_as_the_only_node(proxy: ProxyServer, via: Session) -> None:
    hosts = via.cluster.metadata.all_hosts()
    assert [(h.endpoint.address, h.endpoint.port) for h in hosts] == [("127.0.0.1", proxy.port)]
    token_map = via.cluster.metadata.token_map
    assert token_map is not None
    assert len(token_map.ring) == 1  # the one node owns the whole ring
    local = via.execute("SELECT rpc_address, rpc_port, tokens FROM system.local").one()
    assert (local.rpc_address, local.rpc_port) == ("127.0.0.1", proxy.port)
    assert len(local.tokens) == 1
    full = via.execute("SELECT * FROM system.local WHERE key = 'local'").one()
    assert full.broadcast_address == full.listen_address == "127.0.0.1"
    assert set(full.tokens) == set(local.tokens)
    assert list(via.execute("SELECT * FROM system.peers")) == []
    assert list(via.execute("SELECT peer FROM system.peers_v2")) == []
    # Prepared, with the USE keyspace and a comment: rewritten on EXECUTE as well.
    prepared = via.prepare('SELECT rpc_address, tokens /* hi */ FROM "system".local')
    for _ in range(2):
        row = via.execute(prepared).one()
        assert row.rpc_address == "127.0.0.1"
        assert set(row.tokens) == set(local.tokens)
    assert list(via.execute(via.prepare("SELECT * FROM system.peers"))) == []


def test_results_are_those_of_a_direct_session(
    via: Session, session: Session, table: str, keyspace: str
) -> None:
    insert = via.prepare(f"INSERT INTO {table} (p, c, v) VALUES (?, ?, ?)")
    rows = [(p, c, f"v{p}-{c}") for p in range(5) for c in range(60)]
    results = execute_concurrent_with_args(via, insert, rows, concurrency=32)
    assert all(ok for ok, _ in results)
    select = via.prepare(f"SELECT p, c, v FROM {table} WHERE p = ?")
    paged = SimpleStatement(f"SELECT p, c, v FROM {table}", fetch_size=37)
    through = [tuple(r) for r in via.execute(paged)]
    direct = [tuple(r) for r in session.execute(f"SELECT p, c, v FROM {table}")]
    assert through == direct
    assert sorted(through) == sorted(rows)
    # 32 prepared SELECTs in flight at once.
    answers = execute_concurrent_with_args(via, select, [(p % 5,) for p in range(32)], 32)
    for (ok, result), p in zip(answers, range(32), strict=True):
        assert ok
        assert [tuple(r) for r in result] == [r for r in rows if r[0] == p % 5]
    # A logged batch and lightweight transactions, answered as the server answers them.
    batch = BatchStatement()
    batch.add(insert, (9, 1, "b1"))
    batch.add(f"INSERT INTO {table} (p, c, v) VALUES (9, 2, 'b2')")
    via.execute(batch)
    assert [tuple(r) for r in via.execute(select, (9,))] == [(9, 1, "b1"), (9, 2, "b2")]
    lwt = f"INSERT INTO {table} (p, c, v) VALUES (9, 3, 'new') IF NOT EXISTS"
    assert via.execute(lwt).one().applied
    second = via.execute(lwt).one()
    assert not second.applied
    assert tuple(second)[1:] == tuple(session.execute(lwt).one())[1:]
    # USE on one session does not move the other clients' shared upstream connections.
    used = via.cluster.connect()
    used.execute(f"USE {keyspace}")
    other = via.cluster.connect()
    assert used.execute("SELECT count(*) FROM items").one()[0] == len(rows) + 3
    with pytest.raises(InvalidRequest):
        other.execute("SELECT count(*) FROM items")  # no keyspace on this session
    assert used.execute(select, (9,)).one() == (9, 1, "b1")
    used.shutdown()
    other.shutdown()


def test_errors_come_back_as_the_servers(via: Session, session: Session, table: str) -> None:
    for text, error in (
        ("SELEKT * FROM system.local", SyntaxException),
        ("SELECT * FROM no_such_keyspace_x.t", InvalidRequest),
        (f"SELECT nope FROM {table}", InvalidRequest),
    ):
        with pytest.raises(error) as through:
            via.execute(text)
        with pytest.raises(error) as direct:
            session.execute(text)
        assert str(through.value) == str(direct.value)
    with pytest.raises(InvalidRequest) as use:
        via.execute("USE no_such_keyspace_y")
    assert "no_such_keyspace_y" in str(use.value)


def test_authorize_refusals_reach_the_driver(
    via: Session, table: str, keyspace: str, recorder: Recorder
) -> None:
    forbidden = f"{keyspace}.{FORBIDDEN}"
    for attempt in (
        lambda: via.execute(f"SELECT * FROM {forbidden}"),
        lambda: via.prepare(f"INSERT INTO {forbidden} (k) VALUES (?)"),
    ):
        with pytest.raises(Unauthorized, match=f"alice may not touch table {FORBIDDEN}"):
            attempt()
    batch = BatchStatement()
    batch.add(f"INSERT INTO {table} (p, c, v) VALUES (1, 1, 'x')")
    batch.add(f"INSERT INTO {forbidden} (k) VALUES (1)")
    with pytest.raises(Unauthorized):
        via.execute(batch)
    denied = [d for d in recorder.done if d[2].decision == "denied"]
    assert len(denied) >= 3
    assert all(d[0] == "alice" and d[2].error_code == 0x2100 for d in denied)
    allowed = [d for d in recorder.done if d[2].decision == "allowed"]
    executes = [d for d in allowed if isinstance(d[1].message, Execute)]
    assert executes
    assert all(d[1].prepared_id == d[1].message.query_id for d in executes)
    assert any(d[2].prepared_id is not None for d in allowed)
    assert all(d[3] >= 0 for d in recorder.done)
    assert all(d[1].connection_id > 0 and d[1].client_address for d in recorder.done)


def test_wrong_password_is_refused(proxy: ProxyServer) -> None:
    cluster = _cluster(proxy, password="wrong-password-123")
    with pytest.raises(NoHostAvailable) as refused:
        cluster.connect()
    cluster.shutdown()
    errors = list(refused.value.errors.values())
    assert errors
    assert isinstance(errors[0], AuthenticationFailed)
    assert "Bad credentials for alice" in str(errors[0])
    assert "wrong-password-123" not in str(refused.value)


def test_cqlsh_through_the_proxy(proxy: ProxyServer, session: Session, keyspace: str) -> None:
    session.execute(f"CREATE TABLE {keyspace}.notes (k int PRIMARY KEY, body text)")
    session.execute(f"INSERT INTO {keyspace}.notes (k, body) VALUES (7, 'through cqlsh')")
    cqlsh = Path(sys.executable).parent / "cqlsh"
    script = (
        "SELECT release_version FROM system.local;\n"
        f"SELECT body FROM {keyspace}.notes WHERE k = 7;\n"
    )
    home = Path(os.environ.get("TMPDIR", "/tmp")) / f"cqlsh-home-{uuid.uuid4().hex[:8]}"
    home.mkdir()
    result = subprocess.run(
        [str(cqlsh), "127.0.0.1", str(proxy.port), "-u", "bob", "-p", PASSWORD],
        input=script,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HOME": str(home), "CQLSH_NO_BUNDLED": "TRUE"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    release = session.execute("SELECT release_version FROM system.local").one()[0]
    assert release in result.stdout
    assert "through cqlsh" in result.stdout


def test_authorize_may_answer_any_error_and_pace_holds_requests(
    contact: tuple[list[str], int], session: Session, table: str
) -> None:
    """``authorize`` may answer with the error Cassandra would send (here INVALID and
    SYNTAX_ERROR) instead of UNAUTHORIZED, and ``pace`` holds an allowed request a while."""
    from cassflow.protocol import Invalid, InvalidSyntax

    held: list[float] = []

    def authorize(_identity: Any, request: ProxyRequest) -> Any:
        text = getattr(request.message, "query", "")
        if "/* invalid */" in text:
            return Invalid(message="proxy: that is not allowed as written")
        if "/* syntax */" in text:
            return InvalidSyntax(message="proxy: line 1:0 no viable alternative")
        return None

    def pace(_identity: Any, request: ProxyRequest) -> float:
        wait = 0.3 if "/* slow */" in getattr(request.message, "query", "") else 0.0
        held.append(wait)
        return wait

    upstream = upstream_of(contact)
    server = ProxyServer("127.0.0.1", 0, upstream, Recorder().authenticate, authorize, pace=pace)
    server.start()
    cluster = _cluster(server)
    try:
        via = cluster.connect()
        with pytest.raises(InvalidRequest, match="that is not allowed as written"):
            via.execute(f"SELECT * FROM {table} /* invalid */")
        with pytest.raises(SyntaxException, match="no viable alternative"):
            via.execute(f"SELECT * FROM {table} /* syntax */")
        session.execute(f"INSERT INTO {table} (p, c, v) VALUES (7, 7, 'held')")
        began = time.monotonic()
        rows = list(via.execute(f"SELECT v FROM {table} WHERE p = 7 /* slow */"))
        assert time.monotonic() - began >= 0.3  # held by pace, then answered
        assert [r.v for r in rows] == ["held"]
        assert 0.3 in held
    finally:
        cluster.shutdown()
        server.stop()
