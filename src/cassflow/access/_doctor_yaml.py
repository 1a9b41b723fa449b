"""``cassflow doctor`` on pipeline files: checks on the line-aware YAML node tree.

The file is composed with PyYAML (``yaml.compose``), so every finding carries the line and
column of the node it is about, and the checks run even on files that do not validate. The
validation itself (cassflow's pipeline spec) is handed in as a callable, because
``cassflow.access`` must not import ``cassflow.pipeline``; its errors become
``invalid-pipeline`` findings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Literal

import yaml
from yaml.constructor import SafeConstructor

from cassflow.access._doctor_rules import (
    URL_FIX,
    Finding,
    batch_problem,
    finding,
    is_credential_name,
    is_literal_secret,
    retry_problem,
    tls_problem,
    url_credentials,
)

#: What a YAML file is to the doctor: a pipeline, a file of connections, or something else.
Kind = Literal["pipeline", "connections"]

#: Validates the file at ``path`` as ``kind`` with ``${env:NAME}`` taken from ``env``; returns
#: the error text (lines ``<path>:line:column: message`` or ``<path>: message``) or None.
Validator = Callable[[Path, Kind, Mapping[str, str]], str | None]

#: What every ``${env:NAME}`` stands for while validating: the doctor's verdict must not
#: depend on the environment it runs in (the variables are set where the pipeline runs).
ENV_PLACEHOLDER = "cassflow_doctor_env"


class PlaceholderEnv(Mapping[str, str]):
    """An environment in which every variable is set, to :data:`ENV_PLACEHOLDER`."""

    def __getitem__(self, key: str) -> str:
        return ENV_PLACEHOLDER

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


_PIPELINE_KEYS = frozenset({"activities", "datasets"})
_ERROR_AT = re.compile(r"^:(\d+):(\d+): (.*)$")


def yaml_kind(root: yaml.Node | None) -> Kind | None:
    """Whether a composed YAML document is a pipeline file, a connections file, or neither."""
    if not isinstance(root, yaml.MappingNode):
        return None
    keys = {k.value for k, _ in root.value if isinstance(k, yaml.ScalarNode)}
    if keys & _PIPELINE_KEYS:
        return "pipeline"
    return "connections" if "connections" in keys else None


def lint_yaml(
    path: Path, text: str, validate: Validator | None
) -> tuple[Kind | None, list[Finding]]:
    """The findings in one YAML file, and what kind of file it is (None: not cassflow's)."""
    where = str(path)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return "pipeline", [
            finding(where, line, column, "syntax-error", f"not valid YAML: {exc.problem}")
        ]
    except yaml.YAMLError as exc:
        return "pipeline", [finding(where, 1, 1, "syntax-error", f"not valid YAML: {exc}")]
    kind = yaml_kind(root)
    if kind is None or root is None:
        return None, []
    findings: list[Finding] = []
    if validate is not None:
        try:
            error = validate(path, kind, PlaceholderEnv())
        except Exception as exc:  # the loader's bug must not hide the other findings
            # Only the type: a message might quote the file's values.
            error = f"{where}: cannot validate, the pipeline loader failed ({type(exc).__name__})"
        if error:
            findings += _validation_findings(where, error, _env_lines(root))
    findings += _Walker(where).walk(root)
    findings += _structure(where, root)
    return kind, findings


def _validation_findings(where: str, error: str, env_lines: set[int]) -> list[Finding]:
    """One finding per line of the validator's error text; errors on lines whose value is an
    ``${env:...}`` reference are dropped (the placeholder, not the file, is wrong there)."""
    result = []
    for text in error.splitlines():
        rest = text.removeprefix(where) if text.startswith(where) else ": " + text
        match = _ERROR_AT.match(rest)
        if match is not None:
            line, column, message = int(match[1]), int(match[2]), match[3]
        else:
            line, column, message = 1, 1, rest.removeprefix(": ")
        if line not in env_lines:
            result.append(finding(where, line, column, "invalid-pipeline", message))
    return result


def _env_lines(root: yaml.Node) -> set[int]:
    lines = set()
    for node in _nodes(root):
        if isinstance(node, yaml.ScalarNode) and "${env:" in str(node.value):
            lines.add(node.start_mark.line + 1)
    return lines


def _nodes(root: yaml.Node) -> Iterator[yaml.Node]:
    """Every node once (aliases share nodes; an anchor may even contain itself)."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack += [key, value]
        elif isinstance(node, yaml.SequenceNode):
            stack += node.value


def _value(node: yaml.Node) -> object:
    """A scalar node's Python value (int, bool, str, None, ...) as YAML types it."""
    if not isinstance(node, yaml.ScalarNode):
        return node
    try:
        return SafeConstructor().construct_object(node, deep=True)
    except yaml.YAMLError:
        return node.value


def _at(where: str, node: yaml.Node, rule: str, message: str, fix: str = "") -> Finding:
    mark = node.start_mark
    return finding(where, mark.line + 1, mark.column + 1, rule, message, fix)


class _Walker:
    """Checks that hold wherever a key appears: literal credentials, credentials in URLs,
    TLS verification switched off, consistency ANY."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.findings: list[Finding] = []
        self.seen: set[int] = set()

    def walk(self, root: yaml.Node) -> list[Finding]:
        self._node(root, "", "")
        return self.findings

    def _node(self, node: yaml.Node, key: str, dotted: str) -> None:
        if id(node) in self.seen:
            return
        self.seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                name = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
                self._node(value_node, name, f"{dotted}.{name}".lstrip("."))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._node(item, "", f"{dotted}[{index}]")
        elif isinstance(node, yaml.ScalarNode):
            self._scalar(node, key, dotted)

    def _scalar(self, node: yaml.ScalarNode, key: str, dotted: str) -> None:
        value = _value(node)
        if key and is_credential_name(key) and is_literal_secret(value, key):
            self.findings.append(
                _at(self.where, node, "plaintext-credential", f"{dotted} holds a literal secret")
            )
        elif isinstance(value, str) and (url := url_credentials(value)) is not None:
            self.findings.append(
                _at(
                    self.where,
                    node,
                    "plaintext-credential",
                    f"{dotted or 'a value'} holds a URL or connection string with a literal "
                    f"password ({url})",
                    URL_FIX,
                )
            )
        # A copy's ``verify`` reads the target back; everywhere else it is TLS's.
        copy_verify = key == "verify" and dotted.endswith(".copy.verify")
        problem = tls_problem(key, value) if key and not copy_verify else None
        if problem is not None:
            message = f"{dotted.removesuffix(key)}{problem}"
            self.findings.append(_at(self.where, node, "insecure-tls", message))
        if key == "consistency" and isinstance(value, str) and value.upper() == "ANY":
            self.findings.append(_at(self.where, node, "consistency-any", f"{dotted} is ANY"))


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                return value_node
    return None


def _items(node: yaml.Node | None) -> Iterator[tuple[yaml.ScalarNode, yaml.Node]]:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                yield key_node, value_node


def _structure(where: str, root: yaml.Node) -> list[Finding]:
    """Checks that depend on where a key sits: connections without a keyspace, batch settings
    of table datasets, retry settings of copies."""
    result = []
    for name, connection in _items(_child(root, "connections")):
        if isinstance(connection, yaml.MappingNode) and _child(connection, "keyspace") is None:
            result.append(
                _at(where, name, "no-keyspace", f"connection {name.value!r} has no keyspace")
            )
    for name, dataset in _items(_child(root, "datasets")):
        is_table = _child(dataset, "table") is not None and _child(dataset, "connection")
        mode = _child(dataset, "batch_mode")
        if not is_table or (mode is not None and _value(mode) == "none"):
            continue
        for key_node, value_node in _items(dataset):
            problem = batch_problem(str(key_node.value), _value(value_node))
            if problem is not None:
                message = f"dataset {name.value!r}: {problem}"
                result.append(_at(where, value_node, "batch-too-large", message))
    activities = _child(root, "activities")
    for activity in activities.value if isinstance(activities, yaml.SequenceNode) else []:
        name_node = _child(activity, "name")
        label = "?" if name_node is None else _value(name_node)
        for key_node, value_node in _items(_child(activity, "copy")):
            problem = retry_problem(str(key_node.value), _value(value_node))
            if problem is not None:
                message = f"activity {label!r}: {problem}"
                result.append(_at(where, value_node, "no-retries", message))
    return result
