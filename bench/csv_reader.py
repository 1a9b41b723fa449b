"""Rows per second of cassflow's CSV reader, next to Python's C ``csv`` module (what cqlsh uses).

Run by hand: ``.venv/bin/python bench/csv_reader.py [--rows 1000000]``.

Each input is generated in memory (``--rows`` rows of 8 fields plus a header) and read from a
``BytesIO`` start to end; a figure is the best of ``--repeat`` runs. Inputs:

* ``plain``: 8 short unquoted fields (ints, words, a decimal, a date) — the common case;
* ``quoted``: the same with two text fields always quoted, one holding a comma;
* ``mixed``: one row in ten quoted (the token path and the split path alternate);
* ``nulls``: every other row has two empty (null) fields.

The ``csv module`` row decodes the same bytes with ``io.TextIOWrapper`` and iterates
``csv.reader`` (no null handling, no line numbers, no checks), as ``cqlsh COPY FROM`` parses.
"""

from __future__ import annotations

import argparse
import csv
import io
import time
from collections.abc import Callable

from cassflow.copy._csv import CsvReader


def _plain(i: int) -> str:
    return f"{i},{i * 7 % 1000},name{i % 97},{i * 3.25:.2f},2024-01-{i % 28 + 1:02d},true,x,{i}\n"


def _quoted(i: int) -> str:
    return f'{i},{i * 7 % 1000},"name {i % 97}","a, b",2024-01-{i % 28 + 1:02d},true,x,{i}\n'


def _mixed(i: int) -> str:
    return _quoted(i) if i % 10 == 0 else _plain(i)


def _nulls(i: int) -> str:
    return f"{i},,name{i % 97},,2024-01-{i % 28 + 1:02d},true,x,{i}\n" if i % 2 else _plain(i)


def _data(rows: int, make: Callable[[int], str]) -> bytes:
    header = "id,qty,name,price,day,flag,tag,n\n"
    return (header + "".join(make(i) for i in range(rows))).encode()


def _ours(data: bytes) -> int:
    count = 0
    for batch in CsvReader(io.BytesIO(data), "bench.csv").batches():
        count += len(batch.rows)
    return count


def _csv_module(data: bytes) -> int:
    text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline="")
    reader = csv.reader(text)
    next(reader)
    return sum(1 for _ in reader)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{args.rows:,} rows x 8 fields; best of {args.repeat}")
    print(f"{'input':<8} {'reader':<12} {'MB':>7} {'s':>7} {'MB/s':>7} {'rows/s':>10}")
    for name, make in (
        ("plain", _plain),
        ("quoted", _quoted),
        ("mixed", _mixed),
        ("nulls", _nulls),
    ):
        data = _data(args.rows, make)
        for label, read in (("cassflow", _ours), ("csv module", _csv_module)):
            best = float("inf")
            for _ in range(args.repeat):
                started = time.perf_counter()
                count = read(data)
                best = min(best, time.perf_counter() - started)
            assert count == args.rows, (label, count)
            mb = len(data) / 1e6
            print(
                f"{name:<8} {label:<12} {mb:7.1f} {best:7.2f} {mb / best:7.1f} "
                f"{args.rows / best:10,.0f}"
            )


if __name__ == "__main__":
    main()
