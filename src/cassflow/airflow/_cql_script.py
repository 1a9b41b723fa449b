"""A CQL script run by :class:`~cassflow.airflow.CqlOperator`: checked whole, then run in order.

Why not the pipeline runner's ``cql`` activity: it records the script as done in the
checkpoint store, so that a resumed *pipeline* run skips it. In Airflow the task instance is
the unit of re-execution: a failed try is retried and a cleared task is run again on purpose,
and in both cases the user means the statements to be sent again (a failed try ran them at
most partly; scripts of DDL say ``IF NOT EXISTS`` for that). Skipping them because an earlier
try of the same task instance finished would turn "clear and rerun" into a silent no-op. So
the statements are sent directly, on the hook's guarded session.

Before anything is sent, every statement is parsed (an error names the statement, its line and
column) and checked by the session's keyspace guard, following ``USE`` statements: a script
refused at statement 3 has not run statements 1 and 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cassflow.access import KeyspaceGuardError
from cassflow.access._session import GuardedSession
from cassflow.airflow._compat import AirflowException, AirflowFailException
from cassflow.airflow._hook import CassflowHook
from cassflow.copy._retry import ErrorClass, classify_error
from cassflow.cql import CqlError, CqlSyntaxError, script_statements


def parse_script(pieces: Sequence[str]) -> list[str]:
    """The statements of ``pieces`` (scripts, or statements of a list), as written; a parse
    error names the statement (counted over all pieces), its line and column."""
    statements: list[str] = []
    for number, text in enumerate(pieces):
        where = f"sql[{number}]" if len(pieces) > 1 else "sql"
        try:
            parsed = script_statements(text)
        except CqlError as exc:
            index = len(statements) + _complete_before_error(text) + 1
            position = ""
            if isinstance(exc, CqlSyntaxError):
                position = f", line {exc.line}, column {exc.column}"
                message = exc.message
            else:
                message = str(exc)
            raise CqlScriptError(f"{where}: statement {index}{position}: {message}") from None
        statements.extend(written for written, _statement in parsed)
    if not statements:
        raise CqlScriptError("sql holds no statement")
    return statements


class CqlScriptError(ValueError):
    """A script that does not parse (names the statement, line and column)."""


def _complete_before_error(text: str) -> int:
    """How many statements of ``text`` parse before the one that does not: the most
    statements of any prefix that ends at a ``;`` and parses (semicolons inside strings or
    comments cut prefixes that do not parse, so they do not count)."""
    end = len(text)
    while True:
        end = text.rfind(";", 0, end)
        if end < 0:
            return 0
        try:
            return len(script_statements(text[: end + 1]))
        except CqlError:
            continue


def run_script(pieces: Sequence[str], hook: CassflowHook, log: Any) -> int:
    """Parse, guard-check and run the statements of ``pieces`` on ``hook``'s session (a lease's
    with just their grants when the connection has dynamic credentials); the number of
    statements run. Errors a retry cannot cure raise AirflowFailException."""
    try:
        statements = parse_script(pieces)
    except CqlScriptError as exc:
        raise AirflowFailException(str(exc)) from None
    hook.lease_statements = statements  # before the hook's first connection
    session = hook.get_session()
    keyspace = session.keyspace
    if isinstance(session, GuardedSession):
        for number, statement in enumerate(statements, 1):
            try:
                keyspace = session.guard.verify(statement, keyspace)
            except KeyspaceGuardError as exc:
                raise AirflowFailException(
                    f"statement {number} of {len(statements)} refused, nothing was run: {exc}"
                ) from None
    total = len(statements)
    for number, statement in enumerate(statements, 1):
        log.info("statement %d of %d", number, total)
        try:
            session.execute(statement)
        except Exception as exc:
            ran = f"statements 1 to {number - 1} ran" if number > 1 else "none ran before it"
            message = f"statement {number} of {total} failed ({ran}): {type(exc).__name__}: {exc}"
            if classify_error(exc) is ErrorClass.TERMINAL:
                raise AirflowFailException(message) from None
            raise AirflowException(message) from exc
    log.info("%d statement(s) ran", total)
    return total


__all__ = ["CqlScriptError", "parse_script", "run_script"]
