"""The lexer: token kinds, case folding, literals, comments, positions and lexer errors."""

from __future__ import annotations

import pytest

from cassflow.cql._lexer import tokenize


def kinds(text: str) -> list[tuple[str, str]]:
    tokens, errors = tokenize(text)
    assert not errors
    return [(t.kind, t.text) for t in tokens[:-1]]


def test_keywords_are_case_insensitive_and_identifiers_keep_their_text() -> None:
    assert kinds("SeLeCt Foo FROM bar") == [
        ("K_SELECT", "SeLeCt"),
        ("IDENT", "Foo"),
        ("K_FROM", "FROM"),
        ("IDENT", "bar"),
    ]


def test_keyword_synonyms() -> None:
    assert kinds("table columnfamily tables columnfamilies schema") == [
        ("K_COLUMNFAMILY", "table"),
        ("K_COLUMNFAMILY", "columnfamily"),
        ("K_TABLES", "tables"),
        ("K_TABLES", "columnfamilies"),
        ("K_SCHEMA", "schema"),
    ]


def test_quoted_names_unescape_doubled_quotes() -> None:
    assert kinds('"My""Table" ""') == [("QUOTED_NAME", 'My"Table'), ("EMPTY_QUOTED_NAME", '""')]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("'it''s'", ("STRING_LITERAL", "it's")),
        ("$$a 'quoted' $ string$$", ("STRING_LITERAL", "a 'quoted' $ string")),
        ("''", ("STRING_LITERAL", "")),
        ("42", ("INTEGER", "42")),
        ("-42", ("INTEGER", "-42")),
        ("1.5", ("FLOAT", "1.5")),
        ("-1.5e-3", ("FLOAT", "-1.5e-3")),
        ("1E10", ("FLOAT", "1E10")),
        ("3.", ("FLOAT", "3.")),
        ("NaN", ("K_POSITIVE_NAN", "NaN")),
        ("-nan", ("K_NEGATIVE_NAN", "-nan")),
        ("Infinity", ("K_POSITIVE_INFINITY", "Infinity")),
        ("-Infinity", ("K_NEGATIVE_INFINITY", "-Infinity")),
        ("0xCAFE", ("HEXNUMBER", "0xCAFE")),
        ("0x", ("HEXNUMBER", "0x")),
        ("TRUE", ("BOOLEAN", "TRUE")),
        ("false", ("BOOLEAN", "false")),
        (
            "a8098c1a-f86e-11da-bd1a-00112444be1e",
            ("UUID", "a8098c1a-f86e-11da-bd1a-00112444be1e"),
        ),
        ("1h30m", ("DURATION", "1h30m")),
        ("12mo3d", ("DURATION", "12mo3d")),
        ("-5s", ("DURATION", "-5s")),
        ("10ms", ("DURATION", "10ms")),
        ("3us", ("DURATION", "3us")),
        ("3µs", ("DURATION", "3µs")),
        ("7ns", ("DURATION", "7ns")),
        ("2W", ("DURATION", "2W")),
        ("P1Y2M", ("DURATION", "P1Y2M")),
        ("P1W", ("DURATION", "P1W")),
        ("PT1H30M", ("DURATION", "PT1H30M")),
        ("P1DT2H", ("DURATION", "P1DT2H")),
        ("-P3D", ("DURATION", "-P3D")),
        ("P0001-01-01T00:00:00", ("DURATION", "P0001-01-01T00:00:00")),
        ("?", ("QMARK", "?")),
    ],
)
def test_literals(text: str, expected: tuple[str, str]) -> None:
    assert kinds(text) == [expected]


def test_iso_duration_look_alike_longer_word_is_an_identifier() -> None:
    # ANTLR takes the longest match: P1Dx is a name, P1D a duration.
    assert kinds("P1Dx P1D p1d") == [("IDENT", "P1Dx"), ("DURATION", "P1D"), ("IDENT", "p1d")]


def test_range_is_not_a_float() -> None:
    assert kinds("1..2") == [("INTEGER", "1"), ("RANGE", ".."), ("INTEGER", "2")]


def test_operators_and_punctuation() -> None:
    text = "= != < <= > >= + - += -= * / % ( ) [ ] { } , ; . : ?"
    assert [k for k, _ in kinds(text)] == [*text.replace("?", "QMARK").split()]


def test_negative_number_glued_to_a_name_is_one_integer() -> None:
    assert kinds("c-3") == [("IDENT", "c"), ("INTEGER", "-3")]


def test_comments_are_skipped_but_counted() -> None:
    tokens, errors = tokenize("SELECT -- one\n/* two\n */ * // three\nFROM t")
    assert not errors
    assert [t.kind for t in tokens] == ["K_SELECT", "*", "K_FROM", "IDENT", "EOF"]
    # Hidden tokens (whitespace, comments) count in ANTLR's token indexes.
    assert [t.index for t in tokens] == [0, 5, 8, 10, 11]


def test_positions_are_line_and_zero_based_column() -> None:
    tokens, _ = tokenize("SELECT *\n  FROM\n'a\nb' x")
    assert [(t.line, t.column) for t in tokens] == [(1, 0), (1, 7), (2, 2), (3, 0), (4, 3), (4, 4)]


def test_expr_paren_is_one_token() -> None:
    assert kinds("expr(i, 'x')")[0] == ("EXPR", "expr(")
    assert kinds("expr (")[0] == ("IDENT", "expr")


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("a @ b", "no viable alternative at character '@'", 2),
        ("'abc", "mismatched character '<EOF>' expecting '''", 4),
        ('"abc', "mismatched character '<EOF>' expecting '\"'", 4),
        ("/* abc", "mismatched character '<EOF>' expecting '*'", 6),
        ("a -- no newline", "mismatched character '<EOF>' expecting set null", 15),
        ("a ! b", "mismatched character ' ' expecting '='", 3),
        ("$a", "mismatched character 'a' expecting '$'", 1),
    ],
)
def test_lexer_errors(text: str, message: str, column: int) -> None:
    _, errors = tokenize(text)
    assert errors[0].message == message
    assert (errors[0].line, errors[0].column) == (1, column)


def test_lexer_skips_a_bad_character_and_goes_on() -> None:
    tokens, errors = tokenize("DROP INDEX ks._idx")
    assert [t.text for t in tokens] == ["DROP", "INDEX", "ks", ".", "idx", "<EOF>"]
    assert errors[0].message == "no viable alternative at character '_'"
