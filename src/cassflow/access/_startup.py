"""The client's identity in the protocol's STARTUP message, where Cassandra 4.0+ keeps it.

Cassandra stores every STARTUP option of a connection and shows them in
``system_views.clients.client_options``; the Java driver sends ``APPLICATION_NAME`` and
``APPLICATION_VERSION`` there. The Python driver (3.x) takes ``application_name`` and
``application_version`` but only reports them to DataStax Insights, never in STARTUP. So the
connection class made here adds them to the STARTUP message of every connection the driver
opens (control connection, pools, reconnects): Cassandra accepts and keeps options it does not
know, and an operator sees which task each connection belongs to.
"""

from __future__ import annotations

from typing import Any

from cassandra.cluster import DefaultConnection
from cassandra.protocol import StartupMessage

# STARTUP option names, as the Java driver (and Cassandra's documentation) spell them.
APPLICATION_NAME = "APPLICATION_NAME"
APPLICATION_VERSION = "APPLICATION_VERSION"


def identified_connection_class(
    application_name: str, application_version: str, base: type[Any] | None = None
) -> type[Any]:
    """A subclass of the driver's connection class (``base``, default the driver's default)
    whose STARTUP message carries ``APPLICATION_NAME`` / ``APPLICATION_VERSION``."""
    parent: type[Any] = base if base is not None else DefaultConnection
    options = {APPLICATION_NAME: application_name, APPLICATION_VERSION: application_version}

    def send_msg(self: Any, msg: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(msg, StartupMessage):
            # The driver builds a fresh option dict per STARTUP: adding to it is safe.
            msg.options.update(options)
        return parent.send_msg(self, msg, *args, **kwargs)

    return type(f"Identified{parent.__name__}", (parent,), {"send_msg": send_msg})
