"""Hot reload: a changed policy file is picked up, a broken one keeps the old policy and is
logged with file:line:column, checks are bounded by the interval."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import pytest

from cassflow.cql import Verb
from cassflow.proxy._policy import Action, Policy, PolicyError
from cassflow.proxy._reload import PolicyFile

READERS = """\
version: 1
rules:
  - name: readers
    match: {groups: [analysts]}
    allow: [{keyspace: shop, verbs: [SELECT]}]
"""
WRITERS = READERS.replace("name: readers", "name: writers").replace("[SELECT]", "[MODIFY]")
BROKEN = READERS.replace("verbs: [SELECT]", "verbs: [SELECT], colour: red")

WRITE = Action(verb=Verb.MODIFY, keyspace="shop", table="orders")


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def replace_file(path: Path, text: str) -> None:
    """Write as editors do: a new file renamed over the old one (a new inode)."""
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def may_write(policy: Policy) -> bool:
    return policy.decide("alice", ["analysts"], WRITE).allowed


@pytest.fixture
def path(tmp_path: Path) -> Path:
    file = tmp_path / "policy.yaml"
    file.write_text(READERS, encoding="utf-8")
    return file


def test_a_changed_file_is_loaded_on_access_after_the_interval(path: Path) -> None:
    clock = FakeClock()
    watched = PolicyFile(path, interval=1.0, clock=clock)
    assert watched.generation == 1
    assert not may_write(watched.policy)
    replace_file(path, WRITERS)
    clock.now += 0.5
    assert not may_write(watched.policy)  # not yet looked at: at most once per interval
    clock.now += 0.5
    assert may_write(watched.policy)
    assert watched.generation == 2
    assert watched.policy.rule_names == ("writers",)


def test_an_unchanged_file_is_not_reloaded(path: Path) -> None:
    watched = PolicyFile(path)
    first = watched.policy
    assert not watched.check()
    os.utime(path)  # touched, same content
    assert not watched.check()
    assert watched.policy is first
    assert watched.generation == 1


def test_an_edit_in_place_within_the_same_clock_tick_is_seen(path: Path) -> None:
    watched = PolicyFile(path)
    before = path.stat()
    # Same size, same inode, and the modification time set back: only the content differs.
    same_size = READERS.replace("analysts", "sysadmin")
    assert len(same_size) == len(READERS)
    path.write_text(same_size, encoding="utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_ino == before.st_ino
    assert watched.check()
    assert not watched.policy.decide(
        "x", ["analysts"], Action(verb=Verb.SELECT, keyspace="shop", table="t")
    ).allowed


def test_a_broken_file_keeps_the_old_policy_and_logs_where_once(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    watched = PolicyFile(path)
    old = watched.policy
    replace_file(path, BROKEN)
    with caplog.at_level(logging.INFO, logger="cassflow.proxy._reload"):
        assert not watched.check()
        assert not watched.check()  # the same broken version: not logged again
    assert watched.policy is old
    expected = f"{path}:5:47: rules.0.allow.0.colour: Extra inputs are not permitted"
    assert watched.error == expected
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == [f"{expected}; keeping the policy loaded before"]
    caplog.clear()
    replace_file(path, WRITERS)  # fixed
    with caplog.at_level(logging.INFO, logger="cassflow.proxy._reload"):
        assert watched.check()
    assert may_write(watched.policy)
    assert watched.error is None
    assert f"policy {path} reloaded (1 rules)" in caplog.messages


def test_a_missing_file_keeps_the_old_policy(path: Path, caplog: pytest.LogCaptureFixture) -> None:
    watched = PolicyFile(path)
    path.unlink()
    with caplog.at_level(logging.ERROR, logger="cassflow.proxy._reload"):
        assert not watched.check()
    assert watched.policy.rule_names == ("readers",)
    assert watched.error == f"{path}: cannot read: No such file or directory"
    assert caplog.messages == [f"{watched.error}; keeping the policy loaded before"]
    path.write_text(WRITERS, encoding="utf-8")
    assert watched.check()
    assert watched.error is None


def test_a_broken_file_at_start_is_an_error(path: Path) -> None:
    path.write_text(BROKEN, encoding="utf-8")
    with pytest.raises(PolicyError, match=r"policy\.yaml:5:47: rules\.0\.allow\.0\.colour"):
        PolicyFile(path)
    with pytest.raises(ValueError, match="interval"):
        PolicyFile(path, interval=0)


def test_the_background_watcher_reloads_and_stops(path: Path) -> None:
    reloaded: list[Policy] = []
    done = threading.Event()

    def listener(policy: Policy) -> None:
        reloaded.append(policy)
        done.set()

    with PolicyFile(path, interval=0.02, on_reload=listener).watch() as watched:
        replace_file(path, WRITERS)
        assert done.wait(timeout=10)
        thread = watched._thread
        assert thread is not None
    assert not thread.is_alive()  # stopped when the block ended
    assert [p.rule_names for p in reloaded] == [("writers",)]
    assert may_write(watched.policy)


def test_a_failing_listener_does_not_undo_the_reload(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def listener(policy: Policy) -> None:
        raise RuntimeError("listener bug")

    watched = PolicyFile(path, on_reload=listener)
    replace_file(path, WRITERS)
    with caplog.at_level(logging.ERROR, logger="cassflow.proxy._reload"):
        assert watched.check()
    assert may_write(watched.policy)
    assert caplog.messages == [f"a listener of policy {path} failed"]


def test_concurrent_readers_see_a_whole_policy(path: Path) -> None:
    clock = FakeClock()
    watched = PolicyFile(path, interval=0.001, clock=clock)
    seen: set[tuple[str, ...]] = set()
    go = threading.Barrier(5)

    def reader() -> None:
        go.wait(timeout=10)
        for _ in range(300):
            clock.now += 0.001
            seen.add(watched.policy.rule_names)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    go.wait(timeout=10)
    for text in (WRITERS, READERS, WRITERS):
        replace_file(path, text)
    for thread in threads:
        thread.join(timeout=30)
    assert seen <= {("readers",), ("writers",)}
    watched.check()
    assert watched.policy.rule_names == ("writers",)
