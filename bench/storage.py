"""Rows per second of the dev server's storage layer (``_storage.py`` + ``_keycodec.py``).

What is measured
----------------
Everything runs in-process on a file-backed :class:`Storage` (WAL, ``synchronous=NORMAL``) in a
temporary data directory, with ``--rows`` rows (100,000 by default, the size of the acceptance
test). Each figure is one timed pass (``time.perf_counter``), garbage collector left on.

* ``write, 1 row/commit``: what an INSERT through the driver costs the storage: the executor's
  key work (:func:`partition_key`, :func:`token`, :func:`clustering_key` of already serialized
  values) plus one :meth:`Storage.write` of three cells and the row marker, each write its own
  SQLite transaction. Two table shapes: ``pk only`` (one row per partition) and ``pk + ck``
  (partitions of 100 rows, the clustering column DESC).
* ``write, 1 row/commit, keys ready``: the same writes with keys computed beforehand: the
  storage alone.
* ``write, 1,000 rows/commit``: the same inside :meth:`Storage.transaction` (a BATCH).
* ``scan``: :meth:`Storage.scan` over the whole table, every row materialized as a ``Row``;
  ``scan, paged by 5,000``: the same through ``start_after``, the way driver paging arrives.
* ``read_partition``: every partition of the ``pk + ck`` table read whole.
* ``read_row``: point reads of every row.

Run ``.venv/bin/python bench/storage.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from cassflow.devserver._keycodec import STATIC_CK, clustering_key, partition_key, token
from cassflow.devserver._storage import DB_FILENAME, Row, Storage
from cassflow.protocol import DataType, TypeCode

INT = DataType(TypeCode.INT)
TABLE = "00000000-0000-4000-8000-0000000000aa"
ROWS_PER_PARTITION = 100


def timed(label: str, count: int, work: Callable[[], object]) -> None:
    start = time.perf_counter()
    work()
    elapsed = time.perf_counter() - start
    print(f"  {label:<42} {count / elapsed:>12,.0f} rows/s  ({elapsed:.2f} s)")


def paged(storage: Storage, page: int) -> Iterator[Row]:
    after: tuple[int, bytes, bytes] | None = None
    while True:
        rows = list(itertools.islice(storage.scan(TABLE, start_after=after), page))
        yield from rows
        if len(rows) < page:
            return
        after = (rows[-1].token, rows[-1].pk, rows[-1].ck)


def run(rows: int, clustered: bool) -> None:
    shape = "pk + ck (100 rows/partition, DESC)" if clustered else "pk only"
    print(f"{shape}, {rows:,} rows")
    text = b"some text value of moderate size"
    double = (1.5).hex().encode()[:8]
    # Serialized (pk, ck) values, as the executor receives them from bound statements.
    if clustered:
        keys = [
            (INT.serialize(n // ROWS_PER_PARTITION, 4), INT.serialize(n % ROWS_PER_PARTITION, 4))
            for n in range(rows)
        ]
    else:
        keys = [(INT.serialize(n, 4), None) for n in range(rows)]
    assert all(k is not None for k, _ in keys)

    def encode(pk_value: bytes | None, ck_value: bytes | None) -> tuple[int, bytes, bytes]:
        assert pk_value is not None
        pk = partition_key([pk_value])
        ck = STATIC_CK if ck_value is None else clustering_key([ck_value], [INT], [True])
        return token(pk), pk, ck

    with tempfile.TemporaryDirectory() as data:
        storage = Storage(Path(data) / DB_FILENAME)

        def write_encoding() -> None:
            for ts, (pk_value, ck_value) in enumerate(keys):
                tok, pk, ck = encode(pk_value, ck_value)
                cells = {"a": text, "b": pk_value, "c": double}
                storage.write(TABLE, tok, pk, ck, cells, timestamp=ts, row_marker=True)

        timed("write, 1 row/commit", rows, write_encoding)
        encoded = [encode(p, c) for p, c in keys]

        def write_ready() -> None:
            for ts, (tok, pk, ck) in enumerate(encoded, rows):
                cells = {"a": text, "b": pk, "c": double}
                storage.write(TABLE, tok, pk, ck, cells, timestamp=ts, row_marker=True)

        timed("write, 1 row/commit, keys ready", rows, write_ready)

        def write_batched() -> None:
            for start in range(0, rows, 1000):
                with storage.transaction():
                    for ts, (tok, pk, ck) in enumerate(encoded[start : start + 1000], 2 * rows):
                        cells = {"a": text, "b": pk, "c": double}
                        storage.write(TABLE, tok, pk, ck, cells, timestamp=ts, row_marker=True)

        timed("write, 1,000 rows/commit", rows, write_batched)
        storage.close()
        storage = Storage(Path(data) / DB_FILENAME)  # cold start: the page cache is empty again

        def scan() -> None:
            assert sum(1 for _ in storage.scan(TABLE)) == rows

        timed("scan", rows, scan)
        timed("scan, paged by 5,000", rows, lambda: sum(1 for _ in paged(storage, 5000)))
        if clustered:
            partitions = sorted({(tok, pk) for tok, pk, _ in encoded})

            def read_partitions() -> None:
                total = sum(
                    1 for tok, pk in partitions for _ in storage.read_partition(TABLE, tok, pk)
                )
                assert total == rows

            timed("read_partition", rows, read_partitions)

        def read_rows() -> None:
            for tok, pk, ck in encoded:
                assert storage.read_row(TABLE, tok, pk, ck) is not None

        timed("read_row", rows, read_rows)
        storage.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows per table shape")
    args = parser.parse_args()
    for clustered in (False, True):
        run(args.rows, clustered)


if __name__ == "__main__":
    main()
