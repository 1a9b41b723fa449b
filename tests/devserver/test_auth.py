"""Roles and permissions as CassandraRoleManager and CassandraAuthorizer behave."""

from __future__ import annotations

import pytest

from cassflow.devserver._auth import (
    AuthInvalidError,
    AuthUnauthorizedError,
    Permission,
    Resource,
    RoleManager,
)


class Store:
    """What the storage's meta table does for the role manager."""

    def __init__(self) -> None:
        self.value: bytes | None = None

    def load(self) -> bytes | None:
        return self.value

    def save(self, value: bytes) -> None:
        self.value = value


@pytest.fixture
def manager() -> RoleManager:
    roles = RoleManager(Store().load, Store().save)
    roles.bootstrap()
    return roles


def test_default_superuser_logs_in(manager: RoleManager) -> None:
    assert manager.authenticate("cassandra", "cassandra")
    assert not manager.authenticate("cassandra", "wrong")
    assert not manager.authenticate("nobody", "cassandra")


def test_passwords_are_stored_as_cassandra_bcrypt_hashes(manager: RoleManager) -> None:
    role = manager.get("cassandra")
    assert role is not None
    assert role.salted_hash is not None
    assert role.salted_hash.startswith("$2a$10$")
    assert "cassandra" not in role.salted_hash
    assert "salted_hash" not in repr(role)


def test_changed_password_applies_to_new_logins(manager: RoleManager) -> None:
    manager.create_role("cassandra", "alice", password="one", login=True)
    assert manager.authenticate("alice", "one")
    manager.alter_role("alice", "alice", password="two")  # anyone may change their own
    assert not manager.authenticate("alice", "one")
    assert manager.authenticate("alice", "two")


def test_roles_without_login_cannot_log_in(manager: RoleManager) -> None:
    manager.create_role("cassandra", "reader", password="pw", login=False)
    assert not manager.authenticate("reader", "pw")


def test_permissions_follow_the_resource_hierarchy(manager: RoleManager) -> None:
    manager.create_role("cassandra", "alice", password="pw", login=True)
    table = Resource.of_table("shop", "orders")
    with pytest.raises(AuthUnauthorizedError) as caught:
        manager.authorize("alice", Permission.SELECT, table)
    assert str(caught.value) == (
        "User alice has no SELECT permission on <table shop.orders> or any of its parents"
    )
    manager.grant("cassandra", [Permission.SELECT], Resource.of_keyspace("shop"), "alice")
    manager.authorize("alice", Permission.SELECT, table)
    with pytest.raises(AuthUnauthorizedError):
        manager.authorize("alice", Permission.MODIFY, table)
    manager.revoke("cassandra", [Permission.SELECT], Resource.of_keyspace("shop"), "alice")
    with pytest.raises(AuthUnauthorizedError):
        manager.authorize("alice", Permission.SELECT, table)


def test_permissions_are_inherited_through_granted_roles(manager: RoleManager) -> None:
    manager.create_role("cassandra", "readers")
    manager.create_role("cassandra", "bob", password="pw", login=True)
    manager.grant("cassandra", None, Resource.all_keyspaces(), "readers")
    manager.grant_role("cassandra", "readers", "bob")
    manager.authorize("bob", Permission.MODIFY, Resource.of_table("any", "table"))
    manager.revoke_role("cassandra", "readers", "bob")
    assert not manager.has_permission("bob", Permission.MODIFY, Resource.of_table("a", "t"))


def test_only_superusers_create_superusers(manager: RoleManager) -> None:
    manager.create_role("cassandra", "admin", password="pw", login=True)
    manager.grant("cassandra", None, Resource.all_roles(), "admin")
    manager.create_role("admin", "plain", password="pw", login=True)
    with pytest.raises(AuthUnauthorizedError, match="Only superusers"):
        manager.create_role("admin", "root", password="pw", superuser=True)


def test_role_lifecycle_errors(manager: RoleManager) -> None:
    manager.create_role("cassandra", "alice")
    with pytest.raises(AuthInvalidError, match="alice already exists"):
        manager.create_role("cassandra", "alice")
    assert not manager.create_role("cassandra", "alice", if_not_exists=True)
    manager.drop_role("cassandra", "alice")
    with pytest.raises(AuthInvalidError, match="alice doesn't exist"):
        manager.drop_role("cassandra", "alice")
    manager.drop_role("cassandra", "alice", if_exists=True)
    with pytest.raises(AuthInvalidError, match="Cannot DROP primary role"):
        manager.drop_role("cassandra", "cassandra")


def test_inapplicable_permission_is_invalid(manager: RoleManager) -> None:
    manager.create_role("cassandra", "alice")
    with pytest.raises(AuthInvalidError, match="does not support"):
        manager.grant("cassandra", [Permission.CREATE], Resource.of_table("k", "t"), "alice")


def test_list_permissions(manager: RoleManager) -> None:
    manager.create_role("cassandra", "alice")
    manager.grant("cassandra", [Permission.SELECT], Resource.of_table("k", "t"), "alice")
    manager.grant("cassandra", [Permission.MODIFY], Resource.of_keyspace("k"), "alice")
    rows = manager.list_permissions(Resource.of_table("k", "t"), "alice", recursive=True)
    assert [(r, str(res), p) for r, res, p in rows] == [
        ("alice", "<keyspace k>", Permission.MODIFY),
        ("alice", "<table k.t>", Permission.SELECT),
    ]
    direct = manager.list_permissions(Resource.of_table("k", "t"), "alice", recursive=False)
    assert [p for _, _, p in direct] == [Permission.SELECT]


def test_dropping_a_keyspace_forgets_its_permissions(manager: RoleManager) -> None:
    manager.create_role("cassandra", "alice")
    manager.grant("cassandra", [Permission.SELECT], Resource.of_table("k", "t"), "alice")
    manager.drop_resource(Resource.of_keyspace("k"))
    assert manager.list_permissions(None, "alice", recursive=False) == []


def test_roles_survive_a_restart() -> None:
    store = Store()
    first = RoleManager(store.load, store.save)
    first.bootstrap()
    # Long enough that a random bcrypt salt or hash cannot contain it by chance.
    password = "plaintext-never-stored-7d41"
    first.create_role("cassandra", "alice", password=password, login=True)
    first.grant("cassandra", [Permission.SELECT], Resource.of_keyspace("k"), "alice")
    second = RoleManager(store.load, store.save)
    second.bootstrap()  # must not reset anything
    assert second.authenticate("alice", password)
    assert second.has_permission("alice", Permission.SELECT, Resource.of_table("k", "t"))
    assert store.value is not None
    assert password.encode() not in store.value  # no plaintext password stored


def test_resource_names_round_trip() -> None:
    for resource in (
        Resource.all_keyspaces(),
        Resource.of_keyspace("k"),
        Resource.of_table("k", "t"),
        Resource.all_roles(),
        Resource.of_role("r"),
    ):
        assert Resource.from_name(resource.name) == resource
