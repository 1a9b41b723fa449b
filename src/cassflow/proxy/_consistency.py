"""The order of consistency levels that a policy's ``max_consistency`` is measured on.

Cassandra's levels are not totally ordered by nature (``TWO`` and ``LOCAL_QUORUM`` ask for
different things), but a maximum needs an order. Levels are ranked by the number of replica
acknowledgements the coordinator waits for in the deployment Cassandra recommends for
production (replication factor 3 in each of two data centres); equal counts are ordered
local-data-centre first, because a level that may wait on another data centre costs more::

    ANY (a hint will do) < LOCAL_ONE (1, local) < ONE (1, any DC)
      < LOCAL_QUORUM (2, local) < TWO (2, any DC) < THREE (3)
      < QUORUM (4 of 6) < EACH_QUORUM (2 in every DC) < ALL (6)

The serial levels are the quorums of their Paxos round: ``LOCAL_SERIAL`` ranks as
``LOCAL_QUORUM`` and ``SERIAL`` as ``QUORUM``. So ``max_consistency: LOCAL_QUORUM`` admits
``ANY``, ``LOCAL_ONE``, ``ONE``, ``LOCAL_QUORUM`` and ``LOCAL_SERIAL``, and refuses every level
that may make the coordinator wait on a remote data centre or on more than a local quorum.
"""

from __future__ import annotations

from typing import Final

from cassandra import ConsistencyLevel

#: The levels a maximum can name, weakest first.
ORDER: Final = (
    "ANY",
    "LOCAL_ONE",
    "ONE",
    "LOCAL_QUORUM",
    "TWO",
    "THREE",
    "QUORUM",
    "EACH_QUORUM",
    "ALL",
)

#: Serial levels and the level whose rank they take.
SERIAL_EQUIVALENT: Final = {"LOCAL_SERIAL": "LOCAL_QUORUM", "SERIAL": "QUORUM"}

_RANK: Final = {name: index for index, name in enumerate(ORDER)}
_RANK.update({serial: _RANK[level] for serial, level in SERIAL_EQUIVALENT.items()})


def rank(level: str) -> int | None:
    """The position of ``level`` (a name such as ``LOCAL_QUORUM``) in :data:`ORDER`; serial
    levels take their quorum's position; None for a name that is no consistency level."""
    return _RANK.get(level.upper())


def consistency_name(code: int) -> str | None:
    """The name of a native protocol consistency code (``6`` -> ``LOCAL_QUORUM``), or None."""
    name: str | None = ConsistencyLevel.value_to_name.get(code)
    return name
