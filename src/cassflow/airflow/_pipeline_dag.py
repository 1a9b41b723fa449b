"""``dag_from_pipeline``: the YAML pipeline that ``cassflow run`` executes, as an Airflow DAG.

One task per activity, ``after:`` as the tasks' dependencies:

* a ``copy`` or ``cql`` activity is a :class:`PipelineActivityOperator`, which runs that
  activity alone with the pipeline runner (one pipeline run id per DAG run, so a retried task
  resumes its checkpoints); a copy's task declares its target as an Airflow asset;
* a ``wait`` activity is a deferrable :class:`~cassflow.airflow.CassandraCompactionSensor` on
  the pipeline's own connection (read from the file through ``CassflowHook(pipeline_file=)``),
  so that waiting holds no worker slot.

The file is read and validated when the DAG file is parsed: a bad file fails the DAG's import
with ``file:line:column: key: message``. ``${secret:...}`` references stay references; a task
resolves them when it opens a connection.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from cassflow.airflow._assets import dataset_uri
from cassflow.airflow._compat import DAG, Asset, BaseOperator
from cassflow.airflow._pipeline_operator import PipelineActivityOperator
from cassflow.pipeline._loader import load_pipeline
from cassflow.pipeline._spec import ActivitySpec, PipelineSpec, WaitSpec, parse_duration


def dag_from_pipeline(
    path: str | os.PathLike[str],
    *,
    dag_id: str | None = None,
    state_dir: str | None = None,
    **dag_kwargs: Any,
) -> DAG:
    """An Airflow DAG that runs the pipeline file ``path``, one task per activity.

    :param path: the pipeline file (read now, to build the tasks; again by each task when it
        runs). Relative paths inside it are relative to its folder; a relative ``path`` itself
        is relative to the current directory, which Airflow does not fix: write
        ``Path(__file__).parent / "pipeline.yaml"`` for a file beside the DAG file.
    :param dag_id: the DAG's id (default: the pipeline's ``name``).
    :param state_dir: checkpoints, quarantine, reports and embedded dev servers' data (default:
        ``$CASSFLOW_STATE_DIR``, else ``$AIRFLOW_HOME/cassflow``).
    :param dag_kwargs: passed to ``DAG`` (``schedule``, ``start_date``, ``default_args`` with
        ``retries``, ``tags``, ...). A pipeline with an embedded connection (no ``hosts``) gets
        ``max_active_tasks=1`` and ``max_active_runs=1`` unless these say otherwise: its tasks
        take turns at the dev server's data directory.
    """
    pipeline_file = os.path.abspath(os.fspath(path))
    spec = load_pipeline(pipeline_file)
    dag_kwargs.setdefault("description", f"cassflow pipeline {spec.name} ({pipeline_file})")
    if any(not connection.hosts for connection in spec.connections.values()):
        # An embedded dev server is started by each task on the connection's data directory;
        # two tasks (or runs) at once would each start one on the same files.
        dag_kwargs.setdefault("max_active_tasks", 1)
        dag_kwargs.setdefault("max_active_runs", 1)
    with DAG(dag_id or spec.name, **dag_kwargs) as dag:
        tasks = {
            activity.name: _task(spec, activity, pipeline_file, state_dir)
            for activity in spec.activities
        }
        for activity in spec.activities:
            for upstream in activity.after:
                tasks[upstream] >> tasks[activity.name]
    return dag


def _task(
    spec: PipelineSpec, activity: ActivitySpec, pipeline_file: str, state_dir: str | None
) -> BaseOperator:
    if activity.wait is not None:
        return _wait_task(spec, activity.name, activity.wait, pipeline_file, state_dir)
    outlets = []
    if activity.copy_ is not None:
        target = spec.datasets[activity.copy_.target]
        base_dir = str(Path(pipeline_file).parent)
        outlets.append(Asset(dataset_uri(target, dict(spec.connections), base_dir=base_dir)))
    return PipelineActivityOperator(
        task_id=activity.name,
        pipeline_file=pipeline_file,
        activity=activity.name,
        state_dir=state_dir,
        outlets=outlets,
    )


def _wait_task(
    spec: PipelineSpec, name: str, wait: WaitSpec, pipeline_file: str, state_dir: str | None
) -> BaseOperator:
    # Imported here: a pipeline without waits needs no sensor (nor trigger) module.
    sensor_class = importlib.import_module("cassflow.airflow._sensors").CassandraCompactionSensor
    compaction = wait.compaction
    sensor: BaseOperator = sensor_class(
        task_id=name,
        cassflow_conn_id=compaction.connection,
        pipeline_file=pipeline_file,
        keyspace=spec.connections[compaction.connection].keyspace,
        table=compaction.table,
        max_pending=compaction.max_pending,
        timeout=parse_duration(wait.timeout),
        poke_interval=parse_duration(wait.poll_interval),
        state_dir=state_dir,
        deferrable=True,
    )
    return sensor
