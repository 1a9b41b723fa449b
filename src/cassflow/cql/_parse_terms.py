"""Parsing of terms (values) and types: ``term``, ``comparatorType`` and their parts."""

from __future__ import annotations

from typing import Final

from cassflow.cql._ast import (
    BinaryOperation,
    BindMarker,
    CastTerm,
    FunctionCall,
    ListLiteral,
    Literal,
    MapLiteral,
    Negation,
    Null,
    SetLiteral,
    Term,
    TupleLiteral,
    TypeCast,
    UdtLiteral,
)
from cassflow.cql._errors import CqlSyntaxError
from cassflow.cql._keywords import FUNCTION_NAME_KINDS, NAME_KINDS, NATIVE_TYPES
from cassflow.cql._parse_base import CONSTANT_KINDS, MARKER_KINDS, ParserBase
from cassflow.cql._types import (
    CollectionType,
    CqlType,
    CustomType,
    NativeType,
    TupleType,
    UserType,
    VectorType,
)

#: Tokens that can start a ``simpleTerm`` (a value, a function call, a cast).
SIMPLE_TERM_START: Final = (
    CONSTANT_KINDS
    | FUNCTION_NAME_KINDS
    | MARKER_KINDS
    | frozenset(("K_NULL", "[", "{", "(", "K_CAST"))
)
_COLLECTION_KINDS: Final = {"K_MAP": "map", "K_LIST": "list", "K_SET": "set"}


class TermParser(ParserBase):
    """Terms and types."""

    # -- terms --------------------------------------------------------------------------

    def term(self) -> Term:
        """``term``: additions of multiplications of (negated) simple terms."""
        self.enter()
        left = self._term_multiplication()
        while self.tok.kind in ("+", "-") and self._term_follows(1):
            operator = self.advance().kind
            left = BinaryOperation(operator=operator, left=left, right=self._term_multiplication())
        self.depth -= 1
        return left

    def _term_follows(self, ahead: int) -> bool:
        # A bare name after '+' is no term: it is the `c` of `c = value + c`.
        token = self.peek(ahead)
        if token.kind in NAME_KINDS:
            return self.peek(ahead + 1).kind in ("(", ".")
        return True

    def _term_multiplication(self) -> Term:
        left = self._term_group()
        while self.tok.kind in ("*", "/", "%"):
            operator = self.advance().kind
            left = BinaryOperation(operator=operator, left=left, right=self._term_group())
        return left

    def _term_group(self) -> Term:
        if self.accept("-"):
            return Negation(term=self.simple_term())
        return self.simple_term()

    def simple_term(self) -> Term:
        """``simpleTerm``: a value, a function call, ``(type) term`` or ``CAST(t AS type)``."""
        kind = self.tok.kind
        if kind in CONSTANT_KINDS:
            return self.constant()
        if kind == "K_NULL":
            self.advance()
            return Null()
        if kind in MARKER_KINDS:
            return self.marker()
        if kind == "[":
            return self._list_literal()
        if kind == "{":
            return self._brace_literal()
        if kind == "(":
            if self._is_type_cast():
                self.advance()
                cql_type = self.comparator_type()
                self.expect(")")
                return TypeCast(type=cql_type, term=self.simple_term())
            return self.tuple_literal()
        if kind == "K_CAST" and self.peek().kind == "(":
            self.advance()
            self.advance()
            term = self.simple_term()
            self.expect("K_AS")
            cast_type = self.native_type()
            self.expect(")")
            return CastTerm(term=term, type=cast_type)
        if kind in FUNCTION_NAME_KINDS or (kind in NAME_KINDS and self.peek().kind == "."):
            return self.function_call()
        raise self.no_viable()

    def function_call(self) -> FunctionCall:
        """``function``: ``name()`` or ``name(term, ...)``."""
        name = self.function_name()
        self.expect("(")
        args: list[Term] = []
        if self.tok.kind != ")":
            args.append(self.term())
            while self.accept(","):
                args.append(self.term())
        self.expect(")")
        return FunctionCall(function=name, args=tuple(args))

    def _is_type_cast(self) -> bool:
        # '(' type ')' followed by a simple term is a cast; anything else is a tuple literal.
        start = self.pos
        try:
            self.advance()
            cast_type = self.comparator_type()
            if self.tok.kind != ")":
                return False
            if isinstance(cast_type, CustomType) and self.peek().kind == ":":
                # `('x') :name` is ambiguous in a map literal; ANTLR picks the tuple.
                return False
            return self.starts_simple_term(1)
        except CqlSyntaxError:
            return False
        finally:
            self.seek(start)

    def starts_simple_term(self, ahead: int) -> bool:
        """Whether a simple term can start ``ahead`` tokens from here (two tokens decide)."""
        kind = self.peek(ahead).kind
        if kind == ":":
            return self.peek(ahead + 1).kind in NAME_KINDS
        if kind in FUNCTION_NAME_KINDS or kind in NAME_KINDS:
            return kind == "K_CAST" or self.peek(ahead + 1).kind in ("(", ".")
        return kind in SIMPLE_TERM_START

    def terms_in_parentheses(self) -> tuple[Term, ...]:
        """``'(' term (',' term)* ')'``."""
        self.expect("(")
        items = [self.term()]
        while self.accept(","):
            items.append(self.term())
        self.expect(")")
        return tuple(items)

    def tuple_literal(self) -> TupleLiteral:
        """``tupleLiteral``."""
        self.enter()
        items = self.terms_in_parentheses()
        self.depth -= 1
        return TupleLiteral(items=items)

    def _list_literal(self) -> ListLiteral:
        self.enter()
        self.expect("[")
        items: list[Term] = []
        if self.tok.kind != "]":
            items.append(self.term())
            while self.accept(","):
                items.append(self.term())
        self.expect("]")
        self.depth -= 1
        return ListLiteral(items=tuple(items))

    def _brace_literal(self) -> Term:
        # '{' starts a set, a map or a user type literal; '{' name ':' is a user type.
        self.enter()
        self.expect("{")
        result: Term
        if self.accept("}"):
            result = SetLiteral(items=())
        elif self.tok.kind in NAME_KINDS and self.peek().kind == ":":
            fields = [self._udt_field()]
            while self.accept(","):
                fields.append(self._udt_field())
            self.expect("}")
            result = UdtLiteral(fields=tuple(fields))
        else:
            first = self.term()
            if self.accept(":"):
                entries = [(first, self.term())]
                while self.accept(","):
                    key = self.term()
                    self.expect(":")
                    entries.append((key, self.term()))
                result = MapLiteral(entries=tuple(entries))
            else:
                items = [first]
                while self.accept(","):
                    items.append(self.term())
                result = SetLiteral(items=tuple(items))
            self.expect("}")
        self.depth -= 1
        return result

    def _udt_field(self) -> tuple[str, Term]:
        name = self.ident()
        self.expect(":")
        return name, self.term()

    def full_map_literal(self) -> MapLiteral:
        """``fullMapLiteral``: ``{k: v, ...}``, possibly empty (property values)."""
        self.expect("{")
        entries: list[tuple[Term, Term]] = []
        if self.tok.kind != "}":
            while True:
                key = self.term()
                self.expect(":")
                entries.append((key, self.term()))
                if not self.accept(","):
                    break
        self.expect("}")
        return MapLiteral(entries=tuple(entries))

    def property_map(self) -> MapLiteral:
        """A map of constants, checked as Cassandra's ``convertPropertyMap`` does."""
        literal = self.full_map_literal()
        seen: set[str] = set()
        for key, value in literal.entries:
            if not isinstance(key, Literal):
                raise self.recognition_error(f"Invalid property name: {key}{_bind_hint(key)}")
            if not isinstance(value, Literal):
                raise self.recognition_error(
                    f"Invalid property value: {value} for property: {key}{_bind_hint(value)}"
                )
            if key.text in seen:
                raise self.recognition_error(f"Multiple definition for property {key.text}")
            seen.add(key.text)
        return literal

    # -- types --------------------------------------------------------------------------

    def native_type(self) -> NativeType:
        """``native_type``."""
        name = NATIVE_TYPES.get(self.tok.kind)
        if name is None:
            raise self.no_viable()
        self.advance()
        return NativeType(name=name)

    def comparator_type(self) -> CqlType:
        """``comparatorType``: any column type."""
        self.enter()
        token = self.tok
        kind = token.kind
        nxt = self.peek().kind
        result: CqlType
        if kind in _COLLECTION_KINDS and nxt == "<":
            self.advance()
            self.advance()
            params = [self.comparator_type()]
            if kind == "K_MAP":
                self.expect(",")
                params.append(self.comparator_type())
            self.expect(">")
            result = CollectionType(kind=_COLLECTION_KINDS[kind], params=tuple(params))
        elif kind == "K_TUPLE" and nxt == "<":
            self.advance()
            self.advance()
            params = [self.comparator_type()]
            while self.accept(","):
                params.append(self.comparator_type())
            self.expect(">")
            result = TupleType(params=tuple(params))
        elif kind == "K_VECTOR" and nxt == "<":
            self.advance()
            self.advance()
            element = self.comparator_type()
            self.expect(",")
            dimension = int(self.expect("INTEGER").text)
            self.expect(">")
            result = VectorType(element=element, dimension=dimension)
        elif kind == "K_FROZEN" and nxt == "<":
            self.advance()
            self.advance()
            inner = self.comparator_type()
            self.expect(">")
            result = self._freeze(inner)
        elif kind == "STRING_LITERAL":
            result = CustomType(class_name=self.advance().text)
        elif kind in NATIVE_TYPES and nxt != ".":
            result = self.native_type()
        else:
            name = self.user_type_name()
            result = UserType(keyspace=name.keyspace, name=name.name)
        self.depth -= 1
        return result

    def _freeze(self, inner: CqlType) -> CqlType:
        if isinstance(inner, CollectionType):
            return CollectionType(kind=inner.kind, params=inner.params, frozen=True)
        if isinstance(inner, UserType):
            return UserType(keyspace=inner.keyspace, name=inner.name, frozen=True)
        if isinstance(inner, TupleType | VectorType):
            return inner
        raise self.recognition_error(
            f"frozen<> is only allowed on collections, tuples, and user-defined types (got {inner})"
        )


def _bind_hint(term: Term) -> str:
    if isinstance(term, BindMarker):
        return " (bind variables are not supported in DDL queries)"
    return ""
