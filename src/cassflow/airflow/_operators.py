"""The copy and CQL operators.

:class:`CassandraCopyOperator` runs one copy, any cassflow source to any sink, exactly as
``cassflow run`` runs a pipeline's copy activity: the same slices, checkpoints, quarantine,
report, keyspace guard and dynamic credentials. Its checkpoint run id is the task instance's
and the same for every try of it, so Airflow's retries resume the copy: slices a failed try
finished are skipped, the others redone with idempotent writes.

:class:`CqlOperator` runs CQL statements, written inline or in a ``.cql`` file next to the DAG,
through the hook's keyspace-guarded session.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from cassflow.airflow._compat import (
    AirflowException,
    AirflowFailException,
    Asset,
    BaseOperator,
    Context,
)
from cassflow.airflow._copy_run import KillSwitch, failure_message, rendered_options
from cassflow.airflow._copy_settings import asset_uris, copy_settings, templated
from cassflow.airflow._cql_script import run_script
from cassflow.airflow._datasets import Datasets, copy_pipeline, with_default_connection
from cassflow.airflow._hook import CassflowHook, default_state_dir, spec_reader
from cassflow.airflow._identity import context_run_id, identity_from_context
from cassflow.copy._report import redact
from cassflow.errors import CassflowError
from cassflow.pipeline._run import PipelineRunner
from cassflow.pipeline._spec import (
    CheckpointsSpec,
    PipelineSpec,
    TableDatasetSpec,
)


class CassandraCopyOperator(BaseOperator):
    """Copy ``source`` into ``target``: files, SQL tables and Cassandra tables, any direction.

    A dataset is ``"cassandra://<conn_id>/<keyspace>.<table>"`` (or a dict with
    ``connection``, ``table`` and any table dataset setting; without ``connection``,
    ``cassflow_conn_id``), a SQLAlchemy URL with ``#<table>``, or a file path, directory, glob
    or URL (``data/*.csv``, ``s3://bucket/out/``; relative paths are relative to the DAG
    file's folder), or the dict of a pipeline file's ``datasets:`` entry.

    :param max_errors: bad records allowed (a count, or a share such as ``"5%"``; -1: any)
        before the copy stops; each one is quarantined with its reason.
    :param schema_drift: source fields the target lacks: ``fail``, ``ignore_extra``,
        ``add_columns``.
    :param verify: read the target back afterwards (row count, checksum of the key columns).
    :param copy_options: any other setting of a pipeline's copy activity (``workers``,
        ``processes``, ``splits``, ``concurrency``, ``max_rows_per_second``,
        ``slice_attempts``...).
    :param checkpoints_conn_id: keep checkpoints in table ``checkpoints_table`` of this
        connection's keyspace, shared by all workers; default: a SQLite file in ``state_dir``
        (a retry on another worker then starts over instead of resuming).
    :param state_dir: checkpoints, quarantine files, reports and embedded dev servers' data;
        default ``$CASSFLOW_STATE_DIR``, else ``$AIRFLOW_HOME/cassflow``.
    :param declare_assets: declare the source as the task's inlet and the target as its
        outlet (Airflow assets), when neither is templated. Cassandra tables are then named by
        their Airflow connection's host and port, looked up when the DAG file is parsed.

    Returns (as XCom) the copy's report: row counts, slices, retries, quarantine files.
    """

    template_fields: Sequence[str] = ("source", "target", "columns", "copy_options", "state_dir")
    template_fields_renderers: ClassVar[dict[str, str]] = {
        "source": "json",
        "target": "json",
        "copy_options": "json",
    }
    ui_color = "#c4e1f5"

    def __init__(
        self,
        *,
        source: str | dict[str, Any],
        target: str | dict[str, Any],
        cassflow_conn_id: str = CassflowHook.default_conn_name,
        columns: dict[str, str] | None = None,
        max_errors: int | str = 100,
        schema_drift: str = "fail",
        verify: bool = False,
        copy_options: dict[str, Any] | None = None,
        checkpoints_conn_id: str | None = None,
        checkpoints_table: str = "cassflow_checkpoints",
        state_dir: str | None = None,
        declare_assets: bool = True,
        **kwargs: Any,
    ) -> None:
        # Checked before the task joins its DAG: a bad setting leaves no half-made task.
        try:
            # A copy_options string is a template (rendered when the task runs).
            if copy_options is not None and not isinstance(copy_options, Mapping | str):
                raise ValueError(
                    f"copy_options: expected a dict, not {type(copy_options).__name__}"
                )
            copy_settings(
                max_errors=max_errors,
                columns=columns,
                schema_drift=schema_drift,
                verify=verify,
                copy_options=copy_options if isinstance(copy_options, Mapping) else None,
            )
        except ValueError as exc:
            raise ValueError(f"{type(self).__name__} {kwargs.get('task_id')!r}: {exc}") from None
        super().__init__(**kwargs)
        self.source = source
        self.target = target
        self.cassflow_conn_id = cassflow_conn_id
        self.columns = columns
        self.max_errors = max_errors
        self.schema_drift = schema_drift
        self.verify = verify
        self.copy_options = copy_options
        self.checkpoints_conn_id = checkpoints_conn_id
        self.checkpoints_table = checkpoints_table
        self.state_dir = state_dir
        self.declare_assets = declare_assets
        if declare_assets and not templated(source) and not templated(target):
            self._declare_assets()

    # --- parse time ----------------------------------------------------------------------

    def _declare_assets(self) -> None:
        # Airflow 2 and 3 both keep the DAG in _dag (has_dag() is untyped).
        dag = getattr(self, "_dag", None)
        base_dir = str(dag.folder) if dag is not None else None
        try:
            inlet, outlet = asset_uris(
                with_default_connection(self.source, self.cassflow_conn_id),
                with_default_connection(self.target, self.cassflow_conn_id),
                read_spec=spec_reader(self.state_dir or None),
                base_dir=base_dir,
            )
        except Exception as exc:
            raise ValueError(
                f"{type(self).__name__} {self.task_id!r}: cannot name its assets: "
                f"{type(exc).__name__}: {exc}. Fix the source or target, or its Airflow "
                "connection (a Cassandra table's asset needs the connection's host and port "
                "when the DAG is parsed), or pass declare_assets=False"
            ) from None
        self.inlets = [*self.inlets, Asset(inlet)]
        self.outlets = [*self.outlets, Asset(outlet)]

    # --- run time ------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        """Run the copy (or resume an earlier try's); the report is the XCom."""
        run_id = context_run_id(context)
        state_dir = Path(self.state_dir) if self.state_dir else default_state_dir()
        try:
            spec = self._pipeline(context)
        except (CassflowError, ValueError) as exc:
            # Wrong settings or datasets: another try would fail the same way.
            raise AirflowFailException(f"{type(exc).__name__}: {exc}") from None
        self._kill_switch = KillSwitch()
        runner = PipelineRunner(
            spec,
            base_dir=self.dag.folder,
            state_dir=state_dir,
            run_id=run_id,
            identity=identity_from_context(context, run_id),
            progress=self._kill_switch.progress,
            # A retry resumes the run; a task cleared after it succeeded copies again.
            rerun_done=True,
        )
        self.log.info("copy %s -> %s: checkpoint run %s", *self._ends(spec), run_id)
        report = runner.run()
        run_id = report.run_id
        (outcome,) = report.activities
        if outcome.report is not None:
            self.log.info("%s", outcome.report.summary())
        if not report.ok:
            raise AirflowException(failure_message(outcome, run_id, state_dir, spec.checkpoints))
        assert outcome.report is not None  # a done copy has its report
        result: dict[str, Any] = outcome.report.to_json()
        return result

    def _pipeline(self, context: Context) -> PipelineSpec:
        copy = copy_settings(
            max_errors=self.max_errors,
            columns=self.columns,
            schema_drift=self.schema_drift,
            verify=self.verify,
            copy_options=rendered_options(self.copy_options),
        )
        datasets = Datasets(read_spec=spec_reader(self.state_dir or None))
        source = datasets.dataset(
            with_default_connection(self.source, self.cassflow_conn_id), "source"
        )
        target = datasets.dataset(
            with_default_connection(self.target, self.cassflow_conn_id), "target"
        )
        checkpoints = None
        if self.checkpoints_conn_id is not None:
            # Read as a table dataset's connection is, so that it joins the pipeline's
            # connections under the same name when a dataset uses it too.
            table = datasets.dataset(
                {"connection": self.checkpoints_conn_id, "table": self.checkpoints_table},
                "checkpoints",
            )
            assert isinstance(table, TableDatasetSpec)
            checkpoints = CheckpointsSpec(connection=table.connection, table=self.checkpoints_table)
        ti = context["ti"]
        return copy_pipeline(
            name=ti.dag_id,
            activity=ti.task_id,
            datasets=datasets,
            source=source,
            target=target,
            copy=copy,
            checkpoints=checkpoints,
        )

    @staticmethod
    def _ends(spec: PipelineSpec) -> tuple[str, str]:
        def describe(name: str) -> str:
            data = spec.datasets[name].model_dump(exclude_defaults=True, mode="json")
            return redact(str(data.get("path") or data.get("table") or data.get("url")))

        return describe("source"), describe("target")

    def on_kill(self) -> None:
        """Airflow is ending the task (it was marked failed or cleared): stop the copy.

        Every slice stops at its next chunk and no other starts (see
        :mod:`cassflow.airflow._copy_run`); the runner then closes its connections, which
        stops embedded dev servers, and ``execute`` fails. The slices done so far stay done:
        the next try of this task instance resumes them. Past ``execution_timeout`` Airflow
        raises in ``execute`` first and calls this only afterwards, when the copy has ended.
        """
        switch = getattr(self, "_kill_switch", None)
        if switch is not None:
            switch.kill()
            self.log.warning("killed: the copy stops at each slice's next chunk")


class CqlOperator(BaseOperator):
    """Run CQL statements on a keyspace: ``sql`` is a script, a list of statements, or a
    ``.cql`` file (found next to the DAG file, rendered with Jinja).

    The whole script is parsed first (a syntax error names the statement, line and column)
    and checked by the connection's keyspace guard (a statement on another keyspace, or a
    role or permission statement, is refused) before any statement is sent; the statements
    then run one by one, in order, carrying the task's identity.

    :param keyspace: bind to this keyspace instead of the connection's Schema.

    Returns (as XCom) the number of statements run.
    """

    template_fields: Sequence[str] = ("sql",)
    template_ext: Sequence[str] = (".cql",)
    template_fields_renderers: ClassVar[dict[str, str]] = {"sql": "sql"}
    ui_color = "#e8f0c4"

    def __init__(
        self,
        *,
        sql: str | list[str],
        cassflow_conn_id: str = CassflowHook.default_conn_name,
        keyspace: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(sql, str):
            if not sql.strip():
                raise ValueError(f"CqlOperator {self.task_id!r}: sql is empty")
        elif not isinstance(sql, list) or not all(isinstance(s, str) for s in sql) or not sql:
            raise ValueError(
                f"CqlOperator {self.task_id!r}: sql must be a CQL script, a .cql file name or "
                "a non-empty list of statements"
            )
        self.sql = sql
        self.cassflow_conn_id = cassflow_conn_id
        self.keyspace = keyspace

    def execute(self, context: Context) -> int:
        """Run the statements; returns how many ran."""
        pieces = [self.sql] if isinstance(self.sql, str) else list(self.sql)
        hook = CassflowHook(
            self.cassflow_conn_id,
            keyspace=self.keyspace,
            identity=identity_from_context(context),
        )
        try:
            return run_script(pieces, hook, self.log)
        finally:
            hook.close()


__all__ = ["CassandraCopyOperator", "CqlOperator"]
