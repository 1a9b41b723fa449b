"""The typer application behind the ``cassflow`` command."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

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


@app.command()
def dev(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="CQL native protocol port (0: any free port).")] = 9042,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Directory that keeps the data across restarts (SQLite)."),
    ] = None,
    memory: Annotated[
        bool, typer.Option("--memory", help="Keep everything in memory (default without --data).")
    ] = False,
    auth: Annotated[
        bool, typer.Option("--auth", help="Require passwords, enforce permissions.")
    ] = False,
    faults: Annotated[
        Path | None, typer.Option("--faults", help="YAML file of fault rules to inject.")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every connection.")] = False,
) -> None:
    """Run the embedded CQL dev server in the foreground (Ctrl-C stops it).

    The unmodified cassandra-driver and cqlsh use it as a single Cassandra 4.1 node.

    Example: cassflow dev --port 9042 --data ./.cassflow-dev
    """
    from cassflow.devserver import DevServer

    if data is not None and memory:
        raise typer.BadParameter("--data and --memory exclude each other", param_hint="--memory")
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    DevServer(host, port, data_dir=data, auth=auth, faults=faults).serve_forever()


def main() -> None:
    """Entry point of the ``cassflow`` console script."""
    app()
