"""``cassflow proxy --config proxy.yaml``: the identity-aware CQL proxy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from cassflow.cli._app import app


@app.command()
def proxy(
    config: Annotated[
        Path,
        typer.Option(
            "--config",
            help="The proxy's configuration file (listen, upstream, tokens, policy, audit).",
            exists=True,
            dir_okay=False,
        ),
    ],
) -> None:
    """Run the identity-aware CQL proxy in the foreground (Ctrl-C or SIGTERM stops it).

    Clients log in with an identity token as the password; every statement is checked against
    the policy file (reloaded when it changes) and audited. See docs/proxy-server.md.

    Example: cassflow proxy --config proxy.yaml
    """
    import logging

    from cassflow.errors import CassflowError
    from cassflow.proxy._config import load_proxy_config
    from cassflow.proxy._run import serve

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        loaded = load_proxy_config(config)
        serve(loaded, announce=lambda line: typer.echo(line, err=False))
    except CassflowError as exc:
        Console(stderr=True).print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(code=2) from None
