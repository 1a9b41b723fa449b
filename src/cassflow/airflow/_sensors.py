"""The provider's sensors: compactions drained, schema agreed, a table, a record.

Each sensor pokes (``mode="poke"`` or ``"reschedule"``) or, with ``deferrable=True``, looks
once and then hands the wait to its trigger (:mod:`cassflow.airflow._triggers`), freeing the
worker. Both ask the same :mod:`~cassflow.airflow._checks`. The connection is a
:class:`~cassflow.airflow._hook.CassflowHook` carrying the task's identity, opened on the first
poke and closed when the task's try ends.

Unlike the Apache Cassandra provider's sensors, an error is never "not yet": a connection that
fails, a down node or a missing table under a record sensor fails the poke (and, deferred,
fires an error event), so a broken cluster cannot look like a row that is merely absent.
Arguments that cannot work fail the task without retries (:class:`AirflowFailException`).
"""

from __future__ import annotations

import abc
import json
import os
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from cassflow.airflow._checks import (
    Check,
    CompactionCheck,
    Probe,
    RecordCheck,
    SchemaAgreementCheck,
    SensorArgumentError,
    TableCheck,
)
from cassflow.airflow._compat import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    BaseSensorOperator,
    Context,
)
from cassflow.airflow._hook import CassflowHook
from cassflow.airflow._identity import identity_from_context
from cassflow.airflow._triggers import (
    CassandraCompactionTrigger,
    CassandraRecordTrigger,
    CassandraSchemaAgreementTrigger,
    CassandraTableTrigger,
    CassflowSensorTrigger,
    identity_fields,
)


class CassflowSensor(BaseSensorOperator):
    """What every cassflow sensor shares (see the module docstring).

    :param cassflow_conn_id: the Airflow connection (type ``cassflow`` or ``cassandra``).
    :param keyspace: bind to this keyspace instead of the connection's Schema (templated).
    :param pipeline_file: read the connection from this cassflow pipeline file instead.
    :param state_dir: cassflow's state directory (an embedded dev server's data).
    :param deferrable: wait in the triggerer instead of a worker slot.
    """

    template_fields: Sequence[str] = ("keyspace",)

    def __init__(
        self,
        *,
        cassflow_conn_id: str = CassflowHook.default_conn_name,
        keyspace: str | None = None,
        pipeline_file: str | os.PathLike[str] | None = None,
        state_dir: str | os.PathLike[str] | None = None,
        deferrable: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.cassflow_conn_id = cassflow_conn_id
        self.keyspace = keyspace
        self.pipeline_file = None if pipeline_file is None else os.fspath(pipeline_file)
        self.state_dir = None if state_dir is None else os.fspath(state_dir)
        self.deferrable = deferrable
        self._hook: CassflowHook | None = None

    @abc.abstractmethod
    def check(self) -> Check:
        """What this sensor waits for (built from its rendered arguments)."""

    @abc.abstractmethod
    def trigger(self, **common: Any) -> CassflowSensorTrigger:
        """The trigger that waits for the same, given the common keyword arguments."""

    def hook(self, context: Context) -> CassflowHook:
        """The sensor's hook for this try (connecting on first use)."""
        if self._hook is None:
            self._hook = CassflowHook(
                self.cassflow_conn_id,
                keyspace=self.keyspace,
                identity=identity_from_context(context),
                state_dir=self.state_dir,
                pipeline_file=self.pipeline_file,
                lease_statements=self.check().reads(),
            )
        return self._hook

    def probe(self, context: Context) -> Probe:
        """Look once; arguments that cannot work fail the task without retries."""
        try:
            return self.check()(self.hook(context))
        except SensorArgumentError as exc:
            raise AirflowFailException(f"{type(self).__name__}: {exc}") from None

    def poke(self, context: Context) -> bool:
        """True once satisfied; False while not yet; raises on anything else."""
        probe = self.probe(context)
        self.log.info("%s: %s", "satisfied" if probe.satisfied else "not yet", probe.message)
        return probe.satisfied

    def execute(self, context: Context) -> None:
        """Poke (or reschedule) until satisfied; deferrable, look once and then defer."""
        try:
            if not self.deferrable:
                super().execute(context)
                return
            probe = self.probe(context)
            if probe.satisfied:
                self.log.info("satisfied: %s", probe.message)
                return
            self.log.info("not yet: %s; deferring to the trigger", probe.message)
        finally:
            self.close()
        self.defer(
            trigger=self._deferred_trigger(context),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def _deferred_trigger(self, context: Context) -> CassflowSensorTrigger:
        trigger = self.trigger(
            cassflow_conn_id=self.cassflow_conn_id,
            keyspace=self.keyspace,
            pipeline_file=self.pipeline_file,
            state_dir=self.state_dir,
            identity=identity_fields(identity_from_context(context)),
            poll_interval=float(self.poke_interval),
            deadline=time.time() + float(self.timeout),
        )
        _, kwargs = trigger.serialize()
        try:
            json.dumps(kwargs)
        except (TypeError, ValueError) as exc:
            raise AirflowFailException(
                f"{type(self).__name__}: deferrable mode needs JSON values in its arguments "
                f"(give dates, timestamps and UUIDs as text): {exc}"
            ) from None
        return trigger

    def execute_complete(self, context: Context, event: dict[str, Any]) -> None:  # noqa: ARG002
        """Resume after the trigger: return on success, raise on a timeout or an error."""
        status = event.get("status")
        message = str(event.get("message"))
        if status == "success":
            self.log.info(
                "satisfied: %s (after %s check(s) by the trigger; it waited while: %s)",
                message,
                event.get("polls"),
                event.get("waited_for"),
            )
            return
        if status == "timeout":
            # Logged as well: with soft_fail, Airflow replaces the exception by a skip.
            self.log.warning("%s (after %s check(s) by the trigger)", message, event.get("polls"))
            raise AirflowSensorTimeout(f"{type(self).__name__}: {message}")
        if status == "error" and event.get("retryable") is False:
            raise AirflowFailException(f"{type(self).__name__}: {message}")
        raise AirflowException(f"{type(self).__name__}: {message}")

    def close(self) -> None:
        """Close the hook's connection, if one was opened."""
        hook, self._hook = self._hook, None
        if hook is not None:
            hook.close()


class CassandraCompactionSensor(CassflowSensor):
    """Waits until pending plus running compactions of the keyspace (or of ``table``) are at
    most ``max_pending`` on every node, read from each node's ``system_views``; a down node is
    an error, not a wait.

    :param table: one table (``table`` or ``keyspace.table``) instead of the whole keyspace
        (templated). Cassandra does not break pending compactions down by table, so every
        pending one counts; running ones count for the keyspace/table only.
    :param max_pending: compactions allowed per node (templated).
    """

    template_fields: Sequence[str] = ("keyspace", "table", "max_pending")

    def __init__(self, *, table: str | None = None, max_pending: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(max_pending, int) and not isinstance(max_pending, bool) and max_pending < 0:
            raise ValueError(f"max_pending={max_pending!r}: expected a whole number >= 0")
        self.table = table
        self.max_pending = max_pending

    def check(self) -> Check:
        """Compactions at most ``max_pending`` on every node."""
        return CompactionCheck(self.table, self.max_pending)

    def trigger(self, **common: Any) -> CassflowSensorTrigger:
        """A :class:`CassandraCompactionTrigger`."""
        return CassandraCompactionTrigger(table=self.table, max_pending=self.max_pending, **common)


class CassandraSchemaAgreementSensor(CassflowSensor):
    """Waits until every live node reports the same schema version (``system.local`` and
    ``system.peers``, as the driver reads them after DDL); a single node always agrees."""

    def check(self) -> Check:
        """Schema agreement."""
        return SchemaAgreementCheck()

    def trigger(self, **common: Any) -> CassflowSensorTrigger:
        """A :class:`CassandraSchemaAgreementTrigger`."""
        return CassandraSchemaAgreementTrigger(**common)


class CassandraTableSensor(CassflowSensor):
    """Waits until a table exists (read from ``system_schema.tables`` at each poke).

    :param table: ``table`` (in the connection's keyspace) or ``keyspace.table`` (templated).
    """

    template_fields: Sequence[str] = ("keyspace", "table")

    def __init__(self, *, table: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.table = table

    def check(self) -> Check:
        """The table exists."""
        return TableCheck(self.table)

    def trigger(self, **common: Any) -> CassflowSensorTrigger:
        """A :class:`CassandraTableTrigger`."""
        return CassandraTableTrigger(table=self.table, **common)


class CassandraRecordSensor(CassflowSensor):
    """Waits until a row with the given primary key values exists (a prepared
    ``SELECT ... LIMIT 1``, the values bound, never written into the CQL).

    :param table: ``table`` or ``keyspace.table`` (templated); a missing table is an error.
    :param keys: column -> value (templated): the whole partition key, and optionally a prefix
        of the clustering columns. Values may be text forms of the column types (a UUID's or
        a date's text); deferrable mode needs JSON values.
    """

    template_fields: Sequence[str] = ("keyspace", "table", "keys")

    def __init__(self, *, table: str, keys: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.table = table
        self.keys = keys

    def check(self) -> Check:
        """The row exists."""
        return RecordCheck(self.table, self.keys)

    def trigger(self, **common: Any) -> CassflowSensorTrigger:
        """A :class:`CassandraRecordTrigger`."""
        return CassandraRecordTrigger(table=self.table, keys=self.keys, **common)
