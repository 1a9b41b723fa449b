"""The typer application behind the ``cassflow`` command."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from cassflow import __version__

app = typer.Typer(
    name="cassflow",
    help="Secure, observable, resumable data movement for Apache Cassandra.",
    no_args_is_help=True,
    add_completion=False,
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"cassflow {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        help="Print the version and exit.",
        callback=_show_version,
        is_eager=True,
    ),
) -> None:
    """Secure, observable, resumable data movement for Apache Cassandra."""


@app.command()
def selfcheck() -> None:
    """Check the CQL protocol codec: a client and a server talk through it in memory.

    Runs STARTUP with authentication, a paged SELECT, PREPARE/EXECUTE and a BATCH in
    protocol v3, v4 and v5, with and without LZ4, and checks that every message arrives
    intact. Exits non-zero if any conversation fails.

    Example: cassflow selfcheck
    """
    from cassflow.protocol._selfcheck import run_selfcheck

    console = Console()
    table = Table(title="cassflow protocol self-check")
    for column in ("protocol", "compression", "messages", "bytes", "ms", "result"):
        table.add_column(column)
    failed = 0
    for result in run_selfcheck():
        failed += not result.ok
        table.add_row(
            f"v{result.version}",
            result.compression or "none",
            str(result.messages),
            str(result.bytes_on_wire),
            f"{result.seconds * 1000:.1f}",
            "ok" if result.ok else f"FAILED: {result.error}",
        )
    console.print(table)
    if failed:
        console.print(f"{failed} conversation(s) failed")
        raise typer.Exit(code=1)
    console.print("all conversations arrived intact")


def main() -> None:
    """Entry point of the ``cassflow`` console script."""
    app()
