"""Parsing of SELECT, INSERT, UPDATE, DELETE, BATCH, USE and TRUNCATE."""

from __future__ import annotations

from typing import Final

from cassflow.cql._ast import Literal, LiteralKind, Term
from cassflow.cql._ast_dml import (
    Batch,
    BatchKind,
    Delete,
    Insert,
    Select,
    Truncate,
    Update,
    Use,
    Using,
)
from cassflow.cql._ast_select import Selectable, Selector
from cassflow.cql._ast_where import (
    Addition,
    ColumnCondition,
    Deletion,
    Operation,
    Operator,
    Ordering,
    Prepend,
    SetElement,
    SetField,
    SetValue,
    Subtraction,
)
from cassflow.cql._errors import CqlInvalidError
from cassflow.cql._parse_base import MARKER_KINDS
from cassflow.cql._parse_select import COLUMN_KINDS, RELATION_TYPES, SelectorParser

# After `IF`, `exists` followed by one of these is a column named exists, not IF EXISTS.
_CONDITION_FOLLOW: Final = frozenset(RELATION_TYPES) | {"K_IN", "K_CONTAINS", "[", "."}


class DmlParser(SelectorParser):
    """The data statements."""

    def select_statement(self) -> Select:
        """``selectStatement``."""
        self.expect("K_SELECT")
        # `json` is also a valid column name: JSON is the keyword only if a select clause
        # follows it (Cassandra's syntactic predicate).
        json = self.tok.kind == "K_JSON" and self.speculate(self._json_select_clause)
        if json:
            self.advance()
        distinct, selectors = self._select_clause()
        self.expect("K_FROM")
        table = self.qualified_name()
        where = self.where_clause() if self.accept("K_WHERE") else ()
        group_by: list[Selectable] = []
        if self.accept("K_GROUP"):
            self.expect("K_BY")
            group_by.append(self.unaliased_selector())
            while self.accept(","):
                group_by.append(self.unaliased_selector())
        order_by: list[Ordering] = []
        if self.accept("K_ORDER"):
            self.expect("K_BY")
            order_by.append(self.ordering())
            while self.accept(","):
                order_by.append(self.ordering())
        per_partition_limit = None
        if self.accept("K_PER"):
            self.expect("K_PARTITION")
            self.expect("K_LIMIT")
            per_partition_limit = self.int_value()
        limit = self.int_value() if self.accept("K_LIMIT") else None
        allow_filtering = False
        if self.accept("K_ALLOW"):
            self.expect("K_FILTERING")
            allow_filtering = True
        return Select(
            table=table,
            selectors=selectors,
            json=json,
            distinct=distinct,
            where=where,
            group_by=tuple(group_by),
            order_by=tuple(order_by),
            per_partition_limit=per_partition_limit,
            limit=limit,
            allow_filtering=allow_filtering,
        )

    def _json_select_clause(self) -> None:
        self.advance()
        self._select_clause()

    def _distinct_selectors(self) -> None:
        self.advance()
        self.selectors()

    def _select_clause(self) -> tuple[bool, tuple[Selector, ...]]:
        if self.tok.kind == "K_DISTINCT" and self.speculate(self._distinct_selectors):
            self.advance()
            return True, self.selectors()
        return False, self.selectors()

    def insert_statement(self) -> Insert:
        """``insertStatement``: the column list form or the JSON form."""
        self.expect("K_INSERT")
        self.expect("K_INTO")
        table = self.qualified_name()
        if self.accept("K_JSON"):
            json: Term
            if self.tok.kind == "STRING_LITERAL":
                json = Literal(kind=LiteralKind.STRING, text=self.advance().text)
            elif self.tok.kind in MARKER_KINDS:
                json = self.marker()
            else:
                raise self.no_viable()
            default_unset = False
            if self.accept("K_DEFAULT") and not self.accept("K_NULL"):
                self.expect("K_UNSET")
                default_unset = True
            if_not_exists = self.expect_if_not_exists()
            using = self.using_clause()
            return Insert(
                table=table,
                json=json,
                default_unset=default_unset,
                if_not_exists=if_not_exists,
                using=using,
            )
        if self.tok.kind != "(":
            raise self.no_viable()
        self.advance()
        columns = [self.cident()]
        while self.accept(","):
            columns.append(self.cident())
        self.expect(")")
        self.expect("K_VALUES")
        values = self.terms_in_parentheses()
        if_not_exists = self.expect_if_not_exists()
        return Insert(
            table=table,
            columns=tuple(columns),
            values=values,
            if_not_exists=if_not_exists,
            using=self.using_clause(),
        )

    def using_clause(self, *, timestamp_only: bool = False) -> Using:
        """``[USING (TTL|TIMESTAMP) v [AND ...]]`` (``USING TIMESTAMP v`` for DELETE)."""
        if not self.accept("K_USING"):
            return Using()
        if timestamp_only:
            self.expect("K_TIMESTAMP")
            return Using(timestamp=self.int_value())
        ttl: Term | None = None
        timestamp: Term | None = None
        while True:
            if self.accept("K_TIMESTAMP"):
                timestamp = self.int_value()
            elif self.accept("K_TTL"):
                ttl = self.int_value()
            else:
                raise self.no_viable()
            if not self.accept("K_AND"):
                return Using(ttl=ttl, timestamp=timestamp)

    def update_statement(self) -> Update:
        """``updateStatement``."""
        self.expect("K_UPDATE")
        table = self.qualified_name()
        using = self.using_clause()
        self.expect("K_SET")
        operations: list[Operation] = []
        self._column_operation(operations)
        while self.accept(","):
            self._column_operation(operations)
        self.expect("K_WHERE")
        where = self.where_clause()
        if_exists, conditions = self._if_clause()
        return Update(
            table=table,
            using=using,
            operations=tuple(operations),
            where=where,
            if_exists=if_exists,
            conditions=conditions,
        )

    def _column_operation(self, operations: list[Operation]) -> None:
        start = self.pos
        column = self.cident()
        operation: Operation
        if self.accept("="):
            operation = self._normal_column_operation(column)
        elif self.tok.kind in ("+=", "-="):
            sign = self.advance().kind
            value = self.term()
            operation = (
                Addition(column=column, value=value)
                if sign == "+="
                else Subtraction(column=column, value=value)
            )
        elif self.accept("["):
            key = self.term()
            self.expect("]")
            self.expect("=")
            operation = SetElement(column=column, key=key, value=self.term())
        elif self.accept("."):
            field = self.ident()
            self.expect("=")
            operation = SetField(column=column, field=field, value=self.term())
        else:
            raise self.no_viable(start)
        for existing in operations:
            if existing.column == column and not existing.compatible_with(operation):
                raise self.recognition_error(f"Multiple incompatible setting of column {column}")
        operations.append(operation)

    def _normal_column_operation(self, column: str) -> Operation:
        token = self.tok
        if token.kind in COLUMN_KINDS and self.peek().kind not in ("(", "."):
            # `c = c + t`, `c = c - t`, or `c = c -3` (a negative number lexed as one token).
            other = self.cident()
            if self.tok.kind in ("+", "-"):
                sign = self.advance().kind
                if other != column:
                    raise self.recognition_error(
                        f"Only expressions of the form X = X {sign}<value> are supported.", token
                    )
                value = self.term()
                if sign == "+":
                    return Addition(column=column, value=value)
                return Subtraction(column=column, value=value)
            if self.tok.kind == "INTEGER":
                number = self.advance().text
                if other != column:
                    sign = "-" if number.startswith("-") else "+"
                    raise self.recognition_error(
                        f"Only expressions of the form X = X {sign} <value> are supported.", token
                    )
                return Addition(column=column, value=Literal(kind=LiteralKind.INTEGER, text=number))
            raise self.no_viable()
        value = self.term()
        if self.accept("+"):
            other_token = self.tok
            other = self.cident()
            if other != column:
                raise self.recognition_error(
                    "Only expressions of the form X = <value> + X are supported.", other_token
                )
            return Prepend(column=column, value=value)
        return SetValue(column=column, value=value)

    def _if_clause(self) -> tuple[bool, tuple[ColumnCondition, ...]]:
        if not self.accept("K_IF"):
            return False, ()
        if self.tok.kind == "K_EXISTS" and self.peek().kind not in _CONDITION_FOLLOW:
            self.advance()
            return True, ()
        conditions = [self._condition()]
        while self.accept("K_AND"):
            conditions.append(self._condition())
        return False, tuple(conditions)

    def _condition(self) -> ColumnCondition:
        start = self.pos
        column = self.cident()
        element: Term | None = None
        field: str | None = None
        if self.accept("["):
            element = self.term()
            self.expect("]")
        elif self.accept("."):
            field = self.ident()
        operator = self.relation_type()
        value: Term
        if operator is not None:
            value = self.term()
        elif self.accept("K_IN"):
            operator, value = Operator.IN, self.single_column_in_values()
        elif element is None and field is None and self.accept("K_CONTAINS"):
            operator = Operator.CONTAINS_KEY if self.accept("K_KEY") else Operator.CONTAINS
            value = self.term()
        else:
            raise self.no_viable(start)
        return ColumnCondition(
            column=column, operator=operator, value=value, element=element, field=field
        )

    def delete_statement(self) -> Delete:
        """``deleteStatement``."""
        self.expect("K_DELETE")
        deletions: list[Deletion] = []
        if self.tok.kind != "K_FROM":
            deletions.append(self._deletion())
            while self.accept(","):
                deletions.append(self._deletion())
        self.expect("K_FROM")
        table = self.qualified_name()
        timestamp = self.using_clause(timestamp_only=True).timestamp
        self.expect("K_WHERE")
        where = self.where_clause()
        if_exists, conditions = self._if_clause()
        return Delete(
            table=table,
            deletions=tuple(deletions),
            timestamp=timestamp,
            where=where,
            if_exists=if_exists,
            conditions=conditions,
        )

    def _deletion(self) -> Deletion:
        column = self.cident()
        if self.accept("["):
            element = self.term()
            self.expect("]")
            return Deletion(column=column, element=element)
        if self.accept("."):
            return Deletion(column=column, field=self.ident())
        return Deletion(column=column)

    def batch_statement(self) -> Batch:
        """``batchStatement``: the statements share one numbering of bind markers."""
        self.expect("K_BEGIN")
        kind = BatchKind.LOGGED
        if self.accept("K_UNLOGGED"):
            kind = BatchKind.UNLOGGED
        elif self.accept("K_COUNTER"):
            kind = BatchKind.COUNTER
        self.expect("K_BATCH")
        using = self.using_clause()
        statements: list[Insert | Update | Delete] = []
        while True:
            kind_now = self.tok.kind
            if kind_now == "K_INSERT":
                statements.append(self.insert_statement())
            elif kind_now == "K_UPDATE":
                statements.append(self.update_statement())
            elif kind_now == "K_DELETE":
                statements.append(self.delete_statement())
            else:
                break
            self.accept(";")
        self.expect("K_APPLY")
        self.expect("K_BATCH")
        if using.ttl is not None:
            raise CqlInvalidError("Global TTL on the BATCH statement is not supported.")
        return Batch(kind=kind, using=using, statements=tuple(statements))

    def use_statement(self) -> Use:
        """``USE keyspace``."""
        self.expect("K_USE")
        return Use(keyspace=self.keyspace_name())

    def truncate_statement(self) -> Truncate:
        """``TRUNCATE [TABLE] table``."""
        self.expect("K_TRUNCATE")
        self.accept("K_COLUMNFAMILY")
        return Truncate(table=self.qualified_name())
