"""What Airflow learns of the provider without importing it: ``get_provider_info()``.

Airflow reads this dict through the ``apache_airflow_provider`` entry point (pyproject.toml)
when it lists providers, builds the connection form and resolves asset URIs. It must stay
cheap: no Airflow, no driver imported here.

The connection form is declared (``conn-fields`` and ``ui-field-behaviour``, the way Airflow
3.1+ providers declare it); :class:`~cassflow.airflow.CassflowHook` serves the same table from
``get_ui_field_behaviour()`` and, where Flask-AppBuilder is installed, from
``get_connection_form_widgets()``.
"""

from __future__ import annotations

from typing import Any

from cassflow import __version__

#: The connection type of :class:`~cassflow.airflow.CassflowHook`.
CONN_TYPE = "cassflow"
#: Existing connections of the Apache Cassandra provider, which the hook reads too.
CASSANDRA_CONN_TYPE = "cassandra"

_HOOK = "cassflow.airflow._hook.CassflowHook"
_CONSISTENCY = ("ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_QUORUM", "EACH_QUORUM", "LOCAL_ONE")
_CONSISTENCY_LEVELS = (
    "ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_QUORUM", "EACH_QUORUM", "LOCAL_ONE",
)  # fmt: skip

#: Extra fields of a cassflow connection: name -> (label, JSON schema, description).
CONN_FIELDS: dict[str, tuple[str, dict[str, Any], str]] = {
    "local_dc": (
        "Local data center",
        {"type": ["string", "null"]},
        "The data center the client prefers (its nodes are asked first).",
    ),
    "consistency": (
        "Consistency level",
        {
            "type": ["string", "null"],
            "enum": [None, *_CONSISTENCY],
        },
        "Default consistency of reads and writes (LOCAL_ONE when empty).",
    ),
    "protocol_version": (
        "Native protocol version",
        {"type": ["integer", "null"], "minimum": 3, "maximum": 5},
        "Pin the protocol version (negotiated when empty).",
    ),
    "request_timeout": (
        "Request timeout (s)",
        {"type": ["number", "null"], "default": 30},
        "Seconds before one request times out on the client.",
    ),
    "read_keyspaces": (
        "Other keyspaces it may read",
        {"type": ["string", "null"]},
        "Comma-separated; statements on any other keyspace are refused before they are sent.",
    ),
    "ca_file": (
        "TLS: CA certificate file",
        {"type": ["string", "null"]},
        "Speak TLS, trusting the CA in this PEM file.",
    ),
    "cert_file": (
        "TLS: client certificate file",
        {"type": ["string", "null"]},
        "For clusters that require client certificates.",
    ),
    "key_file": ("TLS: client key file", {"type": ["string", "null"]}, ""),
    "dynamic_credentials": (
        "Dynamic per-task credentials",
        {"type": ["boolean", "null"], "default": False},
        "Login and password are a broker's: each task logs in as a role issued for it alone.",
    ),
    "lease_ttl": (
        "Lease lifetime",
        {"type": ["string", "null"], "default": "1h"},
        "How long a task's issued role lives at most (30m, 2h).",
    ),
}

#: Standard fields of the form: hidden ones and their labels and placeholders.
UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": [],
    "relabeling": {"schema": "Keyspace", "host": "Hosts"},
    "placeholders": {
        "host": "10.0.0.1,10.0.0.2 (empty: an embedded dev server)",
        "port": "9042",
        "schema": "the keyspace this connection is bound to",
        "login": "a role with only the grants the tasks need",
        "password": "or a ${secret:vault:...} reference",
        "extra": '{"local_dc": "dc1", "ca_file": "/etc/cassandra/ca.pem"}',
    },
}


def _conn_fields() -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, (label, schema, description) in CONN_FIELDS.items():
        entry: dict[str, Any] = {"label": label, "schema": schema}
        if description:
            entry["description"] = description
        fields[name] = entry
    return fields


def get_provider_info() -> dict[str, Any]:
    """The provider's description, as Airflow's providers manager reads it."""
    modules = "cassflow.airflow._{}".format
    return {
        "package-name": "cassflow",
        "name": "cassflow",
        "description": (
            "Secure, observable, resumable data movement for Apache Cassandra: bulk copy "
            "operators with checkpoints, CQL, deferrable sensors and per-task identity."
        ),
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "cassflow",
                "external-doc-url": "https://cassandra.apache.org/",
                "tags": ["software"],
            }
        ],
        "hooks": [{"integration-name": "cassflow", "python-modules": [modules("hook")]}],
        "operators": [{"integration-name": "cassflow", "python-modules": [modules("operators")]}],
        "sensors": [{"integration-name": "cassflow", "python-modules": [modules("sensors")]}],
        "triggers": [{"integration-name": "cassflow", "python-modules": [modules("triggers")]}],
        "connection-types": [
            {
                "hook-class-name": _HOOK,
                "hook-name": "Cassflow (Apache Cassandra)",
                "connection-type": CONN_TYPE,
                "conn-fields": _conn_fields(),
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
        "asset-uris": [
            {
                "schemes": ["cassandra"],
                "handler": "cassflow.airflow._assets.sanitize_uri",
            }
        ],
    }
