"""User-defined types through the driver: CREATE / ALTER / DROP TYPE with Cassandra's rules and
messages, system_schema.types and the driver's metadata, UDT values (literals, bound, read
back), field selection, and setting or deleting a field of a non-frozen UDT column."""

from __future__ import annotations

from collections import namedtuple
from pathlib import Path

import pytest
from cassandra.cluster import Session

from clusters import connect, dev_server_session
from invalid import invalid_message


def test_create_type_shows_in_system_schema_and_driver_metadata(
    session: Session, keyspace: str
) -> None:
    session.execute(f"CREATE TYPE {keyspace}.addr (street text, zip int)")
    session.execute(
        f"CREATE TYPE {keyspace}.person (name text, home frozen<addr>, tags list<text>, "
        "pair tuple<int, text>)"
    )
    rows = {
        r.type_name: r
        for r in session.execute(
            "SELECT type_name, field_names, field_types FROM system_schema.types "
            f"WHERE keyspace_name = '{keyspace}'"
        )
    }
    assert rows["addr"].field_names == ["street", "zip"]
    assert rows["addr"].field_types == ["text", "int"]
    assert rows["person"].field_names == ["name", "home", "tags", "pair"]
    assert rows["person"].field_types == [
        "text",
        "frozen<addr>",
        "list<text>",
        "frozen<tuple<int, text>>",
    ]
    # The driver refreshed its metadata on the SCHEMA_CHANGE (target TYPE) result.
    types = session.cluster.metadata.keyspaces[keyspace].user_types
    assert types["addr"].field_names == ["street", "zip"]
    assert types["person"].field_types == [
        "text",
        "frozen<addr>",
        "list<text>",
        "frozen<tuple<int, text>>",
    ]


def test_type_events_reach_another_client(
    contact: tuple[list[str], int], session: Session, keyspace: str
) -> None:
    watcher = connect(contact)
    try:
        watcher.connect()
        session.execute(f"CREATE TYPE {keyspace}.seen (a int)")
        watcher.refresh_schema_metadata(max_schema_agreement_wait=10)
        assert watcher.metadata.keyspaces[keyspace].user_types["seen"].field_names == ["a"]
        session.execute(f"ALTER TYPE {keyspace}.seen ADD b text")
        session.execute(f"ALTER TYPE {keyspace}.seen RENAME a TO aa")
        watcher.refresh_schema_metadata(max_schema_agreement_wait=10)
        seen = watcher.metadata.keyspaces[keyspace].user_types["seen"]
        assert (seen.field_names, seen.field_types) == (["aa", "b"], ["int", "text"])
        session.execute(f"DROP TYPE {keyspace}.seen")
        watcher.refresh_schema_metadata(max_schema_agreement_wait=10)
        assert "seen" not in watcher.metadata.keyspaces[keyspace].user_types
    finally:
        watcher.shutdown()


def test_type_ddl_rules_and_messages(session: Session, keyspace: str) -> None:
    ks = keyspace
    session.execute(f"CREATE TYPE {ks}.addr (street text, zip int)")
    session.execute(f"CREATE TYPE IF NOT EXISTS {ks}.addr (other int)")
    assert invalid_message(session, f"CREATE TYPE {ks}.addr (x int)").endswith(
        "A user type with name 'addr' already exists\""
    )
    assert "Duplicate field name 'a' in type 'dup'" in invalid_message(
        session, f"CREATE TYPE {ks}.dup (a int, a text)"
    )
    assert "A user type cannot contain counters" in invalid_message(
        session, f"CREATE TYPE {ks}.bad (c counter)"
    )
    assert "A user type cannot contain non-frozen UDTs" in invalid_message(
        session, f"CREATE TYPE {ks}.bad (a addr)"
    )
    assert "Non-frozen UDTs are not allowed inside collections: list<addr>" in invalid_message(
        session, f"CREATE TYPE {ks}.bad (a list<addr>)"
    )
    assert f"Unknown type {ks}.nope" in invalid_message(
        session, f"CREATE TYPE {ks}.bad (a frozen<nope>)"
    )
    assert "Keyspace 'no_such_ks' doesn't exist" in invalid_message(
        session, "CREATE TYPE no_such_ks.t (a int)"
    )
    # ALTER TYPE
    assert f"Type {ks}.nope doesn't exist" in invalid_message(
        session, f"ALTER TYPE {ks}.nope ADD a int"
    )
    session.execute(f"ALTER TYPE IF EXISTS {ks}.nope ADD a int")
    assert (
        f"Cannot add field zip to type {ks}.addr: a field with name zip already exists"
        in invalid_message(session, f"ALTER TYPE {ks}.addr ADD zip text")
    )
    session.execute(f"ALTER TYPE {ks}.addr ADD IF NOT EXISTS zip text")
    assert f"Unkown field nope in user type {ks}.addr" in invalid_message(
        session, f"ALTER TYPE {ks}.addr RENAME nope TO other"
    )
    session.execute(f"ALTER TYPE {ks}.addr RENAME IF EXISTS nope TO other")
    assert "Altering field types is no longer supported" in invalid_message(
        session, f"ALTER TYPE {ks}.addr ALTER zip TYPE bigint"
    )
    session.execute(f"CREATE TYPE {ks}.outer (a frozen<addr>)")
    assert "as it would create a circular reference" in invalid_message(
        session, f"ALTER TYPE {ks}.addr ADD o frozen<outer>"
    )
    # DROP TYPE
    assert f"Cannot drop user type '{ks}.addr' as it is still used by user types outer" in (
        invalid_message(session, f"DROP TYPE {ks}.addr")
    )
    session.execute(f"CREATE TABLE {ks}.uses (k int PRIMARY KEY, o frozen<outer>)")
    assert f"Cannot drop user type '{ks}.outer' as it is still used by tables uses" in (
        invalid_message(session, f"DROP TYPE {ks}.outer")
    )
    assert f"Type '{ks}.nope' doesn't exist" in invalid_message(session, f"DROP TYPE {ks}.nope")
    session.execute(f"DROP TYPE IF EXISTS {ks}.nope")
    session.execute(f"DROP TABLE {ks}.uses")
    session.execute(f"DROP TYPE {ks}.outer")
    session.execute(f"DROP TYPE {ks}.addr")
    assert not list(
        session.execute(f"SELECT type_name FROM system_schema.types WHERE keyspace_name = '{ks}'")
    )


def test_udt_columns_rules_and_types(session: Session, keyspace: str) -> None:
    ks = keyspace
    session.execute(f"CREATE TYPE {ks}.addr (street text, zip int)")
    session.execute(f"CREATE TYPE {ks}.tagged (name text, tags set<text>)")
    session.execute(
        f"CREATE TABLE {ks}.t (k int PRIMARY KEY, a addr, fa frozen<addr>, "
        "l list<frozen<addr>>, ft frozen<tagged>)"
    )
    types = {
        r.column_name: r.type
        for r in session.execute(
            "SELECT column_name, type FROM system_schema.columns "
            f"WHERE keyspace_name = '{ks}' AND table_name = 't'"
        )
    }
    assert types == {
        "k": "int",
        "a": "addr",
        "fa": "frozen<addr>",
        "l": "list<frozen<addr>>",
        "ft": "frozen<tagged>",
    }
    assert (
        "Non-frozen UDTs with nested non-frozen collections are not supported"
        in invalid_message(session, f"CREATE TABLE {ks}.bad (k int PRIMARY KEY, t tagged)")
    )
    assert (
        "Invalid non-frozen user-defined type addr for PRIMARY KEY column 'k'"
        in invalid_message(session, f"CREATE TABLE {ks}.bad (k addr PRIMARY KEY)")
    )
    assert "Non-frozen UDTs are not allowed inside collections: list<addr>" in invalid_message(
        session, f"CREATE TABLE {ks}.bad (k int PRIMARY KEY, l list<addr>)"
    )


def test_udt_values_literal_bound_and_field_selection(session: Session, keyspace: str) -> None:
    ks = keyspace
    session.execute(f"CREATE TYPE {ks}.addr (street text, zip int)")
    session.execute(f"CREATE TYPE {ks}.person (name text, home frozen<addr>)")
    session.execute(
        f"CREATE TABLE {ks}.t (k int PRIMARY KEY, a addr, p frozen<person>, l list<frozen<addr>>)"
    )
    session.execute(
        f"INSERT INTO {ks}.t (k, a, p, l) VALUES (1, {{street: 'main', zip: 10}}, "
        "{name: 'ann', home: {zip: 20}}, [{street: 'x'}, {zip: 3}])"
    )
    unregistered = namedtuple("unregistered", "street zip")
    insert = session.prepare(f"INSERT INTO {ks}.t (k, a, p) VALUES (?, ?, ?)")
    session.execute(insert, (2, unregistered("side", None), None))

    class Addr:
        def __init__(self, street: str | None, zip: int | None) -> None:
            self.street, self.zip = street, zip

    session.cluster.register_user_type(ks, "addr", Addr)
    try:
        session.execute(insert, (3, Addr("reg", 5), None))
        rows = {r.k: r for r in session.execute(f"SELECT k, a, p, l FROM {ks}.t")}
        assert isinstance(rows[1].a, Addr)
        assert (rows[1].a.street, rows[1].a.zip) == ("main", 10)
        assert rows[1].p.name == "ann"
        assert (rows[1].p.home.street, rows[1].p.home.zip) == (None, 20)
        assert [(x.street, x.zip) for x in rows[1].l] == [("x", None), (None, 3)]
        assert (rows[2].a.street, rows[2].a.zip) == ("side", None)
        assert (rows[3].a.street, rows[3].a.zip) == ("reg", 5)
    finally:
        session.cluster._user_types[ks].pop("addr", None)  # registered types outlive the test
    selected = session.execute(f"SELECT a.zip, p.home.zip, p.name AS who FROM {ks}.t WHERE k = 1")
    assert selected.column_names == ["a.zip", "p.home.zip", "who"]
    assert tuple(selected.one()) == (10, 20, "ann")
    assert "a of type addr has no field nope" in invalid_message(
        session, f"SELECT a.nope FROM {ks}.t"
    )
    assert "Invalid field selection: k of type int is not a user type" in invalid_message(
        session, f"SELECT k.x FROM {ks}.t"
    )
    assert "Unknown field 'nope' in value of user defined type addr" in invalid_message(
        session, f"INSERT INTO {ks}.t (k, a) VALUES (9, {{nope: 1}})"
    )


def test_setting_and_deleting_fields_of_a_non_frozen_udt(session: Session, keyspace: str) -> None:
    ks = keyspace
    session.execute(f"CREATE TYPE {ks}.addr (street text, zip int)")
    session.execute(f"CREATE TABLE {ks}.t (k int PRIMARY KEY, a addr, fa frozen<addr>, n int)")
    session.execute(f"INSERT INTO {ks}.t (k, a) VALUES (1, {{street: 's', zip: 1}})")

    def value(k: int) -> tuple[str | None, int | None] | None:
        row = session.execute(f"SELECT a FROM {ks}.t WHERE k = {k}").one()
        return None if row is None or row.a is None else (row.a.street, row.a.zip)

    session.execute(f"UPDATE {ks}.t SET a.zip = 5 WHERE k = 1")
    assert value(1) == ("s", 5)
    set_zip = session.prepare(f"UPDATE {ks}.t SET a.zip = ? WHERE k = ?")
    session.execute(set_zip, (6, 1))
    assert value(1) == ("s", 6)
    session.execute(f"UPDATE {ks}.t SET a.street = 'n', a.zip = 7 WHERE k = 2")
    assert value(2) == ("n", 7)
    session.execute(f"DELETE a.street FROM {ks}.t WHERE k = 1")
    assert value(1) == (None, 6)
    # All its fields gone, a non-frozen UDT is null; the row made by UPDATE goes with it.
    session.execute(f"DELETE a.street, a.zip FROM {ks}.t WHERE k = 2")
    assert session.execute(f"SELECT * FROM {ks}.t WHERE k = 2").one() is None
    session.execute(f"UPDATE {ks}.t SET a = {{street: null}} WHERE k = 3")
    assert session.execute(f"SELECT * FROM {ks}.t WHERE k = 3").one() is None
    assert "Invalid operation (fa.zip = 1) for frozen UDT column fa" in invalid_message(
        session, f"UPDATE {ks}.t SET fa.zip = 1 WHERE k = 1"
    )
    assert "Invalid operation (n.zip = 1) for non-UDT column n" in invalid_message(
        session, f"UPDATE {ks}.t SET n.zip = 1 WHERE k = 1"
    )
    assert "UDT column a does not have a field named nope" in invalid_message(
        session, f"UPDATE {ks}.t SET a.nope = 1 WHERE k = 1"
    )
    assert "Frozen UDT column fa does not support field deletions" in invalid_message(
        session, f"DELETE fa.zip FROM {ks}.t WHERE k = 1"
    )
    assert "Invalid field deletion operation for non-UDT column n" in invalid_message(
        session, f"DELETE n.zip FROM {ks}.t WHERE k = 1"
    )


def test_altered_type_reads_old_values_with_new_fields(session: Session, keyspace: str) -> None:
    ks = keyspace
    session.execute(f"CREATE TYPE {ks}.addr (street text, zip int)")
    session.execute(f"CREATE TABLE {ks}.t (k int PRIMARY KEY, a frozen<addr>)")
    session.execute(f"INSERT INTO {ks}.t (k, a) VALUES (1, {{street: 's', zip: 1}})")
    session.execute(f"ALTER TYPE {ks}.addr ADD city text")
    session.execute(f"ALTER TYPE {ks}.addr RENAME zip TO code")
    session.execute(f"INSERT INTO {ks}.t (k, a) VALUES (2, {{city: 'c', code: 2}})")
    rows = {r.k: r.a for r in session.execute(f"SELECT k, a FROM {ks}.t")}
    assert (rows[1].street, rows[1].code, rows[1].city) == ("s", 1, None)
    assert (rows[2].street, rows[2].code, rows[2].city) == (None, 2, "c")
    assert session.execute(f"SELECT a.code FROM {ks}.t WHERE k = 1").one()[0] == 1


@pytest.mark.devserver_only
def test_types_and_their_values_survive_a_restart(tmp_path: Path) -> None:
    with dev_server_session(tmp_path) as (_, session):
        session.execute(
            "CREATE KEYSPACE ks WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        session.execute("CREATE TYPE ks.addr (street text, zip int)")
        session.execute("CREATE TYPE ks.person (name text, home frozen<addr>)")
        session.execute(
            "CREATE TABLE ks.t (k frozen<addr> PRIMARY KEY, p person, v vector<float, 2>)"
        )
        session.execute(
            "INSERT INTO ks.t (k, p, v) VALUES ({street: 's', zip: 1}, "
            "{name: 'n', home: {zip: 2}}, [1.5, 2.5])"
        )
    with dev_server_session(tmp_path) as (cluster, session):
        types = cluster.metadata.keyspaces["ks"].user_types
        assert types["person"].field_types == ["text", "frozen<addr>"]
        row = session.execute("SELECT k, p, v FROM ks.t").one()
        assert (row.k.street, row.k.zip) == ("s", 1)
        assert (row.p.name, row.p.home.zip) == ("n", 2)
        assert row.v == [1.5, 2.5]
        session.execute("UPDATE ks.t SET p.name = 'm' WHERE k = {street: 's', zip: 1}")
        assert session.execute("SELECT p.name FROM ks.t").one()[0] == "m"


def test_alter_type_add_checks_in_cassandras_order(session: Session, keyspace: str) -> None:
    ks = keyspace
    session.execute(f"CREATE TYPE {ks}.addr (street text, zip int)")
    # An existing field is reported before the new type is looked at.
    assert f"Cannot add field zip to type {ks}.addr: a field with name zip already exists" in (
        invalid_message(session, f"ALTER TYPE {ks}.addr ADD zip counter")
    )
    assert f"Unknown type {ks}.nope" in invalid_message(
        session, f"ALTER TYPE {ks}.addr ADD c frozen<nope>"
    )
    # Referring to itself, frozen or not, is a circular reference.
    for field_type in ("addr", "list<frozen<addr>>"):
        assert (
            f"Cannot add new field c of type {field_type} to user type {ks}.addr as it would "
            "create a circular reference"
        ) in invalid_message(session, f"ALTER TYPE {ks}.addr ADD c {field_type}")
