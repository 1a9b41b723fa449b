"""Schema statements for features a default Cassandra 4.1 node has switched off.

``cassandra.yaml`` of 4.1 ships with ``materialized_views_enabled``,
``sasi_indexes_enabled`` and ``user_defined_functions_enabled`` all false, so a stock node
refuses ``CREATE MATERIALIZED VIEW``, SASI indexes (in ``_index_ddl``) and ``CREATE FUNCTION``
with the texts below, and, as no view or function can exist, answers ``DROP`` of one as
Cassandra answers the drop of a missing object (a no-op under ``IF EXISTS``). An aggregate
needs a user-defined state function, so ``CREATE AGGREGATE`` fails for want of one. The dev
server answers the same.
"""

from __future__ import annotations

from cassflow.cql import (
    AlterMaterializedView,
    CreateAggregate,
    CreateFunction,
    CreateMaterializedView,
    DropAggregate,
    DropFunction,
    DropMaterializedView,
    Statement,
    TupleType,
)
from cassflow.devserver._errors import InvalidRequestError
from cassflow.devserver._schema import Schema

#: ``CreateViewStatement`` when ``materialized_views_enabled`` is false.
VIEWS_DISABLED = "Materialized views are disabled. Enable in cassandra.yaml to use."
#: ``CreateIndexStatement.SASI_INDEX_DISABLED``.
SASI_DISABLED = "SASI indexes are disabled. Enable in cassandra.yaml to use."
#: ``UDFunction.assertUdfsEnabled``.
UDFS_DISABLED = (
    "User-defined functions are disabled in cassandra.yaml - set "
    "user_defined_functions_enabled=true to enable"
)
#: The class name of SASI indexes, as ``CREATE CUSTOM INDEX ... USING`` names it.
SASI_CLASS = "org.apache.cassandra.index.sasi.SASIIndex"
_NO_KEYSPACE = (
    "No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename"
)


def run_disabled(statement: Statement, keyspace: str | None, schema: Schema) -> bool:
    """Answer ``statement`` if it belongs to a disabled feature.

    Returns True when the statement is a no-op Cassandra accepts (``DROP ... IF EXISTS`` of
    an object that cannot exist), False when the statement is none of these; otherwise
    raises Cassandra's refusal.
    """
    if isinstance(statement, CreateMaterializedView):
        _keyspace(statement.name.keyspace, keyspace)
        raise InvalidRequestError(VIEWS_DISABLED)
    if isinstance(statement, AlterMaterializedView | DropMaterializedView):
        ks = _keyspace(statement.name.keyspace, keyspace)
        if isinstance(statement, DropMaterializedView) and statement.if_exists:
            return True
        raise InvalidRequestError(f"Materialized view '{ks}.{statement.name.name}' doesn't exist")
    if isinstance(statement, CreateFunction):
        _keyspace(statement.function.keyspace, keyspace)
        if statement.or_replace and statement.if_not_exists:
            raise InvalidRequestError("Cannot use both 'OR REPLACE' and 'IF NOT EXISTS' directives")
        raise InvalidRequestError(UDFS_DISABLED)
    if isinstance(statement, DropFunction):
        return _drop_missing("Function", statement, keyspace)
    if isinstance(statement, CreateAggregate):
        _create_aggregate(statement, keyspace, schema)
    if isinstance(statement, DropAggregate):
        return _drop_missing("Aggregate", statement, keyspace)
    return False


def _keyspace(named: str | None, session: str | None) -> str:
    ks = named or session
    if ks is None:
        raise InvalidRequestError(_NO_KEYSPACE)
    return ks


def _drop_missing(kind: str, statement: DropFunction | DropAggregate, session: str | None) -> bool:
    """``DropFunctionStatement`` / ``DropAggregateStatement`` with no user function or
    aggregate defined anywhere."""
    ks = _keyspace(statement.function.keyspace, session)
    name = f"{ks}.{statement.function.name}"
    if statement.argument_types is not None:
        name += "(" + ", ".join(t.to_cql() for t in statement.argument_types) + ")"
    if statement.if_exists:
        return True
    raise InvalidRequestError(f"{kind} '{name}' doesn't exist")


def _create_aggregate(statement: CreateAggregate, session: str | None, schema: Schema) -> None:
    """``CreateAggregateStatement.apply`` up to the lookup of its state function, which
    cannot exist while user-defined functions are disabled."""
    ks = _keyspace(statement.function.keyspace, session)
    if statement.or_replace and statement.if_not_exists:
        raise InvalidRequestError("Cannot use both 'OR REPLACE' and 'IF NOT EXISTS' directives")
    for raw in statement.argument_types:
        if not isinstance(raw, TupleType) and getattr(raw, "frozen", False):
            text = raw.to_cql()
            raise InvalidRequestError(
                f"Argument '{text}' cannot be frozen; remove frozen<> modifier from '{text}'"
            )
    state = statement.state_type
    if not isinstance(state, TupleType) and getattr(state, "frozen", False):
        text = state.to_cql()
        raise InvalidRequestError(
            f"State type '{text}' cannot be frozen; remove frozen<> modifier from '{text}'"
        )
    if schema.keyspace(ks) is None:
        raise InvalidRequestError(f"Keyspace '{ks}' doesn't exist")
    types = ", ".join(t.to_cql() for t in (state, *statement.argument_types))
    raise InvalidRequestError(
        f"State function {ks}.{statement.state_function}({types}) doesn't exist"
    )


__all__ = ["SASI_CLASS", "SASI_DISABLED", "UDFS_DISABLED", "VIEWS_DISABLED", "run_disabled"]
