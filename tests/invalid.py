"""The text of an InvalidRequest a statement gets from the cluster under test."""

from __future__ import annotations

import re

import pytest
from cassandra import InvalidRequest
from cassandra.cluster import Session
from cassandra.query import Statement


def invalid_message(session: Session, statement: str | Statement, *values: object) -> str:
    """Run ``statement`` (with ``values``, if any), which must fail with InvalidRequest, and
    return the error's text."""
    with pytest.raises(InvalidRequest) as info:
        session.execute(statement, values or None)
    return str(info.value)


def refused(session: Session, statement: str | Statement, message: str) -> None:
    """Run ``statement``, which must fail with an InvalidRequest whose text contains
    ``message``."""
    with pytest.raises(InvalidRequest, match=re.escape(message)):
        session.execute(statement)
