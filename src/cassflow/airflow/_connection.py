"""An Airflow connection read as a cassflow :class:`~cassflow.pipeline.ConnectionSpec`.

Two connection types are read. ``cassflow`` connections: Host is a comma-separated list of
contact points (empty: an embedded dev server, for laptops and CI), Port the native port,
Schema the keyspace the connection is bound to, Login/Password the role (the password may
itself be a ``${secret:...}`` reference, resolved at each login), and the extra fields of
:data:`~cassflow.airflow._provider.CONN_FIELDS`. ``cassandra`` connections of the Apache
Cassandra provider: the same standard fields, and of its extras ``ssl_options`` (``ca_certs``,
``certfile``, ``keyfile``), ``protocol_version`` and a ``DCAwareRoundRobinPolicy``'s
``local_dc``; its other extras (``cql_version``, other load-balancing policies) do not apply
and are ignored.

Nothing here imports Airflow: the connection is any object with Airflow's attributes.
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import ValidationError

from cassflow.airflow._provider import CASSANDRA_CONN_TYPE, CONN_FIELDS
from cassflow.errors import CassflowError
from cassflow.pipeline._spec import AuthSpec, ConnectionSpec, TlsSpec

_DEFAULT_PORT = 9042


class ConnectionFieldError(CassflowError):
    """An Airflow connection says something cassflow cannot use (names the connection and
    the field)."""


class AirflowConnection(Protocol):
    """What is read of an Airflow ``Connection``."""

    conn_id: str
    conn_type: str | None
    host: str | None
    schema: str | None
    login: str | None
    password: str | None
    port: int | None

    @property
    def extra_dejson(self) -> dict[str, Any]:
        """The extra field, parsed."""


def connection_spec(
    conn: AirflowConnection,
    *,
    keyspace: str | None = None,
    data_dir: str | None = None,
) -> ConnectionSpec:
    """The cassflow connection an Airflow connection describes, bound to ``keyspace`` (else to
    the connection's Schema). ``data_dir`` is where an embedded dev server keeps its data."""
    extra = dict(conn.extra_dejson or {})
    if (conn.conn_type or "") == CASSANDRA_CONN_TYPE:
        extra = _from_cassandra_provider(conn.conn_id, extra)
    else:
        unknown = sorted(set(extra) - set(CONN_FIELDS) - {"data_dir", "key_password"})
        if unknown:
            raise ConnectionFieldError(
                f"connection {conn.conn_id!r}: unknown extra field(s) {', '.join(unknown)} "
                f"(expected some of {', '.join(sorted(CONN_FIELDS))}, data_dir, key_password)"
            )
    bound = keyspace or conn.schema
    if not bound:
        raise ConnectionFieldError(
            f"connection {conn.conn_id!r} names no keyspace: set its Schema field (or pass "
            "keyspace= to the hook or operator)"
        )
    hosts = [h.strip() for h in (conn.host or "").split(",") if h.strip()]
    fields: dict[str, Any] = {
        "hosts": hosts or None,
        "port": conn.port or _DEFAULT_PORT,
        "keyspace": bound,
        "read_keyspaces": _names(extra.get("read_keyspaces")),
        "auth": _auth(conn, extra),
        "tls": _tls(extra),
        "local_dc": extra.get("local_dc") or None,
        "consistency": extra.get("consistency") or None,
        "protocol_version": extra.get("protocol_version") or None,
        "data_dir": extra.get("data_dir") or data_dir,
    }
    if extra.get("request_timeout") not in (None, ""):
        fields["request_timeout"] = extra["request_timeout"]
    try:
        return ConnectionSpec.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'connection'}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False)
        )
        raise ConnectionFieldError(f"connection {conn.conn_id!r}: {problems}") from None


def _auth(conn: AirflowConnection, extra: dict[str, Any]) -> AuthSpec | None:
    dynamic = _boolean(extra.get("dynamic_credentials"))
    if not conn.login and not conn.password and not dynamic:
        return None
    fields: dict[str, Any] = {
        "username": conn.login or None,
        "password": conn.password or None,
        "dynamic": dynamic,
    }
    if extra.get("lease_ttl"):
        fields["lease_ttl"] = extra["lease_ttl"]
    return AuthSpec.model_validate(fields)


def _tls(extra: dict[str, Any]) -> TlsSpec | None:
    if not extra.get("ca_file"):
        return None
    return TlsSpec(
        ca_file=extra["ca_file"],
        cert_file=extra.get("cert_file") or None,
        key_file=extra.get("key_file") or None,
        key_password=extra.get("key_password") or None,
    )


def _from_cassandra_provider(conn_id: str, extra: dict[str, Any]) -> dict[str, Any]:
    """The extras of an Apache Cassandra provider connection, in cassflow's terms."""
    ours: dict[str, Any] = {}
    ssl_options = extra.get("ssl_options")
    if isinstance(ssl_options, dict) and ssl_options:
        if not ssl_options.get("ca_certs"):
            raise ConnectionFieldError(
                f"connection {conn_id!r}: ssl_options needs ca_certs (the CA's PEM file)"
            )
        ours["ca_file"] = ssl_options["ca_certs"]
        ours["cert_file"] = ssl_options.get("certfile")
        ours["key_file"] = ssl_options.get("keyfile")
    if extra.get("protocol_version"):
        ours["protocol_version"] = extra["protocol_version"]
    if extra.get("load_balancing_policy") == "DCAwareRoundRobinPolicy":
        args = extra.get("load_balancing_policy_args") or {}
        if isinstance(args, dict) and args.get("local_dc"):
            ours["local_dc"] = args["local_dc"]
    return ours


def _names(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def _boolean(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)
