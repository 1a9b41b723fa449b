"""The permissions a CQL statement needs, as Cassandra's CassandraAuthorizer checks them.

A :class:`Grant` is one permission on one resource (the unit of Cassandra's ``GRANT``).
:func:`statement_grants` maps a parsed statement to the grants it needs, following the
"Permissions" table of the CQL reference and the ``authorize`` methods of Cassandra 4.1's
statements:

==========================================  ==========================================
statement                                   permission on resource
==========================================  ==========================================
SELECT                                      SELECT on the table
INSERT, UPDATE, DELETE, TRUNCATE, BATCH     MODIFY on each table (+ SELECT with IF ...)
CREATE KEYSPACE                             CREATE on ALL KEYSPACES
ALTER / DROP KEYSPACE                       ALTER / DROP on the keyspace
CREATE TABLE, CREATE TYPE                   CREATE on the keyspace
ALTER / DROP TABLE                          ALTER / DROP on the table
ALTER / DROP TYPE                           ALTER / DROP on the keyspace
CREATE INDEX, CREATE MATERIALIZED VIEW      ALTER on the (base) table
DROP INDEX, ALTER / DROP MATERIALIZED VIEW  ALTER on the keyspace (the base table is not
                                            named; Cassandra checks ALTER on it)
CREATE FUNCTION / AGGREGATE                 CREATE on ALL FUNCTIONS IN KEYSPACE
DROP FUNCTION / AGGREGATE                   DROP on ALL FUNCTIONS IN KEYSPACE
CREATE ROLE; ALTER / DROP ROLE r            CREATE on ALL ROLES; ALTER / DROP on ROLE r
GRANT / REVOKE role                         AUTHORIZE on ROLE role
GRANT / REVOKE perms ON resource            AUTHORIZE and each of perms on the resource
LIST ROLES / USERS                          DESCRIBE on ALL ROLES (to see every role)
USE, DESCRIBE, LIST PERMISSIONS             none (LIST PERMISSIONS shows a role its own
                                            permissions; others' need a superuser)
CREATE / DROP TRIGGER                       superuser only: refused (:class:`GrantsError`)
==========================================  ==========================================

Function calls inside statements (EXECUTE on the function) are not looked at.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cassflow.cql import (
    AllFunctionsResource,
    AllKeyspacesResource,
    AllRolesResource,
    AlterKeyspace,
    AlterMaterializedView,
    AlterRole,
    AlterTable,
    AlterType,
    AlterUser,
    Batch,
    CqlError,
    CreateAggregate,
    CreateFunction,
    CreateIndex,
    CreateKeyspace,
    CreateMaterializedView,
    CreateRole,
    CreateTable,
    CreateTrigger,
    CreateType,
    CreateUser,
    Delete,
    DropAggregate,
    DropFunction,
    DropIndex,
    DropKeyspace,
    DropMaterializedView,
    DropRole,
    DropTable,
    DropTrigger,
    DropType,
    DropUser,
    FunctionResource,
    GrantPermissions,
    GrantRole,
    Insert,
    KeyspaceResource,
    ListPermissions,
    ListRoles,
    ListUsers,
    Permission,
    QualifiedName,
    Resource,
    RevokePermissions,
    RevokeRole,
    RoleResource,
    Select,
    Statement,
    TableResource,
    Truncate,
    Update,
    Use,
    script_statements,
)
from cassflow.errors import CassflowError


class GrantsError(CassflowError):
    """The grants a statement needs cannot be worked out; the message names the statement."""


@dataclass(frozen=True, slots=True)
class Grant:
    """One permission on one resource (a ``cassflow.cql`` resource node, fully qualified)."""

    permission: Permission
    resource: Resource

    def to_cql(self, role: str) -> str:
        """``GRANT <permission> ON <resource> TO <role>`` (one permission per statement, as
        Cassandra 4.1's grammar requires)."""
        statement = GrantPermissions(
            permissions=frozenset({self.permission}), resource=self.resource, role=role
        )
        return statement.to_cql()

    @property
    def listed(self) -> tuple[str, str]:
        """(resource, permission) as ``LIST PERMISSIONS`` shows them: ``<table ks.t>``."""
        return resource_label(self.resource), self.permission.value

    def __str__(self) -> str:
        return f"{self.permission.value} ON {self.resource.to_cql()}"


def table_grant(permission: Permission, keyspace: str, table: str) -> Grant:
    """``permission`` on ``TABLE keyspace.table``."""
    return Grant(permission, TableResource(table=QualifiedName(keyspace=keyspace, name=table)))


def keyspace_grant(permission: Permission, keyspace: str) -> Grant:
    """``permission`` on ``KEYSPACE keyspace``."""
    return Grant(permission, KeyspaceResource(keyspace=keyspace))


def resource_label(resource: Resource) -> str:
    """The resource as Cassandra's ``IResource.toString()`` writes it (LIST PERMISSIONS)."""
    if isinstance(resource, AllKeyspacesResource):
        return "<all keyspaces>"
    if isinstance(resource, KeyspaceResource):
        return f"<keyspace {resource.keyspace}>"
    if isinstance(resource, TableResource):
        return f"<table {resource.table.keyspace}.{resource.table.name}>"
    if isinstance(resource, AllRolesResource):
        return "<all roles>"
    if isinstance(resource, RoleResource):
        return f"<role {resource.role}>"
    if isinstance(resource, AllFunctionsResource):
        tail = "" if resource.keyspace is None else f" in {resource.keyspace}"
        return f"<all functions{tail}>"
    if isinstance(resource, FunctionResource):
        types = ", ".join(t.to_cql() for t in resource.argument_types)
        return f"<function {resource.function.keyspace}.{resource.function.name}({types})>"
    return f"<{resource.to_cql().lower()}>"


def unique(grants: Iterable[Grant]) -> list[Grant]:
    """``grants`` without repeats, in first-seen order."""
    return list(dict.fromkeys(grants))


def _qualify(name: QualifiedName, keyspace: str | None, statement: Statement) -> QualifiedName:
    ks = name.keyspace or keyspace
    if ks is None:
        raise GrantsError(
            f"{statement.to_cql()}: names {name.name} without a keyspace and no keyspace is "
            "in use (write keyspace.table or USE a keyspace first)"
        )
    return QualifiedName(keyspace=ks, name=name.name)


def _keyspace_of(name: QualifiedName, keyspace: str | None, statement: Statement) -> str:
    ks = _qualify(name, keyspace, statement).keyspace
    assert ks is not None
    return ks


def _qualify_resource(resource: Resource, keyspace: str | None, statement: Statement) -> Resource:
    if isinstance(resource, TableResource):
        return TableResource(table=_qualify(resource.table, keyspace, statement))
    if isinstance(resource, FunctionResource):
        function = _qualify(resource.function, keyspace, statement)
        return FunctionResource(function=function, argument_types=resource.argument_types)
    return resource


def _table(statement: Statement, name: QualifiedName, keyspace: str | None) -> Resource:
    return TableResource(table=_qualify(name, keyspace, statement))


def _data_grants(statement: Statement, keyspace: str | None) -> list[Grant] | None:
    """SELECT / MODIFY statements; None for any other statement."""
    p = Permission
    if isinstance(statement, Select):
        return [Grant(p.SELECT, _table(statement, statement.table, keyspace))]
    if isinstance(statement, Truncate):
        return [Grant(p.MODIFY, _table(statement, statement.table, keyspace))]
    if isinstance(statement, Insert | Update | Delete):
        parts: tuple[Insert | Update | Delete, ...] = (statement,)
    elif isinstance(statement, Batch):
        parts = statement.statements
    else:
        return None
    grants: list[Grant] = []
    for part in parts:
        table = _table(statement, part.table, keyspace)
        grants.append(Grant(p.MODIFY, table))
        # A conditional update reads the row first: Cassandra checks SELECT as well.
        conditional = (
            part.if_not_exists
            if isinstance(part, Insert)
            else (part.if_exists or bool(part.conditions))
        )
        if conditional:
            grants.append(Grant(p.SELECT, table))
    return grants


def _schema_grants(statement: Statement, keyspace: str | None) -> list[Grant] | None:
    """DDL on keyspaces, tables, types, indexes, views and functions; None otherwise."""
    p = Permission
    if isinstance(statement, CreateKeyspace):
        return [Grant(p.CREATE, AllKeyspacesResource())]
    if isinstance(statement, AlterKeyspace | DropKeyspace):
        permission = p.ALTER if isinstance(statement, AlterKeyspace) else p.DROP
        return [keyspace_grant(permission, statement.keyspace)]
    if isinstance(statement, CreateTable):
        return [keyspace_grant(p.CREATE, _keyspace_of(statement.table, keyspace, statement))]
    if isinstance(statement, AlterTable | DropTable):
        permission = p.ALTER if isinstance(statement, AlterTable) else p.DROP
        return [Grant(permission, _table(statement, statement.table, keyspace))]
    if isinstance(statement, CreateType | AlterType | DropType):
        permission = {CreateType: p.CREATE, AlterType: p.ALTER, DropType: p.DROP}[type(statement)]
        return [keyspace_grant(permission, _keyspace_of(statement.name, keyspace, statement))]
    if isinstance(statement, CreateIndex):
        return [Grant(p.ALTER, _table(statement, statement.table, keyspace))]
    if isinstance(statement, CreateMaterializedView):
        return [Grant(p.ALTER, _table(statement, statement.base_table, keyspace))]
    if isinstance(statement, DropIndex | AlterMaterializedView | DropMaterializedView):
        # Cassandra checks ALTER on the base table, which only the schema knows; the keyspace
        # covers it.
        return [keyspace_grant(p.ALTER, _keyspace_of(statement.name, keyspace, statement))]
    if isinstance(statement, CreateFunction | CreateAggregate | DropFunction | DropAggregate):
        creates = isinstance(statement, CreateFunction | CreateAggregate)
        functions = AllFunctionsResource(
            keyspace=_keyspace_of(statement.function, keyspace, statement)
        )
        grants = [Grant(p.CREATE if creates else p.DROP, functions)]
        if creates and statement.or_replace:  # type: ignore[union-attr]
            grants.append(Grant(p.ALTER, functions))
        return grants
    if isinstance(statement, CreateTrigger | DropTrigger):
        raise GrantsError(f"{statement.to_cql()}: only a superuser may create or drop triggers")
    return None


def _auth_grants(statement: Statement, keyspace: str | None) -> list[Grant] | None:
    """Role and permission management; None for any other statement."""
    p = Permission
    if isinstance(statement, CreateRole | CreateUser):
        return [Grant(p.CREATE, AllRolesResource())]
    if isinstance(statement, AlterRole | DropRole):
        permission = p.ALTER if isinstance(statement, AlterRole) else p.DROP
        return [Grant(permission, RoleResource(role=statement.role))]
    if isinstance(statement, AlterUser | DropUser):
        permission = p.ALTER if isinstance(statement, AlterUser) else p.DROP
        return [Grant(permission, RoleResource(role=statement.user))]
    if isinstance(statement, GrantRole | RevokeRole):
        return [Grant(p.AUTHORIZE, RoleResource(role=statement.role))]
    if isinstance(statement, ListPermissions):
        return []
    if isinstance(statement, GrantPermissions | RevokePermissions):
        resource = _qualify_resource(statement.resource, keyspace, statement)
        granted = sorted(statement.effective_permissions, key=list(Permission).index)
        return [Grant(p.AUTHORIZE, resource), *(Grant(q, resource) for q in granted)]
    if isinstance(statement, ListRoles | ListUsers):
        return [Grant(p.DESCRIBE, AllRolesResource())]
    return None


def statement_grants(statement: Statement, keyspace: str | None) -> list[Grant]:
    """The grants a parsed statement needs, its unqualified names read in ``keyspace``."""
    for rule in (_data_grants, _schema_grants, _auth_grants):
        grants = rule(statement, keyspace)
        if grants is not None:
            return unique(grants)
    return []  # USE, DESCRIBE and the like need no permission


def script_grants(text: str, keyspace: str | None, *, origin: str = "CQL") -> list[Grant]:
    """The grants every statement of a CQL script needs (``USE`` switches the keyspace that
    unqualified names are read in, as it does on the session). ``origin`` names the script
    in errors (a file, an activity)."""
    try:
        statements = script_statements(text)
    except CqlError as exc:
        raise GrantsError(f"{origin}: {exc}") from None
    grants: list[Grant] = []
    for number, (_written, statement) in enumerate(statements, 1):
        if isinstance(statement, Use):
            keyspace = statement.keyspace
            continue
        try:
            grants.extend(statement_grants(statement, keyspace))
        except GrantsError as exc:
            raise GrantsError(f"{origin}: statement {number}: {exc}") from None
    return unique(grants)
