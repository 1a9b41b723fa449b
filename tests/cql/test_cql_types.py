"""``parse_type`` and the conversion of CQL types to the protocol's DataType."""

from __future__ import annotations

import pytest

from cassflow.cql import (
    CollectionType,
    CqlInvalidError,
    CqlSyntaxError,
    CustomType,
    NativeType,
    TupleType,
    UserType,
    VectorType,
    parse_type,
)
from cassflow.protocol import DataType, TypeCode

NATIVE = {
    "ascii": TypeCode.ASCII,
    "bigint": TypeCode.BIGINT,
    "blob": TypeCode.BLOB,
    "boolean": TypeCode.BOOLEAN,
    "counter": TypeCode.COUNTER,
    "decimal": TypeCode.DECIMAL,
    "double": TypeCode.DOUBLE,
    "duration": TypeCode.DURATION,
    "float": TypeCode.FLOAT,
    "inet": TypeCode.INET,
    "int": TypeCode.INT,
    "smallint": TypeCode.SMALLINT,
    "text": TypeCode.VARCHAR,
    "varchar": TypeCode.VARCHAR,
    "timestamp": TypeCode.TIMESTAMP,
    "tinyint": TypeCode.TINYINT,
    "uuid": TypeCode.UUID,
    "varint": TypeCode.VARINT,
    "timeuuid": TypeCode.TIMEUUID,
    "date": TypeCode.DATE,
    "time": TypeCode.TIME,
}


@pytest.mark.parametrize(("name", "code"), NATIVE.items())
def test_every_native_type(name: str, code: TypeCode) -> None:
    parsed = parse_type(name.upper())
    assert isinstance(parsed, NativeType)
    assert parsed.to_data_type() == DataType(code)
    assert parsed.to_cql() == ("text" if name == "varchar" else name)


ADDRESS = DataType.udt("ks", "address", {"street": DataType(TypeCode.VARCHAR)})


def resolver(keyspace: str | None, name: str) -> DataType:
    assert (keyspace, name) in (("ks", "address"), (None, "address"))
    return ADDRESS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("list<int>", DataType.list_of(DataType(TypeCode.INT))),
        ("set<text>", DataType.set_of(DataType(TypeCode.VARCHAR))),
        (
            "map<text, bigint>",
            DataType.map_of(DataType(TypeCode.VARCHAR), DataType(TypeCode.BIGINT)),
        ),
        ("frozen<list<int>>", DataType.list_of(DataType(TypeCode.INT))),
        (
            "map<text, frozen<list<frozen<set<uuid>>>>>",
            DataType.map_of(
                DataType(TypeCode.VARCHAR),
                DataType.list_of(DataType.set_of(DataType(TypeCode.UUID))),
            ),
        ),
        (
            "tuple<int, text, frozen<map<int, int>>>",
            DataType.tuple_of(
                DataType(TypeCode.INT),
                DataType(TypeCode.VARCHAR),
                DataType.map_of(DataType(TypeCode.INT), DataType(TypeCode.INT)),
            ),
        ),
        (
            "tuple<int, list<int>>",
            DataType.tuple_of(DataType(TypeCode.INT), DataType.list_of(DataType(TypeCode.INT))),
        ),
        ("ks.address", ADDRESS),
        ("frozen<address>", ADDRESS),
        ("list<frozen<ks.address>>", DataType.list_of(ADDRESS)),
        (
            "'org.apache.cassandra.db.marshal.BytesType'",
            DataType.custom("org.apache.cassandra.db.marshal.BytesType"),
        ),
        (
            "vector<float, 3>",
            DataType.custom(
                "org.apache.cassandra.db.marshal.VectorType("
                "org.apache.cassandra.db.marshal.FloatType,3)"
            ),
        ),
        (
            "vector<list<int>, 2>",
            DataType.custom(
                "org.apache.cassandra.db.marshal.VectorType("
                "org.apache.cassandra.db.marshal.FrozenType(org.apache.cassandra.db.marshal."
                "ListType(org.apache.cassandra.db.marshal.Int32Type)),2)"
            ),
        ),
    ],
)
def test_nested_types(text: str, expected: DataType) -> None:
    parsed = parse_type(text)
    assert parsed.to_data_type(resolver) == expected
    assert parse_type(parsed.to_cql()) == parsed


def test_vector_data_type_has_a_driver_codec() -> None:
    vector = parse_type("vector<float, 3>").to_data_type()
    encoded = vector.serialize([1.0, 2.0, 3.0], 5)
    assert vector.deserialize(encoded, 5) == [1.0, 2.0, 3.0]


def test_type_ast() -> None:
    assert parse_type("frozen<map<text, frozen<ks.address>>>") == CollectionType(
        kind="map",
        params=(NativeType(name="text"), UserType(keyspace="ks", name="address", frozen=True)),
        frozen=True,
    )
    assert (
        parse_type("tuple<int>")
        == parse_type("frozen<tuple<int>>")
        == TupleType(params=(NativeType(name="int"),))
    )
    assert parse_type("vector<float, 5>") == VectorType(
        element=NativeType(name="float"), dimension=5
    )
    assert parse_type("'a.B'") == CustomType(class_name="a.B")
    # Unreserved type keywords are user type names when no '<' follows.
    assert parse_type("map") == UserType(name="map")
    assert parse_type('"Address"') == UserType(name="Address")
    assert parse_type("text.address") == UserType(keyspace="text", name="address")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "list<list<int>>",
            "Non-frozen collections are not allowed inside collections: list<list<int>>",
        ),
        ("list<counter>", "Counters are not allowed inside collections: list<counter>"),
        ("set<duration>", "Durations are not allowed inside sets: set<duration>"),
        ("map<duration, int>", "Durations are not allowed as map keys: map<duration, int>"),
        ("list<address>", "Non-frozen UDTs are not allowed inside collections: list<address>"),
        ("tuple<counter>", "Counters are not allowed inside tuples"),
        # The message names the collection directly around the non-frozen one.
        (
            "list<frozen<map<int, list<counter>>>>",
            "Counters are not allowed inside collections: frozen<list<counter>>",
        ),
        ("vector<float, 0>", "vectors may only have positive dimensions; given 0"),
    ],
)
def test_preparation_errors(text: str, message: str) -> None:
    with pytest.raises(CqlInvalidError) as caught:
        parse_type(text).to_data_type(resolver)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "text",
    [
        "frozen<map<date, list<int>>>",
        "map<text, frozen<map<text, set<int>>>>",
        "frozen<list<set<address>>>",
        "list<frozen<list<list<int>>>>",
    ],
)
def test_frozen_freezes_everything_nested_in_it(text: str) -> None:
    # RawCollection.freeze() freezes the parameters too, all the way down.
    assert parse_type(text).to_data_type(resolver) is not None


def test_user_type_without_resolver_is_unknown() -> None:
    with pytest.raises(CqlInvalidError, match=r"Unknown type ks\.address"):
        parse_type("ks.address").to_data_type()


@pytest.mark.parametrize(
    "text", ["list<int", "map<int>", "frozen<int>", "vector<float>", "int int", "", "select"]
)
def test_bad_types(text: str) -> None:
    with pytest.raises(CqlSyntaxError):
        parse_type(text)


def test_multi_cell() -> None:
    assert parse_type("list<int>").is_multi_cell
    assert not parse_type("frozen<list<int>>").is_multi_cell
    assert parse_type("address").is_multi_cell
    assert not parse_type("int").is_multi_cell
