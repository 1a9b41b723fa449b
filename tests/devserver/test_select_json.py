"""SELECT JSON and toJson() through the driver: one ``[json]`` column holding each row as a JSON
object, values and keys written as Cassandra 4.1 writes them."""

from __future__ import annotations

import datetime
import decimal
import json
import re
import struct

import pytest
from cassandra import FunctionFailure, InvalidRequest
from cassandra.cluster import Session
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@pytest.fixture
def rich(session: Session, keyspace: str) -> str:
    table = f"{keyspace}.j"
    session.execute(
        f'CREATE TABLE {table} (k int, c text, "Mixed" int, f float, d double, m decimal, '
        "ts timestamp, dt date, tm time, u uuid, b blob, bo boolean, ip inet, "
        "l list<int>, s set<text>, mp map<int, text>, tp frozen<tuple<int, text>>, "
        "PRIMARY KEY (k, c))"
    )
    session.execute(
        f'INSERT INTO {table} (k, c, "Mixed", f, d, m, ts, dt, tm, u, b, bo, ip, l, s, mp, tp) '
        "VALUES (1, 'a\"b', 7, 1.5, 1e20, 0.010, '2021-03-04 05:06:07.089+0000', "
        "'2021-03-04', '01:02:03.000000004', 6ab09bec-e68e-48d9-a5f8-97e6fb4c9b47, 0xcafe, "
        "false, '127.0.0.1', [3, 1], {'x', 'y'}, {2: 'two', 1: 'one'}, (5, 'five'))"
    )
    session.execute(f"INSERT INTO {table} (k, c) VALUES (2, 'nulls')")
    return table


def test_select_json_star_is_one_json_column(session: Session, rich: str) -> None:
    result = session.execute(f"SELECT JSON * FROM {rich} WHERE k = 1")
    assert result.column_names == ["[json]"]
    text = result.one()[0]
    assert text == (
        '{"k": 1, "c": "a\\"b", "\\"Mixed\\"": 7, "b": "0xcafe", "bo": false, '
        '"d": 1.0E20, "dt": "2021-03-04", "f": 1.5, "ip": "127.0.0.1", "l": [3, 1], '
        '"m": 0.010, "mp": {"1": "one", "2": "two"}, "s": ["x", "y"], '
        '"tm": "01:02:03.000000004", "tp": [5, "five"], '
        '"ts": "2021-03-04 05:06:07.089Z", "u": "6ab09bec-e68e-48d9-a5f8-97e6fb4c9b47"}'
    )
    assert json.loads(text)["mp"] == {"1": "one", "2": "two"}


def test_select_json_nulls_and_selected_columns(session: Session, rich: str) -> None:
    row = session.execute(f"SELECT JSON k, l, mp FROM {rich} WHERE k = 2").one()
    assert row[0] == '{"k": 2, "l": null, "mp": null}'
    aliased = session.execute(f"SELECT JSON k AS key, count(*) FROM {rich}").one()
    assert json.loads(aliased[0])["count"] == 2


def test_select_json_pages(session: Session, keyspace: str) -> None:
    session.execute(f"CREATE TABLE {keyspace}.pj (k int, c int, PRIMARY KEY (k, c))")
    for c in range(25):
        session.execute(f"INSERT INTO {keyspace}.pj (k, c) VALUES (0, {c})")
    statement = session.prepare(f"SELECT JSON c FROM {keyspace}.pj WHERE k = 0")
    statement.fetch_size = 10
    values = [json.loads(r[0])["c"] for r in session.execute(statement)]
    assert values == list(range(25))


def test_to_json_selector(session: Session, rich: str) -> None:
    result = session.execute(f"SELECT toJson(mp), toJson(ts), toJson(c) FROM {rich} WHERE k = 1")
    assert result.column_names == ["system.tojson(mp)", "system.tojson(ts)", "system.tojson(c)"]
    assert tuple(result.one()) == (
        '{"1": "one", "2": "two"}',
        '"2021-03-04 05:06:07.089Z"',
        '"a\\"b"',
    )
    assert session.execute(f"SELECT toJson(l) FROM {rich} WHERE k = 2").one()[0] == "null"


def test_from_json_in_insert_update_and_where(session: Session, keyspace: str) -> None:
    table = f"{keyspace}.fj"
    session.execute(
        f"CREATE TABLE {table} (k int PRIMARY KEY, l list<int>, m map<text, int>, t timestamp, "
        "s text)"
    )
    session.execute(
        f"INSERT INTO {table} (k, l, m, t) VALUES (1, fromJson('[1, 2]'), "
        """fromJson('{"a": 1}'), fromJson('1614834367089'))"""
    )
    session.execute(f"""UPDATE {table} SET s = fromJson('"x"') WHERE k = fromJson('1')""")
    row = session.execute(f"SELECT l, m, t, s FROM {table} WHERE k = 1").one()
    assert tuple(row) == ([1, 2], {"a": 1}, datetime.datetime(2021, 3, 4, 5, 6, 7, 89000), "x")
    prepared = session.prepare(f"INSERT INTO {table} (k, s) VALUES (?, fromJson(?))")
    assert [c.name for c in prepared.column_metadata] == ["k", "arg0(system.fromjson)"]
    session.execute(prepared, (2, '"y"'))
    session.execute(prepared, (3, "null"))
    values = {r.k: r.s for r in session.execute(f"SELECT k, s FROM {table}")}
    assert (values[2], values[3]) == ("y", None)


def test_from_json_errors(session: Session, keyspace: str) -> None:
    table = f"{keyspace}.fe"
    session.execute(f"CREATE TABLE {table} (k int PRIMARY KEY, l list<int>)")
    with pytest.raises(FunctionFailure, match=re.escape("execution of 'system.fromjson[text]'")):
        session.execute(f"""INSERT INTO {table} (k, l) VALUES (1, fromJson('[1, "a"]'))""")
    with pytest.raises(FunctionFailure, match="Could not decode JSON string"):
        session.execute(f"INSERT INTO {table} (k, l) VALUES (1, fromJson('[1,'))")
    with pytest.raises(
        InvalidRequest,
        match=re.escape("fromJson() cannot be used in the selection clause of a SELECT statement"),
    ):
        session.execute(f"SELECT fromJson(l) FROM {table}")


def test_select_json_output_reads_back_through_insert_json(session: Session, rich: str) -> None:
    copy = rich + "_copy"
    session.execute(
        f'CREATE TABLE {copy} (k int, c text, "Mixed" int, f float, d double, m decimal, '
        "ts timestamp, dt date, tm time, u uuid, b blob, bo boolean, ip inet, "
        "l list<int>, s set<text>, mp map<int, text>, tp frozen<tuple<int, text>>, "
        "PRIMARY KEY (k, c))"
    )
    for (document,) in session.execute(f"SELECT JSON * FROM {rich}"):
        session.execute(f"INSERT INTO {copy} JSON %s", (document,))
    original = sorted(tuple(r) for r in session.execute(f"SELECT * FROM {rich}"))
    copied = sorted(tuple(r) for r in session.execute(f"SELECT * FROM {copy}"))
    assert copied == original


def test_json_of_nested_and_special_values(session: Session, keyspace: str) -> None:
    table = f"{keyspace}.nj"
    session.execute(
        f"CREATE TABLE {table} (k int PRIMARY KEY, fl frozen<list<frozen<set<int>>>>, "
        "mk map<frozen<list<int>>, boolean>, dn double, e blob, big varint, neg decimal)"
    )
    session.execute(
        f"INSERT INTO {table} (k, fl, mk, dn, e, big, neg) VALUES (1, [{{2, 1}}, {{}}], "
        "{[1, 2]: true}, NaN, 0x, 123456789012345678901234567890, -0.5e-10)"
    )
    document = session.execute(f"SELECT JSON fl, mk, dn, e, big, neg FROM {table}").one()[0]
    assert document == (
        '{"fl": [[1, 2], []], "mk": {"[1, 2]": true}, "dn": null, "e": "0x", '
        '"big": 123456789012345678901234567890, "neg": -5E-11}'
    )


def test_json_of_durations(session: Session, keyspace: str) -> None:
    table = f"{keyspace}.dj"
    session.execute(
        f"CREATE TABLE {table} (k int PRIMARY KEY, du duration, dz duration, dn duration)"
    )
    session.execute(
        f"INSERT INTO {table} (k, du, dz, dn) VALUES (1, 1y2mo3d4h5m6s7ms8us9ns, 0s, -2d)"
    )
    document = session.execute(f"SELECT JSON du, dz, dn FROM {table}").one()[0]
    # Cassandra's DurationType.toJSONString writes Duration.toString() without quotes (and
    # nothing for the zero duration): the document is not valid JSON, as Cassandra's is not.
    assert document == '{"du": 1y2mo3d4h5m6s7ms8us9ns, "dz": , "dn": -2d}'
    assert session.execute(f"SELECT toJson(du) FROM {table}").one()[0] == "1y2mo3d4h5m6s7ms8us9ns"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(width=32, allow_nan=False, allow_infinity=False),
    st.decimals(allow_nan=False, allow_infinity=False, places=None),
)
def test_json_numbers_read_back_exactly(
    session: Session, keyspace: str, double: float, single: float, exact: decimal.Decimal
) -> None:
    session.execute(
        f"CREATE TABLE IF NOT EXISTS {keyspace}.nums "
        "(k int PRIMARY KEY, d double, f float, m decimal)"
    )
    # Prepared: the driver's text encoding of a Decimal goes through a float.
    insert = session.prepare(f"INSERT INTO {keyspace}.nums (k, d, f, m) VALUES (0, ?, ?, ?)")
    session.execute(insert, (double, single, exact))
    document = session.execute(f"SELECT JSON d, f, m FROM {keyspace}.nums WHERE k = 0").one()[0]
    parsed = json.loads(document, parse_float=decimal.Decimal, parse_int=decimal.Decimal)
    assert float(parsed["d"]) == double
    # A float's shortest digits name it among floats: read back as a float, it is the same.
    assert struct.unpack(">f", struct.pack(">f", float(parsed["f"])))[0] == single
    assert parsed["m"] == exact
