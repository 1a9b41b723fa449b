"""The triggers of the provider's deferrable sensors: the same checks, polled in the triggerer.

A trigger re-reads its connection by id (its keyword arguments hold names, never secrets),
opens one connection for its life and closes it before it fires. The driver blocks, and the
triggerer runs many triggers in one event loop, so every look at the cluster (and opening and
closing the connection) runs in a worker thread. Each trigger yields exactly one
:class:`TriggerEvent`::

    {"status": "success", "message": ..., "polls": n, "waited_for": first "not yet" or None,
     "details": {...}}
    {"status": "timeout", "message": ..., "polls": n, "details": {...}}
    {"status": "error", "message": ..., "retryable": bool}

An error is anything but "not yet" (a refused connection, a down node, a missing table under
a record check): it fires at once, it is never taken for "not yet". ``retryable`` is False for
arguments that cannot work (retrying the task would not help).
"""

from __future__ import annotations

import abc
import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any

from cassflow.access._identity import TaskIdentity
from cassflow.airflow._checks import (
    Check,
    CompactionCheck,
    Probe,
    RecordCheck,
    SchemaAgreementCheck,
    SensorArgumentError,
    TableCheck,
)
from cassflow.airflow._compat import BaseTrigger, TriggerEvent
from cassflow.airflow._hook import CassflowHook

#: Seconds between checks when none is given.
DEFAULT_POLL_INTERVAL = 30.0


class CassflowSensorTrigger(BaseTrigger):
    """What every sensor trigger shares: the connection, the identity, the polling, the event.

    :param cassflow_conn_id: the Airflow connection (or the pipeline file's connection).
    :param keyspace: the keyspace to bind to instead of the connection's.
    :param pipeline_file: read the connection from this cassflow pipeline file.
    :param state_dir: cassflow's state directory (an embedded dev server's data).
    :param identity: the task behind the sessions, as :class:`TaskIdentity` fields.
    :param poll_interval: seconds between checks.
    :param deadline: give up (a ``timeout`` event) after this time (seconds since the epoch:
        a trigger restarted on another triggerer keeps the same deadline); None: never.
    """

    def __init__(
        self,
        *,
        cassflow_conn_id: str,
        keyspace: str | None = None,
        pipeline_file: str | None = None,
        state_dir: str | None = None,
        identity: dict[str, Any] | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        deadline: float | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Airflow's is untyped
        self.cassflow_conn_id = cassflow_conn_id
        self.keyspace = keyspace
        self.pipeline_file = pipeline_file
        self.state_dir = state_dir
        self.identity = identity
        self.poll_interval = poll_interval
        self.deadline = deadline

    @abc.abstractmethod
    def check(self) -> Check:
        """The check this trigger polls."""

    @abc.abstractmethod
    def check_kwargs(self) -> dict[str, Any]:
        """The check's keyword arguments (part of :meth:`serialize`)."""

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and keyword arguments that rebuild this trigger (JSON values only)."""
        kwargs: dict[str, Any] = {
            "cassflow_conn_id": self.cassflow_conn_id,
            "keyspace": self.keyspace,
            "pipeline_file": self.pipeline_file,
            "state_dir": self.state_dir,
            "identity": self.identity,
            "poll_interval": self.poll_interval,
            "deadline": self.deadline,
            **self.check_kwargs(),
        }
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    def hook(self) -> CassflowHook:
        """A hook on the trigger's connection (nothing is opened yet)."""
        return CassflowHook(
            self.cassflow_conn_id,
            keyspace=self.keyspace,
            identity=TaskIdentity(**self.identity) if self.identity else None,
            state_dir=self.state_dir,
            pipeline_file=self.pipeline_file,
            lease_statements=self.check().reads(),
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Check every ``poll_interval`` seconds until satisfied, the deadline, or an error;
        then fire one event."""
        payload = await self._poll()
        yield TriggerEvent(payload)  # type: ignore[no-untyped-call]  # Airflow's is untyped

    async def _poll(self) -> dict[str, Any]:
        try:
            check = self.check()
            hook = self.hook()
        except Exception as exc:  # arguments the trigger cannot even be built from
            return _error(exc)
        polls = 0
        waited_for: str | None = None
        try:
            while True:
                try:
                    probe = await asyncio.to_thread(check, hook)
                except Exception as exc:
                    return _error(exc)
                polls += 1
                if probe.satisfied:
                    return _event("success", probe, polls, waited_for=waited_for)
                if waited_for is None:
                    waited_for = probe.message
                remaining = None if self.deadline is None else self.deadline - time.time()
                if remaining is not None and remaining <= 0:
                    return _event("timeout", probe, polls, message=f"timed out: {probe.message}")
                self.log.info("not yet (check %d): %s", polls, probe.message)
                pause = (
                    self.poll_interval if remaining is None else min(self.poll_interval, remaining)
                )
                await asyncio.sleep(max(pause, 0.0))
        finally:
            await asyncio.to_thread(hook.close)


def _event(
    status: str,
    probe: Probe,
    polls: int,
    *,
    message: str | None = None,
    waited_for: str | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "status": status,
        "message": message or probe.message,
        "polls": polls,
        "details": probe.details,
    }
    if status == "success":
        payload["waited_for"] = waited_for
    return payload


def _error(exc: Exception) -> dict[str, Any]:
    return {
        "status": "error",
        "message": f"{type(exc).__name__}: {exc}",
        "retryable": not isinstance(exc, SensorArgumentError),
    }


class CassandraCompactionTrigger(CassflowSensorTrigger):
    """Fires once compactions of the keyspace (or ``table``) are at most ``max_pending`` on
    every node; see :class:`~cassflow.airflow._checks.CompactionCheck`."""

    def __init__(self, *, table: str | None = None, max_pending: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.table = table
        self.max_pending = max_pending

    def check(self) -> Check:
        """Compactions at most ``max_pending``."""
        return CompactionCheck(self.table, self.max_pending)

    def check_kwargs(self) -> dict[str, Any]:
        """``table`` and ``max_pending``."""
        return {"table": self.table, "max_pending": self.max_pending}


class CassandraSchemaAgreementTrigger(CassflowSensorTrigger):
    """Fires once every live node has the same schema version."""

    def check(self) -> Check:
        """Schema agreement."""
        return SchemaAgreementCheck()

    def check_kwargs(self) -> dict[str, Any]:
        """None."""
        return {}


class CassandraTableTrigger(CassflowSensorTrigger):
    """Fires once ``table`` (``table`` or ``keyspace.table``) exists."""

    def __init__(self, *, table: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.table = table

    def check(self) -> Check:
        """The table exists."""
        return TableCheck(self.table)

    def check_kwargs(self) -> dict[str, Any]:
        """``table``."""
        return {"table": self.table}


class CassandraRecordTrigger(CassflowSensorTrigger):
    """Fires once a row of ``table`` with the primary key values ``keys`` exists."""

    def __init__(self, *, table: str, keys: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.table = table
        self.keys = keys

    def check(self) -> Check:
        """The row exists."""
        return RecordCheck(self.table, self.keys)

    def check_kwargs(self) -> dict[str, Any]:
        """``table`` and ``keys``."""
        return {"table": self.table, "keys": self.keys}


def identity_fields(identity: TaskIdentity) -> dict[str, Any]:
    """A task identity as a trigger's JSON keyword argument."""
    return asdict(identity)
