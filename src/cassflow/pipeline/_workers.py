"""A copy activity's worker processes: whether to use them, and how each builds its parts.

:class:`~cassflow.copy._processes.ProcessSlices` starts the processes; this module gives it
the ``build`` function each runs once: it opens the activity's connections, source and
prepared sink from the same specs the run's process used (secrets are resolved in the worker,
at the last moment, as in the run's process). An embedded dev server lives in the run's
process: workers connect to it by its address.

``processes: auto`` (the default) uses worker processes where they measured faster
(``bench/workers.py``): loads of at least :data:`AUTO_MIN_BYTES` of files into a Cassandra
table, one process per core up to :data:`AUTO_MAX_PROCESSES`. Unloads, small loads and other
sources run in threads: there processes cost more (start-up, a connection each) than they
bring.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from cassflow.access._identity import TaskIdentity, install_identity_filter, set_process_identity
from cassflow.copy._files import FileSource
from cassflow.copy._mapping import ColumnMap
from cassflow.copy._model import Source
from cassflow.copy._processes import ProcessSlices, WorkerParts
from cassflow.copy._quarantine import Quarantine
from cassflow.copy._runner import CopyOptions
from cassflow.copy._server_warnings import DRIVER_LOGGER, RepeatedServerWarnings, quiet_negotiation
from cassflow.copy._throttle import AimdThrottle
from cassflow.observe import SinkEventRecorder, SinkObserver
from cassflow.pipeline._build import Connections, DatasetFactory
from cassflow.pipeline._spec import ConnectionSpec, CopySpec, DatasetSpec, TableDatasetSpec

__all__ = [
    "AUTO_MAX_PROCESSES",
    "AUTO_MIN_BYTES",
    "WorkerPayload",
    "process_slices",
    "processes_for",
]

#: Input below this stays in threads under ``processes: auto``.
AUTO_MIN_BYTES = 32 * 2**20
#: At most this many worker processes under ``processes: auto``.
AUTO_MAX_PROCESSES = 8


def processes_for(spec: CopySpec, source: Source, target: DatasetSpec) -> int:
    """Worker processes for a copy activity: 1 means threads in the run's process."""
    if spec.processes != "auto":
        return spec.processes
    if not isinstance(target, TableDatasetSpec) or not isinstance(source, FileSource):
        return 1
    if source.input_bytes() < AUTO_MIN_BYTES:
        return 1
    return max(1, min(os.cpu_count() or 1, AUTO_MAX_PROCESSES))


@dataclass(frozen=True, slots=True)
class WorkerPayload:
    """What a worker process needs to build its parts (pickled to it)."""

    connections: Mapping[str, ConnectionSpec]
    source: DatasetSpec
    target: DatasetSpec
    copy: CopySpec
    options: CopyOptions
    base_dir: str
    state_dir: str
    #: The copy's run id (``<run>/<activity>``): where its quarantine files go.
    run_key: str
    application_name: str
    #: Worker processes at most (fewer when there are fewer slices to do).
    processes: int
    #: The activity's identity: the workers' sessions and log lines carry it.
    identity: TaskIdentity | None = None


def process_slices(
    payload: WorkerPayload, embedded: Mapping[str, tuple[str, int]], observer: SinkObserver | None
) -> ProcessSlices:
    """The worker processes of one copy activity. ``embedded`` maps the names of connections
    served by an embedded dev server (in this process) to its address."""
    specs = dict(payload.connections)
    for name, (host, port) in embedded.items():
        # Workers reach the run's embedded server; v5, as the run's process speaks to it.
        specs[name] = specs[name].model_copy(
            update={"hosts": [host], "port": port, "protocol_version": 5}
        )
    payload = dataclasses.replace(payload, connections=specs)
    return ProcessSlices(partial(build_worker_parts, payload), payload.processes, observer=observer)


def build_worker_parts(payload: WorkerPayload, workers: int) -> WorkerParts:
    """In a worker process, one of ``workers``: open the connections, the source and the
    prepared sink."""
    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s [%(identity)s] %(name)s: %(message)s"
    )
    install_identity_filter()
    if payload.identity is not None:
        set_process_identity(payload.identity)
    logging.getLogger("cassandra.cluster").addFilter(quiet_negotiation)
    logging.getLogger(DRIVER_LOGGER).addFilter(RepeatedServerWarnings())
    connections = Connections(
        dict(payload.connections),
        state_dir=Path(payload.state_dir),
        application_name=payload.application_name,
        identity=payload.identity,
    )
    try:
        factory = DatasetFactory(connections, Path(payload.base_dir))
        throttle = _share(payload.copy, workers)
        source = factory.source(payload.source)
        sink = factory.sink(payload.target, throttle)
        recorder = SinkEventRecorder()
        observe = getattr(sink, "observe", None)
        if observe is not None:
            observe(recorder)
        columns = ColumnMap(source.fields(), payload.options.columns)
        sink.prepare(columns.fields, payload.options.drift)
    except BaseException:
        connections.close()
        raise

    def close() -> None:
        source.close()
        sink.close()
        connections.close()

    return WorkerParts(
        source=source,
        sink=sink,
        columns=columns,
        quarantine=Quarantine(Path(payload.state_dir) / "quarantine", payload.run_key),
        throttle=throttle,
        recorder=recorder,
        close=close,
    )


def _share(spec: CopySpec, processes: int) -> AimdThrottle:
    """One worker's part of the activity's throttle: concurrency and rate cap divided."""
    rate = spec.max_rows_per_second
    return AimdThrottle(
        initial_concurrency=max(1, spec.concurrency // processes),
        max_concurrency=max(1, max(spec.max_concurrency, spec.concurrency) // processes),
        max_rows_per_second=None if rate is None else rate / processes,
        latency_rise=spec.latency_rise,
    )
