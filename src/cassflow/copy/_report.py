"""The run report: what a copy did, adding up exactly, as JSON and as a human summary.

``read = written + quarantined + skipped`` holds for every slice and for the whole run; the
report refuses to exist otherwise. Dataset locations are shown with any password in a URL
replaced by ``***`` (``postgresql://loader:***@db/shop``), so a report can be shared.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from cassflow.copy._checkpoint import CheckpointError, SliceCounts, SliceRecord, SliceState
from cassflow.copy._throttle import ThrottleStats

_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)[^@/\s]*(?=@)")


def redact(location: str) -> str:
    """``scheme://user:password@host/...`` with the password replaced by ``***``."""
    return _URL_PASSWORD.sub(r"\g<head>***", location)


@dataclass(slots=True)
class RunReport:
    """The totals of one copy activity's run."""

    run_id: str
    activity: str
    source: str
    target: str
    seconds: float = 0.0
    counts: SliceCounts = field(default_factory=SliceCounts)
    slices: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    throttle: ThrottleStats = field(default_factory=ThrottleStats)
    quarantine_files: list[str] = field(default_factory=list)
    #: Why the run stopped before every slice was done (None when nothing failed).
    failure: str | None = None
    #: Schema drift found before writing: extra / missing / added field names.
    drift: dict[str, list[str]] = field(default_factory=dict)
    #: The post-copy check (``verify: true``): counts and key checksums, and ``ok``.
    verification: dict[str, Any] | None = None
    #: Slices an earlier attempt of this run had finished: skipped, never read again.
    resumed_slices: int = 0
    #: Slices this invocation worked on (read, and wrote or quarantined).
    slices_run: int = 0

    def __post_init__(self) -> None:
        self.source = redact(self.source)
        self.target = redact(self.target)

    def add_slices(self, records: list[SliceRecord]) -> None:
        """Fold the checkpoint store's slice records into the totals."""
        read = written = quarantined = skipped = 0
        states: dict[str, int] = {}
        for record in records:
            states[record.state.value] = states.get(record.state.value, 0) + 1
            if record.state is SliceState.DONE:
                read += record.counts.read
                written += record.counts.written
                quarantined += record.counts.quarantined
                skipped += record.counts.skipped
        self.slices = states
        self.counts = SliceCounts(
            read=read, written=written, quarantined=quarantined, skipped=skipped
        )

    @property
    def complete(self) -> bool:
        """Whether every slice is done."""
        return set(self.slices) <= {SliceState.DONE.value}

    @property
    def ok(self) -> bool:
        """Whether every slice is done and nothing failed (the error budget held)."""
        return self.complete and self.failure is None

    @property
    def rows_per_second(self) -> float:
        """Written rows per second of run time."""
        return self.counts.written / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-able data."""
        if self.counts.read != self.counts.written + self.counts.quarantined + self.counts.skipped:
            raise CheckpointError("the report does not add up")  # SliceCounts prevents it
        return {
            "run_id": self.run_id,
            "activity": self.activity,
            "source": self.source,
            "target": self.target,
            "complete": self.complete,
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "rows": {
                "read": self.counts.read,
                "written": self.counts.written,
                "quarantined": self.counts.quarantined,
                "skipped": self.counts.skipped,
            },
            "rows_per_second": round(self.rows_per_second, 1),
            "slices": dict(sorted(self.slices.items())),
            "resumed_slices": self.resumed_slices,
            "slices_run": self.slices_run,
            "retries": self.retries,
            "errors": dict(sorted(self.errors.items())),
            "throttle": {
                "decreases": self.throttle.decreases,
                "increases": self.throttle.increases,
                "rate_waits": self.throttle.rate_waits,
                "waited_seconds": round(self.throttle.waited_seconds, 3),
            },
            "quarantine_files": list(self.quarantine_files),
            "failure": self.failure,
            "drift": dict(self.drift),
            "verification": self.verification,
        }

    def dumps(self) -> str:
        """The JSON report as text."""
        return json.dumps(self.to_json(), indent=2, sort_keys=False)

    def summary(self) -> str:
        """A few lines for a terminal, in the spirit of dsbulk's final table."""
        c = self.counts
        if self.ok:
            status = "completed"
        elif self.complete:
            status = "FAILED"
        else:
            status = f"INCOMPLETE (resume with --resume {self.run_id})"
        rate = f"{self.rows_per_second:,.0f} rows/s"
        lines = [
            f"{self.activity} {status}: {self.source} -> {self.target}",
            f"  read {c.read:,}  written {c.written:,}  quarantined {c.quarantined:,}"
            f"  skipped {c.skipped:,}  in {self.seconds:.1f} s ({rate})",
            "  slices " + ", ".join(f"{n} {s}" for s, n in sorted(self.slices.items())),
        ]
        if self.resumed_slices:
            lines.append(
                f"  resumed: {self.resumed_slices} slices already done, {self.slices_run} run now"
            )
        if self.retries or self.errors:
            errors = ", ".join(f"{name} x{n}" for name, n in sorted(self.errors.items()))
            lines.append(f"  retries {self.retries}" + (f" ({errors})" if errors else ""))
        if self.throttle.decreases or self.throttle.rate_waits:
            lines.append(
                f"  throttled: {self.throttle.decreases} backoffs, "
                f"{self.throttle.rate_waits} rate waits ({self.throttle.waited_seconds:.1f} s)"
            )
        for kind, names in sorted(self.drift.items()):
            lines.append(f"  schema drift, {kind}: {', '.join(names)}")
        if self.quarantine_files:
            lines.append("  quarantine: " + ", ".join(self.quarantine_files))
        if self.verification is not None:
            verdict = "ok" if self.verification.get("ok") else "MISMATCH"
            lines.append(
                f"  verified: {verdict} (target rows {self.verification.get('target_rows')})"
            )
        if self.failure:
            lines.append(f"  failed: {self.failure}")
        return "\n".join(lines)
