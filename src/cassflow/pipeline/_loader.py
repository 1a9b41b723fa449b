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

from cassflow._yamlfile import check_keys, parse, read_text, validation_problems
from cassflow.errors import CassflowError
from cassflow.pipeline._spec import ConnectionSpec, Name, PipelineSpec

_REFERENCE = re.compile(r"\$\{([a-z]+):([^}]*)\}")
_SECRET = re.compile(r"^[a-z][a-z0-9_-]*:[^#}]+(#[^}]+)?$")
_SELF_ALIAS = (
    "the anchor here is used by an alias inside its own value (a value without end); repeat the "
    "value instead"
)


class PipelineError(CassflowError):
    """A pipeline file that cannot be used; the message starts with ``file:line:column:``."""


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
    text = read_text(path, PipelineError)
    root, data = parse(text, str(path), PipelineError)
    if root is None or not isinstance(data, dict):
        raise PipelineError(
            f"{path}: expected a mapping with name, connections, datasets, activities"
        )
    check_keys(str(path), root, PipelineError, self_alias=_SELF_ALIAS)
    return root, _interpolate(data, path, os.environ if env is None else env, "")


def _problems(path: Path, root: yaml.Node, exc: ValidationError) -> str:
    """One ``file:line:column: key: message`` line per validation error."""
    return validation_problems(str(path), root, exc, is_key=_is_key)


def _is_key(item: str | int) -> bool:
    # Union members add their class name to the location; drop those for the file.
    return not (isinstance(item, str) and item.endswith("Spec"))
