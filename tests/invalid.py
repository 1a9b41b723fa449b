"""The text of an InvalidRequest a statement gets from the cluster under test."""

from __future__ import annotations

import pytest
from cassandra import InvalidRequest
from cassandra.cluster import Session


def invalid_message(session: Session, statement: str) -> str:
    """Run ``statement``, which must fail with InvalidRequest, and return the error's text."""
    with pytest.raises(InvalidRequest) as info:
        session.execute(statement)
    return str(info.value)
