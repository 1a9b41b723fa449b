"""Roles and permissions, as PasswordAuthenticator + CassandraRoleManager + CassandraAuthorizer.

The model follows Cassandra 4.1: roles may log in and/or be superusers, may be granted other
roles (and inherit their permissions), and hold permissions on resources that form a
hierarchy (a table's parents are its keyspace and ALL KEYSPACES). Passwords are stored as
bcrypt hashes with 10 rounds and the ``$2a$`` prefix, as Cassandra's jBCrypt writes them. A
successful check is remembered for a short while, like Cassandra's credentials cache, so that
a driver opening a pool of connections does not pay bcrypt for each one.

Errors carry Cassandra's wording; the executor turns :class:`AuthUnauthorizedError` into an
Unauthorized ERROR and :class:`AuthInvalidError` into an Invalid one.
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace

import bcrypt

from cassflow.cql import Permission
from cassflow.errors import CassflowError

DEFAULT_SUPERUSER = "cassandra"
#: jBCrypt's default work factor in Cassandra.
BCRYPT_ROUNDS = 10
#: Cassandra's credentials_validity (2 s) is for a cluster; a dev server can afford longer.
CREDENTIALS_VALIDITY_SECONDS = 60.0


class AuthError(CassflowError):
    """Base of role and permission errors."""


class AuthUnauthorizedError(AuthError):
    """The acting role lacks a permission (CQL Unauthorized)."""


class AuthInvalidError(AuthError):
    """The request makes no sense: unknown role, already exists... (CQL Invalid)."""


_DATA_ROOT = frozenset(
    {
        Permission.CREATE,
        Permission.ALTER,
        Permission.DROP,
        Permission.SELECT,
        Permission.MODIFY,
        Permission.AUTHORIZE,
        Permission.UNMASK,
        Permission.SELECT_MASKED,
    }
)
_TABLE = _DATA_ROOT - {Permission.CREATE}
_ROLES_ROOT = frozenset(
    {
        Permission.CREATE,
        Permission.ALTER,
        Permission.DROP,
        Permission.AUTHORIZE,
        Permission.DESCRIBE,
    }
)
_ROLE = _ROLES_ROOT - {Permission.CREATE, Permission.DESCRIBE}


@dataclass(frozen=True, slots=True)
class Resource:
    """A thing permissions are granted on, named as Cassandra names it (``data/ks/t``)."""

    kind: str  # "data" or "roles"
    keyspace: str | None = None
    table: str | None = None
    role: str | None = None

    @classmethod
    def all_keyspaces(cls) -> Resource:
        """ALL KEYSPACES."""
        return cls("data")

    @classmethod
    def of_keyspace(cls, keyspace: str) -> Resource:
        """KEYSPACE ks."""
        return cls("data", keyspace)

    @classmethod
    def of_table(cls, keyspace: str, table: str) -> Resource:
        """TABLE ks.t."""
        return cls("data", keyspace, table)

    @classmethod
    def all_roles(cls) -> Resource:
        """ALL ROLES."""
        return cls("roles")

    @classmethod
    def of_role(cls, role: str) -> Resource:
        """ROLE r."""
        return cls("roles", role=role)

    @property
    def name(self) -> str:
        """The stored name: ``data``, ``data/ks``, ``data/ks/t``, ``roles``, ``roles/r``."""
        parts = [self.kind, self.keyspace, self.table, self.role]
        return "/".join(p for p in parts if p is not None)

    @classmethod
    def from_name(cls, name: str) -> Resource:
        """Inverse of :attr:`name`."""
        parts = name.split("/")
        if parts[0] == "roles":
            return cls("roles", role=parts[1] if len(parts) > 1 else None)
        return cls("data", *(parts[1:3] + [None] * (3 - len(parts)))[:2])

    def parent(self) -> Resource | None:
        """The next resource up the hierarchy."""
        if self.table is not None:
            return Resource("data", self.keyspace)
        if self.keyspace is not None or self.role is not None:
            return Resource(self.kind)
        return None

    def chain(self) -> Iterator[Resource]:
        """This resource and its parents, nearest first."""
        resource: Resource | None = self
        while resource is not None:
            yield resource
            resource = resource.parent()

    def applicable(self) -> frozenset[Permission]:
        """Permissions that make sense on this resource."""
        if self.kind == "roles":
            return _ROLE if self.role is not None else _ROLES_ROOT
        return _TABLE if self.table is not None else _DATA_ROOT

    def __str__(self) -> str:
        if self.kind == "roles":
            return f"<role {self.role}>" if self.role else "<all roles>"
        if self.table is not None:
            return f"<table {self.keyspace}.{self.table}>"
        return f"<keyspace {self.keyspace}>" if self.keyspace else "<all keyspaces>"


@dataclass(frozen=True, slots=True)
class Role:
    """One row of system_auth.roles."""

    name: str
    can_login: bool = False
    is_superuser: bool = False
    salted_hash: str | None = field(default=None, repr=False)
    member_of: frozenset[str] = frozenset()


def hash_password(password: str) -> str:
    """A bcrypt hash as Cassandra stores it."""
    salt = bcrypt.gensalt(BCRYPT_ROUNDS, prefix=b"2a")
    return bcrypt.hashpw(password.encode("utf-8"), salt).decode("ascii")


class RoleManager:
    """Roles and permissions, persisted as JSON through ``load``/``save``."""

    def __init__(
        self,
        load: Callable[[], bytes | None],
        save: Callable[[bytes], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._save = save
        self._clock = clock
        self._roles: dict[str, Role] = {}
        self._permissions: dict[tuple[str, str], set[Permission]] = {}
        self._verified: dict[bytes, float] = {}
        self._pepper = secrets.token_bytes(32)
        stored = load()
        if stored:
            self._restore(stored)

    # --- persistence -----------------------------------------------------------------------

    def _restore(self, stored: bytes) -> None:
        document = json.loads(stored)
        for item in document["roles"]:
            role = Role(
                name=item["name"],
                can_login=item["can_login"],
                is_superuser=item["is_superuser"],
                salted_hash=item["salted_hash"],
                member_of=frozenset(item["member_of"]),
            )
            self._roles[role.name] = role
        for item in document["permissions"]:
            key = (item["role"], item["resource"])
            self._permissions[key] = {Permission(p) for p in item["permissions"]}

    def _persist(self) -> None:
        document = {
            "roles": [
                {
                    "name": r.name,
                    "can_login": r.can_login,
                    "is_superuser": r.is_superuser,
                    "salted_hash": r.salted_hash,
                    "member_of": sorted(r.member_of),
                }
                for r in self._roles.values()
            ],
            "permissions": [
                {"role": role, "resource": resource, "permissions": sorted(perms)}
                for (role, resource), perms in self._permissions.items()
                if perms
            ],
        }
        self._save(json.dumps(document).encode("utf-8"))

    def bootstrap(self) -> None:
        """Create the default superuser cassandra/cassandra when no role exists yet."""
        if not self._roles:
            self._roles[DEFAULT_SUPERUSER] = Role(
                name=DEFAULT_SUPERUSER,
                can_login=True,
                is_superuser=True,
                salted_hash=hash_password(DEFAULT_SUPERUSER),
            )
            self._persist()

    # --- authentication --------------------------------------------------------------------

    def authenticate(self, username: str, password: str) -> bool:
        """Whether ``username`` may log in with ``password``."""
        role = self._roles.get(username)
        if role is None or not role.can_login or role.salted_hash is None:
            return False
        # The cache key mixes in the stored hash (a changed password misses it) and a
        # per-process secret, so it reveals nothing about the password even in a memory dump.
        key = hmac.new(
            self._pepper, f"{username}\0{role.salted_hash}\0{password}".encode(), "sha256"
        ).digest()
        now = self._clock()
        seen = self._verified.get(key)
        if seen is not None and now - seen < CREDENTIALS_VALIDITY_SECONDS:
            return True
        try:
            ok = bcrypt.checkpw(password.encode("utf-8"), role.salted_hash.encode("ascii"))
        except ValueError:
            return False
        if ok:
            self._verified[key] = now
        return ok

    # --- queries ---------------------------------------------------------------------------

    def get(self, name: str) -> Role | None:
        """The role named ``name``."""
        return self._roles.get(name)

    def roles(self) -> list[Role]:
        """Every role, by name."""
        return [self._roles[n] for n in sorted(self._roles)]

    def granted_roles(self, name: str) -> set[str]:
        """``name`` and every role it inherits, transitively."""
        seen: set[str] = set()
        pending = [name]
        while pending:
            current = pending.pop()
            if current in seen or current not in self._roles:
                continue
            seen.add(current)
            pending.extend(self._roles[current].member_of)
        return seen

    def is_superuser(self, name: str) -> bool:
        """Whether ``name`` or a role it inherits is a superuser."""
        return any(self._roles[r].is_superuser for r in self.granted_roles(name))

    def has_permission(self, name: str, permission: Permission, resource: Resource) -> bool:
        """Whether ``name`` holds ``permission`` on ``resource`` or one of its parents."""
        if self.is_superuser(name):
            return True
        roles = self.granted_roles(name)
        return any(
            permission in self._permissions.get((role, r.name), ())
            for r in resource.chain()
            for role in roles
        )

    def authorize(self, name: str, permission: Permission, resource: Resource) -> None:
        """Raise :class:`AuthUnauthorizedError` unless ``name`` holds the permission."""
        if not self.has_permission(name, permission, resource):
            raise AuthUnauthorizedError(
                f"User {name} has no {permission} permission on {resource} or any of its parents"
            )

    def permissions_of(self, role: str, resource: Resource) -> set[Permission]:
        """Permissions granted directly to ``role`` on exactly ``resource``."""
        return set(self._permissions.get((role, resource.name), ()))

    def list_permissions(
        self, resource: Resource | None, of: str | None, recursive: bool
    ) -> list[tuple[str, Resource, Permission]]:
        """(role, resource, permission) triples as LIST PERMISSIONS shows them."""
        if of is not None and of not in self._roles:
            raise AuthInvalidError(f"{of} doesn't exist")
        roles = None if of is None else (self.granted_roles(of) if recursive else {of})
        resources = None
        if resource is not None:
            resources = {r.name for r in resource.chain()} if recursive else {resource.name}
        rows: list[tuple[str, Resource, Permission]] = []
        for (role, name), perms in sorted(self._permissions.items()):
            if roles is not None and role not in roles:
                continue
            if resources is not None and name not in resources:
                continue
            rows.extend((role, Resource.from_name(name), p) for p in sorted(perms))
        return rows

    # --- changes ---------------------------------------------------------------------------

    def create_role(
        self,
        actor: str | None,
        name: str,
        *,
        password: str | None = None,
        login: bool = False,
        superuser: bool = False,
        if_not_exists: bool = False,
    ) -> bool:
        """CREATE ROLE; returns whether a role was created."""
        if actor is not None:
            self.authorize(actor, Permission.CREATE, Resource.all_roles())
            if superuser and not self.is_superuser(actor):
                raise AuthUnauthorizedError(
                    "Only superusers can create a role with superuser status"
                )
        if name in self._roles:
            if if_not_exists:
                return False
            raise AuthInvalidError(f"{name} already exists")
        self._roles[name] = Role(
            name=name,
            can_login=login,
            is_superuser=superuser,
            salted_hash=hash_password(password) if password is not None else None,
        )
        if actor is not None and not self.is_superuser(actor):
            # The creator of a role may administer it, as CassandraRoleManager grants.
            self._permissions.setdefault((actor, Resource.of_role(name).name), set()).update(
                Resource.of_role(name).applicable()
            )
        self._persist()
        return True

    def alter_role(
        self,
        actor: str | None,
        name: str,
        *,
        password: str | None = None,
        login: bool | None = None,
        superuser: bool | None = None,
        if_exists: bool = False,
    ) -> None:
        """ALTER ROLE."""
        role = self._roles.get(name)
        if role is None:
            if if_exists:
                return
            raise AuthInvalidError(f"{name} doesn't exist")
        if actor is not None:
            changing_self_password_only = (
                actor == name and login is None and superuser is None and password is not None
            )
            if superuser is not None:
                if actor == name:
                    raise AuthUnauthorizedError(
                        "You aren't allowed to alter your own superuser status"
                    )
                if not self.is_superuser(actor):
                    raise AuthUnauthorizedError(
                        "Only superusers are allowed to alter superuser status"
                    )
            if not changing_self_password_only:
                self.authorize(actor, Permission.ALTER, Resource.of_role(name))
            if role.is_superuser and not self.is_superuser(actor):
                raise AuthUnauthorizedError("Only superusers are allowed to alter superuser roles")
        changes: dict[str, object] = {}
        if password is not None:
            changes["salted_hash"] = hash_password(password)
        if login is not None:
            changes["can_login"] = login
        if superuser is not None:
            changes["is_superuser"] = superuser
        self._roles[name] = replace(role, **changes)  # type: ignore[arg-type]
        self._persist()

    def drop_role(self, actor: str | None, name: str, *, if_exists: bool = False) -> None:
        """DROP ROLE."""
        if name not in self._roles:
            if if_exists:
                return
            raise AuthInvalidError(f"{name} doesn't exist")
        if actor is not None:
            if actor == name:
                raise AuthInvalidError("Cannot DROP primary role for current login")
            self.authorize(actor, Permission.DROP, Resource.of_role(name))
            if self._roles[name].is_superuser and not self.is_superuser(actor):
                raise AuthUnauthorizedError("Only superusers can drop a role with superuser status")
        del self._roles[name]
        for other, role in list(self._roles.items()):
            if name in role.member_of:
                self._roles[other] = replace(role, member_of=role.member_of - {name})
        for key in [k for k in self._permissions if k[0] == name or k[1] == f"roles/{name}"]:
            del self._permissions[key]
        self._persist()

    def grant_role(self, actor: str | None, role: str, grantee: str) -> None:
        """GRANT role TO grantee."""
        self._check_roles_exist(role, grantee)
        if actor is not None:
            self.authorize(actor, Permission.AUTHORIZE, Resource.of_role(role))
        if role in self.granted_roles(grantee) and role != grantee:
            raise AuthInvalidError(f"{grantee} is a member of {role}")
        if grantee in self.granted_roles(role):
            raise AuthInvalidError(f"{grantee} is a member of {role}")
        current = self._roles[grantee]
        self._roles[grantee] = replace(current, member_of=current.member_of | {role})
        self._persist()

    def revoke_role(self, actor: str | None, role: str, revokee: str) -> None:
        """REVOKE role FROM revokee."""
        self._check_roles_exist(role, revokee)
        if actor is not None:
            self.authorize(actor, Permission.AUTHORIZE, Resource.of_role(role))
        current = self._roles[revokee]
        if role not in current.member_of:
            raise AuthInvalidError(f"{revokee} is not a member of {role}")
        self._roles[revokee] = replace(current, member_of=current.member_of - {role})
        self._persist()

    def grant(
        self,
        actor: str | None,
        permissions: Iterable[Permission] | None,
        resource: Resource,
        grantee: str,
    ) -> None:
        """GRANT permissions ON resource TO grantee (``None``: ALL PERMISSIONS)."""
        wanted = self._check_grant(actor, permissions, resource, grantee)
        self._permissions.setdefault((grantee, resource.name), set()).update(wanted)
        self._persist()

    def revoke(
        self,
        actor: str | None,
        permissions: Iterable[Permission] | None,
        resource: Resource,
        revokee: str,
    ) -> None:
        """REVOKE permissions ON resource FROM revokee."""
        wanted = self._check_grant(actor, permissions, resource, revokee)
        held = self._permissions.get((revokee, resource.name))
        if held:
            held.difference_update(wanted)
        self._persist()

    def drop_resource(self, resource: Resource) -> None:
        """Forget permissions on a dropped keyspace or table (and its children)."""
        prefix = resource.name
        stale = [k for k in self._permissions if k[1] == prefix or k[1].startswith(prefix + "/")]
        for key in stale:
            del self._permissions[key]
        if stale:
            self._persist()

    def _check_roles_exist(self, *names: str) -> None:
        for name in names:
            if name not in self._roles:
                raise AuthInvalidError(f"{name} doesn't exist")

    def _check_grant(
        self,
        actor: str | None,
        permissions: Iterable[Permission] | None,
        resource: Resource,
        grantee: str,
    ) -> set[Permission]:
        self._check_roles_exist(grantee)
        applicable = resource.applicable()
        wanted = set(applicable if permissions is None else permissions)
        invalid = wanted - applicable
        if invalid:
            names = ", ".join(sorted(invalid))
            raise AuthInvalidError(
                f"Resource type DataResource does not support the requested permissions: {names}"
                if resource.kind == "data"
                else f"Resource type RoleResource does not support the requested "
                f"permissions: {names}"
            )
        if actor is not None:
            self.authorize(actor, Permission.AUTHORIZE, resource)
            for permission in sorted(wanted):
                self.authorize(actor, permission, resource)
        return wanted
