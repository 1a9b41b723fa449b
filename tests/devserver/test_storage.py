"""SQLite storage: Cassandra's reconciliation, deletions, TTLs, read order, paging, durability."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cassflow.devserver._keycodec import (
    STATIC_CK,
    CkRange,
    SliceBound,
    clustering_key,
    clustering_ranges,
    decode_clustering_key,
    partition_key,
    token,
)
from cassflow.devserver._multicell import MultiCellWrite, set_cell
from cassflow.devserver._storage import DB_FILENAME, Cell, Row, Storage, StorageError
from cassflow.devserver._values import split_collection
from cassflow.protocol import DataType, TypeCode

T1 = "5a1e4f4e-0000-4000-8000-000000000001"
T2 = "5a1e4f4e-0000-4000-8000-000000000002"
INT = DataType(TypeCode.INT)
TEXT = DataType(TypeCode.VARCHAR)
NOW = 1_700_000_000


def i32(n: int) -> bytes:
    return n.to_bytes(4, "big", signed=True)


def pkey(n: int) -> tuple[int, bytes]:
    pk = partition_key([i32(n)])
    return token(pk), pk


def ck(*values: int, desc: tuple[bool, ...] | None = None) -> bytes:
    order = desc if desc is not None else (False,) * len(values)
    return clustering_key([i32(v) for v in values], [INT] * len(order), order)


@pytest.fixture
def store() -> Iterator[Storage]:
    with Storage(None) as storage:
        yield storage


def values(row: Row | None) -> dict[str, bytes] | None:
    return None if row is None else {col: cell.value for col, cell in row.cells.items()}


def put(
    store: Storage, n: int, key: bytes, cells: dict[str, bytes | None], ts: int, **kw: Any
) -> None:
    tok, pk = pkey(n)
    store.write(T1, tok, pk, key, cells, timestamp=ts, now=kw.pop("now", NOW), **kw)


def get(store: Storage, n: int, key: bytes, now: int = NOW) -> dict[str, bytes] | None:
    tok, pk = pkey(n)
    return values(store.read_row(T1, tok, pk, key, now=now))


# --------------------------------------------------------------------- last write wins


def test_newer_write_wins_whatever_the_arrival_order(store: Storage) -> None:
    put(store, 1, ck(1), {"v": b"new"}, ts=20)
    put(store, 1, ck(1), {"v": b"old"}, ts=10)
    assert get(store, 1, ck(1)) == {"v": b"new"}
    put(store, 1, ck(1), {"v": b"newer"}, ts=30)
    assert get(store, 1, ck(1)) == {"v": b"newer"}


def test_equal_timestamps_greater_value_wins(store: Storage) -> None:
    put(store, 1, ck(1), {"v": b"b"}, ts=10)
    put(store, 1, ck(1), {"v": b"a"}, ts=10)
    assert get(store, 1, ck(1)) == {"v": b"b"}
    put(store, 1, ck(1), {"v": b"\xff"}, ts=10)  # unsigned bytes: 0xff is the greatest
    assert get(store, 1, ck(1)) == {"v": b"\xff"}


def test_equal_timestamps_tombstone_beats_value(store: Storage) -> None:
    put(store, 1, ck(1), {"v": b"x", "w": b"y"}, ts=10)
    put(store, 1, ck(1), {"v": None}, ts=10)
    put(store, 1, ck(1), {"v": b"zzz"}, ts=10)
    assert get(store, 1, ck(1)) == {"w": b"y"}


def test_equal_timestamps_expiring_beats_regular_and_later_expiry_wins(store: Storage) -> None:
    put(store, 1, ck(1), {"v": b"zzz"}, ts=10)
    put(store, 1, ck(1), {"v": b"a"}, ts=10, ttl=100)
    row = store.read_row(T1, *pkey(1), ck(1), now=NOW)
    assert row is not None
    assert row.cells["v"] == Cell(b"a", 10, 100)
    put(store, 1, ck(1), {"v": b"b"}, ts=10, ttl=50)  # expires earlier: loses
    put(store, 1, ck(1), {"v": b"c"}, ts=10, ttl=200)
    assert get(store, 1, ck(1)) == {"v": b"c"}
    put(store, 1, ck(1), {"v": None}, ts=10)  # a tombstone beats an expiring cell
    assert get(store, 1, ck(1)) is None


def test_cell_tombstone_shadows_older_writes(store: Storage) -> None:
    put(store, 1, ck(1), {"v": b"x"}, ts=10, row_marker=True)
    store.delete_cells(T1, *pkey(1), ck(1), ["v"], timestamp=20)
    put(store, 1, ck(1), {"v": b"late"}, ts=15)
    row = store.read_row(T1, *pkey(1), ck(1), now=NOW)
    assert row is not None
    assert row.cells == {}  # alive through its marker only
    put(store, 1, ck(1), {"v": b"newer"}, ts=25)
    assert get(store, 1, ck(1)) == {"v": b"newer"}


def test_row_without_marker_dies_with_its_last_cell(store: Storage) -> None:
    put(store, 1, ck(1), {"v": b"x"}, ts=10)  # an UPDATE: no marker
    put(store, 1, ck(1), {"v": None}, ts=11)
    assert get(store, 1, ck(1)) is None
    assert list(store.read_partition(T1, *pkey(1), now=NOW)) == []


def test_cells_carry_timestamp_and_remaining_ttl(store: Storage) -> None:
    put(store, 1, ck(1), {"v": b"x"}, ts=10, ttl=60, now=NOW)
    put(store, 1, ck(1), {"w": b"y"}, ts=11)
    row = store.read_row(T1, *pkey(1), ck(1), now=NOW + 15)
    assert row is not None
    assert row.cells == {"v": Cell(b"x", 10, 45), "w": Cell(b"y", 11, None)}


# ----------------------------------------------------------------------------- TTL


def test_ttl_expiry(store: Storage) -> None:
    put(store, 1, ck(1), {"v": b"x"}, ts=10, ttl=10, row_marker=True, now=NOW)
    assert get(store, 1, ck(1), now=NOW + 9) == {"v": b"x"}
    assert get(store, 1, ck(1), now=NOW + 10) is None
    assert list(store.scan(T1, now=NOW + 10)) == []
    assert list(store.read_partition(T1, *pkey(1), now=NOW + 10)) == []


def test_row_outlives_its_marker_ttl_through_a_regular_cell(store: Storage) -> None:
    put(store, 1, ck(1), {"v": b"x"}, ts=10, ttl=10, row_marker=True, now=NOW)
    put(store, 1, ck(1), {"w": b"y"}, ts=11)
    assert get(store, 1, ck(1), now=NOW + 100) == {"w": b"y"}


def test_ttl_zero_means_no_ttl(store: Storage) -> None:
    put(store, 1, ck(1), {"v": b"x"}, ts=10, ttl=0, now=NOW)
    row = store.read_row(T1, *pkey(1), ck(1), now=NOW + 10**9)
    assert row is not None
    assert row.cells["v"].ttl is None


# ------------------------------------------------------------------------- deletions


def test_partition_delete_shadows_older_writes(store: Storage) -> None:
    put(store, 1, STATIC_CK, {"s": b"static"}, ts=10)
    put(store, 1, ck(1), {"v": b"a"}, ts=10, row_marker=True)
    put(store, 1, ck(2), {"v": b"b"}, ts=30, row_marker=True)
    put(store, 2, ck(1), {"v": b"other"}, ts=10, row_marker=True)
    store.delete_partition(T1, *pkey(1), timestamp=20)
    assert [r.ck for r in store.read_partition(T1, *pkey(1), now=NOW)] == [ck(2)]
    put(store, 1, ck(1), {"v": b"late"}, ts=20)  # equal timestamp: the deletion wins
    put(store, 1, STATIC_CK, {"s": b"late"}, ts=19)
    assert get(store, 1, ck(1)) is None
    assert get(store, 1, STATIC_CK) is None
    assert get(store, 2, ck(1)) == {"v": b"other"}
    put(store, 1, ck(1), {"v": b"new"}, ts=21)
    assert get(store, 1, ck(1)) == {"v": b"new"}


def test_row_delete(store: Storage) -> None:
    put(store, 1, STATIC_CK, {"s": b"static"}, ts=10)
    put(store, 1, ck(1, 1), {"v": b"a"}, ts=10, row_marker=True)
    put(store, 1, ck(1, 2), {"v": b"b"}, ts=10, row_marker=True)
    store.delete_rows(T1, *pkey(1), CkRange.row(ck(1, 1)), timestamp=15)
    put(store, 1, ck(1, 1), {"v": b"older"}, ts=12)
    assert get(store, 1, ck(1, 1)) is None
    assert get(store, 1, ck(1, 2)) == {"v": b"b"}
    assert get(store, 1, STATIC_CK) == {"s": b"static"}


def test_range_delete_with_a_desc_column(store: Storage) -> None:
    types, desc = [INT, INT], [False, True]
    for a in range(3):
        for b in range(5):
            put(store, 1, ck(a, b, desc=(False, True)), {"v": i32(b)}, ts=10, row_marker=True)
    # DELETE ... WHERE a = 1 AND b > 1 AND b <= 3
    [rng] = clustering_ranges(
        types,
        desc,
        prefix=[i32(1)],
        lower=SliceBound([i32(1)], inclusive=False),
        upper=SliceBound([i32(3)], inclusive=True),
    )
    store.delete_rows(T1, *pkey(1), rng, timestamp=20)
    put(store, 1, ck(1, 2, desc=(False, True)), {"v": b"older"}, ts=15, row_marker=True)
    put(store, 1, ck(1, 3, desc=(False, True)), {"v": b"newer"}, ts=25)
    left = [
        tuple(
            int.from_bytes(v, "big", signed=True) for v in decode_clustering_key(r.ck, types, desc)
        )
        for r in store.read_partition(T1, *pkey(1), now=NOW)
    ]
    assert [x for x in left if x[0] == 1] == [(1, 4), (1, 3), (1, 1), (1, 0)]
    assert len(left) == 14


def test_tombstones_are_pruned_when_covered(store: Storage) -> None:
    for ts in (10, 11, 12):
        store.delete_rows(T1, *pkey(1), CkRange.row(ck(ts)), timestamp=ts)
    store.delete_partition(T1, *pkey(1), timestamp=20)
    store.delete_rows(T1, *pkey(1), CkRange.row(ck(1)), timestamp=15)  # already covered
    count = store._db.execute("SELECT count(*) FROM tombstones").fetchone()[0]
    assert count == 1


def test_delete_of_an_empty_range_is_a_no_op(store: Storage) -> None:
    put(store, 1, ck(1), {"v": b"a"}, ts=10)
    store.delete_rows(T1, *pkey(1), CkRange(ck(2), ck(1)), timestamp=20)
    assert get(store, 1, ck(1)) == {"v": b"a"}


# ------------------------------------------------------------------------ model check

ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("write"),
            st.integers(0, 2),  # ck
            st.sampled_from(["", "a", "b"]),  # "" is the row marker
            st.one_of(st.none(), st.binary(max_size=2)),
            st.integers(1, 6),  # timestamp
            st.sampled_from([None, 5, 10]),  # ttl
        ),
        st.tuples(st.just("delete_row"), st.integers(0, 2), st.integers(1, 6)),
        st.tuples(st.just("delete_range"), st.integers(0, 2), st.integers(0, 3), st.integers(1, 6)),
        st.tuples(st.just("delete_partition"), st.integers(1, 6)),
    ),
    max_size=25,
)


def rank(cell: tuple[bytes | None, int, int | None]) -> tuple[int, int, int, bytes]:
    # Cassandra's Cells.reconcile, written out: timestamp, then tombstone > expiring > regular,
    # then the later expiry, then the greater value.
    value, ts, expires = cell
    kind = 2 if value is None else (1 if expires is not None else 0)
    return (ts, kind, expires or 0, value or b"")


@given(ops, st.integers(0, 12))
@settings(max_examples=300, deadline=None)
def test_storage_matches_a_model_of_cassandra(operations: list[Any], elapsed: int) -> None:
    best: dict[tuple[int, str], tuple[bytes | None, int, int | None]] = {}
    deletions: list[tuple[int, int, int]] = []  # [lo, hi) over ck numbers, timestamp
    with Storage(None) as storage:
        tok, pk = pkey(7)
        for op in operations:
            if op[0] == "write":
                _, c, col, value, ts, ttl = op
                if col == "":
                    if value is None:
                        continue
                    storage.write(
                        T1, tok, pk, ck(c), {}, timestamp=ts, ttl=ttl, row_marker=True, now=NOW
                    )
                    value = b""
                else:
                    storage.write(T1, tok, pk, ck(c), {col: value}, timestamp=ts, ttl=ttl, now=NOW)
                cell = (value, ts, None if value is None or ttl is None else NOW + ttl)
                if (c, col) not in best or rank(cell) > rank(best[(c, col)]):
                    best[(c, col)] = cell
            elif op[0] == "delete_row":
                _, c, ts = op
                storage.delete_rows(T1, tok, pk, CkRange.row(ck(c)), timestamp=ts)
                deletions.append((c, c + 1, ts))
            elif op[0] == "delete_range":
                _, lo, hi, ts = op
                storage.delete_rows(T1, tok, pk, CkRange(ck(lo), ck(hi)), timestamp=ts)
                deletions.append((lo, hi, ts))
            else:
                storage.delete_partition(T1, tok, pk, timestamp=op[1])
                deletions.append((-1, 99, op[1]))
        now = NOW + elapsed
        expected: dict[int, dict[str, bytes]] = {}
        for (c, col), (value, ts, expires) in best.items():
            deleted = max((d for lo, hi, d in deletions if lo <= c < hi), default=0)
            if value is None or ts <= deleted or (expires is not None and expires <= now):
                continue
            expected.setdefault(c, {})[col] = value
        got = {
            int.from_bytes(
                decode_clustering_key(r.ck, [INT], [False])[0], "big", signed=True
            ): values(r)
            for r in storage.read_partition(T1, tok, pk, now=now)
        }
        assert got == {c: {k: v for k, v in cells.items() if k} for c, cells in expected.items()}


# ---------------------------------------------------------------------------- reads


def fill(store: Storage, partitions: range, rows: range, desc: bool) -> None:
    order = (desc,)
    for p in partitions:
        put(store, p, STATIC_CK, {"s": i32(p)}, ts=10)
        for r in rows:
            put(store, p, ck(r, desc=order), {"v": i32(r)}, ts=10, row_marker=True)


@pytest.mark.parametrize("desc", [False, True])
def test_scan_order_token_then_pk_then_clustering(store: Storage, desc: bool) -> None:
    fill(store, range(20), range(4), desc)
    rows = list(store.scan(T1, now=NOW))
    positions = [(r.token, r.pk, r.ck) for r in rows]
    assert positions == sorted(positions)
    assert len(rows) == 20 * 5
    tokens = [r.token for r in rows if r.ck == STATIC_CK]
    assert tokens == sorted(tokens)
    assert len(tokens) == 20
    first = [r for r in rows if r.pk == rows[0].pk]
    assert first[0].ck == STATIC_CK
    assert first[0].cells["s"].value == rows[0].pk
    numbers = [int.from_bytes(r.cells["v"].value, "big") for r in first[1:]]
    assert numbers == ([3, 2, 1, 0] if desc else [0, 1, 2, 3])


def test_token_order_breaks_ties_by_pk_bytes(store: Storage) -> None:
    # Two partitions forced onto one token: ordered by routing key bytes.
    store.write(T1, 5, b"\x02", STATIC_CK, {"v": b"b"}, timestamp=1, now=NOW)
    store.write(T1, 5, b"\x01\xff", STATIC_CK, {"v": b"a"}, timestamp=1, now=NOW)
    store.write(T1, -5, b"\x09", STATIC_CK, {"v": b"c"}, timestamp=1, now=NOW)
    assert [r.pk for r in store.scan(T1, now=NOW)] == [b"\x09", b"\x01\xff", b"\x02"]


def test_scan_paging_resumes_after_the_last_row(store: Storage) -> None:
    fill(store, range(15), range(3), desc=True)
    everything = list(store.scan(T1, now=NOW))
    pages: list[Row] = []
    after: tuple[int, bytes, bytes] | None = None
    while True:
        page = []
        for row in store.scan(T1, start_after=after, now=NOW):
            page.append(row)
            if len(page) == 7:
                break
        if not page:
            break
        pages += page
        after = (page[-1].token, page[-1].pk, page[-1].ck)
    assert pages == everything


def test_scan_token_range(store: Storage) -> None:
    fill(store, range(30), range(1), desc=False)
    tokens = sorted({r.token for r in store.scan(T1, now=NOW)})
    lo, hi = tokens[5], tokens[20]
    got = {r.token for r in store.scan(T1, token_after=lo, token_until=hi, now=NOW)}
    assert got == set(tokens[6:21])
    assert {r.token for r in store.scan(T1, token_after=hi, now=NOW)} == set(tokens[21:])
    assert {r.token for r in store.scan(T1, token_until=lo, now=NOW)} == set(tokens[:6])


def test_read_partition_ranges_and_reverse(store: Storage) -> None:
    fill(store, range(1), range(10), desc=False)
    tok, pk = pkey(0)
    types, desc = [INT], [False]
    slice_ = clustering_ranges(types, desc, lower=SliceBound([i32(6)], inclusive=True))
    in_list = [r for v in (3, 1, 3) for r in clustering_ranges(types, desc, prefix=[i32(v)])]

    def numbers(rows: Iterator[Row]) -> list[int]:
        return [int.from_bytes(r.cells["v"].value, "big") for r in rows]

    assert numbers(store.read_partition(T1, tok, pk, ranges=slice_, now=NOW)) == [6, 7, 8, 9]
    assert numbers(store.read_partition(T1, tok, pk, ranges=slice_, reverse=True, now=NOW)) == [
        9,
        8,
        7,
        6,
    ]
    assert numbers(store.read_partition(T1, tok, pk, ranges=in_list, now=NOW)) == [1, 3]
    assert numbers(
        store.read_partition(T1, tok, pk, ranges=in_list + slice_, reverse=True, now=NOW)
    ) == [
        9,
        8,
        7,
        6,
        3,
        1,
    ]
    everything = list(store.read_partition(T1, tok, pk, now=NOW))
    assert everything[0].ck == STATIC_CK
    assert list(store.read_partition(T1, tok, pk, reverse=True, now=NOW))[-1].ck == STATIC_CK
    assert list(store.read_partition(T1, tok, pk, ranges=[], now=NOW)) == []


@pytest.mark.parametrize("reverse", [False, True])
def test_read_partition_paging(store: Storage, reverse: bool) -> None:
    fill(store, range(1), range(10), desc=True)
    tok, pk = pkey(0)
    for ranges in (
        None,
        clustering_ranges([INT], [True], upper=SliceBound([i32(7)], inclusive=False)),
    ):
        everything = list(
            store.read_partition(T1, tok, pk, ranges=ranges, reverse=reverse, now=NOW)
        )
        pages: list[Row] = []
        after: bytes | None = None
        while True:
            rows = store.read_partition(
                T1, tok, pk, ranges=ranges, reverse=reverse, start_after=after, now=NOW
            )
            page = list(itertools.islice(rows, 3))
            if not page:
                break
            pages += page
            after = page[-1].ck
        assert pages == everything
        assert len(everything) == (11 if ranges is None else 7)


def test_abandoned_iterator_does_not_block_writes(store: Storage) -> None:
    fill(store, range(5), range(5), desc=False)
    rows = store.scan(T1, now=NOW)
    next(rows)
    del rows
    put(store, 99, ck(1), {"v": b"x"}, ts=1)
    assert get(store, 99, ck(1)) == {"v": b"x"}


def test_unknown_table_reads_nothing(store: Storage) -> None:
    assert list(store.scan(T2, now=NOW)) == []
    assert list(store.read_partition(T2, *pkey(1), now=NOW)) == []
    assert store.read_row(T2, *pkey(1), ck(1), now=NOW) is None


# ---------------------------------------------------------------- counters, tables


def test_counters(store: Storage) -> None:
    tok, pk = pkey(1)
    store.add_counters(T1, tok, pk, STATIC_CK, {"c": 5, "d": -1}, timestamp=10)
    store.add_counters(T1, tok, pk, STATIC_CK, {"c": 2}, timestamp=5)
    row = store.read_row(T1, tok, pk, STATIC_CK, now=NOW)
    assert row is not None
    assert row.cells["c"] == Cell((7).to_bytes(8, "big"), 10, None)
    assert row.cells["d"].value == (-1).to_bytes(8, "big", signed=True)
    store.add_counters(T1, tok, pk, STATIC_CK, {"c": 2**63 - 1}, timestamp=11)
    assert values(store.read_row(T1, tok, pk, STATIC_CK, now=NOW)) == {
        "c": (7 + 2**63 - 1 - 2**64).to_bytes(8, "big", signed=True),
        "d": (-1).to_bytes(8, "big", signed=True),
    }
    store.delete_cells(T1, tok, pk, STATIC_CK, ["d"], timestamp=12)
    store.add_counters(T1, tok, pk, STATIC_CK, {"d": 1}, timestamp=100)  # deleted for good
    assert "d" not in (values(store.read_row(T1, tok, pk, STATIC_CK, now=NOW)) or {})


def test_truncate_and_drop(store: Storage) -> None:
    put(store, 1, ck(1), {"v": b"x"}, ts=10)
    store.write(T2, *pkey(1), ck(1), {"v": b"y"}, timestamp=10, now=NOW)
    store.delete_partition(T1, *pkey(1), timestamp=20)
    store.truncate(T1)
    put(store, 1, ck(1), {"v": b"after"}, ts=5)  # the deletion went with the truncate
    assert get(store, 1, ck(1)) == {"v": b"after"}
    store.drop_table(T1)
    assert list(store.scan(T1, now=NOW)) == []
    assert [values(r) for r in store.scan(T2, now=NOW)] == [{"v": b"y"}]
    store.drop_table(T1)  # unknown: nothing to do
    store.truncate("never-seen")


def test_meta(store: Storage) -> None:
    assert store.get_meta("schema") is None
    store.put_meta("schema", b"{}")
    store.put_meta("schema", b'{"v": 2}')
    assert store.get_meta("schema") == b'{"v": 2}'
    store.delete_meta("schema")
    assert store.get_meta("schema") is None


def test_transaction_commits_or_rolls_back(store: Storage) -> None:
    with store.transaction():
        put(store, 1, ck(1), {"v": b"a"}, ts=10)
        with store.transaction():
            put(store, 1, ck(2), {"v": b"b"}, ts=10)

    def failing_batch() -> None:
        with store.transaction():
            put(store, 1, ck(3), {"v": b"c"}, ts=10)
            store.delete_partition(T1, *pkey(1), timestamp=50)
            store.write(T2, *pkey(1), ck(1), {"v": b"y"}, timestamp=10, now=NOW)
            raise RuntimeError

    with pytest.raises(RuntimeError):
        failing_batch()
    assert get(store, 1, ck(1)) == {"v": b"a"}
    assert get(store, 1, ck(2)) == {"v": b"b"}
    assert get(store, 1, ck(3)) is None
    put(store, 1, ck(4), {"v": b"d"}, ts=10)  # the rolled-back deletion is forgotten
    assert get(store, 1, ck(4)) == {"v": b"d"}
    assert list(store.scan(T2, now=NOW)) == []


# ---------------------------------------------------------------------- durability


def test_durable_across_reopen(tmp_path: Path) -> None:
    data = tmp_path / "data" / DB_FILENAME  # the directory is created
    with Storage(data) as storage:
        fill(storage, range(3), range(3), desc=False)
        storage.delete_rows(T1, *pkey(0), CkRange.row(ck(1)), timestamp=20)
        storage.put_meta("roles", b"cassandra")
        before = list(storage.scan(T1, now=NOW))
    assert data.exists()
    journal = sqlite3.connect(data).execute("PRAGMA journal_mode").fetchone()[0]
    assert journal == "wal"
    with Storage(data) as storage:
        assert list(storage.scan(T1, now=NOW)) == before
        assert storage.get_meta("roles") == b"cassandra"
        put(storage, 0, ck(1), {"v": b"older"}, ts=15)  # the row deletion survived the reopen
        assert get(storage, 0, ck(1)) is None


def test_in_memory_storages_are_separate() -> None:
    with Storage(None) as first, Storage(None) as second:
        put(first, 1, ck(1), {"v": b"x"}, ts=1)
        assert get(first, 1, ck(1)) == {"v": b"x"}
        assert get(second, 1, ck(1)) is None


def test_closed_storage_refuses_calls() -> None:
    storage = Storage(None)
    storage.close()
    storage.close()
    with pytest.raises(StorageError):
        storage.get_meta("x")


def test_newer_storage_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / DB_FILENAME
    Storage(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=99")
    db.close()
    with pytest.raises(StorageError, match="format 99"):
        Storage(str(path))


def test_older_storage_format_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / DB_FILENAME
    Storage(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=1")
    db.close()
    with pytest.raises(StorageError, match="format 1, which this cassflow no longer reads"):
        Storage(str(path))


# ------------------------------------------------------------------ element cells


def _set(*elements: int) -> MultiCellWrite:
    return MultiCellWrite(tuple(set_cell(i32(e), INT) for e in elements))


def _elements(value: bytes) -> list[bytes]:
    return [bytes(e) for e in split_collection(value, DataType.set_of(INT))]


def test_element_cells_reconcile_one_by_one_and_rebuild_in_comparator_order(
    store: Storage,
) -> None:
    tok, pk = pkey(1)
    store.write(T1, tok, pk, ck(1), {}, timestamp=10, now=NOW, multi_cell={"s": _set(300, -5)})
    store.write(T1, tok, pk, ck(1), {}, timestamp=5, now=NOW, multi_cell={"s": _set(7)})
    row = store.read_row(T1, tok, pk, ck(1), now=NOW)
    assert row is not None
    assert _elements(row.cells["s"].value) == [i32(-5), i32(7), i32(300)]
    assert row.cells["s"].timestamp == 10
    # A complex deletion at 9 removes what is older, and drops older writes that come later.
    deletion = MultiCellWrite((), 9)
    store.write(T1, tok, pk, ck(1), {}, timestamp=10, now=NOW, multi_cell={"s": deletion})
    store.write(T1, tok, pk, ck(1), {}, timestamp=8, now=NOW, multi_cell={"s": _set(1)})
    row = store.read_row(T1, tok, pk, ck(1), now=NOW)
    assert row is not None
    assert _elements(row.cells["s"].value) == [i32(-5), i32(300)]
    tombstone = MultiCellWrite(((set_cell(i32(300), INT)[0], None),))
    store.write(T1, tok, pk, ck(1), {}, timestamp=10, now=NOW, multi_cell={"s": tombstone})
    paths = store.read_elements(T1, tok, pk, ck(1), "s", now=NOW)
    assert [value for _, value in paths] == [i32(-5)]


def test_expired_elements_leave_the_collection_and_then_the_row(store: Storage) -> None:
    tok, pk = pkey(1)
    store.write(T1, tok, pk, ck(1), {}, timestamp=10, now=NOW, multi_cell={"s": _set(1)})
    store.write(T1, tok, pk, ck(1), {}, timestamp=10, ttl=5, now=NOW, multi_cell={"s": _set(2)})
    row = store.read_row(T1, tok, pk, ck(1), now=NOW + 4)
    assert row is not None
    assert _elements(row.cells["s"].value) == [i32(1), i32(2)]
    row = store.read_row(T1, tok, pk, ck(1), now=NOW + 5)
    assert row is not None
    assert _elements(row.cells["s"].value) == [i32(1)]
    store.write(T1, tok, pk, ck(2), {}, timestamp=10, ttl=5, now=NOW, multi_cell={"s": _set(3)})
    assert [r.ck for r in store.read_partition(T1, tok, pk, now=NOW + 5)] == [ck(1)]
    assert [r.ck for r in store.read_partition(T1, tok, pk, now=NOW)] == [ck(1), ck(2)]


def test_element_order_holds_when_reading_backwards_and_scanning(store: Storage) -> None:
    tok, pk = pkey(1)
    for c in (1, 2):
        store.write(
            T1, tok, pk, ck(c), {"v": i32(c)}, timestamp=10, now=NOW, multi_cell={"s": _set(9, 1)}
        )
    backwards = list(store.read_partition(T1, tok, pk, reverse=True, now=NOW))
    assert [r.ck for r in backwards] == [ck(2), ck(1)]
    assert all(_elements(r.cells["s"].value) == [i32(1), i32(9)] for r in backwards)
    scanned = list(store.scan_values(T1, now=NOW))
    assert [_elements(cells["s"]) for *_, cells in scanned] == [[i32(1), i32(9)]] * 2
    assert [cells["v"] for *_, cells in scanned] == [i32(1), i32(2)]


def test_columns_whose_names_share_a_prefix_keep_their_own_elements(store: Storage) -> None:
    tok, pk = pkey(1)
    both = {"s": _set(1), "s2": _set(2)}
    store.write(T1, tok, pk, ck(1), {"s1": i32(7)}, timestamp=10, now=NOW, multi_cell=both)
    deletion = {"s": MultiCellWrite((), 10)}
    store.write(T1, tok, pk, ck(1), {}, timestamp=10, now=NOW, multi_cell=deletion)
    row = store.read_row(T1, tok, pk, ck(1), now=NOW)
    assert row is not None
    assert set(row.cells) == {"s1", "s2"}
    assert _elements(row.cells["s2"].value) == [i32(2)]
    assert store.read_elements(T1, tok, pk, ck(1), "s", now=NOW) == []
