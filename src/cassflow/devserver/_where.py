"""WHERE clauses: which partitions and clustering rows a statement touches, as Cassandra
decides, and the restrictions left over for filtering.

Cassandra's rules (StatementRestrictions): the partition key is restricted by ``=``/``IN``
on every column, or by ``token(...)`` ranges, or not at all (a range scan). Clustering
columns take ``=``/``IN`` on a prefix, then at most one slice (single or multi-column) on the
next; anything else, and any restriction on other columns, needs ALLOW FILTERING (SELECT)
or is refused (UPDATE/DELETE).
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from cassflow.cql import (
    BindMarker,
    ElementRelation,
    FunctionCall,
    InValues,
    MultiColumnRelation,
    Operator,
    Relation,
    SingleColumnRelation,
    Term,
    TokenRelation,
    TupleLiteral,
)
from cassflow.devserver._errors import InvalidRequestError
from cassflow.devserver._keycodec import SliceBound, partition_key
from cassflow.devserver._keycodec import token as key_token
from cassflow.devserver._schema import ColumnKind, ColumnMetadata, TableMetadata
from cassflow.devserver._values import Evaluator, split_collection
from cassflow.protocol import UNSET, DataType, TypeCode

FILTERING_MESSAGE = (
    "Cannot execute this query as it might involve data filtering and thus may have "
    "unpredictable performance. If you want to execute this query despite the performance "
    "unpredictability, use ALLOW FILTERING"
)
_SLICE_OPS = frozenset({Operator.LT, Operator.LTE, Operator.GT, Operator.GTE})
_BIGINT = DataType(TypeCode.BIGINT)


@dataclass(frozen=True, slots=True)
class Filter:
    """A restriction checked row by row: ``column op values``."""

    column: ColumnMetadata
    operator: Operator
    values: tuple[bytes | None, ...]
    #: For ``m[key] = value`` on a map: the key (the value is ``values[0]``).
    map_key: bytes | None = None


@dataclass(slots=True)
class Restrictions:
    """A WHERE clause resolved against a table and bound values."""

    #: Serialized partition key values per partition key column (cartesian product of the
    #: IN lists), or None when the partition key is not fully restricted by = / IN.
    partition_values: list[list[bytes]] | None = None
    #: ``token(pk) > / >= ...`` bounds as (token, inclusive).
    token_lower: tuple[int, bool] | None = None
    token_upper: tuple[int, bool] | None = None
    #: Values of the clustering columns restricted by = / IN, in clustering order.
    clustering_prefix: list[list[bytes]] = field(default_factory=list)
    lower: SliceBound | None = None
    upper: SliceBound | None = None
    filters: list[Filter] = field(default_factory=list)
    #: True when some restriction can only be checked by filtering rows.
    needs_filtering: bool = False

    def partitions(self) -> list[list[bytes]]:
        """Every partition key (one value per column) the restrictions name."""
        assert self.partition_values is not None
        return [list(combo) for combo in itertools.product(*self.partition_values)]

    def clustering_prefixes(self) -> list[list[bytes]]:
        """Every clustering prefix the = / IN restrictions name, in byte-sorted order."""
        return [list(combo) for combo in itertools.product(*self.clustering_prefix)]


def known_column(table: TableMetadata, name: str) -> ColumnMetadata:
    """The column called ``name``; Cassandra's "Undefined column name" error if there is none."""
    column = table.column(name)
    if column is None:
        raise InvalidRequestError(
            f"Undefined column name {name} in table {table.keyspace}.{table.name}"
        )
    return column


def _values(term: Term, column: ColumnMetadata, evaluator: Evaluator) -> list[bytes | None]:
    """The values of an IN list (literal items or one bound list)."""
    if isinstance(term, InValues):
        return [_one(item, column, evaluator) for item in term.items]
    if isinstance(term, BindMarker):
        raw = evaluator.value(term, DataType.list_of(column.type), f"in({column.name})")
        if raw is None or raw is UNSET:
            raise InvalidRequestError(f"Invalid null value for {column.name} in IN restriction")
        assert isinstance(raw, bytes)
        return list(split_collection(raw, DataType.list_of(column.type)))
    raise InvalidRequestError(f"Invalid IN restriction on {column.name}")


def _one(term: Term, column: ColumnMetadata, evaluator: Evaluator) -> bytes | None:
    raw = evaluator.value(term, column.type, column.name)
    if raw is UNSET:
        raise InvalidRequestError(f"Invalid unset value for column {column.name}")
    assert raw is None or isinstance(raw, bytes)
    return raw


def _not_null(value: bytes | None, column: ColumnMetadata) -> bytes:
    if value is None:
        raise InvalidRequestError(f"Invalid null value in condition for column {column.name}")
    return value


def analyze(
    table: TableMetadata,
    where: Sequence[Relation],
    evaluator: Evaluator,
    *,
    allow_filtering: bool,
    for_select: bool = True,
) -> Restrictions:
    """Resolve ``where`` against ``table``; raises InvalidRequestError as Cassandra does."""
    result = Restrictions()
    # StatementRestrictions.hasQueriableIndex: a SELECT with a restriction an index serves
    # is an index query; the restrictions left for filtering are then checked at the end.
    indexed = for_select and not allow_filtering and _has_queriable_index(table, where)
    pk_eq: dict[str, list[bytes]] = {}
    ck_eq: dict[str, list[bytes]] = {}
    ck_slices: dict[str, list[tuple[Operator, tuple[bytes, ...], tuple[ColumnMetadata, ...]]]] = {}
    for relation in where:
        if isinstance(relation, TokenRelation):
            _token_relation(table, relation, evaluator, result)
            continue
        if isinstance(relation, MultiColumnRelation):
            _multi_column(table, relation, evaluator, ck_eq, ck_slices)
            continue
        if isinstance(relation, ElementRelation):
            result.filters.append(_entry_filter(table, relation, evaluator))
            result.needs_filtering = True
            continue
        if not isinstance(relation, SingleColumnRelation):
            raise InvalidRequestError(f"Unsupported restriction: {relation.to_cql()}")
        column = known_column(table, relation.column)
        op = relation.operator
        if op is Operator.IN:
            values = [_not_null(v, column) for v in _values(relation.value, column, evaluator)]
            # IN values are de-duplicated and sorted, as Cassandra's builders do.
            values = sorted(set(values), key=values.index)
        elif op is Operator.EQ:
            values = [_not_null(_one(relation.value, column, evaluator), column)]
        else:
            values = []
        if column.kind is ColumnKind.PARTITION_KEY and op in (Operator.EQ, Operator.IN):
            if column.name in pk_eq:
                raise InvalidRequestError(
                    f"{column.name} cannot be restricted by more than one relation if it "
                    "includes an Equal"
                )
            pk_eq[column.name] = values
        elif column.kind is ColumnKind.CLUSTERING and op in (Operator.EQ, Operator.IN):
            if column.name in ck_eq or column.name in ck_slices:
                raise InvalidRequestError(
                    f"{column.name} cannot be restricted by more than one relation if it "
                    "includes an Equal"
                )
            ck_eq[column.name] = values
        elif column.kind is ColumnKind.CLUSTERING and op in _SLICE_OPS:
            value = _not_null(_one(relation.value, column, evaluator), column)
            ck_slices.setdefault(column.name, []).append((op, (value,), (column,)))
        else:
            if column.kind is ColumnKind.PARTITION_KEY and not allow_filtering:
                raise InvalidRequestError(
                    "Only EQ and IN relation are supported on the partition key (unless "
                    "you use the token() function or allow filtering)"
                )
            result.filters.append(_filter(column, relation, evaluator))
            result.needs_filtering = True
    _resolve_partition_key(table, pk_eq, result, allow_filtering or indexed)
    _resolve_clustering(table, ck_eq, ck_slices, result, allow_filtering or indexed)
    served = indexed and _served_by_one_index(table, result.filters)
    if result.needs_filtering and not allow_filtering and for_select and not served:
        raise InvalidRequestError(FILTERING_MESSAGE)
    return result


def _index_supports(
    table: TableMetadata, column: ColumnMetadata, op: Operator, entry: bool = False
) -> bool:
    """Whether one of ``table``'s indexes serves ``column op value`` (Index.supportsExpression):
    ``=`` for a simple or full() index, CONTAINS for values(), CONTAINS KEY for keys(),
    ``m[key] = value`` (``entry``) for entries()."""
    wanted = {
        Operator.EQ: ("entries",) if entry else ("simple", "full"),
        Operator.CONTAINS: ("values",),
        Operator.CONTAINS_KEY: ("keys",),
    }.get(op, ())
    return any(i.column == column.name and i.target_type in wanted for i in table.indexes)


def _has_queriable_index(table: TableMetadata, where: Sequence[Relation]) -> bool:
    if not table.indexes:
        return False
    for relation in where:
        if isinstance(relation, SingleColumnRelation | ElementRelation):
            column = table.column(relation.column)
            entry = isinstance(relation, ElementRelation)
            if column is not None and _index_supports(table, column, relation.operator, entry):
                return True
    return False


def _served_by_one_index(table: TableMetadata, filters: Sequence[Filter]) -> bool:
    """StatementRestrictions.needFiltering is false: one restriction is left, on one column,
    and an index serves it (a key column's ``=`` arrives here as a one-value IN)."""
    if len({f.column.name for f in filters}) != 1 or len(filters) != 1:
        return False
    only = filters[0]
    op = only.operator
    if op is Operator.IN and only.column.is_primary_key and len(only.values) == 1:
        op = Operator.EQ
    return _index_supports(table, only.column, op, only.map_key is not None)


def _entry_filter(table: TableMetadata, relation: ElementRelation, ev: Evaluator) -> Filter:
    """``m[key] = value``: SingleColumnRelation.toReceivers' checks, then a filter."""
    column = known_column(table, relation.column)
    code = column.type.code
    if code is TypeCode.LIST:
        raise InvalidRequestError(
            f"Indexes on list entries ({column.name}[index] = value) are not currently supported."
        )
    if code is not TypeCode.MAP:
        raise InvalidRequestError(f"Column {column.name} cannot be used as a map")
    if not column.is_multi_cell:
        raise InvalidRequestError(
            f"Map-entry equality predicates on frozen map column {column.name} are not supported"
        )
    if relation.operator is not Operator.EQ:
        raise InvalidRequestError("Only EQ relations are supported on map entries")
    key_type, value_type = column.type.params
    key = ev.value(relation.key, key_type, f"key({column.name})")
    value = ev.value(relation.value, value_type, f"value({column.name})")
    if not isinstance(key, bytes):
        raise InvalidRequestError(f"Invalid null value for map key of {column.name}")
    if not isinstance(value, bytes):
        raise InvalidRequestError(f"Invalid null value for map entry of {column.name}")
    return Filter(column, Operator.EQ, (value,), map_key=key)


def _filter(column: ColumnMetadata, relation: SingleColumnRelation, ev: Evaluator) -> Filter:
    op = relation.operator
    if op is Operator.IN:
        return Filter(column, op, tuple(_values(relation.value, column, ev)))
    if op is Operator.CONTAINS:
        element = column.type.params[-1] if column.type.params else column.type
        raw = ev.value(relation.value, element, column.name)
        return Filter(column, op, (raw if isinstance(raw, bytes) else None,))
    if op is Operator.CONTAINS_KEY:
        raw = ev.value(relation.value, column.type.params[0], column.name)
        return Filter(column, op, (raw if isinstance(raw, bytes) else None,))
    if op is Operator.IS_NOT:
        return Filter(column, op, (None,))
    if op is Operator.LIKE:
        raise InvalidRequestError(
            f"LIKE restriction is only supported on properly indexed columns. {relation.to_cql()}"
            " is not valid."
        )
    return Filter(column, op, (_one(relation.value, column, ev),))


def _token_relation(
    table: TableMetadata, relation: TokenRelation, ev: Evaluator, result: Restrictions
) -> None:
    expected = [c.name for c in table.partition_key]
    if list(relation.columns) != expected:
        raise InvalidRequestError(
            "The token() function must be applied to all partition key components or none of them"
        )
    value = relation.value
    if isinstance(value, FunctionCall) and value.function.name.lower() == "token":
        raw: object = _token_of(table, value, ev)
    else:
        raw = ev.value(value, _BIGINT, "partition key token")
    if not isinstance(raw, bytes):
        raise InvalidRequestError("Invalid null value for partition key token")
    token = int.from_bytes(raw, "big", signed=True)
    op = relation.operator
    if op is Operator.EQ:
        result.token_lower, result.token_upper = (token, True), (token, True)
    elif op in (Operator.GT, Operator.GTE):
        result.token_lower = (token, op is Operator.GTE)
    elif op in (Operator.LT, Operator.LTE):
        result.token_upper = (token, op is Operator.LTE)
    else:
        raise InvalidRequestError(f"Unsupported {op} relation on the partition key token")


def _token_of(table: TableMetadata, call: FunctionCall, ev: Evaluator) -> bytes | None:
    """``token(values...)`` on the right of a token relation: the token of that key."""
    columns = table.partition_key
    if len(call.args) != len(columns):
        raise InvalidRequestError(
            f"Invalid number of arguments in call to function system.token: {len(columns)} "
            f"required but {len(call.args)} provided"
        )
    values = []
    for arg, column in zip(call.args, columns, strict=True):
        raw = ev.value(arg, column.type, column.name)
        if not isinstance(raw, bytes):
            return None
        values.append(raw)
    return struct.pack(">q", key_token(partition_key(values)))


def _multi_column(
    table: TableMetadata,
    relation: MultiColumnRelation,
    ev: Evaluator,
    ck_eq: dict[str, list[bytes]],
    ck_slices: dict[str, list[tuple[Operator, tuple[bytes, ...], tuple[ColumnMetadata, ...]]]],
) -> None:
    columns = tuple(known_column(table, name) for name in relation.columns)
    clustering = list(table.clustering_columns)
    for column in columns:
        if column.kind is not ColumnKind.CLUSTERING:
            raise InvalidRequestError(
                f"Multi-column relations can only be applied to clustering columns but was "
                f"applied to: {column.name}"
            )
    start = clustering.index(columns[0])
    if [c.name for c in clustering[start : start + len(columns)]] != [c.name for c in columns]:
        raise InvalidRequestError(
            "Clustering columns must appear in the PRIMARY KEY order in multi-column relations"
        )
    op = relation.operator
    tuple_type = DataType.tuple_of(*(c.type for c in columns))
    if op is Operator.EQ or op is Operator.IN:
        raw_items = (
            relation.value.items if isinstance(relation.value, InValues) else (relation.value,)
        )
        tuples = [_tuple_values(item, columns, tuple_type, ev) for item in raw_items]
        if op is Operator.EQ or len(columns) == 1:
            for index, column in enumerate(columns):
                ck_eq[column.name] = sorted(
                    {t[index] for t in tuples}, key=[t[index] for t in tuples].index
                )
            return
        # A true multi-column IN: keep it as a filter over the combined prefix.
        for index, column in enumerate(columns):
            ck_eq[column.name] = list(dict.fromkeys(t[index] for t in tuples))
        return
    if op not in _SLICE_OPS:
        raise InvalidRequestError(f"Unsupported {op} multi-column relation")
    values = _tuple_values(relation.value, columns, tuple_type, ev)
    ck_slices.setdefault(columns[0].name, []).append((op, values, columns))


def _tuple_values(
    term: Term, columns: tuple[ColumnMetadata, ...], tuple_type: DataType, ev: Evaluator
) -> tuple[bytes, ...]:
    if isinstance(term, TupleLiteral):
        if len(term.items) != len(columns):
            raise InvalidRequestError(
                f"Expected {len(columns)} elements in value tuple, but got {len(term.items)}"
            )
        return tuple(
            _not_null(_one(item, column, ev), column)
            for item, column in zip(term.items, columns, strict=True)
        )
    raw = ev.value(term, tuple_type, "(" + ",".join(c.name for c in columns) + ")")
    if not isinstance(raw, bytes):
        raise InvalidRequestError("Invalid null value for clustering tuple")
    parts = []
    pos = 0
    for column in columns:
        size = int.from_bytes(raw[pos : pos + 4], "big", signed=True)
        pos += 4
        if size < 0:
            raise InvalidRequestError(f"Invalid null value in condition for column {column.name}")
        parts.append(raw[pos : pos + size])
        pos += size
    return tuple(parts)


def _resolve_partition_key(
    table: TableMetadata, pk_eq: dict[str, list[bytes]], result: Restrictions, allow: bool
) -> None:
    names = [c.name for c in table.partition_key]
    restricted = [n for n in names if n in pk_eq]
    if not restricted:
        return
    if len(restricted) == len(names):
        if result.token_lower or result.token_upper:
            raise InvalidRequestError(
                'Columns "' + ", ".join(names) + '" cannot be restricted by both a normal '
                "relation and a token relation"
            )
        result.partition_values = [pk_eq[n] for n in names]
        return
    if not allow:
        raise InvalidRequestError(FILTERING_MESSAGE)
    for name in restricted:
        column = known_column(table, name)
        result.filters.append(Filter(column, Operator.IN, tuple(pk_eq[name])))
    result.needs_filtering = True


def _resolve_clustering(
    table: TableMetadata,
    ck_eq: dict[str, list[bytes]],
    ck_slices: dict[str, list[tuple[Operator, tuple[bytes, ...], tuple[ColumnMetadata, ...]]]],
    result: Restrictions,
    allow: bool,
) -> None:
    clustering = list(table.clustering_columns)
    position = 0
    while position < len(clustering) and clustering[position].name in ck_eq:
        result.clustering_prefix.append(ck_eq[clustering[position].name])
        position += 1
    slice_column = clustering[position].name if position < len(clustering) else None
    if slice_column is not None and slice_column in ck_slices:
        for op, values, _columns in ck_slices[slice_column]:
            bound = SliceBound(values=list(values), inclusive=op in (Operator.GTE, Operator.LTE))
            if op in (Operator.GT, Operator.GTE):
                if result.lower is not None:
                    raise InvalidRequestError(
                        f"More than one restriction was found for the start bound on {slice_column}"
                    )
                result.lower = bound
            else:
                if result.upper is not None:
                    raise InvalidRequestError(
                        f"More than one restriction was found for the end bound on {slice_column}"
                    )
                result.upper = bound
        position += 1
    leftovers = [c for c in clustering[position:] if c.name in ck_eq or c.name in ck_slices]
    for column in leftovers:
        if not allow:
            preceding = clustering[clustering.index(column) - 1]
            if preceding.name in ck_slices:
                raise InvalidRequestError(
                    f'Clustering column "{column.name}" cannot be restricted (preceding column '
                    f'"{preceding.name}" is restricted by a non-EQ relation)'
                )
            raise InvalidRequestError(
                f'PRIMARY KEY column "{column.name}" cannot be restricted as preceding column '
                f'"{preceding.name}" is not restricted'
            )
        if column.name in ck_eq:
            result.filters.append(Filter(column, Operator.IN, tuple(ck_eq[column.name])))
        for op, values, columns in ck_slices.get(column.name, []):
            if len(columns) > 1:
                raise InvalidRequestError(
                    "Multi-column slice restrictions cannot be used for filtering."
                )
            result.filters.append(Filter(column, op, (values[0],)))
        result.needs_filtering = True
