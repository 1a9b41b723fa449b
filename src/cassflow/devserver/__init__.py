"""The embedded CQL dev server: a single Cassandra 4.1 node in Python for laptops and CI.

:class:`DevServer` starts one (in a background thread, or in the foreground for
``cassflow dev``); the unmodified ``cassandra-driver`` and ``cqlsh`` talk to it as to
Cassandra. :attr:`DevServer.faults` primes fault rules while it runs.
"""

from cassflow.devserver._faults import FaultError, FaultInjector, FaultKind, FaultRule
from cassflow.devserver._node import DevServer, DevServerError

__all__ = ["DevServer", "DevServerError", "FaultError", "FaultInjector", "FaultKind", "FaultRule"]
