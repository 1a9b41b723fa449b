"""YAML files read with the position of every node, and errors that say ``file:line:column:``.

The pipeline loader and the proxy's policy reader both turn a YAML file into a pydantic model
and point each problem at the key it is about. This module holds what they share: reading the
text, parsing it once into both a node tree (positions) and plain data, refusing repeated keys
and self-containing aliases, and turning pydantic's validation errors into one
``file:line:column: dotted.key: message`` line each. The messages that differ per file kind
(what the top level should hold, the wording for a self-containing alias) stay with the caller,
which also names the error class to raise.

It imports nothing of cassflow, so every part may import it (as every part imports
:mod:`cassflow.errors`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

#: Builds the exception to raise from its whole message (an error class such as PolicyError).
Fail = Callable[[str], Exception]
#: Whether an item of a pydantic error location is a key of the file (not a union/tag label).
IsKey = Callable[[str | int], bool]


def _position(source: str, mark: yaml.Mark | None) -> str:
    if mark is None:
        return source
    return f"{source}:{mark.line + 1}:{mark.column + 1}"


def position(source: str, node: yaml.Node | None) -> str:
    """``source:line:column`` of ``node`` (1-based, as editors count), or ``source`` alone
    when there is no node."""
    return _position(source, None if node is None else node.start_mark)


def read_text(path: Path, fail: Fail) -> str:
    """The UTF-8 text of ``path``; an unreadable or non-UTF-8 file raises ``fail(message)``."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise fail(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise fail(f"{path}: not UTF-8 text at byte {exc.start}") from None


def parse(
    text: str, source: str, fail: Fail, loader: type[yaml.SafeLoader] = yaml.SafeLoader
) -> tuple[yaml.Node | None, Any]:
    """The node tree of the single YAML document in ``text`` and the data it makes (both None
    for an empty document). ``loader`` must be a safe loader: it constructs the data, so it
    decides which tags are allowed. Invalid YAML raises ``fail("source:line:column: not valid
    YAML: ...")``."""
    parser = loader(text)
    try:
        # One parse gives both: the same steps as yaml.compose and then yaml.safe_load.
        root = parser.get_single_node()
        data = None if root is None else parser.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        raise fail(
            f"{_position(source, exc.problem_mark)}: not valid YAML: {exc.problem}"
        ) from None
    finally:
        parser.dispose()
    return root, data


def check_keys(source: str, root: yaml.Node, fail: Fail, *, self_alias: str) -> None:
    """Refuse a mapping that repeats a key (YAML would let the last one win silently), and an
    alias inside the value of its own anchor (``a: &x {b: *x}``, a value without end), whose
    error is ``self_alias``. Raises ``fail("source:line:column: ...")``."""
    _check_keys(source, root, fail, self_alias, frozenset())


def _check_keys(
    source: str, node: yaml.Node, fail: Fail, self_alias: str, inside: frozenset[int]
) -> None:
    # ``inside`` holds the collections on the way down from the root.
    if not isinstance(node, yaml.MappingNode | yaml.SequenceNode):
        return
    if id(node) in inside:
        raise fail(f"{position(source, node)}: {self_alias}")
    inside |= {id(node)}
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_keys(source, item, fail, self_alias, inside)
        return
    seen: set[str] = set()
    for key, value in node.value:
        if key.value in seen:
            raise fail(f"{position(source, key)}: duplicate key {key.value!r}")
        seen.add(key.value)
        _check_keys(source, value, fail, self_alias, inside)


def locate(root: yaml.Node, loc: Sequence[str | int]) -> yaml.Node:
    """The node a location (keys and list indexes from the top) is about: the deepest step of
    ``loc`` found in the file; for a mapping key, the key's node."""
    node, best = root, root
    for key in loc:
        found: tuple[yaml.Node, yaml.Node] | None = None
        if isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            found = node.value[key], node.value[key]
        if found is None:
            break
        best, node = found
    return best


def validation_problems(
    source: str, root: yaml.Node, exc: ValidationError, *, is_key: IsKey
) -> str:
    """One ``source:line:column: dotted.key: message`` line per validation error (repeats
    dropped). ``is_key`` keeps the items of pydantic's locations that are keys of the file."""
    lines = []
    for error in exc.errors():
        loc = tuple(k for k in error["loc"] if is_key(k))
        dotted = ".".join(str(k) for k in loc) or "(top level)"
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"{position(source, locate(root, loc))}: {dotted}: {message}")
    return "\n".join(dict.fromkeys(lines))
