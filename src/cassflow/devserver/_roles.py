"""Role and permission statements (CREATE/ALTER/DROP ROLE and USER, GRANT, REVOKE, LIST)."""

from __future__ import annotations

from cassflow.cql import (
    AllKeyspacesResource,
    AllRolesResource,
    AlterRole,
    AlterUser,
    CreateRole,
    CreateUser,
    DropRole,
    DropUser,
    GrantPermissions,
    GrantRole,
    KeyspaceResource,
    ListPermissions,
    ListRoles,
    ListUsers,
    Permission,
    RevokePermissions,
    RevokeRole,
    RoleResource,
    Statement,
    TableResource,
)
from cassflow.cql import Resource as ResourceAst
from cassflow.devserver._auth import (
    AuthInvalidError,
    AuthUnauthorizedError,
    Resource,
    RoleManager,
)
from cassflow.devserver._errors import InvalidRequestError, UnauthorizedError
from cassflow.devserver._server import ClientSession, Outcome
from cassflow.protocol import ColumnSpec, DataType, RowsMetadata, RowsResult, TypeCode, VoidResult

_TEXT = DataType(TypeCode.VARCHAR)
_BOOL = DataType(TypeCode.BOOLEAN)
_OPTIONS = DataType.map_of(_TEXT, _TEXT)


def _spec(table: str, name: str, dtype: DataType) -> ColumnSpec:
    return ColumnSpec(keyspace="system_auth", table=table, name=name, type=dtype)


def _resource(ast: ResourceAst, keyspace: str | None) -> Resource:
    if isinstance(ast, AllKeyspacesResource):
        return Resource.all_keyspaces()
    if isinstance(ast, KeyspaceResource):
        return Resource.of_keyspace(ast.keyspace)
    if isinstance(ast, TableResource):
        ks = ast.table.keyspace or keyspace
        if ks is None:
            raise InvalidRequestError(
                "No keyspace has been specified. USE a keyspace, or explicitly specify "
                "keyspace.tablename"
            )
        return Resource.of_table(ks, ast.table.name)
    if isinstance(ast, AllRolesResource):
        return Resource.all_roles()
    if isinstance(ast, RoleResource):
        return Resource.of_role(ast.role)
    raise InvalidRequestError(f"The dev server does not manage permissions on {ast.to_cql()}")


def _permissions(perms: frozenset[object], all_permissions: bool) -> list[Permission] | None:
    return None if all_permissions else [Permission(str(p)) for p in perms]


def _text(value: str | None) -> bytes | None:
    return None if value is None else value.encode()


def _bool(value: bool) -> bytes:
    return b"\x01" if value else b"\x00"


def run_role_statement(
    roles: RoleManager | None, session: ClientSession, statement: Statement
) -> Outcome:
    """Run one role or permission statement."""
    if roles is None:
        raise InvalidRequestError(
            f"{type(statement).__name__} needs authentication: start the dev server with --auth"
        )
    actor = session.username
    try:
        return _run(roles, actor, session, statement)
    except AuthInvalidError as exc:
        raise InvalidRequestError(str(exc)) from None
    except AuthUnauthorizedError as exc:
        raise UnauthorizedError(str(exc)) from None


def _run(
    roles: RoleManager, actor: str | None, session: ClientSession, statement: Statement
) -> Outcome:
    if isinstance(statement, CreateRole):
        o = statement.options
        roles.create_role(
            actor,
            statement.role,
            password=o.password,
            login=bool(o.login),
            superuser=bool(o.superuser),
            if_not_exists=statement.if_not_exists,
        )
    elif isinstance(statement, CreateUser):
        roles.create_role(
            actor,
            statement.user,
            password=statement.password,
            login=True,
            superuser=bool(statement.superuser),
            if_not_exists=statement.if_not_exists,
        )
    elif isinstance(statement, AlterRole):
        o = statement.options
        roles.alter_role(
            actor,
            statement.role,
            password=o.password,
            login=o.login,
            superuser=o.superuser,
            if_exists=statement.if_exists,
        )
    elif isinstance(statement, AlterUser):
        roles.alter_role(
            actor,
            statement.user,
            password=statement.password,
            superuser=statement.superuser,
            if_exists=statement.if_exists,
        )
    elif isinstance(statement, DropRole):
        roles.drop_role(actor, statement.role, if_exists=statement.if_exists)
    elif isinstance(statement, DropUser):
        roles.drop_role(actor, statement.user, if_exists=statement.if_exists)
    elif isinstance(statement, GrantRole):
        roles.grant_role(actor, statement.role, statement.grantee)
    elif isinstance(statement, RevokeRole):
        roles.revoke_role(actor, statement.role, statement.revokee)
    elif isinstance(statement, GrantPermissions):
        roles.grant(
            actor,
            _permissions(statement.permissions, statement.all_permissions),
            _resource(statement.resource, session.keyspace),
            statement.role,
        )
    elif isinstance(statement, RevokePermissions):
        roles.revoke(
            actor,
            _permissions(statement.permissions, statement.all_permissions),
            _resource(statement.resource, session.keyspace),
            statement.role,
        )
    elif isinstance(statement, ListRoles):
        return _list_roles(roles, actor, statement)
    elif isinstance(statement, ListUsers):
        return _list_users(roles)
    elif isinstance(statement, ListPermissions):
        return _list_permissions(roles, actor, session, statement)
    else:
        raise InvalidRequestError(
            f"The dev server does not support {type(statement).__name__} statements yet"
        )
    return Outcome(message=VoidResult())


def _list_roles(roles: RoleManager, actor: str | None, statement: ListRoles) -> Outcome:
    if statement.role is not None:
        if roles.get(statement.role) is None:
            raise AuthInvalidError(f"{statement.role} doesn't exist")
        names = (
            roles.granted_roles(statement.role)
            if statement.recursive
            else {statement.role} | set(roles.get(statement.role).member_of)  # type: ignore[union-attr]
        )
    elif (
        actor is None
        or roles.is_superuser(actor)
        or roles.has_permission(actor, Permission.DESCRIBE, Resource.all_roles())
    ):
        names = {r.name for r in roles.roles()}
    else:
        names = roles.granted_roles(actor)
    columns = (
        _spec("roles", "role", _TEXT),
        _spec("roles", "super", _BOOL),
        _spec("roles", "login", _BOOL),
        _spec("roles", "options", _OPTIONS),
        _spec("roles", "datacenters", _TEXT),
    )
    rows = []
    for name in sorted(names):
        role = roles.get(name)
        if role is None:
            continue
        rows.append(
            (
                _text(role.name),
                _bool(role.is_superuser),
                _bool(role.can_login),
                _OPTIONS.serialize({}, 4),
                _text("ALL"),
            )
        )
    return Outcome(message=RowsResult(metadata=RowsMetadata.of(columns), rows=tuple(rows)))


def _list_users(roles: RoleManager) -> Outcome:
    columns = (
        _spec("roles", "name", _TEXT),
        _spec("roles", "super", _BOOL),
        _spec("roles", "datacenters", _TEXT),
    )
    rows = tuple(
        (_text(r.name), _bool(r.is_superuser), _text("ALL")) for r in roles.roles() if r.can_login
    )
    return Outcome(message=RowsResult(metadata=RowsMetadata.of(columns), rows=rows))


def _list_permissions(
    roles: RoleManager, actor: str | None, session: ClientSession, statement: ListPermissions
) -> Outcome:
    resource = (
        None if statement.resource is None else _resource(statement.resource, session.keyspace)
    )
    wanted = None if statement.all_permissions else {str(p) for p in statement.permissions}
    if (
        actor is not None
        and not roles.is_superuser(actor)
        and (statement.role is None or statement.role not in roles.granted_roles(actor))
    ):
        raise AuthUnauthorizedError(
            "You are not authorized to view everyone's permissions"
            if statement.role is None
            else f"You are not authorized to view {statement.role}'s permissions"
        )
    columns = (
        _spec("permissions", "role", _TEXT),
        _spec("permissions", "username", _TEXT),
        _spec("permissions", "resource", _TEXT),
        _spec("permissions", "permission", _TEXT),
    )
    rows = tuple(
        (_text(role), _text(role), _text(str(res)), _text(str(perm)))
        for role, res, perm in roles.list_permissions(resource, statement.role, statement.recursive)
        if wanted is None or str(perm) in wanted
    )
    return Outcome(message=RowsResult(metadata=RowsMetadata.of(columns), rows=rows))
