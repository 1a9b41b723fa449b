"""Policy as code: who may do what, decided per request, default deny.

:func:`load_policy` reads a policy file (docs/proxy-policy.md; errors name file:line:column)
into a :class:`Policy`, whose rules are compiled once. :meth:`Policy.decide` takes an
identity (token subject and groups) and an :class:`Action` (what one request does, names
already resolved the way Cassandra resolves them: the session keyspace filled in, quotes
removed) and returns a :class:`Decision`. It is pure: the same policy, identity and action
(including its time) always give the same decision.

An action is about one (keyspace, table): a request that touches several (a BATCH, the read
of a conditional update) is one action each, decided on its own (the proxy's gate refuses the
request at the first one denied). The first rule that matches the identity and allows the
table, the verb, the time, the consistency level, the batch size and the page size wins; its
limits and rate apply. A denial names its reason and the rule that came closest (the one that
passed the most of those checks, in that order), or says that no rule matches the identity.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

from cassflow._yamlfile import read_text
from cassflow.cql import Verb
from cassflow.proxy._consistency import rank
from cassflow.proxy._policy_spec import (
    ANY_KEYSPACE,
    ANY_SUBJECT,
    DAYS,
    PolicyError,
    PolicySpec,
    RateSpec,
    RuleSpec,
    WindowSpec,
    read_policy_spec,
)

__all__ = [
    "SCHEMA_RULE",
    "Action",
    "Decision",
    "Policy",
    "PolicyError",
    "RateSpec",
    "load_policy",
    "parse_policy",
]

#: The rule name decisions carry for the schema reads every login may make.
SCHEMA_RULE: Final = "(schema reads)"

# What Cassandra lets every login read (ClientState.READABLE_SYSTEM_RESOURCES, 4.0 to 5.0):
# drivers and cqlsh read these to learn the cluster and its schema.
_READABLE_TABLES: Final = frozenset(
    {("system", "local"), ("system", "peers"), ("system", "peers_v2")}
)
_READABLE_KEYSPACES: Final = frozenset({"system_schema", "system_virtual_schema"})

_RULE_VERBS: Final = frozenset({Verb.SELECT, Verb.MODIFY, Verb.DDL, Verb.AUTH})
# Identities seen with their matching rules; cleared when full (rebuilding is cheap).
_CANDIDATE_CACHE_SIZE: Final = 4096


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """What one request does, in the terms a policy decides on.

    ``verb`` is :class:`cassflow.cql.Verb`: SELECT, MODIFY, DDL and AUTH are decided by the
    rules; USE and OTHER (DESCRIBE, the only statements cassflow.cql classifies OTHER) are
    schema reads (see ``defaults.schema_reads``). ``keyspace``/``table`` are names as stored,
    resolved by the caller (the session keyspace filled in; ``keyspace`` None only for
    statements about no keyspace, such as ``CREATE ROLE``; ``table`` None for keyspace-level
    statements). A request touching several tables is one action per table, each decided on
    its own. ``consistency`` and ``serial_consistency`` are level names (``LOCAL_QUORUM``);
    ``batch_statements`` is the number of statements of a BATCH; ``page_size`` None or <= 0
    means an unpaged request; ``at`` (timezone-aware, default now) is when the request
    arrived. ``runs`` is False for a PREPARE: what the statement does is decided, while page
    size and consistency come with each EXECUTE and are decided then.
    """

    verb: Verb
    keyspace: str | None = None
    table: str | None = None
    consistency: str | None = None
    serial_consistency: str | None = None
    batch_statements: int | None = None
    page_size: int | None = None
    at: datetime = field(default_factory=_now)
    runs: bool = True

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            # A naive time would be read in the proxy host's zone: windows would shift with it.
            raise ValueError("Action.at needs a timezone-aware datetime")


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict on one request.

    ``rule`` names the allowing rule; for a denial the rule that came closest (None when no
    rule matches the identity). ``reason`` says why, in words fit for the client and the
    audit log. ``rate`` is the allowing rule's rate limit, if it has one; ``login`` the
    upstream login its requests run as (None: the upstream's default one).
    """

    allowed: bool
    rule: str | None
    reason: str
    rate: RateSpec | None = None
    login: str | None = None


@dataclass(frozen=True, slots=True)
class _Grant:
    keyspace: str  # or ANY_KEYSPACE
    tables: frozenset[str] | None  # None: every table, and the keyspace itself
    verbs: frozenset[str]

    def covers(self, keyspace: str | None, table: str | None) -> bool:
        if self.keyspace not in (ANY_KEYSPACE, keyspace):
            return False
        if table is None:
            return self.tables is None
        return self.tables is None or table in self.tables


@dataclass(frozen=True, slots=True)
class _Window:
    days: frozenset[int]
    start: time
    end: time | None  # None: midnight at the end of the day
    zone: ZoneInfo
    text: str

    def contains(self, at: datetime) -> bool:
        local = at.astimezone(self.zone)
        now, day = local.time(), local.weekday()
        if self.end is None or self.end > self.start:
            return day in self.days and self.start <= now and (self.end is None or now < self.end)
        # Past midnight: the evening of a listed day, or the early hours of the day after it.
        return (day in self.days and now >= self.start) or (
            (day - 1) % 7 in self.days and now < self.end
        )


@dataclass(frozen=True, slots=True)
class _Rule:
    name: str
    subjects: frozenset[str]
    groups: frozenset[str]
    grants: tuple[_Grant, ...]
    max_consistency: str | None
    max_batch: int | None
    max_page: int | None
    rate: RateSpec | None
    windows: tuple[_Window, ...] | None
    login: str | None

    def allowing(self) -> Decision:
        """The decision when this rule allows a request."""
        return Decision(True, self.name, f"allowed by rule {self.name}", self.rate, self.login)

    def matches(self, subject: str, groups: frozenset[str]) -> bool:
        return (
            ANY_SUBJECT in self.subjects
            or subject in self.subjects
            or not self.groups.isdisjoint(groups)
        )


def _window(spec: WindowSpec) -> _Window:
    days = ",".join(spec.days)
    end = "24:00" if spec.end is None else f"{spec.end:%H:%M}"
    return _Window(
        days=frozenset(DAYS.index(day) for day in spec.days),
        start=spec.start,
        end=spec.end,
        zone=ZoneInfo(spec.tz),
        text=f"{days} {spec.start:%H:%M}-{end} {spec.tz}",
    )


def _compile(rule: RuleSpec, spec: PolicySpec) -> _Rule:
    # A limit the rule leaves out comes from defaults; one it sets to null is no limit.
    def limit(name: str) -> object:
        source = rule if name in rule.model_fields_set else spec.defaults
        return getattr(source, name)

    max_consistency = limit("max_consistency")
    max_batch = limit("max_batch_statements")
    max_page = limit("max_page_size")
    rate = limit("rate")
    assert max_consistency is None or isinstance(max_consistency, str)
    assert max_batch is None or isinstance(max_batch, int)
    assert max_page is None or isinstance(max_page, int)
    assert rate is None or isinstance(rate, RateSpec)
    return _Rule(
        name=rule.name,
        subjects=frozenset(rule.match.subjects),
        groups=frozenset(rule.match.groups),
        grants=tuple(
            _Grant(
                keyspace=allow.keyspace,
                tables=None if allow.tables is None else frozenset(allow.tables),
                verbs=frozenset(allow.verbs),
            )
            for allow in rule.allow
        ),
        max_consistency=max_consistency,
        max_batch=max_batch,
        max_page=max_page,
        rate=rate,
        windows=None if rule.windows is None else tuple(_window(w) for w in rule.windows),
        login=rule.login,
    )


def _name(keyspace: str | None, table: str | None) -> str:
    where = keyspace if keyspace is not None else "(no keyspace)"
    return f"keyspace {where}" if table is None else f"{where}.{table}"


def _consistency_problem(level: str | None, maximum: str | None, what: str) -> str | None:
    if level is None or maximum is None:
        return None
    level_rank, maximum_rank = rank(level), rank(maximum)
    assert maximum_rank is not None  # validated when the policy was read
    if level_rank is None:
        return f"unknown {what} level {level}"
    if level_rank > maximum_rank:
        return f"{what} {level.upper()} is above the maximum {maximum}"
    return None


def _check(rule: _Rule, action: Action) -> tuple[int, str | None]:
    """How far ``action`` gets through ``rule``'s checks, and why it stops (None: allowed)."""
    verb, keyspace, table = action.verb, action.keyspace, action.table
    covering = [grant for grant in rule.grants if grant.covers(keyspace, table)]
    if not covering:
        return 1, f"rule {rule.name} does not cover {_name(keyspace, table)}"
    if not any(verb in grant.verbs for grant in covering):
        verbs = sorted(frozenset[str]().union(*(grant.verbs for grant in covering)))
        return 2, (
            f"rule {rule.name} allows only {', '.join(verbs)} on "
            f"{_name(keyspace, table)}, not {verb}"
        )
    if rule.windows is not None and not any(w.contains(action.at) for w in rule.windows):
        first = rule.windows[0]
        local = action.at.astimezone(first.zone)
        windows = "; ".join(w.text for w in rule.windows)
        return 3, (
            f"rule {rule.name} allows it only within {windows} "
            f"(it is {DAYS[local.weekday()]} {local:%H:%M} in {first.zone.key})"
        )
    if verb in (Verb.SELECT, Verb.MODIFY):
        for level, what in (
            (action.consistency, "consistency"),
            (action.serial_consistency, "serial consistency"),
        ):
            problem = _consistency_problem(level, rule.max_consistency, what)
            if problem is not None:
                return 4, f"{problem} of rule {rule.name}"
    if (
        action.batch_statements is not None
        and rule.max_batch is not None
        and action.batch_statements > rule.max_batch
    ):
        return 5, (
            f"a batch of {action.batch_statements} statements is above the maximum "
            f"{rule.max_batch} of rule {rule.name}"
        )
    if verb is Verb.SELECT and rule.max_page is not None and action.runs:
        if action.page_size is None or action.page_size <= 0:
            return 6, (
                f"an unpaged SELECT: rule {rule.name} allows pages of at most "
                f"{rule.max_page} rows (set a fetch size)"
            )
        if action.page_size > rule.max_page:
            return 6, (
                f"page size {action.page_size} is above the maximum {rule.max_page} "
                f"of rule {rule.name}"
            )
    return 7, None


def _who(subject: str, groups: frozenset[str]) -> str:
    member = f"groups {', '.join(sorted(groups))}" if groups else "no groups"
    return f"subject {subject!r} ({member})"


class Policy:
    """A validated policy with its rules compiled; immutable and thread-safe."""

    def __init__(self, spec: PolicySpec, source: str = "<policy>") -> None:
        self.spec = spec
        #: Where the policy came from (a path), for messages.
        self.source = source
        self._rules = tuple(_compile(rule, spec) for rule in spec.rules)
        self._uses_time = any(rule.windows is not None for rule in self._rules)
        self._schema_reads = spec.defaults.schema_reads
        self._schema_max = spec.defaults.max_consistency
        self._candidates: dict[tuple[str, frozenset[str]], tuple[_Rule, ...]] = {}

    def __repr__(self) -> str:
        return f"Policy({self.source!r}, rules={self.rule_names!r})"

    @property
    def logins(self) -> frozenset[str]:
        """The upstream logins the rules name (the proxy's configuration must define each)."""
        return frozenset(rule.login for rule in self._rules if rule.login is not None)

    @property
    def uses_time(self) -> bool:
        """Whether a decision may depend on when the request came (a rule has time windows,
        whose edges are whole minutes)."""
        return self._uses_time

    @property
    def rule_names(self) -> tuple[str, ...]:
        """The rules' names, in file order."""
        return tuple(rule.name for rule in self._rules)

    def decide(self, subject: str, groups: Collection[str], action: Action) -> Decision:
        """Allow or deny ``action`` for the identity (token subject and groups)."""
        group_set = groups if isinstance(groups, frozenset) else frozenset(groups)
        if self._schema_reads:
            schema = self._schema_decision(action)
            if schema is not None:
                return schema
        rules = self._matching(subject, group_set)
        if not rules:
            return Decision(False, None, f"no rule matches {_who(subject, group_set)}")
        if action.verb is Verb.USE:
            return self._use(rules, action.keyspace)
        if action.verb not in _RULE_VERBS:
            return Decision(
                False,
                None,
                f"{action.verb} statements (DESCRIBE) are allowed only with defaults.schema_reads",
            )
        best: tuple[int, _Rule, str] | None = None
        for rule in rules:
            progress, reason = _check(rule, action)
            if reason is None:
                return Decision(
                    True, rule.name, f"allowed by rule {rule.name}", rule.rate, rule.login
                )
            if best is None or progress > best[0]:
                best = (progress, rule, reason)
        assert best is not None
        return Decision(False, best[1].name, best[2])

    def _schema_decision(self, action: Action) -> Decision | None:
        """The decision on a schema read, or None when ``action`` is no schema read."""
        rate = self.spec.defaults.rate
        if action.verb in (Verb.USE, Verb.OTHER):
            # Cassandra checks no permission for USE and DESCRIBE: the schema is public to
            # every login (the statements that follow are checked).
            return Decision(
                True, SCHEMA_RULE, "allowed: schema reads are open to every login", rate
            )
        readable = (
            action.keyspace in _READABLE_KEYSPACES
            or (action.keyspace, action.table) in _READABLE_TABLES
        )
        if action.verb is not Verb.SELECT or not readable:
            return None
        for level in (action.consistency, action.serial_consistency):
            problem = _consistency_problem(level, self._schema_max, "consistency")
            if problem is not None:
                return Decision(False, SCHEMA_RULE, f"{problem} of defaults")
        return Decision(
            True, SCHEMA_RULE, "allowed: system and schema tables are readable by every login", rate
        )

    def _use(self, rules: tuple[_Rule, ...], keyspace: str | None) -> Decision:
        for rule in rules:
            if any(grant.keyspace in (ANY_KEYSPACE, keyspace) for grant in rule.grants):
                return Decision(
                    True, rule.name, f"allowed by rule {rule.name}", rule.rate, rule.login
                )
        return Decision(False, None, f"no rule covers keyspace {keyspace}")

    def _matching(self, subject: str, groups: frozenset[str]) -> tuple[_Rule, ...]:
        key = (subject, groups)
        found = self._candidates.get(key)
        if found is None:
            found = tuple(rule for rule in self._rules if rule.matches(subject, groups))
            if len(self._candidates) >= _CANDIDATE_CACHE_SIZE:
                self._candidates.clear()
            self._candidates[key] = found
        return found


def parse_policy(text: str, source: str | os.PathLike[str] = "<policy>") -> Policy:
    """A policy from YAML ``text``; ``source`` names it in errors."""
    return Policy(read_policy_spec(text, source), str(source))


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """Read and validate a policy file; :class:`PolicyError` names file:line:column."""
    path = Path(path)
    return parse_policy(read_text(path, PolicyError), path)
