"""A policy file that follows its changes: edit the YAML, and the next requests see it.

:class:`PolicyFile` loads the file at once (a broken file then is an error), and afterwards
looks at it at most every ``interval`` seconds: when a request asks for :attr:`PolicyFile.policy`,
or from a background thread (:meth:`PolicyFile.watch`). A change is seen by the file's inode,
size and modification time (an editor's rename-over changes the inode); while the modification
time is too recent to trust (a second write in the same clock tick keeps it), the content's
digest is compared too. A new file that does not validate leaves the old policy in force and
logs the error with file:line:column, once per broken version.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Final

from cassflow.proxy._limits import Clock
from cassflow.proxy._policy import Policy, PolicyError, parse_policy

log = logging.getLogger(__name__)

# Modification times this close to the moment the file was read may hide a second write
# (coarse file system clocks): until then the content is compared as well.
_RACY_NS: Final = 2_000_000_000

_Signature = tuple[int, int, int]  # inode, size, modification time (ns)


class PolicyFile:
    """The policy in ``path``, reloaded when the file changes; thread-safe."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        interval: float = 1.0,
        clock: Clock = time.monotonic,
        on_reload: Callable[[Policy], None] | None = None,
        validate: Callable[[Policy], None] | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError("the check interval must be above 0 seconds")
        self.path = Path(path)
        self.interval = interval
        self._clock = clock
        #: Called with each newly loaded policy (in the thread that found the change).
        self.on_reload = on_reload
        #: Raises PolicyError for a policy that parses but cannot be used here (e.g. it names
        #: an upstream login the proxy does not have): the first load fails, a reload is
        #: refused as a broken file is.
        self.validate = validate
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Policies loaded so far (1 after the first load); grows with each reload.
        self.generation = 0
        #: The error of the newest version of the file if it did not load, else None.
        self.error: str | None = None
        signature, text, racy = self._read()
        self._policy = self._parse(text)
        self._remember(signature, text, racy)
        self.generation = 1
        self._checked = clock()

    def __repr__(self) -> str:
        return f"PolicyFile({str(self.path)!r}, generation={self.generation})"

    @property
    def policy(self) -> Policy:
        """The policy in force, after a check of the file if one is due."""
        # One thread checks; the others go on with the policy in force meanwhile.
        if self._clock() - self._checked >= self.interval and self._lock.acquire(blocking=False):
            try:
                if self._clock() - self._checked >= self.interval:
                    self._check_locked()
            finally:
                self._lock.release()
        return self._policy

    def check(self) -> bool:
        """Look at the file now; True when a new policy was loaded."""
        with self._lock:
            return self._check_locked()

    def _check_locked(self) -> bool:
        self._checked = self._clock()
        try:
            signature = _signature(self.path)
        except OSError as exc:
            self._fail(f"{self.path}: cannot read: {exc.strerror}", None)
            return False
        if signature == self._signature and not self._racy:
            return False
        try:
            signature, text, racy = self._read()
        except PolicyError as exc:
            self._fail(str(exc), None)
            return False
        digest = _digest(text)
        if digest == self._digest:
            self._remember(signature, text, racy)  # touched, not changed
            return False
        if digest == self._failed_digest:
            return False  # the broken version already reported
        try:
            policy = self._parse(text)
        except PolicyError as exc:
            self._fail(str(exc), digest)
            return False
        self._policy = policy
        self._remember(signature, text, racy)
        self.generation += 1
        self.error = None
        log.info("policy %s reloaded (%d rules)", self.path, len(policy.rule_names))
        if self.on_reload is not None:
            try:
                self.on_reload(policy)
            except Exception:  # a listener's bug must not undo the reload or fail a request
                log.exception("a listener of policy %s failed", self.path)
        return True

    def _parse(self, text: str) -> Policy:
        policy = parse_policy(text, self.path)
        if self.validate is not None:
            self.validate(policy)
        return policy

    def _read(self) -> tuple[_Signature, str, bool]:
        """The file's signature, text, and whether its modification time is too recent to
        trust; the signature is taken before reading, so a write during the read is seen next
        time."""
        try:
            signature = _signature(self.path)
            data = self.path.read_bytes()
        except OSError as exc:
            raise PolicyError(f"{self.path}: cannot read: {exc.strerror}") from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PolicyError(f"{self.path}: not UTF-8 text at byte {exc.start}") from None
        racy = time.time_ns() - signature[2] < _RACY_NS
        return signature, text, racy

    def _remember(self, signature: _Signature, text: str, racy: bool) -> None:
        self._signature = signature
        self._digest = _digest(text)
        self._racy = racy
        self._failed_digest: str | None = None

    def _fail(self, message: str, digest: str | None) -> None:
        if message != self.error:
            log.error("%s; keeping the policy loaded before", message)
        self.error = message
        self._failed_digest = digest

    def watch(self) -> PolicyFile:
        """Check the file every ``interval`` seconds from a daemon thread until :meth:`stop`."""
        with self._lock:
            if self._thread is None:
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._watch, name=f"policy-watch:{self.path.name}", daemon=True
                )
                self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception:  # never let the watcher die: the proxy would stop reloading
                log.exception("checking policy %s failed", self.path)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the background thread (if any) and wait up to ``timeout`` seconds for it."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    def __enter__(self) -> PolicyFile:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


def _signature(path: Path) -> _Signature:
    stat = path.stat()
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
