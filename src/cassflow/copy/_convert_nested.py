"""Converters of lists, sets, maps, tuples, user types and vectors.

A nested value arrives as a Python list / tuple / set / dict (JSON, pyarrow, SQL, the
driver's own values: ``sortedset``, ``OrderedMapSerializedKey``, named tuples for user
types), as pyarrow's list of ``(key, value)`` pairs for a map or ``{'f0': ...}`` for a
tuple, or as text holding JSON or a CQL literal. Elements are converted with their own
type's converter; a failing element names its place (``at [2].street``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from typing import Any, Final

from cassandra import util

from cassflow.copy._convert_errors import expected, fail, placed
from cassflow.copy._convert_literal import Pairs, parse_structured
from cassflow.copy._model import ConversionError

Converter = Callable[[Any], Any]

_NO_NULL: Final = "null elements are not allowed in a {kind}"


def _items(value: Any, description: str) -> Iterable[Any]:
    """The elements of a list-like value (not a string, bytes or mapping)."""
    parsed = parse_structured(value, description) if isinstance(value, str) else value
    if isinstance(parsed, list | tuple | Set | util.SortedSet):
        return parsed
    if isinstance(parsed, Sequence | Iterable) and not isinstance(
        parsed, str | bytes | bytearray | Mapping
    ):
        return list(parsed)
    raise expected(description, value)


def _element(convert: Converter, item: Any, step: str, kind: str) -> Any:
    if item is None:
        raise placed(ConversionError(_NO_NULL.format(kind=kind)), step)
    try:
        return convert(item)
    except ConversionError as exc:
        raise placed(exc, step) from None


def list_converter(element: Converter, description: str) -> Converter:
    """A list of converted elements."""

    def convert(value: Any) -> list[Any]:
        items = _items(value, description)
        return [_element(element, item, f"[{i}]", "list") for i, item in enumerate(items)]

    return convert


def set_converter(element: Converter, description: str) -> Converter:
    """A ``sortedset`` of converted elements: duplicates collapse, as Cassandra does."""

    def convert(value: Any) -> util.SortedSet:
        items = _items(value, description)
        return util.SortedSet(
            _element(element, item, f"[{i}]", "set") for i, item in enumerate(items)
        )

    return convert


def vector_converter(element: Converter, dimension: int, description: str) -> Converter:
    """A list of exactly ``dimension`` converted elements."""

    def convert(value: Any) -> list[Any]:
        items = _items(value, description)
        result = [_element(element, item, f"[{i}]", "vector") for i, item in enumerate(items)]
        if len(result) != dimension:
            fail(description, value, f"it has {len(result)} elements")
        return result

    return convert


def map_converter(
    key_type: type, key: Converter, value_conv: Converter, description: str
) -> Converter:
    """A dict of converted keys and values (an ``OrderedMapSerializedKey`` when the keys,
    frozen collections, cannot be hashed); JSON object keys are text converted by the key
    type."""

    def convert(value: Any) -> Any:
        original = value
        if isinstance(value, str):
            value = parse_structured(value, description)
        if isinstance(value, Mapping):
            entries: Iterable[Any] = value.items()
        elif isinstance(value, Pairs | list | tuple):
            # pyarrow's to_pylist gives a map as a list of (key, value) tuples.
            entries = value
            if not all(isinstance(e, tuple | list) and len(e) == 2 for e in entries):
                fail(description, original, "a map is an object or a list of [key, value] pairs")
        else:
            fail(description, original)
        converted = []
        for k, v in entries:
            if k is None:
                raise ConversionError("null keys are not allowed in a map")
            step = f"[key {k!r}]"
            new_key = _element(key, k, step, "map")
            new_value = _element(value_conv, v, step, "map")
            converted.append((new_key, new_value))
        try:
            return dict(converted)
        except TypeError:  # unhashable keys (lists, sets)
            ordered = util.OrderedMapSerializedKey(key_type, 4)
            for k, v in converted:
                ordered[k] = v
            return ordered

    return convert


def tuple_converter(elements: Sequence[Converter], description: str) -> Converter:
    """A tuple with exactly the type's arity; its fields may be null."""
    arity = len(elements)
    names = [f"f{i}" for i in range(arity)]

    def convert(original: Any) -> tuple[Any, ...]:
        value = original
        if isinstance(value, str):
            value = parse_structured(value, description)
        if isinstance(value, Mapping):
            # pyarrow struct of the tuple: {'f0': ..., 'f1': ...}
            unknown = sorted(str(k) for k in value if k not in names)
            if unknown:
                fail(description, original, f"unknown fields {', '.join(unknown)}")
            value = [value.get(name) for name in names]
        if not isinstance(value, list | tuple):
            fail(description, original)
        if len(value) != arity:
            fail(description, original, f"it has {len(value)} elements, not {arity}")
        return tuple(
            _field(conv, item, f"[{i}]")
            for i, (conv, item) in enumerate(zip(elements, value, strict=True))
        )

    return convert


def _field(convert: Converter, item: Any, step: str) -> Any:
    if item is None:
        return None
    try:
        return convert(item)
    except ConversionError as exc:
        raise placed(exc, step) from None


def udt_converter(
    names: Sequence[str], fields: Sequence[Converter], factory: Callable[..., Any], description: str
) -> Converter:
    """A tuple of the user type's fields in order (``factory`` builds it: the driver's named
    tuple for the type, or ``tuple``), which is what the driver serializes for an
    unregistered user type. From a mapping (unknown fields are an error, missing ones null),
    the driver's named tuple or a sequence of all fields, or an object with the fields as
    attributes."""
    index = {name: i for i, name in enumerate(names)}

    def convert(original: Any) -> Any:
        value = original
        if isinstance(value, str):
            value = parse_structured(value, description)
        if isinstance(value, Mapping):
            unknown = sorted(str(k) for k in value if k not in index)
            if unknown:
                fail(description, original, f"unknown fields {', '.join(unknown)}")
            raw = [value.get(name) for name in names]
        elif isinstance(value, list | tuple):
            if len(value) != len(names):
                fail(description, original, f"it has {len(value)} fields, not {len(names)}")
            raw = list(value)
        elif all(hasattr(value, name) for name in names):
            raw = [getattr(value, name) for name in names]
        else:
            fail(description, original)
        return factory(
            *(
                _field(conv, item, f".{name}")
                for name, conv, item in zip(names, fields, raw, strict=True)
            )
        )

    return convert


__all__ = [
    "list_converter",
    "map_converter",
    "set_converter",
    "tuple_converter",
    "udt_converter",
    "vector_converter",
]
