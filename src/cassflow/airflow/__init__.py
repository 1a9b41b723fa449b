"""cassflow's Airflow provider: hook, operators, sensors, triggers, assets, pipeline DAGs.

* :class:`CassflowHook`: an Airflow connection (type ``cassflow``, or an existing
  ``cassandra`` one) as a keyspace-bound, identity-carrying Cassandra connection;
* :class:`CassandraCopyOperator` (any cassflow source to any sink, checkpointed per task
  instance so that Airflow's retries resume) and :class:`CqlOperator` (statements or a .cql
  file, under the keyspace guard);
* :func:`copy_task_group`: one copy planned into slices, the slices run as mapped task
  instances over the Airflow workers with a shared checkpoint table, then finalised;
* sensors, each deferrable: :class:`CassandraCompactionSensor`,
  :class:`CassandraSchemaAgreementSensor`, :class:`CassandraTableSensor`,
  :class:`CassandraRecordSensor`;
* :func:`dag_from_pipeline`: a cassflow pipeline file as an Airflow DAG.

Airflow finds the provider through the ``apache_airflow_provider`` entry point, which calls
:func:`get_provider_info`; that and this module import nothing of Airflow, the rest is imported
on first use (Airflow itself through :mod:`cassflow.airflow._compat`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cassflow.airflow._provider import get_provider_info

if TYPE_CHECKING:
    from cassflow.airflow._hook import CassflowHook
    from cassflow.airflow._operators import CassandraCopyOperator, CqlOperator
    from cassflow.airflow._pipeline_dag import dag_from_pipeline
    from cassflow.airflow._sensors import (
        CassandraCompactionSensor,
        CassandraRecordSensor,
        CassandraSchemaAgreementSensor,
        CassandraTableSensor,
    )
    from cassflow.airflow._slices import copy_task_group

_LAZY = {
    "CassflowHook": "_hook",
    "CassandraCopyOperator": "_operators",
    "CqlOperator": "_operators",
    "copy_task_group": "_slices",
    "CassandraCompactionSensor": "_sensors",
    "CassandraRecordSensor": "_sensors",
    "CassandraSchemaAgreementSensor": "_sensors",
    "CassandraTableSensor": "_sensors",
    "dag_from_pipeline": "_pipeline_dag",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "CassandraCompactionSensor",
    "CassandraCopyOperator",
    "CassandraRecordSensor",
    "CassandraSchemaAgreementSensor",
    "CassandraTableSensor",
    "CassflowHook",
    "CqlOperator",
    "copy_task_group",
    "dag_from_pipeline",
    "get_provider_info",
]
