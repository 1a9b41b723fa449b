"""Reading a pipeline file: YAML in, a validated :class:`PipelineSpec` out, and errors that
point at the file, line and column of the offending key.

``${env:NAME}`` references are replaced by the environment variable's value while loading (a
missing variable is an error naming it); ``${secret:backend:path[#field]}`` references are
checked for shape and left in place for the secrets chain to resolve when a connection opens,
so secret values are never part of the loaded spec.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from cassflow.errors import CassflowError
from cassflow.pipeline._spec import ConnectionSpec, Name, PipelineSpec

_REFERENCE = re.compile(r"\$\{([a-z]+):([^}]*)\}")
_SECRET = re.compile(r"^[a-z][a-z0-9_-]*:[^#}]+(#[^}]+)?$")


class PipelineError(CassflowError):
    """A pipeline file that cannot be used; the message starts with ``file:line:column:``."""


def _where(path: Path, node: yaml.Node | None) -> str:
    if node is None:
        return f"{path}"
    mark = node.start_mark
    return f"{path}:{mark.line + 1}:{mark.column + 1}"


def _child(node: yaml.Node | None, key: str | int) -> tuple[yaml.Node, yaml.Node] | None:
    """(key node, value node) of ``key`` in a mapping, or (item, item) in a sequence."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.value == key:
                return key_node, value_node
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
        return node.value[key], node.value[key]
    return None


def _locate(root: yaml.Node | None, loc: tuple[str | int, ...]) -> yaml.Node | None:
    """The node a validation error is about: the deepest key of ``loc`` found in the file."""
    node, best = root, root
    for key in loc:
        found = _child(node, key)
        if found is None:
            break
        best, node = found
    return best


def _check_duplicate_keys(
    path: Path, node: yaml.Node, inside: frozenset[int] = frozenset()
) -> None:
    """Refuse repeated keys, and aliases to a node that contains them (``a: &x {b: *x}``, a
    value without end); ``inside`` holds the nodes on the way down."""
    if not isinstance(node, yaml.MappingNode | yaml.SequenceNode):
        return
    if id(node) in inside:
        raise PipelineError(
            f"{_where(path, node)}: the anchor here is used by an alias inside its own value (a "
            "value without end); repeat the value instead"
        )
    inside |= {id(node)}
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if key_node.value in seen:
                raise PipelineError(f"{_where(path, key_node)}: duplicate key {key_node.value!r}")
            seen.add(key_node.value)
            _check_duplicate_keys(path, value_node, inside)
    else:
        for item in node.value:
            _check_duplicate_keys(path, item, inside)


def _interpolate(value: Any, path: Path, env: Mapping[str, str], where: str) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, path, env, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, path, env, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        kind, body = match[1], match[2]
        if kind == "env":
            if body not in env:
                raise PipelineError(
                    f"{path}: {where.lstrip('.')}: environment variable {body} is not set"
                )
            return env[body]
        if kind == "secret":
            if not _SECRET.match(body):
                raise PipelineError(
                    f"{path}: {where.lstrip('.')}: malformed secret reference "
                    f"'${{secret:{body}}}' (expected ${{secret:backend:path[#field]}})"
                )
            return match[0]
        raise PipelineError(f"{path}: {where.lstrip('.')}: unknown reference kind {kind!r}")

    return _REFERENCE.sub(replace, value)


def load_pipeline(
    path: str | os.PathLike[str], env: Mapping[str, str] | None = None
) -> PipelineSpec:
    """Read and validate a pipeline file."""
    path = Path(path)
    root, data = _read(path, env)
    try:
        return PipelineSpec.model_validate(data)
    except ValidationError as exc:
        raise PipelineError(_problems(path, root, exc)) from None


def load_connections(
    path: str | os.PathLike[str], env: Mapping[str, str] | None = None
) -> dict[str, ConnectionSpec]:
    """Read a file of named connections: the ``connections:`` mapping of a pipeline file, at
    the top level or under a ``connections`` key (so a pipeline file itself can serve)."""
    path = Path(path)
    root, data = _read(path, env)
    inside = isinstance(data.get("connections"), dict)
    if not inside:  # a bare mapping of connections: locate errors as if it were wrapped
        data = {"connections": data}
        key = yaml.ScalarNode("tag:yaml.org,2002:str", "connections")
        root = yaml.MappingNode("tag:yaml.org,2002:map", [(key, root)])
    try:
        return dict(_ConnectionsFile.model_validate(data).connections)
    except ValidationError as exc:
        raise PipelineError(_problems(path, root, exc)) from None


class _ConnectionsFile(BaseModel):
    model_config = ConfigDict(extra="ignore")
    connections: dict[Name, ConnectionSpec]


def _read(path: Path, env: Mapping[str, str] | None) -> tuple[yaml.Node, dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PipelineError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise PipelineError(f"{path}: not UTF-8 text at byte {exc.start}") from None
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else f"{path}"
        raise PipelineError(f"{where}: not valid YAML: {exc.problem}") from None
    if root is None or not isinstance(data, dict):
        raise PipelineError(
            f"{path}: expected a mapping with name, connections, datasets, activities"
        )
    _check_duplicate_keys(path, root)
    return root, _interpolate(data, path, os.environ if env is None else env, "")


def _problems(path: Path, root: yaml.Node, exc: ValidationError) -> str:
    """One ``file:line:column: key: message`` line per validation error."""
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        # Union members add their class name to the location; drop those for the file.
        keys = tuple(k for k in loc if not (isinstance(k, str) and k.endswith("Spec")))
        node = _locate(root, keys)
        dotted = ".".join(str(k) for k in keys) or "(top level)"
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(f"{_where(path, node)}: {dotted}: {message}")
    return "\n".join(dict.fromkeys(problems))
