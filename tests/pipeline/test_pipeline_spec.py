"""Pipeline files: the design's example loads; mistakes are named by file:line:column."""

from __future__ import annotations

from pathlib import Path

import pytest

from cassflow.pipeline import (
    FileDatasetSpec,
    PipelineError,
    TableDatasetSpec,
    load_pipeline,
    parse_duration,
)

EXAMPLE = """\
name: orders_daily
connections:                 # "linked services": one per keyspace
  shop:
    hosts: [127.0.0.1]       # omitted -> the embedded dev server
    keyspace: shop
    auth: {username: loader, password: "${secret:env:SHOP_PASSWORD}"}
datasets:
  orders_csv:   {format: csv, path: data/orders/*.csv}
  orders:       {connection: shop, table: orders}
  orders_out:   {format: parquet, path: out/orders/}
activities:
  - name: load_orders
    copy: {from: orders_csv, to: orders, max_errors: 100}
  - name: settle
    after: [load_orders]
    wait: {compaction: {connection: shop, max_pending: 0}, timeout: 10m}
  - name: export_orders
    after: [settle]
    copy: {from: orders, to: orders_out}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(text)
    return path


def test_the_design_example_loads(tmp_path: Path) -> None:
    spec = load_pipeline(write(tmp_path, EXAMPLE), env={})
    assert spec.name == "orders_daily"
    assert isinstance(spec.datasets["orders_csv"], FileDatasetSpec)
    assert isinstance(spec.datasets["orders"], TableDatasetSpec)
    load, settle, export = spec.activities
    assert load.copy_ is not None
    assert (load.copy_.source, load.copy_.target, load.copy_.max_errors) == (
        "orders_csv",
        "orders",
        100,
    )
    assert settle.wait is not None
    assert parse_duration(settle.wait.timeout) == 600
    assert export.after == ["settle"]
    auth = spec.connections["shop"].auth
    assert auth is not None
    assert auth.password is not None
    # The secret stays a reference until the secrets chain resolves it, and never prints.
    assert auth.password.get_secret_value() == "${secret:env:SHOP_PASSWORD}"
    assert "SHOP_PASSWORD" not in repr(spec)


def test_env_references_are_resolved(tmp_path: Path) -> None:
    text = EXAMPLE.replace("data/orders/*.csv", '"${env:DATA_DIR}/*.csv"')
    spec = load_pipeline(write(tmp_path, text), env={"DATA_DIR": "/srv/in"})
    dataset = spec.datasets["orders_csv"]
    assert isinstance(dataset, FileDatasetSpec)
    assert dataset.path == "/srv/in/*.csv"
    with pytest.raises(PipelineError, match="DATA_DIR is not set"):
        load_pipeline(write(tmp_path, text), env={})


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("keyspace: shop", "keyspce: shop"), r"pipeline.yaml:5:5: connections.shop.keyspce"),
        (("to: orders,", "to: order,"), r"unknown dataset 'order'"),
        (("after: [settle]", "after: [setle]"), r"unknown activity 'setle'"),
        (("table: orders}", "table: orders, connection: other}"), r"duplicate key"),
        (("timeout: 10m", "timeout: ten minutes"), r"not a duration"),
        (("{format: parquet", "{format: xlsx"), r"datasets.orders_out"),
        (
            ('password: "${secret:env:SHOP_PASSWORD}"', 'password: "${secret:oops}"'),
            r"malformed secret reference",
        ),
    ],
)
def test_mistakes_name_the_place(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    text = EXAMPLE.replace(*change)
    assert text != EXAMPLE
    with pytest.raises(PipelineError, match=expected) as caught:
        load_pipeline(write(tmp_path, text), env={})
    assert str(caught.value).startswith(str(tmp_path / "pipeline.yaml"))


def test_a_recursive_anchor_is_refused_where_it_is(tmp_path: Path) -> None:
    # An alias inside the node it names: a value without end (it used to hit RecursionError).
    text = "name: p\nconnections: &c\n  again: *c\nactivities: []\n"
    with pytest.raises(
        PipelineError, match=r"pipeline.yaml:2:14: the anchor here is used by an alias inside"
    ):
        load_pipeline(write(tmp_path, text), env={})
    # The same anchor used twice side by side is fine.
    shared = EXAMPLE.replace("keyspace: shop", "keyspace: &ks shop", 1)
    assert load_pipeline(write(tmp_path, shared), env={}).name


def test_cycles_are_refused(tmp_path: Path) -> None:
    text = EXAMPLE.replace(
        "  - name: load_orders\n", "  - name: load_orders\n    after: [export_orders]\n"
    )
    with pytest.raises(PipelineError, match="cycle: "):
        load_pipeline(write(tmp_path, text), env={})


def test_an_activity_does_one_thing(tmp_path: Path) -> None:
    text = EXAMPLE.replace(
        "    copy: {from: orders, to: orders_out}",
        "    copy: {from: orders, to: orders_out}\n    cql: {connection: shop, statements: [x]}",
    )
    with pytest.raises(PipelineError, match="exactly one of 'copy', 'cql' and 'wait'"):
        load_pipeline(write(tmp_path, text), env={})


def test_broken_yaml_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match=r"pipeline.yaml:\d+:\d+: not valid YAML"):
        load_pipeline(write(tmp_path, "name: x\nactivities: [\n"), env={})
    with pytest.raises(PipelineError, match="cannot read"):
        load_pipeline(tmp_path / "missing.yaml", env={})


@pytest.mark.parametrize(("text", "seconds"), [("250ms", 0.25), ("30s", 30), ("2h", 7200), (5, 5)])
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds
