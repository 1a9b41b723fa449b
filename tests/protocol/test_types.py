"""Column types: their CQL names, their [option] encoding, and the values they carry.

Values go through the Cassandra driver's ``cqltypes`` (via :class:`DataType`), so what is
checked here is that the bridge picks the right codec for every type and nesting, and that
``encode_rows``/``decode_rows`` put rows back together as they were.
"""

from __future__ import annotations

import contextlib
import datetime
import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cassandra import util as cql_util
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from strategies import (
    COMPOSITE_TYPE_CODES,
    NATIVE_TYPE_INTRODUCED_IN,
    data_types,
    native_type_codes,
    normalize_value,
    typed_values,
    value_types,
    values_of,
)

from cassflow.protocol import (
    MAX_TYPE_NESTING,
    SUPPORTED_VERSIONS,
    ColumnSpec,
    DataType,
    Envelope,
    LocalProtocolError,
    RemoteProtocolError,
    RowsMetadata,
    RowsResult,
    TypeCode,
    _types,
    decode_envelope,
    decode_rows,
    encode_envelope,
    encode_rows,
)
from cassflow.protocol._buffer import Reader, Writer
from cassflow.protocol._types import read_type, write_type

VERSIONS = pytest.mark.parametrize("version", SUPPORTED_VERSIONS, ids=lambda v: f"v{int(v)}")

INT = DataType(TypeCode.INT)
TEXT = DataType(TypeCode.VARCHAR)

# --- helpers ------------------------------------------------------------------------------


def encode_type(dtype: DataType, version: int) -> bytes:
    """``dtype`` as an [option]."""
    writer = Writer()
    write_type(writer, dtype, version)
    return writer.getvalue()


def decode_type(data: bytes, version: int) -> DataType:
    """The [option] ``data`` holds, which must be all of it."""
    reader = Reader(data)
    dtype = read_type(reader, version)
    assert reader.remaining == 0
    return dtype


def assert_same_value(dtype: DataType, decoded: Any, original: Any) -> None:
    """``decoded`` is what the driver gives back for ``original``: the Python type the driver
    documents for ``dtype``, and the same value at the wire's precision."""
    if original is None:
        assert decoded is None
        return
    code = dtype.code
    if code is TypeCode.TIMESTAMP:
        assert isinstance(decoded, datetime.datetime)
        assert decoded.tzinfo is None  # naive, meaning UTC
    elif code is TypeCode.DATE:
        assert isinstance(decoded, cql_util.Date)
    elif code is TypeCode.TIME:
        assert isinstance(decoded, cql_util.Time)
    elif code is TypeCode.DURATION:
        assert isinstance(decoded, cql_util.Duration)
        assert decoded == original
    elif code is TypeCode.UDT:
        assert getattr(decoded, "_fields", dtype.field_names) == dtype.field_names
    elif code is TypeCode.FLOAT and not math.isnan(original):
        assert decoded == original  # float32 values survive the 4-byte encoding exactly
    if code in (TypeCode.LIST, TypeCode.TUPLE, TypeCode.UDT):
        # Recurse so nested timestamps, dates, times and UDTs get their type checks too.
        params = dtype.params * len(original) if code is TypeCode.LIST else dtype.params
        assert len(decoded) == len(original)
        for param, got, sent in zip(params, decoded, original, strict=True):
            assert_same_value(param, got, sent)
    assert normalize_value(dtype, decoded) == normalize_value(dtype, original)


def nest(depth: int, wrap: Callable[[DataType], DataType], leaf: DataType = INT) -> DataType:
    """``leaf`` wrapped ``depth`` times."""
    dtype = leaf
    for _ in range(depth):
        dtype = wrap(dtype)
    return dtype


# --- CQL names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dtype", "cql"),
    [
        (DataType(TypeCode.ASCII), "ascii"),
        (DataType(TypeCode.BIGINT), "bigint"),
        (DataType(TypeCode.BLOB), "blob"),
        (DataType(TypeCode.BOOLEAN), "boolean"),
        (DataType(TypeCode.COUNTER), "counter"),
        (DataType(TypeCode.DECIMAL), "decimal"),
        (DataType(TypeCode.DOUBLE), "double"),
        (DataType(TypeCode.FLOAT), "float"),
        (DataType(TypeCode.INT), "int"),
        (DataType(TypeCode.TIMESTAMP), "timestamp"),
        (DataType(TypeCode.UUID), "uuid"),
        (DataType(TypeCode.VARCHAR), "text"),
        (DataType(TypeCode.VARINT), "varint"),
        (DataType(TypeCode.TIMEUUID), "timeuuid"),
        (DataType(TypeCode.INET), "inet"),
        (DataType(TypeCode.DATE), "date"),
        (DataType(TypeCode.TIME), "time"),
        (DataType(TypeCode.SMALLINT), "smallint"),
        (DataType(TypeCode.TINYINT), "tinyint"),
        (DataType(TypeCode.DURATION), "duration"),
        (DataType.list_of(INT), "list<int>"),
        (DataType.set_of(TEXT), "set<text>"),
        (DataType.map_of(TEXT, DataType.list_of(INT)), "map<text, list<int>>"),
        (DataType.tuple_of(INT, TEXT, DataType(TypeCode.BLOB)), "tuple<int, text, blob>"),
        (DataType.tuple_of(), "tuple<>"),
        (DataType.udt("ks", "address", {"street": TEXT, "zip": INT}), "ks.address"),
        (DataType.custom("org.apache.cassandra.db.marshal.LexicalUUIDType"), None),
    ],
    ids=lambda x: x.code.name if isinstance(x, DataType) else None,
)
def test_cql_names(dtype: DataType, cql: str | None) -> None:
    want = cql if cql is not None else f"'{dtype.custom_class}'"
    assert dtype.cql() == want


def test_every_native_type_code_has_a_cql_name_and_a_version() -> None:
    natives = set(TypeCode) - {
        TypeCode.CUSTOM,
        TypeCode.LIST,
        TypeCode.SET,
        TypeCode.MAP,
        TypeCode.TUPLE,
        TypeCode.UDT,
    }
    assert natives == set(NATIVE_TYPE_INTRODUCED_IN)
    for code in natives:
        name = DataType(code).cql()
        assert name.isidentifier()
        assert name.islower()


def _codes_in(dtype: DataType) -> set[TypeCode]:
    return {dtype.code}.union(*(_codes_in(p) for p in dtype.params))


def test_type_strategy_covers_every_type_code() -> None:
    # So that a type code added to the protocol without a strategy fails here: the native
    # codes are drawn from native_type_codes() (so check that table), and a sample of types
    # must show every composite code and a good spread of native ones.
    version = max(SUPPORTED_VERSIONS)
    assert set(native_type_codes(version)) | COMPOSITE_TYPE_CODES == set(TypeCode)
    seen: set[TypeCode] = set()

    @settings(max_examples=200, database=None, derandomize=True, phases=[Phase.generate])
    @given(data_types(version))
    def collect(dtype: DataType) -> None:
        seen.update(_codes_in(dtype))

    collect()
    assert seen >= COMPOSITE_TYPE_CODES
    assert len(seen - COMPOSITE_TYPE_CODES) >= 10


# --- [option] encoding --------------------------------------------------------------------


@VERSIONS
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_option_roundtrip(version: int, data: st.DataObject) -> None:
    dtype = data.draw(data_types(version, max_depth=3), label="dtype")
    encoded = encode_type(dtype, version)
    assert int.from_bytes(encoded[:2], "big") == dtype.code
    assert decode_type(encoded, version) == dtype


@pytest.mark.parametrize(
    ("code", "since"),
    [(code, since) for code, since in NATIVE_TYPE_INTRODUCED_IN.items() if since > 3],
    ids=lambda x: x.name if isinstance(x, TypeCode) else str(x),
)
def test_types_newer_than_the_version_are_refused(code: TypeCode, since: int) -> None:
    for version in SUPPORTED_VERSIONS:
        for dtype in (DataType(code), DataType.list_of(DataType.tuple_of(INT, DataType(code)))):
            if version < since:
                with pytest.raises(LocalProtocolError):
                    encode_type(dtype, version)
            else:
                assert decode_type(encode_type(dtype, version), version) == dtype


_WRAPPERS: dict[str, Callable[[DataType], DataType]] = {
    "list": DataType.list_of,
    "set": DataType.set_of,
    "map-key": lambda t: DataType.map_of(t, INT),
    "map-value": lambda t: DataType.map_of(TEXT, t),
    "tuple": lambda t: DataType.tuple_of(INT, t),
    "udt": lambda t: DataType.udt("ks", "u", {"a": INT, "b": t}),
}


@pytest.mark.parametrize("wrap", list(_WRAPPERS.values()), ids=list(_WRAPPERS))
@VERSIONS
def test_nesting_up_to_the_limit_is_read(
    wrap: Callable[[DataType], DataType], version: int
) -> None:
    dtype = nest(MAX_TYPE_NESTING, wrap)
    assert decode_type(encode_type(dtype, version), version) == dtype


@contextlib.contextmanager
def lifted_nesting_limit() -> Iterator[None]:
    """Let this process write types deeper than the codec allows, as a hostile peer would."""
    saved = _types.MAX_TYPE_NESTING
    _types.MAX_TYPE_NESTING = 10_000  # type: ignore[misc]
    try:
        yield
    finally:
        _types.MAX_TYPE_NESTING = saved  # type: ignore[misc]


@pytest.mark.parametrize("wrap", list(_WRAPPERS.values()), ids=list(_WRAPPERS))
@pytest.mark.parametrize("extra", [1, 2, 100])
@VERSIONS
def test_nesting_beyond_the_limit_is_refused(
    wrap: Callable[[DataType], DataType], extra: int, version: int
) -> None:
    too_deep = nest(MAX_TYPE_NESTING + extra, wrap)
    with pytest.raises(LocalProtocolError, match="nested deeper"):
        encode_type(too_deep, version)
    with lifted_nesting_limit():  # play a peer that sends it anyway
        encoded = encode_type(too_deep, version)
    with pytest.raises(RemoteProtocolError, match="nested deeper"):
        decode_type(encoded, version)


@VERSIONS
def test_nesting_beyond_the_limit_in_rows_metadata_is_refused(version: int) -> None:
    column = ColumnSpec(
        keyspace="ks", table="t", name="c", type=nest(MAX_TYPE_NESTING + 1, DataType.list_of)
    )
    with lifted_nesting_limit():  # play a peer that sends it anyway
        frame = encode_envelope(
            Envelope(stream=1, message=RowsResult(metadata=RowsMetadata.of((column,)))), version
        )
    with pytest.raises(RemoteProtocolError, match="nested deeper") as info:
        decode_envelope(frame, version)
    assert info.value.stream == 1
    assert not info.value.fatal


def test_unknown_type_option_is_refused() -> None:
    with pytest.raises(RemoteProtocolError, match="0x000a"):
        decode_type(b"\x00\x0a", 4)  # 0x000A was "text" in v1 and is no type any more


def test_custom_type_needs_a_class_name() -> None:
    with pytest.raises(RemoteProtocolError):
        decode_type(b"\x00\x00\x00\x00", 4)


# --- values -------------------------------------------------------------------------------


@VERSIONS
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_value_roundtrip(version: int, data: st.DataObject) -> None:
    dtype, value = data.draw(typed_values(version, max_depth=2), label="typed value")
    encoded = dtype.serialize(value, version)
    assert isinstance(encoded, bytes)
    assert_same_value(dtype, dtype.deserialize(encoded, version), value)


@pytest.mark.parametrize("code", sorted(NATIVE_TYPE_INTRODUCED_IN), ids=lambda c: c.name)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_each_native_type_value_roundtrips(code: TypeCode, data: st.DataObject) -> None:
    dtype = DataType(code)
    value = data.draw(values_of(dtype), label="value")
    encoded = dtype.serialize(value, 5)
    assert_same_value(dtype, dtype.deserialize(encoded, 5), value)


@VERSIONS
def test_null_stays_null(version: int) -> None:
    dtype = DataType.list_of(INT)
    assert dtype.serialize(None, version) is None
    assert dtype.deserialize(None, version) is None


@pytest.mark.parametrize("code", [TypeCode.FLOAT, TypeCode.DOUBLE], ids=lambda c: c.name)
def test_nan_and_infinities(code: TypeCode) -> None:
    dtype = DataType(code)
    assert math.isnan(dtype.deserialize(dtype.serialize(math.nan, 4), 4))
    for value in (math.inf, -math.inf, -0.0):
        decoded = dtype.deserialize(dtype.serialize(value, 4), 4)
        assert decoded == value
        assert math.copysign(1, decoded) == math.copysign(1, value)


def test_timestamps_come_back_naive_utc_at_millisecond_precision() -> None:
    dtype = DataType(TypeCode.TIMESTAMP)
    tz = datetime.timezone(datetime.timedelta(hours=2))
    aware = datetime.datetime(2024, 5, 17, 14, 30, 15, 123456, tzinfo=tz)
    decoded = dtype.deserialize(dtype.serialize(aware, 4), 4)
    assert decoded == datetime.datetime(2024, 5, 17, 12, 30, 15, 123000)
    assert decoded.tzinfo is None


def test_dates_and_times_come_back_as_driver_types() -> None:
    date = DataType(TypeCode.DATE).deserialize(
        DataType(TypeCode.DATE).serialize(datetime.date(2024, 2, 29), 4), 4
    )
    assert isinstance(date, cql_util.Date)
    assert date.date() == datetime.date(2024, 2, 29)
    time = DataType(TypeCode.TIME).deserialize(
        DataType(TypeCode.TIME).serialize(datetime.time(23, 59, 59, 999999), 4), 4
    )
    assert isinstance(time, cql_util.Time)
    assert time.nanosecond_time == 86_399_999_999_000


def test_malformed_value_is_a_remote_error() -> None:
    with pytest.raises(RemoteProtocolError, match="int"):
        INT.deserialize(b"\x00\x01", 4)


def test_unserializable_value_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError, match="int"):
        INT.serialize(2**31, 4)


# --- rows ---------------------------------------------------------------------------------


@st.composite
def typed_rows(draw: st.DrawFn, version: int) -> tuple[tuple[DataType, ...], list[tuple[Any, ...]]]:
    """1 to 4 column types and 0 to 4 rows of (nullable) values for them."""
    types = tuple(draw(st.lists(value_types(version, max_depth=1), min_size=1, max_size=4)))
    row = st.tuples(*(values_of(t, nullable=True) for t in types))
    return types, draw(st.lists(row, max_size=4))


def assert_same_rows(
    types: tuple[DataType, ...], decoded: list[tuple[Any, ...]], rows: list[tuple[Any, ...]]
) -> None:
    """Row by row, cell by cell, ``decoded`` holds the values of ``rows``."""
    assert len(decoded) == len(rows)
    for got_row, sent_row in zip(decoded, rows, strict=True):
        assert isinstance(got_row, tuple)
        assert len(got_row) == len(types)
        for dtype, got, sent in zip(types, got_row, sent_row, strict=True):
            assert_same_value(dtype, got, sent)


@VERSIONS
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_rows_roundtrip(version: int, data: st.DataObject) -> None:
    types, rows = data.draw(typed_rows(version), label="rows")
    raw = encode_rows(types, rows, version)
    assert len(raw) == len(rows)
    for raw_row, row in zip(raw, rows, strict=True):
        assert [cell is None for cell in raw_row] == [value is None for value in row]
    assert_same_rows(types, decode_rows(types, raw, version), rows)


@VERSIONS
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_rows_roundtrip_through_a_rows_result(version: int, data: st.DataObject) -> None:
    types, rows = data.draw(typed_rows(version), label="rows")
    columns = tuple(
        ColumnSpec(keyspace="ks", table="t", name=f"c{i}", type=t) for i, t in enumerate(types)
    )
    result = RowsResult(metadata=RowsMetadata.of(columns), rows=encode_rows(types, rows, version))
    decoded = decode_envelope(encode_envelope(Envelope(stream=7, message=result), version), version)
    message = decoded.message
    assert isinstance(message, RowsResult)
    assert message == result
    assert message.metadata.columns is not None
    assert_same_rows(types, decode_rows(message.metadata.columns, message.rows, version), rows)


def test_decode_rows_of_the_wrong_width_is_refused() -> None:
    with pytest.raises(LocalProtocolError, match="row 1"):
        decode_rows([INT, INT], [(None, None), (None,)], 4)


def test_decode_rows_names_the_bad_cell() -> None:
    columns = [ColumnSpec(keyspace="ks", table="t", name="age", type=INT)]
    with pytest.raises(RemoteProtocolError, match="age"):
        decode_rows(columns, [(b"\x00\x00\x00\x01",), (b"\x01",)], 4)
