"""URL-style datasets of ``cassflow copy``: tables, SQL, files, and what each implies."""

from __future__ import annotations

import pydantic
import pytest

from cassflow.copy._model import CopyError
from cassflow.pipeline import ConnectionSpec, FileDatasetSpec, SqlDatasetSpec, TableDatasetSpec
from cassflow.pipeline._urls import dataset_from_url


def test_a_table_of_a_named_connection_uses_it() -> None:
    connections = {"shop": ConnectionSpec(hosts=["10.0.0.5"], keyspace="shop")}
    spec = dataset_from_url("cassandra://shop/shop.orders", connections=connections)
    assert spec == TableDatasetSpec(connection="shop", table="orders", keyspace="shop")
    assert list(connections) == ["shop"]


def test_a_host_is_a_connection_without_credentials() -> None:
    connections: dict[str, ConnectionSpec] = {}
    spec = dataset_from_url("cassandra://db.example.com:9043/ks.t", connections=connections)
    assert isinstance(spec, TableDatasetSpec)
    made = connections[spec.connection]
    assert (made.hosts, made.port, made.keyspace, made.auth) == (
        ["db.example.com"],
        9043,
        "ks",
        None,
    )


def test_any_other_name_is_an_embedded_dev_server() -> None:
    connections: dict[str, ConnectionSpec] = {}
    spec = dataset_from_url("cassandra://dev/ks.t", connections=connections)
    assert isinstance(spec, TableDatasetSpec)
    assert connections["dev"].hosts is None


def test_options_set_the_table_dataset_and_typos_are_named() -> None:
    spec = dataset_from_url(
        "cassandra://dev/ks.t",
        connections={},
        options={"batch_mode": "replica", "batch_size": 64},
    )
    assert isinstance(spec, TableDatasetSpec)
    assert (spec.batch_mode, spec.batch_size) == ("replica", 64)
    with pytest.raises(pydantic.ValidationError, match="batch_sise"):
        dataset_from_url("cassandra://dev/ks.t", connections={}, options={"batch_sise": 64})


@pytest.mark.parametrize("url", ["cassandra://dev/orders", "cassandra:///ks.t", "cassandra://x/"])
def test_a_table_url_needs_a_keyspace_and_a_table(url: str) -> None:
    with pytest.raises(CopyError, match=r"expected cassandra://<connection>/<keyspace>\.<table>"):
        dataset_from_url(url, connections={})


def test_sql_urls_name_their_table_or_come_with_a_query_and_hide_passwords() -> None:
    spec = dataset_from_url("postgresql://app:pw-secret@db/shop#orders", connections={})
    assert spec == SqlDatasetSpec(url="postgresql://app:pw-secret@db/shop", table="orders")
    query = dataset_from_url("sqlite:///a.db", connections={}, query="SELECT 1 AS x")
    assert isinstance(query, SqlDatasetSpec)
    assert query.query == "SELECT 1 AS x"
    with pytest.raises(CopyError) as raised:
        dataset_from_url("postgresql://app:pw-secret@db/shop", connections={})
    assert "pw-secret" not in str(raised.value)
    assert "postgresql://app:***@db/shop" in str(raised.value)


@pytest.mark.parametrize(
    ("url", "fmt"),
    [
        ("data/*.csv", "csv"),
        ("s3://bucket/in/x.parquet", "parquet"),
        ("az://c/x/part.jsonl.gz", "jsonl"),
        ("events.ndjson", "jsonl"),
    ],
)
def test_files_take_their_format_from_the_extension(url: str, fmt: str) -> None:
    spec = dataset_from_url(url, connections={})
    assert isinstance(spec, FileDatasetSpec)
    assert (spec.path, spec.format) == (url, fmt)


def test_a_directory_needs_a_format() -> None:
    with pytest.raises(CopyError, match="--from-format/--to-format"):
        dataset_from_url("out/orders/", connections={})
    spec = dataset_from_url("out/orders/", connections={}, file_format="parquet")
    assert isinstance(spec, FileDatasetSpec)
    assert spec.format == "parquet"


def test_one_implied_connection_for_two_keyspaces_writes_the_target_reads_the_source() -> None:
    connections: dict[str, ConnectionSpec] = {}
    implied: set[str] = set()
    source = dataset_from_url("cassandra://dev/ks1.a", connections=connections, implied=implied)
    target = dataset_from_url("cassandra://dev/ks2.b", connections=connections, implied=implied)
    assert (source.keyspace, target.keyspace) == ("ks1", "ks2")  # type: ignore[union-attr]
    assert connections["dev"].keyspace == "ks2"
    assert connections["dev"].read_keyspaces == ["ks1"]
    for url in ("cassandra://10.0.0.5/ks1.a", "cassandra://10.0.0.5/ks2.b"):
        dataset_from_url(url, connections=connections, implied=implied)
    address = connections["host_10_0_0_5"]
    assert (address.keyspace, address.read_keyspaces, address.hosts) == (
        "ks2",
        ["ks1"],
        ["10.0.0.5"],
    )


def test_a_connection_of_the_file_keeps_its_binding() -> None:
    connections = {"shop": ConnectionSpec(hosts=["10.0.0.5"], keyspace="shop")}
    implied: set[str] = set()
    dataset_from_url("cassandra://shop/other.t", connections=connections, implied=implied)
    assert connections["shop"].keyspace == "shop"
    assert implied == set()
