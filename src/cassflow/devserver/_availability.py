"""Whether the dev server's one node can serve a consistency level, as Cassandra decides it.

The dev server is a cluster of one node in ``datacenter1``. A keyspace created with
replication factor 3 still has one live replica here, exactly as on a real single node: a
QUORUM read or write needs 2 replicas (``ConsistencyLevel.blockFor``: half the replication
factor plus one) and fails with Unavailable ("Cannot achieve consistency level QUORUM"),
while ONE / LOCAL_ONE work. Answering as a single real node does keeps an application from
passing on the laptop and failing on the first single-node Cassandra it meets.

Serial consistency is the Paxos quorum of the replicas that exist (the electorate), so a
conditional write or a serial read works wherever the keyspace has a replica here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from cassflow.devserver._errors import RequestError
from cassflow.devserver._schema import KeyspaceMetadata
from cassflow.protocol import Consistency, ErrorMessage, Unavailable

__all__ = ["UnavailableError", "check_available", "check_serial_available"]

_NETWORK_TOPOLOGY: Final = "NetworkTopologyStrategy"


class UnavailableError(RequestError):
    """Cassandra's UnavailableException (code 0x1000): too few live replicas."""

    def __init__(self, consistency: Consistency, required: int, alive: int, dc: str = "") -> None:
        where = f" in DC {dc}" if dc else ""
        super().__init__(f"Cannot achieve consistency level {consistency.name}{where}")
        self.consistency = consistency
        self.required = required
        self.alive = alive

    def to_message(self) -> ErrorMessage:
        return Unavailable(
            message=str(self),
            consistency=self.consistency,
            required=self.required,
            alive=self.alive,
        )


def _factor(text: str) -> int:
    """A replication factor as ``system_schema.keyspaces`` holds it (``3``, or ``3/1``
    with transient replicas: the first number counts every replica)."""
    return int(text.split("/", 1)[0])


def _factors(replication: Mapping[str, str]) -> dict[str | None, int]:
    """Replicas per data centre; the key None stands for "the whole cluster" (SimpleStrategy,
    LocalStrategy and other strategies without data centres)."""
    strategy = replication.get("class", "")
    if strategy.endswith(_NETWORK_TOPOLOGY):
        return {dc: _factor(value) for dc, value in replication.items() if dc != "class"}
    if "replication_factor" in replication:
        return {None: _factor(replication["replication_factor"])}
    return {None: 1}  # LocalStrategy: every node is the one replica of its own data


def _local_factor(factors: Mapping[str | None, int], local_dc: str) -> int:
    """Replicas in this node's data centre (all of them without data centres)."""
    return factors[None] if None in factors else factors.get(local_dc, 0)


def check_available(consistency: Consistency, keyspace: KeyspaceMetadata, local_dc: str) -> None:
    """Raise :class:`UnavailableError` when ``consistency`` needs more live replicas of
    ``keyspace`` than this one node (``ConsistencyLevel.blockFor`` against the live replicas,
    per data centre for EACH_QUORUM). ANY and the serial levels are not checked here."""
    if keyspace.virtual or consistency is Consistency.ANY:
        return
    factors = _factors(keyspace.replication)
    simple = None in factors
    local_factor = _local_factor(factors, local_dc)
    # One node: it is the one live replica, for every level, wherever its data centre holds
    # the keyspace.
    alive = 1 if local_factor > 0 else 0
    if consistency is Consistency.EACH_QUORUM and not simple:
        for dc, factor in factors.items():
            required = factor // 2 + 1
            live_here = alive if dc == local_dc else 0
            if required > live_here:
                raise UnavailableError(consistency, required, live_here, dc or "")
        return
    total = sum(factors.values())
    block_for = {
        Consistency.ONE: 1,
        Consistency.LOCAL_ONE: 1,
        Consistency.TWO: 2,
        Consistency.THREE: 3,
        Consistency.QUORUM: total // 2 + 1,
        Consistency.EACH_QUORUM: total // 2 + 1,
        Consistency.ALL: total,
        Consistency.LOCAL_QUORUM: local_factor // 2 + 1,
    }.get(consistency)
    if block_for is not None and block_for > alive:
        raise UnavailableError(consistency, block_for, alive)


def check_serial_available(
    consistency: Consistency, keyspace: KeyspaceMetadata, local_dc: str
) -> None:
    """The Paxos participants check of a conditional write or serial read: a quorum of the
    replicas that exist (here: this node, if its data centre holds the keyspace)."""
    if keyspace.virtual:
        return
    if _local_factor(_factors(keyspace.replication), local_dc) <= 0:
        raise UnavailableError(consistency, 1, 0)
