"""Building and running the proxy from its configuration file (``cassflow proxy``)."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from prometheus_client import start_http_server

from cassflow.access import tls_context
from cassflow.proxy._audit import AuditLog, ProxyMetrics
from cassflow.proxy._config import LoadedConfig, UpstreamSpec
from cassflow.proxy._gate import Gatekeeper, gated_server
from cassflow.proxy._policy import Policy, PolicyError
from cassflow.proxy._reload import PolicyFile
from cassflow.proxy._server import ProxyServer
from cassflow.proxy._tokens import TokenVerifier
from cassflow.proxy._upstream import UpstreamConfig, UpstreamHost, UpstreamLogin

__all__ = ["RunningProxy", "build_proxy", "logins_check", "serve"]

log = logging.getLogger(__name__)


@dataclass
class RunningProxy:
    """A proxy built from a configuration, with what :meth:`close` must release."""

    server: ProxyServer
    policy: PolicyFile
    metrics: ProxyMetrics
    audit: AuditLog | None = None
    #: The port the metrics endpoint listens on, if there is one.
    metrics_port: int | None = None
    #: What else to release (the metrics endpoint).
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        """Stop the server, the policy watcher and the audit log."""
        self.server.stop()
        self.policy.stop()
        if self.audit is not None:
            self.audit.close()
        for closer in self.closers:
            closer()


def _upstream(spec: UpstreamSpec, loaded: LoadedConfig) -> UpstreamConfig:
    hosts = []
    for text in spec.hosts:
        host, colon, port = text.rpartition(":")
        hosts.append(
            UpstreamHost(host, int(port))
            if colon and port.isdigit()
            else UpstreamHost(text, spec.port)
        )
    context = None
    if spec.tls is not None:
        tls = spec.tls
        context = tls_context(
            loaded.path(tls.ca_file),
            loaded.path(tls.cert_file) if tls.cert_file else None,
            loaded.path(tls.key_file) if tls.key_file else None,
            tls.key_password,
            tls.check_hostname,
        )
    return UpstreamConfig(
        hosts=hosts,
        username=spec.username,
        password=spec.password.get_secret_value() if spec.password else None,
        logins={
            name: UpstreamLogin(
                login.username, login.password.get_secret_value() if login.password else None
            )
            for name, login in spec.logins.items()
        },
        ssl_context=context,
        connections_per_key=spec.connections_per_key,
    )


def logins_check(known: Collection[str]) -> Callable[[Policy], None]:
    """A policy check: every ``login`` a rule names is one of ``known`` (``upstream.logins``)."""

    def check(policy: Policy) -> None:
        unknown = [
            f"rule {rule.name} names login {rule.login!r}"
            for rule in policy.spec.rules
            if rule.login is not None and rule.login not in known
        ]
        if unknown:
            defined = ", ".join(sorted(known)) or "none"
            raise PolicyError(
                f"{policy.source}: {'; '.join(unknown)}, which the proxy configuration's "
                f"upstream.logins does not define (defined: {defined})"
            )

    return check


def build_proxy(loaded: LoadedConfig) -> RunningProxy:
    """Start the proxy the configuration describes; returns it running."""
    config = loaded.config
    verifier = TokenVerifier(config.tokens)
    policy = PolicyFile(
        loaded.path(config.policy), validate=logins_check(config.upstream.logins)
    ).watch()
    audit = (
        AuditLog(config.audit if config.audit == "-" else loaded.path(config.audit))
        if config.audit
        else None
    )
    metrics = ProxyMetrics()
    keeper = Gatekeeper(verifier, lambda: policy.policy, audit=audit, metrics=metrics)
    server = gated_server(
        config.listen.host,
        config.listen.port,
        _upstream(config.upstream, loaded),
        keeper,
        advertised_host=config.listen.advertised_host,
    )
    running = RunningProxy(server, policy, metrics, audit)
    try:
        server.start()
        metrics.client_connections.set_function(lambda: server.client_count)
        metrics.upstream_connections.set_function(lambda: len(server.pool.connections))
        if config.metrics_port is not None:
            http, _thread = start_http_server(
                config.metrics_port, addr=config.listen.host, registry=metrics.registry
            )
            running.closers.append(http.shutdown)
            running.metrics_port = int(http.server_port)
            log.info("metrics on http://%s:%d/metrics", config.listen.host, http.server_port)
    except BaseException:
        running.close()
        raise
    return running


def serve(loaded: LoadedConfig, announce: Callable[[str], None] = print) -> None:
    """Run the proxy until SIGINT or SIGTERM."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    running = build_proxy(loaded)
    try:
        announce(f"cassflow proxy listening on {running.server.listen_host}:{running.server.port}")
        stop.wait()
    finally:
        running.close()
