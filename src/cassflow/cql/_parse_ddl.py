"""Parsing of the schema statements (CREATE/ALTER/DROP of keyspaces, tables, types, indexes
and materialized views; functions, aggregates and triggers are in ``_parse_routines``).

Cassandra refuses a few of these while parsing or preparing them without looking at the
schema (a second PRIMARY KEY, a column declared twice...): those raise
:class:`CqlInvalidError` here, with Cassandra's message.
"""

from __future__ import annotations

from typing import Final

from cassflow.cql._ast import Literal, MapLiteral, Term
from cassflow.cql._ast_ddl import (
    AddColumns,
    AlterColumnMask,
    AlterColumnType,
    AlterKeyspace,
    AlterTable,
    AlterTableAction,
    AlterTableProperties,
    ColumnDefinition,
    ColumnMask,
    CreateKeyspace,
    CreateTable,
    DropColumns,
    DropCompactStorage,
    DropKeyspace,
    DropTable,
    Property,
    RenameColumns,
    keyword_value,
)
from cassflow.cql._ast_schema import (
    AddField,
    AlterFieldType,
    AlterMaterializedView,
    AlterType,
    AlterTypeAction,
    CreateIndex,
    CreateMaterializedView,
    CreateType,
    DropIndex,
    DropMaterializedView,
    DropType,
    IndexTarget,
    IndexTargetKind,
    RenameFields,
)
from cassflow.cql._errors import CqlInvalidError
from cassflow.cql._keywords import NAME_KINDS, NATIVE_TYPES, UNRESERVED
from cassflow.cql._node import QualifiedName
from cassflow.cql._parse_base import CONSTANT_KINDS
from cassflow.cql._parse_dml import DmlParser
from cassflow.cql._types import CqlType

_COMPACT_STORAGE: Final = "COMPACT STORAGE tables are not allowed starting with version 4.0"
_INDEX_KINDS: Final = {
    "K_VALUES": IndexTargetKind.VALUES,
    "K_KEYS": IndexTargetKind.KEYS,
    "K_ENTRIES": IndexTargetKind.ENTRIES,
    "K_FULL": IndexTargetKind.FULL,
}


class _TableBuilder:
    """Collects a CREATE TABLE / VIEW definition, failing as Cassandra's ``Raw`` does."""

    def __init__(self, name: QualifiedName) -> None:
        self.name = name
        self.label = name.name if name.keyspace is None else f"{name.keyspace}.{name.name}"
        self.columns: list[ColumnDefinition] = []
        self.partition_key: tuple[str, ...] | None = None
        self.clustering: list[str] = []
        self.order: list[tuple[str, bool]] = []

    def add_column(self, column: ColumnDefinition) -> None:
        if any(c.name == column.name for c in self.columns):
            raise CqlInvalidError(
                f"Duplicate column '{column.name}' declaration for table '{self.label}'"
            )
        self.columns.append(column)

    def set_partition_key(self, columns: tuple[str, ...]) -> None:
        if self.partition_key is not None:
            raise CqlInvalidError(
                f"Multiple PRIMARY KEY specified for table '{self.label}' (exactly one required)"
            )
        self.partition_key = columns

    def extend_order(self, column: str, descending: bool) -> None:
        if any(c == column for c, _ in self.order):
            raise CqlInvalidError(
                f"Duplicate column '{column}' in CLUSTERING ORDER BY clause "
                f"for table '{self.label}'"
            )
        self.order.append((column, descending))

    def primary_key(self) -> tuple[str, ...]:
        if self.partition_key is None:
            raise CqlInvalidError(
                f"No PRIMARY KEY specifed for table '{self.label}' (exactly one required)"
            )
        return self.partition_key


class DdlParser(DmlParser):
    """The schema statements."""

    # -- properties ---------------------------------------------------------------------

    def properties(self) -> tuple[Property, ...]:
        """``properties``: ``name = value (AND name = value)*``."""
        found: list[Property] = []
        self.property_into(found)
        while self.accept("K_AND"):
            self.property_into(found)
        return tuple(found)

    def property_into(self, found: list[Property]) -> None:
        """One ``property``, refusing a second definition of the same name."""
        name_token = self.tok
        name = self.ident()
        self.expect("=")
        value: Literal | MapLiteral
        kind = self.tok.kind
        if kind == "{":
            value = self.property_map()
        elif kind in CONSTANT_KINDS:
            value = self.constant()
        elif kind in UNRESERVED:
            token = self.advance()
            value = keyword_value(NATIVE_TYPES.get(token.kind, token.text))
        else:
            raise self.no_viable()
        if any(p.name == name for p in found):
            raise self.recognition_error(f"Multiple definition for property {name}", name_token)
        found.append(Property(name=name, value=value))

    # -- keyspaces ----------------------------------------------------------------------

    def create_keyspace(self) -> CreateKeyspace:
        """``CREATE KEYSPACE``; the CREATE is consumed."""
        self.expect("K_KEYSPACE")
        if_not_exists = self.expect_if_not_exists()
        keyspace = self.keyspace_name()
        self.expect("K_WITH")
        return CreateKeyspace(
            keyspace=keyspace, properties=self.properties(), if_not_exists=if_not_exists
        )

    def alter_keyspace(self) -> AlterKeyspace:
        """``ALTER KEYSPACE``; the ALTER is consumed."""
        self.expect("K_KEYSPACE")
        if_exists = self.expect_if_exists()
        keyspace = self.keyspace_name()
        self.expect("K_WITH")
        return AlterKeyspace(keyspace=keyspace, properties=self.properties(), if_exists=if_exists)

    def drop_keyspace(self) -> DropKeyspace:
        """``DROP KEYSPACE``; the DROP is consumed."""
        self.expect("K_KEYSPACE")
        if_exists = self.expect_if_exists()
        return DropKeyspace(keyspace=self.keyspace_name(), if_exists=if_exists)

    # -- tables -------------------------------------------------------------------------

    def create_table(self) -> CreateTable:
        """``CREATE TABLE``; the CREATE is consumed."""
        self.expect("K_COLUMNFAMILY")
        if_not_exists = self.expect_if_not_exists()
        table = self.qualified_name()
        builder = _TableBuilder(table)
        self.expect("(")
        self._table_column(builder)
        while self.accept(","):
            if self.tok.kind in NAME_KINDS or self.tok.kind == "K_PRIMARY":
                self._table_column(builder)
        self.expect(")")
        properties: list[Property] = []
        if self.accept("K_WITH"):
            self._table_property(builder, properties, view=False)
            while self.accept("K_AND"):
                self._table_property(builder, properties, view=False)
        return CreateTable(
            table=table,
            columns=tuple(builder.columns),
            partition_key=builder.primary_key(),
            clustering_columns=tuple(builder.clustering),
            clustering_order=tuple(builder.order),
            properties=tuple(properties),
            if_not_exists=if_not_exists,
        )

    def _table_column(self, builder: _TableBuilder) -> None:
        if self.accept("K_PRIMARY"):
            self.expect("K_KEY")
            self._primary_key(builder)
            return
        column = self._column_definition()
        builder.add_column(column)
        if self.accept("K_PRIMARY"):
            self.expect("K_KEY")
            builder.set_partition_key((column.name,))

    def _primary_key(self, builder: _TableBuilder) -> None:
        self.expect("(")
        if self.accept("("):
            names = [self.ident()]
            while self.accept(","):
                names.append(self.ident())
            self.expect(")")
            builder.set_partition_key(tuple(names))
        else:
            builder.set_partition_key((self.ident(),))
        while self.accept(","):
            builder.clustering.append(self.ident())
        self.expect(")")

    def _column_definition(self) -> ColumnDefinition:
        name = self.ident()
        cql_type = self.comparator_type()
        static = self.accept("K_STATIC")
        mask = self._column_mask() if self.tok.kind == "K_MASKED" else None
        return ColumnDefinition(name=name, type=cql_type, static=static, mask=mask)

    def _column_mask(self) -> ColumnMask:
        self.expect("K_MASKED")
        self.expect("K_WITH")
        if self.accept("K_DEFAULT"):
            return ColumnMask()
        function = self.function_name()
        self.expect("(")
        args: list[Term] = []
        if self.tok.kind != ")":
            args.append(self.term())
            while self.accept(","):
                args.append(self.term())
        self.expect(")")
        return ColumnMask(function=function, args=tuple(args))

    def _table_property(
        self, builder: _TableBuilder, properties: list[Property], *, view: bool
    ) -> None:
        kind, nxt = self.tok.kind, self.peek().kind
        if kind == "K_COMPACT" and nxt == "K_STORAGE":
            token = self.tok
            if view:
                raise self.recognition_error(_COMPACT_STORAGE, token)
            raise CqlInvalidError(_COMPACT_STORAGE)
        if kind == "K_CLUSTERING" and nxt == "K_ORDER":
            self.advance()
            self.advance()
            self.expect("K_BY")
            self.expect("(")
            self._clustering_order(builder)
            while self.accept(","):
                self._clustering_order(builder)
            self.expect(")")
            return
        self.property_into(properties)

    def _clustering_order(self, builder: _TableBuilder) -> None:
        column = self.ident()
        if self.accept("K_ASC"):
            builder.extend_order(column, False)
        elif self.accept("K_DESC"):
            builder.extend_order(column, True)
        else:
            raise self.no_viable()

    def alter_table(self) -> AlterTable:
        """``ALTER TABLE``; the ALTER is consumed."""
        self.expect("K_COLUMNFAMILY")
        if_exists = self.expect_if_exists()
        table = self.qualified_name()
        action: AlterTableAction
        kind = self.tok.kind
        if self.accept("K_ALTER"):
            column_if_exists = self.expect_if_exists()
            column = self.cident()
            if not column_if_exists and self.accept("K_TYPE"):
                action = AlterColumnType(column=column, type=self.comparator_type())
            elif self.tok.kind == "K_MASKED":
                action = AlterColumnMask(
                    column=column, mask=self._column_mask(), if_exists=column_if_exists
                )
            elif self.accept("K_DROP"):
                self.expect("K_MASKED")
                action = AlterColumnMask(column=column, mask=None, if_exists=column_if_exists)
            else:
                raise self.no_viable()
        elif self.accept("K_ADD"):
            if_not_exists = self.expect_if_not_exists()
            if self.accept("("):
                columns = [self._column_definition()]
                while self.accept(","):
                    columns.append(self._column_definition())
                self.expect(")")
            else:
                columns = [self._column_definition()]
            action = AddColumns(columns=tuple(columns), if_not_exists=if_not_exists)
        elif (
            kind == "K_DROP"
            and self.peek().kind == "K_COMPACT"
            and self.peek(2).kind == "K_STORAGE"
        ):
            self.advance()
            self.advance()
            self.advance()
            action = DropCompactStorage()
        elif self.accept("K_DROP"):
            column_if_exists = self.expect_if_exists()
            names = self._names_maybe_parenthesised()
            timestamp = None
            if self.accept("K_USING"):
                self.expect("K_TIMESTAMP")
                timestamp = int(self.expect("INTEGER").text)
            action = DropColumns(columns=names, if_exists=column_if_exists, timestamp=timestamp)
        elif self.accept("K_RENAME"):
            column_if_exists = self.expect_if_exists()
            action = RenameColumns(renames=self._renames(), if_exists=column_if_exists)
        elif self.accept("K_WITH"):
            action = AlterTableProperties(properties=self.properties())
        else:
            raise self.no_viable()
        return AlterTable(table=table, action=action, if_exists=if_exists)

    def _names_maybe_parenthesised(self) -> tuple[str, ...]:
        if not self.accept("("):
            return (self.ident(),)
        names = [self.ident()]
        while self.accept(","):
            names.append(self.ident())
        self.expect(")")
        return tuple(names)

    def _renames(self) -> tuple[tuple[str, str], ...]:
        renames = []
        while True:
            old = self.ident()
            self.expect("K_TO")
            renames.append((old, self.ident()))
            if not self.accept("K_AND"):
                return tuple(renames)

    def drop_table(self) -> DropTable:
        """``DROP TABLE``; the DROP is consumed."""
        self.expect("K_COLUMNFAMILY")
        if_exists = self.expect_if_exists()
        return DropTable(table=self.qualified_name(), if_exists=if_exists)

    # -- indexes and views --------------------------------------------------------------

    def create_index(self) -> CreateIndex:
        """``CREATE [CUSTOM] INDEX``; the CREATE is consumed."""
        custom = self.accept("K_CUSTOM")
        self.expect("K_INDEX")
        if_not_exists = self.expect_if_not_exists()
        name = None
        if self.tok.kind != "K_ON":
            if self.tok.kind == "QMARK":
                raise self.recognition_error("Bind variables cannot be used for index names")
            name = self.ident()
        self.expect("K_ON")
        table = self.qualified_name()
        self.expect("(")
        targets: list[IndexTarget] = []
        if self.tok.kind != ")":
            targets.append(self._index_target())
            while self.accept(","):
                targets.append(self._index_target())
        self.expect(")")
        using = self.expect("STRING_LITERAL").text if self.accept("K_USING") else None
        properties = self.properties() if self.accept("K_WITH") else ()
        return CreateIndex(
            table=table,
            targets=tuple(targets),
            name=name,
            custom=custom,
            using=using,
            properties=properties,
            if_not_exists=if_not_exists,
        )

    def _index_target(self) -> IndexTarget:
        kind = _INDEX_KINDS.get(self.tok.kind)
        if kind is not None and self.peek().kind == "(":
            self.advance()
            self.advance()
            column = self.cident()
            self.expect(")")
            return IndexTarget(column=column, kind=kind)
        return IndexTarget(column=self.cident())

    def drop_index(self) -> DropIndex:
        """``DROP INDEX``; the DROP is consumed."""
        self.expect("K_INDEX")
        if_exists = self.expect_if_exists()
        return DropIndex(name=self.qualified_name("index"), if_exists=if_exists)

    def create_view(self) -> CreateMaterializedView:
        """``CREATE MATERIALIZED VIEW``; the CREATE is consumed."""
        self.expect("K_MATERIALIZED")
        self.expect("K_VIEW")
        if_not_exists = self.expect_if_not_exists()
        name = self.qualified_name()
        self.expect("K_AS")
        self.expect("K_SELECT")
        selectors = self.selectors()
        self.expect("K_FROM")
        base = self.qualified_name()
        where = self.where_clause() if self.accept("K_WHERE") else ()
        builder = _TableBuilder(name)
        self.expect("K_PRIMARY")
        self.expect("K_KEY")
        self._primary_key(builder)
        properties: list[Property] = []
        if self.accept("K_WITH"):
            self._table_property(builder, properties, view=True)
            while self.accept("K_AND"):
                self._table_property(builder, properties, view=True)
        return CreateMaterializedView(
            name=name,
            base_table=base,
            selectors=selectors,
            where=where,
            partition_key=builder.primary_key(),
            clustering_columns=tuple(builder.clustering),
            clustering_order=tuple(builder.order),
            properties=tuple(properties),
            if_not_exists=if_not_exists,
        )

    def alter_view(self) -> AlterMaterializedView:
        """``ALTER MATERIALIZED VIEW``; the ALTER is consumed."""
        self.expect("K_MATERIALIZED")
        self.expect("K_VIEW")
        if_exists = self.expect_if_exists()
        name = self.qualified_name()
        self.expect("K_WITH")
        return AlterMaterializedView(name=name, properties=self.properties(), if_exists=if_exists)

    def drop_view(self) -> DropMaterializedView:
        """``DROP MATERIALIZED VIEW``; the DROP is consumed."""
        self.expect("K_MATERIALIZED")
        self.expect("K_VIEW")
        if_exists = self.expect_if_exists()
        return DropMaterializedView(name=self.qualified_name(), if_exists=if_exists)

    # -- types --------------------------------------------------------------------------

    def create_type(self) -> CreateType:
        """``CREATE TYPE``; the CREATE is consumed."""
        self.expect("K_TYPE")
        if_not_exists = self.expect_if_not_exists()
        name = self.user_type_name()
        self.expect("(")
        fields = [self._field()]
        while self.accept(","):
            if self.tok.kind in NAME_KINDS:
                fields.append(self._field())
        self.expect(")")
        return CreateType(name=name, fields=tuple(fields), if_not_exists=if_not_exists)

    def _field(self) -> tuple[str, CqlType]:
        return self.ident(), self.comparator_type()

    def alter_type(self) -> AlterType:
        """``ALTER TYPE``; the ALTER is consumed."""
        self.expect("K_TYPE")
        if_exists = self.expect_if_exists()
        name = self.user_type_name()
        action: AlterTypeAction
        if self.accept("K_ALTER"):
            field = self.ident()
            self.expect("K_TYPE")
            action = AlterFieldType(field=field, type=self.comparator_type())
        elif self.accept("K_ADD"):
            if_not_exists = self.expect_if_not_exists()
            field, cql_type = self._field()
            action = AddField(field=field, type=cql_type, if_not_exists=if_not_exists)
        elif self.accept("K_RENAME"):
            field_if_exists = self.expect_if_exists()
            action = RenameFields(renames=self._renames(), if_exists=field_if_exists)
        else:
            raise self.no_viable()
        return AlterType(name=name, action=action, if_exists=if_exists)

    def drop_type(self) -> DropType:
        """``DROP TYPE``; the DROP is consumed."""
        self.expect("K_TYPE")
        if_exists = self.expect_if_exists()
        return DropType(name=self.user_type_name(), if_exists=if_exists)
