"""``cassflow run`` and ``cassflow copy``: argument parsing and display only."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from cassflow.cli._app import app

if TYPE_CHECKING:
    from cassflow.copy._runner import Progress as CopyProgress
    from cassflow.pipeline import PipelineSpec
    from cassflow.pipeline._run import PipelineReport

StateDir = Annotated[
    Path,
    typer.Option(
        "--state-dir", help="Where checkpoints, quarantine files, reports and dev data live."
    ),
]
Resume = Annotated[
    str | None,
    typer.Option(
        "--resume", metavar="RUN_ID", help="Resume this earlier run: redo only what it left."
    ),
]
MetricsPort = Annotated[
    int | None,
    typer.Option(
        "--metrics-port", help="Serve Prometheus metrics on 127.0.0.1:PORT while running."
    ),
]
Pushgateway = Annotated[
    str | None,
    typer.Option(
        "--pushgateway", help="Push the metrics to this Pushgateway (host:port) at the end."
    ),
]
ReportFile = Annotated[
    Path | None, typer.Option("--report", help="Also write the JSON report to this file.")
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar, only the summary.")]


def _key_values(items: list[str], option: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected key=value, got {item!r}", param_hint=option)
        lowered = value.lower()
        result[key] = True if lowered == "true" else False if lowered == "false" else _number(value)
    return result


def _whole(value: str, option: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise typer.BadParameter(
            f"expected a number or 'auto', got {value!r}", param_hint=option
        ) from None


def _number(value: str) -> Any:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def _checkpoints(url: str, connections: dict[str, Any]) -> dict[str, Any]:
    """The ``checkpoints:`` of ``--checkpoints cassandra://<connection>/<keyspace>.<table>``
    (the connection is found or implied as for a dataset URL)."""
    from cassflow.copy._model import CopyError
    from cassflow.pipeline._spec import TableDatasetSpec
    from cassflow.pipeline._urls import dataset_from_url

    # Only cassandra:// is parsed: any other URL (which may hold a password) is not echoed.
    if not url.lower().startswith("cassandra://"):
        raise CopyError("--checkpoints: expected cassandra://<connection>/<keyspace>.<table>")
    table = dataset_from_url(url, connections=connections)
    assert isinstance(table, TableDatasetSpec)
    return {"connection": table.connection, "keyspace": table.keyspace, "table": table.table}


def _progress_factory(console: Console) -> tuple[Any, Callable[[str], Any]]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    display = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("slices  {task.fields[rows]:,} rows  {task.fields[rate]:,.0f} rows/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )

    def make(activity: str) -> Callable[[CopyProgress], None]:
        task = display.add_task(activity, total=None, rows=0, rate=0.0)

        def update(progress: CopyProgress) -> None:
            elapsed = display.tasks[task].elapsed or 0.0
            display.update(
                task,
                total=progress.slices_total,
                completed=progress.slices_done,
                rows=progress.rows_written,
                rate=progress.rows_written / elapsed if elapsed > 0 else 0.0,
            )

        return update

    return display, make


def _execute(
    spec: PipelineSpec,
    *,
    base_dir: Path,
    state_dir: Path,
    resume: str | None,
    metrics_port: int | None,
    pushgateway: str | None,
    report_file: Path | None,
    quiet: bool,
) -> None:
    from contextlib import nullcontext

    from cassflow.access._identity import install_identity_filter
    from cassflow.copy._model import CopyError
    from cassflow.copy._server_warnings import (
        DRIVER_LOGGER,
        RepeatedServerWarnings,
        quiet_negotiation,
    )
    from cassflow.observe import CopyMetrics
    from cassflow.pipeline._run import PipelineRunner

    # Every line names the task it comes from: pipeline, activity, run (or the Airflow task).
    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s [%(identity)s] %(name)s: %(message)s"
    )
    install_identity_filter()
    logging.getLogger("cassandra.cluster").addFilter(quiet_negotiation)
    server_warnings = RepeatedServerWarnings()
    logging.getLogger(DRIVER_LOGGER).addFilter(server_warnings)
    console = Console(stderr=True)
    metrics = CopyMetrics()
    if metrics_port is not None:
        port = metrics.serve(metrics_port)
        console.print(f"metrics on http://127.0.0.1:{port}/metrics")
    show = not quiet and console.is_terminal
    display, progress = _progress_factory(console) if show else (None, None)
    try:
        runner = PipelineRunner(
            spec,
            base_dir=base_dir,
            state_dir=state_dir,
            run_id=resume,
            resume=resume is not None,
            metrics=metrics,
            progress=progress,
        )
        console.print(f"{spec.name}: run {runner.run_id}", markup=False, highlight=False)
        with display if display is not None else nullcontext():
            report = runner.run()
    except CopyError as exc:
        console.print(f"error: {exc}", markup=False)
        raise typer.Exit(code=2) from None
    finally:
        held_back = server_warnings.summary()
        if held_back is not None:
            logging.getLogger(DRIVER_LOGGER).warning("%s", held_back)
    _finish(report, metrics, pushgateway, report_file)


def _finish(
    report: PipelineReport, metrics: Any, pushgateway: str | None, report_file: Path | None
) -> None:
    typer.echo(report.summary())
    if report_file is not None:
        report_file.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    if pushgateway:
        metrics.push(pushgateway, job=f"cassflow_{report.pipeline}")
    if not report.ok:
        raise typer.Exit(code=1)


@app.command()
def run(
    pipeline: Annotated[Path, typer.Argument(help="The pipeline YAML file.")],
    resume: Resume = None,
    state_dir: StateDir = Path(".cassflow"),
    metrics_port: MetricsPort = None,
    pushgateway: Pushgateway = None,
    report: ReportFile = None,
    quiet: Quiet = False,
) -> None:
    """Run a pipeline file: its copy, cql and wait activities in dependency order.

    Connections without hosts use an embedded dev server. A failed or interrupted run prints
    its run id; run the same command with --resume RUN_ID to finish it without redoing what
    was done.

    Example: cassflow run examples/quickstart/pipeline.yaml
    """
    from cassflow.pipeline import PipelineError, load_pipeline

    try:
        spec = load_pipeline(pipeline)
    except PipelineError as exc:
        Console(stderr=True).print(f"error: {exc}", markup=False)
        raise typer.Exit(code=2) from None
    _execute(
        spec,
        base_dir=pipeline.parent,
        state_dir=state_dir,
        resume=resume,
        metrics_port=metrics_port,
        pushgateway=pushgateway,
        report_file=report,
        quiet=quiet,
    )


@app.command()
def copy(
    source: Annotated[str, typer.Argument(help="What to read: files, cassandra://, SQL URL.")],
    target: Annotated[str, typer.Argument(help="Where to write: a directory, cassandra://, SQL.")],
    connections: Annotated[
        Path | None,
        typer.Option(help="YAML file of named connections (the 'connections:' of a pipeline)."),
    ] = None,
    from_format: Annotated[str | None, typer.Option(help="csv, jsonl or parquet.")] = None,
    to_format: Annotated[str | None, typer.Option(help="csv, jsonl or parquet.")] = None,
    from_option: Annotated[
        list[str], typer.Option(help="Reader option key=value (delimiter, header, ...).")
    ] = [],  # noqa: B006 - typer reads the default, never mutates it
    to_option: Annotated[
        list[str], typer.Option(help="Writer option key=value (file_size, compression, ...).")
    ] = [],  # noqa: B006
    query: Annotated[str | None, typer.Option(help="Read this SQL query (SQL sources).")] = None,
    columns: Annotated[
        str | None, typer.Option(help="Column mapping target=source,... (default: all).")
    ] = None,
    max_errors: Annotated[
        str, typer.Option(help="Abort after this many bad records, or this share ('5%').")
    ] = "100",
    schema_drift: Annotated[
        str, typer.Option(help="Extra source fields: fail, ignore_extra or add_columns.")
    ] = "fail",
    workers: Annotated[int, typer.Option(help="Slices worked on at once.")] = 4,
    processes: Annotated[
        str,
        typer.Option(
            help="Worker processes the slices are spread over, or 'auto': one per core for "
            "loads of 32 MiB or more of files into a table, else none (threads)."
        ),
    ] = "auto",
    splits: Annotated[int | None, typer.Option(help="Slices to cut a table into.")] = None,
    concurrency: Annotated[int, typer.Option(help="Requests in flight at the start.")] = 32,
    max_rows_per_second: Annotated[
        float | None, typer.Option(help="Hard cap on written rows per second.")
    ] = None,
    latency_rise: Annotated[
        float,
        typer.Option(
            help="Back off when answers come this many times slower than the fastest seen "
            "(0: only on timeouts and overload errors)."
        ),
    ] = 3.0,
    verify: Annotated[bool, typer.Option(help="Read both sides back and compare.")] = False,
    checkpoints: Annotated[
        str | None,
        typer.Option(
            help="Keep checkpoints in this Cassandra table, cassandra://<connection>/"
            "<keyspace>.<table> (shared by workers); default: a SQLite file in --state-dir."
        ),
    ] = None,
    resume: Resume = None,
    state_dir: StateDir = Path(".cassflow"),
    metrics_port: MetricsPort = None,
    pushgateway: Pushgateway = None,
    report: ReportFile = None,
    quiet: Quiet = False,
) -> None:
    """Copy one dataset to another, once: files, Cassandra tables and SQL tables.

    Datasets are URLs: 'data/*.csv', 's3://bucket/out/', 'cassandra://shop/shop.orders'
    (a connection of --connections, a host, or else an embedded dev server of that name),
    'postgresql://loader:${secret:env:PGPASSWORD}@db/shop#orders'.

    Example: cassflow copy 'data/*.csv' cassandra://dev/shop.orders --max-errors 10
    """
    from cassflow.copy._model import CopyError
    from cassflow.pipeline import PipelineError, PipelineSpec
    from cassflow.pipeline._loader import load_connections
    from cassflow.pipeline._urls import dataset_from_url

    console = Console(stderr=True)
    try:
        named = load_connections(connections) if connections else {}
        implied: set[str] = set()  # connections the URLs imply, bound to the target's keyspace
        source_spec = dataset_from_url(
            source,
            connections=named,
            implied=implied,
            file_format=from_format,
            options=_key_values(from_option, "--from-option"),
            query=query,
        )
        target_spec = dataset_from_url(
            target,
            connections=named,
            implied=implied,
            file_format=to_format,
            options=_key_values(to_option, "--to-option"),
        )
        mapping = dict(_key_values(columns.split(","), "--columns")) if columns else None
        copy_spec: dict[str, Any] = {
            "from": "source",
            "to": "target",
            "max_errors": max_errors if max_errors.endswith("%") else int(max_errors),
            "schema_drift": schema_drift,
            "workers": workers,
            "processes": processes if processes == "auto" else _whole(processes, "--processes"),
            "splits": splits,
            "concurrency": concurrency,
            "max_rows_per_second": max_rows_per_second,
            "latency_rise": latency_rise or None,
            "verify": verify,
            "columns": {k: str(v) for k, v in mapping.items()} if mapping else None,
        }
        spec = PipelineSpec.model_validate(
            {
                "name": "copy",
                "connections": named,
                "datasets": {"source": source_spec, "target": target_spec},
                "activities": [{"name": "copy", "copy": copy_spec}],
                "checkpoints": _checkpoints(checkpoints, named) if checkpoints else None,
            }
        )
    except (CopyError, PipelineError, ValueError) as exc:
        console.print(f"error: {exc}", markup=False)
        raise typer.Exit(code=2) from None
    _execute(
        spec,
        base_dir=Path.cwd(),
        state_dir=state_dir,
        resume=resume,
        metrics_port=metrics_port,
        pushgateway=pushgateway,
        report_file=report,
        quiet=quiet,
    )
