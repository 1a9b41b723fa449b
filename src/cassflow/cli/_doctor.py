"""``cassflow doctor``: argument parsing and output only; the checks are in
:mod:`cassflow.access._doctor`."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cassflow.cli._app import app

if TYPE_CHECKING:
    from cassflow.access._doctor import Kind


class OutputFormat(StrEnum):
    """How ``cassflow doctor`` prints its findings."""

    text = "text"
    json = "json"


def _validate(path: Path, kind: Kind, env: Mapping[str, str]) -> str | None:
    """Validate with cassflow's pipeline loader (the doctor lives in cassflow.access, which
    must not import cassflow.pipeline, so the CLI hands this in)."""
    from cassflow.pipeline import PipelineError, load_connections, load_pipeline

    try:
        if kind == "pipeline":
            load_pipeline(path, env)
        else:
            load_connections(path, env)
    except PipelineError as exc:
        return str(exc)
    return None


@app.command()
def doctor(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Pipeline files, DAG files or directories (searched for *.yaml, *.yml, *.py). "
            "Default: the current directory.",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="Print findings as text or as JSON.")
    ] = OutputFormat.text,
) -> None:
    """Lint pipeline files and Airflow DAG files for plaintext credentials, hand-built
    clusters, connections without a keyspace, oversized batches, copies without retries and
    more. Each finding names file:line, the rule and a fix; silence one with a
    "# doctor: ignore\\[rule-id]" comment on its line. DAG files are parsed, never run.

    Exit code: 0 no findings, 1 findings, 2 usage error (a missing path, another file type).

    Example: cassflow doctor pipelines/ dags/ --format json
    """
    from cassflow.access._doctor import DoctorUsageError, lint_paths

    try:
        report = lint_paths(paths or [Path()], validate=_validate)
    except DoctorUsageError as exc:
        typer.echo(f"cassflow doctor: {exc}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(report.as_json() if output is OutputFormat.json else report.as_text())
    raise typer.Exit(code=report.exit_code)
