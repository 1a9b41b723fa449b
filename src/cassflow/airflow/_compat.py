"""Airflow's import differences in one place (the role of providers' ``version_compat.py``).

Airflow 3 moved the authoring interface into the Task SDK (``airflow.sdk``); Airflow 2.10
kept it under ``airflow.models``, ``airflow.hooks`` and ``airflow.sensors``. Every module of
this package imports Airflow's names from here, so the rest reads the same on both.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

try:
    import airflow  # noqa: F401  (the error below names the extra to install)
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "cassflow.airflow needs Apache Airflow: pip install 'cassflow[airflow]'"
    ) from exc

from airflow.triggers.base import BaseTrigger, TriggerEvent

#: Airflow 3 (the Task SDK, ``airflow.sdk``); else Airflow 2.10.
AIRFLOW_3 = importlib.util.find_spec("airflow.sdk") is not None

if TYPE_CHECKING or AIRFLOW_3:
    from airflow.sdk import (
        DAG,
        Asset,
        BaseHook,
        BaseOperator,
        BaseSensorOperator,
        Connection,
        Context,
        TaskGroup,
        Variable,
    )
    from airflow.sdk.bases.sensor import PokeReturnValue
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowNotFoundException,
        AirflowSensorTimeout,
    )
else:  # Airflow 2.10
    from airflow.datasets import Dataset as Asset
    from airflow.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowNotFoundException,
        AirflowSensorTimeout,
    )
    from airflow.hooks.base import BaseHook
    from airflow.models import DAG, BaseOperator, Connection, Variable
    from airflow.sensors.base import BaseSensorOperator, PokeReturnValue
    from airflow.utils.context import Context
    from airflow.utils.task_group import TaskGroup

__all__ = [
    "AIRFLOW_3",
    "DAG",
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowSensorTimeout",
    "Asset",
    "BaseHook",
    "BaseOperator",
    "BaseSensorOperator",
    "BaseTrigger",
    "Connection",
    "Context",
    "PokeReturnValue",
    "TaskGroup",
    "TriggerEvent",
    "Variable",
]
