"""Bind markers of a statement: what each one receives (for PREPARE metadata), and which ones
carry the partition key (for token-aware routing)."""

from __future__ import annotations

from collections.abc import Sequence

from cassflow.cql import (
    Addition,
    Batch,
    BindMarker,
    ColumnCondition,
    Delete,
    ElementRelation,
    FunctionCall,
    Insert,
    InValues,
    ListLiteral,
    MapLiteral,
    MultiColumnRelation,
    Operator,
    Prepend,
    Select,
    SetElement,
    SetField,
    SetLiteral,
    SetValue,
    SingleColumnRelation,
    Statement,
    Subtraction,
    Term,
    TokenRelation,
    TupleLiteral,
    TypeCast,
    UdtLiteral,
    Update,
    Using,
)
from cassflow.devserver._errors import InvalidRequestError
from cassflow.devserver._functions import argument_receivers
from cassflow.devserver._schema import ColumnMetadata, TableMetadata
from cassflow.devserver._schema_types import vector_parts
from cassflow.devserver._selectors import selector_markers
from cassflow.devserver._where import known_column
from cassflow.protocol import ColumnSpec, DataType, TypeCode

_INT = DataType(TypeCode.INT)
_BIGINT = DataType(TypeCode.BIGINT)


class _Collector:
    def __init__(self, table: TableMetadata) -> None:
        self.table = table
        self.specs: dict[int, ColumnSpec] = {}

    def add(self, term: Term | None, dtype: DataType, name: str) -> None:
        if term is None:
            return
        if isinstance(term, TypeCast):
            self.add(term.term, dtype, name)
        elif isinstance(term, BindMarker):
            spec_name = term.name if term.name is not None else name
            self.specs[term.index] = ColumnSpec(
                keyspace=self.table.keyspace, table=self.table.name, name=spec_name, type=dtype
            )
        elif isinstance(term, FunctionCall):
            key_types = [c.type for c in self.table.partition_key]
            for arg, arg_type, arg_name in argument_receivers(term, dtype, key_types):
                self.add(arg, arg_type, arg_name)
        elif isinstance(term, ListLiteral) and vector_parts(dtype) is not None:
            element = (vector_parts(dtype) or (dtype, 0))[0]
            for item in term.items:
                self.add(item, element, f"value({name})")
        elif isinstance(term, UdtLiteral) and dtype.code is TypeCode.UDT:
            fields = dict(zip(dtype.field_names, dtype.params, strict=True))
            for field, value in term.fields:
                if field in fields:
                    self.add(value, fields[field], f"{name}.{field}")
        elif isinstance(term, ListLiteral | SetLiteral) and dtype.params:
            for item in term.items:
                self.add(item, dtype.params[0], name)
        elif isinstance(term, MapLiteral) and len(dtype.params) == 2:
            for key, value in term.entries:
                self.add(key, dtype.params[0], name)
                self.add(value, dtype.params[1], name)
        elif isinstance(term, TupleLiteral) and dtype.code is TypeCode.TUPLE:
            for item, item_type in zip(term.items, dtype.params, strict=False):
                self.add(item, item_type, name)

    def column(self, name: str) -> ColumnMetadata:
        return known_column(self.table, name)

    def using(self, using: Using) -> None:
        self.add(using.ttl, _INT, "[ttl]")
        self.add(using.timestamp, _BIGINT, "[timestamp]")

    def where(self, relations: tuple[object, ...]) -> None:
        for relation in relations:
            if isinstance(relation, SingleColumnRelation):
                column = self.column(relation.column)
                self._relation(column, relation.operator, relation.value)
            elif isinstance(relation, ElementRelation):
                # m[key] = value: receivers key(m) and value(m), as Cassandra names them.
                column = self.column(relation.column)
                if column.type.code is TypeCode.MAP:
                    key_type, value_type = column.type.params
                    self.add(relation.key, key_type, f"key({column.name})")
                    self.add(relation.value, value_type, f"value({column.name})")
            elif isinstance(relation, TokenRelation):
                self.add(relation.value, _BIGINT, "partition key token")
            elif isinstance(relation, MultiColumnRelation):
                columns = [self.column(c) for c in relation.columns]
                tuple_type = DataType.tuple_of(*(c.type for c in columns))
                label = "(" + ",".join(c.name for c in columns) + ")"
                values = (
                    relation.value.items
                    if isinstance(relation.value, InValues)
                    else (relation.value,)
                )
                for value in values:
                    if isinstance(value, TupleLiteral):
                        for item, column in zip(value.items, columns, strict=False):
                            self.add(item, column.type, column.name)
                    elif relation.operator is Operator.IN and isinstance(
                        relation.value, BindMarker
                    ):
                        self.add(value, DataType.list_of(tuple_type), f"in{label}")
                    else:
                        self.add(value, tuple_type, label)

    def conditions(self, conditions: tuple[ColumnCondition, ...]) -> None:
        """The markers of IF conditions, named as Cassandra names their receivers."""
        for condition in conditions:
            column = self.column(condition.column)
            dtype, name = column.type, column.name
            if condition.element is not None and dtype.code in (TypeCode.LIST, TypeCode.MAP):
                is_map = dtype.code is TypeCode.MAP
                key_type = dtype.params[0] if is_map else _INT
                self.add(condition.element, key_type, f"{'key' if is_map else 'idx'}({name})")
                dtype, name = dtype.params[-1], f"value({name})"
            elif condition.field is not None and condition.field in dtype.field_names:
                dtype = dtype.params[dtype.field_names.index(condition.field)]
                name = f"{name}.{condition.field}"
            op = condition.operator
            if op is Operator.IN and isinstance(condition.value, InValues):
                for item in condition.value.items:
                    self.add(item, dtype, name)
            elif op is Operator.IN:
                self.add(condition.value, DataType.list_of(dtype), f"in({name})")
            elif op in (Operator.CONTAINS, Operator.CONTAINS_KEY) and dtype.params:
                index = 0 if op is Operator.CONTAINS_KEY else -1
                self.add(condition.value, dtype.params[index], name)
            else:
                self.add(condition.value, dtype, name)

    def _relation(self, column: ColumnMetadata, op: Operator, value: Term) -> None:
        if op is Operator.IN:
            if isinstance(value, InValues):
                for item in value.items:
                    self.add(item, column.type, column.name)
            else:
                self.add(value, DataType.list_of(column.type), f"in({column.name})")
        elif op is Operator.CONTAINS:
            element = column.type.params[-1] if column.type.params else column.type
            self.add(value, element, f"value({column.name})")
        elif op is Operator.CONTAINS_KEY:
            self.add(value, column.type.params[0], f"key({column.name})")
        else:
            self.add(value, column.type, column.name)


def bind_specs(
    statement: Statement, table: TableMetadata, bind_count: int
) -> tuple[ColumnSpec, ...]:
    """One ColumnSpec per bind marker, in index order."""
    collector = _Collector(table)
    _collect(statement, collector)
    return _in_order(collector.specs, bind_count)


def batch_bind_specs(
    statement: Batch, tables: Sequence[TableMetadata], bind_count: int
) -> tuple[ColumnSpec, ...]:
    """The bind markers of a BATCH: its statements' (``tables[i]`` is the table of the i-th)
    and its own ``USING TIMESTAMP ?``, which Cassandra names for the table ``[batch]``."""
    specs: dict[int, ColumnSpec] = {}
    for inner, table in zip(statement.statements, tables, strict=True):
        collector = _Collector(table)
        _collect(inner, collector)
        specs.update(collector.specs)
    marker = statement.using.timestamp
    if isinstance(marker, BindMarker):
        name = marker.name if marker.name is not None else "[timestamp]"
        specs[marker.index] = ColumnSpec(
            keyspace="[batch]", table="[batch]", name=name, type=_BIGINT
        )
    return _in_order(specs, bind_count)


def _in_order(specs: dict[int, ColumnSpec], bind_count: int) -> tuple[ColumnSpec, ...]:
    missing = [i for i in range(bind_count) if i not in specs]
    if missing:
        raise InvalidRequestError(
            "The dev server cannot tell the type of bind marker number " + str(missing[0] + 1)
        )
    return tuple(specs[i] for i in range(bind_count))


def _collect(statement: Statement, collector: _Collector) -> None:
    if isinstance(statement, Select):
        for term, term_type, receiver in selector_markers(statement, collector.table):
            collector.add(term, term_type, receiver)
        collector.where(statement.where)
        collector.add(statement.per_partition_limit, _INT, "[per_partition_limit]")
        collector.add(statement.limit, _INT, "[limit]")
    elif isinstance(statement, Insert):
        collector.add(statement.json, DataType(TypeCode.VARCHAR), "[json]")
        for name, term in zip(statement.columns, statement.values, strict=False):
            collector.add(term, collector.column(name).type, name)
        collector.using(statement.using)
    elif isinstance(statement, Update):
        collector.using(statement.using)
        for op in statement.operations:
            column = collector.column(op.column)
            if isinstance(op, SetValue):
                collector.add(op.value, column.type, column.name)
            elif isinstance(op, SetElement):
                key_type = column.type.params[0] if column.type.code is TypeCode.MAP else _INT
                collector.add(op.key, key_type, f"key({column.name})")
                collector.add(op.value, column.type.params[-1], f"value({column.name})")
            elif isinstance(op, SetField):
                if column.type.code is TypeCode.UDT and op.field in column.type.field_names:
                    position = column.type.field_names.index(op.field)
                    field_type = column.type.params[position]
                    collector.add(op.value, field_type, f"{column.name}.{op.field}")
            elif isinstance(op, Addition | Subtraction | Prepend):
                operand = column.type  # a counter increment's marker is of type counter
                if isinstance(op, Subtraction) and column.type.code is TypeCode.MAP:
                    operand = DataType.set_of(column.type.params[0])
                collector.add(op.value, operand, column.name)
        collector.where(statement.where)
        collector.conditions(statement.conditions)
    elif isinstance(statement, Delete):
        for deletion in statement.deletions:
            column = collector.column(deletion.column)
            if deletion.element is not None:
                key_type = (
                    column.type.params[0]
                    if column.type.code in (TypeCode.MAP, TypeCode.SET)
                    else _INT
                )
                collector.add(deletion.element, key_type, f"key({column.name})")
        collector.add(statement.timestamp, _BIGINT, "[timestamp]")
        collector.where(statement.where)
        collector.conditions(statement.conditions)


def partition_key_indexes(statement: Statement, table: TableMetadata) -> tuple[int, ...]:
    """For each partition key column, the bind marker that carries it (empty if not all do)."""
    found: dict[str, int] = {}
    if isinstance(statement, Insert):
        for name, term in zip(statement.columns, statement.values, strict=False):
            if isinstance(term, BindMarker):
                found[name] = term.index
    elif isinstance(statement, Select | Update | Delete):
        for relation in statement.where:
            if (
                isinstance(relation, SingleColumnRelation)
                and relation.operator is Operator.EQ
                and isinstance(relation.value, BindMarker)
            ):
                found[relation.column] = relation.value.index
    indexes = [found.get(c.name) for c in table.partition_key]
    if any(i is None for i in indexes):
        return ()
    return tuple(i for i in indexes if i is not None)
