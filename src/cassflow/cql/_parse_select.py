"""Parsing of selectors and WHERE clauses (shared by SELECT, UPDATE, DELETE and views)."""

from __future__ import annotations

from typing import Final

from cassflow.cql._ast import Null, Term
from cassflow.cql._ast_select import (
    CastSelector,
    ColumnSelector,
    CountRowsSelector,
    ElementSelector,
    FieldSelector,
    FunctionSelector,
    ListSelector,
    MapSelector,
    NegationSelector,
    OperationSelector,
    Selectable,
    Selector,
    SetSelector,
    SliceSelector,
    TermSelector,
    TupleSelector,
    TypeHintSelector,
    WritetimeKind,
    WritetimeSelector,
)
from cassflow.cql._ast_where import (
    CustomIndexExpression,
    ElementRelation,
    InValues,
    MultiColumnRelation,
    Operator,
    Ordering,
    Relation,
    SingleColumnRelation,
    TokenRelation,
)
from cassflow.cql._errors import CqlSyntaxError
from cassflow.cql._keywords import FUNCTION_NAME_KINDS, NAME_KINDS
from cassflow.cql._node import QualifiedName
from cassflow.cql._parse_base import CONSTANT_KINDS, MARKER_KINDS
from cassflow.cql._parse_terms import TermParser

RELATION_TYPES: Final = {
    "=": Operator.EQ,
    "<": Operator.LT,
    "<=": Operator.LTE,
    ">": Operator.GT,
    ">=": Operator.GTE,
    "!=": Operator.NEQ,
}
_WRITETIME: Final = {
    "K_WRITETIME": WritetimeKind.WRITETIME,
    "K_MAXWRITETIME": WritetimeKind.MAXWRITETIME,
    "K_TTL": WritetimeKind.TTL,
}
_GROUP_START: Final = (
    NAME_KINDS
    | FUNCTION_NAME_KINDS
    | CONSTANT_KINDS
    | MARKER_KINDS
    | frozenset(("K_NULL", "(", "[", "{", "K_CAST"))
)
COLUMN_KINDS: Final = NAME_KINDS | {"EMPTY_QUOTED_NAME"}


class SelectorParser(TermParser):
    """Selectors, relations, orderings."""

    # -- selectors ----------------------------------------------------------------------

    def selectors(self) -> tuple[Selector, ...]:
        """``selectors``: ``*`` (an empty tuple) or ``selector (',' selector)*``."""
        if self.accept("*"):
            return ()
        items = [self._selector()]
        while self.accept(","):
            items.append(self._selector())
        return tuple(items)

    def _selector(self) -> Selector:
        selectable = self.unaliased_selector()
        alias = self.ident() if self.accept("K_AS") else None
        return Selector(selectable=selectable, alias=alias)

    def unaliased_selector(self) -> Selectable:
        """``unaliasedSelector``: additions of multiplications of selector groups."""
        self.enter()
        left = self._selection_multiplication()
        while self.tok.kind in ("+", "-"):
            operator = self.advance().kind
            right = self._selection_multiplication()
            left = OperationSelector(operator=operator, left=left, right=right)
        self.depth -= 1
        return left

    def _selection_multiplication(self) -> Selectable:
        left = self._selection_group()
        while self.tok.kind in ("*", "/", "%"):
            operator = self.advance().kind
            right = self._selection_group()
            left = OperationSelector(operator=operator, left=left, right=right)
        return left

    def _selection_group(self) -> Selectable:
        if self.accept("-"):
            self.enter()
            negated = NegationSelector(selector=self._selection_group())
            self.depth -= 1
            return negated
        return self._modifiers(self._selection_group_without_field())

    def _modifiers(self, selectable: Selectable) -> Selectable:
        # `.field` and `[key]` / `[from..to]` selections, as many as written.
        while True:
            if self.accept("."):
                selectable = FieldSelector(selector=selectable, field=self.ident())
            elif self.accept("["):
                selectable = self._sub_selection(selectable)
                self.expect("]")
            else:
                return selectable

    def _sub_selection(self, receiver: Selectable) -> Selectable:
        if self.accept("RANGE"):
            return SliceSelector(selector=receiver, end=self.term())
        start = self.term()
        if not self.accept("RANGE"):
            return ElementSelector(selector=receiver, key=start)
        end = None if self.tok.kind == "]" else self.term()
        return SliceSelector(selector=receiver, start=start, end=end)

    def _selection_group_without_field(self) -> Selectable:
        kind = self.tok.kind
        if kind == "(":
            return self._parenthesised_selector()
        if kind == "[":
            self.advance()
            items: list[Selectable] = []
            if self.tok.kind != "]":
                items.append(self.unaliased_selector())
                while self.accept(","):
                    items.append(self.unaliased_selector())
            self.expect("]")
            return ListSelector(items=tuple(items))
        if kind == "{":
            return self._brace_selector()
        if kind in CONSTANT_KINDS:
            return TermSelector(term=self.constant())
        if kind == "K_NULL":
            self.advance()
            return TermSelector(term=Null())
        if kind in MARKER_KINDS:
            return TermSelector(term=self.marker())
        return self._name_selector()

    def _parenthesised_selector(self) -> Selectable:
        if self._is_type_hint():
            self.advance()
            hint = self.comparator_type()
            self.expect(")")
            return TypeHintSelector(type=hint, selector=self._selection_group_without_field())
        self.advance()
        items = [self.unaliased_selector()]
        while self.accept(","):
            items.append(self.unaliased_selector())
        self.expect(")")
        return TupleSelector(items=tuple(items))

    def _is_type_hint(self) -> bool:
        start = self.pos
        try:
            self.advance()
            self.comparator_type()
            nxt = self.peek()
            if nxt.kind == ":":
                return self.peek(2).kind in NAME_KINDS
            return self.tok.kind == ")" and nxt.kind in _GROUP_START
        except CqlSyntaxError:
            return False
        finally:
            self.seek(start)

    def _brace_selector(self) -> Selectable:
        self.advance()
        if self.accept("}"):
            return SetSelector(items=())
        first = self.unaliased_selector()
        result: Selectable
        if self.accept(":"):
            entries = [(first, self.unaliased_selector())]
            while self.accept(","):
                key = self.unaliased_selector()
                self.expect(":")
                entries.append((key, self.unaliased_selector()))
            result = MapSelector(entries=tuple(entries))
        else:
            items = [first]
            while self.accept(","):
                items.append(self.unaliased_selector())
            result = SetSelector(items=tuple(items))
        self.expect("}")
        return result

    def _name_selector(self) -> Selectable:
        kind = self.tok.kind
        nxt = self.peek().kind
        if nxt == "(":
            if kind == "K_COUNT" and self.peek(2).kind == "*":
                self.advance()
                self.advance()
                self.advance()
                self.expect(")")
                return CountRowsSelector()
            if kind in _WRITETIME:
                self.advance()
                self.advance()
                column = self._modifiers(ColumnSelector(name=self.ident()))
                self.expect(")")
                return WritetimeSelector(kind=_WRITETIME[kind], selector=column)
            if kind == "K_CAST":
                self.advance()
                self.advance()
                inner = self.unaliased_selector()
                self.expect("K_AS")
                cast_type = self.native_type()
                self.expect(")")
                return CastSelector(selector=inner, type=cast_type)
            if kind in FUNCTION_NAME_KINDS:
                return self._function_selector()
        elif (
            nxt == "."
            and kind in NAME_KINDS
            and self.peek(2).kind in FUNCTION_NAME_KINDS
            and self.peek(3).kind == "("
        ):
            return self._function_selector()
        if kind in NAME_KINDS:
            return ColumnSelector(name=self.fold(self.advance()))
        raise self.no_viable()

    def _function_selector(self) -> Selectable:
        name = self.function_name()
        self.expect("(")
        args: list[Selectable] = []
        if self.tok.kind != ")":
            args.append(self.unaliased_selector())
            while self.accept(","):
                args.append(self.unaliased_selector())
        self.expect(")")
        return FunctionSelector(function=name, args=tuple(args))

    # -- WHERE --------------------------------------------------------------------------

    def where_clause(self) -> tuple[Relation, ...]:
        """``whereClause``: relations joined by AND (parenthesised ones flattened)."""
        relations: list[Relation] = []
        self._relation_or_expression(relations)
        while self.accept("K_AND"):
            self._relation_or_expression(relations)
        return tuple(relations)

    def _relation_or_expression(self, relations: list[Relation]) -> None:
        if self.accept("EXPR"):
            index = QualifiedName(name=self.ident())
            self.expect(",")
            value = self.term()
            self.expect(")")
            relations.append(CustomIndexExpression(index=index, value=value))
        else:
            self._relation(relations)

    def relation_type(self) -> Operator | None:
        """``relationType``: a comparison operator, consumed, or None."""
        operator = RELATION_TYPES.get(self.tok.kind)
        if operator is not None:
            self.advance()
        return operator

    def _relation(self, relations: list[Relation]) -> None:
        self.enter()
        start = self.pos
        kind = self.tok.kind
        if kind == "K_TOKEN":
            self.advance()
            columns = self._tuple_of_identifiers()
            operator = self.relation_type()
            if operator is None:
                raise self.no_viable(start)
            relations.append(TokenRelation(columns=columns, operator=operator, value=self.term()))
        elif kind == "(":
            if self.peek().kind in COLUMN_KINDS and self.peek(2).kind in (",", ")"):
                relations.append(self._multi_column_relation(start))
            else:
                self.advance()
                self._relation(relations)
                self.expect(")")
        elif kind in COLUMN_KINDS:
            relations.append(self._single_column_relation(start))
        else:
            raise self.no_viable()
        self.depth -= 1

    def _single_column_relation(self, start: int) -> Relation:
        column = self.cident()
        operator = self.relation_type()
        value: Term
        if operator is not None:
            value = self.term()
        elif self.accept("K_LIKE"):
            operator, value = Operator.LIKE, self.term()
        elif self.accept("K_IS"):
            self.expect("K_NOT")
            self.expect("K_NULL")
            operator, value = Operator.IS_NOT, Null()
        elif self.accept("K_IN"):
            operator, value = Operator.IN, self.single_column_in_values()
        elif self.accept("K_CONTAINS"):
            operator = Operator.CONTAINS_KEY if self.accept("K_KEY") else Operator.CONTAINS
            value = self.term()
        elif self.accept("["):
            key = self.term()
            self.expect("]")
            operator = self.relation_type()
            if operator is None:
                raise self.no_viable()
            return ElementRelation(column=column, key=key, operator=operator, value=self.term())
        else:
            raise self.no_viable(start)
        return SingleColumnRelation(column=column, operator=operator, value=value)

    def _multi_column_relation(self, start: int) -> Relation:
        columns = self._tuple_of_identifiers()
        value: Term
        if self.accept("K_IN"):
            operator = Operator.IN
            value = self._multi_column_in_values()
        else:
            found = self.relation_type()
            if found is None:
                raise self.no_viable(start)
            operator = found
            value = self.marker() if self.tok.kind in MARKER_KINDS else self.tuple_literal()
        return MultiColumnRelation(columns=columns, operator=operator, value=value)

    def _tuple_of_identifiers(self) -> tuple[str, ...]:
        self.expect("(")
        names = [self.cident()]
        while self.accept(","):
            names.append(self.cident())
        self.expect(")")
        return tuple(names)

    def single_column_in_values(self) -> Term:
        """``singleColumnInValues``: ``(t, ...)`` (possibly empty) or an IN marker."""
        if self.tok.kind in MARKER_KINDS:
            return self.marker()
        self.expect("(")
        items: list[Term] = []
        if self.tok.kind != ")":
            items.append(self.term())
            while self.accept(","):
                items.append(self.term())
        self.expect(")")
        return InValues(items=tuple(items))

    def _multi_column_in_values(self) -> Term:
        if self.tok.kind in MARKER_KINDS:
            return self.marker()
        self.expect("(")
        if self.accept(")"):
            return InValues(items=())
        items: list[Term] = []
        if self.tok.kind == "(":
            items.append(self.tuple_literal())
            while self.accept(","):
                items.append(self.tuple_literal())
        elif self.tok.kind in MARKER_KINDS:
            items.append(self.marker())
            while self.accept(","):
                items.append(self.marker())
        else:
            raise self.no_viable()
        self.expect(")")
        return InValues(items=tuple(items))

    def ordering(self) -> Ordering:
        """``orderByClause``: ``c [ANN OF term] [ASC|DESC]``."""
        column = self.cident()
        ann = None
        if self.accept("K_ANN"):
            self.expect("K_OF")
            ann = self.term()
        descending = False
        if not self.accept("K_ASC"):
            descending = self.accept("K_DESC")
        return Ordering(column=column, descending=descending, ann=ann)
