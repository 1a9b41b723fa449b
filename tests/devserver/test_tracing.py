"""Request tracing through the driver: a traced request's answer carries a tracing session
id, and system_traces holds its session (request, parameters, duration) and events."""

from __future__ import annotations

from cassandra.cluster import Session


def test_a_traced_query_leaves_its_session_and_events(session: Session, keyspace: str) -> None:
    session.execute(f"CREATE TABLE {keyspace}.t (k int PRIMARY KEY, v text)")
    insert = f"INSERT INTO {keyspace}.t (k, v) VALUES (1, 'a')"
    trace = session.execute(insert, trace=True).get_query_trace(max_wait_sec=10)
    assert trace.request_type == "Execute CQL3 query"
    assert trace.parameters["query"] == insert
    assert trace.duration is not None
    assert trace.duration.total_seconds() > 0
    assert trace.events
    assert any(e.description == f"Parsing {insert}" for e in trace.events)
    assert all(e.source_elapsed is not None for e in trace.events)

    select = session.prepare(f"SELECT v FROM {keyspace}.t WHERE k = ?")
    result = session.execute(select, (1,), trace=True)
    assert [row.v for row in result] == ["a"]
    trace = result.get_query_trace(max_wait_sec=10)
    assert trace.request_type == "Execute CQL3 prepared query"
    assert trace.events
    stored = session.execute(
        "SELECT request FROM system_traces.sessions WHERE session_id = %s", (trace.trace_id,)
    ).one()
    assert stored.request == "Execute CQL3 prepared query"


def test_an_untraced_query_has_no_trace(session: Session, keyspace: str) -> None:
    result = session.execute(
        f"SELECT * FROM system_schema.keyspaces WHERE keyspace_name = '{keyspace}'"
    )
    assert result.get_query_trace() is None
