"""Parsing of the statements that define code: functions, aggregates and triggers."""

from __future__ import annotations

from cassflow.cql._ast_schema import (
    CreateAggregate,
    CreateFunction,
    CreateTrigger,
    DropAggregate,
    DropFunction,
    DropTrigger,
)
from cassflow.cql._errors import CqlInvalidError
from cassflow.cql._parse_ddl import DdlParser
from cassflow.cql._types import CqlType


class RoutineParser(DdlParser):
    """Functions, aggregates, triggers."""

    def _type_list(self) -> tuple[CqlType, ...]:
        self.expect("(")
        types: list[CqlType] = []
        if self.tok.kind != ")":
            types.append(self.comparator_type())
            while self.accept(","):
                types.append(self.comparator_type())
        self.expect(")")
        return tuple(types)

    def create_function(self, or_replace: bool) -> CreateFunction:
        """``CREATE [OR REPLACE] FUNCTION``; up to OR REPLACE is consumed."""
        self.expect("K_FUNCTION")
        if_not_exists = self.expect_if_not_exists()
        function = self.function_name()
        self.expect("(")
        arguments: list[tuple[str, CqlType]] = []
        if self.tok.kind != ")":
            arguments.append((self.ident(), self.comparator_type()))
            while self.accept(","):
                arguments.append((self.ident(), self.comparator_type()))
        self.expect(")")
        if self.accept("K_RETURNS"):
            self.expect("K_NULL")
            called = False
        elif self.accept("K_CALLED"):
            called = True
        else:
            raise self.no_viable()
        self.expect("K_ON")
        self.expect("K_NULL")
        self.expect("K_INPUT")
        self.expect("K_RETURNS")
        return_type = self.comparator_type()
        self.expect("K_LANGUAGE")
        language = self.expect("IDENT").text.lower()
        self.expect("K_AS")
        body = self.expect("STRING_LITERAL").text
        _check_replace(or_replace, if_not_exists)
        return CreateFunction(
            function=function,
            arguments=tuple(arguments),
            return_type=return_type,
            language=language,
            body=body,
            called_on_null_input=called,
            or_replace=or_replace,
            if_not_exists=if_not_exists,
        )

    def drop_function(self) -> DropFunction:
        """``DROP FUNCTION``; the DROP is consumed."""
        self.expect("K_FUNCTION")
        if_exists = self.expect_if_exists()
        function = self.function_name()
        types = self._type_list() if self.tok.kind == "(" else None
        return DropFunction(function=function, argument_types=types, if_exists=if_exists)

    def create_aggregate(self, or_replace: bool) -> CreateAggregate:
        """``CREATE [OR REPLACE] AGGREGATE``; up to OR REPLACE is consumed."""
        self.expect("K_AGGREGATE")
        if_not_exists = self.expect_if_not_exists()
        function = self.function_name()
        argument_types = self._type_list()
        self.expect("K_SFUNC")
        state_function = self.allowed_function_name()
        self.expect("K_STYPE")
        state_type = self.comparator_type()
        final = self.allowed_function_name() if self.accept("K_FINALFUNC") else None
        initial = self.term() if self.accept("K_INITCOND") else None
        _check_replace(or_replace, if_not_exists)
        return CreateAggregate(
            function=function,
            argument_types=argument_types,
            state_function=state_function,
            state_type=state_type,
            final_function=final,
            initial_condition=initial,
            or_replace=or_replace,
            if_not_exists=if_not_exists,
        )

    def drop_aggregate(self) -> DropAggregate:
        """``DROP AGGREGATE``; the DROP is consumed."""
        self.expect("K_AGGREGATE")
        if_exists = self.expect_if_exists()
        function = self.function_name()
        types = self._type_list() if self.tok.kind == "(" else None
        return DropAggregate(function=function, argument_types=types, if_exists=if_exists)

    def create_trigger(self) -> CreateTrigger:
        """``CREATE TRIGGER``; the CREATE is consumed."""
        self.expect("K_TRIGGER")
        if_not_exists = self.expect_if_not_exists()
        name = self.ident()
        self.expect("K_ON")
        table = self.qualified_name()
        self.expect("K_USING")
        using = self.expect("STRING_LITERAL").text
        return CreateTrigger(name=name, table=table, using=using, if_not_exists=if_not_exists)

    def drop_trigger(self) -> DropTrigger:
        """``DROP TRIGGER``; the DROP is consumed."""
        self.expect("K_TRIGGER")
        if_exists = self.expect_if_exists()
        name = self.ident()
        self.expect("K_ON")
        return DropTrigger(name=name, table=self.qualified_name(), if_exists=if_exists)


def _check_replace(or_replace: bool, if_not_exists: bool) -> None:
    if or_replace and if_not_exists:
        raise CqlInvalidError("Cannot use both 'OR REPLACE' and 'IF NOT EXISTS' directives")
