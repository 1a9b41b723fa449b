"""The rules of ``cassflow doctor``: their ids, severities and fixes, and the predicates the
YAML and Python checks share (what a credential-like name is, what counts as a literal secret,
credentials inside URLs, Cassandra's batch thresholds).

The checks themselves live in :mod:`cassflow.access._doctor_yaml` (pipeline files, on the
line-aware YAML node tree) and :mod:`cassflow.access._doctor_python` (DAG files, on the
``ast`` tree; never imported or run). docs/doctor.md explains every rule.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]

#: Cassandra's ``batch_size_warn_threshold`` (cassandra.yaml default, 5 KiB): a bigger batch
#: is logged as a warning on the coordinator, and ten times it (50 KiB) fails.
BATCH_WARN_BYTES = 5 * 1024
#: Partitions a batch may span before Cassandra warns (``unlogged_batch_across_partitions``).
BATCH_WARN_PARTITIONS = 10
#: Rows per batch beyond which a batch of ordinary rows (50+ bytes each) passes 5 KiB.
BATCH_MAX_ROWS = 100


@dataclass(frozen=True)
class Rule:
    """One kind of finding: its id, how bad it is, what it is about and the usual fix."""

    id: str
    severity: Severity
    summary: str
    fix: str


RULES: dict[str, Rule] = {
    rule.id: rule
    for rule in (
        Rule(
            "syntax-error",
            "error",
            "the file is not valid YAML or Python, so nothing else in it was checked",
            "correct the syntax at the position shown",
        ),
        Rule(
            "invalid-pipeline",
            "error",
            "the pipeline file does not validate against cassflow's pipeline spec",
            "correct the key or value the message names",
        ),
        Rule(
            "plaintext-credential",
            "error",
            "a password, secret, token or key is written into the file as a literal",
            'use a secret reference, e.g. password: "${secret:env:SHOP_PASSWORD}" or '
            '"${secret:vault:kv/shop#password}", and rotate the exposed value',
        ),
        Rule(
            "hand-built-cluster",
            "error",
            "a cassandra.cluster.Cluster is built by hand, bypassing cassflow's connection "
            "(no keyspace guard, identity, secrets or TLS defaults)",
            "open the connection through cassflow (a pipeline connection, or cassflow's "
            "Airflow hook/operators) instead of Cluster(...)",
        ),
        Rule(
            "no-keyspace",
            "error",
            "a connection is not bound to a keyspace, so it may touch every keyspace its "
            "credentials reach",
            "bind it to one keyspace (keyspace: <name>; extra ones it reads under "
            "read_keyspaces), or cluster.connect('<keyspace>')",
        ),
        Rule(
            "per-row-execute",
            "warning",
            "session.execute inside a for loop or comprehension: one synchronous round trip "
            "per row (a request storm that is slow and unthrottled)",
            "copy with cassflow (batched, throttled, retried), or use a prepared statement "
            "with cassandra.concurrent.execute_concurrent_with_args",
        ),
        Rule(
            "batch-too-large",
            "warning",
            "batch settings let a batch pass Cassandra's batch_size_warn_threshold (5 KiB) "
            "or span more than 10 partitions",
            f"leave the defaults (batch_size 32, max_batch_bytes {BATCH_WARN_BYTES}, "
            f"max_batch_partitions {BATCH_WARN_PARTITIONS}) or stay at or below them",
        ),
        Rule(
            "no-retries",
            "warning",
            "the copy is all-or-nothing: one transient error (slice_attempts: 1) or one bad "
            "record (max_errors: 0) fails the whole copy",
            "keep slice_attempts >= 2 (default 4) and let max_errors quarantine a few bad "
            "records (default 100, or a share such as '1%')",
        ),
        Rule(
            "consistency-any",
            "error",
            "consistency ANY acknowledges a write stored only as a hint on the coordinator; "
            "it can be lost and cannot be read back until delivered",
            "use LOCAL_QUORUM (or LOCAL_ONE where a lost write is acceptable)",
        ),
        Rule(
            "insecure-tls",
            "error",
            "TLS is switched off, or its certificate or hostname verification is, so "
            "anyone in the path can read the traffic or pose as the server",
            "use TLS and verify the server: give the CA certificate, keep check_hostname "
            "and verify on",
        ),
        Rule(
            "cql-string-formatting",
            "warning",
            "a CQL statement is built by string formatting (CQL injection; no prepared "
            "statement, so no token-aware routing)",
            "use bind markers: session.execute(prepared, (value,)) with "
            "prepared = session.prepare('... WHERE id = ?')",
        ),
    )
}


@dataclass(frozen=True)
class Finding:
    """One problem: where it is (1-based line and column), which rule, what and how to fix."""

    path: str
    line: int
    column: int
    rule: str
    message: str
    fix: str

    @property
    def severity(self) -> Severity:
        """The rule's severity."""
        return RULES[self.rule].severity

    def as_dict(self) -> dict[str, str | int]:
        """The finding as JSON-ready data."""
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "rule": self.rule,
            "severity": self.severity,
            "message": self.message,
            "fix": self.fix,
        }


def finding(path: str, line: int, column: int, rule: str, message: str, fix: str = "") -> Finding:
    """A finding of ``rule``; the fix defaults to the rule's usual one."""
    return Finding(path, line, column, rule, message, fix or RULES[rule].fix)


# Words of a name (snake_case or camelCase) that make it a credential ...
_SECRET_WORDS = frozenset(
    {"password", "passwd", "pwd", "passphrase", "secret", "token", "credential", "credentials"}
)
_SECRET_PAIRS = frozenset({("api", "key"), ("account", "key"), ("private", "key")})
# ... unless the last word says it only names or points at one.
_POINTER_WORDS = frozenset(
    {
        "id", "file", "path", "env", "name", "var", "variable", "ref", "url", "uri", "type",
        "field", "column", "col", "header", "backend", "provider", "kind", "mode", "policy",
        "ttl", "expiry", "expires", "endpoint", "length", "len", "hash", "prompt",
        "authenticator", "authorizer", "class", "prefix", "suffix", "pattern", "regex",
        "format", "label", "message", "mark", "marker", "placeholder", "hint", "help",
    }
)  # fmt: skip
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
#: Names whose number values are still passwords (a numeric token is a Cassandra ring token).
_PASSWORD_WORDS = frozenset({"password", "passwd", "pwd", "passphrase"})


def _words(name: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(name)]


def is_credential_name(name: str) -> bool:
    """Whether a field, keyword or variable called ``name`` holds a credential."""
    words = _words(name)
    if not words or words[-1] in _POINTER_WORDS:
        return False
    return bool(_SECRET_WORDS.intersection(words)) or any(
        pair in _SECRET_PAIRS for pair in itertools.pairwise(words)
    )


def is_password_name(name: str) -> bool:
    """Whether ``name`` is a password's (so that even a number in it is a literal secret)."""
    return bool(_PASSWORD_WORDS.intersection(_words(name)))


def is_reference(text: str) -> bool:
    """Whether ``text`` is (or is built from) a reference resolved at run time: a cassflow
    ``${secret:...}`` / ``${env:...}`` reference or an Airflow Jinja template."""
    return "${secret:" in text or "${env:" in text or "{{" in text


def is_literal_secret(value: object, name: str) -> bool:
    """Whether ``value``, held by the credential-like ``name``, is a secret written in plain."""
    if isinstance(value, str):
        return bool(value.strip()) and not is_reference(value)
    if isinstance(value, bool) or value is None:
        return False
    return isinstance(value, int | float) and is_password_name(name)


# scheme://user:password@ — the password part is what matters.
_URL_CREDENTIALS = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:)([^/\s]+)(@[^/\s@?#]*)")


#: The fix for a URL with a password in it.
URL_FIX = (
    "write the password as a reference inside the URL or string, e.g. "
    "postgresql://etl:${secret:env:PG_PASSWORD}@db/dw, and rotate the exposed value"
)


# Key=value connection strings: Azure storage (AccountKey=, SharedAccessSignature=), ODBC and
# ADO.NET (Password=, Pwd=).
_KEY_VALUE_CREDENTIALS = re.compile(
    r"(?:^|;)\s*(AccountKey|SharedAccessSignature|Password|Pwd)\s*=\s*([^;]+)", re.IGNORECASE
)
_MASKS = frozenset({"***", "****", "xxx", "<password>"})


def url_credentials(text: str) -> str | None:
    """The first URL or connection string in ``text`` with a literal password, the password
    masked (``postgresql://etl:***@db``, ``AccountKey=***``); else None."""
    for match in _URL_CREDENTIALS.finditer(text):
        if not is_reference(match[2]) and match[2] not in _MASKS:
            return f"{match[1]}***{match[3]}"
    for match in _KEY_VALUE_CREDENTIALS.finditer(text):
        value = match[2].strip()
        if value and not is_reference(value) and value not in _MASKS and value[0] not in "{%":
            return f"{match[1]}=***"
    return None


def batch_problem(key: str, value: object) -> str | None:
    """Why a batch setting ``key: value`` exceeds Cassandra's warning thresholds, or None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    if key == "batch_size" and value > BATCH_MAX_ROWS:
        return (
            f"batch_size {value} rows per batch: over {BATCH_MAX_ROWS} rows a batch passes "
            f"Cassandra's {BATCH_WARN_BYTES}-byte batch_size_warn_threshold at 50 bytes a row"
        )
    if key == "max_batch_bytes" and value > BATCH_WARN_BYTES:
        return (
            f"max_batch_bytes {value} is over Cassandra's batch_size_warn_threshold "
            f"({BATCH_WARN_BYTES} bytes)"
        )
    if key == "max_batch_partitions" and value > BATCH_WARN_PARTITIONS:
        return (
            f"max_batch_partitions {value}: Cassandra warns about unlogged batches over "
            f"{BATCH_WARN_PARTITIONS} partitions"
        )
    return None


def retry_problem(key: str, value: object) -> str | None:
    """Why an attempts setting of 1 or ``max_errors`` 0 makes a copy all-or-nothing, or None."""
    if isinstance(value, bool):
        return None
    if key in {"slice_attempts", "request_attempts"} and value == 1:
        return f"{key}: 1 retries nothing: one timeout or overload fails the copy"
    if key == "max_errors" and (value == 0 or (isinstance(value, str) and _zero_share(value))):
        return (
            "max_errors: 0 aborts the copy at its first bad record, and a resumed run stops "
            "at the same record again"
        )
    return None


def _zero_share(text: str) -> bool:
    try:
        return text.endswith("%") and float(text[:-1]) == 0.0
    except ValueError:
        return False


_INSECURE_FALSE = frozenset({"check_hostname", "verify", "verify_ssl", "ssl_verify"})
_TLS_SWITCHES = frozenset({"use_ssl", "ssl", "tls", "use_tls"})


def tls_problem(key: str, value: object) -> str | None:
    """Why ``key: value`` switches TLS verification off, or None."""
    if key in _INSECURE_FALSE and value is False:
        return f"{key}: false switches off TLS verification"
    if key in _TLS_SWITCHES and value is False:
        return f"{key}: false sends data and credentials unencrypted"
    if key == "cert_reqs" and isinstance(value, str) and value.upper() in {"NONE", "CERT_NONE"}:
        return f"cert_reqs: {value} accepts any server certificate"
    return None


_SUPPRESS = re.compile(r"#\s*doctor:\s*ignore(?:\[([A-Za-z0-9_,\s-]+)\])?")


def suppressed(line_text: str, rule: str) -> bool:
    """Whether the source line carries ``# doctor: ignore`` or ``# doctor: ignore[rule,...]``."""
    match = _SUPPRESS.search(line_text)
    if match is None:
        return False
    return match[1] is None or rule in {r.strip() for r in match[1].split(",")}
