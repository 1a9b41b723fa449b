"""Hypothesis strategies for the CQL native protocol codec (``cassflow.protocol``).

Every strategy that builds something version-dependent takes the protocol version and only
generates what that version can carry on the wire: the v5-only fields (per-query keyspace,
now_in_seconds, result metadata ids), UNSET values (v4+), warnings and custom payloads (v4+),
the date/time/smallint/tinyint types (v4+) and duration (v5). What a version cannot carry is
tested separately, with examples that must raise :class:`LocalProtocolError`.

The tables at the bottom (:data:`MESSAGE_STRATEGIES`, :data:`ERROR_STRATEGIES`, ...) are keyed
by the protocol's own enums, so the coverage tests fail as soon as an opcode, error code,
result kind or schema change target appears without a strategy here.

The tables in this module are written from the spec, not copied from the codec, so that they
check it rather than echo it.
"""

from __future__ import annotations

import datetime
import decimal
import ipaddress
import keyword
import math
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal, TypeVar

from cassandra import util as cql_util
from hypothesis import strategies as st

from cassflow.protocol import (
    EVENT_STREAM_ID,
    MAX_STREAM_ID,
    UNSET,
    AlreadyExists,
    AuthChallenge,
    Authenticate,
    AuthResponse,
    AuthSuccess,
    BadCredentials,
    Batch,
    BatchStatement,
    BatchType,
    CasWriteUnknown,
    CdcWriteFailure,
    ColumnSpec,
    ConfigError,
    Consistency,
    DataType,
    Envelope,
    ErrorCode,
    ErrorMessage,
    EventType,
    Execute,
    FunctionFailure,
    Invalid,
    InvalidSyntax,
    IsBootstrapping,
    Message,
    Opcode,
    Options,
    Overloaded,
    Prepare,
    PreparedMetadata,
    PreparedResult,
    ProtocolViolation,
    Query,
    QueryParameters,
    RawRow,
    ReadFailure,
    ReadTimeout,
    Ready,
    Register,
    Result,
    ResultKind,
    RowsMetadata,
    RowsResult,
    SchemaChange,
    SchemaChangeEvent,
    SchemaChangeResult,
    SchemaChangeTarget,
    SchemaChangeType,
    ServerError,
    SetKeyspaceResult,
    Startup,
    StatusChangeEvent,
    Supported,
    TopologyChangeEvent,
    TruncateError,
    TypeCode,
    Unauthorized,
    Unavailable,
    Unprepared,
    Value,
    VoidResult,
    WriteFailure,
    WriteTimeout,
    WriteType,
    backwards_compatible_error,
)

T = TypeVar("T")
VersionedStrategy = Callable[[int], "st.SearchStrategy[Any]"]

# --- the spec's notations -----------------------------------------------------------------

#: [short]: unsigned 16 bits.
SHORTS: Final = st.integers(0, 0xFFFF)
#: [int]: signed 32 bits.
INTS: Final = st.integers(-(2**31), 2**31 - 1)
#: [long]: signed 64 bits.
LONGS: Final = st.integers(-(2**63), 2**63 - 1)
#: Small counts and sizes a peer would plausibly send ([int] but not negative).
COUNTS: Final = st.integers(0, 2**31 - 1)
#: Stream ids a request (or the response to one) travels on.
REQUEST_STREAMS: Final = st.integers(0, MAX_STREAM_ID)
#: Consistency levels.
CONSISTENCIES: Final = st.sampled_from(Consistency)


def texts(max_size: int = 12) -> st.SearchStrategy[str]:
    """UTF-8 encodable text (no lone surrogates), short enough to keep examples fast."""
    return st.text(st.characters(codec="utf-8"), max_size=max_size)


def short_bytes(max_size: int = 16) -> st.SearchStrategy[bytes]:
    """Bytes for ids and tokens."""
    return st.binary(max_size=max_size)


def optional(strategy: st.SearchStrategy[T]) -> st.SearchStrategy[T | None]:
    """``strategy`` or None."""
    return st.none() | strategy


def ip_address_strings(version: Literal[4, 6] | None = None) -> st.SearchStrategy[str]:
    """IP addresses in the canonical text form ``ipaddress`` gives them (as [inetaddr] decodes).

    ``version`` (4 or 6) restricts the address family; None mixes both.
    """
    if version is None:
        return st.ip_addresses().map(str)
    return st.ip_addresses(v=version).map(str)


def inets() -> st.SearchStrategy[tuple[str, int]]:
    """[inet]: an address and an [int] port."""
    return st.tuples(ip_address_strings(), st.integers(0, 65535) | INTS)


def bound_values(version: int) -> st.SearchStrategy[Value]:
    """One [value]: serialized bytes, null, or (v4+) UNSET."""
    base: st.SearchStrategy[Value] = st.none() | st.binary(max_size=12)
    if version >= 4:
        return base | st.just(UNSET)
    return base


def custom_payloads(version: int) -> st.SearchStrategy[Mapping[str, bytes | None] | None]:
    """The [bytes map] custom payload of an envelope: v4+ only, absent before."""
    if version < 4:
        return st.none()
    return optional(st.dictionaries(texts(), optional(st.binary(max_size=12)), max_size=3))


# --- column types -------------------------------------------------------------------------

#: The native (parameterless, non-custom) type codes, and the version each appeared in.
NATIVE_TYPE_INTRODUCED_IN: Final[Mapping[TypeCode, int]] = {
    TypeCode.ASCII: 3,
    TypeCode.BIGINT: 3,
    TypeCode.BLOB: 3,
    TypeCode.BOOLEAN: 3,
    TypeCode.COUNTER: 3,
    TypeCode.DECIMAL: 3,
    TypeCode.DOUBLE: 3,
    TypeCode.FLOAT: 3,
    TypeCode.INT: 3,
    TypeCode.TIMESTAMP: 3,
    TypeCode.UUID: 3,
    TypeCode.VARCHAR: 3,
    TypeCode.VARINT: 3,
    TypeCode.TIMEUUID: 3,
    TypeCode.INET: 3,
    TypeCode.DATE: 4,
    TypeCode.TIME: 4,
    TypeCode.SMALLINT: 4,
    TypeCode.TINYINT: 4,
    TypeCode.DURATION: 5,
}

#: Type codes that take parameters or a class name.
COMPOSITE_TYPE_CODES: Final = frozenset(
    {TypeCode.CUSTOM, TypeCode.LIST, TypeCode.SET, TypeCode.MAP, TypeCode.TUPLE, TypeCode.UDT}
)


def native_type_codes(version: int) -> list[TypeCode]:
    """The native type codes ``version`` can carry."""
    return [code for code, since in NATIVE_TYPE_INTRODUCED_IN.items() if since <= version]


def custom_class_names() -> st.SearchStrategy[str]:
    """Non-empty Java class names for custom types (real ones and arbitrary text)."""
    return st.sampled_from(
        [
            "org.apache.cassandra.db.marshal.DynamicCompositeType",
            "org.apache.cassandra.db.marshal.VectorType(org.apache.cassandra.db.marshal.FloatType,3)",
            "com.example.MyType",
        ]
    ) | texts().filter(bool)


def data_types(version: int, max_depth: int = 3) -> st.SearchStrategy[DataType]:
    """Any column type ``version`` can describe, collections nested at most ``max_depth`` deep.

    Covers every :class:`TypeCode`: the native types of the version, custom types, and
    list/set/map/tuple/UDT (tuples and UDTs with 0 to 3 components).
    """
    leaves = st.sampled_from(native_type_codes(version)).map(DataType) | custom_class_names().map(
        DataType.custom
    )
    if max_depth <= 0:
        return leaves
    inner = data_types(version, max_depth - 1)
    composites = st.one_of(
        inner.map(DataType.list_of),
        inner.map(DataType.set_of),
        st.builds(DataType.map_of, inner, inner),
        st.lists(inner, max_size=3).map(lambda ps: DataType.tuple_of(*ps)),
        st.builds(
            DataType.udt,
            texts(),
            texts(),
            st.dictionaries(texts(), inner, max_size=3),
        ),
    )
    return st.one_of(leaves, composites)


# --- values for column types ---------------------------------------------------------------

#: Native types whose Python values are hashable, so they can be set elements and map keys.
#: (The driver's Duration defines __eq__ without __hash__; Cassandra forbids it there anyway.)
KEY_TYPE_CODES: Final = frozenset(NATIVE_TYPE_INTRODUCED_IN) - {TypeCode.DURATION}

_EPOCH: Final = datetime.datetime(1970, 1, 1)
_NANOS_PER_DAY: Final = 86_400 * 10**9


def identifiers() -> st.SearchStrategy[str]:
    """CQL/Python identifiers, so the driver can build named tuples for UDT values."""
    return st.from_regex(r"[a-z][a-z0-9_]{0,7}", fullmatch=True).filter(
        lambda s: not keyword.iskeyword(s)
    )


def _timestamps(*, exact: bool = False) -> st.SearchStrategy[datetime.datetime]:
    """Datetimes at millisecond precision, naive (meaning UTC) or with a fixed UTC offset.

    The driver decodes a timestamp through a float number of seconds, which is exact to the
    microsecond only within about 136 years of 1970; further out the decoded datetime can be a
    microsecond or two off (still the same millisecond). ``exact`` keeps to 1900-2100, for
    where that matters: the driver's maps re-serialize their decoded keys to look them up.
    """
    low, high = (1900, 2100) if exact else (1000, 9000)
    naive = st.datetimes(
        min_value=datetime.datetime(low, 1, 2), max_value=datetime.datetime(high, 12, 30)
    ).map(lambda dt: dt.replace(microsecond=dt.microsecond // 1000 * 1000))
    offsets = st.integers(-14 * 60, 14 * 60).map(
        lambda minutes: datetime.timezone(datetime.timedelta(minutes=minutes))
    )
    aware = st.builds(lambda dt, tz: dt.replace(tzinfo=tz), naive, offsets)
    return naive | aware


def _scale_fits_int(value: decimal.Decimal) -> bool:
    """Whether a decimal's scale fits the [int] the wire gives it."""
    exponent = value.as_tuple().exponent
    return isinstance(exponent, int) and -(2**31) < exponent <= 2**31 - 1


def native_values(
    code: TypeCode, *, allow_nan: bool = True, in_collection: bool = False
) -> st.SearchStrategy[Any]:
    """Python values the driver can serialize as a ``code`` cell (never None).

    ``in_collection`` narrows what the driver's collections cannot take back exactly.
    """
    if code is TypeCode.ASCII:
        return st.text(st.characters(max_codepoint=127), max_size=12)
    if code in (TypeCode.BIGINT, TypeCode.COUNTER):
        return LONGS
    if code is TypeCode.BLOB:
        return st.binary(max_size=12)
    if code is TypeCode.BOOLEAN:
        return st.booleans()
    if code is TypeCode.DECIMAL:
        return st.decimals(allow_nan=False, allow_infinity=False).filter(_scale_fits_int)
    if code is TypeCode.DOUBLE:
        return st.floats(allow_nan=allow_nan)
    if code is TypeCode.FLOAT:
        return st.floats(width=32, allow_nan=allow_nan)
    if code is TypeCode.INT:
        return INTS
    if code is TypeCode.TIMESTAMP:
        return _timestamps(exact=in_collection)
    if code is TypeCode.UUID:
        return st.uuids()
    if code is TypeCode.VARCHAR:
        return texts()
    if code is TypeCode.VARINT:
        return st.integers(-(2**130), 2**130)
    if code is TypeCode.TIMEUUID:
        return st.uuids(version=1)
    if code is TypeCode.INET:
        return ip_address_strings()
    if code is TypeCode.DATE:
        return st.dates() | st.integers(-(2**31), 2**31 - 1).map(cql_util.Date)
    if code is TypeCode.TIME:
        return st.times() | st.integers(0, _NANOS_PER_DAY - 1).map(cql_util.Time)
    if code is TypeCode.SMALLINT:
        return st.integers(-(2**15), 2**15 - 1)
    if code is TypeCode.TINYINT:
        return st.integers(-(2**7), 2**7 - 1)
    if code is TypeCode.DURATION:
        return st.builds(cql_util.Duration, INTS, INTS, LONGS)
    raise AssertionError(f"no value strategy for {code!r}")


def _key_types(version: int) -> st.SearchStrategy[DataType]:
    return st.sampled_from(sorted(set(native_type_codes(version)) & KEY_TYPE_CODES)).map(DataType)


def value_types(version: int, max_depth: int = 2) -> st.SearchStrategy[DataType]:
    """Column types whose values the driver can round-trip, nested at most ``max_depth`` deep.

    Like :func:`data_types`, but set elements and map keys are hashable native types, tuples
    and UDTs have at least one component, UDT and field names are Python identifiers, and
    custom types are unknown classes (whose values the driver passes through as bytes).
    """
    leaves = st.sampled_from(native_type_codes(version)).map(DataType) | st.just(
        DataType.custom("com.example.Opaque")
    )
    if max_depth <= 0:
        return leaves
    inner = value_types(version, max_depth - 1)
    keys = _key_types(version)
    composites = st.one_of(
        inner.map(DataType.list_of),
        keys.map(DataType.set_of),
        st.builds(DataType.map_of, keys, inner),
        st.lists(inner, min_size=1, max_size=3).map(lambda ps: DataType.tuple_of(*ps)),
        st.builds(
            DataType.udt,
            identifiers(),
            identifiers(),
            st.dictionaries(identifiers(), inner, min_size=1, max_size=3),
        ),
    )
    return st.one_of(leaves, composites)


def values_of(dtype: DataType, *, nullable: bool = False) -> st.SearchStrategy[Any]:
    """Python values of column type ``dtype``; None too when ``nullable``.

    Collection elements are never None (the driver writes a None element as an empty cell,
    which does not come back as None) and never NaN (NaN breaks set and map semantics).
    Tuple components and UDT fields may be None.
    """
    code = dtype.code
    strategy: st.SearchStrategy[Any]
    if code in NATIVE_TYPE_INTRODUCED_IN:
        strategy = native_values(code)
    elif code is TypeCode.CUSTOM:
        # An unrecognized custom type is opaque bytes; an empty cell reads back as null.
        strategy = st.binary(min_size=1, max_size=12)
    elif code is TypeCode.LIST:
        strategy = st.lists(_element_values(dtype.params[0]), max_size=3)
    elif code is TypeCode.SET:
        # Unique by what goes on the wire: 12:00 naive and 12:00+00:00 are different Python
        # values but the same timestamp, and would come back as one element.
        element_type = dtype.params[0]
        strategy = st.lists(
            _element_values(element_type),
            max_size=3,
            unique_by=lambda v: normalize_value(element_type, v),
        ).map(set)
    elif code is TypeCode.MAP:
        key_type, value_type = dtype.params
        strategy = st.lists(
            st.tuples(_element_values(key_type), _element_values(value_type)),
            max_size=3,
            unique_by=lambda kv: normalize_value(key_type, kv[0]),
        ).map(dict)
    elif code in (TypeCode.TUPLE, TypeCode.UDT):
        strategy = st.tuples(*(values_of(p, nullable=True) for p in dtype.params))
    else:
        raise AssertionError(f"no value strategy for {dtype!r}")
    return optional(strategy) if nullable else strategy


def _element_values(dtype: DataType) -> st.SearchStrategy[Any]:
    if dtype.code in NATIVE_TYPE_INTRODUCED_IN:
        return native_values(dtype.code, allow_nan=False, in_collection=True)
    return values_of(dtype)


@st.composite
def typed_values(draw: st.DrawFn, version: int, max_depth: int = 2) -> tuple[DataType, Any]:
    """A column type of ``version`` and a (non-null) value of it."""
    dtype = draw(value_types(version, max_depth))
    return dtype, draw(values_of(dtype))


def normalize_value(dtype: DataType, value: Any) -> Any:
    """A canonical, comparable form of a value of ``dtype``, for original and decoded alike.

    Timestamps become milliseconds since the epoch (the wire's precision; the driver hands
    back naive UTC datetimes computed through a float, so they may be off by a microsecond),
    dates days since the epoch, times nanoseconds since midnight, durations their three
    fields, inet addresses ``ipaddress`` objects, NaN a marker, sets frozensets, maps their
    items in order, tuples and UDTs plain tuples.
    """
    if value is None:
        return None
    code = dtype.code
    if code in (TypeCode.FLOAT, TypeCode.DOUBLE):
        return "NaN" if math.isnan(value) else value
    if code is TypeCode.TIMESTAMP:
        if value.tzinfo is not None:
            value = value.astimezone(datetime.UTC).replace(tzinfo=None)
        return round((value - _EPOCH) / datetime.timedelta(milliseconds=1))
    if code is TypeCode.DATE:
        if isinstance(value, cql_util.Date):
            return value.days_from_epoch
        return cql_util.Date(value).days_from_epoch
    if code is TypeCode.TIME:
        if isinstance(value, cql_util.Time):
            return value.nanosecond_time
        return cql_util.Time(value).nanosecond_time
    if code is TypeCode.DURATION:
        return ("duration", value.months, value.days, value.nanoseconds)
    if code is TypeCode.INET:
        return ipaddress.ip_address(value)
    if code is TypeCode.DECIMAL:
        return decimal.Decimal(value)
    if code is TypeCode.LIST:
        return [normalize_value(dtype.params[0], v) for v in value]
    if code is TypeCode.SET:
        return frozenset(normalize_value(dtype.params[0], v) for v in value)
    if code is TypeCode.MAP:
        key_type, value_type = dtype.params
        return [
            (normalize_value(key_type, k), normalize_value(value_type, v)) for k, v in value.items()
        ]
    if code in (TypeCode.TUPLE, TypeCode.UDT):
        return tuple(normalize_value(p, v) for p, v in zip(dtype.params, value, strict=True))
    return value


# --- result metadata ----------------------------------------------------------------------


def column_spec(version: int) -> st.SearchStrategy[ColumnSpec]:
    """One column spec: keyspace, table, name and a type of ``version``."""
    return st.builds(
        ColumnSpec,
        keyspace=texts(),
        table=texts(),
        name=texts(),
        type=data_types(version, max_depth=2),
    )


@st.composite
def column_specs(draw: st.DrawFn, version: int, count: int) -> tuple[ColumnSpec, ...]:
    """``count`` column specs; often all of one table, so the global table spec gets used."""
    tables = draw(st.lists(st.tuples(texts(), texts()), min_size=1, max_size=2))
    return tuple(
        ColumnSpec(
            keyspace=keyspace,
            table=table,
            name=draw(texts()),
            type=draw(data_types(version, max_depth=2)),
        )
        for keyspace, table in (draw(st.sampled_from(tables)) for _ in range(count))
    )


@st.composite
def rows_metadata(
    draw: st.DrawFn, version: int, *, allow_paging_state: bool = True
) -> RowsMetadata:
    """<metadata> of a Rows result: with or without column specs, maybe a paging state, and
    (v5 only, with column specs only) a new result metadata id."""
    count = draw(st.integers(0, 4))
    paging_state = draw(optional(short_bytes())) if allow_paging_state else None
    if draw(st.booleans()):
        return RowsMetadata(column_count=count, paging_state=paging_state)
    new_id = draw(optional(short_bytes())) if version >= 5 else None
    return RowsMetadata(
        column_count=count,
        columns=draw(column_specs(version, count)),
        paging_state=paging_state,
        new_metadata_id=new_id,
    )


# --- requests -----------------------------------------------------------------------------


@st.composite
def query_parameters(draw: st.DrawFn, version: int) -> QueryParameters:
    """<query_parameters>: named or positional values (UNSET from v4 on), paging, serial
    consistency, default timestamp, and (v5 only) keyspace and now_in_seconds."""
    values = tuple(draw(st.lists(bound_values(version), max_size=4)))
    names = tuple(draw(texts()) for _ in values) if draw(st.booleans()) else None
    return QueryParameters(
        consistency=draw(CONSISTENCIES),
        values=values,
        names=names,
        skip_metadata=draw(st.booleans()),
        page_size=draw(optional(INTS)),
        paging_state=draw(optional(short_bytes())),
        serial_consistency=draw(optional(CONSISTENCIES)),
        timestamp=draw(optional(LONGS)),
        keyspace=draw(optional(texts())) if version >= 5 else None,
        now_in_seconds=draw(optional(INTS)) if version >= 5 else None,
    )


def startups(_version: int) -> st.SearchStrategy[Startup]:
    """STARTUP with a [string map] of options."""
    options = st.dictionaries(
        st.sampled_from(["CQL_VERSION", "COMPRESSION", "DRIVER_NAME", "THROW_ON_OVERLOAD"])
        | texts(),
        texts(),
        max_size=4,
    )
    return st.builds(Startup, options=options)


def auth_responses(_version: int) -> st.SearchStrategy[AuthResponse]:
    """AUTH_RESPONSE with a token or a null token."""
    return st.builds(AuthResponse, token=optional(short_bytes(32)))


def options_requests(_version: int) -> st.SearchStrategy[Options]:
    """OPTIONS (no body)."""
    return st.just(Options())


def queries(version: int) -> st.SearchStrategy[Query]:
    """QUERY."""
    return st.builds(Query, query=texts(40), parameters=query_parameters(version))


def prepares(version: int) -> st.SearchStrategy[Prepare]:
    """PREPARE, with a keyspace only from v5 on."""
    keyspace = optional(texts()) if version >= 5 else st.none()
    return st.builds(Prepare, query=texts(40), keyspace=keyspace)


def executes(version: int) -> st.SearchStrategy[Execute]:
    """EXECUTE: the result metadata id is required in v5 and absent before."""
    metadata_id = short_bytes() if version >= 5 else st.none()
    return st.builds(
        Execute,
        query_id=short_bytes(),
        result_metadata_id=metadata_id,
        parameters=query_parameters(version),
    )


@st.composite
def batches(draw: st.DrawFn, version: int) -> Batch:
    """BATCH of prepared ids and query strings; either every statement names its values or
    none does; keyspace and now_in_seconds only from v5 on."""
    named = draw(st.booleans())
    statements = []
    for _ in range(draw(st.integers(0, 4))):
        values = tuple(draw(st.lists(bound_values(version), max_size=3)))
        statements.append(
            BatchStatement(
                statement=draw(texts(30) | short_bytes()),
                values=values,
                names=tuple(draw(texts()) for _ in values) if named else None,
            )
        )
    return Batch(
        batch_type=draw(st.sampled_from(BatchType)),
        statements=tuple(statements),
        consistency=draw(CONSISTENCIES),
        serial_consistency=draw(optional(CONSISTENCIES)),
        timestamp=draw(optional(LONGS)),
        keyspace=draw(optional(texts())) if version >= 5 else None,
        now_in_seconds=draw(optional(INTS)) if version >= 5 else None,
    )


def registers(_version: int) -> st.SearchStrategy[Register]:
    """REGISTER for some event types."""
    return st.builds(
        Register, event_types=st.lists(st.sampled_from(EventType), max_size=3).map(tuple)
    )


# --- responses other than errors ----------------------------------------------------------


def readies(_version: int) -> st.SearchStrategy[Ready]:
    """READY (no body)."""
    return st.just(Ready())


def authenticates(_version: int) -> st.SearchStrategy[Authenticate]:
    """AUTHENTICATE naming an authenticator class."""
    return st.builds(
        Authenticate,
        authenticator=st.just("org.apache.cassandra.auth.PasswordAuthenticator") | texts(),
    )


def supporteds(_version: int) -> st.SearchStrategy[Supported]:
    """SUPPORTED with a [string multimap]."""
    return st.builds(
        Supported,
        options=st.dictionaries(texts(), st.lists(texts(), max_size=3).map(tuple), max_size=4),
    )


def auth_challenges(_version: int) -> st.SearchStrategy[AuthChallenge]:
    """AUTH_CHALLENGE."""
    return st.builds(AuthChallenge, token=optional(short_bytes(32)))


def auth_successes(_version: int) -> st.SearchStrategy[AuthSuccess]:
    """AUTH_SUCCESS."""
    return st.builds(AuthSuccess, token=optional(short_bytes(32)))


def void_results(_version: int) -> st.SearchStrategy[VoidResult]:
    """RESULT Void."""
    return st.just(VoidResult())


@st.composite
def rows_results(draw: st.DrawFn, version: int) -> RowsResult:
    """RESULT Rows whose rows are exactly ``column_count`` cells wide.

    A result with no columns carries no rows (the decoder refuses zero-width rows: a
    hostile row count would cost nothing to send).
    """
    metadata = draw(rows_metadata(version))
    width = metadata.column_count
    max_rows = 4 if width else 0
    cell: st.SearchStrategy[bytes | None] = optional(st.binary(max_size=8))
    rows: list[RawRow] = draw(
        st.lists(st.tuples(*[cell] * width), max_size=max_rows),
    )
    return RowsResult(metadata=metadata, rows=tuple(rows))


def set_keyspace_results(_version: int) -> st.SearchStrategy[SetKeyspaceResult]:
    """RESULT Set_keyspace."""
    return st.builds(SetKeyspaceResult, keyspace=texts())


@st.composite
def prepared_results(draw: st.DrawFn, version: int) -> PreparedResult:
    """RESULT Prepared: partition key indexes only from v4 on, a result metadata id only in
    v5 (where it is required)."""
    count = draw(st.integers(0, 4))
    columns = draw(column_specs(version, count))
    pk_indexes: tuple[int, ...] = ()
    if version >= 4:
        pk_indexes = tuple(draw(st.lists(SHORTS, max_size=3)))
    return PreparedResult(
        query_id=draw(short_bytes()),
        result_metadata_id=draw(short_bytes()) if version >= 5 else None,
        metadata=PreparedMetadata(columns=columns, partition_key_indexes=pk_indexes),
        result_metadata=draw(rows_metadata(version, allow_paging_state=False)),
    )


def schema_changes(
    target: SchemaChangeTarget | None = None,
) -> st.SearchStrategy[SchemaChange]:
    """A schema change, of ``target`` or of any target, with the fields the target wants."""
    targets = st.sampled_from(SchemaChangeTarget) if target is None else st.just(target)

    @st.composite
    def build(draw: st.DrawFn) -> SchemaChange:
        chosen = draw(targets)
        has_name = chosen is not SchemaChangeTarget.KEYSPACE
        has_args = chosen in (SchemaChangeTarget.FUNCTION, SchemaChangeTarget.AGGREGATE)
        return SchemaChange(
            change_type=draw(st.sampled_from(SchemaChangeType)),
            target=chosen,
            keyspace=draw(texts()),
            name=draw(texts()) if has_name else None,
            argument_types=tuple(draw(st.lists(texts(), max_size=3))) if has_args else None,
        )

    return build()


def schema_change_results(
    _version: int, target: SchemaChangeTarget | None = None
) -> st.SearchStrategy[SchemaChangeResult]:
    """RESULT Schema_change."""
    return st.builds(SchemaChangeResult, change=schema_changes(target))


def schema_change_events(
    _version: int, target: SchemaChangeTarget | None = None
) -> st.SearchStrategy[SchemaChangeEvent]:
    """EVENT SCHEMA_CHANGE."""
    return st.builds(SchemaChangeEvent, change=schema_changes(target))


def topology_change_events(_version: int) -> st.SearchStrategy[TopologyChangeEvent]:
    """EVENT TOPOLOGY_CHANGE."""
    return st.builds(
        TopologyChangeEvent,
        change=st.sampled_from(["NEW_NODE", "REMOVED_NODE", "MOVED_NODE"]) | texts(),
        address=inets(),
    )


def status_change_events(_version: int) -> st.SearchStrategy[StatusChangeEvent]:
    """EVENT STATUS_CHANGE."""
    return st.builds(
        StatusChangeEvent, change=st.sampled_from(["UP", "DOWN"]) | texts(), address=inets()
    )


# --- errors -------------------------------------------------------------------------------

#: Error codes each version knows; a client of an older version is sent something else (see
#: ``backwards_compatible_error``). Failures arrived with v4, CAS_WRITE_UNKNOWN with v5.
ERROR_CODE_INTRODUCED_IN: Final[Mapping[ErrorCode, int]] = {
    ErrorCode.READ_FAILURE: 4,
    ErrorCode.WRITE_FAILURE: 4,
    ErrorCode.FUNCTION_FAILURE: 4,
    ErrorCode.CDC_WRITE_FAILURE: 4,
    ErrorCode.CAS_WRITE_UNKNOWN: 5,
}


def error_code_is_native(code: ErrorCode, version: int) -> bool:
    """Whether ``version`` carries ``code`` as itself rather than as an older error."""
    return version >= ERROR_CODE_INTRODUCED_IN.get(code, 3)


def _messages() -> st.SearchStrategy[str]:
    return texts(30)


def _plain_error(cls: type[ErrorMessage]) -> VersionedStrategy:
    def strategy(_version: int) -> st.SearchStrategy[ErrorMessage]:
        return st.builds(cls, message=_messages())

    return strategy


def unavailables(_version: int) -> st.SearchStrategy[Unavailable]:
    """Unavailable."""
    return st.builds(
        Unavailable, message=_messages(), consistency=CONSISTENCIES, required=INTS, alive=INTS
    )


@st.composite
def write_timeouts(draw: st.DrawFn, version: int) -> WriteTimeout:
    """WriteTimeout: contentions only in v5 and only for CAS writes (where v5 requires it)."""
    write_type = draw(st.sampled_from(WriteType) | texts())
    contentions = draw(SHORTS) if version >= 5 and write_type == WriteType.CAS else None
    return WriteTimeout(
        message=draw(_messages()),
        consistency=draw(CONSISTENCIES),
        received=draw(INTS),
        block_for=draw(INTS),
        write_type=write_type,
        contentions=contentions,
    )


def read_timeouts(_version: int) -> st.SearchStrategy[ReadTimeout]:
    """ReadTimeout."""
    return st.builds(
        ReadTimeout,
        message=_messages(),
        consistency=CONSISTENCIES,
        received=INTS,
        block_for=INTS,
        data_present=st.booleans(),
    )


@st.composite
def _failure_fields(draw: st.DrawFn, version: int) -> dict[str, Any]:
    """The fields ReadFailure and WriteFailure share.

    v5 sends a reason map (node address -> failure code) whose size is the failure count;
    v3 and v4 send only the count, so the map is empty there.
    """
    if version >= 5:
        reason_map = draw(st.dictionaries(ip_address_strings(), SHORTS, max_size=4))
        num_failures = len(reason_map)
    else:
        reason_map = {}
        num_failures = draw(COUNTS)
    return {
        "message": draw(_messages()),
        "consistency": draw(CONSISTENCIES),
        "received": draw(INTS),
        "block_for": draw(INTS),
        "num_failures": num_failures,
        "reason_map": reason_map,
    }


@st.composite
def read_failures(draw: st.DrawFn, version: int) -> ReadFailure:
    """ReadFailure."""
    return ReadFailure(**draw(_failure_fields(version)), data_present=draw(st.booleans()))


@st.composite
def write_failures(draw: st.DrawFn, version: int) -> WriteFailure:
    """WriteFailure."""
    write_type = draw(st.sampled_from(WriteType) | texts())
    return WriteFailure(**draw(_failure_fields(version)), write_type=write_type)


def function_failures(_version: int) -> st.SearchStrategy[FunctionFailure]:
    """FunctionFailure."""
    return st.builds(
        FunctionFailure,
        message=_messages(),
        keyspace=texts(),
        function=texts(),
        arg_types=st.lists(texts(), max_size=3).map(tuple),
    )


def cas_write_unknowns(_version: int) -> st.SearchStrategy[CasWriteUnknown]:
    """CasWriteUnknown."""
    return st.builds(
        CasWriteUnknown,
        message=_messages(),
        consistency=CONSISTENCIES,
        received=INTS,
        block_for=INTS,
    )


def already_exists(_version: int) -> st.SearchStrategy[AlreadyExists]:
    """AlreadyExists (an empty table names a keyspace)."""
    return st.builds(AlreadyExists, message=_messages(), keyspace=texts(), table=texts())


def unprepareds(_version: int) -> st.SearchStrategy[Unprepared]:
    """Unprepared."""
    return st.builds(Unprepared, message=_messages(), query_id=short_bytes())


#: A strategy per error code, each taking the protocol version. Keyed by :class:`ErrorCode`
#: so a code added to the protocol without a strategy here fails the coverage test.
ERROR_STRATEGIES: Final[Mapping[ErrorCode, VersionedStrategy]] = {
    ErrorCode.SERVER_ERROR: _plain_error(ServerError),
    ErrorCode.PROTOCOL_ERROR: _plain_error(ProtocolViolation),
    ErrorCode.BAD_CREDENTIALS: _plain_error(BadCredentials),
    ErrorCode.UNAVAILABLE: unavailables,
    ErrorCode.OVERLOADED: _plain_error(Overloaded),
    ErrorCode.IS_BOOTSTRAPPING: _plain_error(IsBootstrapping),
    ErrorCode.TRUNCATE_ERROR: _plain_error(TruncateError),
    ErrorCode.WRITE_TIMEOUT: write_timeouts,
    ErrorCode.READ_TIMEOUT: read_timeouts,
    ErrorCode.READ_FAILURE: read_failures,
    ErrorCode.FUNCTION_FAILURE: function_failures,
    ErrorCode.WRITE_FAILURE: write_failures,
    ErrorCode.CDC_WRITE_FAILURE: _plain_error(CdcWriteFailure),
    ErrorCode.CAS_WRITE_UNKNOWN: cas_write_unknowns,
    ErrorCode.SYNTAX_ERROR: _plain_error(InvalidSyntax),
    ErrorCode.UNAUTHORIZED: _plain_error(Unauthorized),
    ErrorCode.INVALID: _plain_error(Invalid),
    ErrorCode.CONFIG_ERROR: _plain_error(ConfigError),
    ErrorCode.ALREADY_EXISTS: already_exists,
    ErrorCode.UNPREPARED: unprepareds,
}


def error_messages(version: int, *, native_only: bool = False) -> st.SearchStrategy[ErrorMessage]:
    """An ERROR of any code, with fields valid for ``version``.

    With ``native_only``, only codes ``version`` carries as themselves; otherwise also codes
    the encoder downgrades (compare the decoded message with ``backwards_compatible_error``).
    """
    return st.one_of(
        [
            strategy(version)
            for code, strategy in ERROR_STRATEGIES.items()
            if not native_only or error_code_is_native(code, version)
        ]
    )


def expected_after_roundtrip(message: Message, version: int) -> Message:
    """What decoding the encoding of ``message`` in ``version`` must give back.

    Every message comes back unchanged, except errors a version does not know, which come
    back as the error Cassandra sends such a client instead.
    """
    if isinstance(message, ErrorMessage):
        return backwards_compatible_error(message, version)
    return message


# --- per-opcode and per-kind tables -------------------------------------------------------

#: A strategy per RESULT kind.
RESULT_STRATEGIES: Final[Mapping[ResultKind, VersionedStrategy]] = {
    ResultKind.VOID: void_results,
    ResultKind.ROWS: rows_results,
    ResultKind.SET_KEYSPACE: set_keyspace_results,
    ResultKind.PREPARED: prepared_results,
    ResultKind.SCHEMA_CHANGE: schema_change_results,
}

#: A strategy per EVENT type.
EVENT_STRATEGIES: Final[Mapping[EventType, VersionedStrategy]] = {
    EventType.TOPOLOGY_CHANGE: topology_change_events,
    EventType.STATUS_CHANGE: status_change_events,
    EventType.SCHEMA_CHANGE: schema_change_events,
}


def results(version: int) -> st.SearchStrategy[Result]:
    """A RESULT of any kind."""
    return st.one_of([strategy(version) for strategy in RESULT_STRATEGIES.values()])


def events(version: int) -> st.SearchStrategy[Message]:
    """An EVENT of any type."""
    return st.one_of([strategy(version) for strategy in EVENT_STRATEGIES.values()])


#: A strategy per opcode, each taking the protocol version and generating every message kind
#: that opcode carries. Keyed by :class:`Opcode` so a new opcode fails the coverage test.
MESSAGE_STRATEGIES: Final[Mapping[Opcode, VersionedStrategy]] = {
    Opcode.ERROR: error_messages,
    Opcode.STARTUP: startups,
    Opcode.READY: readies,
    Opcode.AUTHENTICATE: authenticates,
    Opcode.OPTIONS: options_requests,
    Opcode.SUPPORTED: supporteds,
    Opcode.QUERY: queries,
    Opcode.RESULT: results,
    Opcode.PREPARE: prepares,
    Opcode.EXECUTE: executes,
    Opcode.REGISTER: registers,
    Opcode.EVENT: events,
    Opcode.BATCH: batches,
    Opcode.AUTH_CHALLENGE: auth_challenges,
    Opcode.AUTH_RESPONSE: auth_responses,
    Opcode.AUTH_SUCCESS: auth_successes,
}

#: Opcodes a client sends; the others a server sends.
REQUEST_OPCODES: Final = frozenset(
    {
        Opcode.STARTUP,
        Opcode.AUTH_RESPONSE,
        Opcode.OPTIONS,
        Opcode.QUERY,
        Opcode.PREPARE,
        Opcode.EXECUTE,
        Opcode.BATCH,
        Opcode.REGISTER,
    }
)


def request_messages(version: int) -> st.SearchStrategy[Message]:
    """Any request message of ``version``."""
    return st.one_of([MESSAGE_STRATEGIES[op](version) for op in sorted(REQUEST_OPCODES)])


def response_messages(version: int) -> st.SearchStrategy[Message]:
    """Any response message of ``version`` (errors included, downgraded ones too)."""
    return st.one_of(
        [MESSAGE_STRATEGIES[op](version) for op in sorted(set(Opcode) - REQUEST_OPCODES)]
    )


# --- envelopes ----------------------------------------------------------------------------


@st.composite
def request_envelopes(
    draw: st.DrawFn, version: int, messages: st.SearchStrategy[Message] | None = None
) -> Envelope:
    """A request in its envelope: a stream id, maybe the tracing flag (a request carries no
    tracing id), a custom payload from v4 on, the beta flag in v5."""
    message = draw(request_messages(version) if messages is None else messages)
    return Envelope(
        stream=draw(REQUEST_STREAMS),
        message=message,
        tracing=draw(st.booleans()),
        custom_payload=draw(custom_payloads(version)),
        use_beta=draw(st.booleans()) if version >= 5 else False,
    )


@st.composite
def response_envelopes(
    draw: st.DrawFn, version: int, messages: st.SearchStrategy[Message] | None = None
) -> Envelope:
    """A response in its envelope: events on stream -1, the others on a request's stream;
    a tracing id (and so the tracing flag) maybe; warnings and a custom payload from v4 on."""
    message = draw(response_messages(version) if messages is None else messages)
    stream = EVENT_STREAM_ID if message.opcode is Opcode.EVENT else draw(REQUEST_STREAMS)
    tracing_id = draw(optional(st.uuids()))
    warnings: tuple[str, ...] = ()
    if version >= 4:
        warnings = tuple(draw(st.lists(texts(20), max_size=3)))
    return Envelope(
        stream=stream,
        message=message,
        tracing=tracing_id is not None,
        tracing_id=tracing_id,
        warnings=warnings,
        custom_payload=draw(custom_payloads(version)),
        use_beta=draw(st.booleans()) if version >= 5 else False,
    )


def envelopes(version: int, opcode: Opcode) -> st.SearchStrategy[Envelope]:
    """An envelope carrying a message of ``opcode``."""
    messages = MESSAGE_STRATEGIES[opcode](version)
    if opcode in REQUEST_OPCODES:
        return request_envelopes(version, messages)
    return response_envelopes(version, messages)
