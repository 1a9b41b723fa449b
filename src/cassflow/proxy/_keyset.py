"""The keys that verify identity tokens: PEM public keys and JSON Web Key Sets.

A :class:`VerificationKey` knows its key type, id, declared algorithm and curve, and says which
JWS algorithms it may verify, so an RSA key never checks an HS256 token and an ES256 token is
never checked with a P-384 key (RFC 8725 3.1). :class:`KeySet` keeps a JWKS loaded from a file
or URL: cached, loaded again when old or when a token names an unknown ``kid``, never more
often than once per refresh interval. Weak RSA keys (under 2048 bits), symmetric keys in a
JWKS and encryption keys are refused or skipped, with a warning that names the key by kid.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509 import load_pem_x509_certificate

from cassflow.errors import CassflowError
from cassflow.proxy._jwks import JwksFetchError

log = logging.getLogger(__name__)


class KeySetError(CassflowError):
    """Keys cannot be used: a bad key file (``config``) or a key set that cannot be loaded
    (``keys_unavailable``); the message names the file or URL, never key material."""

    def __init__(self, message: str, reason: Literal["config", "keys_unavailable"]) -> None:
        super().__init__(message)
        self.reason: Literal["config", "keys_unavailable"] = reason


PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

#: JWS algorithm -> the JWK key type (``kty``) that may verify it.
KEY_TYPES: Mapping[str, str] = MappingProxyType(
    {
        **{f"{family}{bits}": "RSA" for family in ("RS", "PS") for bits in (256, 384, 512)},
        **{f"ES{bits}": "EC" for bits in (256, 384, 512)},
        "EdDSA": "OKP",
        **{f"HS{bits}": "oct" for bits in (256, 384, 512)},
    }
)
#: The algorithms a verifier may allow; ``none`` is not among them and never will be.
SUPPORTED_ALGORITHMS = frozenset(KEY_TYPES)
_EC_CURVES = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}
_RSA_MIN_BITS = 2048
# RFC 7638 3.2: the members a thumbprint hashes, per key type.
_THUMBPRINT_MEMBERS = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
}
_SAFE_TEXT = re.compile(r"[\x21-\x7e]{1,64}")


def shown(value: object) -> str:
    """A token-supplied value (kid, alg, iss, aud) fit for a message: short printable text."""
    if isinstance(value, str) and _SAFE_TEXT.fullmatch(value):
        return repr(value)
    return "(unprintable)"


@dataclass(frozen=True)
class VerificationKey:
    """One key that may verify signatures: its type, id, declared algorithm and key material."""

    kty: str
    kid: str | None
    alg: str | None
    curve: str | None
    key: Any = field(repr=False)

    def verifies(self, algorithm: str) -> bool:
        """Whether this key may check a signature made with ``algorithm`` (RFC 8725 3.1)."""
        if KEY_TYPES.get(algorithm) != self.kty:
            return False
        if self.alg is not None and self.alg != algorithm:
            return False
        expected_curve = _EC_CURVES.get(algorithm)
        return expected_curve is None or expected_curve == self.curve


def key_thumbprint(public_key: PublicKey) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256, base64url) of ``public_key``: a stable key id."""
    algorithm = jwt.algorithms.get_default_algorithms()[_default_algorithm(public_key)]
    members = json.loads(algorithm.to_jwk(public_key))
    canonical = json.dumps(
        {name: members[name] for name in _THUMBPRINT_MEMBERS[members["kty"]]},
        separators=(",", ":"),
        sort_keys=True,
    )
    return jwt.utils.base64url_encode(hashlib.sha256(canonical.encode()).digest()).decode()


def _default_algorithm(public_key: object) -> str:
    if isinstance(public_key, rsa.RSAPublicKey):
        return "RS256"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        for algorithm, curve in _EC_CURVES.items():
            if public_key.curve.name == curve:
                return algorithm
        raise KeySetError(f"unsupported elliptic curve {public_key.curve.name}", "config")
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "EdDSA"
    if isinstance(public_key, ed448.Ed448PublicKey):
        raise KeySetError("Ed448 keys are not supported (use Ed25519)", "config")
    raise KeySetError(f"unsupported key type {type(public_key).__name__}", "config")


def public_verification_key(public_key: object, kid: str | None) -> VerificationKey:
    """A :class:`VerificationKey` for a public key object; refuses weak or unknown keys."""
    algorithm = _default_algorithm(public_key)
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size < _RSA_MIN_BITS:
        raise KeySetError(
            f"RSA key of {public_key.key_size} bits is too weak (at least {_RSA_MIN_BITS})",
            "config",
        )
    curve = public_key.curve.name if isinstance(public_key, ec.EllipticCurvePublicKey) else None
    return VerificationKey(KEY_TYPES[algorithm], kid, None, curve, public_key)


def load_public_key(path: Path) -> PublicKey:
    """The public key in a PEM file (``PUBLIC KEY`` or an X.509 ``CERTIFICATE``).

    A private key is refused: a verifier needs only the public half, and copying private keys
    to where tokens are checked would let that place mint tokens too.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeySetError(f"public key {path}: cannot read it ({exc.strerror})", "config") from None
    if b"PRIVATE KEY-----" in data:
        raise KeySetError(
            f"public key {path}: holds a private key; give the public key "
            "(openssl pkey -pubout) or the JWKS that cassflow token keygen writes",
            "config",
        )
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            key: object = load_pem_x509_certificate(data).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except ValueError:
        raise KeySetError(
            f"public key {path}: not a PEM public key or certificate", "config"
        ) from None
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        raise KeySetError(f"public key {path}: unsupported key type", "config")
    return key


def parse_jwks(data: bytes, where: str) -> tuple[VerificationKey, ...]:
    """The signature keys of a JWKS document; ``where`` names it in errors and warnings.

    Encryption keys (``use: enc``) are skipped, and so are symmetric (``oct``) keys: HMAC
    secrets come from the secrets chain, never from a plain key file or URL.
    """
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        raise KeySetError(f"{where}: not JSON", "keys_unavailable") from None
    members = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(members, list):
        raise KeySetError(f"{where}: not a JSON Web Key Set (no 'keys' list)", "keys_unavailable")
    keys: list[VerificationKey] = []
    for number, member in enumerate(members, 1):
        key = _jwk(member, f"{where} key {number}")
        if key is not None:
            keys.append(key)
    if not keys:
        raise KeySetError(f"{where}: no usable signature keys", "keys_unavailable")
    return tuple(keys)


def _jwk(member: object, where: str) -> VerificationKey | None:
    if not isinstance(member, dict):
        log.warning("%s: not a JSON object; skipped", where)
        return None
    kid = member.get("kid")
    if kid is not None and not isinstance(kid, str):
        log.warning("%s: kid is not text; skipped", where)
        return None
    name = where if kid is None else f"{where} (kid {shown(kid)})"
    if member.get("use", "sig") != "sig":
        return None
    if member.get("kty") == "oct":
        log.warning("%s: symmetric key skipped; give HMAC secrets as hmac_secrets references", name)
        return None
    declared = member.get("alg")
    if declared is not None and declared not in SUPPORTED_ALGORITHMS:
        log.warning("%s: unsupported algorithm %s; skipped", name, shown(declared))
        return None
    try:
        # PyJWK's messages may quote the key; ours name it by kid only.
        parsed = jwt.PyJWK(member)
        key = public_verification_key(parsed.key, kid)
    except (jwt.PyJWTError, KeySetError, TypeError, ValueError) as exc:
        detail = str(exc) if isinstance(exc, KeySetError) else "not a usable public key"
        log.warning("%s: %s; skipped", name, detail)
        return None
    return VerificationKey(key.kty, kid, declared, key.curve, key.key)


class KeySet:
    """A JWKS loaded from a file or URL: cached, loaded again when old or when a token names an
    unknown kid, but never more often than once per ``interval`` (hostile tokens with random
    kids must not turn the proxy into a load generator against the identity provider)."""

    def __init__(
        self,
        describe: str,
        load: Callable[[], bytes],
        *,
        interval: float,
        max_age: float,
        monotonic: Callable[[], float],
    ) -> None:
        self.describe = describe
        self._load = load
        self._interval = interval
        self._max_age = max_age
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._keys: tuple[VerificationKey, ...] | None = None
        self._loaded_at = 0.0
        self._attempted_at: float | None = None
        self._failure: str | None = None
        self.loads = 0

    def current(self) -> tuple[VerificationKey, ...]:
        """The current keys; loads them first if there are none yet or they are too old."""
        with self._lock:
            now = self._monotonic()
            if self._keys is None:
                if self._may_attempt(now) or self._failure is None:
                    self._reload(now, keep_old=False)
                if self._keys is None:
                    raise KeySetError(
                        f"cannot load the signing keys: {self._failure}", "keys_unavailable"
                    )
            elif now - self._loaded_at >= self._max_age and self._may_attempt(now):
                self._reload(now, keep_old=True)
            return self._keys

    def refresh(self, *, force: bool = False) -> bool:
        """Load the keys again if allowed now (or ``force``); whether they were loaded."""
        with self._lock:
            now = self._monotonic()
            if not force and not self._may_attempt(now):
                return False
            return self._reload(now, keep_old=not force)

    def _may_attempt(self, now: float) -> bool:
        return self._attempted_at is None or now - self._attempted_at >= self._interval

    def _reload(self, now: float, *, keep_old: bool) -> bool:
        self._attempted_at = now
        self.loads += 1
        try:
            keys = parse_jwks(self._load(), self.describe)
        except (KeySetError, JwksFetchError) as exc:
            self._failure = str(exc)
            if keep_old and self._keys is not None:
                log.warning("%s; keeping the %d keys loaded before", exc, len(self._keys))
                return False
            raise KeySetError(f"cannot load the signing keys: {exc}", "keys_unavailable") from None
        self._keys, self._loaded_at, self._failure = keys, now, None
        log.info("loaded %d signature keys from %s", len(keys), self.describe)
        return True
