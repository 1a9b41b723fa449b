"""``SELECT m['k']``, ``s[x]``, ``m['a'..'b']``, ``s[x..]``: elements and slices of collections.

Cassandra 4.0+ (CASSANDRA-7396, ``cql3/selection/ElementsSelector``) selects an element or a
slice of a set or a map, frozen or not; lists are refused. An element is the map's value for
the key (the set's element itself), null when absent; a slice keeps the entries whose keys lie
between the bounds, both included, and has the collection's type. A slice of a non-frozen
column that keeps nothing is null (Cassandra only fetched those cells), of a frozen value an
empty collection. Errors are ``Selectable.WithElementSelection``/``WithSliceSelection``'s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cassflow.cql import Term
from cassflow.devserver._errors import InvalidRequestError
from cassflow.devserver._keycodec import clustering_key
from cassflow.devserver._schema_types import cql_type
from cassflow.devserver._values import join_collection, split_collection
from cassflow.protocol import UNSET, DataType, TypeCode, Value

#: Evaluates a term for a receiver type and name (bind markers included).
Evaluate = Callable[[Term, DataType, str], Value]
#: A selection applied to the serialized collection (null in, null out).
Extract = Callable[[bytes | None], bytes | None]

_COLLECTIONS = frozenset({TypeCode.LIST, TypeCode.SET, TypeCode.MAP})


@dataclass(frozen=True, slots=True)
class Selection:
    """The result column of an element or slice selection and how it is computed."""

    name: str
    type: DataType
    #: The terms of the selection (key or bounds), the types they receive and the name of
    #: that receiver (``key(m)``, ``value(s)``: how bind markers are named).
    markers: list[tuple[Term, DataType, str]]
    #: Builds the extraction once the terms' values are known (at execution).
    bind: Callable[[Evaluate], Extract]


def _bound_text(term: Term | None) -> str:
    return "" if term is None else term.to_cql()


def _key_receiver(selected: str, dtype: DataType, what: str) -> tuple[DataType, str]:
    """The type and receiver name of the key (or bound) of a selection on ``dtype``."""
    if dtype.code is TypeCode.LIST:
        raise InvalidRequestError(
            f"{what} selection is only allowed on sets and maps, but {selected} is a list"
        )
    if dtype.code is TypeCode.SET:
        return dtype.params[0], f"value({selected})"
    return dtype.params[0], f"key({selected})"


def _sort_key(value: bytes, dtype: DataType) -> bytes:
    return clustering_key([value], [dtype], [False])


def element(selected: str, dtype: DataType, frozen: bool, key: Term) -> Selection:
    """``selected[key]`` on a value of type ``dtype`` (``frozen`` as the column says)."""
    if dtype.code not in _COLLECTIONS:
        raise InvalidRequestError(
            f"Invalid element selection: {selected} is of type "
            f"{cql_type(dtype, frozen=frozen)} is not a collection"
        )
    key_type, receiver = _key_receiver(selected, dtype, "Element")
    is_map = dtype.code is TypeCode.MAP
    result = dtype.params[1] if is_map else key_type

    def bind(evaluate: Evaluate) -> Extract:
        raw = evaluate(key, key_type, receiver)
        if raw is None:
            raise InvalidRequestError(f"Invalid null value for element selection on {selected}")
        if raw is UNSET:
            raise InvalidRequestError(f"Invalid unset value for element selection on {selected}")
        assert isinstance(raw, bytes)
        wanted = _sort_key(raw, key_type)

        def extract(value: bytes | None) -> bytes | None:
            if not value:
                return None
            for item in split_collection(value, dtype):
                item_key = item[0] if is_map else item
                if _sort_key(item_key, key_type) == wanted:
                    return bytes(item[1] if is_map else item)
            return None

        return extract

    return Selection(f"{selected}[{key.to_cql()}]", result, [(key, key_type, receiver)], bind)


def slice_of(
    selected: str,
    dtype: DataType,
    frozen: bool,
    start: Term | None,
    end: Term | None,
    whole_column: bool,
) -> Selection:
    """``selected[start..end]``; ``whole_column`` when ``selected`` is a non-frozen column
    itself (an empty slice is then null)."""
    name = f"{selected}[{_bound_text(start)}..{_bound_text(end)}]"
    if dtype.code not in _COLLECTIONS:
        raise InvalidRequestError(
            f"Invalid slice selection: {selected} of type {cql_type(dtype, frozen=frozen)} "
            "is not a collection"
        )
    key_type, receiver = _key_receiver(selected, dtype, "Slice")
    is_map = dtype.code is TypeCode.MAP
    markers = [(t, key_type, receiver) for t in (start, end) if t is not None]

    def bind(evaluate: Evaluate) -> Extract:
        bounds: list[bytes | None] = []
        for term in (start, end):
            raw: Value = UNSET if term is None else evaluate(term, key_type, receiver)
            if raw is None:
                raise InvalidRequestError(f"Invalid null value for slice selection on {selected}")
            # An unset bound is no bound, as Cassandra reads it.
            if raw is UNSET:
                bounds.append(None)
            else:
                assert isinstance(raw, bytes)
                bounds.append(_sort_key(raw, key_type))
        low, high = bounds

        def extract(value: bytes | None) -> bytes | None:
            if value is None:
                return None
            kept = []
            for item in split_collection(value, dtype) if value else []:
                item_key = _sort_key(item[0] if is_map else item, key_type)
                if (low is None or item_key >= low) and (high is None or item_key <= high):
                    kept.append(item)
            if not kept and whole_column:
                return None
            return join_collection(kept, dtype)

        return extract

    return Selection(name, dtype, markers, bind)


__all__ = ["Evaluate", "Extract", "Selection", "element", "slice_of"]
