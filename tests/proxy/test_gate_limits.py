"""The gate's request limits and its decision cache, asked directly (no network): what the
policy is asked about a request, and that a kept decision never outlives its policy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cassflow.protocol import (
    Batch,
    BatchStatement,
    Consistency,
    ExecuteHead,
    Opcode,
    Prepare,
    Query,
    QueryParameters,
)
from cassflow.proxy import _gate as gate_module
from cassflow.proxy._audit import AuditLog
from cassflow.proxy._gate import Gatekeeper
from cassflow.proxy._policy import Policy, parse_policy
from cassflow.proxy._server import ProxyRequest, RequestOutcome
from cassflow.proxy._tokens import Identity

LOADER = Identity(subject="loader", groups=frozenset(), issuer="https://id.test", expires_at=None)


def _policy(extra: str = "") -> Policy:
    return parse_policy(
        f"""
version: 1
defaults: {{max_consistency: LOCAL_QUORUM}}
rules:
  - name: loader
    match: {{subjects: [loader]}}
    allow:
      - {{keyspace: shop, tables: [orders], verbs: [SELECT, MODIFY]}}
{extra}
"""
    )


class _Gate:
    """A Gatekeeper whose policy the test swaps, as a reload does."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.keeper = Gatekeeper(None, lambda: self.policy)  # type: ignore[arg-type]
        self.streams = iter(range(1, 10_000))

    def ask(self, opcode: Opcode, **fields: object) -> str | None:
        request = ProxyRequest(
            opcode=opcode,
            stream=next(self.streams),
            protocol_version=5,
            keyspace="shop",
            connection_id=1,
            **fields,  # type: ignore[arg-type]
        )
        answer = self.keeper.authorize(LOADER, request)
        outcome = RequestOutcome(decision="allowed" if answer is None else "denied")
        if opcode is Opcode.PREPARE and answer is None:
            outcome = RequestOutcome(decision="allowed", prepared_id=b"id-of-" + bytes(3))
        self.keeper.request_done(LOADER, request, outcome, 0.001, 0)
        return None if answer is None else str(getattr(answer, "message", answer))


def _query(text: str, serial: Consistency | None = None) -> Query:
    parameters = QueryParameters(
        consistency=Consistency.ONE, serial_consistency=serial, page_size=100
    )
    return Query(query=text, parameters=parameters)


def test_the_serial_consistency_counts_only_for_conditional_statements() -> None:
    gate = _Gate(_policy())
    # cqlsh and the drivers send SERIAL with everything; Cassandra uses it only for IF.
    plain = _query("SELECT * FROM orders WHERE id = 1", Consistency.SERIAL)
    assert gate.ask(Opcode.QUERY, message=plain) is None
    write = _query("UPDATE orders SET v = 'x' WHERE id = 1", Consistency.SERIAL)
    assert gate.ask(Opcode.QUERY, message=write) is None
    conditional = _query("UPDATE orders SET v = 'x' WHERE id = 1 IF v = 'y'", Consistency.SERIAL)
    denial = gate.ask(Opcode.QUERY, message=conditional)
    assert denial is not None
    assert "serial consistency SERIAL is above the maximum LOCAL_QUORUM" in denial
    local = _query("UPDATE orders SET v = 'x' WHERE id = 1 IF v = 'y'", Consistency.LOCAL_SERIAL)
    assert gate.ask(Opcode.QUERY, message=local) is None
    batch = Batch(
        statements=(BatchStatement(statement="UPDATE orders SET v = 'x' WHERE id = 1 IF v = 'y'"),),
        serial_consistency=Consistency.SERIAL,
    )
    assert gate.ask(Opcode.BATCH, message=batch) is not None


def test_a_batch_written_as_text_is_held_to_the_batch_size_too() -> None:
    gate = _Gate(_policy("    max_batch_statements: 2"))
    two = "BEGIN UNLOGGED BATCH " + "INSERT INTO orders (id) VALUES (1); " * 2 + "APPLY BATCH"
    assert gate.ask(Opcode.QUERY, message=_query(two)) is None
    three = "BEGIN UNLOGGED BATCH " + "INSERT INTO orders (id) VALUES (1); " * 3 + "APPLY BATCH"
    denial = gate.ask(Opcode.QUERY, message=_query(three))
    assert denial is not None
    assert "a batch of 3 statements is above the maximum 2" in denial


def test_a_kept_execute_decision_does_not_outlive_its_policy() -> None:
    gate = _Gate(_policy())
    prepare = Prepare(query="SELECT * FROM orders WHERE id = ?")
    assert gate.ask(Opcode.PREPARE, message=prepare) is None
    head = ExecuteHead(b"id-of-" + bytes(3), Consistency.ONE, None, 100)
    for _ in range(3):  # decided once, then kept
        assert gate.ask(Opcode.EXECUTE, execute=head) is None
    # A reload that takes SELECT away: the very next EXECUTE is refused.
    gate.policy = parse_policy(
        """
version: 1
rules:
  - name: loader
    match: {subjects: [loader]}
    allow:
      - {keyspace: shop, tables: [orders], verbs: [MODIFY]}
"""
    )
    denial = gate.ask(Opcode.EXECUTE, execute=head)
    assert denial is not None
    assert "rule loader allows only MODIFY on shop.orders, not SELECT" in denial
    # Another consistency is another question: above the maximum, refused although kept.
    gate.policy = _policy()
    assert gate.ask(Opcode.EXECUTE, execute=head) is None
    above = ExecuteHead(b"id-of-" + bytes(3), Consistency.ALL, None, 100)
    denial = gate.ask(Opcode.EXECUTE, execute=above)
    assert denial is not None
    assert "consistency ALL is above the maximum LOCAL_QUORUM" in denial


def test_the_requests_in_flight_it_tracks_are_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gate_module, "_MAX_PENDING", 3)
    audit = AuditLog(tmp_path / "audit.jsonl")
    policy = _policy()
    keeper = Gatekeeper(None, lambda: policy, audit=audit)  # type: ignore[arg-type]
    requests = [
        ProxyRequest(
            opcode=Opcode.QUERY,
            stream=stream,
            protocol_version=5,
            keyspace="shop",
            connection_id=1,
            message=_query(f"SELECT * FROM orders WHERE id = {stream}"),
        )
        for stream in range(4)
    ]
    for request in requests:
        assert keeper.authorize(LOADER, request) is None
    for request in requests:
        keeper.request_done(LOADER, request, RequestOutcome(decision="allowed"), 0.001, 0)
    audit.close()
    lines = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    # The oldest was forgotten: audited, but without what the gate had learnt of it.
    assert [line.get("statement") for line in lines] == [
        None,
        "SELECT * FROM orders WHERE id = 1",
        "SELECT * FROM orders WHERE id = 2",
        "SELECT * FROM orders WHERE id = 3",
    ]
