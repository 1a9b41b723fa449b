"""The run-time helpers of :class:`~cassflow.airflow.CassandraCopyOperator`: rendered
settings, the failure message, and stopping a copy when Airflow kills the task.

Stopping. Airflow 3 calls ``on_kill()`` from the task process's SIGTERM handler (the task was
marked failed or cleared in the UI) and lets the process run on until its grace period ends in
a SIGKILL. The copy runs in this process's threads, and the pipeline runner has no stop call
of its own; what it does have is a progress callback that every slice's thread calls after
each chunk it wrote. :class:`KillSwitch` is that callback: once set, the next call raises
:class:`TaskKilledError`, a terminal error, so the copy run stops every slice at its next
chunk (a running slice's chunk in hand is still written: writes are idempotent, and the slice
is not marked done) and starts no other. The run's report then says the copy failed, and the
next try of the task instance resumes it. A process killed before that loses nothing either:
each slice's checkpoint is one committed transaction.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cassflow.copy._model import CopyError
from cassflow.copy._runner import Progress
from cassflow.pipeline._run import ActivityOutcome
from cassflow.pipeline._spec import CheckpointsSpec


class TaskKilledError(CopyError):
    """Airflow killed the task while its copy ran."""


class KillSwitch:
    """Set by ``on_kill()``; raises in the copy's progress callback once set."""

    def __init__(self) -> None:
        self._killed = threading.Event()

    def kill(self) -> None:
        """Stop the copy at the next chunk of each slice (safe from a signal handler)."""
        self._killed.set()

    @property
    def killed(self) -> bool:
        """Whether :meth:`kill` was called."""
        return self._killed.is_set()

    def progress(self, _activity: str) -> Callable[[Progress], None]:
        """The pipeline runner's progress factory."""
        return self._check

    def _check(self, _progress: Progress) -> None:
        if self._killed.is_set():
            raise TaskKilledError("Airflow killed the task: the copy stopped")


def rendered_options(value: Any) -> dict[str, Any]:
    """``copy_options`` after rendering: a dict, or a template that rendered to JSON text
    (a DAG without ``render_template_as_native_obj``)."""
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError(
                f"copy_options: rendered to {value[:80]!r}, not a dict or JSON object"
            ) from None
    if not isinstance(value, Mapping):
        raise ValueError(f"copy_options: expected a dict, not {type(value).__name__}")
    return dict(value)


def failure_message(
    outcome: ActivityOutcome, run_id: str, state_dir: Path, checkpoints: CheckpointsSpec | None
) -> str:
    """What failed, how far the copy got, and what resumes it."""
    what = outcome.message or outcome.status
    report = outcome.report
    done = ""
    if report is not None:
        done = f" ({report.slices.get('done', 0)} of {sum(report.slices.values())} slices done)"
    where = (
        f"table {checkpoints.table} of connection {checkpoints.connection}"
        if checkpoints is not None
        else str(state_dir / "checkpoints.sqlite3")
    )
    return (
        f"copy {outcome.name} failed{done}: {what}. The task's next try (or clearing the task) "
        f"resumes checkpoint run {run_id} ({where}): done slices are skipped"
    )
