"""The policy file: YAML in, a validated :class:`PolicySpec` out, and errors that name the
file, line and column of the offending key.

The shape (docs/proxy-policy.md describes every field)::

    version: 1
    defaults: {max_consistency: LOCAL_QUORUM, max_batch_statements: 50, max_page_size: 5000}
    rules:
      - name: analysts-read-shop
        match: {groups: [analysts]}
        allow:
          - {keyspace: shop, tables: [orders, customers], verbs: [SELECT]}
        rate: {requests_per_second: 200, rows_per_second: 10000, burst: 2.0}
        windows: [{days: [mon, fri], from: "08:00", to: "18:00", tz: Europe/Berlin}]

Keyspace and table names are CQL names: unquoted they are case-insensitive (``Shop`` is
``shop``), in double quotes they are taken as written (``'"Shop"'`` in YAML), exactly as in a
CQL ``GRANT``.
"""

from __future__ import annotations

import os
import re
from datetime import time
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from cassflow._yamlfile import check_keys, locate, parse, position, validation_problems
from cassflow.errors import CassflowError
from cassflow.proxy._consistency import ORDER, SERIAL_EQUIVALENT

#: Day names of time windows, Monday first (``datetime.weekday()`` order).
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: What ``keyspace`` says to cover every keyspace (and statements about no keyspace).
ANY_KEYSPACE = "*"
#: What ``subjects`` says to match every identity that logged in.
ANY_SUBJECT = "*"

_UNQUOTED = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_QUOTED = re.compile(r'"((?:[^"]|"")+)"\Z')
_RULE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:@-]*$"
_CLOCK = re.compile(r"(\d{2}):(\d{2})\Z")


class PolicyError(CassflowError):
    """A policy file that cannot be used; each line starts with ``file:line:column:``."""


def cql_name(text: str) -> str:
    """A keyspace or table name as Cassandra stores it, from its CQL spelling: unquoted names
    are lower-cased, double-quoted ones are kept with ``""`` read as ``"``."""
    if _UNQUOTED.match(text):
        return text.lower()
    quoted = _QUOTED.match(text)
    if quoted:
        return quoted[1].replace('""', '"')
    raise ValueError(
        f"{text!r} is not a CQL name: write a letter followed by letters, digits or _ "
        """(case-insensitive), or a double-quoted name such as '"Orders"' (case-sensitive)"""
    )


def _keyspace(value: object) -> object:
    if isinstance(value, str) and value != ANY_KEYSPACE:
        return cql_name(value)
    return value


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _table(value: object) -> object:
    if value == ANY_KEYSPACE:
        raise ValueError("leave out tables to cover every table of the keyspace")
    return cql_name(value) if isinstance(value, str) else value


Consistency = Annotated[Literal[ORDER], BeforeValidator(_upper)]  # type: ignore[valid-type]
PolicyVerb = Annotated[Literal["SELECT", "MODIFY", "DDL", "AUTH"], BeforeValidator(_upper)]
Day = Annotated[Literal[DAYS], BeforeValidator(_lower)]  # type: ignore[valid-type]
KeyspaceName = Annotated[str, BeforeValidator(_keyspace)]
TableName = Annotated[str, BeforeValidator(_table)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RateSpec(_Spec):
    """Token-bucket limits per identity and rule: sustained rates, and how many seconds' worth
    may be spent at once (``burst``; at least one request or row)."""

    requests_per_second: float | None = Field(default=None, gt=0)
    rows_per_second: float | None = Field(default=None, gt=0)
    burst: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _some_rate(self) -> RateSpec:
        if self.requests_per_second is None and self.rows_per_second is None:
            raise ValueError("give requests_per_second, rows_per_second or both")
        return self


class LimitsSpec(_Spec):
    """Limits a rule sets, or inherits from ``defaults`` (an explicit null: no limit)."""

    max_consistency: Consistency | None = None
    max_batch_statements: int | None = Field(default=None, gt=0)
    max_page_size: int | None = Field(default=None, gt=0)
    rate: RateSpec | None = None

    @field_validator("max_consistency", mode="before")
    @classmethod
    def _not_serial(cls, value: object) -> object:
        if isinstance(value, str) and value.upper() in SERIAL_EQUIVALENT:
            level = SERIAL_EQUIVALENT[value.upper()]
            raise ValueError(
                f"a maximum is a regular level; {value.upper()} is checked as {level}, "
                f"so write {level}"
            )
        return value


class DefaultsSpec(LimitsSpec):
    """Limits of rules that do not set their own, and whether schema reads are free."""

    max_consistency: Consistency | None = "LOCAL_QUORUM"
    max_batch_statements: int | None = Field(default=50, gt=0)
    max_page_size: int | None = Field(default=5000, gt=0)
    #: SELECT on system.local/peers/peers_v2, system_schema and system_virtual_schema, DESCRIBE
    #: and USE for every identity: what Cassandra grants every login (drivers need them).
    schema_reads: bool = True


class MatchSpec(_Spec):
    """Who a rule is for: any of these subjects (``*``: everyone) or members of any group."""

    subjects: list[Annotated[str, Field(min_length=1)]] = []
    groups: list[Annotated[str, Field(min_length=1)]] = []

    @model_validator(mode="after")
    def _someone(self) -> MatchSpec:
        if not self.subjects and not self.groups:
            raise ValueError("name subjects, groups or both")
        return self


class AllowSpec(_Spec):
    """Verbs on a keyspace (``*``: every keyspace), on the listed tables or on all of them."""

    keyspace: KeyspaceName
    tables: list[TableName] | None = Field(default=None, min_length=1)
    verbs: list[PolicyVerb] = Field(min_length=1)


class WindowSpec(_Spec):
    """Days and a time of day in a time zone; ``to`` before ``from`` runs past midnight."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    days: list[Day] = Field(default=list(DAYS), min_length=1)
    start: time = Field(alias="from")
    end: time | None = Field(alias="to")
    tz: str = "UTC"

    @field_validator("start", "end", mode="before")
    @classmethod
    def _clock(cls, value: object) -> object:
        if not isinstance(value, str) or not _CLOCK.match(value):
            raise ValueError(f'expected a time of day "HH:MM", got {value!r}')
        hours, minutes = int(value[:2]), int(value[3:])
        if (hours, minutes) == (24, 0):
            return None  # the end of the day
        if hours > 23 or minutes > 59:
            raise ValueError(f'{value!r} is no time of day (00:00 to 23:59, or "24:00" for "to")')
        return time(hours, minutes)

    @field_validator("tz")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> WindowSpec:
        if self.start is None:
            raise ValueError('"24:00" can only end a window')
        if self.end == self.start:
            raise ValueError("from and to are equal; leave out windows for all day")
        return self


class RuleSpec(LimitsSpec):
    """One allowing rule."""

    name: str = Field(pattern=_RULE_NAME)
    description: str | None = None
    match: MatchSpec
    allow: list[AllowSpec] = Field(min_length=1)
    windows: list[WindowSpec] | None = Field(default=None, min_length=1)
    #: The upstream login (``upstream.logins`` of the proxy's configuration) the requests this
    #: rule allows run as; None: the upstream's own username and password.
    login: str | None = Field(default=None, pattern=_RULE_NAME)


class PolicySpec(_Spec):
    """The whole policy file."""

    version: Literal[1]
    defaults: DefaultsSpec = DefaultsSpec()
    rules: list[RuleSpec] = []


class _Loader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML is untyped here
    """PyYAML's safe loader, minus YAML 1.1's base-60 numbers: an unquoted ``18:00`` stays the
    text ``18:00`` instead of the integer 1080 (times of day are common here)."""

    def resolve(self, kind: type[yaml.Node], value: str, implicit: tuple[bool, bool]) -> str:
        tag: str = super().resolve(kind, value, implicit)
        if kind is yaml.ScalarNode and ":" in value and tag in _NUMBER_TAGS:
            return "tag:yaml.org,2002:str"
        return tag


_NUMBER_TAGS = frozenset({"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"})


def read_policy_spec(text: str, source: str | os.PathLike[str]) -> PolicySpec:
    """Validate policy ``text``; ``source`` (a path) names it in errors."""
    where = str(Path(source))
    root, data = parse(text, where, PolicyError, _Loader)
    if root is None or not isinstance(data, dict):
        raise PolicyError(f"{where}: expected a mapping with version, defaults and rules")
    check_keys(where, root, PolicyError, self_alias="an alias inside its own anchor's value")
    try:
        spec = PolicySpec.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(validation_problems(where, root, exc, is_key=_is_key)) from None
    _check_rule_names(where, root, spec)
    return spec


def _is_key(item: str | int) -> bool:
    # Literal and union members add a tag of their own to the location: not a key.
    return not (isinstance(item, str) and "[" in item)


def _check_rule_names(where: str, root: yaml.Node, spec: PolicySpec) -> None:
    seen: dict[str, int] = {}
    for index, rule in enumerate(spec.rules):
        if rule.name in seen:
            node = locate(root, ("rules", index, "name"))
            raise PolicyError(
                f"{position(where, node)}: rules.{index}.name: rule name {rule.name!r} is already "
                f"used by rule {seen[rule.name] + 1}; names must be unique (audit lines and "
                "rate limits are kept per rule)"
            )
        seen[rule.name] = index
