"""Column types between SQL and CQL: what a SQL column reads as, what a CQL field is stored as.

Reading (:func:`cql_type_of`): each SQLAlchemy type maps to the ``cassandra.cqltypes`` class
whose Python values the column's values are, after :func:`cassflow.copy._sql_values.reader`
adjusts the few that the driver returns differently (JSON documents become their text,
addresses ``str``, intervals :class:`~cassandra.util.Duration`). Types cassflow does not know
(PostgreSQL ``money``, geometry, ranges...) read as ``text``, each value ``str()``-ed. SQLite
columns without a declared type stay untyped (``None``): SQLite has no type to report, and
the sink converts each value to its own column's type.

Writing (:func:`sql_type_for`): the column type a created table gets for a CQL field, in the
dialect at hand: PostgreSQL has ``UUID``, ``INET`` and ``JSONB``; other databases store UUIDs
as ``CHAR(36)``, addresses as ``VARCHAR(45)`` and collections, tuples and UDTs as JSON.
"""

from __future__ import annotations

import re
from typing import Any

from cassandra import cqltypes

from cassflow.copy._sqlalchemy import TypeEngine, postgresql, sa, sa_exc, sqltypes

#: Longest text of an IPv6 address with an IPv4 tail.
_INET_TEXT = 45
#: Longest canonical duration text (``-178956970y8mo2147483647d2562047h47m16s854ms775us808ns``).
_DURATION_TEXT = 64
#: Float columns with at most this many bits of mantissa are single precision (SQL standard).
_SINGLE_PRECISION = 24

_INTERVALS = (sa.Interval, postgresql.INTERVAL)
_NETWORK = (postgresql.INET,)


def is_integer(sql_type: TypeEngine[Any]) -> bool:
    """Whether key ranges can be cut over a column of this type."""
    return isinstance(sql_type, sa.Integer)


def cql_type_of(sql_type: TypeEngine[Any], dialect: str) -> Any:
    """The CQL type a column of ``sql_type`` reads as; ``None`` for an untyped SQLite column."""
    if isinstance(sql_type, sa.ARRAY):
        item = cql_type_of(sql_type.item_type, dialect) or cqltypes.UTF8Type
        return cqltypes.ListType.apply_parameters([item])
    if isinstance(sql_type, sa.Boolean):
        return cqltypes.BooleanType
    if isinstance(sql_type, sa.Integer):
        return _integer(sql_type, dialect)
    if isinstance(sql_type, sa.Float):
        return cqltypes.FloatType if _single_precision(sql_type, dialect) else cqltypes.DoubleType
    if isinstance(sql_type, sa.Numeric):
        return cqltypes.DecimalType
    if isinstance(sql_type, sa.DateTime):
        return cqltypes.DateType
    if isinstance(sql_type, sa.Date):
        return cqltypes.SimpleDateType
    if isinstance(sql_type, sa.Time):
        return cqltypes.TimeType
    if isinstance(sql_type, _INTERVALS):
        return cqltypes.DurationType
    if isinstance(sql_type, sa.LargeBinary):
        return cqltypes.BytesType
    if isinstance(sql_type, sa.Uuid):
        return cqltypes.UUIDType
    if isinstance(sql_type, _NETWORK):
        return cqltypes.InetAddressType
    if isinstance(sql_type, sqltypes.NullType) and dialect == "sqlite":
        return None
    # String, Text, Enum, JSON documents (as their text) and every type we do not know.
    return cqltypes.UTF8Type


def _integer(sql_type: TypeEngine[Any], dialect: str) -> Any:
    if isinstance(sql_type, sa.BigInteger) or dialect == "sqlite":
        return cqltypes.LongType  # SQLite integers are 64-bit whatever the declared type
    if isinstance(sql_type, sa.SmallInteger):
        return cqltypes.ShortType
    return cqltypes.Int32Type


def _single_precision(sql_type: sa.Float[Any], dialect: str) -> bool:
    if isinstance(sql_type, sa.Double) or dialect == "sqlite":
        return False  # SQLite's REAL is an 8-byte float
    if sql_type.precision is not None:
        return sql_type.precision <= _SINGLE_PRECISION
    # REAL is single precision where it exists; so is MySQL's FLOAT. PostgreSQL's FLOAT is not.
    return isinstance(sql_type, sa.REAL) or dialect in ("mysql", "mariadb")


def _unwrap(cql_type: Any) -> Any:
    """The type inside ``frozen<...>`` and the driver's clustering-order wrapper."""
    wrappers = (cqltypes.FrozenType, cqltypes.ReversedType)
    while isinstance(cql_type, type) and issubclass(cql_type, wrappers):
        inner: Any = cql_type
        cql_type = inner.subtypes[0]
    return cql_type


def sql_type_for(cql_type: Any, dialect: str) -> TypeEngine[Any]:
    """The column type a created table gets for a field of ``cql_type`` (``None``: TEXT)."""
    cql_type = _unwrap(cql_type)
    pg = dialect == "postgresql"
    if cql_type is None or not isinstance(cql_type, type):
        return sa.Text()
    for cql, sql in _SCALARS:
        if issubclass(cql_type, cql):
            return sql()
    # Before DateType: the driver's TimeUUIDType is a subclass of it.
    if issubclass(cql_type, cqltypes.UUIDType | cqltypes.TimeUUIDType):
        return postgresql.UUID() if pg else sa.CHAR(36)
    if issubclass(cql_type, cqltypes.DateType):
        return sa.DateTime(timezone=True)
    if issubclass(cql_type, cqltypes.InetAddressType):
        return postgresql.INET() if pg else sa.String(_INET_TEXT)
    if issubclass(cql_type, cqltypes.BytesType):
        return postgresql.BYTEA() if pg else sa.LargeBinary()
    if issubclass(cql_type, cqltypes.DurationType):
        return sa.String(_DURATION_TEXT)
    if issubclass(cql_type, _STRUCTURED):
        return postgresql.JSONB() if pg else sa.JSON()
    return sa.Text()


_SCALARS: tuple[tuple[type, type[TypeEngine[Any]]], ...] = (
    (cqltypes.Int32Type, sa.Integer),
    (cqltypes.LongType, sa.BigInteger),  # bigint and counter
    (cqltypes.ShortType, sa.SmallInteger),
    (cqltypes.ByteType, sa.SmallInteger),
    (cqltypes.IntegerType, sa.Numeric),  # varint: unbounded
    (cqltypes.DecimalType, sa.Numeric),
    (cqltypes.FloatType, sa.REAL),
    (cqltypes.DoubleType, sa.Double),
    (cqltypes.BooleanType, sa.Boolean),
    (cqltypes.UTF8Type, sa.Text),  # text, varchar
    (cqltypes.AsciiType, sa.Text),
    (cqltypes.SimpleDateType, sa.Date),
    (cqltypes.TimeType, sa.Time),
)

_STRUCTURED = (
    cqltypes.ListType,
    cqltypes.SetType,
    cqltypes.MapType,
    cqltypes.TupleType,
    cqltypes.UserType,
    cqltypes.VectorType,
)


#: psycopg's short type names (``type_display`` of a result column) as PostgreSQL's
#: ``format_type()`` spells them, which is what SQLAlchemy's PostgreSQL dialect knows.
_PG_ALIASES = {
    "int2": "smallint",
    "int4": "integer",
    "int8": "bigint",
    "float4": "real",
    "float8": "double precision",
    "bool": "boolean",
    "varchar": "character varying",
    "bpchar": "character",
    "timestamptz": "timestamp with time zone",
    "timetz": "time with time zone",
}
_PG_DISPLAY = re.compile(r"^(?P<name>[^(\[]+?)\s*(?:\([^)]*\))?(?P<array>(?:\[\])*)$")


def pg_result_type(display: str) -> TypeEngine[Any]:
    """The SQLAlchemy type of a PostgreSQL result column from psycopg's ``type_display``
    (``int4``, ``numeric(10,2)``, ``timestamptz``, ``text[]``...)."""
    match = _PG_DISPLAY.match(display.strip())
    if match is None:
        return sqltypes.NullType()
    name = _PG_ALIASES.get(match["name"], match["name"])
    found = postgresql.base.ischema_names.get(name)
    if found is None:
        sql_type: TypeEngine[Any] = sqltypes.NullType()
    elif name.endswith("with time zone"):
        sql_type = found(timezone=True)
    else:
        try:
            sql_type = found()
        except (TypeError, sa_exc.ArgumentError):
            sql_type = sqltypes.NullType()  # a type that needs arguments we do not have
    if match["array"]:
        return postgresql.ARRAY(sql_type)
    return sql_type
