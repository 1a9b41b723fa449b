"""The post-copy check (``verify: true``): read source and target back and compare.

Both sides are read in full. For each, the rows are counted and an order-independent checksum
is summed over the key columns (the target's partition key columns; every column when the
target has no key): 64 bits of BLAKE2b per row of values in the target's text form, so that
``"7"`` from a CSV and ``7`` from a table count as the same key. Records the copy quarantined
do not take part: they fail to parse or convert again on the source side. A mismatch is
reported with both counts; duplicate keys in the source (collapsed by upserts) and rows the
target held before the copy are the usual reasons.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cassflow.copy._convert import to_cql, to_text
from cassflow.copy._model import ConversionError, Field, Source
from cassflow.copy._report import RunReport
from cassflow.pipeline._build import DatasetFactory
from cassflow.pipeline._spec import DatasetSpec, FileDatasetSpec

_MASK = (1 << 64) - 1


def _normalizers(
    reference: Sequence[Field], keys: Sequence[str]
) -> list[Callable[[Any], str | None]]:
    """Per key column: any side's value -> its text form in the reference field's type."""
    by_name = {f.name: f for f in reference}
    result: list[Callable[[Any], str | None]] = []
    for name in keys:
        cql_type = by_name[name].cql_type
        text = to_text(cql_type)
        result.append(text if cql_type is None else _through(to_cql(cql_type), text))
    return result


def _through(
    convert: Callable[[Any], Any], text: Callable[[Any], str | None]
) -> Callable[[Any], str | None]:
    def normalize(value: Any) -> str | None:
        return text(convert(value))

    return normalize


def _quarantined(report: RunReport) -> frozenset[str]:
    """The source positions the copy quarantined (they are not expected in the target)."""
    positions: set[str] = set()
    for name in report.quarantine_files:
        with open(name, encoding="utf-8") as entries:
            positions.update(json.loads(line)["source"] for line in entries if line.strip())
    return frozenset(positions)


def _scan(
    source: Source,
    keys: Sequence[str],
    normalize: list[Callable[[Any], str | None]],
    skip: frozenset[str] = frozenset(),
) -> tuple[int, int]:
    rows = checksum = 0
    for _slice_id, spec in source.plan(16):
        for chunk in source.read(spec):
            indexes = [chunk.columns.index(k) for k in keys]
            for number, row in enumerate(chunk.rows):
                if skip and chunk.position(number) in skip:
                    continue
                try:
                    values = [f(row[i]) for f, i in zip(normalize, indexes, strict=True)]
                except ConversionError:
                    continue  # a record the copy could not convert either
                digest = hashlib.blake2b(repr(values).encode(), digest_size=8).digest()
                checksum = (checksum + int.from_bytes(digest, "big")) & _MASK
                rows += 1
    return rows, checksum


def verify_copy(
    factory: DatasetFactory,
    source_spec: DatasetSpec,
    target_spec: DatasetSpec,
    report: RunReport,
    columns: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Compare source and target after a copy; the result goes into the run report.

    ``columns`` is the copy's mapping (target name -> source name). Values are compared in
    the types of the table side (the target's, or the source's when the target is files).
    """
    source = factory.source(source_spec)
    target = factory.source(target_spec)
    try:
        target_fields = target.fields()
        rename = dict(columns or {})
        source_names = {f.name for f in source.fields()}
        common = [f for f in target_fields if rename.get(f.name, f.name) in source_names]
        keys = [f.name for f in common if f.key] or [f.name for f in common]
        source_keys = [rename.get(k, k) for k in keys]
        if isinstance(target_spec, FileDatasetSpec):
            by_source = {f.name: f for f in source.fields()}
            reference = [dataclasses.replace(by_source[rename.get(k, k)], name=k) for k in keys]
        else:
            reference = list(target_fields)
        normalize = _normalizers(reference, keys)
        source_rows, source_sum = _scan(source, source_keys, normalize, _quarantined(report))
        target_rows, target_sum = _scan(target, keys, normalize)
    finally:
        source.close()
        target.close()
    ok = source_rows == target_rows and source_sum == target_sum
    result: dict[str, Any] = {
        "ok": ok,
        "key_columns": keys,
        "source_rows": source_rows,
        "target_rows": target_rows,
        "written": report.counts.written,
        "source_checksum": f"{source_sum:016x}",
        "target_checksum": f"{target_sum:016x}",
    }
    if not ok:
        result["problem"] = (
            f"source has {source_rows} rows, target {target_rows}; key checksums "
            f"{result['source_checksum']} vs {result['target_checksum']} (duplicate keys in the "
            "source, or rows the target held before, make them differ)"
        )
    return result


def verify_report(
    factory: DatasetFactory,
    source_spec: DatasetSpec,
    target_spec: DatasetSpec,
    report: RunReport,
    columns: Mapping[str, str] | None = None,
) -> None:
    """:func:`verify_copy`, its result put into ``report`` (and a mismatch made its failure)."""
    report.verification = verify_copy(factory, source_spec, target_spec, report, columns)
    if not report.verification.get("ok", False):
        report.failure = "verification failed: " + str(report.verification.get("problem"))
