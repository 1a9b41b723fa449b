"""Waiting on the cluster: compactions drained (what a load's next step often waits for).

Pending compactions are read from the virtual tables Cassandra 4.0+ has on every node:
``system_views.thread_pools`` (the ``CompactionExecutor`` pool's active and pending tasks)
and ``system_views.sstable_tasks`` (running compactions by keyspace and table). Virtual tables
are local to each node, so every node is asked, each through its own connection.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from cassflow.copy._model import CopyError

log = logging.getLogger(__name__)

_POOL = "SELECT active_tasks, pending_tasks FROM system_views.thread_pools WHERE name = %s"
_TASKS = "SELECT keyspace_name, table_name, kind FROM system_views.sstable_tasks"


def compactions(session: Any, keyspace: str, table: str | None = None) -> dict[str, int]:
    """Compactions per node (address -> pending + running) that concern ``keyspace[.table]``.

    Pending tasks are not broken down by table in Cassandra's virtual tables, so every
    pending task counts; running ones are counted for the keyspace (and table) only.
    """
    counts: dict[str, int] = {}
    for host in session.cluster.metadata.all_hosts():
        if not host.is_up:
            raise CopyError(f"node {host.address} is down; cannot tell its compactions")
        pool = session.execute(_POOL, ("CompactionExecutor",), host=host).one()
        pending = int(pool[1]) if pool is not None else 0
        running = sum(
            1
            for row in session.execute(_TASKS, host=host)
            if row[0] == keyspace
            and (table is None or row[1] == table)
            and str(row[2]).lower() == "compaction"
        )
        counts[str(host.address)] = pending + running
    return counts


def wait_for_compaction(
    session: Any,
    *,
    keyspace: str,
    table: str | None,
    max_pending: int,
    timeout: float,
    poll_interval: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, int]:
    """Return once every node has at most ``max_pending`` compactions for the keyspace/table;
    raise :class:`CopyError` after ``timeout`` seconds."""
    deadline = clock() + timeout
    what = keyspace + (f".{table}" if table else "")
    while True:
        counts = compactions(session, keyspace, table)
        if all(n <= max_pending for n in counts.values()):
            return counts
        if clock() >= deadline:
            busy = ", ".join(f"{node}: {n}" for node, n in sorted(counts.items()))
            raise CopyError(
                f"compactions of {what} still above {max_pending} after {timeout:g} s ({busy})"
            )
        log.info("waiting for compactions of %s: %s", what, counts)
        sleep(min(poll_interval, max(0.0, deadline - clock())))
