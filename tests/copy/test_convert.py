"""Value conversion (cassflow.copy._convert): round trips through text, JSON and Parquet for
every CQL type, compared on the driver's serialized bytes; a row of every type written to and
read from a cluster; what each converter accepts and the messages of what it refuses."""

from __future__ import annotations

import datetime
import decimal
import io
import ipaddress
import json
import math
import subprocess
import sys
import uuid
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cassandra import cqltypes, util
from cassandra.cluster import Session
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cassflow.copy._convert import (
    arrow_type,
    cql_type_name,
    parse_cql_type,
    to_arrow,
    to_cql,
    to_json,
    to_text,
)
from cassflow.copy._model import ConversionError, CopyError

ADDRESS = cqltypes.UserType.make_udt_class(
    "ks",
    "address",
    ("street", "zip", "tags"),
    (
        cqltypes.UTF8Type,
        cqltypes.Int32Type,
        cqltypes.FrozenType.apply_parameters(
            [cqltypes.SetType.apply_parameters([cqltypes.UTF8Type])]
        ),
    ),
)
UDTS = {"address": ADDRESS}
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

INT64 = (-(2**63), 2**63 - 1)
# Timestamps and dates that pyarrow's to_pylist can give back as Python objects.
PY_MS = (-62135596800000, 253402300799999)
PY_DAYS = (-719162, 2932896)


def _floats(width: int) -> st.SearchStrategy[float]:
    # NaN is written as "NaN": its sign and payload bits are not kept (only the canonical NaN).
    return st.floats(width=width, allow_nan=False) | st.just(math.nan)  # type: ignore[arg-type]


def _durations() -> st.SearchStrategy[util.Duration]:
    parts = st.tuples(
        st.integers(0, 2**31 - 1), st.integers(0, 2**31 - 1), st.integers(0, 2**63 - 1)
    )
    signed = st.tuples(parts, st.booleans()).map(
        lambda p: tuple(-x for x in p[0]) if p[1] else p[0]
    )
    return signed.map(lambda p: util.Duration(*p))


def _scalars(*, arrow: bool) -> dict[str, st.SearchStrategy[Any]]:
    """A strategy of values the driver serializes, per native type (``arrow``: only values
    pyarrow's to_pylist can give back as Python objects)."""
    days = PY_DAYS if arrow else (-(2**31), 2**31 - 1)
    nanos = (
        st.integers(0, 86_399_999_999).map(lambda n: n * 1000)
        if arrow
        else st.integers(0, 86_399_999_999_999)
    )
    return {
        "tinyint": st.integers(-128, 127),
        "smallint": st.integers(-32768, 32767),
        "int": st.integers(-(2**31), 2**31 - 1),
        "bigint": st.integers(*INT64),
        "varint": st.integers(-(10**40), 10**40),
        "float": _floats(32),
        "double": _floats(64),
        "decimal": st.decimals(allow_nan=False, allow_infinity=False),
        "boolean": st.booleans(),
        "text": st.text(),
        "ascii": st.text(st.characters(max_codepoint=127)),
        "blob": st.binary(),
        "uuid": st.uuids(),
        "timeuuid": st.uuids(version=1),
        "inet": st.ip_addresses().map(str),
        "timestamp": st.integers(*PY_MS),  # the driver reads no others
        "date": st.integers(*days).map(util.Date),
        "time": nanos.map(util.Time),
        "duration": _durations(),
    }


def _nested(arrow: bool) -> dict[str, st.SearchStrategy[Any]]:
    s = _scalars(arrow=arrow)
    address = st.tuples(
        st.none() | s["text"], st.none() | s["int"], st.none() | st.sets(s["text"], max_size=3)
    )
    return {
        "list<int>": st.lists(s["int"], max_size=5),
        "set<timestamp>": st.sets(s["timestamp"], max_size=5),
        "map<int, text>": st.dictionaries(s["int"], s["text"], max_size=5),
        "map<date, frozen<list<blob>>>": st.dictionaries(
            s["date"], st.lists(s["blob"], max_size=3), max_size=3
        ),
        "list<frozen<map<text, frozen<set<int>>>>>": st.lists(
            st.dictionaries(s["text"], st.sets(s["int"], max_size=3), max_size=3), max_size=3
        ),
        "frozen<tuple<int, text, frozen<address>>>": st.tuples(
            st.none() | s["int"], st.none() | s["text"], st.none() | address
        ),
        "frozen<address>": address,
        "map<frozen<tuple<double, uuid>>, duration>": st.dictionaries(
            st.tuples(s["double"].filter(lambda x: not math.isnan(x)), s["uuid"]),
            s["duration"],
            max_size=3,
        ),
        "set<frozen<list<decimal>>>": st.lists(st.lists(s["decimal"], max_size=3), max_size=3),
        "vector<float, 3>": st.lists(s["float"], min_size=3, max_size=3),
        "list<time>": st.lists(s["time"], max_size=3),
        "map<inet, frozen<list<varint>>>": st.dictionaries(
            s["inet"], st.lists(s["varint"], max_size=3), max_size=3
        ),
    }


TYPES = [*_scalars(arrow=False), *_nested(arrow=False)]


def _canonical(cql_type: Any, value: Any) -> bytes:
    # The bytes of a value as the driver reads and writes it back (set order, map order).
    raw = cql_type.serialize(value, 4)
    return bytes(cql_type.serialize(cql_type.deserialize(raw, 4), 4))


def _via_parquet(cql_type: Any, value: Any) -> Any:
    array = pa.array([to_arrow(cql_type)(value)], type=arrow_type(cql_type))
    buffer = io.BytesIO()
    pq.write_table(pa.table({"c": array}), buffer)
    buffer.seek(0)
    column = pq.read_table(buffer).column("c")
    if pa.types.is_time64(column.type):
        # to_pylist cannot make a Python time of nanoseconds: read them as an integer.
        column = column.cast(pa.int64())
    return column.to_pylist()[0]


ROUND_TRIPS: dict[str, Callable[[Any, Any], Any]] = {
    "text": lambda t, v: to_text(t)(v),
    "json": lambda t, v: json.loads(json.dumps(to_json(t)(v))),
    "parquet": _via_parquet,
}


def _check_round_trip(type_text: str, value: Any, how: str) -> None:
    cql_type = parse_cql_type(type_text, UDTS)
    read = cql_type.deserialize(cql_type.serialize(value, 4), 4)  # as the driver returns it
    # Canonical from the stored value, not from ``read``: the driver reads timestamps through
    # a float, and serializing its datetime again can land a millisecond off far from 1970
    # (inside a set, twice over); the conversion must give back what was stored.
    expected = _canonical(cql_type, value)
    carried = ROUND_TRIPS[how](cql_type, read)
    back = to_cql(cql_type)(carried)
    assert _canonical(cql_type, back) == expected, (type_text, read, carried, back)


@pytest.mark.parametrize("how", ["text", "json", "parquet"])
@pytest.mark.parametrize("type_text", TYPES)
def test_round_trip(type_text: str, how: str) -> None:
    strategies = {**_scalars(arrow=how == "parquet"), **_nested(arrow=how == "parquet")}

    @SETTINGS
    @given(strategies[type_text])
    def check(value: Any) -> None:
        _check_round_trip(type_text, value, how)

    check()


@pytest.mark.parametrize("how", ["text", "json"])
@given(ms=st.integers(*INT64))
@SETTINGS
def test_timestamps_come_back_to_the_exact_millisecond(ms: int, how: str) -> None:
    # The driver reads a timestamp through a float: far from 1970 its datetime is off by
    # some microseconds, and the conversion still gives the stored millisecond back.
    cql_type = cqltypes.DateType
    try:
        read = cql_type.deserialize(cql_type.serialize(ms, 4), 4)
    except (OverflowError, ValueError):  # beyond Python's datetime: the driver cannot read it
        read = ms
    assert to_cql(cql_type)(ROUND_TRIPS[how](cql_type, read)) == ms


def test_type_names_round_trip() -> None:
    for text in [
        "map<text, frozen<list<int>>>",
        "frozen<tuple<int, text>>",
        "vector<float, 3>",
        "frozen<address>",
        "list<frozen<map<text, frozen<set<int>>>>>",
        "set<timeuuid>",
        "duration",
    ]:
        assert cql_type_name(parse_cql_type(text, UDTS)) == text
    with pytest.raises(CopyError, match="unknown user type 'nope'"):
        parse_cql_type("frozen<nope>", UDTS)


# --- accepted forms ----------------------------------------------------------------------

ACCEPTED: list[tuple[str, Any, Any]] = [
    ("int", " 42 ", 42),
    ("int", "-7", -7),
    ("int", decimal.Decimal("12"), 12),
    ("bigint", 2**63 - 1, 2**63 - 1),
    ("varint", "123456789012345678901234567890", 123456789012345678901234567890),
    ("double", "NaN", "nan"),
    ("double", "-Infinity", float("-inf")),
    ("double", "1e3", 1000.0),
    ("double", 3, 3.0),
    ("decimal", "1.50", decimal.Decimal("1.50")),
    ("decimal", 0.5, decimal.Decimal("0.5")),
    ("decimal", "1E+3", decimal.Decimal("1E+3")),
    ("boolean", "TRUE", True),
    ("boolean", False, False),
    ("text", "", ""),
    ("blob", "", b""),
    ("int", "", None),
    ("blob", "0xCAFE", b"\xca\xfe"),
    ("blob", "yv4=", b"\xca\xfe"),
    ("blob", bytearray(b"ab"), b"ab"),
    ("inet", ipaddress.ip_address("::1"), "::1"),
    ("inet", " 10.0.0.1", "10.0.0.1"),
    (
        "uuid",
        "123E4567-E89B-12D3-A456-426614174000",
        uuid.UUID(int=0x123E4567E89B12D3A456426614174000),
    ),
    ("date", "2024-02-29", util.Date(19782)),
    ("date", datetime.date(1969, 12, 31), util.Date(-1)),
    ("date", "-0044-03-15", util.Date(-735_525)),
    ("date", "-800000", util.Date(-800000)),
    ("date", 5, util.Date(5)),
    ("time", "12:00:00.5", util.Time(43_200_500_000_000)),
    ("time", datetime.time(0, 0, 1, 5), util.Time(1_000_005_000)),
    ("time", 7, util.Time(7)),
    ("duration", "1y2mo3w4d5h6m7s8ms9us10ns", util.Duration(14, 25, 18367008009010)),
    ("duration", "1µs", util.Duration(0, 0, 1000)),
    ("duration", "-P1Y2M3DT4H5M6S", util.Duration(-14, -3, -14706000000000)),
    ("duration", "P2W", util.Duration(0, 14, 0)),
    ("duration", "P0001-02-03T04:05:06", util.Duration(14, 3, 14706000000000)),
    ("duration", datetime.timedelta(seconds=-1), util.Duration(0, 0, -1_000_000_000)),
    ("list<int>", "[1, 2]", [1, 2]),
    ("list<int>", "[1,2]", [1, 2]),
    ("list<text>", "['a', 'it''s']", ["a", "it's"]),
    ("set<int>", "{2, 1, 2}", util.SortedSet([1, 2])),
    ("set<int>", [3, 3, 1], util.SortedSet([1, 3])),
    ("map<text, int>", "{'k': 1}", {"k": 1}),
    ("map<int, boolean>", '{"1": "true"}', {1: True}),
    ("map<int, text>", [(1, "a"), (2, "b")], {1: "a", 2: "b"}),
    ("map<text, int>", "{}", {}),
    ("frozen<tuple<int, text>>", "(1, 'x')", (1, "x")),
    ("frozen<tuple<int, text>>", '[1, "x"]', (1, "x")),
    ("frozen<tuple<int, text>>", {"f0": 1, "f1": None}, (1, None)),
    ("frozen<address>", "{street: 'x'}", ("x", None, None)),
    ("frozen<address>", '{"street": "x", "zip": 5}', ("x", 5, None)),
    ("frozen<address>", "{zip: 5, tags: {'a'}}", (None, 5, util.SortedSet(["a"]))),
    ("vector<float, 3>", "[1, 2.5, -3]", [1.0, 2.5, -3.0]),
    ("timestamp", 1714564800123, 1714564800123),
    ("timestamp", datetime.datetime(2024, 5, 1, 12), 1714564800000),
    (
        "timestamp",
        datetime.datetime(2024, 5, 1, 14, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
        1714564800000,
    ),
]


@pytest.mark.parametrize(("type_text", "value", "result"), ACCEPTED)
def test_accepted_forms(type_text: str, value: Any, result: Any) -> None:
    converted = to_cql(parse_cql_type(type_text, UDTS))(value)
    if result == "nan":
        assert math.isnan(converted)
        return
    assert converted == result
    assert type(converted) is type(result) or isinstance(converted, tuple)


def test_null_converts_to_null_for_every_type() -> None:
    for type_text in TYPES:
        assert to_cql(parse_cql_type(type_text, UDTS))(None) is None


def test_driver_udt_values_convert() -> None:
    value = ADDRESS.tuple_type("x", 1, util.SortedSet(["t"]))
    assert to_cql(ADDRESS)(value) == ("x", 1, util.SortedSet(["t"]))


# --- ISO 8601 timestamps -------------------------------------------------------------------

TIMESTAMPS = [
    ("2024-05-01T12:00:00Z", 1714564800000),
    ("2024-05-01T12:00:00.123Z", 1714564800123),
    ("2024-05-01 12:00:00.123", 1714564800123),
    ("2024-05-01T12:00:00.1239Z", 1714564800123),
    ("2024-05-01T14:00:00+02:00", 1714564800000),
    ("2024-05-01T14:00:00+0200", 1714564800000),
    ("2024-05-01T14:00:00+02", 1714564800000),
    ("2024-05-01T10:30:00-01:30", 1714564800000),
    ("2024-05-01 12:00:00.123000+0000", 1714564800123),
    ("2024-05-01T12:00", 1714564800000),
    ("2024-05-01", 1714521600000),
    ("1969-12-31T23:59:59.999Z", -1),
    ("1969-12-31T23:59:59.9999Z", -1),
    ("1900-01-01T00:00:00Z", -2208988800000),
    ("0001-01-01T00:00:00Z", -62135596800000),
    ("12024-01-01T00:00:00Z", 317273587200000),
    ("-0001-01-01T00:00:00Z", -62198755200000),
]


@pytest.mark.parametrize(("text", "ms"), TIMESTAMPS)
def test_iso_8601_timestamps(text: str, ms: int) -> None:
    assert to_cql(cqltypes.DateType)(text) == ms


# --- errors ---------------------------------------------------------------------------------

ERRORS = [
    ("int", "abc", "expected an int (32-bit) but got 'abc'"),
    ("int", "1.5", "expected an int (32-bit) but got '1.5'"),
    ("int", "1e3", "expected an int (32-bit) but got '1e3'"),
    ("int", "1_000", "expected an int (32-bit) but got '1_000'"),
    ("int", "١٢", "expected an int (32-bit) but got '١٢'"),
    (
        "varint",
        "9" * 5000,
        "expected a varint (an integer) but got '" + "9" * 76 + "...: too many digits",
    ),
    ("int", True, "expected an int (32-bit) but got True (bool)"),
    ("int", 2**31, "expected an int (32-bit) but got 2147483648 (int): out of range"),
    ("smallint", "40000", "expected a smallint (-32768..32767) but got '40000': out of range"),
    ("tinyint", -129, "expected a tinyint (-128..127) but got -129 (int): out of range"),
    ("float", "1e39", "expected a float (32-bit) but got '1e39': out of range"),
    ("double", "x1", "expected a double (64-bit) but got 'x1'"),
    ("decimal", "NaN", "expected a decimal but got 'NaN'"),
    (
        "decimal",
        0.1,
        "expected a decimal but got 0.1 (float): the float is not exact; give the number as text",
    ),
    ("boolean", "yes", "expected a boolean (true or false) but got 'yes'"),
    ("boolean", 1, "expected a boolean (true or false) but got 1 (int)"),
    ("text", 5, "expected text (a string) but got 5 (int)"),
    (
        "ascii",
        "é",
        "expected ascii text (a string of ASCII characters) but got 'é': "
        "it holds non-ASCII characters",
    ),
    (
        "blob",
        "0xabc",
        "expected a blob (0x followed by hex digits, or base64) but got '0xabc': "
        "not an even number of hex digits",
    ),
    (
        "blob",
        "not base64!",
        "expected a blob (0x followed by hex digits, or base64) but got 'not base64!'",
    ),
    ("uuid", "nope", "expected a uuid but got 'nope'"),
    (
        "timeuuid",
        "123e4567-e89b-42d3-a456-426614174000",
        "expected a timeuuid (version 1 UUID) but got '123e4567-e89b-42d3-a456-426614174000': "
        "it is a version 4 UUID",
    ),
    ("inet", "300.1.1.1", "expected an inet (IPv4 or IPv6 address) but got '300.1.1.1'"),
    (
        "timestamp",
        "2024-13-01",
        "expected a timestamp (ISO 8601, e.g. 2024-05-01T12:00:00.123+02:00) but got '2024-13-01'",
    ),
    (
        "timestamp",
        "2024-02-30T00:00:00Z",
        "expected a timestamp (ISO 8601, e.g. 2024-05-01T12:00:00.123+02:00) "
        "but got '2024-02-30T00:00:00Z'",
    ),
    ("date", "2023-02-29", "expected a date (yyyy-mm-dd) but got '2023-02-29'"),
    (
        "date",
        datetime.datetime(2024, 1, 1),
        "expected a date (yyyy-mm-dd) but got datetime.datetime(2024, 1, 1, 0, 0) (datetime)",
    ),
    ("time", "24:00:00", "expected a time (hh:mm:ss[.fffffffff]) but got '24:00:00'"),
    (
        "time",
        86_400_000_000_000,
        "expected a time (hh:mm:ss[.fffffffff]) but got 86400000000000 (int): out of range",
    ),
    ("duration", "1x", "expected a duration (e.g. 1h30m, P1DT2H, -10s) but got '1x'"),
    (
        "duration",
        util.Duration(1, -1, 0),
        "expected a duration (e.g. 1h30m, P1DT2H, -10s) but got Duration(1, -1, 0) (Duration): "
        "its months, days and nanoseconds have different signs",
    ),
    (
        "list<int>",
        "[1, 'x']",
        "expected an int (32-bit) but got 'x' (at [1])",
    ),
    (
        "list<int>",
        "[1, null]",
        "null elements are not allowed in a list (at [1])",
    ),
    ("list<int>", [1, ""], "expected an int (32-bit) but got '' (at [1])"),
    (
        "list<int>",
        "1, 2",
        "expected a list<int> (JSON or a CQL literal) but got '1, 2': "
        "neither JSON nor a CQL literal",
    ),
    ("list<int>", 5, "expected a list<int> (JSON or a CQL literal) but got 5 (int)"),
    (
        "map<text, int>",
        '{"k": "v"}',
        "expected an int (32-bit) but got 'v' (at [key 'k'])",
    ),
    (
        "frozen<tuple<int, text>>",
        "(1, 'a', 2)",
        "expected a frozen<tuple<int, text>> (JSON or a CQL literal) but got \"(1, 'a', 2)\": "
        "it has 3 elements, not 2",
    ),
    (
        "frozen<address>",
        '{"street": "x", "city": "y"}',
        'expected a frozen<address> (JSON or a CQL literal) but got \'{"street": "x", '
        '"city": "y"}\': unknown fields city',
    ),
    (
        "frozen<tuple<int, frozen<address>>>",
        '[1, {"zip": "z"}]',
        "expected an int (32-bit) but got 'z' (at [1].zip)",
    ),
    (
        "vector<float, 3>",
        "[1, 2]",
        "expected a vector<float, 3> (JSON or a CQL literal) but got '[1, 2]': it has 2 elements",
    ),
]


@pytest.mark.parametrize(("type_text", "value", "message"), ERRORS)
def test_error_messages(type_text: str, value: Any, message: str) -> None:
    with pytest.raises(ConversionError) as caught:
        to_cql(parse_cql_type(type_text, UDTS))(value)
    assert str(caught.value) == message


# --- a row of every type through a cluster (no user type: the dev server has none) -----------

COLUMNS = {
    "a_ascii": ("ascii", "plain"),
    "a_bigint": ("bigint", -(2**63)),
    "a_blob": ("blob", b"\x00\xff"),
    "a_boolean": ("boolean", True),
    "a_date": ("date", util.Date(-1)),
    "a_decimal": ("decimal", decimal.Decimal("-12.3400")),
    "a_double": ("double", -0.1),
    "a_duration": ("duration", util.Duration(14, 3, 5_000_000_007)),
    "a_float": ("float", 1.5),
    "a_inet": ("inet", "2001:db8::1"),
    "a_int": ("int", 2**31 - 1),
    "a_smallint": ("smallint", -32768),
    "a_text": ("text", 'héllo, "world"\n'),
    "a_time": ("time", util.Time(45_296_789_012_345)),
    "a_timestamp": ("timestamp", 1_714_564_800_123),
    "a_timeuuid": ("timeuuid", uuid.UUID("8d3e6a10-07a8-11ef-9262-0242ac120002")),
    "a_tinyint": ("tinyint", 127),
    "a_uuid": ("uuid", uuid.UUID("123e4567-e89b-12d3-a456-426614174000")),
    "a_varint": ("varint", 10**30),
    "a_list": ("list<frozen<map<text, frozen<set<int>>>>>", [{"k": {1, 2}}, {}]),
    "a_set": ("set<timestamp>", {0, -1}),
    "a_map": ("map<date, frozen<list<blob>>>", {util.Date(3): [b"x"]}),
    "a_tuple": ("frozen<tuple<int, text, frozen<list<inet>>>>", (1, None, ["::1", "1.2.3.4"])),
    "a_vector": ("vector<float, 3>", [1.0, -2.5, 0.0]),
}


def test_a_row_of_every_type_through_a_cluster(session: Session, keyspace: str) -> None:
    columns = ", ".join(f"{name} {spec[0]}" for name, spec in COLUMNS.items())
    session.execute(f"CREATE TABLE {keyspace}.t (k int PRIMARY KEY, {columns})")
    names = list(COLUMNS)
    markers = ", ".join("?" * len(names))
    insert = session.prepare(
        f"INSERT INTO {keyspace}.t (k, {', '.join(names)}) VALUES (?, {markers})"
    )
    select = session.prepare(f"SELECT {', '.join(names)} FROM {keyspace}.t WHERE k = ?")
    types = [c.type for c in insert.column_metadata[1:]]
    converters = [to_cql(t) for t in types]
    first = [convert(spec[1]) for convert, spec in zip(converters, COLUMNS.values(), strict=True)]
    session.execute(insert, [0, *first])
    read = list(session.execute(select, [0]).one())
    expected = [_canonical(t, v) for t, v in zip(types, read, strict=True)]
    for key, how in enumerate(ROUND_TRIPS, start=1):
        carried = [ROUND_TRIPS[how](t, v) for t, v in zip(types, read, strict=True)]
        again = [convert(v) for convert, v in zip(converters, carried, strict=True)]
        assert [_canonical(t, v) for t, v in zip(types, again, strict=True)] == expected, how
        session.execute(insert, [key, *again])
        assert list(session.execute(select, [key]).one()) == read, how


# --- untyped values, Arrow types, import cost ------------------------------------------------


def test_untyped_values() -> None:
    assert to_text(None)("a,b") == "a,b"
    assert to_text(None)(None) is None
    assert to_text(None)({"k": [1, 2.5, None]}) == '{"k": [1, 2.5, null]}'
    assert to_json(None)([1, "x", float("nan"), (True,)]) == [1, "x", "NaN", [True]]
    assert to_arrow(None)(5) == "5"
    assert arrow_type(None) == pa.string()


ARROW_TYPES = [
    ("int", pa.int32()),
    ("bigint", pa.int64()),
    ("counter", pa.int64()),
    ("smallint", pa.int16()),
    ("tinyint", pa.int8()),
    ("varint", pa.string()),
    ("decimal", pa.string()),
    ("float", pa.float32()),
    ("double", pa.float64()),
    ("boolean", pa.bool_()),
    ("text", pa.string()),
    ("ascii", pa.string()),
    ("blob", pa.binary()),
    ("uuid", pa.string()),
    ("timeuuid", pa.string()),
    ("inet", pa.string()),
    ("timestamp", pa.timestamp("ms", tz="UTC")),
    ("date", pa.date32()),
    ("time", pa.time64("ns")),
    ("duration", pa.string()),
    ("list<int>", pa.list_(pa.int32())),
    ("set<text>", pa.list_(pa.string())),
    ("map<text, frozen<list<int>>>", pa.map_(pa.string(), pa.list_(pa.int32()))),
    ("frozen<tuple<int, text>>", pa.struct([("f0", pa.int32()), ("f1", pa.string())])),
    (
        "frozen<address>",
        pa.struct([("street", pa.string()), ("zip", pa.int32()), ("tags", pa.list_(pa.string()))]),
    ),
    ("vector<float, 3>", pa.list_(pa.float32(), 3)),
]


@pytest.mark.parametrize(("type_text", "expected"), ARROW_TYPES)
def test_arrow_types(type_text: str, expected: pa.DataType) -> None:
    assert arrow_type(parse_cql_type(type_text, UDTS)) == expected


def test_importing_the_converters_does_not_import_pyarrow() -> None:
    code = "import sys, cassflow.copy._convert; print('pyarrow' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "False"
