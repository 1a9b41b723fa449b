"""The ``vault-db`` backend: dynamic credentials of Vault/OpenBao's database secrets engine.

``${secret:vault-db:<mount>/creds/<role>#username}`` and ``...#password`` read the credentials
that ``GET <mount>/creds/<role>`` issues, e.g.
``${secret:vault-db:database/creds/loader#password}``.
Each read of that endpoint creates a new database user, so a process keeps ONE lease per
(Vault, mount, role): the ``#username`` and ``#password`` references of a connection (and of
every other connection using that role) come from the same lease.

Lease life, handled by one background thread per process:

- a renewable lease is renewed when half of its time is used, asking for its original TTL
  again; Vault caps a renewal at the role's ``max_ttl``, and once it does the lease is left to
  expire;
- a lease about to expire (a quarter of its TTL left, at most 30 s) is not handed out again:
  the next reference gets a new lease, so new connections get fresh credentials;
- :func:`release_leases` revokes every lease the process holds (Vault then runs the role's
  revocation statements, which drop the database user); it runs at interpreter exit too.

Logs name lease ids, roles and TTLs, never credentials; credentials stay in
:class:`pydantic.SecretStr`.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from cassflow.access._secrets import SecretError, reference
from cassflow.access._vault import _hvac, vault_client, vault_failure, vault_namespace

log = logging.getLogger(__name__)

# A lease is renewed when this share of its TTL has passed...
_RENEW_AT = 0.5
# ...and no longer handed out when less than this share of its TTL (at most _MARGIN_CAP s) is
# left, so that a new connection's credentials do not expire under it at once.
_MARGIN_SHARE = 0.25
_MARGIN_CAP = 30.0
# After a failed renewal, try again after this share of the time left (at least 1 s).
_RETRY_SHARE = 0.25


@dataclass(eq=False)
class Lease:
    """One lease of dynamic credentials; its repr shows the lease, never the credentials."""

    lease_id: str
    mount: str
    role: str
    #: The TTL Vault granted first, in seconds (renewals ask for it again).
    ttl: float
    renewable: bool
    #: ``time.monotonic()`` when the lease expires, as of the last issue or renewal.
    expires: float
    #: When the background thread renews it next (``inf``: never).
    renew_due: float
    #: How many renewals succeeded.
    renewals: int = 0
    #: Whether Vault capped a renewal at the role's max_ttl (no more renewals are asked).
    final: bool = False
    credentials: dict[str, SecretStr] = field(default_factory=dict, repr=False)
    client: Any = field(default=None, repr=False)

    @property
    def remaining(self) -> float:
        """Seconds until the lease expires."""
        return self.expires - time.monotonic()

    @property
    def margin(self) -> float:
        """Seconds of life below which the lease is no longer handed out."""
        return min(_MARGIN_CAP, self.ttl * _MARGIN_SHARE)


class LeaseCache:
    """The process's leases of dynamic credentials and the thread that renews them."""

    def __init__(self) -> None:
        self._leases: dict[tuple[str, str, str, str], Lease] = {}
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._atexit = False

    # --- handing out ---------------------------------------------------------------------

    def lease(self, ref: str, mount: str, role: str) -> Lease:
        """The live lease of ``mount``/``role``, issuing one when there is none (or it is old)."""
        client = vault_client(ref)
        key = (str(client.url), vault_namespace(), mount, role)
        with self._cond:
            lease = self._leases.get(key)
            if lease is not None and lease.remaining > lease.margin:
                return lease
            if lease is not None:
                log.info(
                    "vault-db: lease %s ends in %.0f s; issuing a new one for %s/creds/%s",
                    lease.lease_id,
                    max(lease.remaining, 0.0),
                    mount,
                    role,
                )
            # Issued under the lock: two threads resolving a connection's username and
            # password at once must get the same lease, not one each.
            lease = self._issue(ref, client, mount, role)
            self._leases[key] = lease
            self._start()
            self._cond.notify_all()
            return lease

    def _issue(self, ref: str, client: Any, mount: str, role: str) -> Lease:
        hvac = _hvac()
        now = time.monotonic()  # the TTL counts from about now: err on the early side
        try:
            answer = client.secrets.database.generate_credentials(name=role, mount_point=mount)
        except hvac.exceptions.InvalidPath:
            raise SecretError(
                f"{ref}: no database secrets engine role {role!r} on mount {mount!r} at "
                f"{client.url}"
            ) from None
        except Exception as exc:  # Forbidden, the plugin's database error, connection refused
            what = f"issuing credentials of {mount}/creds/{role}"
            raise vault_failure(ref, what, exc, client) from None
        data = answer.get("data") if isinstance(answer, dict) else None
        lease_id = answer.get("lease_id") if isinstance(answer, dict) else None
        if not isinstance(data, dict) or not lease_id:
            raise SecretError(f"{ref}: {mount}/creds/{role} answered without a lease")
        ttl = float(answer.get("lease_duration") or 0)
        renewable = bool(answer.get("renewable")) and ttl > 0
        lease = Lease(
            lease_id=str(lease_id),
            mount=mount,
            role=role,
            ttl=ttl,
            renewable=renewable,
            expires=now + ttl if ttl > 0 else float("inf"),
            renew_due=now + ttl * _RENEW_AT if renewable else float("inf"),
            credentials={str(name): SecretStr(str(value)) for name, value in data.items() if value},
            client=client,
        )
        log.info(
            "vault-db: issued lease %s for %s/creds/%s (ttl %.0f s, %s)",
            lease.lease_id,
            mount,
            role,
            ttl,
            "renewable" if renewable else "not renewable",
        )
        return lease

    def leases(self) -> list[Lease]:
        """The leases the process holds now."""
        with self._cond:
            return list(self._leases.values())

    # --- renewing ------------------------------------------------------------------------

    def _start(self) -> None:
        # Called with the lock held.
        if not self._atexit:
            atexit.register(release_leases)
            self._atexit = True
        if self._thread is None or not self._thread.is_alive():
            self._stopping = False
            self._thread = threading.Thread(
                target=self._run, name="cassflow-vault-leases", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while True:
            due: list[Lease] = []
            with self._cond:
                while not self._stopping:
                    now = time.monotonic()
                    due = [lease for lease in self._leases.values() if lease.renew_due <= now]
                    if due:
                        break
                    soonest = min((x.renew_due for x in self._leases.values()), default=None)
                    timeout = None if soonest in (None, float("inf")) else soonest - now
                    self._cond.wait(timeout)
                if self._stopping:
                    return
            for lease in due:  # network calls without the lock
                self._renew(lease)

    def _renew(self, lease: Lease) -> None:
        increment = max(1, round(lease.ttl))
        asked = time.monotonic()  # the granted TTL counts from about now: err on the early side
        try:
            answer = lease.client.sys.renew_lease(lease_id=lease.lease_id, increment=increment)
        except Exception as exc:  # the lease is gone, Vault is down, a timeout
            self._renewal_failed(lease, exc)
            return
        answer = answer if isinstance(answer, dict) else {}
        granted = float(answer.get("lease_duration") or 0)
        warnings = answer.get("warnings") or []
        with self._cond:
            lease.renewals += 1
            lease.expires = asked + granted
            # Vault grants less than asked only when the role's max_ttl caps the lease (and
            # says so in a warning).
            lease.final = granted < increment or any("max_ttl" in str(w) for w in warnings)
            lease.renew_due = float("inf") if lease.final else asked + granted * _RENEW_AT
        if lease.final:
            log.info(
                "vault-db: lease %s reached its max_ttl and ends in %.0f s; new connections "
                "will get new credentials",
                lease.lease_id,
                granted,
            )
        else:
            log.debug("vault-db: renewed lease %s for %.0f s", lease.lease_id, granted)

    def _renewal_failed(self, lease: Lease, exc: Exception) -> None:
        hvac = _hvac()
        now = time.monotonic()
        with self._cond:
            left = lease.expires - now
            gone = isinstance(exc, hvac.exceptions.InvalidRequest | hvac.exceptions.InvalidPath)
            # Said before it is done: whoever sees the lease gone can read why in the log.
            log.warning(
                "vault-db: cannot renew lease %s (%s); %s",
                lease.lease_id,
                type(exc).__name__,
                "forgot it" if gone or left <= 0 else f"{left:.0f} s left, trying again",
            )
            if gone or left <= 0:
                # Revoked or expired behind our back: forget it, the next reference re-issues.
                lease.renew_due = float("inf")
                lease.expires = min(lease.expires, now)
                for key, held in list(self._leases.items()):
                    if held is lease:
                        del self._leases[key]
            else:
                lease.renew_due = now + max(1.0, left * _RETRY_SHARE)

    # --- releasing -----------------------------------------------------------------------

    def release(self) -> int:
        """Revoke every lease and stop renewing; returns how many leases were revoked."""
        with self._cond:
            leases = list(self._leases.values())
            self._leases.clear()
            self._stopping = True
            self._cond.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
        revoked = 0
        for lease in leases:
            if lease.remaining <= 0:
                continue  # Vault revoked it when it expired
            try:
                lease.client.sys.revoke_lease(lease_id=lease.lease_id)
            except Exception as exc:  # Vault is down: the lease ends at its TTL anyway
                log.warning(
                    "vault-db: cannot revoke lease %s (%s); it ends at its TTL",
                    lease.lease_id,
                    type(exc).__name__,
                )
                continue
            lease.expires = time.monotonic()
            revoked += 1
            log.info("vault-db: revoked lease %s", lease.lease_id)
        return revoked


_CACHE = LeaseCache()


def release_leases() -> int:
    """Revoke every dynamic-credential lease this process holds; returns how many.

    Vault runs each role's revocation statements (dropping the database users). Called at
    interpreter exit as well; a later ``vault-db`` reference issues a new lease.
    """
    return _CACHE.release()


def active_leases() -> list[Lease]:
    """The dynamic-credential leases this process holds now."""
    return _CACHE.leases()


def from_database(path: str, field: str | None) -> str:
    """The ``vault-db`` backend: a field of the role's current lease of credentials."""
    ref = reference("vault-db", path, field)
    mount, sep, role = path.strip("/").rpartition("/creds/")
    if not sep or not mount or not role or "/" in role:
        raise SecretError(f"{ref}: expected <mount>/creds/<role>, e.g. database/creds/loader")
    if field is None:
        raise SecretError(f"{ref}: name the field: #username or #password")
    lease = _CACHE.lease(ref, mount, role)
    value = lease.credentials.get(field)
    if value is None:
        fields = ", ".join(sorted(lease.credentials)) or "none"
        raise SecretError(f"{ref}: lease {lease.lease_id} has no field {field!r} ({fields})")
    return value.get_secret_value()
