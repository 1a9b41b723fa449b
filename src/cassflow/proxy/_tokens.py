"""Identity tokens: turning the signed JWT a client logs in with into an :class:`Identity`.

A client of the proxy authenticates with SASL PLAIN; its password is a signed identity token
(an OIDC ID token or any JWT). :class:`TokenVerifier` checks it the way :class:`TokenSettings`
says: the signature against a JSON Web Key Set (a file, or a URL fetched with a bounded
timeout, cached, fetched again on an unknown ``kid`` at most once per refresh interval), PEM
public keys, or HMAC secrets resolved through the secrets chain; the algorithm against an
allow-list that never holds ``none`` and against the key's type (an RSA key never verifies an
HS256 token: no algorithm confusion); then issuer, audience, expiry and not-before (with
leeway). The subject and group claims become the identity.

Every refusal is a :class:`TokenError` with a short reason and a machine-readable
:attr:`TokenError.reason`; neither ever holds the token's text, a signature or a secret.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from cassflow.access import has_secret_references, resolve_secrets, tls_context
from cassflow.errors import CassflowError
from cassflow.proxy._jwks import check_url, fetch_jwks

#: Why a token was refused (or could not be checked), for audit lines and metrics.
Reason = Literal[
    "malformed",
    "unsigned",
    "algorithm",
    "unknown_key",
    "bad_signature",
    "expired",
    "not_yet_valid",
    "audience",
    "issuer",
    "claims",
    "keys_unavailable",
    "config",
]


class TokenError(CassflowError):
    """A token is refused, or the keys to check or sign tokens cannot be used.

    The message is short and safe to send to the client and to log: it never holds the token,
    a signature or a secret. :attr:`reason` says which check failed.
    """

    def __init__(self, message: str, reason: Reason) -> None:
        super().__init__(message)
        self.reason: Reason = reason


# PyJWT and cryptography come with the ``proxy`` extra. Without them nothing here can work, so
# importing this module says how to install them instead of failing with a bare ImportError.
try:
    import jwt

    from cassflow.proxy._keyset import (
        KEY_TYPES,
        SUPPORTED_ALGORITHMS,
        KeySet,
        KeySetError,
        VerificationKey,
        key_thumbprint,
        load_public_key,
        public_verification_key,
        shown,
    )
except ModuleNotFoundError as _missing:  # pragma: no cover - depends on the installed extras
    raise TokenError(
        f"identity tokens need {_missing.name}: pip install 'cassflow[proxy]'", "config"
    ) from None

log = logging.getLogger(__name__)

# Real ID tokens are a few kB; anything far larger is not worth parsing before a login.
_MAX_TOKEN_CHARS = 16 * 1024
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
# RFC 7518 3.2: an HMAC key at least as long as the hash's output.
_HMAC_MIN_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}


@contextmanager
def _as_token_error() -> Iterator[None]:
    """Key problems reach callers as :class:`TokenError`, with the same message and reason."""
    try:
        yield
    except KeySetError as exc:
        raise TokenError(str(exc), exc.reason) from None


@dataclass(frozen=True)
class Identity:
    """Who a verified token says the client is.

    Two identities are equal when subject, groups, issuer and expiry are; ``claims`` (all of
    the token's payload, read-only) stays out of comparisons and out of the repr.
    """

    subject: str
    groups: frozenset[str]
    issuer: str
    expires_at: datetime | None
    claims: Mapping[str, Any] = field(
        default_factory=lambda: MappingProxyType({}), repr=False, compare=False
    )


class TokenSettings(BaseModel):
    """How tokens are checked: the ``tokens:`` block of the proxy's configuration.

    At least one key source: ``jwks_file`` or ``jwks_url`` (not both), ``public_keys`` (PEM
    public keys or certificates), ``hmac_secrets`` (``${secret:...}`` references, never the
    secrets themselves). ``algorithms`` defaults to RS256, ES256 and EdDSA when there are
    public keys, plus HS256 when there are HMAC secrets.
    """

    # A secret pasted where a reference belongs must not come back in the error message.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    issuer: str | list[str] = Field(description="Required issuer (iss); a list: any of them.")
    audience: str | list[str] = Field(description="Accepted audience(s) (aud); one must match.")
    algorithms: list[str] | None = Field(
        default=None, description="Allowed JWS algorithms; never 'none'."
    )
    jwks_file: Path | None = Field(default=None, description="A JSON Web Key Set file.")
    jwks_url: str | None = Field(default=None, description="An http(s) URL of a JWKS.")
    jwks_ca_file: Path | None = Field(
        default=None, description="CA certificate(s) to trust for an https jwks_url."
    )
    jwks_timeout: float = Field(default=5.0, gt=0, le=60, description="Seconds per JWKS fetch.")
    jwks_refresh_interval: float = Field(
        default=60.0,
        ge=0,
        description="Least seconds between two loads of the key set (unknown kid, max age).",
    )
    jwks_max_age: float = Field(
        default=3600.0, gt=0, description="Seconds after which the key set is loaded again."
    )
    public_keys: list[Path] = Field(default_factory=list, description="PEM public keys/certs.")
    hmac_secrets: list[SecretStr] = Field(
        default_factory=list, description="${secret:...} references to HMAC secrets."
    )
    leeway: float = Field(default=30.0, ge=0, le=600, description="Clock skew allowed, seconds.")
    subject_claim: str = Field(default="sub", min_length=1)
    groups_claim: str = Field(default="groups", min_length=1)
    require_expiry: bool = Field(default=True, description="Refuse tokens without exp.")

    @field_validator("issuer", "audience")
    @classmethod
    def _not_empty(cls, value: str | list[str]) -> str | list[str]:
        values = [value] if isinstance(value, str) else value
        if not values or not all(values):
            raise ValueError("must be a non-empty text or a non-empty list of non-empty texts")
        return value

    @field_validator("algorithms")
    @classmethod
    def _known_algorithms(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("must allow at least one algorithm")
        for name in value:
            if name.lower() == "none":
                raise ValueError("'none' (unsigned tokens) can never be allowed")
            if name not in SUPPORTED_ALGORITHMS:
                known = ", ".join(sorted(SUPPORTED_ALGORITHMS))
                raise ValueError(f"unsupported algorithm {name!r} (supported: {known})")
        return value

    @field_validator("jwks_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return None if value is None else check_url(value)

    @field_validator("hmac_secrets")
    @classmethod
    def _references_only(cls, value: list[SecretStr]) -> list[SecretStr]:
        for number, secret in enumerate(value, 1):
            if not has_secret_references(secret):
                raise ValueError(
                    f"entry {number} must be a ${{secret:...}} reference, not the secret itself"
                )
        return value

    @model_validator(mode="after")
    def _keys_for_algorithms(self) -> TokenSettings:
        if self.jwks_file is not None and self.jwks_url is not None:
            raise ValueError("give jwks_file or jwks_url, not both")
        if self.jwks_ca_file is not None and self.jwks_url is None:
            raise ValueError("jwks_ca_file needs jwks_url")
        public = self.jwks_file is not None or self.jwks_url is not None or self.public_keys
        if not public and not self.hmac_secrets:
            raise ValueError(
                "no keys to check tokens with: give jwks_file, jwks_url, public_keys "
                "or hmac_secrets"
            )
        for name in self.algorithms or ():
            if KEY_TYPES[name] == "oct" and not self.hmac_secrets:
                raise ValueError(f"algorithm {name} allowed but no hmac_secrets given")
            if KEY_TYPES[name] != "oct" and not public:
                raise ValueError(
                    f"algorithm {name} allowed but no jwks_file, jwks_url or public_keys given"
                )
        if (
            self.hmac_secrets
            and self.algorithms is not None
            and not any(KEY_TYPES[name] == "oct" for name in self.algorithms)
        ):
            raise ValueError("hmac_secrets given but no HS algorithm allowed")
        return self

    def allowed_algorithms(self) -> tuple[str, ...]:
        """The algorithms tokens may use: the configured ones, or the defaults for the keys."""
        if self.algorithms is not None:
            return tuple(self.algorithms)
        public = self.jwks_file is not None or self.jwks_url is not None or self.public_keys
        chosen = ["RS256", "ES256", "EdDSA"] if public else []
        return (*chosen, *(["HS256"] if self.hmac_secrets else []))


class TokenVerifier:
    """Checks identity tokens against :class:`TokenSettings`; :meth:`verify` is thread-safe.

    Builds raise :class:`TokenError` (reason ``config``) for unusable key files or too short
    HMAC secrets, and :class:`cassflow.access.SecretError` for unresolvable references. A JWKS
    is loaded on first use (or by :meth:`refresh_keys`, to fail early at start-up).
    """

    def __init__(
        self, settings: TokenSettings, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self._algorithms = settings.allowed_algorithms()
        with _as_token_error():
            self._static = self._static_keys(settings)
        self._key_set = self._jwks(settings, monotonic)
        audience = settings.audience
        self._audience: list[str] = [audience] if isinstance(audience, str) else list(audience)
        issuer = settings.issuer
        self._issuer: list[str] = [issuer] if isinstance(issuer, str) else list(issuer)

    def _static_keys(self, settings: TokenSettings) -> tuple[VerificationKey, ...]:
        keys: list[VerificationKey] = []
        for path in settings.public_keys:
            public_key = load_public_key(path)
            try:
                keys.append(public_verification_key(public_key, key_thumbprint(public_key)))
            except KeySetError as exc:
                raise KeySetError(f"public key {path}: {exc}", "config") from None
        hmac_algorithms = [a for a in self._algorithms if KEY_TYPES[a] == "oct"]
        needed = max((_HMAC_MIN_BYTES[a] for a in hmac_algorithms), default=0)
        for number, reference in enumerate(settings.hmac_secrets, 1):
            resolved = resolve_secrets(reference)
            secret = b"" if resolved is None else resolved.get_secret_value().encode()
            if len(secret) < needed:
                raise TokenError(
                    f"hmac_secrets entry {number}: {len(secret)} bytes, but "
                    f"{', '.join(hmac_algorithms)} needs at least {needed}",
                    "config",
                )
            keys.append(VerificationKey("oct", None, None, None, secret))
        return tuple(keys)

    @staticmethod
    def _jwks(settings: TokenSettings, monotonic: Callable[[], float]) -> KeySet | None:
        if settings.jwks_file is not None:
            path = settings.jwks_file

            def read_file() -> bytes:
                try:
                    return path.read_bytes()
                except OSError as exc:
                    raise KeySetError(
                        f"JWKS file {path}: cannot read it ({exc.strerror})", "keys_unavailable"
                    ) from None

            describe, load = f"JWKS file {path}", read_file
        elif settings.jwks_url is not None:
            url, timeout = settings.jwks_url, settings.jwks_timeout
            context: ssl.SSLContext | None = None
            if settings.jwks_ca_file is not None:
                context = tls_context(settings.jwks_ca_file)

            def fetch() -> bytes:
                return fetch_jwks(url, timeout=timeout, ssl_context=context)

            describe, load = f"JWKS URL {url}", fetch
        else:
            return None
        return KeySet(
            describe,
            load,
            interval=settings.jwks_refresh_interval,
            max_age=settings.jwks_max_age,
            monotonic=monotonic,
        )

    def refresh_keys(self) -> int:
        """Load the JWKS now, whatever the refresh interval; the number of usable keys.

        Raises :class:`TokenError` (reason ``keys_unavailable``) when it cannot be loaded.
        """
        if self._key_set is None:
            return len(self._static)
        with _as_token_error():
            self._key_set.refresh(force=True)
            return len(self._key_set.current()) + len(self._static)

    def authenticate(self, username: str, password: str) -> Identity:  # noqa: ARG002
        """The identity of a SASL PLAIN login whose password is a token.

        The username is not trusted for anything (drivers and cqlsh insist on sending one);
        the identity comes from the verified token alone.
        """
        return self.verify(password)

    def verify(self, token: str) -> Identity:
        """The identity ``token`` proves, or :class:`TokenError` saying why it proves none."""
        if not isinstance(token, str):
            raise TokenError("malformed token: not text", "malformed")
        token = token.strip()
        if not token:
            raise TokenError("malformed token: empty", "malformed")
        if len(token) > _MAX_TOKEN_CHARS:
            raise TokenError(
                f"malformed token: longer than {_MAX_TOKEN_CHARS} characters", "malformed"
            )
        parts = token.count(".") + 1
        if parts == 5:
            raise TokenError(
                "encrypted tokens (JWE) are not supported; send a signed JWT", "malformed"
            )
        if parts != 3:
            raise TokenError(
                "malformed token: not a JWT (expected header.payload.signature)", "malformed"
            )
        header = _header(token)
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or not algorithm:
            raise TokenError("malformed token: the header names no algorithm (alg)", "malformed")
        if algorithm.lower() == "none":
            raise TokenError("unsigned token (alg none) refused", "unsigned")
        if algorithm not in self._algorithms:
            allowed = ", ".join(self._algorithms)
            raise TokenError(
                f"algorithm {shown(algorithm)} not allowed (allowed: {allowed})", "algorithm"
            )
        if "crit" in header or "b64" in header:
            # Critical extensions (RFC 7515 4.1.11), unencoded payloads among them, change what
            # the signature covers; identity tokens never need them.
            raise TokenError(
                "malformed token: critical header extensions not supported", "malformed"
            )
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise TokenError("malformed token: the key id (kid) is not text", "malformed")
        with _as_token_error():
            candidates = self._candidates(algorithm, kid)
        payload = self._decode(token, algorithm, candidates)
        return self._identity(payload)

    def _candidates(self, algorithm: str, kid: str | None) -> list[VerificationKey]:
        static = [key for key in self._static if key.verifies(algorithm)]
        if kid is not None:
            # A static key with the token's kid is the one; otherwise the few static keys
            # are tried in turn (a kid chosen at issue time need not be their thumbprint).
            named = [key for key in static if key.kid == kid]
            static = named or static
        if self._key_set is None:
            found = static
        elif kid is None:
            found = [key for key in self._key_set.current() if key.verifies(algorithm)] + static
        else:
            found = self._by_kid(algorithm, kid) or static
        if found:
            return found
        if kid is not None and self._key_set is not None:
            raise TokenError(f"unknown signing key (kid {shown(kid)})", "unknown_key")
        raise TokenError(f"no configured key verifies {algorithm} tokens", "unknown_key")

    def _by_kid(self, algorithm: str, kid: str) -> list[VerificationKey]:
        assert self._key_set is not None
        named = [key for key in self._key_set.current() if key.kid == kid]
        if not named and self._key_set.refresh():
            # A kid never seen: the provider may have rotated its keys since the last load.
            named = [key for key in self._key_set.current() if key.kid == kid]
        usable = [key for key in named if key.verifies(algorithm)]
        if named and not usable:
            raise TokenError(
                f"key {shown(kid)} cannot verify {algorithm} tokens (it is a {named[0].kty} key"
                f"{'' if named[0].alg is None else ' for ' + named[0].alg})",
                "algorithm",
            )
        return usable

    def _decode(
        self, token: str, algorithm: str, candidates: Sequence[VerificationKey]
    ) -> dict[str, Any]:
        required = ["exp"] if self.settings.require_expiry else []
        for key in candidates:
            try:
                payload: dict[str, Any] = jwt.decode(
                    token,
                    key.key,
                    algorithms=[algorithm],
                    audience=self._audience,
                    # One issuer as text: PyJWT before 2.8 took no list here.
                    issuer=self._issuer[0] if len(self._issuer) == 1 else self._issuer,
                    leeway=self.settings.leeway,
                    # sub is checked below against subject_claim, whichever claim that is.
                    options={"require": required, "verify_sub": False, "verify_jti": False},
                )
            except (jwt.InvalidSignatureError, jwt.InvalidKeyError):
                continue
            except jwt.PyJWTError as exc:
                raise self._claims_error(token, exc) from None
            return payload
        raise TokenError(
            "bad signature: the token was not signed by a trusted key", "bad_signature"
        )

    def _claims_error(self, token: str, exc: jwt.PyJWTError) -> TokenError:
        """The refusal for a token whose signature held but whose claims did not."""
        try:
            claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            claims = {}
        if isinstance(exc, jwt.ExpiredSignatureError):
            return TokenError(f"token expired{_at(claims.get('exp'))}", "expired")
        if isinstance(exc, jwt.ImmatureSignatureError):
            moment = claims.get("nbf") if "nbf" in claims else claims.get("iat")
            return TokenError(f"token not yet valid{_until(moment)}", "not_yet_valid")
        if isinstance(exc, jwt.InvalidAudienceError) or (
            isinstance(exc, jwt.MissingRequiredClaimError) and exc.claim == "aud"
        ):
            got = "none" if "aud" not in claims else _shown_list(claims["aud"])
            return TokenError(
                f"wrong audience: token is for {got}, expected {_listing(self._audience)}",
                "audience",
            )
        if isinstance(exc, jwt.InvalidIssuerError) or (
            isinstance(exc, jwt.MissingRequiredClaimError) and exc.claim == "iss"
        ):
            got = "none" if "iss" not in claims else shown(claims["iss"])
            return TokenError(
                f"wrong issuer: token is from {got}, expected {_listing(self._issuer)}", "issuer"
            )
        if isinstance(exc, jwt.MissingRequiredClaimError):
            return TokenError(f"token has no {exc.claim} claim", "claims")
        if isinstance(exc, jwt.InvalidIssuedAtError):
            return TokenError("token claim iat is not a number", "claims")
        if isinstance(exc, jwt.DecodeError):
            # The payload is not base64url JSON, or a time claim is not a number.
            return TokenError("malformed token: the payload's claims cannot be read", "malformed")
        return TokenError("malformed token: refused by the JWT checks", "malformed")

    def _identity(self, payload: dict[str, Any]) -> Identity:
        name = self.settings.subject_claim
        subject = _claim(payload, name)
        if not isinstance(subject, str) or not subject.strip():
            raise TokenError(f"token has no subject (claim {name!r} with text)", "claims")
        if not subject.isprintable():
            raise TokenError(f"token subject (claim {name!r}) holds control characters", "claims")
        groups = _groups(_claim(payload, self.settings.groups_claim), self.settings.groups_claim)
        expires = payload.get("exp")
        expires_at = None if expires is None else _moment(expires)
        if expires is not None and expires_at is None:
            raise TokenError("token claim exp is not a time", "claims")
        return Identity(
            subject=subject,
            groups=groups,
            issuer=str(payload.get("iss", "")),
            expires_at=expires_at,
            claims=MappingProxyType(payload),
        )

    def __repr__(self) -> str:
        sources = []
        if self._key_set is not None:
            sources.append(self._key_set.describe)
        if self.settings.public_keys:
            sources.append(f"{len(self.settings.public_keys)} public key file(s)")
        if self.settings.hmac_secrets:
            sources.append(f"{len(self.settings.hmac_secrets)} HMAC secret(s)")
        return (
            f"TokenVerifier(issuer={_listing(self._issuer)}, audience={_listing(self._audience)}, "
            f"algorithms={list(self._algorithms)}, keys={'; '.join(sources)})"
        )


def _header(token: str) -> dict[str, Any]:
    """The JOSE header, read here rather than by PyJWT so that each problem gets its own
    reason (PyJWT refuses a non-text kid or a crit member as a header it cannot parse)."""
    segment = token.split(".", 1)[0]
    try:
        if not _BASE64URL.fullmatch(segment):
            raise ValueError
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, RecursionError):
        header = None
    if not isinstance(header, dict):
        raise TokenError("malformed token: the header is not base64url JSON", "malformed")
    return header


def _claim(payload: Mapping[str, Any], name: str) -> Any:
    """A claim by name; a dotted name not present as such walks nested objects
    (``realm_access.roles``), while names that hold dots (Auth0's URL claims) match first."""
    if name in payload:
        return payload[name]
    value: Any = payload
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _groups(value: Any, name: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return frozenset(item for item in value if item)
    raise TokenError(
        f"token claim {name!r} is neither a list of texts nor a space-separated text", "claims"
    )


def _moment(value: Any) -> datetime | None:
    """A NumericDate claim as a UTC datetime, or None when it is not one datetime can hold."""
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _at(value: Any) -> str:
    moment = _moment(value)
    return "" if moment is None else f" at {moment.isoformat()}"


def _until(value: Any) -> str:
    moment = _moment(value)
    return "" if moment is None else f" until {moment.isoformat()}"


def _shown_list(value: Any) -> str:
    values: Iterable[Any] = value if isinstance(value, list) else [value]
    return "[" + ", ".join(shown(item) for item in values) + "]"


def _listing(values: Sequence[str]) -> str:
    return values[0] if len(values) == 1 else "one of " + ", ".join(values)
