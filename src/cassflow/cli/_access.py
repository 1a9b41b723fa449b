"""``cassflow creds ...`` (dynamic per-task credentials) and ``cassflow roles ...``
(least-privilege role planning): argument parsing and display only."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from cassflow.cli._app import app

if TYPE_CHECKING:
    from cassflow.access._roles_plan import RolePlan
    from cassflow.pipeline import PipelineSpec
    from cassflow.pipeline._spec import ConnectionSpec

creds_app = typer.Typer(
    help="Dynamic per-task credentials: short-lived roles with exactly the grants a task needs.",
    no_args_is_help=True,
)
roles_app = typer.Typer(
    help="Least-privilege roles for a pipeline's connections: plan, apply, diff.",
    no_args_is_help=True,
)
app.add_typer(creds_app, name="creds")
app.add_typer(roles_app, name="roles")

Broker = Annotated[
    str,
    typer.Option(
        "--broker",
        help="Connection to issue and drop roles with (CREATE on ALL ROLES, AUTHORIZE on what "
        "it grants); from --connections, else from the pipeline.",
    ),
]
ConnectionsFile = Annotated[
    Path | None,
    typer.Option(
        "--connections", help="YAML file of named connections (the 'connections:' of a pipeline)."
    ),
]
LeaseKeyspace = Annotated[
    str | None,
    typer.Option(
        "--keyspace", help="Keyspace of the cassflow_leases table (default: the broker's)."
    ),
]
PipelineArg = Annotated[Path, typer.Argument(help="The pipeline YAML file.")]
BrokerPipeline = Annotated[
    Path | None, typer.Option("--pipeline", help="Take the broker from this pipeline.")
]


class _UsageError(Exception):
    """A user-facing error: printed as ``error: ...``, exit code 2."""


def _fail(exc: BaseException) -> typer.Exit:
    Console(stderr=True).print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


@contextmanager
def _errors() -> Iterator[None]:
    """Deliberate errors (cassflow's, bad values) become ``error: ...`` and exit code 2."""
    from cassflow.copy._server_warnings import quiet_negotiation
    from cassflow.errors import CassflowError

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("cassandra.cluster").addFilter(quiet_negotiation)
    try:
        yield
    except (CassflowError, _UsageError, ValueError) as exc:
        raise _fail(exc) from None


def _load(pipeline: Path) -> PipelineSpec:
    from cassflow.pipeline import load_pipeline

    return load_pipeline(pipeline)


def _broker_spec(name: str, connections: Path | None, spec: PipelineSpec | None) -> ConnectionSpec:
    from cassflow.pipeline._loader import load_connections

    named = load_connections(connections) if connections is not None else {}
    if name in named:
        return named[name]
    if spec is not None and name in spec.connections:
        return spec.connections[name]
    where = [str(connections)] if connections is not None else []
    where += ["the pipeline"] if spec is not None else []
    known = sorted({*named, *(spec.connections if spec is not None else {})})
    raise _UsageError(
        f"no connection called {name!r} in {' or '.join(where) or '(give --connections)'}"
        f" (known: {', '.join(known) or 'none'})"
    )


@contextmanager
def _session(name: str, spec: ConnectionSpec) -> Iterator[Any]:
    """A driver session as the broker connection, closed afterwards (LOCAL_QUORUM unless the
    connection says otherwise: leases must be seen by every broker of the data centre)."""
    from cassflow.pipeline._build import spec_session

    broker = spec.model_copy(update={"consistency": spec.consistency or "LOCAL_QUORUM"})
    with spec_session(name, broker, application_name="cassflow-access") as session:
        yield session


@contextmanager
def _lease_session(
    broker: str, connections: Path | None, pipeline: Path | None, keyspace: str | None
) -> Iterator[tuple[Any, str]]:
    """The broker's session and the keyspace of the leases table (``keyspace``, else the
    broker's), for the commands that read or drop recorded leases."""
    spec = _load(pipeline) if pipeline is not None else None
    broker_spec = _broker_spec(broker, connections, spec)
    with _session(broker, broker_spec) as session:
        yield session, keyspace or broker_spec.keyspace


def _write_password(path: Path, password: str) -> None:
    """Write the password alone (and a newline) to ``path``, readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing file keeps its old mode through os.open
        os.write(fd, (password + "\n").encode("utf-8"))
    finally:
        os.close(fd)


@creds_app.command("issue")
def creds_issue(
    broker: Broker,
    pipeline: Annotated[Path, typer.Option("--pipeline", help="The pipeline YAML file.")],
    activity: Annotated[str, typer.Option("--activity", help="The activity to issue for.")],
    connections: ConnectionsFile = None,
    connection: Annotated[
        str | None,
        typer.Option(
            "--connection",
            help="Only what the activity needs on this pipeline connection (default: all).",
        ),
    ] = None,
    ttl: Annotated[str, typer.Option("--ttl", help="Lifetime: 30m, 1h, 2d...")] = "1h",
    identity: Annotated[
        str | None,
        typer.Option(
            "--identity",
            help="Who the role is for, recorded with the lease and part of the role name "
            "(default: <pipeline>.<activity>).",
        ),
    ] = None,
    keyspace: LeaseKeyspace = None,
    password_file: Annotated[
        Path | None,
        typer.Option("--password-file", help="Write the password to this file (mode 0600)."),
    ] = None,
    show_password: Annotated[
        bool, typer.Option("--show-password", help="Print the password (think twice).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the lease as JSON.")] = False,
) -> None:
    """Issue a short-lived LOGIN role with exactly the grants one activity needs.

    The role gets a random password, SELECT on the tables the activity reads and MODIFY on
    those it writes (and what its CQL statements need), and is recorded in the broker
    keyspace's cassflow_leases table until --ttl runs out. The password goes to
    --password-file (mode 0600; read it with ${secret:file:PATH}) or, with --show-password,
    to standard output; it is never stored anywhere else.

    Example: cassflow creds issue --broker admin --connections conns.yaml --pipeline
    pipeline.yaml --activity load_orders --ttl 2h --password-file /run/cassflow/lease.pw
    """
    from cassflow.access._leases_cql import issue_lease
    from cassflow.access._pipeline_grants import activity_grants
    from cassflow.pipeline._spec import parse_duration

    with _errors():
        if password_file is None and not show_password:
            raise _UsageError("the password would be lost: give --password-file or --show-password")
        ttl_seconds = parse_duration(ttl)
        spec = _load(pipeline)
        grants = activity_grants(
            spec.model_dump(by_alias=True),
            activity,
            connection=connection,
            base_dir=pipeline.parent,
        )
        broker_spec = _broker_spec(broker, connections, spec)
        with _session(broker, broker_spec) as session:
            lease = issue_lease(
                session,
                task_identity=identity or f"{spec.name}.{activity}",
                grants=grants,
                ttl_seconds=ttl_seconds,
                keyspace=keyspace or broker_spec.keyspace,
            )
        if password_file is not None:
            _write_password(password_file, lease.password.get_secret_value())
    shown = lease.password.get_secret_value() if show_password else None
    if as_json:
        document: dict[str, Any] = {
            "role": lease.role,
            "identity": lease.identity,
            "created_at": lease.created_at.isoformat(),
            "expires_at": lease.expires_at.isoformat(),
            "grants": [str(g) for g in lease.grants],
            "password_file": None if password_file is None else str(password_file),
        }
        if shown is not None:
            document["password"] = shown
        typer.echo(json.dumps(document, indent=2))
        return
    typer.echo(f"role {lease.role} for {lease.identity}, expires {lease.expires_at.isoformat()}")
    for grant in lease.grants:
        typer.echo(f"  {grant}")
    if password_file is not None:
        typer.echo(f"password written to {password_file} (mode 0600)")
    if shown is not None:
        typer.echo(f"password: {shown}")


@creds_app.command("revoke")
def creds_revoke(
    broker: Broker,
    role: Annotated[str, typer.Argument(help="The lease's role name.")],
    connections: ConnectionsFile = None,
    pipeline: BrokerPipeline = None,
    keyspace: LeaseKeyspace = None,
) -> None:
    """Drop a lease's role now and forget the lease (only roles issued as leases).

    Running it again, or for a lease reaped already, changes nothing and exits 0.

    Example: cassflow creds revoke --broker admin --connections conns.yaml
    cf_orders_daily_load_orders_3f9a1c2b7d4e
    """
    from cassflow.access._leases_cql import revoke_lease

    with _errors(), _lease_session(broker, connections, pipeline, keyspace) as (session, table):
        revoked = revoke_lease(session, role, keyspace=table)
    if revoked:
        typer.echo(f"revoked {role}")
    else:
        typer.echo(f"no lease called {role} (revoked or reaped already?)")


@creds_app.command("reap")
def creds_reap(
    broker: Broker,
    connections: ConnectionsFile = None,
    pipeline: BrokerPipeline = None,
    keyspace: LeaseKeyspace = None,
) -> None:
    """Drop every lease whose time is up; prints the roles dropped.

    Safe to run from several places at once (a cron job, each Airflow DAG's teardown).

    Example: cassflow creds reap --broker admin --connections conns.yaml
    """
    from cassflow.access._leases_cql import reap_leases

    with _errors(), _lease_session(broker, connections, pipeline, keyspace) as (session, table):
        reaped = reap_leases(session, keyspace=table)
    for role in reaped:
        typer.echo(f"reaped {role}")
    typer.echo(f"{len(reaped)} expired lease(s) reaped")


@creds_app.command("list")
def creds_list(
    broker: Broker,
    connections: ConnectionsFile = None,
    pipeline: BrokerPipeline = None,
    keyspace: LeaseKeyspace = None,
) -> None:
    """List the recorded leases: role, expiry (UTC), identity; expired ones are marked.

    Example: cassflow creds list --broker admin --connections conns.yaml
    """
    from datetime import UTC, datetime

    from cassflow.access._leases_cql import list_leases

    with _errors(), _lease_session(broker, connections, pipeline, keyspace) as (session, table):
        records = list_leases(session, keyspace=table)
    now = datetime.now(UTC)
    for record in records:
        state = "expired" if record.expires_at <= now else "active"
        typer.echo(f"{record.role}  {record.expires_at.isoformat()}  {state}  {record.identity}")
    typer.echo(f"{len(records)} lease(s)")


def _plans(pipeline: Path) -> list[RolePlan]:
    from cassflow.access._roles_plan import plan_roles

    spec = _load(pipeline)
    return plan_roles(spec.model_dump(by_alias=True), base_dir=pipeline.parent)


def _print_plan(plan: RolePlan) -> None:
    typer.echo(f"-- role {plan.role} (connections: {', '.join(plan.connections)})")
    for statement in plan.statements():
        typer.echo(f"{statement};")


@roles_app.command("plan")
def roles_plan(pipeline: PipelineArg) -> None:
    """Print the CREATE ROLE and GRANT statements each connection of a pipeline needs.

    One role per connection (its auth.username, else <pipeline>_<connection>), granted
    exactly what the pipeline's activities do with it: SELECT on tables read, MODIFY on
    tables written, ALTER for schema_drift add_columns, what cql activities run, and the
    checkpoint table. The output is CQL that cqlsh runs as it is.

    Example: cassflow roles plan pipeline.yaml > roles.cql
    """
    with _errors():
        plans = _plans(pipeline)
    for plan in plans:
        _print_plan(plan)
    if not plans:
        typer.echo("-- no connection of this pipeline needs Cassandra permissions")


@roles_app.command("apply")
def roles_apply(pipeline: PipelineArg, broker: Broker, connections: ConnectionsFile = None) -> None:
    """Create the planned roles and grant them what they need (idempotent).

    Roles are created only if missing (their passwords are not touched: set them with
    ALTER ROLE or cassflow rotate); granting a permission held already changes nothing.

    Example: cassflow roles apply pipeline.yaml --broker admin --connections conns.yaml
    """
    from cassflow.access._roles_plan import apply_plan

    with _errors():
        plans = _plans(pipeline)
        broker_spec = _broker_spec(broker, connections, _load(pipeline))
        with _session(broker, broker_spec) as session:
            done = apply_plan(session, plans)
    for statement in done:
        typer.echo(f"{statement};")
    typer.echo(f"applied {len(done)} statement(s) for {len(plans)} role(s)")


@roles_app.command("diff")
def roles_diff(pipeline: PipelineArg, broker: Broker, connections: ConnectionsFile = None) -> None:
    """Show what the cluster grants each planned role beyond the plan, and what is missing.

    Exit code 1 when a role has a grant the plan does not need, lacks one it needs, or does
    not exist; 0 when the cluster matches the plan. The broker must be allowed to list the
    roles' permissions (a superuser, or a member of the roles).

    Example: cassflow roles diff pipeline.yaml --broker admin --connections conns.yaml
    """
    from cassflow.access._roles_plan import diff_plan

    with _errors():
        plans = _plans(pipeline)
        broker_spec = _broker_spec(broker, connections, _load(pipeline))
        with _session(broker, broker_spec) as session:
            diffs = diff_plan(session, plans)
    differing = [d for d in diffs if d.differs]
    for diff in differing:
        for line in diff.lines():
            typer.echo(line)
    if differing:
        raise typer.Exit(code=1)
    typer.echo(f"{len(diffs)} role(s) match the plan")
