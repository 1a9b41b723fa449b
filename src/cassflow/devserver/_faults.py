"""Fault injection: rules that make the dev server misbehave the way a sick cluster does.

A rule matches requests by statement text (a regular expression, searched case-insensitively),
keyspace and table, fires with a probability and at most ``count`` times, and then makes the
server answer with an error Cassandra sends under load (WriteTimeout, ReadTimeout, Unavailable,
Overloaded, ServerError), answer late, drop the connection, or never answer. Rules come from a
YAML file (``cassflow dev --faults FILE``) or the Python API, and can change while the server
runs: tests of retries and resume rely on that. This is the role DataStax's Simulacron plays
for JVM drivers.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cassflow.errors import CassflowError
from cassflow.protocol import (
    Consistency,
    ErrorMessage,
    Overloaded,
    ReadTimeout,
    ServerError,
    Unavailable,
    WriteTimeout,
    WriteType,
)


class FaultError(CassflowError):
    """A fault rule or rule file is invalid."""


class FaultKind(StrEnum):
    """What a matching rule does to the request."""

    WRITE_TIMEOUT = "write_timeout"
    READ_TIMEOUT = "read_timeout"
    UNAVAILABLE = "unavailable"
    OVERLOADED = "overloaded"
    SERVER_ERROR = "server_error"
    LATENCY = "latency"
    DROP_CONNECTION = "drop_connection"
    NO_RESPONSE = "no_response"


class FaultRule(BaseModel):
    """One rule. Every given criterion must match; an omitted one matches everything."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fault: FaultKind
    #: Regular expression searched (case-insensitively) in the statement's CQL text.
    statement: str | None = None
    keyspace: str | None = None
    table: str | None = None
    #: Chance that a matching request is hit.
    probability: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0
    #: How many times the rule fires before it retires; None: forever.
    count: Annotated[int, Field(ge=1)] | None = None
    #: For ``latency``: how long to wait before answering normally.
    delay_ms: Annotated[int, Field(ge=0)] = 0
    #: The consistency level the error reports (as the driver's retry policies read it).
    consistency: Consistency = Consistency.LOCAL_ONE

    @field_validator("statement")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return pattern

    @field_validator("consistency", mode="before")
    @classmethod
    def _consistency_by_name(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return Consistency[value.upper()]
            except KeyError:
                raise ValueError(f"unknown consistency level {value!r}") from None
        return value


class _RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rules: list[FaultRule] = []


@dataclass(frozen=True, slots=True)
class Fault:
    """What the server must do with one request."""

    kind: FaultKind
    rule_id: int
    #: The error to answer with, for the error kinds.
    error: ErrorMessage | None = None
    delay_seconds: float = 0.0


def fault_error(rule: FaultRule) -> ErrorMessage | None:
    """The ERROR message Cassandra would send for this kind of fault (None: not an error)."""
    cl = rule.consistency
    if rule.fault is FaultKind.WRITE_TIMEOUT:
        return WriteTimeout(
            message="Operation timed out - received only 0 responses.",
            consistency=cl,
            received=0,
            block_for=1,
            write_type=WriteType.SIMPLE,
        )
    if rule.fault is FaultKind.READ_TIMEOUT:
        return ReadTimeout(
            message="Operation timed out - received only 0 responses.",
            consistency=cl,
            received=0,
            block_for=1,
            data_present=False,
        )
    if rule.fault is FaultKind.UNAVAILABLE:
        return Unavailable(
            message="Cannot achieve consistency level " + cl.name,
            consistency=cl,
            required=1,
            alive=0,
        )
    if rule.fault is FaultKind.OVERLOADED:
        return Overloaded(message="Server is in overloaded state. Cannot accept more requests.")
    if rule.fault is FaultKind.SERVER_ERROR:
        return ServerError(message="java.lang.RuntimeException: injected fault")
    return None


#: Faults that only the execution of a statement can meet (never a PREPARE).
_EXECUTION_ONLY = frozenset(
    {FaultKind.WRITE_TIMEOUT, FaultKind.READ_TIMEOUT, FaultKind.UNAVAILABLE}
)


class FaultInjector:
    """The live rule set of one server; safe to change from any thread while it runs."""

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._rules: dict[int, FaultRule] = {}
        self._fired: dict[int, int] = {}
        self._patterns: dict[int, re.Pattern[str] | None] = {}
        self._next_id = 1
        self._random = random.Random(seed)

    def add(self, rule: FaultRule | dict[str, Any], /) -> int:
        """Install a rule (a FaultRule or its dict form); returns its id."""
        if not isinstance(rule, FaultRule):
            try:
                rule = FaultRule.model_validate(rule)
            except ValidationError as exc:
                raise FaultError(f"invalid fault rule: {exc}") from None
        with self._lock:
            rule_id = self._next_id
            self._next_id += 1
            self._rules[rule_id] = rule
            self._fired[rule_id] = 0
            self._patterns[rule_id] = (
                re.compile(rule.statement, re.IGNORECASE) if rule.statement else None
            )
        return rule_id

    def remove(self, rule_id: int) -> None:
        """Retire one rule."""
        with self._lock:
            self._rules.pop(rule_id, None)
            self._patterns.pop(rule_id, None)

    def clear(self) -> None:
        """Retire every rule."""
        with self._lock:
            self._rules.clear()
            self._patterns.clear()

    def fired(self, rule_id: int) -> int:
        """How many requests the rule has hit so far."""
        with self._lock:
            return self._fired.get(rule_id, 0)

    @property
    def active(self) -> bool:
        """Whether any rule is in force (a cheap check for every request)."""
        return bool(self._rules)  # one read of a dict: atomic, no lock needed

    @property
    def rules(self) -> dict[int, FaultRule]:
        """The rules in force, by id."""
        with self._lock:
            return dict(self._rules)

    def load_file(self, path: str | Path) -> list[int]:
        """Install every rule of a YAML rule file (``rules: [...]``); returns their ids."""
        path = Path(path)
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise FaultError(f"{path}: cannot read fault rules: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise FaultError(f"{path}: not valid YAML: {exc}") from None
        try:
            parsed = _RuleFile.model_validate(document)
        except ValidationError as exc:
            raise FaultError(f"{path}: invalid fault rules: {exc}") from None
        return [self.add(rule) for rule in parsed.rules]

    def check(
        self,
        statement: str | None,
        keyspace: str | None,
        table: str | None,
        *,
        executes: bool = True,
    ) -> Fault | None:
        """The fault to apply to a request, if a rule fires for it.

        ``executes`` is False for a PREPARE: Cassandra sends timeouts and Unavailable only
        while executing a statement, so those rules pass a PREPARE by (uncounted).
        """
        with self._lock:
            for rule_id, rule in self._rules.items():
                if not executes and rule.fault in _EXECUTION_ONLY:
                    continue
                if not self._matches(rule_id, rule, statement, keyspace, table):
                    continue
                if rule.probability < 1.0 and self._random.random() >= rule.probability:
                    continue
                self._fired[rule_id] += 1
                if rule.count is not None and self._fired[rule_id] >= rule.count:
                    del self._rules[rule_id]
                return Fault(
                    kind=rule.fault,
                    rule_id=rule_id,
                    error=fault_error(rule),
                    delay_seconds=rule.delay_ms / 1000,
                )
        return None

    def _matches(
        self,
        rule_id: int,
        rule: FaultRule,
        statement: str | None,
        keyspace: str | None,
        table: str | None,
    ) -> bool:
        pattern = self._patterns.get(rule_id)
        if pattern is not None and (statement is None or not pattern.search(statement)):
            return False
        if rule.keyspace is not None and rule.keyspace != keyspace:
            return False
        return rule.table is None or rule.table == table
