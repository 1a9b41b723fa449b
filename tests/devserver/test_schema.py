"""The schema model: type text, options, replication, DDL functions, JSON persistence."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cassflow.devserver._schema import (
    ClusteringOrder,
    ColumnKind,
    ColumnMetadata,
    Schema,
    TableMetadata,
    UserType,
)
from cassflow.devserver._schema_changes import (
    alter_keyspace,
    alter_table_add,
    alter_table_drop,
    alter_table_options,
    alter_table_rename,
    alter_type_add_field,
    alter_type_rename_fields,
    create_keyspace,
    create_table,
    create_type,
    drop_keyspace,
    drop_table,
    drop_type,
)
from cassflow.devserver._schema_options import (
    SchemaAlreadyExistsError,
    SchemaConfigError,
    SchemaInvalidError,
    SchemaSyntaxError,
    SchemaUnauthorizedError,
    TableOptions,
    validate_replication,
)
from cassflow.devserver._schema_types import (
    cql_type,
    data_type_from_json,
    data_type_to_json,
    maybe_quote,
    parse_cql_type,
)
from cassflow.errors import CassflowError
from cassflow.protocol import DataType, SchemaChange, SchemaChangeTarget, SchemaChangeType
from cassflow.protocol import TypeCode as C

INT, TEXT, BIGINT, UUID_T = (
    DataType(C.INT),
    DataType(C.VARCHAR),
    DataType(C.BIGINT),
    DataType(C.UUID),
)
SIMPLE_1 = {"class": "SimpleStrategy", "replication_factor": 1}
ONE_DC = {"datacenter1": 1}


def base_schema() -> Schema:
    return create_keyspace(Schema.initial(), "ks", SIMPLE_1).schema


def simple_table(name: str = "t", *extra: ColumnMetadata, keyspace: str = "ks") -> TableMetadata:
    return TableMetadata(
        keyspace=keyspace,
        name=name,
        columns=(
            ColumnMetadata.partition_key("k", INT),
            ColumnMetadata.clustering("c", INT),
            ColumnMetadata.regular("v", TEXT),
            *extra,
        ),
    )


def address_type(keyspace: str = "ks") -> UserType:
    return UserType(
        keyspace=keyspace,
        name="address",
        field_names=("street", "zip"),
        field_types=(TEXT, INT),
    )


# --- type text --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dtype", "frozen", "text"),
    [
        (TEXT, False, "text"),
        (DataType(C.ASCII), False, "ascii"),
        (DataType.list_of(INT), False, "list<int>"),
        (DataType.list_of(INT), True, "frozen<list<int>>"),
        (DataType.map_of(TEXT, DataType.list_of(INT)), False, "map<text, frozen<list<int>>>"),
        (DataType.set_of(DataType.set_of(INT)), True, "frozen<set<frozen<set<int>>>>"),
        (DataType.tuple_of(INT, TEXT), False, "frozen<tuple<int, text>>"),
        (
            DataType.tuple_of(INT, DataType.map_of(INT, INT)),
            True,
            "frozen<tuple<int, frozen<map<int, int>>>>",
        ),
        (address_type().data_type, False, "address"),
        (address_type().data_type, True, "frozen<address>"),
        (DataType.list_of(address_type().data_type), False, "list<frozen<address>>"),
        (
            DataType.custom("org.apache.cassandra.db.marshal.BytesType"),
            False,
            "'org.apache.cassandra.db.marshal.BytesType'",
        ),
    ],
)
def test_cql_type_text_follows_cassandras_frozen_rules(
    dtype: DataType, frozen: bool, text: str
) -> None:
    assert cql_type(dtype, frozen=frozen) == text


def test_identifiers_are_quoted_like_column_identifier_maybe_quote() -> None:
    assert maybe_quote("address") == "address"
    assert maybe_quote("Address") == '"Address"'
    assert maybe_quote("select") == '"select"'
    assert maybe_quote('we"ird') == '"we""ird"'


def test_column_flags_and_validation() -> None:
    tup = ColumnMetadata.regular("t", DataType.tuple_of(INT))
    assert tup.frozen
    assert not tup.is_multi_cell
    assert ColumnMetadata.regular("l", DataType.list_of(INT)).is_multi_cell
    assert not ColumnMetadata.regular("l", DataType.list_of(INT), frozen=True).is_multi_cell
    assert ColumnMetadata.clustering("c", INT).clustering_order is ClusteringOrder.ASC
    with pytest.raises(SchemaInvalidError, match=r"frozen<> is only allowed .*\(got int\)"):
        ColumnMetadata.regular("x", INT, frozen=True)
    with pytest.raises(ValueError, match="position"):
        ColumnMetadata(name="x", type=INT, kind=ColumnKind.REGULAR, position=0)


def test_table_columns_come_in_select_order() -> None:
    table = TableMetadata(
        keyspace="ks",
        name="t",
        columns=(
            ColumnMetadata.regular("z", INT),
            ColumnMetadata.regular("a_list", DataType.list_of(INT)),
            ColumnMetadata.static("st", INT),
            ColumnMetadata.clustering("c2", INT, 1),
            ColumnMetadata.clustering("c1", INT, 0, ClusteringOrder.DESC),
            ColumnMetadata.partition_key("p2", INT, 1),
            ColumnMetadata.partition_key("p1", INT, 0),
        ),
    )
    assert [c.name for c in table.columns] == ["p1", "p2", "c1", "c2", "st", "a_list", "z"]
    assert [c.name for c in table.partition_key] == ["p1", "p2"]
    assert [c.name for c in table.clustering_columns] == ["c1", "c2"]
    assert table.column("st") is table.static_columns[0]
    assert table.flags == ("compound",)
    with pytest.raises(ValueError, match="positions"):
        TableMetadata(keyspace="ks", name="t", columns=(ColumnMetadata.partition_key("k", INT, 1),))


scalar_types = st.sampled_from(
    [
        DataType(c)
        for c in (C.INT, C.VARCHAR, C.ASCII, C.BLOB, C.UUID, C.TIMEUUID, C.DURATION, C.DATE, C.INET)
    ]
)
types = st.recursive(
    scalar_types,
    lambda inner: st.one_of(
        inner.map(DataType.list_of),
        inner.map(DataType.set_of),
        st.tuples(inner, inner).map(lambda kv: DataType.map_of(*kv)),
        st.lists(inner, min_size=1, max_size=3).map(lambda ps: DataType.tuple_of(*ps)),
    ),
    max_leaves=8,
)


@given(types, st.booleans())
def test_type_text_parses_back(dtype: DataType, frozen: bool) -> None:
    frozen = (frozen and dtype.code in (C.LIST, C.SET, C.MAP)) or dtype.code is C.TUPLE
    text = cql_type(dtype, frozen=frozen)
    assert parse_cql_type(text) == (dtype, frozen)


@given(types | st.just(address_type().data_type))
def test_data_type_json_round_trip(dtype: DataType) -> None:
    assert data_type_from_json(json.loads(json.dumps(data_type_to_json(dtype)))) == dtype


# --- table options ----------------------------------------------------------------------------


def test_table_options_defaults_are_cassandra_41s() -> None:
    options = TableOptions()
    assert options.speculative_retry == options.additional_write_policy == "99p"
    assert options.read_repair == "BLOCKING"
    assert options.compression == {
        "chunk_length_in_kb": "16",
        "class": "org.apache.cassandra.io.compress.LZ4Compressor",
    }
    assert options.gc_grace_seconds == 864000


def test_table_options_are_normalized() -> None:
    options = TableOptions().with_changes(
        {
            "compaction": {"class": "LeveledCompactionStrategy", "sstable_size_in_mb": 160},
            "compression": {"class": "ZstdCompressor", "chunk_length_in_kb": 64},
            "caching": {"keys": "all", "rows_per_partition": "10"},
            "speculative_retry": "99.5PERCENTILE",
            "additional_write_policy": "NONE",
            "gc_grace_seconds": "3600",
            "bloom_filter_fp_chance": 0.1,
            "cdc": "true",
            "comment": "hello",
            "read_repair_chance": 0.2,  # obsolete: ignored
        }
    )
    assert options.compaction == {
        "class": "org.apache.cassandra.db.compaction.LeveledCompactionStrategy",
        "max_threshold": "32",
        "min_threshold": "4",
        "sstable_size_in_mb": "160",
    }
    assert options.compression == {
        "chunk_length_in_kb": "64",
        "class": "org.apache.cassandra.io.compress.ZstdCompressor",
    }
    assert options.caching == {"keys": "ALL", "rows_per_partition": "10"}
    assert (options.speculative_retry, options.additional_write_policy) == ("99.5p", "NEVER")
    assert (options.gc_grace_seconds, options.bloom_filter_fp_chance) == (3600, 0.1)
    assert options.cdc
    assert options.comment == "hello"
    assert TableOptions().with_changes({"compression": {"enabled": False}}).compression == {
        "enabled": "false"
    }
    assert TableOptions().with_changes({"speculative_retry": "50ms"}).speculative_retry == "50ms"


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"foo": 1}, SchemaSyntaxError, "Unknown property 'foo'"),
        (
            {"gc_grace_seconds": "x"},
            SchemaSyntaxError,
            "Invalid integer value x for 'gc_grace_seconds'",
        ),
        (
            {"gc_grace_seconds": -1},
            SchemaConfigError,
            r"gc_grace_seconds must be greater than or equal to 0 \(got -1\)",
        ),
        (
            {"bloom_filter_fp_chance": 0},
            SchemaConfigError,
            r"bloom_filter_fp_chance must be larger than 6.71E-5 and less than or equal to 1.0 "
            r"\(got 0.0\)",
        ),
        (
            {"compaction": {"min_threshold": 2}},
            SchemaConfigError,
            "Missing sub-option 'class' for the 'compaction' option",
        ),
        (
            {"compaction": {"class": "Foo"}},
            SchemaConfigError,
            "Unable to find compaction strategy class 'org.apache.cassandra.db.compaction.Foo'",
        ),
        (
            {"caching": {"keys": "SOME"}},
            SchemaConfigError,
            "Invalid value 'SOME' for caching sub-option 'keys'",
        ),
        (
            {"compression": {"class": "LZ4Compressor", "chunk_length_in_kb": 3}},
            SchemaConfigError,
            "chunk_length_in_kb must be a power of 2",
        ),
        (
            {"speculative_retry": "sometimes"},
            SchemaConfigError,
            "Invalid value sometimes for option 'speculative_retry'",
        ),
        (
            {"max_index_interval": 64},
            SchemaConfigError,
            r"max_index_interval must be greater than or equal to min_index_interval \(128\) "
            r"\(got 64\)",
        ),
        ({"cdc": "maybe"}, SchemaSyntaxError, "Invalid boolean value maybe for 'cdc'"),
    ],
)
def test_table_option_errors(
    changes: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        TableOptions().with_changes(changes)  # type: ignore[arg-type]


# --- replication ------------------------------------------------------------------------------


def test_replication_is_normalized_like_cassandra() -> None:
    simple = validate_replication(
        "ks", {"class": "SimpleStrategy", "replication_factor": 3}, datacenters=ONE_DC
    )
    assert simple.options == {
        "class": "org.apache.cassandra.locator.SimpleStrategy",
        "replication_factor": "3",
    }
    assert simple.warnings == (
        "Your replication factor 3 for keyspace ks is higher than the number of nodes 1",
    )
    nts = validate_replication(
        "ks", {"class": "NetworkTopologyStrategy", "replication_factor": 1}, datacenters=ONE_DC
    )
    assert nts.options == {
        "class": "org.apache.cassandra.locator.NetworkTopologyStrategy",
        "datacenter1": "1",
    }
    assert nts.warnings == ()
    explicit = validate_replication(
        "ks",
        {"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", "datacenter1": 2},
        datacenters=ONE_DC,
    )
    assert explicit.warnings == (
        "Your replication factor 2 for keyspace ks is higher than the number of nodes 1 for "
        "datacenter datacenter1",
    )


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"replication_factor": 1}, SchemaConfigError, "Missing replication strategy class"),
        (
            {"class": "FooStrategy"},
            SchemaConfigError,
            "Unable to find replication strategy class 'org.apache.cassandra.locator.FooStrategy'",
        ),
        (
            {"class": "SimpleStrategy"},
            SchemaConfigError,
            "SimpleStrategy requires a replication_factor strategy option.",
        ),
        (
            {"class": "SimpleStrategy", "replication_factor": "x"},
            SchemaConfigError,
            "Replication factor must be numeric; found x",
        ),
        (
            {"class": "SimpleStrategy", "replication_factor": 1, "dc1": 1},
            SchemaConfigError,
            r"Unrecognized strategy option \{dc1\} passed to SimpleStrategy for keyspace ks",
        ),
        (
            {"class": "NetworkTopologyStrategy", "dc2": 1},
            SchemaConfigError,
            r"Unrecognized strategy option \{dc2\} passed to NetworkTopologyStrategy for "
            r"keyspace ks",
        ),
        (
            {"class": "NetworkTopologyStrategy"},
            SchemaConfigError,
            "Configuration for at least one datacenter must be present",
        ),
        (
            {"class": "NetworkTopologyStrategy", "datacenter1": 0},
            SchemaConfigError,
            "Configuration for at least one datacenter must be present",
        ),
        (
            {"class": "LocalStrategy"},
            SchemaInvalidError,
            "LocalStrategy is reserved for internal use",
        ),
    ],
)
def test_replication_errors(
    options: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        validate_replication("ks", options, datacenters=ONE_DC)  # type: ignore[arg-type]


# --- keyspaces --------------------------------------------------------------------------------


def test_initial_schema_has_the_system_keyspaces() -> None:
    schema = Schema.initial()
    assert set(schema.keyspaces) == {
        "system",
        "system_schema",
        "system_auth",
        "system_distributed",
        "system_traces",
        "system_views",
        "system_virtual_schema",
    }
    assert schema.keyspaces["system_views"].virtual
    assert list(schema.user_keyspaces()) == []
    assert Schema.initial().version == schema.version


def test_create_alter_drop_keyspace() -> None:
    initial = Schema.initial()
    created = create_keyspace(initial, "ks", SIMPLE_1, durable_writes=False)
    assert created.change == SchemaChange(
        change_type=SchemaChangeType.CREATED, target=SchemaChangeTarget.KEYSPACE, keyspace="ks"
    )
    ks = created.schema.keyspaces["ks"]
    assert ks.replication == {
        "class": "org.apache.cassandra.locator.SimpleStrategy",
        "replication_factor": "1",
    }
    assert not ks.durable_writes
    assert created.schema.version != initial.version
    assert initial.keyspace("ks") is None  # pure: the old schema is untouched

    again = create_keyspace(created.schema, "ks", SIMPLE_1, if_not_exists=True)
    assert again.change is None
    assert again.schema is created.schema
    with pytest.raises(SchemaAlreadyExistsError, match='Cannot add existing keyspace "ks"') as info:
        create_keyspace(created.schema, "ks", SIMPLE_1)
    assert (info.value.keyspace, info.value.table) == ("ks", "")

    altered = alter_keyspace(
        created.schema, "ks", replication={"class": "NetworkTopologyStrategy", "datacenter1": 3}
    )
    assert altered.change is not None
    assert altered.change.change_type is SchemaChangeType.UPDATED
    assert altered.schema.keyspaces["ks"].replication["datacenter1"] == "3"
    assert altered.warnings == (
        "Your replication factor 3 for keyspace ks is higher than the number of nodes 1 for "
        "datacenter datacenter1",
        "When increasing replication factor you need to run a full (-full) repair to distribute "
        "the data.",
    )
    assert alter_keyspace(altered.schema, "ks", durable_writes=False).change is None

    dropped = drop_keyspace(altered.schema, "ks")
    assert dropped.change is not None
    assert dropped.change.change_type is SchemaChangeType.DROPPED
    assert dropped.schema.keyspace("ks") is None
    assert (
        len(
            {
                initial.version,
                created.schema.version,
                altered.schema.version,
                dropped.schema.version,
            }
        )
        == 4
    )
    assert drop_keyspace(dropped.schema, "ks", if_exists=True).change is None
    with pytest.raises(SchemaInvalidError, match="Keyspace 'ks' doesn't exist"):
        drop_keyspace(dropped.schema, "ks")
    with pytest.raises(SchemaInvalidError, match="Keyspace 'nope' doesn't exist"):
        alter_keyspace(dropped.schema, "nope", durable_writes=True)


def test_keyspace_statement_errors() -> None:
    schema = Schema.initial()
    with pytest.raises(SchemaInvalidError, match="Missing mandatory option 'replication'"):
        create_keyspace(schema, "ks", None)
    with pytest.raises(
        SchemaInvalidError,
        match=r"Keyspace name must not be empty, more than 48 characters long, or contain "
        r"non-alphanumeric-underscore characters \(got 'bad-name'\)",
    ):
        create_keyspace(schema, "bad-name", SIMPLE_1)
    with pytest.raises(SchemaInvalidError, match="System keyspace 'system' is not user-modifiable"):
        create_keyspace(schema, "system", SIMPLE_1)
    with pytest.raises(
        SchemaInvalidError, match="Virtual keyspace 'system_views' is not user-modifiable"
    ):
        create_keyspace(schema, "system_views", SIMPLE_1)
    with pytest.raises(SchemaAlreadyExistsError):
        create_keyspace(schema, "system_auth", SIMPLE_1)


def test_system_keyspaces_are_protected_like_cassandra() -> None:
    schema = Schema.initial()
    with pytest.raises(
        SchemaUnauthorizedError, match=r"^system keyspace is not user-modifiable\.$"
    ):
        drop_keyspace(schema, "system")
    with pytest.raises(SchemaUnauthorizedError, match=r"^Cannot DROP <keyspace system_auth>$"):
        drop_keyspace(schema, "system_auth")
    with pytest.raises(SchemaUnauthorizedError, match=r"^Cannot DROP <table system_auth.roles>$"):
        drop_table(schema, "system_auth", "roles")
    with pytest.raises(SchemaUnauthorizedError, match=r"^Cannot CREATE <keyspace system_traces>$"):
        create_table(schema, simple_table(keyspace="system_traces"))
    with pytest.raises(
        SchemaUnauthorizedError, match="system_schema keyspace is not user-modifiable"
    ):
        alter_table_options(schema, "system_schema", "tables", {"comment": "x"})
    # Users may change the replication of the replicated system keyspaces.
    update = alter_keyspace(
        schema, "system_auth", replication={"class": "SimpleStrategy", "replication_factor": 1}
    )
    assert update.change is None
    update = alter_keyspace(
        schema, "system_traces", replication={"class": "NetworkTopologyStrategy", "datacenter1": 1}
    )
    assert update.schema.keyspaces["system_traces"].replication["datacenter1"] == "1"
    assert update.warnings == ()


# --- tables -----------------------------------------------------------------------------------


def test_create_and_drop_table() -> None:
    schema = base_schema()
    table = simple_table()
    update = create_table(schema, table)
    assert update.change == SchemaChange(
        change_type=SchemaChangeType.CREATED,
        target=SchemaChangeTarget.TABLE,
        keyspace="ks",
        name="t",
    )
    assert update.schema.table("ks", "t") is table
    assert create_table(update.schema, simple_table(), if_not_exists=True).change is None
    with pytest.raises(
        SchemaAlreadyExistsError, match='Cannot add already existing table "t" to keyspace "ks"'
    ) as info:
        create_table(update.schema, simple_table())
    assert (info.value.keyspace, info.value.table) == ("ks", "t")

    dropped = drop_table(update.schema, "ks", "t")
    assert dropped.change is not None
    assert dropped.change.change_type is SchemaChangeType.DROPPED
    assert dropped.schema.table("ks", "t") is None
    with pytest.raises(SchemaInvalidError, match=re.escape("Table 'ks.t' doesn't exist")):
        drop_table(dropped.schema, "ks", "t")
    assert drop_table(dropped.schema, "ks", "t", if_exists=True).change is None
    with pytest.raises(SchemaInvalidError, match="Keyspace 'nope' doesn't exist"):
        create_table(schema, simple_table(keyspace="nope"))


@pytest.mark.parametrize(
    ("columns", "options", "error", "message"),
    [
        (
            (ColumnMetadata.partition_key("k", DataType.list_of(INT)),),
            {},
            SchemaInvalidError,
            r"Invalid non-frozen collection type list<int> for PRIMARY KEY column 'k'",
        ),
        (
            (ColumnMetadata.partition_key("k", DataType(C.COUNTER)),),
            {},
            SchemaInvalidError,
            "counter type is not supported for PRIMARY KEY column 'k'",
        ),
        (
            (
                ColumnMetadata.partition_key("k", INT),
                ColumnMetadata.clustering("d", DataType(C.DURATION)),
            ),
            {},
            SchemaInvalidError,
            "duration type is not supported for PRIMARY KEY column 'd'",
        ),
        (
            (ColumnMetadata.partition_key("k", INT), ColumnMetadata.static("s", INT)),
            {},
            SchemaInvalidError,
            "Static columns are only useful",
        ),
        (
            (
                ColumnMetadata.partition_key("k", INT),
                ColumnMetadata.regular("c", DataType(C.COUNTER)),
                ColumnMetadata.regular("v", INT),
            ),
            {},
            SchemaInvalidError,
            "Cannot mix counter and non counter columns in the same table",
        ),
        (
            (
                ColumnMetadata.partition_key("k", INT),
                ColumnMetadata.regular("c", DataType(C.COUNTER)),
            ),
            {"default_time_to_live": 10},
            SchemaInvalidError,
            "Cannot set default_time_to_live on a table with counters",
        ),
        (
            (
                ColumnMetadata.partition_key("k", INT),
                ColumnMetadata.regular("l", DataType.list_of(DataType(C.COUNTER))),
            ),
            {},
            SchemaInvalidError,
            r"Counters are not allowed inside collections: list<counter>",
        ),
        (
            (
                ColumnMetadata.partition_key("k", INT),
                ColumnMetadata.regular("s", DataType.set_of(DataType(C.DURATION))),
            ),
            {},
            SchemaInvalidError,
            r"Durations are not allowed inside sets: set<duration>",
        ),
        (
            (
                ColumnMetadata.partition_key("k", INT),
                ColumnMetadata.regular("u", address_type().data_type),
            ),
            {},
            SchemaInvalidError,
            "Unknown type ks.address",
        ),
    ],
)
def test_create_table_errors(
    columns: tuple[ColumnMetadata, ...],
    options: dict[str, int],
    error: type[Exception],
    message: str,
) -> None:
    table = TableMetadata(
        keyspace="ks", name="t", columns=columns, options=TableOptions().with_changes(options)
    )
    with pytest.raises(error, match=message):
        create_table(base_schema(), table)


def test_table_name_is_validated_like_table_metadata_validate() -> None:
    with pytest.raises(
        SchemaConfigError,
        match=r"^ks.bad-name: Table name must not be empty, more than 48 characters long, or "
        r'contain non-alphanumeric-underscore characters \(got "bad-name"\)$',
    ):
        create_table(base_schema(), simple_table("bad-name"))


def test_counter_table() -> None:
    table = TableMetadata(
        keyspace="ks",
        name="counts",
        columns=(
            ColumnMetadata.partition_key("k", INT),
            ColumnMetadata.regular("n", DataType(C.COUNTER)),
        ),
    )
    assert table.is_counter
    assert table.flags == ("compound", "counter")
    schema = create_table(base_schema(), table).schema
    with pytest.raises(
        SchemaConfigError, match=r'Cannot have a non counter column \("v"\) in a counter table'
    ):
        alter_table_add(schema, "ks", "counts", [ColumnMetadata.regular("v", INT)])
    with pytest.raises(
        SchemaInvalidError, match="Cannot set default_time_to_live on a table with counters"
    ):
        alter_table_options(schema, "ks", "counts", {"default_time_to_live": 5})


def test_alter_table_add_drop_rename_options() -> None:
    schema = create_table(base_schema(), simple_table()).schema

    added = alter_table_add(
        schema,
        "ks",
        "t",
        [ColumnMetadata.regular("extra", BIGINT), ColumnMetadata.static("s", INT)],
    )
    assert added.change == SchemaChange(
        change_type=SchemaChangeType.UPDATED,
        target=SchemaChangeTarget.TABLE,
        keyspace="ks",
        name="t",
    )
    table = added.schema.table("ks", "t")
    assert table is not None
    assert [c.name for c in table.columns] == ["k", "c", "s", "extra", "v"]
    before = schema.table("ks", "t")
    assert before is not None
    assert table.id == before.id
    with pytest.raises(SchemaInvalidError, match="Column with name 'extra' already exists"):
        alter_table_add(added.schema, "ks", "t", [ColumnMetadata.regular("extra", INT)])
    assert (
        alter_table_add(
            added.schema,
            "ks",
            "t",
            [ColumnMetadata.regular("extra", INT)],
            if_column_not_exists=True,
        ).change
        is None
    )

    dropped = alter_table_drop(added.schema, "ks", "t", ["extra"], timestamp=1_700_000_000_123_456)
    table = dropped.schema.table("ks", "t")
    assert table is not None
    assert table.column("extra") is None
    assert table.dropped_columns[0].name == "extra"
    assert table.dropped_columns[0].cql_type == "bigint"
    with pytest.raises(
        SchemaInvalidError, match=re.escape("Column extra was not found in table 'ks.t'")
    ):
        alter_table_drop(dropped.schema, "ks", "t", ["extra"], timestamp=1)
    with pytest.raises(SchemaInvalidError, match="Cannot drop PRIMARY KEY column k"):
        alter_table_drop(dropped.schema, "ks", "t", ["k"], timestamp=1)
    with pytest.raises(
        SchemaInvalidError,
        match="Cannot re-add previously dropped column 'extra' of type int, incompatible with "
        "previous type bigint",
    ):
        alter_table_add(dropped.schema, "ks", "t", [ColumnMetadata.regular("extra", INT)])
    readded = alter_table_add(dropped.schema, "ks", "t", [ColumnMetadata.regular("extra", BIGINT)])
    assert readded.change is not None

    renamed = alter_table_rename(dropped.schema, "ks", "t", {"c": "c2", "k": "k2"})
    table = renamed.schema.table("ks", "t")
    assert table is not None
    assert [c.name for c in table.primary_key] == ["k2", "c2"]
    with pytest.raises(SchemaInvalidError, match="Cannot rename non PRIMARY KEY column v"):
        alter_table_rename(dropped.schema, "ks", "t", {"v": "w"})
    with pytest.raises(
        SchemaInvalidError,
        match=re.escape(
            "Cannot rename column c to v in table 'ks.t'; another column with that name "
            "already exists"
        ),
    ):
        alter_table_rename(dropped.schema, "ks", "t", {"c": "v"})
    with pytest.raises(
        SchemaInvalidError, match=re.escape("Undefined column name x in table ks.t")
    ):
        alter_table_rename(dropped.schema, "ks", "t", {"x": "y"}, if_column_exists=True)

    commented = alter_table_options(
        dropped.schema, "ks", "t", {"comment": "hi", "gc_grace_seconds": 10}
    )
    table = commented.schema.table("ks", "t")
    assert table is not None
    assert (table.options.comment, table.options.gc_grace_seconds) == (
        "hi",
        10,
    )
    assert alter_table_options(commented.schema, "ks", "t", {"comment": "hi"}).change is None
    with pytest.raises(SchemaInvalidError, match=re.escape("Table 'ks.nope' doesn't exist")):
        alter_table_options(commented.schema, "ks", "nope", {"comment": "x"})
    assert (
        alter_table_options(commented.schema, "ks", "nope", {"comment": "x"}, if_exists=True).change
        is None
    )


# --- user types -------------------------------------------------------------------------------


def test_user_types_lifecycle() -> None:
    created = create_type(base_schema(), address_type())
    assert created.change == SchemaChange(
        change_type=SchemaChangeType.CREATED,
        target=SchemaChangeTarget.TYPE,
        keyspace="ks",
        name="address",
    )
    with pytest.raises(SchemaInvalidError, match="A user type with name 'address' already exists"):
        create_type(created.schema, address_type())
    udt = address_type().data_type
    person = UserType(
        keyspace="ks",
        name="person",
        field_names=("home",),
        field_types=(udt,),
        field_frozen=(True,),
    )
    schema = create_type(created.schema, person).schema
    table = simple_table("people", ColumnMetadata.regular("home", udt, frozen=True))
    schema = create_table(schema, table).schema

    with pytest.raises(
        SchemaInvalidError,
        match=re.escape(
            "Cannot drop user type 'ks.address' as it is still used by user types person"
        ),
    ):
        drop_type(schema, "ks", "address")

    added = alter_type_add_field(schema, "ks", "address", "city", TEXT)
    assert added.change is not None
    assert added.change.target is SchemaChangeTarget.TYPE
    new_udt = added.schema.user_type("ks", "address")
    assert new_udt is not None
    assert new_udt.field_names == ("street", "zip", "city")
    # Every use of the type follows its new definition.
    column = added.schema.table("ks", "people").column("home")  # type: ignore[union-attr]
    assert column is not None
    assert column.type == new_udt.data_type
    person_after = added.schema.user_type("ks", "person")
    assert person_after is not None
    assert person_after.field_types == (new_udt.data_type,)
    with pytest.raises(
        SchemaInvalidError,
        match=re.escape(
            "Cannot add field city to type ks.address: a field with name city already exists"
        ),
    ):
        alter_type_add_field(added.schema, "ks", "address", "city", TEXT)
    with pytest.raises(SchemaInvalidError, match=re.escape("Type ks.nope doesn't exist")):
        alter_type_add_field(added.schema, "ks", "nope", "x", TEXT)

    renamed = alter_type_rename_fields(added.schema, "ks", "address", {"zip": "postcode"})
    assert renamed.schema.user_type("ks", "address").field_names == ("street", "postcode", "city")  # type: ignore[union-attr]
    with pytest.raises(
        SchemaInvalidError, match=re.escape("Unkown field nope in user type ks.address")
    ):
        alter_type_rename_fields(added.schema, "ks", "address", {"nope": "x"})

    schema = drop_table(renamed.schema, "ks", "people").schema
    schema = drop_type(schema, "ks", "person").schema
    dropped = drop_type(schema, "ks", "address")
    assert dropped.schema.user_type("ks", "address") is None
    with pytest.raises(SchemaInvalidError, match=re.escape("Type 'ks.address' doesn't exist")):
        drop_type(dropped.schema, "ks", "address")


def test_user_type_errors() -> None:
    schema = create_type(base_schema(), address_type()).schema
    udt = address_type().data_type
    unfrozen = UserType(keyspace="ks", name="p", field_names=("a",), field_types=(udt,))
    with pytest.raises(SchemaInvalidError, match="A user type cannot contain non-frozen UDTs"):
        create_type(schema, unfrozen)
    with pytest.raises(SchemaInvalidError, match="A user type cannot contain counters"):
        create_type(
            schema,
            UserType(
                keyspace="ks", name="c", field_names=("n",), field_types=(DataType(C.COUNTER),)
            ),
        )
    with pytest.raises(SchemaInvalidError, match="Duplicate field name 'a' in type 'd'"):
        create_type(
            schema,
            UserType(keyspace="ks", name="d", field_names=("a", "a"), field_types=(INT, INT)),
        )
    with_list = UserType(
        keyspace="ks", name="tagged", field_names=("tags",), field_types=(DataType.list_of(TEXT),)
    )
    assert with_list.field_cql_types == ("list<text>",)
    schema = create_type(schema, with_list).schema
    with pytest.raises(
        SchemaInvalidError,
        match="Non-frozen UDTs with nested non-frozen collections are not supported",
    ):
        create_table(schema, simple_table("x", ColumnMetadata.regular("t", with_list.data_type)))
    with pytest.raises(SchemaInvalidError, match="circular reference"):
        alter_type_add_field(schema, "ks", "address", "self", udt, frozen=True)


# --- persistence ------------------------------------------------------------------------------


def rich_schema() -> Schema:
    schema = base_schema()
    schema = create_keyspace(
        schema,
        "other",
        {"class": "NetworkTopologyStrategy", "datacenter1": 1},
        durable_writes=False,
    ).schema
    schema = create_type(schema, address_type()).schema
    udt = address_type().data_type
    table = TableMetadata(
        keyspace="ks",
        name="everything",
        columns=(
            ColumnMetadata.partition_key("p", UUID_T),
            ColumnMetadata.clustering("c", DataType(C.TIMESTAMP), 0, ClusteringOrder.DESC),
            ColumnMetadata.static("s", TEXT),
            ColumnMetadata.regular("m", DataType.map_of(TEXT, DataType.list_of(INT))),
            ColumnMetadata.regular("fs", DataType.set_of(INT), frozen=True),
            ColumnMetadata.regular("t", DataType.tuple_of(INT, udt)),
            ColumnMetadata.regular("a", udt),
            ColumnMetadata.regular("old", BIGINT),
        ),
        options=TableOptions().with_changes({"comment": "all kinds", "extensions": {"x": "y"}}),
    )
    schema = create_table(schema, table).schema
    schema = alter_table_drop(
        schema, "ks", "everything", ["old"], timestamp=1_700_000_000_000_000
    ).schema
    schema = alter_keyspace(
        schema,
        "system_auth",
        replication={"class": "SimpleStrategy", "replication_factor": 1},
        durable_writes=False,
    ).schema
    counters = TableMetadata(
        keyspace="other",
        name="counts",
        columns=(
            ColumnMetadata.partition_key("k", INT),
            ColumnMetadata.regular("n", DataType(C.COUNTER)),
        ),
    )
    return create_table(schema, counters).schema


def test_json_round_trip() -> None:
    schema = rich_schema()
    text = schema.to_json()
    restored = Schema.from_json(text)
    assert restored == schema
    assert restored.version == schema.version
    assert restored.to_json() == text
    data = json.loads(text)
    # Local and virtual keyspaces are code, not data; replicated ones keep only their params.
    names = [k["name"] for k in data["keyspaces"]]
    assert "system" not in names
    assert "system_views" not in names
    auth = next(k for k in data["keyspaces"] if k["name"] == "system_auth")
    assert auth["tables"] == []
    assert auth["durable_writes"] is False
    assert (
        restored.keyspaces["system_auth"].tables == Schema.initial().keyspaces["system_auth"].tables
    )


def test_from_json_rejects_unknown_format() -> None:
    with pytest.raises(ValueError, match="format"):
        Schema.from_json(json.dumps({"format": 99, "version": str(uuid.uuid4()), "keyspaces": []}))


def test_errors_share_one_root() -> None:
    for error in (
        SchemaInvalidError,
        SchemaConfigError,
        SchemaSyntaxError,
        SchemaUnauthorizedError,
        SchemaAlreadyExistsError,
    ):
        assert issubclass(error, CassflowError)
