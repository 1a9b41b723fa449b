"""``cassflow rotate CONNECTION``: a new password for a connection's role, stored and proved."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from cassflow.cli._app import app

if TYPE_CHECKING:
    from pydantic import SecretStr

    from cassflow.pipeline._spec import ConnectionSpec


@app.command()
def rotate(
    connection: Annotated[str, typer.Argument(help="The connection whose password rotates.")],
    connections: Annotated[
        Path,
        typer.Option(
            help="The file of named connections (a pipeline file works too).",
            exists=True,
            dir_okay=False,
        ),
    ],
    broker: Annotated[
        str | None,
        typer.Option(
            help="A connection of the same file allowed to ALTER the role(s); default: the "
            "role changes its own password. Required with --alternate."
        ),
    ] = None,
    alternate: Annotated[
        str | None,
        typer.Option(
            help="ROLE_A,ROLE_B: two roles with the same grants; the secret switches to the "
            "one not in use, so the old password keeps working until the next rotation."
        ),
    ] = None,
) -> None:
    """Set a new random password on a connection's role, write it to the secrets backend the
    connection's password reference points to, and prove it with a fresh login.

    The password must be a ${secret:...} reference to a writable backend (file, vault).
    Running sessions keep going; their reconnects read the new secret.

    Example: cassflow rotate shop --connections connections.yaml
    """
    from cassflow.access._rotate import RotationError
    from cassflow.access._rotate import rotate as rotate_role
    from cassflow.access._secrets import SecretError
    from cassflow.pipeline import PipelineError
    from cassflow.pipeline._loader import load_connections

    console = Console(stderr=True)
    try:
        specs = load_connections(connections)
        spec = _named(specs, connection)
        auth = spec.auth
        if auth is None or auth.username is None or auth.password is None:
            raise RotationError(f"connection {connection} has no username and password to rotate")
        roles = [r.strip() for r in alternate.split(",")] if alternate else []
        broker_session = _session(_named(specs, broker), broker) if broker else None
        result = rotate_role(
            username=auth.username,
            password=auth.password.get_secret_value(),
            login=_login(spec, connection),
            broker=broker_session,
            alternate_roles=roles,
        )
    except (RotationError, SecretError, PipelineError) as exc:
        console.print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(code=2) from None
    changed = (
        f"role {result.role} has a new password"
        if result.mode == "single"
        else f"the secret switched from role {result.previous_role} to role {result.role}, "
        "which has a new password"
    )
    typer.echo(
        f"{connection}: {changed}; it is stored in {result.location} and a fresh login with it "
        f"works ({result.seconds:.1f} s)"
    )


def _named(specs: dict[str, ConnectionSpec], name: str) -> ConnectionSpec:
    from cassflow.access._rotate import RotationError

    spec = specs.get(name)
    if spec is None:
        raise RotationError(f"no connection called {name!r} (known: {', '.join(sorted(specs))})")
    if not spec.hosts:
        raise RotationError(
            f"connection {name} has no hosts: an embedded dev server has no password to rotate"
        )
    return spec


def _login(spec: ConnectionSpec, name: str) -> Any:
    def login(role: str, password: SecretStr) -> AbstractContextManager[Any]:
        return _session(spec, name, role, password)

    return login


@contextmanager
def _session(
    connection: ConnectionSpec,
    name: str,
    role: str | None = None,
    password: SecretStr | None = None,
) -> Iterator[Any]:
    """A session of ``connection`` as the pipeline builds it (TLS, timeouts...), logged in
    with its own credentials or as ``role`` with ``password``."""
    from cassflow.pipeline._build import spec_session
    from cassflow.pipeline._spec import AuthSpec

    if role is not None:
        connection = connection.model_copy(
            update={"auth": AuthSpec(username=role, password=password)}
        )
    with spec_session(name, connection, application_name="cassflow:rotate") as session:
        yield session
