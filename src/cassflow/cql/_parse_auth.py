"""Parsing of the security statements (roles, users, identities, GRANT/REVOKE/LIST) and of
DESCRIBE."""

from __future__ import annotations

from typing import Final

from cassflow.cql._ast import Literal
from cassflow.cql._ast_auth import (
    AddIdentity,
    AllFunctionsResource,
    AllKeyspacesResource,
    AllMBeansResource,
    AllRolesResource,
    AlterRole,
    AlterUser,
    CreateRole,
    CreateUser,
    Describe,
    DescribeKind,
    DropIdentity,
    DropRole,
    DropUser,
    FunctionResource,
    GrantPermissions,
    GrantRole,
    KeyspaceResource,
    ListPermissions,
    ListRoles,
    ListSuperusers,
    ListUsers,
    MBeanResource,
    Permission,
    Resource,
    RevokePermissions,
    RevokeRole,
    RoleOptions,
    RoleResource,
    TableResource,
)
from cassflow.cql._keywords import FUNCTION_NAME_KINDS, NAME_KINDS
from cassflow.cql._node import Statement
from cassflow.cql._parse_routines import RoutineParser

_PERMISSIONS: Final = {f"K_{p.value}": p for p in Permission}
# Unreserved keywords that are permissions and can name a role too (`GRANT all TO r`).
_PERMISSION_OR_ROLE: Final = frozenset(("K_ALL", "K_UNMASK", "K_SELECT_MASKED"))
_ROLE_START: Final = NAME_KINDS | {"STRING_LITERAL", "QMARK"}
_RESOURCE_CLASS: Final = {
    AllKeyspacesResource: "DataResource",
    KeyspaceResource: "DataResource",
    TableResource: "DataResource",
    AllRolesResource: "RoleResource",
    RoleResource: "RoleResource",
    AllFunctionsResource: "FunctionResource",
    FunctionResource: "FunctionResource",
    AllMBeansResource: "JMXResource",
    MBeanResource: "JMXResource",
}
_DESCRIBE_LISTINGS: Final = {
    "K_CLUSTER": DescribeKind.CLUSTER,
    "K_KEYSPACES": DescribeKind.KEYSPACES,
    "K_TABLES": DescribeKind.TABLES,
    "K_TYPES": DescribeKind.TYPES,
    "K_FUNCTIONS": DescribeKind.FUNCTIONS,
    "K_AGGREGATES": DescribeKind.AGGREGATES,
}


class AuthParser(RoutineParser):
    """Security statements and DESCRIBE."""

    # -- roles and users ----------------------------------------------------------------

    def create_role(self) -> CreateRole:
        """``CREATE ROLE``; the CREATE is consumed."""
        self.expect("K_ROLE")
        if_not_exists = self.expect_if_not_exists()
        role = self.role_name()
        options = self._role_options() if self.accept("K_WITH") else RoleOptions()
        return CreateRole(role=role, options=options, if_not_exists=if_not_exists)

    def alter_role(self) -> AlterRole:
        """``ALTER ROLE``; the ALTER is consumed."""
        self.expect("K_ROLE")
        if_exists = self.expect_if_exists()
        role = self.role_name()
        options = self._role_options() if self.accept("K_WITH") else RoleOptions()
        return AlterRole(role=role, options=options, if_exists=if_exists)

    def drop_role(self) -> DropRole:
        """``DROP ROLE``; the DROP is consumed."""
        self.expect("K_ROLE")
        if_exists = self.expect_if_exists()
        return DropRole(role=self.role_name(), if_exists=if_exists)

    def _role_options(self) -> RoleOptions:
        values: dict[str, object] = {}
        datacenters: list[str] | None = None
        cidrs: list[str] | None = None

        def put(option: str, value: object) -> None:
            if option in values:
                raise self.recognition_error(f"Multiple definition for property '{option}'")
            values[option] = value

        while True:
            kind = self.tok.kind
            if self.accept("K_PASSWORD"):
                self.expect("=")
                put("PASSWORD", self.expect("STRING_LITERAL").text)
            elif self.accept("K_HASHED"):
                self.expect("K_PASSWORD")
                self.expect("=")
                put("HASHED_PASSWORD", self.expect("STRING_LITERAL").text)
            elif self.accept("K_OPTIONS"):
                self.expect("=")
                entries = self.property_map().entries
                put(
                    "OPTIONS",
                    tuple(
                        (k.text, v.text)
                        for k, v in entries
                        if isinstance(k, Literal) and isinstance(v, Literal)
                    ),
                )
            elif kind in ("K_SUPERUSER", "K_LOGIN"):
                self.advance()
                self.expect("=")
                put(kind[2:], self.expect("BOOLEAN").text.lower() == "true")
            elif self.accept("K_ACCESS"):
                if self.accept("K_TO"):
                    datacenters = self._access(datacenters, "K_DATACENTERS", values, "DC")
                else:
                    self.expect("K_FROM")
                    cidrs = self._access(cidrs, "K_CIDRS", values, "CIDR")
            else:
                raise self.no_viable()
            if not self.accept("K_AND"):
                break
        if "PASSWORD" in values and "HASHED_PASSWORD" in values:
            raise self.recognition_error(
                "Options 'password' and 'hashed password' are mutually exclusive"
            )
        options = values.get("OPTIONS")
        return RoleOptions(
            password=_str_or_none(values.get("PASSWORD")),
            hashed_password=_str_or_none(values.get("HASHED_PASSWORD")),
            login=_bool_or_none(values.get("LOGIN")),
            superuser=_bool_or_none(values.get("SUPERUSER")),
            options=options if isinstance(options, tuple) else None,
            datacenters=None if datacenters is None else tuple(datacenters),
            all_datacenters=bool(values.get("ALL_DC")),
            cidrs=None if cidrs is None else tuple(cidrs),
            all_cidrs=bool(values.get("ALL_CIDR")),
        )

    def _access(
        self, current: list[str] | None, keyword: str, values: dict[str, object], what: str
    ) -> list[str] | None:
        # Cassandra's builders refuse to mix ALL with a list (they fail with these words).
        if self.accept("K_ALL"):
            self.expect(keyword)
            if current:
                raise self.recognition_error(f"{what}s have already been set")
            values[f"ALL_{what}"] = True
            return current
        self.expect(keyword)
        self.expect("{")
        found = [] if current is None else current
        while True:
            if values.get(f"ALL_{what}"):
                raise self.recognition_error("All has been set")
            text = self.expect("STRING_LITERAL").text
            if text not in found:
                found.append(text)
            if not self.accept(","):
                break
        self.expect("}")
        return found

    def _username(self) -> str:
        # `username`: unlike role names, an unquoted user name keeps its case.
        kind = self.tok.kind
        if kind == "QUOTED_NAME":
            raise self.recognition_error(
                "Quoted strings are are not supported for user names and USER is deprecated, "
                "please use ROLE"
            )
        if kind not in ("IDENT", "STRING_LITERAL"):
            raise self.no_viable()
        return self.advance().text

    def _user_password(self) -> tuple[str | None, str | None]:
        if self.accept("K_PASSWORD"):
            return self.expect("STRING_LITERAL").text, None
        if self.accept("K_HASHED"):
            self.expect("K_PASSWORD")
            return None, self.expect("STRING_LITERAL").text
        raise self.no_viable()

    def _superuser_flag(self) -> bool | None:
        if self.accept("K_SUPERUSER"):
            return True
        if self.accept("K_NOSUPERUSER"):
            return False
        return None

    def create_user(self) -> CreateUser:
        """``CREATE USER``; the CREATE is consumed."""
        self.expect("K_USER")
        if_not_exists = self.expect_if_not_exists()
        user = self._username()
        password, hashed = self._user_password() if self.accept("K_WITH") else (None, None)
        return CreateUser(
            user=user,
            password=password,
            hashed_password=hashed,
            superuser=self._superuser_flag(),
            if_not_exists=if_not_exists,
        )

    def alter_user(self) -> AlterUser:
        """``ALTER USER``; the ALTER is consumed."""
        self.expect("K_USER")
        if_exists = self.expect_if_exists()
        user = self._username()
        password, hashed = self._user_password() if self.accept("K_WITH") else (None, None)
        return AlterUser(
            user=user,
            password=password,
            hashed_password=hashed,
            superuser=self._superuser_flag(),
            if_exists=if_exists,
        )

    def drop_user(self) -> DropUser:
        """``DROP USER``; the DROP is consumed."""
        self.expect("K_USER")
        if_exists = self.expect_if_exists()
        return DropUser(user=self._username(), if_exists=if_exists)

    def _identity(self) -> str:
        if self.tok.kind == "QUOTED_NAME":
            raise self.recognition_error("Quoted strings are are not supported for identity")
        if self.tok.kind not in ("IDENT", "STRING_LITERAL"):
            raise self.no_viable()
        return self.advance().text

    def add_identity(self) -> AddIdentity:
        """``ADD IDENTITY [IF NOT EXISTS] 'id' TO ROLE 'role'``."""
        self.expect("K_ADD")
        self.expect("K_IDENTITY")
        if_not_exists = self.expect_if_not_exists()
        identity = self._identity()
        self.expect("K_TO")
        self.expect("K_ROLE")
        return AddIdentity(identity=identity, role=self._identity(), if_not_exists=if_not_exists)

    def drop_identity(self) -> DropIdentity:
        """``DROP IDENTITY``; the DROP is consumed."""
        self.expect("K_IDENTITY")
        if_exists = self.expect_if_exists()
        return DropIdentity(identity=self._identity(), if_exists=if_exists)

    # -- permissions --------------------------------------------------------------------

    def grant_or_revoke(self) -> Statement:
        """``GRANT``/``REVOKE`` of permissions or of a role."""
        grant = self.advance().kind == "K_GRANT"
        kind = self.tok.kind
        by_role = kind not in _PERMISSIONS and kind != "K_ALL"
        if kind in _PERMISSION_OR_ROLE and self.peek().kind == ("K_TO" if grant else "K_FROM"):
            by_role = True
        if by_role:
            role = self.role_name()
            self.expect("K_TO" if grant else "K_FROM")
            other = self.role_name()
            return (
                GrantRole(role=role, grantee=other)
                if grant
                else RevokeRole(role=role, revokee=other)
            )
        permissions, all_permissions = self._permissions()
        self.expect("K_ON")
        resource = self._resource()
        self.expect("K_TO" if grant else "K_FROM")
        role = self.role_name()
        if not permissions & resource.applicable:
            raise self.recognition_error(
                f"Resource type {_RESOURCE_CLASS[type(resource)]} does not support any of the "
                "requested permissions"
            )
        if grant:
            return GrantPermissions(
                permissions=permissions,
                resource=resource,
                role=role,
                all_permissions=all_permissions,
            )
        return RevokePermissions(
            permissions=permissions, resource=resource, role=role, all_permissions=all_permissions
        )

    def _permissions(self) -> tuple[frozenset[Permission], bool]:
        if self.accept("K_ALL"):
            self.accept("K_PERMISSIONS")
            return frozenset(Permission), True
        found = {self._permission()}
        while self.accept(","):
            found.add(self._permission())
        return frozenset(found), False

    def _permission(self) -> Permission:
        permission = _PERMISSIONS.get(self.tok.kind)
        if permission is None:
            raise self.mismatch_set()
        self.advance()
        self.accept("K_PERMISSION")
        return permission

    def _resource(self) -> Resource:
        kind, nxt = self.tok.kind, self.peek().kind
        if kind == "K_ALL" and nxt in ("K_KEYSPACES", "K_ROLES", "K_FUNCTIONS", "K_MBEANS"):
            self.advance()
            self.advance()
            if nxt == "K_KEYSPACES":
                return AllKeyspacesResource()
            if nxt == "K_ROLES":
                return AllRolesResource()
            if nxt == "K_MBEANS":
                return AllMBeansResource()
            if self.accept("K_IN"):
                self.expect("K_KEYSPACE")
                return AllFunctionsResource(keyspace=self.keyspace_name())
            return AllFunctionsResource()
        if self.accept("K_KEYSPACE"):
            return KeyspaceResource(keyspace=self.keyspace_name())
        if kind == "K_ROLE" and nxt in _ROLE_START:
            self.advance()
            return RoleResource(role=self.role_name())
        if kind == "K_FUNCTION" and nxt in FUNCTION_NAME_KINDS | NAME_KINDS:
            self.advance()
            function = self.function_name()
            return FunctionResource(function=function, argument_types=self._type_list())
        if kind in ("K_MBEAN", "K_MBEANS") and nxt == "STRING_LITERAL":
            self.advance()
            name = self.advance().text
            self._check_mbean(name, pattern=kind == "K_MBEANS")
            return MBeanResource(name=name, pattern=kind == "K_MBEANS")
        self.accept("K_COLUMNFAMILY")
        return TableResource(table=self.qualified_name())

    def _check_mbean(self, name: str, *, pattern: bool) -> None:
        # A light version of Cassandra's javax.management.ObjectName checks.
        if not name:
            raise self.recognition_error("Empty JMX object name supplied")
        if name == "*:*":
            raise self.recognition_error("Please use ALL MBEANS instead of wildcard pattern")
        domain, colon, properties = name.partition(":")
        if not colon or not properties:
            raise self.recognition_error(f"{name} is not a valid JMX object name")
        if pattern and not any(c in name for c in "*?"):
            raise self.recognition_error(
                f"Plural form used, but non-pattern JMX object name specified ({name})"
            )
        del domain

    def list_statement(self) -> Statement:
        """``LIST ROLES|USERS|SUPERUSERS`` or ``LIST permissions``."""
        self.expect("K_LIST")
        if self.accept("K_USERS"):
            return ListUsers()
        if self.accept("K_SUPERUSERS"):
            return ListSuperusers()
        if self.accept("K_ROLES"):
            role = self.role_name() if self.accept("K_OF") else None
            return ListRoles(role=role, recursive=not self.accept("K_NORECURSIVE"))
        permissions, all_permissions = self._permissions()
        resource = self._resource() if self.accept("K_ON") else None
        role = self.role_name() if self.accept("K_OF") else None
        return ListPermissions(
            permissions=permissions,
            all_permissions=all_permissions,
            resource=resource,
            role=role,
            recursive=not self.accept("K_NORECURSIVE"),
        )

    # -- DESCRIBE -----------------------------------------------------------------------

    def describe_statement(self) -> Describe:
        """``DESCRIBE|DESC ...`` [WITH INTERNALS]."""
        self.advance()
        kind, nxt = self.tok.kind, self.peek().kind
        statement: Describe
        listing = _DESCRIBE_LISTINGS.get(kind)
        if listing is not None:
            self.advance()
            statement = Describe(kind=listing)
        elif kind in ("K_FULL", "K_SCHEMA"):
            full = self.accept("K_FULL")
            self.expect("K_SCHEMA")
            statement = Describe(kind=DescribeKind.FULL_SCHEMA if full else DescribeKind.SCHEMA)
        elif kind == "K_KEYSPACE" or (kind == "K_ONLY" and nxt == "K_KEYSPACE"):
            only = self.accept("K_ONLY")
            self.advance()
            keyspace = self.keyspace_name() if self.tok.kind in NAME_KINDS | {"QMARK"} else None
            statement = Describe(kind=DescribeKind.KEYSPACE, keyspace=keyspace, only=only)
        elif kind in ("K_COLUMNFAMILY", "K_INDEX"):
            self.advance()
            name = self.qualified_name()
            target = DescribeKind.TABLE if kind == "K_COLUMNFAMILY" else DescribeKind.INDEX
            statement = Describe(kind=target, keyspace=name.keyspace, name=name.name)
        elif kind == "K_MATERIALIZED":
            self.advance()
            self.expect("K_VIEW")
            name = self.qualified_name()
            statement = Describe(
                kind=DescribeKind.MATERIALIZED_VIEW, keyspace=name.keyspace, name=name.name
            )
        elif kind == "K_TYPE" and nxt in NAME_KINDS:
            self.advance()
            name = self.user_type_name()
            statement = Describe(kind=DescribeKind.TYPE, keyspace=name.keyspace, name=name.name)
        elif kind in ("K_FUNCTION", "K_AGGREGATE") and nxt in NAME_KINDS | FUNCTION_NAME_KINDS:
            self.advance()
            name = self.function_name()
            target = DescribeKind.FUNCTION if kind == "K_FUNCTION" else DescribeKind.AGGREGATE
            statement = Describe(kind=target, keyspace=name.keyspace, name=name.name)
        elif kind in NAME_KINDS:
            name = self.qualified_name()
            statement = Describe(kind=DescribeKind.GENERIC, keyspace=name.keyspace, name=name.name)
        else:
            raise self.no_viable()
        if self.accept("K_WITH"):
            self.expect("K_INTERNALS")
            return Describe(
                kind=statement.kind,
                keyspace=statement.keyspace,
                name=statement.name,
                only=statement.only,
                with_internals=True,
            )
        return statement


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _bool_or_none(value: object) -> bool | None:
    return value if isinstance(value, bool) else None
