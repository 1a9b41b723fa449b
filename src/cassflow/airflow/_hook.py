"""``CassflowHook``: a Cassandra connection from Airflow, bound to a keyspace, with identity.

The hook reads an Airflow connection of type ``cassflow`` (or an existing ``cassandra`` one,
see :mod:`cassflow.airflow._connection`) through Airflow's secrets backends, and opens, on
first use only, a cassflow :class:`~cassflow.copy.CassandraConnection`: token-aware, with
bounded timeouts, TLS when the connection says so, refusing statements on keyspaces other than
its own before they are sent, and naming the task that uses it in every connection's STARTUP.
Unlike the Apache Cassandra provider's hook, ``__init__`` does no network work, and a failed
connection is an error, never an empty answer.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cassandra.cluster import Session

from cassflow.access._identity import TaskIdentity, current_identity
from cassflow.airflow._compat import BaseHook
from cassflow.airflow._connection import ConnectionFieldError, connection_spec
from cassflow.airflow._datasets import SpecReader, pipeline_name
from cassflow.airflow._provider import CONN_FIELDS, CONN_TYPE, UI_FIELD_BEHAVIOUR
from cassflow.airflow._task_leases import lease_connections
from cassflow.copy._connect import CassandraConnection
from cassflow.pipeline._build import Connections
from cassflow.pipeline._loader import load_connections
from cassflow.pipeline._spec import ConnectionSpec

#: Where cassflow keeps checkpoints, quarantine files, reports and embedded dev servers' data
#: inside Airflow when an operator names no other place.
STATE_DIR_ENV = "CASSFLOW_STATE_DIR"


def default_state_dir() -> Path:
    """``$CASSFLOW_STATE_DIR``, else ``$AIRFLOW_HOME/cassflow`` (``~/airflow/cassflow``)."""
    given = os.environ.get(STATE_DIR_ENV)
    if given:
        return Path(given)
    home = os.environ.get("AIRFLOW_HOME") or os.path.join(os.path.expanduser("~"), "airflow")
    return Path(home) / "cassflow"


class CassflowHook(BaseHook):
    """A keyspace-bound Cassandra connection from an Airflow connection.

    :param cassflow_conn_id: the Airflow connection (type ``cassflow`` or ``cassandra``).
    :param keyspace: bind to this keyspace instead of the connection's Schema.
    :param identity: the task behind the sessions (default: the current one, else the
        ``AIRFLOW_CTX_*`` variables of the task's process).
    :param state_dir: where an embedded dev server (a connection without hosts) keeps its data.
    :param pipeline_file: read the connection called ``cassflow_conn_id`` from this cassflow
        pipeline (or connections) file instead of Airflow's connections: the tasks of
        :func:`~cassflow.airflow.dag_from_pipeline` use the file's own connections.
    :param lease_statements: the statements the task will run. On a connection with dynamic
        credentials (``"dynamic_credentials": true``) the hook logs in as a role issued for the
        task alone, with exactly the grants these statements need (none given: a role that can
        log in and read the system tables, for sensors), dropped by :meth:`close`.
    """

    conn_name_attr = "cassflow_conn_id"
    default_conn_name = "cassflow_default"
    conn_type = CONN_TYPE
    hook_name = "Cassflow (Apache Cassandra)"

    def __init__(
        self,
        cassflow_conn_id: str = default_conn_name,
        *,
        keyspace: str | None = None,
        identity: TaskIdentity | None = None,
        state_dir: str | os.PathLike[str] | None = None,
        pipeline_file: str | os.PathLike[str] | None = None,
        lease_statements: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self.lease_statements = None if lease_statements is None else list(lease_statements)
        self._broker: Connections | None = None
        self.pipeline_file = None if pipeline_file is None else str(pipeline_file)
        self.cassflow_conn_id = cassflow_conn_id
        self.keyspace = keyspace
        self.identity = identity
        self.state_dir = Path(state_dir) if state_dir is not None else default_state_dir()
        self._spec: ConnectionSpec | None = None
        self._connections: Connections | None = None

    def __repr__(self) -> str:
        return (
            f"CassflowHook(cassflow_conn_id={self.cassflow_conn_id!r}, keyspace={self.keyspace!r})"
        )

    # --- the connection ------------------------------------------------------------------

    def connection_spec(self) -> ConnectionSpec:
        """The Airflow connection as a cassflow connection spec (read once, through Airflow's
        secrets backends)."""
        if self._spec is None:
            if self.pipeline_file is not None:
                self._spec = self._pipeline_spec(self.pipeline_file)
            else:
                self._spec = connection_spec(
                    self.get_connection(self.cassflow_conn_id),
                    keyspace=self.keyspace,
                    data_dir=str(self.state_dir / "dev" / self.cassflow_conn_id),
                )
        return self._spec

    def _pipeline_spec(self, path: str) -> ConnectionSpec:
        specs = load_connections(path)
        spec = specs.get(self.cassflow_conn_id)
        if spec is None:
            raise ConnectionFieldError(
                f"{path}: no connection called {self.cassflow_conn_id!r} "
                f"(it has {', '.join(sorted(specs)) or 'none'})"
            )
        update: dict[str, Any] = {}
        if self.keyspace is not None:
            update["keyspace"] = self.keyspace
        if not spec.hosts and spec.data_dir is None:
            # As `cassflow run` keeps it: <state dir>/dev/<name>.
            update["data_dir"] = str(self.state_dir / "dev" / self.cassflow_conn_id)
        return spec.model_copy(update=update)

    def task_identity(self) -> TaskIdentity:
        """The identity the hook's sessions carry: the one given, else the current one, else
        the ``AIRFLOW_CTX_*`` variables of the task's process."""
        return (
            self.identity
            or current_identity()
            or TaskIdentity.from_environment("airflow", self.cassflow_conn_id)
        )

    def get_conn(self) -> CassandraConnection:
        """The cassflow connection (opened on first use; one per hook): a dynamic connection's
        is a lease's, issued for this task (see ``lease_statements``)."""
        name = pipeline_name(self.cassflow_conn_id)
        if self._connections is None:
            identity = self.task_identity()
            spec = self.connection_spec()
            connections = Connections(
                {name: spec},
                state_dir=self.state_dir,
                application_name=identity.application_name,
                identity=identity,
            )
            if spec.auth is not None and spec.auth.dynamic:
                self._broker = connections
                connections = lease_connections(
                    connections, name, identity, self.lease_statements or []
                )
            self._connections = connections
        return self._connections.get(name)

    def get_session(self) -> Session:
        """A driver session that refuses statements outside the connection's keyspace (and its
        ``read_keyspaces`` for reads); unqualified names are in that keyspace once it exists."""
        return bound_session(self.get_conn(), self.connection_spec().keyspace)

    def close(self) -> None:
        """Close the connection (and stop an embedded dev server) if one was opened; drop the
        task's lease, if it had one."""
        if self._connections is not None:
            self._connections.close()  # a lease's: drops its role, with the broker's session
            self._connections = None
        if self._broker is not None:
            self._broker.close()
            self._broker = None

    def test_connection(self) -> tuple[bool, str]:
        """Connect and ask the cluster for its version: (ok, what happened)."""
        try:
            spec = self.connection_spec()
            connection = self.get_conn()
            row = connection.session().execute("SELECT release_version FROM system.local").one()
            embedded = connection.embedded_address
            where = (
                f"{','.join(spec.hosts or [])}:{spec.port}"
                if embedded is None
                else f"an embedded dev server on {embedded[0]}:{embedded[1]}"
            )
            return True, f"Connected to Cassandra {row[0]} at {where}, keyspace {spec.keyspace}"
        except Exception as exc:
            return False, f"{type(exc).__name__}: {exc}"
        finally:
            self.close()

    # --- the connection form ------------------------------------------------------------

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Labels and placeholders of the standard fields (Host holds the contact points,
        Schema the keyspace)."""
        return dict(UI_FIELD_BEHAVIOUR)

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The extra fields as WTForms widgets, where Flask-AppBuilder's UI is installed
        (Airflow 3's UI reads the ``conn-fields`` of :func:`get_provider_info` instead)."""
        try:  # untyped, and absent from Airflow 3 without the FAB provider
            widget = importlib.import_module("flask_appbuilder.fieldwidgets").BS3TextFieldWidget
            wtforms = importlib.import_module("wtforms")
        except ImportError:
            return {}
        widgets: dict[str, Any] = {}
        for name, (label, schema, description) in CONN_FIELDS.items():
            if "boolean" in schema["type"]:
                widgets[name] = wtforms.BooleanField(label, description=description, default=False)
            else:
                widgets[name] = wtforms.StringField(label, description=description, widget=widget())
        return widgets


def bound_session(connection: CassandraConnection, keyspace: str) -> Session:
    """``connection``'s guarded session, using ``keyspace`` once that exists."""
    session: Session = connection.session()
    if session.keyspace != keyspace and keyspace in connection.cluster.metadata.keyspaces:
        session.set_keyspace(keyspace)
    return session


def spec_reader(state_dir: str | os.PathLike[str] | None) -> SpecReader:
    """Reads an Airflow connection as a connection spec, as :class:`CassflowHook` does
    (through Airflow's secrets backends), bound to a keyspace when one is given."""

    def read(conn_id: str, keyspace: str | None) -> ConnectionSpec:
        return CassflowHook(conn_id, keyspace=keyspace, state_dir=state_dir).connection_spec()

    return read
