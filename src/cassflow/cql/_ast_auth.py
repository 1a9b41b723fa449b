"""AST of the security statements (roles, users, identities, permissions) and of DESCRIBE."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from cassflow.cql._keywords import KEYWORDS
from cassflow.cql._node import Node, QualifiedName, Statement
from cassflow.cql._quote import function_ident, ident, qualified, quote_name, string
from cassflow.cql._types import CqlType


class Permission(StrEnum):
    """The permissions GRANT and REVOKE handle (``UNMASK``/``SELECT_MASKED`` are 5.0's)."""

    CREATE = "CREATE"
    ALTER = "ALTER"
    DROP = "DROP"
    SELECT = "SELECT"
    MODIFY = "MODIFY"
    AUTHORIZE = "AUTHORIZE"
    DESCRIBE = "DESCRIBE"
    EXECUTE = "EXECUTE"
    UNMASK = "UNMASK"
    SELECT_MASKED = "SELECT_MASKED"


_P = Permission
_DATA = frozenset((_P.CREATE, _P.ALTER, _P.DROP, _P.SELECT, _P.MODIFY, _P.AUTHORIZE, _P.UNMASK))
_DATA |= {_P.SELECT_MASKED}
_TABLE = _DATA - {_P.CREATE}
_ROLES = frozenset((_P.CREATE, _P.ALTER, _P.DROP, _P.AUTHORIZE, _P.DESCRIBE))
_ROLE = frozenset((_P.ALTER, _P.DROP, _P.AUTHORIZE))
_FUNCTIONS = frozenset((_P.CREATE, _P.ALTER, _P.DROP, _P.AUTHORIZE, _P.EXECUTE))
_FUNCTION = frozenset((_P.ALTER, _P.DROP, _P.AUTHORIZE, _P.EXECUTE))
_MBEANS = frozenset((_P.AUTHORIZE, _P.DESCRIBE, _P.EXECUTE, _P.MODIFY, _P.SELECT))


class Resource(Node):
    """What a permission applies to."""

    __slots__ = ()
    #: Cassandra's ``IResource.applicablePermissions()``: GRANT ALL means these.
    applicable: ClassVar[frozenset[Permission]] = frozenset()


@dataclass(frozen=True, slots=True, kw_only=True)
class AllKeyspacesResource(Resource):
    """``ALL KEYSPACES``."""

    applicable = _DATA

    def to_cql(self) -> str:
        return "ALL KEYSPACES"


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyspaceResource(Resource):
    """``KEYSPACE ks``."""

    keyspace: str
    applicable = _DATA

    def to_cql(self) -> str:
        return f"KEYSPACE {ident(self.keyspace)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class TableResource(Resource):
    """``[TABLE] [ks.]t``."""

    table: QualifiedName
    applicable = _TABLE

    def to_cql(self) -> str:
        return f"TABLE {self.table.to_cql()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class AllRolesResource(Resource):
    """``ALL ROLES``."""

    applicable = _ROLES

    def to_cql(self) -> str:
        return "ALL ROLES"


@dataclass(frozen=True, slots=True, kw_only=True)
class RoleResource(Resource):
    """``ROLE r``."""

    role: str
    applicable = _ROLE

    def to_cql(self) -> str:
        return f"ROLE {ident(self.role)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class AllFunctionsResource(Resource):
    """``ALL FUNCTIONS [IN KEYSPACE ks]``."""

    keyspace: str | None = None
    applicable = _FUNCTIONS

    def to_cql(self) -> str:
        tail = "" if self.keyspace is None else f" IN KEYSPACE {ident(self.keyspace)}"
        return "ALL FUNCTIONS" + tail


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionResource(Resource):
    """``FUNCTION [ks.]f(types)``."""

    function: QualifiedName
    argument_types: tuple[CqlType, ...] = ()
    applicable = _FUNCTION

    def to_cql(self) -> str:
        name = qualified(self.function.keyspace, self.function.name, function_ident)
        return f"FUNCTION {name}({', '.join(t.to_cql() for t in self.argument_types)})"


@dataclass(frozen=True, slots=True, kw_only=True)
class AllMBeansResource(Resource):
    """``ALL MBEANS``."""

    applicable = _MBEANS

    def to_cql(self) -> str:
        return "ALL MBEANS"


@dataclass(frozen=True, slots=True, kw_only=True)
class MBeanResource(Resource):
    """``MBEAN 'name'`` or ``MBEANS 'pattern'`` (``pattern`` True)."""

    name: str
    pattern: bool = False
    applicable = _MBEANS

    def to_cql(self) -> str:
        return f"{'MBEANS' if self.pattern else 'MBEAN'} {string(self.name)}"


def _permissions(permissions: frozenset[Permission], all_permissions: bool) -> str:
    if all_permissions:
        return "ALL PERMISSIONS"
    return ", ".join(p.value for p in Permission if p in permissions)


@dataclass(frozen=True, slots=True, kw_only=True)
class GrantPermissions(Statement):
    """``GRANT perms ON resource TO role``. ``permissions`` is what was written (ALL is every
    permission); :attr:`effective_permissions` is what Cassandra grants on this resource."""

    permissions: frozenset[Permission]
    resource: Resource
    role: str
    all_permissions: bool = False

    @property
    def effective_permissions(self) -> frozenset[Permission]:
        """The written permissions that apply to the resource."""
        return self.permissions & self.resource.applicable

    def to_cql(self) -> str:
        perms = _permissions(self.permissions, self.all_permissions)
        return f"GRANT {perms} ON {self.resource.to_cql()} TO {ident(self.role)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RevokePermissions(Statement):
    """``REVOKE perms ON resource FROM role``."""

    permissions: frozenset[Permission]
    resource: Resource
    role: str
    all_permissions: bool = False

    @property
    def effective_permissions(self) -> frozenset[Permission]:
        """The written permissions that apply to the resource."""
        return self.permissions & self.resource.applicable

    def to_cql(self) -> str:
        perms = _permissions(self.permissions, self.all_permissions)
        return f"REVOKE {perms} ON {self.resource.to_cql()} FROM {ident(self.role)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ListPermissions(Statement):
    """``LIST perms [ON resource] [OF role] [NORECURSIVE]``."""

    permissions: frozenset[Permission]
    all_permissions: bool = False
    resource: Resource | None = None
    role: str | None = None
    recursive: bool = True

    def to_cql(self) -> str:
        text = "LIST " + _permissions(self.permissions, self.all_permissions)
        if self.resource is not None:
            text += f" ON {self.resource.to_cql()}"
        if self.role is not None:
            text += f" OF {ident(self.role)}"
        return text if self.recursive else text + " NORECURSIVE"


@dataclass(frozen=True, slots=True, kw_only=True)
class GrantRole(Statement):
    """``GRANT role TO grantee``."""

    role: str
    grantee: str

    def to_cql(self) -> str:
        return f"GRANT {ident(self.role)} TO {ident(self.grantee)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RevokeRole(Statement):
    """``REVOKE role FROM revokee``."""

    role: str
    revokee: str

    def to_cql(self) -> str:
        return f"REVOKE {ident(self.role)} FROM {ident(self.revokee)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RoleOptions(Node):
    """The WITH options of CREATE/ALTER ROLE; None (or False for the ALL flags) when absent.

    ``datacenters``/``cidrs`` list ``ACCESS TO DATACENTERS {...}`` / ``ACCESS FROM CIDRS
    {...}``; ``all_datacenters``/``all_cidrs`` are the ``ACCESS ... ALL ...`` forms.
    """

    password: str | None = None
    hashed_password: str | None = None
    login: bool | None = None
    superuser: bool | None = None
    options: tuple[tuple[str, str], ...] | None = None
    datacenters: tuple[str, ...] | None = None
    all_datacenters: bool = False
    cidrs: tuple[str, ...] | None = None
    all_cidrs: bool = False

    def to_cql(self) -> str:
        parts = []
        if self.password is not None:
            parts.append(f"PASSWORD = {string(self.password)}")
        if self.hashed_password is not None:
            parts.append(f"HASHED PASSWORD = {string(self.hashed_password)}")
        if self.login is not None:
            parts.append(f"LOGIN = {str(self.login).lower()}")
        if self.superuser is not None:
            parts.append(f"SUPERUSER = {str(self.superuser).lower()}")
        if self.options is not None:
            entries = ", ".join(f"{string(k)}: {string(v)}" for k, v in self.options)
            parts.append(f"OPTIONS = {{{entries}}}")
        if self.all_datacenters:
            parts.append("ACCESS TO ALL DATACENTERS")
        if self.datacenters is not None:
            parts.append(f"ACCESS TO DATACENTERS {{{', '.join(map(string, self.datacenters))}}}")
        if self.all_cidrs:
            parts.append("ACCESS FROM ALL CIDRS")
        if self.cidrs is not None:
            parts.append(f"ACCESS FROM CIDRS {{{', '.join(map(string, self.cidrs))}}}")
        return " WITH " + " AND ".join(parts) if parts else ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateRole(Statement):
    """``CREATE ROLE [IF NOT EXISTS] r [WITH options]``."""

    role: str
    options: RoleOptions = RoleOptions()
    if_not_exists: bool = False

    def to_cql(self) -> str:
        head = "CREATE ROLE IF NOT EXISTS" if self.if_not_exists else "CREATE ROLE"
        return f"{head} {ident(self.role)}{self.options.to_cql()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class AlterRole(Statement):
    """``ALTER ROLE [IF EXISTS] r [WITH options]``."""

    role: str
    options: RoleOptions = RoleOptions()
    if_exists: bool = False

    def to_cql(self) -> str:
        head = "ALTER ROLE IF EXISTS" if self.if_exists else "ALTER ROLE"
        return f"{head} {ident(self.role)}{self.options.to_cql()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class DropRole(Statement):
    """``DROP ROLE [IF EXISTS] r``."""

    role: str
    if_exists: bool = False

    def to_cql(self) -> str:
        return f"DROP ROLE{' IF EXISTS' if self.if_exists else ''} {ident(self.role)}"


def _user_options(password: str | None, hashed: str | None, superuser: bool | None) -> str:
    text = ""
    if password is not None:
        text += f" WITH PASSWORD {string(password)}"
    elif hashed is not None:
        text += f" WITH HASHED PASSWORD {string(hashed)}"
    if superuser is not None:
        text += " SUPERUSER" if superuser else " NOSUPERUSER"
    return text


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateUser(Statement):
    """Legacy ``CREATE USER [IF NOT EXISTS] name [WITH [HASHED] PASSWORD 'p']
    [SUPERUSER|NOSUPERUSER]``. User names keep their case even unquoted, as in Cassandra."""

    user: str
    password: str | None = None
    hashed_password: str | None = None
    superuser: bool | None = None
    if_not_exists: bool = False

    def to_cql(self) -> str:
        head = "CREATE USER IF NOT EXISTS" if self.if_not_exists else "CREATE USER"
        options = _user_options(self.password, self.hashed_password, self.superuser)
        return f"{head} {string(self.user)}{options}"


@dataclass(frozen=True, slots=True, kw_only=True)
class AlterUser(Statement):
    """Legacy ``ALTER USER [IF EXISTS] name [WITH [HASHED] PASSWORD 'p'] [[NO]SUPERUSER]``."""

    user: str
    password: str | None = None
    hashed_password: str | None = None
    superuser: bool | None = None
    if_exists: bool = False

    def to_cql(self) -> str:
        head = "ALTER USER IF EXISTS" if self.if_exists else "ALTER USER"
        options = _user_options(self.password, self.hashed_password, self.superuser)
        return f"{head} {string(self.user)}{options}"


@dataclass(frozen=True, slots=True, kw_only=True)
class DropUser(Statement):
    """Legacy ``DROP USER [IF EXISTS] name``."""

    user: str
    if_exists: bool = False

    def to_cql(self) -> str:
        return f"DROP USER{' IF EXISTS' if self.if_exists else ''} {string(self.user)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ListRoles(Statement):
    """``LIST ROLES [OF r] [NORECURSIVE]``."""

    role: str | None = None
    recursive: bool = True

    def to_cql(self) -> str:
        text = "LIST ROLES" if self.role is None else f"LIST ROLES OF {ident(self.role)}"
        return text if self.recursive else text + " NORECURSIVE"


@dataclass(frozen=True, slots=True, kw_only=True)
class ListUsers(Statement):
    """``LIST USERS``."""

    def to_cql(self) -> str:
        return "LIST USERS"


@dataclass(frozen=True, slots=True, kw_only=True)
class ListSuperusers(Statement):
    """``LIST SUPERUSERS`` (5.0)."""

    def to_cql(self) -> str:
        return "LIST SUPERUSERS"


@dataclass(frozen=True, slots=True, kw_only=True)
class AddIdentity(Statement):
    """``ADD IDENTITY [IF NOT EXISTS] 'identity' TO ROLE 'role'`` (5.0, mTLS)."""

    identity: str
    role: str
    if_not_exists: bool = False

    def to_cql(self) -> str:
        head = "ADD IDENTITY IF NOT EXISTS" if self.if_not_exists else "ADD IDENTITY"
        return f"{head} {string(self.identity)} TO ROLE {string(self.role)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class DropIdentity(Statement):
    """``DROP IDENTITY [IF EXISTS] 'identity'`` (5.0)."""

    identity: str
    if_exists: bool = False

    def to_cql(self) -> str:
        return f"DROP IDENTITY{' IF EXISTS' if self.if_exists else ''} {string(self.identity)}"


class DescribeKind(StrEnum):
    """What a DESCRIBE asks for; GENERIC is ``DESCRIBE [ks.]name`` (the server works out
    whether the name is a keyspace, a table, a view, an index...)."""

    CLUSTER = "CLUSTER"
    SCHEMA = "SCHEMA"
    FULL_SCHEMA = "FULL SCHEMA"
    KEYSPACES = "KEYSPACES"
    KEYSPACE = "KEYSPACE"
    TABLES = "TABLES"
    TABLE = "TABLE"
    INDEX = "INDEX"
    MATERIALIZED_VIEW = "MATERIALIZED VIEW"
    TYPES = "TYPES"
    TYPE = "TYPE"
    FUNCTIONS = "FUNCTIONS"
    FUNCTION = "FUNCTION"
    AGGREGATES = "AGGREGATES"
    AGGREGATE = "AGGREGATE"
    GENERIC = "GENERIC"


@dataclass(frozen=True, slots=True, kw_only=True)
class Describe(Statement):
    """``DESCRIBE|DESC ...`` (executed by the server since Cassandra 4.0). ``keyspace`` and
    ``name`` are what the statement names, None when it names nothing (``DESCRIBE KEYSPACE``
    alone describes the session's keyspace)."""

    kind: DescribeKind
    keyspace: str | None = None
    name: str | None = None
    only: bool = False
    with_internals: bool = False

    def to_cql(self) -> str:
        kind = self.kind
        tail = " WITH INTERNALS" if self.with_internals else ""
        if kind is DescribeKind.KEYSPACE:
            only = "ONLY " if self.only else ""
            target = "" if self.keyspace is None else " " + ident(self.keyspace)
            return f"DESCRIBE {only}KEYSPACE{target}{tail}"
        if self.name is None:
            return f"DESCRIBE {kind.value}{tail}"
        if kind in (DescribeKind.FUNCTION, DescribeKind.AGGREGATE):
            name = qualified(self.keyspace, self.name, function_ident)
        else:
            name = qualified(self.keyspace, self.name, _generic_ident)
        prefix = "" if kind is DescribeKind.GENERIC else kind.value + " "
        return f"DESCRIBE {prefix}{name}{tail}"


def _generic_ident(name: str) -> str:
    # DESCRIBE reads keywords such as TABLES or CLUSTER as the listing they name.
    return quote_name(name) if name in KEYWORDS else ident(name)
