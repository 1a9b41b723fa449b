"""What the driver says of a result's columns, for tests of selectors and functions."""

from __future__ import annotations

from typing import Any


def column_types(result: Any) -> list[str]:
    """The CQL types of a result's columns, as Cassandra writes them (``map<text, int>``)."""
    return [t.cql_parameterized_type() for t in result.column_types]
