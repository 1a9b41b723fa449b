"""Byte-comparable keys: memcmp order of the encodings against Cassandra's order of the values.

Each type case below pairs a Hypothesis strategy of Python values with a comparison written
from Cassandra's ``AbstractType`` subclasses (``Int32Type``, ``FloatType``, ``UUIDType``,
``TimeUUIDType``, ``DecimalType``, the collection types...), independently of the encoder.
"""

from __future__ import annotations

import decimal
import ipaddress
import itertools
import math
import struct
import uuid
from collections import namedtuple
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from cassandra import cqltypes, util
from cassandra.metadata import Murmur3Token
from cassandra.murmur3 import murmur3 as c_murmur3
from cassandra.query import BoundStatement, PreparedStatement, SimpleStatement
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cassflow.devserver._keycodec import (
    STATIC_CK,
    CkRange,
    KeyCodecError,
    SliceBound,
    clustering_key,
    clustering_ranges,
    decode_clustering_key,
    merge_ranges,
    partition_key,
    prefix_successor,
    token,
)
from cassflow.protocol import DataType, TypeCode

V = 4  # protocol version used to serialize values


def simple(code: TypeCode) -> DataType:
    return DataType(code)


def sign(n: int) -> int:
    return (n > 0) - (n < 0)


def by_key(key: Callable[[Any], Any]) -> Callable[[Any, Any], int]:
    def compare(a: Any, b: Any) -> int:
        ka, kb = key(a), key(b)
        return (ka > kb) - (ka < kb)

    return compare


# ------------------------------------------------------------------ Cassandra's orders


def java_float_key(x: float) -> tuple[int, float, float]:
    # Float.compare / Double.compare: -0.0 < 0.0; all NaNs equal and above +infinity.
    if math.isnan(x):
        return (1, 0.0, 0.0)
    return (0, x, math.copysign(1.0, x))


def uuid_fields(u: uuid.UUID) -> tuple[int, int, int]:
    n = u.int
    version = (n >> 76) & 0xF
    msb, lsb = n >> 64, n & ((1 << 64) - 1)
    return version, msb, lsb


def v1_timestamp(msb: int) -> int:
    time_low, time_mid, time_hi = msb >> 32, (msb >> 16) & 0xFFFF, msb & 0x0FFF
    return (time_hi << 48) | (time_mid << 32) | time_low


def uuid_type_key(u: uuid.UUID) -> tuple[int, int, int]:
    # UUIDType: version, then the timestamp of time UUIDs or the unsigned high long of
    # others, then the unsigned low long.
    version, msb, lsb = uuid_fields(u)
    return (version, v1_timestamp(msb) if version == 1 else msb, lsb)


def timeuuid_type_key(u: uuid.UUID) -> tuple[int, tuple[int, ...]]:
    # TimeUUIDType: timestamp, then the low 8 bytes as signed bytes.
    _, msb, _ = uuid_fields(u)
    low = u.bytes[8:]
    return (v1_timestamp(msb), tuple(b - 256 if b >= 128 else b for b in low))


def as_v1(n: int) -> uuid.UUID:
    return uuid.UUID(int=(n & ~(0xF << 76)) | (1 << 76))


def lexicographic(elem: Callable[[Any, Any], int]) -> Callable[[Any, Any], int]:
    # ListType/SetType/MapType: element by element, then the shorter one first.
    def compare(a: Sequence[Any], b: Sequence[Any]) -> int:
        for x, y in zip(a, b, strict=False):
            c = elem(x, y)
            if c:
                return c
        return sign(len(a) - len(b))

    return compare


def components(*elems: Callable[[Any, Any], int]) -> Callable[[Any, Any], int]:
    # TupleType/UserType: component by component, a null first.
    def compare(a: Sequence[Any], b: Sequence[Any]) -> int:
        for cmp, x, y in zip(elems, a, b, strict=True):
            c = (x is not None) - (y is not None) if x is None or y is None else cmp(x, y)
            if c:
                return c
        return 0

    return compare


@dataclass(frozen=True)
class Case:
    name: str
    dtype: DataType
    values: st.SearchStrategy[Any]
    compare: Callable[[Any, Any], int]
    # Serialization that the encoder gives back unchanged (no Cassandra-equal respellings).
    exact: bool = True
    # The strategy yields serialized bytes rather than Python values.
    raw: bool = False


def natural(a: Any, b: Any) -> int:
    return (a > b) - (a < b)


def ints(bits: int) -> st.SearchStrategy[int]:
    return st.integers(-(1 << (bits - 1)), (1 << (bits - 1)) - 1)


float32 = st.floats(width=32)
# Every bit pattern, NaN payloads and negative NaNs included.
float32_bits = st.binary(min_size=4, max_size=4)
double_bits = st.binary(min_size=8, max_size=8)
float_cmp = by_key(java_float_key)
float32_bits_cmp = by_key(lambda b: java_float_key(struct.unpack(">f", b)[0]))
double_bits_cmp = by_key(lambda b: java_float_key(struct.unpack(">d", b)[0]))
decimals = st.builds(
    lambda digits, exponent: decimal.Decimal(digits).scaleb(exponent),
    st.integers(-(10**30), 10**30),
    st.integers(-40, 40),
)
text_cmp = by_key(lambda s: s.encode("utf-8"))
inets = st.one_of(st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str)).map(lambda s: s)
inet_cmp = by_key(lambda s: ipaddress.ip_address(s).packed)
uuids = st.integers(0, 2**128 - 1).map(lambda n: uuid.UUID(int=n))
time_uuids = st.integers(0, 2**128 - 1).map(as_v1)
Udt = namedtuple("Udt", "a b")

INT = simple(TypeCode.INT)
TEXT = simple(TypeCode.VARCHAR)

CASES = [
    Case("tinyint", simple(TypeCode.TINYINT), ints(8), natural),
    Case("smallint", simple(TypeCode.SMALLINT), ints(16), natural),
    Case("int", INT, ints(32), natural),
    Case("bigint", simple(TypeCode.BIGINT), ints(64), natural),
    Case("counter", simple(TypeCode.COUNTER), ints(64), natural),
    Case("timestamp", simple(TypeCode.TIMESTAMP), ints(64), natural),
    Case("time", simple(TypeCode.TIME), st.integers(0, 86_399_999_999_999), natural),
    # The driver takes an int date as the unsigned wire value (days + 2**31).
    Case("date", simple(TypeCode.DATE), st.integers(0, 2**32 - 1), natural),
    Case("float", simple(TypeCode.FLOAT), float32, float_cmp, exact=False),
    Case("float bits", simple(TypeCode.FLOAT), float32_bits, float32_bits_cmp, False, raw=True),
    Case("double", simple(TypeCode.DOUBLE), st.floats(), float_cmp, exact=False),
    Case("double bits", simple(TypeCode.DOUBLE), double_bits, double_bits_cmp, False, raw=True),
    Case("boolean", simple(TypeCode.BOOLEAN), st.booleans(), natural),
    Case("text", TEXT, st.text(), text_cmp),
    Case("ascii", simple(TypeCode.ASCII), st.text(st.characters(max_codepoint=127)), natural),
    Case("blob", simple(TypeCode.BLOB), st.binary(), natural),
    Case("inet", simple(TypeCode.INET), inets, inet_cmp),
    Case("uuid", simple(TypeCode.UUID), uuids, by_key(uuid_type_key)),
    Case("timeuuid", simple(TypeCode.TIMEUUID), time_uuids, by_key(timeuuid_type_key)),
    Case("varint", simple(TypeCode.VARINT), st.integers(-(2**200), 2**200), natural),
    Case("decimal", simple(TypeCode.DECIMAL), decimals, natural, exact=False),
    Case(
        "list<int>", DataType.list_of(INT), st.lists(ints(32), max_size=5), lexicographic(natural)
    ),
    Case(
        "set<text>",
        DataType.set_of(TEXT),
        st.frozensets(st.text(max_size=4), max_size=5),
        lambda a, b: lexicographic(text_cmp)(sorted(a, key=str.encode), sorted(b, key=str.encode)),
        exact=False,
    ),
    Case(
        "map<int, text>",
        DataType.map_of(INT, TEXT),
        st.dictionaries(ints(32), st.text(max_size=4), max_size=4),
        lambda a, b: lexicographic(components(natural, text_cmp))(
            sorted(a.items()), sorted(b.items())
        ),
        exact=False,
    ),
    Case(
        "tuple<int, text, boolean>",
        DataType.tuple_of(INT, TEXT, simple(TypeCode.BOOLEAN)),
        st.tuples(st.none() | ints(32), st.none() | st.text(max_size=4), st.none() | st.booleans()),
        components(natural, text_cmp, natural),
    ),
    Case(
        "udt",
        DataType.udt("ks", "u", {"a": simple(TypeCode.DOUBLE), "b": DataType.list_of(TEXT)}),
        st.builds(
            Udt,
            st.none() | st.floats(allow_nan=False),
            st.none() | st.lists(st.text(max_size=3), max_size=3),
        ),
        components(float_cmp, lexicographic(text_cmp)),
    ),
    Case(
        "list<frozen<tuple<uuid, decimal>>>",
        DataType.list_of(DataType.tuple_of(simple(TypeCode.UUID), simple(TypeCode.DECIMAL))),
        st.lists(st.tuples(uuids, decimals), max_size=3),
        lexicographic(components(by_key(uuid_type_key), natural)),
        exact=False,
    ),
]
CASE_IDS = [case.name for case in CASES]


def ser(case: Case, value: Any) -> bytes:
    if case.raw:
        return bytes(value)
    data = case.dtype.serialize(value, V)
    assert data is not None
    return data


def enc(case: Case, data: bytes, desc: bool = False) -> bytes:
    return clustering_key([data], [case.dtype], [desc])


# ------------------------------------------------------------------------ per type


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@given(data=st.data())
@settings(max_examples=150)
def test_encoding_order_is_cassandra_order(case: Case, data: st.DataObject) -> None:
    a = data.draw(case.values)
    b = data.draw(case.values)
    ka, kb = enc(case, ser(case, a)), enc(case, ser(case, b))
    expected = case.compare(a, b)
    assert sign((ka > kb) - (ka < kb)) == expected
    da, db = enc(case, ser(case, a), desc=True), enc(case, ser(case, b), desc=True)
    assert sign((da > db) - (da < db)) == -expected


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@given(data=st.data())
@settings(max_examples=100)
def test_round_trip(case: Case, data: st.DataObject) -> None:
    value = data.draw(case.values)
    desc = data.draw(st.booleans())
    serialized = ser(case, value)
    key = enc(case, serialized, desc)
    [decoded] = decode_clustering_key(key, [case.dtype], [desc])
    if case.exact:
        assert decoded == serialized
    else:
        # The canonical spelling is a value Cassandra considers equal.
        again = decoded if case.raw else case.dtype.deserialize(decoded, V)
        assert case.compare(again, value) == 0
    assert enc(case, decoded, desc) == key


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@given(data=st.data())
@settings(max_examples=50)
def test_empty_value_sorts_first_and_round_trips(case: Case, data: st.DataObject) -> None:
    value = ser(case, data.draw(case.values))
    assume(value)
    empty = enc(case, b"")
    assert empty < enc(case, value)
    assert decode_clustering_key(empty, [case.dtype], [False]) == [b""]
    assert enc(case, b"", desc=True) > enc(case, value, desc=True)


# -------------------------------------------------------------- several components

columns = st.lists(st.tuples(st.sampled_from(CASES), st.booleans()), min_size=1, max_size=4)


def row_compare(layout: Sequence[tuple[Case, bool]], a: Sequence[Any], b: Sequence[Any]) -> int:
    for (case, desc), x, y in zip(layout, a, b, strict=False):
        c = case.compare(x, y)
        if c:
            return -c if desc else c
    return sign(len(a) - len(b))


@given(data=st.data())
@settings(max_examples=300)
def test_composite_keys_are_ordered_and_prefix_free(data: st.DataObject) -> None:
    layout = data.draw(columns)
    types = [case.dtype for case, _ in layout]
    desc = [d for _, d in layout]
    # Prefixes of any length, as bounds use them.
    rows = [
        [data.draw(case.values) for case, _ in layout[: data.draw(st.integers(0, len(layout)))]]
        for _ in range(2)
    ]
    keys = [
        clustering_key([ser(c, v) for (c, _), v in zip(layout, row, strict=False)], types, desc)
        for row in rows
    ]
    a, b = rows
    ka, kb = keys
    expected = row_compare(layout, a, b)
    if expected == 0 and len(a) != len(b):
        return  # a proper prefix: checked below
    assert sign((ka > kb) - (ka < kb)) == expected
    # A full key never starts with another full key's bytes unless they are equal.
    if len(a) == len(b) == len(layout) and ka != kb:
        assert not kb.startswith(ka)
        assert not ka.startswith(kb)


@given(data=st.data())
@settings(max_examples=200)
def test_prefix_is_a_byte_prefix_and_decodes(data: st.DataObject) -> None:
    layout = data.draw(columns)
    types = [case.dtype for case, _ in layout]
    desc = [d for _, d in layout]
    values = [ser(case, data.draw(case.values)) for case, _ in layout]
    full = clustering_key(values, types, desc)
    for k in range(len(values) + 1):
        prefix = clustering_key(values[:k], types, desc)
        assert full.startswith(prefix)
        assert prefix <= full
        successor = prefix_successor(prefix)
        assert successor is None or full < successor
        assert len(decode_clustering_key(prefix, types, desc)) == k
    decoded = decode_clustering_key(full, types, desc)
    assert len(decoded) == len(values)
    assert clustering_key(decoded, types, desc) == full
    assert clustering_key([], types, desc) == STATIC_CK


# --------------------------------------------------------------- Cassandra-equal values


def test_equal_values_share_one_key() -> None:
    dec = simple(TypeCode.DECIMAL)
    one = [
        clustering_key([dec.serialize(decimal.Decimal(s), V)], [dec], [False])
        for s in ("1", "1.0", "1.000", "0.1E1")
    ]
    assert len(set(one)) == 1
    varint = simple(TypeCode.VARINT)
    assert clustering_key([b"\x00\x05"], [varint], [False]) == clustering_key(
        [b"\x05"], [varint], [False]
    )
    assert clustering_key([b"\xff\xfb"], [varint], [False]) == clustering_key(
        [b"\xfb"], [varint], [False]
    )
    assert decode_clustering_key(
        clustering_key([b"\xff\xfb"], [varint], [False]), [varint], [False]
    ) == [b"\xfb"]
    boolean = simple(TypeCode.BOOLEAN)
    assert clustering_key([b"\x07"], [boolean], [False]) == clustering_key(
        [b"\x01"], [boolean], [False]
    )
    dbl = simple(TypeCode.DOUBLE)
    nans = {
        clustering_key([bytes.fromhex(h)], [dbl], [False])
        for h in ("7ff8000000000000", "fff8000000000001", "7ff0000000000001")
    }
    assert len(nans) == 1
    ints_set = DataType.set_of(INT)
    assert clustering_key(
        [ints_set.serialize([3, 1, 2], V)], [ints_set], [False]
    ) == clustering_key([ints_set.serialize([1, 2, 3], V)], [ints_set], [False])
    pair = DataType.tuple_of(INT, TEXT)
    assert clustering_key([pair.serialize((1,), V)], [pair], [False]) == clustering_key(
        [pair.serialize((1, None), V)], [pair], [False]
    )


def test_decimal_canonical_spelling() -> None:
    dec = simple(TypeCode.DECIMAL)

    def canon(s: str) -> decimal.Decimal:
        [out] = decode_clustering_key(
            clustering_key([dec.serialize(decimal.Decimal(s), V)], [dec], [False]), [dec], [False]
        )
        return dec.deserialize(out, V)

    assert str(canon("1.500")) == "1.5"
    assert str(canon("1E+2")) == "100"
    assert str(canon("-0.00")) == "0"
    assert str(canon("1E+100")) == "1E+100"


@pytest.mark.parametrize(
    ("dtype", "value"),
    [
        (INT, b"\x00\x01"),
        (simple(TypeCode.UUID), b"\x00" * 15),
        (simple(TypeCode.TIMEUUID), uuid.UUID(int=4 << 76).bytes),  # version 4, not a time UUID
        (simple(TypeCode.DOUBLE), b"\x00" * 4),
        (simple(TypeCode.DURATION), cqltypes.DurationType.serialize(util.Duration(1, 2, 3), 5)),
        (DataType.list_of(INT), b"\x00\x00\x00\x01\x00\x00\x00\x04\x00"),
        (DataType.tuple_of(INT), INT.serialize(1, V) * 3),
    ],
)
def test_invalid_key_values_raise(dtype: DataType, value: bytes) -> None:
    with pytest.raises(KeyCodecError):
        clustering_key([value], [dtype], [False])


def test_null_and_too_many_values_raise() -> None:
    with pytest.raises(KeyCodecError):
        clustering_key([None], [INT], [False])
    with pytest.raises(KeyCodecError):
        clustering_key([b"\x00\x00\x00\x01"] * 2, [INT], [False])
    with pytest.raises(KeyCodecError):
        decode_clustering_key(b"\x07", [INT], [False])


# ---------------------------------------------------------------- partition keys


def driver_routing_key(values: Sequence[bytes]) -> bytes:
    # What the driver computes for a prepared statement bound with these partition key values.
    Column = namedtuple("Column", "keyspace_name table_name name type")
    metadata = [Column("ks", "t", f"k{i}", cqltypes.BytesType) for i in range(len(values))]
    prepared = PreparedStatement(metadata, b"id", list(range(len(values))), "q", "ks", V, [], None)
    bound = BoundStatement(prepared).bind(list(values))
    key = bound.routing_key
    assert isinstance(key, bytes)
    return key


@given(st.lists(st.binary(max_size=40), min_size=1, max_size=4))
def test_partition_key_and_token_match_the_driver(values: list[bytes]) -> None:
    key = partition_key(values)
    assert key == driver_routing_key(values)
    statement = SimpleStatement("q")
    statement.routing_key = values
    assert key == statement.routing_key
    assert token(key) == Murmur3Token.from_key(key).value
    assert -(2**63) < token(key) < 2**63


def test_token_known_values() -> None:
    # SELECT token(k) for int keys 1, 2, 3 on Cassandra (values from its documentation examples).
    known = {1: -4069959284402364209, 2: -3248873570005575792, 3: 9010454139840013625}
    for key, expected in known.items():
        assert token(INT.serialize(key, V)) == expected
        assert token(INT.serialize(key, V)) == c_murmur3(INT.serialize(key, V))


def test_partition_key_component_too_long() -> None:
    with pytest.raises(KeyCodecError):
        partition_key([b"x" * 70_000, b"y"])


# ----------------------------------------------------------------------- ranges


def test_prefix_successor() -> None:
    assert prefix_successor(b"ab") == b"ac"
    assert prefix_successor(b"a\xff\xff") == b"b"
    assert prefix_successor(b"\xff\xff") is None
    assert prefix_successor(b"") is None


@given(st.binary(max_size=6), st.binary(max_size=6))
def test_prefix_successor_bounds_every_extension(prefix: bytes, tail: bytes) -> None:
    successor = prefix_successor(prefix)
    assert successor is None or prefix + tail < successor
    assume(successor is not None)
    assert successor is not None
    assert not successor.startswith(prefix)


def in_ranges(key: bytes, ranges: Sequence[CkRange]) -> bool:
    return any(r.start <= key and (r.end is None or key < r.end) for r in ranges)


def tuple_cmp(a: Sequence[int], b: Sequence[int]) -> int:
    # CQL compares (c1, c2) > (x, y) in the types' natural order, whatever the clustering order.
    n = min(len(a), len(b))
    return sign((tuple(a[:n]) > tuple(b[:n])) - (tuple(a[:n]) < tuple(b[:n])))


small = st.integers(-2, 2)


@given(data=st.data())
@settings(max_examples=400)
def test_clustering_ranges_select_exactly_the_matching_rows(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 3))
    types = [INT] * n
    desc = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    k = data.draw(st.integers(0, n))
    prefix = data.draw(st.lists(small, min_size=k, max_size=k))
    rest = n - k

    def bound() -> tuple[list[int], bool] | None:
        if rest == 0 or not data.draw(st.booleans()):
            return None
        values = data.draw(st.lists(small, min_size=1, max_size=rest))
        return values, data.draw(st.booleans())

    lower, upper = bound(), bound()
    ranges = clustering_ranges(
        types,
        desc,
        prefix=[INT.serialize(v, V) for v in prefix],
        lower=None
        if lower is None
        else SliceBound([INT.serialize(v, V) for v in lower[0]], lower[1]),
        upper=None
        if upper is None
        else SliceBound([INT.serialize(v, V) for v in upper[0]], upper[1]),
    )
    # Sorted, disjoint, never the static row.
    for a, b in itertools.pairwise(ranges):
        assert a.end is not None
        assert a.end < b.start
    assert not in_ranges(STATIC_CK, ranges)

    def matches(row: tuple[int, ...]) -> bool:
        if list(row[:k]) != prefix:
            return False
        tail = row[k:]
        if lower is not None:
            c = tuple_cmp(tail, lower[0])
            if c < 0 or (c == 0 and not lower[1]):
                return False
        if upper is not None:
            c = tuple_cmp(tail, upper[0])
            if c > 0 or (c == 0 and not upper[1]):
                return False
        return True

    domain = [-3, -2, -1, 0, 1, 2, 3]
    rows = [()]
    for _ in range(n):
        rows = [(*r, v) for r in rows for v in domain]
    for row in rows:
        key = clustering_key([INT.serialize(v, V) for v in row], types, desc)
        assert in_ranges(key, ranges) == matches(row), row


def test_ranges_for_a_desc_slice_lie_before_the_bound() -> None:
    one, five = INT.serialize(1, V), INT.serialize(5, V)
    [rng] = clustering_ranges(
        [INT, INT], [False, True], prefix=[one], lower=SliceBound([five], False)
    )
    assert rng.start == clustering_key([one], [INT, INT], [False, True])
    assert rng.end == clustering_key([one, five], [INT, INT], [False, True])


def test_ranges_without_clustering_columns_cover_the_only_row() -> None:
    assert clustering_ranges([], []) == [CkRange(b"", None)]
    assert CkRange.row(STATIC_CK) == CkRange(b"", None)


def test_merge_ranges() -> None:
    assert merge_ranges([CkRange(b"c", b"d"), CkRange(b"a", b"b"), CkRange(b"b", b"c")]) == [
        CkRange(b"a", b"d")
    ]
    assert merge_ranges([CkRange(b"a", None), CkRange(b"b", b"c")]) == [CkRange(b"a", None)]
    assert merge_ranges([CkRange(b"b", b"a")]) == []
