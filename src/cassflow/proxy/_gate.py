"""The gatekeeper: tokens, request facts, policy, rate limits, audit and metrics, for a proxy.

:class:`Gatekeeper` gives :class:`~cassflow.proxy._server.ProxyServer` its hooks:

* ``authenticate``: the SASL PLAIN password is an identity token (:class:`TokenVerifier`);
* ``authorize``: the request's statements are resolved as Cassandra resolves them
  (:mod:`._requests`; EXECUTE and prepared BATCH entries through the identity's own prepared
  ids), and every fact (each table, each verb) must be allowed by the policy as it is now
  (:class:`~._policy.Policy`, hot-reloaded); the first refusal answers, with the reason and
  the rule. Text Cassandra would refuse gets its error (SYNTAX_ERROR, INVALID), an unknown
  prepared id UNPREPARED (drivers prepare again, through the proxy, where it is checked);
* ``pace``: the allowing rule's rate limit reserves a request and says how long to hold it;
* ``route``: the allowing rule's upstream ``login``, if it names one;
* ``request_done``: a PREPARE's id is remembered for the identity, rows are charged to the
  rule's row limit, and the request is audited and counted.

The EXECUTEs of a prepared statement repeat the same question of the policy: the decision is
kept per (identity, prepared id, consistency, page size) for as long as the policy object is
the same (a reload makes a new one) and, when a rule has time windows, within the minute.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from cassflow.protocol import (
    Batch,
    ErrorCode,
    ErrorMessage,
    Execute,
    Invalid,
    InvalidSyntax,
    Opcode,
    Prepare,
    Query,
    Unauthorized,
    Unprepared,
)
from cassflow.proxy._audit import AuditLog, AuditRecord, ProxyMetrics, targets_of
from cassflow.proxy._consistency import consistency_name
from cassflow.proxy._limits import RateLimiter, RateLimits
from cassflow.proxy._policy import Action, Decision, Policy
from cassflow.proxy._policy_spec import RateSpec
from cassflow.proxy._prepared import PreparedRegistry, resolve_batch
from cassflow.proxy._requests import (
    ClientState,
    RequestRefusedError,
    ResolvedStatement,
    resolve_query,
)
from cassflow.proxy._server import ProxyRequest, ProxyServer, RequestOutcome
from cassflow.proxy._tokens import Identity, TokenVerifier
from cassflow.proxy._upstream import UpstreamConfig

__all__ = ["Gatekeeper", "gated_server"]

log = logging.getLogger(__name__)

#: Decisions kept for EXECUTEs; the cache is emptied when it holds this many.
_DECISION_CACHE_SIZE = 8192
#: Requests between ``authorize`` and ``request_done`` the gate keeps track of. Every request
#: reaches ``request_done``; the bound is a guard against a bug filling memory: past it, the
#: oldest is forgotten (its audit line then lacks the statement).
_MAX_PENDING = 200_000

_REQUEST_KINDS = {
    Opcode.QUERY: "QUERY",
    Opcode.PREPARE: "PREPARE",
    Opcode.EXECUTE: "EXECUTE",
    Opcode.BATCH: "BATCH",
}


@dataclass(slots=True)
class _Pending:
    """What ``authorize`` learnt of a request, for ``pace`` and ``request_done``."""

    kind: str
    statements: list[ResolvedStatement] = field(default_factory=list)
    decision: Decision | None = None
    reason: str | None = None


def _identity_key(identity: Identity) -> Hashable:
    # One subject of two issuers is two identities (and their prepared ids are apart).
    return (identity.issuer, identity.subject)


class Gatekeeper:
    """The ``authenticate``/``authorize``/``pace``/``on_request_done`` hooks of a proxy."""

    def __init__(
        self,
        verifier: TokenVerifier,
        policy: Callable[[], Policy],
        *,
        registry: PreparedRegistry | None = None,
        limits: RateLimits | None = None,
        audit: AuditLog | None = None,
        metrics: ProxyMetrics | None = None,
    ) -> None:
        self.verifier = verifier
        #: The policy now (a reloading PolicyFile's ``lambda: file.policy``).
        self.policy = policy
        self.registry = registry or PreparedRegistry()
        self.limits = limits or RateLimits()
        self.audit = audit
        self.metrics = metrics
        self._pending: dict[tuple[int, int], _Pending] = {}
        self._decisions: dict[Hashable, tuple[Policy, Decision | None]] = {}
        self._lock = threading.Lock()

    # --- the hooks -----------------------------------------------------------------------

    def authenticate(self, username: str, password: str) -> Identity:
        """The identity the token (the password) carries; raises on a bad token."""
        return self.verifier.authenticate(username, password)

    def authorize(self, identity: Identity, request: ProxyRequest) -> str | ErrorMessage | None:
        """None to forward the request; else the answer that refuses it."""
        pending = _Pending(_REQUEST_KINDS.get(request.opcode, request.opcode.name))
        self._remember(request, pending)
        try:
            pending.statements = self._statements(identity, request)
        except RequestRefusedError as exc:
            pending.reason = exc.message
            return _refusal(exc)
        policy = self.policy()
        key = _decision_key(identity, request, policy)
        cached = self._decisions.get(key) if key is not None else None
        if cached is not None and cached[0] is policy:
            decision = cached[1]
        else:
            decision = self._decide(policy, identity, request, pending.statements)
            if key is not None:
                if len(self._decisions) >= _DECISION_CACHE_SIZE:
                    self._decisions.clear()
                self._decisions[key] = (policy, decision)
        pending.decision = decision
        if decision is not None and not decision.allowed:
            pending.reason = decision.reason
            return f"cassflow proxy: {decision.reason}"
        return None

    @staticmethod
    def _decide(
        policy: Policy,
        identity: Identity,
        request: ProxyRequest,
        statements: list[ResolvedStatement],
    ) -> Decision | None:
        """The first denial among the request's facts, else the first allowing decision."""
        action = _limits_of(request, statements)
        allowing = None
        for statement in statements:
            for fact in statement.facts:
                decision = policy.decide(
                    identity.subject,
                    identity.groups,
                    Action(verb=fact.verb, keyspace=fact.keyspace, table=fact.table, **action),
                )
                if not decision.allowed:
                    return decision
                allowing = allowing or decision
        return allowing

    def pace(self, identity: Identity, request: ProxyRequest) -> float:
        """Reserve one request under the allowing rule's rate limit: seconds to hold it."""
        limiter = self._limiter(identity, request)
        if limiter is None:
            return 0.0
        wait = float(limiter.delay_for(0))
        if limiter.requests is not None:
            limiter.requests.charge(1)  # reserved now, so that the next one waits longer
        return wait

    def route(self, _identity: Identity, request: ProxyRequest) -> str | None:
        """The upstream login the allowing rule names (None: the upstream's default)."""
        with self._lock:
            pending = self._pending.get((request.connection_id, request.stream))
        decision = pending.decision if pending is not None else None
        return decision.login if decision is not None and decision.allowed else None

    def request_done(
        self,
        identity: Identity,
        request: ProxyRequest,
        outcome: RequestOutcome,
        latency_s: float,
        rows: int,
    ) -> None:
        """Remember a PREPARE's id, charge rows, audit and count the request."""
        with self._lock:
            pending = self._pending.pop((request.connection_id, request.stream), None)
        if pending is None:
            pending = _Pending(_REQUEST_KINDS.get(request.opcode, request.opcode.name))
        if (
            outcome.decision == "allowed"
            and outcome.prepared_id is not None
            and len(pending.statements) == 1
        ):
            self.registry.register(
                _identity_key(identity), outcome.prepared_id, pending.statements[0]
            )
        limiter = self._limiter(identity, request, pending)
        if limiter is not None and rows:
            limiter.charge_rows(rows)
        if self.audit is not None:
            record = self._record(identity, request, outcome, pending, latency_s, rows)
            self.audit.write(record)
        if self.metrics is not None:
            decision = pending.decision
            self.metrics.count(
                pending.kind,
                outcome.decision,
                latency_s,
                rule=decision.rule if decision is not None else None,
                error=_outcome_error(outcome),
            )

    # --- pieces --------------------------------------------------------------------------

    def _statements(self, identity: Identity, request: ProxyRequest) -> list[ResolvedStatement]:
        if request.execute is not None:  # the hot path: no more than a lookup
            return [self.registry.lookup(_identity_key(identity), request.execute.query_id)]
        state = ClientState(_identity_key(identity), keyspace=request.keyspace)
        message = request.message
        if isinstance(message, Query):
            keyspace = message.parameters.keyspace
            return [resolve_query(message.query, state, keyspace_option=keyspace)]
        if isinstance(message, Prepare):
            return [resolve_query(message.query, state, keyspace_option=message.keyspace)]
        if isinstance(message, Execute):
            return [self.registry.lookup(state.identity_key, message.query_id)]
        if isinstance(message, Batch):
            entries = [entry.statement for entry in message.statements]
            return resolve_batch(entries, state, self.registry, keyspace_option=message.keyspace)
        return []

    def _remember(self, request: ProxyRequest, pending: _Pending) -> None:
        with self._lock:
            self._pending[(request.connection_id, request.stream)] = pending
            if len(self._pending) > _MAX_PENDING:
                oldest = next(iter(self._pending))
                del self._pending[oldest]
                log.warning("over %d requests in flight: forgot request %s", _MAX_PENDING, oldest)

    def _limiter(
        self, identity: Identity, request: ProxyRequest, pending: _Pending | None = None
    ) -> RateLimiter | None:
        if pending is None:
            with self._lock:
                pending = self._pending.get((request.connection_id, request.stream))
        decision = pending.decision if pending is not None else None
        rate: RateSpec | None = decision.rate if decision is not None else None
        if decision is None or rate is None or not decision.allowed or decision.rule is None:
            return None
        return self.limits.limiter(identity.subject, decision.rule, rate)

    @staticmethod
    def _record(
        identity: Identity,
        request: ProxyRequest,
        outcome: RequestOutcome,
        pending: _Pending,
        latency_s: float,
        rows: int,
    ) -> AuditRecord:
        statements = pending.statements
        text = "; ".join(s.audit_text for s in statements) if statements else None
        prepared = request.prepared_id.hex() if request.prepared_id is not None else None
        targets = targets_of([(f.keyspace, f.table) for s in statements for f in s.facts])
        error = _outcome_error(outcome)
        decision = pending.decision
        return AuditRecord(
            subject=identity.subject,
            client=request.client_address,
            request=pending.kind,  # type: ignore[arg-type]  # one of the four kinds
            decision=outcome.decision,
            groups=tuple(sorted(identity.groups)),
            issuer=identity.issuer,
            connection=request.connection_id,
            statement=text,
            prepared_id=prepared,
            targets=targets,
            rule=decision.rule if decision is not None else None,
            reason=pending.reason if outcome.decision == "denied" else outcome.error_message,
            error=error,
            rows=rows,
            latency_ms=latency_s * 1000,
        )


def _decision_key(identity: Identity, request: ProxyRequest, policy: Policy) -> Hashable | None:
    """What an EXECUTE's decision depends on (None: not an EXECUTE, not kept)."""
    head = request.execute
    if head is None:
        return None
    minute = int(time.time() // 60) if policy.uses_time else None
    return (
        identity.issuer,
        identity.subject,
        identity.groups,
        head.query_id,
        head.consistency,
        head.serial_consistency,
        head.page_size,
        minute,
    )


def _outcome_error(outcome: RequestOutcome) -> str | None:
    """The error an allowed request ended with (by name), for audit and metrics."""
    if outcome.error_code is None or outcome.decision != "allowed":
        return None
    return _error_name(outcome.error_code)


def _limits_of(request: ProxyRequest, statements: list[ResolvedStatement]) -> dict[str, Any]:
    """The consistency, page size and batch size of a request, as the policy names them.

    The serial consistency counts only for a conditional statement (IF): Cassandra uses it for
    nothing else, and drivers and cqlsh send one with every request.
    """
    conditional = any(statement.conditional for statement in statements)
    head = request.execute
    message = None if head is not None else request.message
    if head is not None:
        consistency, serial, page_size = head.consistency, head.serial_consistency, head.page_size
    elif isinstance(message, Query | Execute):
        parameters = message.parameters
        consistency, serial = parameters.consistency, parameters.serial_consistency
        page_size = parameters.page_size
    elif isinstance(message, Batch):
        return {
            "consistency": consistency_name(int(message.consistency)),
            "serial_consistency": _serial_name(message.serial_consistency, conditional),
            "batch_statements": len(statements),
        }
    else:  # a PREPARE: page size and consistency come with each EXECUTE
        return {"runs": False}
    batch_size = statements[0].batch_size if len(statements) == 1 else None
    return {
        "consistency": consistency_name(int(consistency)),
        "serial_consistency": _serial_name(serial, conditional),
        "page_size": page_size,
        "batch_statements": batch_size,  # a BEGIN BATCH text is a batch too
    }


def _serial_name(serial: int | None, conditional: bool) -> str | None:
    return consistency_name(int(serial)) if serial is not None and conditional else None


def _refusal(exc: RequestRefusedError) -> str | ErrorMessage:
    if exc.code == ErrorCode.UNPREPARED and exc.prepared_id is not None:
        return Unprepared(message=exc.message, query_id=exc.prepared_id)
    if exc.code == ErrorCode.SYNTAX_ERROR:
        return InvalidSyntax(message=exc.message)
    if exc.code == ErrorCode.INVALID:
        return Invalid(message=exc.message)
    return Unauthorized(message=exc.message)


def _error_name(code: int) -> str:
    try:
        return ErrorCode(code).name
    except ValueError:
        return f"0x{code:04x}"


def gated_server(
    host: str,
    port: int,
    upstream: UpstreamConfig,
    keeper: Gatekeeper,
    *,
    advertised_host: str | None = None,
) -> ProxyServer:
    """A proxy server (not started) with every hook of ``keeper``."""
    return ProxyServer(
        host,
        port,
        upstream,
        keeper.authenticate,
        keeper.authorize,
        keeper.request_done,
        advertised_host=advertised_host,
        pace=keeper.pace,
        route=keeper.route,
    )
