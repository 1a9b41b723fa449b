"""Local signing keys and development tokens: what ``cassflow token keygen`` and ``issue`` do.

In production an identity provider signs the tokens and the proxy only reads its public keys.
For tests, demos and machines without a provider, cassflow makes its own: a private key (EC
P-256 by default, RSA 3072 or Ed25519) written PKCS#8 PEM with mode 0600, the matching public
JSON Web Key Set (key id = the RFC 7638 thumbprint unless given) for the proxy's
``jwks_file``, and short-lived signed tokens from that key, or from an HMAC secret that comes
from the secrets chain.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from pydantic import SecretStr

from cassflow.proxy._keyset import PublicKey, key_thumbprint
from cassflow.proxy._tokens import TokenError

# Callers import cassflow.proxy._tokens first: without the ``proxy`` extra it raises a
# TokenError that says what to install, where this module would fail on ``import jwt``.

KeyKind = Literal["ec", "rsa", "ed25519"]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

_RSA_BITS = 3072
_HMAC_ALGORITHM = "HS256"
_HMAC_MIN_BYTES = 32
_EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|h|d)?")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def generate_key(kind: KeyKind = "ec") -> PrivateKey:
    """A new private key: EC P-256 (``ec``), RSA 3072 (``rsa``) or Ed25519 (``ed25519``)."""
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS)
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise TokenError(f"unknown key type {kind!r} (expected ec, rsa or ed25519)", "config")


def write_private_key(key: PrivateKey, path: Path, *, overwrite: bool = False) -> None:
    """Write ``key`` to ``path`` as unencrypted PKCS#8 PEM readable by its owner only (0600).

    An existing file is kept (:class:`TokenError`) unless ``overwrite``; then it is replaced
    atomically, so a reader never sees half a key.
    """
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    if overwrite:
        _replace(path, pem, mode=0o600)
        return
    try:
        # O_EXCL: never truncate a key that exists; 0600 from the start, not after a chmod.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise TokenError(f"private key {path} exists already; not overwritten", "config") from None
    except OSError as exc:
        raise TokenError(
            f"private key {path}: cannot create it ({exc.strerror})", "config"
        ) from None
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)


def load_private_key(path: Path) -> PrivateKey:
    """The unencrypted PEM private key in ``path`` (RSA, EC or Ed25519)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TokenError(f"private key {path}: cannot read it ({exc.strerror})", "config") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise TokenError(
            f"private key {path}: encrypted; give an unencrypted key (cassflow token keygen)",
            "config",
        ) from None
    except ValueError:
        raise TokenError(f"private key {path}: not a PEM private key", "config") from None
    if not isinstance(
        key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    ):
        raise TokenError(
            f"private key {path}: unsupported key type (use ec, rsa or ed25519)", "config"
        )
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name not in _EC_ALGORITHMS:
        raise TokenError(f"private key {path}: unsupported curve {key.curve.name}", "config")
    return key


def signing_algorithm(key: PrivateKey | PublicKey) -> str:
    """The JWS algorithm a key signs with: RS256, ES256/384/512 by curve, or EdDSA."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        algorithm = _EC_ALGORITHMS.get(key.curve.name)
        if algorithm is None:
            raise TokenError(f"unsupported elliptic curve {key.curve.name}", "config")
        return algorithm
    return "EdDSA"


def _public(key: PrivateKey | PublicKey) -> PublicKey:
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        return key.public_key()
    return key


def public_jwk(key: PrivateKey | PublicKey, kid: str | None = None) -> dict[str, Any]:
    """The public JWK of ``key`` for a JWKS: ``kid`` (default: its thumbprint), ``use: sig``
    and ``alg``; never any private member."""
    public = _public(key)
    algorithm = signing_algorithm(public)
    jwk: dict[str, Any] = json.loads(
        jwt.algorithms.get_default_algorithms()[algorithm].to_jwk(public)
    )
    jwk.update(kid=kid or key_thumbprint(public), use="sig", alg=algorithm)
    return jwk


def write_jwks(path: Path, jwk: Mapping[str, Any]) -> int:
    """Add ``jwk`` to the JWKS file ``path`` (created if missing), replacing a key with the same
    kid; the number of keys in it now. Keeping the other keys lets a rotation publish the new key
    while tokens signed with the old one stay valid until they expire."""
    keys: list[Any] = []
    if path.exists():
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise TokenError(
                f"JWKS file {path}: cannot read it as JSON ({exc})", "config"
            ) from None
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise TokenError(f"JWKS file {path}: not a JSON Web Key Set (no 'keys' list)", "config")
        keys = [
            member
            for member in document["keys"]
            if not (isinstance(member, dict) and member.get("kid") == jwk.get("kid"))
        ]
    keys.append(dict(jwk))
    text = json.dumps({"keys": keys}, indent=2) + "\n"
    _replace(path, text.encode(), mode=0o644)
    return len(keys)


def _replace(path: Path, data: bytes, *, mode: int) -> None:
    """Write ``data`` to ``path`` atomically (a temporary file in the same folder, renamed)."""
    try:
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as exc:
        raise TokenError(f"{path}: cannot write it ({exc.strerror})", "config") from None
    try:
        with os.fdopen(descriptor, "wb") as file:
            os.chmod(temporary, mode)
            file.write(data)
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise TokenError(f"{path}: cannot write it ({exc.strerror})", "config") from None


def parse_ttl(text: str) -> float:
    """Seconds from ``90s``, ``15m``, ``1h``, ``2d`` or a plain number of seconds; above zero."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a duration: {text!r} (expected e.g. 90s, 15m, 1h, 2d)")
    seconds = float(match[1]) * _UNITS[match[2] or "s"]
    if seconds <= 0:
        raise ValueError(f"not a positive duration: {text!r}")
    return seconds


def issue_token(
    key: PrivateKey | SecretStr,
    *,
    subject: str,
    issuer: str,
    audience: str | list[str],
    ttl: float,
    groups: Iterable[str] = (),
    kid: str | None = None,
    claims: Mapping[str, Any] | None = None,
    now: float | None = None,
) -> str:
    """A signed JWT for ``subject``: RS256/ES256/EdDSA from a private key (``kid`` defaults to
    its thumbprint, as :func:`public_jwk` publishes it), HS256 from an HMAC secret (at least 32
    bytes). Valid from ``now`` (default: the current time) for ``ttl`` seconds; ``claims`` are
    added last (tests use them to make unusual tokens)."""
    if not subject:
        raise TokenError("a token needs a subject", "config")
    issued = int(time.time() if now is None else now)
    payload: dict[str, Any] = {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "iat": issued,
        "nbf": issued,
        "exp": issued + int(ttl),
        "jti": uuid.uuid4().hex,
    }
    group_list = sorted(set(groups))
    if group_list:
        payload["groups"] = group_list
    payload.update(claims or {})
    headers: dict[str, Any] = {"typ": "JWT"}
    if isinstance(key, SecretStr):
        secret = key.get_secret_value().encode()
        if len(secret) < _HMAC_MIN_BYTES:
            raise TokenError(
                f"HMAC secret of {len(secret)} bytes is too short for {_HMAC_ALGORITHM} "
                f"(at least {_HMAC_MIN_BYTES})",
                "config",
            )
        if kid:
            headers["kid"] = kid
        return jwt.encode(payload, secret, algorithm=_HMAC_ALGORITHM, headers=headers)
    headers["kid"] = kid or key_thumbprint(key.public_key())
    return jwt.encode(payload, key, algorithm=signing_algorithm(key), headers=headers)
