"""Identity tokens: what the proxy accepts as a login and why it refuses the rest.

Real keys (cryptography), real PyJWT tokens, a real JWKS file and a JWKS served over HTTP by
a local server; the ``cassflow token`` commands run as the installed console script.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import ssl
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from pydantic import SecretStr, ValidationError

from cassflow.proxy import Identity, TokenError, TokenSettings, TokenVerifier
from cassflow.proxy._keys import (
    generate_key,
    issue_token,
    load_private_key,
    parse_ttl,
    public_jwk,
    write_jwks,
    write_private_key,
)
from commands import run_cassflow

ISSUER = "https://idp.example.test/realms/data"
AUDIENCE = "cassflow-proxy"
HMAC_ENV = "CF_TEST_PROXY_HMAC"
HMAC_SECRET = "hmac-secret-for-tests-0123456789-abcdef"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segments(token: str) -> list[str]:
    """The parts of a token long enough that finding one in a message means it leaked."""
    return [token, *(part for part in token.split(".") if len(part) > 8)]


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    return {
        "ec": generate_key("ec"),
        "rsa": generate_key("rsa"),
        "ed25519": generate_key("ed25519"),
        "forger": generate_key("ec"),
    }


@pytest.fixture(scope="module")
def jwks_file(keys: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("jwks") / "jwks.json"
    for kind in ("ec", "rsa", "ed25519"):
        write_jwks(path, public_jwk(keys[kind]))
    return path


def _settings(**fields: Any) -> TokenSettings:
    return TokenSettings(**{"issuer": ISSUER, "audience": AUDIENCE, **fields})


@pytest.fixture(scope="module")
def verifier(jwks_file: Path) -> TokenVerifier:
    return TokenVerifier(_settings(jwks_file=jwks_file))


def _mint(key: Any, **fields: Any) -> str:
    options: dict[str, Any] = {
        "subject": "alice",
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "ttl": 300,
        **fields,
    }
    return issue_token(key, **options)


def _unsigned(payload: dict[str, Any], alg: str = "none") -> str:
    header = _b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(payload).encode())}."


def _hmac_signed(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "iat": now, "exp": now + 300, **extra}


# -- accepted tokens ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ec", "rsa", "ed25519"])
def test_a_valid_token_becomes_an_identity_with_groups(
    kind: str, keys: dict[str, Any], verifier: TokenVerifier
) -> None:
    before = int(time.time())
    token = _mint(keys[kind], groups=["analysts", "loaders"], claims={"email": "a@x.test"})

    identity = verifier.verify(token)

    assert identity.subject == "alice"
    assert identity.groups == frozenset({"analysts", "loaders"})
    assert identity.issuer == ISSUER
    assert identity.expires_at is not None
    assert before + 300 <= identity.expires_at.timestamp() <= time.time() + 300
    assert identity.claims["email"] == "a@x.test"
    # The repr names who, never the claims (nor, since it never holds it, the token).
    assert "a@x.test" not in repr(identity)
    assert all(part not in repr(identity) for part in _segments(token))
    assert identity == verifier.verify(f"  {token}\n")  # drivers may pad; hashable and equal
    assert len({identity, verifier.authenticate("ignored-username", token)}) == 1


def test_group_and_subject_claims_in_the_shapes_providers_send(
    keys: dict[str, Any], jwks_file: Path
) -> None:
    default = TokenVerifier(_settings(jwks_file=jwks_file))
    spaced = _mint(keys["ec"], claims={"groups": "analysts  ops"})
    assert default.verify(spaced).groups == {"analysts", "ops"}
    assert default.verify(_mint(keys["ec"])).groups == frozenset()

    keycloak = TokenVerifier(_settings(jwks_file=jwks_file, groups_claim="realm_access.roles"))
    nested = _mint(keys["ec"], claims={"realm_access": {"roles": ["admins"]}})
    assert keycloak.verify(nested).groups == {"admins"}

    auth0 = TokenVerifier(
        _settings(
            jwks_file=jwks_file,
            groups_claim="https://cassflow.test/groups",
            subject_claim="email",
        )
    )
    token = _mint(
        keys["ec"], claims={"https://cassflow.test/groups": ["eng"], "email": "bob@x.test"}
    )
    identity = auth0.verify(token)
    assert (identity.subject, identity.groups) == ("bob@x.test", {"eng"})

    with pytest.raises(TokenError, match="neither a list of texts") as caught:
        default.verify(_mint(keys["ec"], claims={"groups": {"a": 1}}))
    assert caught.value.reason == "claims"


def test_an_issuer_list_accepts_any_of_its_issuers(keys: dict[str, Any], jwks_file: Path) -> None:
    verifier = TokenVerifier(_settings(jwks_file=jwks_file, issuer=["https://a.test", ISSUER]))

    assert verifier.verify(_mint(keys["ec"])).issuer == ISSUER
    with pytest.raises(TokenError, match=r"expected one of https://a\.test, ") as caught:
        verifier.verify(_mint(keys["ec"], issuer="https://b.test"))
    assert caught.value.reason == "issuer"


def test_leeway_accepts_a_token_just_expired_and_refuses_it_without(
    keys: dict[str, Any], jwks_file: Path
) -> None:
    token = _mint(keys["ec"], ttl=60, now=time.time() - 70)  # expired 10 s ago

    assert TokenVerifier(_settings(jwks_file=jwks_file, leeway=30)).verify(token).subject == "alice"
    with pytest.raises(TokenError) as caught:
        TokenVerifier(_settings(jwks_file=jwks_file, leeway=0)).verify(token)
    assert caught.value.reason == "expired"


# -- refused tokens -------------------------------------------------------------------------


def _refusals(keys: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(case, token, reason, words the message holds) for tokens the proxy must refuse."""
    ec_kid = public_jwk(keys["ec"])["kid"]
    rsa_kid = public_jwk(keys["rsa"])["kid"]
    rsa_public_pem = (
        keys["rsa"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    signed = _mint(keys["ec"])
    header, payload, signature = signed.split(".")
    ec_header = json.loads(base64.urlsafe_b64decode(header + "=="))
    return [
        ("forged with another key", _mint(keys["forger"], kid=ec_kid), "bad_signature",
         "bad signature"),
        ("forged claims", f"{header}.{_b64(json.dumps(_claims()).encode())}.{signature}",
         "bad_signature", "bad signature"),
        ("expired", _mint(keys["ec"], ttl=60, now=time.time() - 3600), "expired",
         "token expired at"),
        ("not yet valid", _mint(keys["ec"], now=time.time() + 3600), "not_yet_valid",
         "not yet valid until"),
        ("wrong audience", _mint(keys["ec"], audience="other-service"), "audience",
         "wrong audience: token is for ['other-service'], expected cassflow-proxy"),
        ("no audience", _mint(keys["ec"], claims={"aud": None}), "audience", "wrong audience"),
        ("wrong issuer", _mint(keys["ec"], issuer="https://evil.test"), "issuer",
         "wrong issuer: token is from 'https://evil.test'"),
        ("unsigned alg none", _unsigned(_claims()), "unsigned", "alg none"),
        ("unsigned alg None", _unsigned(_claims(), alg="None"), "unsigned", "alg none"),
        ("HS256 signed with the RSA public key",
         _hmac_signed({"alg": "HS256", "kid": rsa_kid}, _claims(), rsa_public_pem),
         "algorithm", "algorithm 'HS256' not allowed"),
        ("alg changed to ES384", ".".join(
            [_b64(json.dumps({**ec_header, "alg": "ES384"}).encode()), payload, signature]),
         "algorithm", "algorithm 'ES384' not allowed"),
        ("RSA key named for an ES256 token", _mint(keys["ec"], kid=rsa_kid), "algorithm",
         "cannot verify ES256 tokens"),
        ("unknown kid", _mint(keys["forger"], kid="retired-2024"), "unknown_key",
         "unknown signing key (kid 'retired-2024')"),
        ("no expiry", _mint(keys["ec"], claims={"exp": None}), "claims", "no exp claim"),
        ("no subject", _mint(keys["ec"], claims={"sub": ""}), "claims", "no subject"),
        ("empty", "", "malformed", "empty"),
        ("not a JWT", "s3cr3t-password", "malformed", "not a JWT"),
        ("two parts", "abc.def", "malformed", "not a JWT"),
        ("garbage parts", "abc.def.ghi", "malformed", "header is not base64url JSON"),
        ("encrypted (JWE)", "a.b.c.d.e", "malformed", "JWE"),
        ("too long", f"{header}.{'A' * 20000}.{signature}", "malformed", "longer than"),
        ("no alg", f"{_b64(b'{}')}.{payload}.{signature}", "malformed", "no algorithm"),
        ("kid not text", ".".join(
            [_b64(json.dumps({"alg": "ES256", "kid": 7}).encode()), payload, signature]),
         "malformed", "kid"),
        ("critical extension", ".".join(
            [_b64(json.dumps({**ec_header, "crit": ["exp"]}).encode()), payload, signature]),
         "malformed", "critical header"),
    ]  # fmt: skip


def test_every_bad_token_is_refused_with_its_reason_and_never_echoed(
    keys: dict[str, Any], verifier: TokenVerifier, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    failures = []
    for case, token, reason, words in _refusals(keys):
        try:
            identity = verifier.verify(token)
        except TokenError as exc:
            message = str(exc)
            if exc.reason != reason or words not in message:
                failures.append(f"{case}: {exc.reason}: {message}")
            leaked = [part for part in _segments(token) if part and part in message]
            if leaked:
                failures.append(f"{case}: message echoes the token: {message}")
        else:
            failures.append(f"{case}: accepted as {identity}")
    assert not failures, "\n".join(failures)
    for case, token, _, _ in _refusals(keys):
        assert not any(part and part in caplog.text for part in _segments(token)), case


def test_a_payload_that_is_not_json_is_malformed_even_when_signed(
    keys: dict[str, Any], verifier: TokenVerifier
) -> None:
    import jwt

    kid = public_jwk(keys["ec"])["kid"]
    token = jwt.api_jws.encode(b"not json", keys["ec"], algorithm="ES256", headers={"kid": kid})

    with pytest.raises(TokenError, match="payload") as caught:
        verifier.verify(token)
    assert caught.value.reason == "malformed"


def test_hs256_allowed_beside_rsa_still_refuses_the_public_key_as_secret(
    keys: dict[str, Any], jwks_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(HMAC_ENV, HMAC_SECRET)
    both = TokenVerifier(
        _settings(
            jwks_file=jwks_file,
            hmac_secrets=[f"${{secret:env:{HMAC_ENV}}}"],
            algorithms=["RS256", "HS256"],
        )
    )
    rsa_public_pem = (
        keys["rsa"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    confused = _hmac_signed({"alg": "HS256", "typ": "JWT"}, _claims(), rsa_public_pem)

    with pytest.raises(TokenError) as caught:
        both.verify(confused)
    assert caught.value.reason == "bad_signature"
    assert both.verify(_mint(SecretStr(HMAC_SECRET), groups=["ops"])).groups == {"ops"}
    assert both.verify(_mint(keys["rsa"])).subject == "alice"
    assert HMAC_SECRET not in repr(both)


# -- configuration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"jwks_file": "j.json", "algorithms": ["none"]}, "'none' (unsigned tokens) can never"),
        ({"jwks_file": "j.json", "algorithms": ["NONE"]}, "can never be allowed"),
        ({"jwks_file": "j.json", "algorithms": ["HS1"]}, "unsupported algorithm 'HS1'"),
        ({}, "no keys to check tokens with"),
        ({"jwks_file": "j.json", "jwks_url": "http://h/j"}, "not both"),
        ({"jwks_url": "file:///etc/jwks.json"}, "not an http(s) URL"),
        ({"jwks_file": "j.json", "algorithms": ["HS256"]}, "no hmac_secrets given"),
        ({"hmac_secrets": ["plain-secret-in-the-file"]}, "must be a ${secret:...} reference"),
        ({"hmac_secrets": ["${secret:env:X}"], "algorithms": ["RS256"]}, "no jwks_file"),
        ({"jwks_file": "j.json", "leeway": -1}, "greater than or equal to 0"),
        ({"jwks_file": "j.json", "tokens": 1}, "Extra inputs are not permitted"),
    ],
)
def test_settings_refuse_unsafe_or_incomplete_configuration(
    fields: dict[str, Any], words: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        _settings(**fields)
    assert words in str(caught.value)
    assert "plain-secret-in-the-file" not in str(caught.value)


def test_key_problems_are_named_without_their_secrets(
    tmp_path: Path, keys: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(HMAC_ENV, "short-secret")
    with pytest.raises(TokenError, match="12 bytes, but HS256 needs at least 32") as caught:
        TokenVerifier(_settings(hmac_secrets=[f"${{secret:env:{HMAC_ENV}}}"]))
    assert "short-secret" not in str(caught.value)

    private = tmp_path / "private.pem"
    write_private_key(keys["ec"], private)
    with pytest.raises(TokenError, match="holds a private key"):
        TokenVerifier(_settings(public_keys=[private]))

    weak = tmp_path / "weak.pem"
    weak.write_bytes(
        rsa.generate_private_key(public_exponent=65537, key_size=1024)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(TokenError, match="1024 bits is too weak") as caught:
        TokenVerifier(_settings(public_keys=[weak]))
    assert caught.value.reason == "config"

    with pytest.raises(TokenError, match=r"missing\.pem: cannot read it"):
        TokenVerifier(_settings(public_keys=[tmp_path / "missing.pem"]))


def test_static_public_key_files_verify_tokens(tmp_path: Path, keys: dict[str, Any]) -> None:
    path = tmp_path / "rsa.pub.pem"
    path.write_bytes(
        keys["rsa"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    verifier = TokenVerifier(_settings(public_keys=[path]))

    assert verifier.verify(_mint(keys["rsa"], kid="chosen-at-issue")).subject == "alice"
    with pytest.raises(TokenError) as caught:
        verifier.verify(_mint(keys["ec"]))  # ES256: allowed, but no EC key is configured
    assert caught.value.reason == "unknown_key"


def test_a_jwks_file_skips_symmetric_and_encryption_keys(
    tmp_path: Path, keys: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    jwk = public_jwk(keys["ec"])
    document = {
        "keys": [
            {"kty": "oct", "kid": "shared", "k": _b64(b"a-symmetric-key-in-a-public-file!")},
            {**public_jwk(keys["rsa"]), "use": "enc"},
            jwk,
        ]
    }
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(document))
    verifier = TokenVerifier(_settings(jwks_file=path))

    assert verifier.refresh_keys() == 1
    assert verifier.verify(_mint(keys["ec"])).subject == "alice"
    assert "symmetric key skipped" in caplog.text
    assert "a-symmetric-key" not in caplog.text
    with pytest.raises(TokenError) as caught:
        verifier.verify(_mint(SecretStr(HMAC_SECRET)))
    assert caught.value.reason == "algorithm"

    path.write_text("{}")
    broken = TokenVerifier(_settings(jwks_file=path))
    with pytest.raises(TokenError, match="no 'keys' list") as caught:
        broken.verify(_mint(keys["ec"]))
    assert caught.value.reason == "keys_unavailable"


# -- JWKS over HTTP -------------------------------------------------------------------------


class _Provider:
    """A JWKS endpoint on 127.0.0.1: serves ``document`` (or ``body``) with ``status``, or
    redirects to ``redirect``; counts requests, and holds them while ``hold`` is set (a
    provider that does not answer). With ``tls`` (an SSL context) it speaks https."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.document: dict[str, Any] = {"keys": []}
        self.body: bytes | None = None
        self.status = 200
        self.redirect: str | None = None
        self.requests = 0
        self.hold = threading.Event()
        self.release = threading.Event()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider.requests += 1
                if provider.hold.is_set():
                    provider.release.wait(10)
                if provider.redirect is not None:
                    self.send_response(302)
                    self.send_header("Location", provider.redirect)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = provider.body or json.dumps(provider.document).encode()
                self.send_response(provider.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        scheme = "http"
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_port}/certs"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def provider() -> Iterator[_Provider]:
    served = _Provider()
    served.thread.start()
    yield served
    served.stop()


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "idp.crt", directory / "idp.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    write_private_key(key, key_path)
    return cert_path, key_path


def test_https_jwks_with_a_private_ca_and_no_downgrade_redirect(
    tmp_path: Path, keys: dict[str, Any], provider: _Provider
) -> None:
    cert, key = _self_signed(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    secure = _Provider(tls)
    secure.thread.start()
    try:
        secure.document = {"keys": [public_jwk(keys["ec"])]}
        verifier = TokenVerifier(_settings(jwks_url=secure.url, jwks_ca_file=cert))
        assert verifier.verify(_mint(keys["ec"])).subject == "alice"

        # Without the CA the provider's certificate is not trusted.
        with pytest.raises(TokenError, match="CERTIFICATE_VERIFY_FAILED") as caught:
            TokenVerifier(_settings(jwks_url=secure.url)).refresh_keys()
        assert caught.value.reason == "keys_unavailable"

        # A redirect to plain http would hand the keys to anyone on the path: refused.
        secure.redirect = provider.url
        with pytest.raises(TokenError, match="redirect from https to plain http refused"):
            TokenVerifier(_settings(jwks_url=secure.url, jwks_ca_file=cert)).refresh_keys()
        assert provider.requests == 0
    finally:
        secure.stop()


def test_a_certificate_serves_as_a_public_key(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    verifier = TokenVerifier(_settings(public_keys=[cert]))

    assert verifier.verify(_mint(load_private_key(key))).subject == "alice"


def test_an_oversized_jwks_answer_is_refused(provider: _Provider) -> None:
    provider.body = b"[" + b"0," * (1 << 20) + b"0]"
    with pytest.raises(TokenError, match="answer larger than 1048576 bytes"):
        TokenVerifier(_settings(jwks_url=provider.url)).refresh_keys()


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_jwks_url_is_cached_and_refetched_for_a_new_kid_at_most_once_per_interval(
    provider: _Provider, keys: dict[str, Any]
) -> None:
    provider.document = {"keys": [public_jwk(keys["ec"], kid="k1")]}
    clock = _Clock()
    verifier = TokenVerifier(
        _settings(jwks_url=provider.url, jwks_refresh_interval=60), monotonic=clock
    )

    assert verifier.verify(_mint(keys["ec"], kid="k1")).subject == "alice"
    assert verifier.verify(_mint(keys["ec"], kid="k1")).subject == "alice"
    assert provider.requests == 1

    # The provider rotates: a token with the new kid makes the proxy fetch again.
    clock.now += 61
    provider.document = {"keys": [public_jwk(keys["ec"], kid="k1"), public_jwk(keys["rsa"], "k2")]}
    assert verifier.verify(_mint(keys["rsa"], kid="k2")).subject == "alice"
    assert provider.requests == 2

    # Tokens naming made-up kids do not turn the proxy into a load generator: the last load
    # was just now, so none of them fetches again ...
    for attempt in range(5):
        with pytest.raises(TokenError, match="unknown signing key") as caught:
            verifier.verify(_mint(keys["forger"], kid=f"random-{attempt}"))
        assert caught.value.reason == "unknown_key"
    assert provider.requests == 2
    # ... and once an interval has passed, one of them may.
    clock.now += 61
    for attempt in range(3):
        with pytest.raises(TokenError):
            verifier.verify(_mint(keys["forger"], kid=f"again-{attempt}"))
    assert provider.requests == 3


def test_jwks_url_failures_are_bounded_and_old_keys_are_kept(
    provider: _Provider, keys: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    provider.status = 500
    clock = _Clock()
    settings = _settings(
        jwks_url=provider.url, jwks_refresh_interval=30, jwks_max_age=300, jwks_timeout=0.5
    )
    verifier = TokenVerifier(settings, monotonic=clock)
    token = _mint(keys["ec"], kid="k1")

    with pytest.raises(TokenError, match="HTTP 500") as caught:
        verifier.verify(token)
    assert caught.value.reason == "keys_unavailable"
    with pytest.raises(TokenError, match="HTTP 500"):
        verifier.verify(token)  # the same answer, without asking the provider again
    assert provider.requests == 1

    clock.now += 31
    provider.status = 200
    provider.document = {"keys": [public_jwk(keys["ec"], kid="k1")]}
    assert verifier.verify(token).subject == "alice"
    assert provider.requests == 2

    # Past max age the keys are loaded again; a provider that does not answer costs one
    # timeout, and the keys loaded before keep working.
    clock.now += 301
    provider.hold.set()
    started = time.monotonic()
    assert verifier.verify(token).subject == "alice"
    assert time.monotonic() - started < 5
    assert provider.requests == 3
    assert "keeping the 1 keys loaded before" in caplog.text
    assert verifier.verify(token).subject == "alice"
    assert provider.requests == 3

    with pytest.raises(TokenError, match=r"no complete answer within 0\.5s"):
        TokenVerifier(settings).refresh_keys()


# -- keys and the CLI -----------------------------------------------------------------------


def test_parse_ttl() -> None:
    assert [parse_ttl(text) for text in ("90s", "15m", "1h", "2d", "45")] == [
        90,
        900,
        3600,
        172800,
        45,
    ]
    for bad in ("", "1w", "-5m", "0"):
        with pytest.raises(ValueError, match="duration"):
            parse_ttl(bad)


def test_write_private_key_is_private_and_never_clobbered(
    tmp_path: Path, keys: dict[str, Any]
) -> None:
    path = tmp_path / "key.pem"
    write_private_key(keys["ed25519"], path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(TokenError, match="exists already"):
        write_private_key(keys["ec"], path)
    assert isinstance(load_private_key(path), type(keys["ed25519"]))
    write_private_key(keys["ec"], path, overwrite=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert isinstance(load_private_key(path), ec.EllipticCurvePrivateKey)

    with pytest.raises(TokenError, match="not a PEM private key"):
        load_private_key(Path(__file__))


def test_cli_keygen_and_issue_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made = run_cassflow(
        ["token", "keygen", "--out", "dev.pem", "--jwks", "jwks.json"], cwd=tmp_path, timeout=60
    )
    assert made.returncode == 0, made.stderr
    assert stat.S_IMODE((tmp_path / "dev.pem").stat().st_mode) == 0o600
    jwks = json.loads((tmp_path / "jwks.json").read_text())
    (kid,) = (member["kid"] for member in jwks["keys"])
    assert f"kid {kid}" in made.stdout
    assert all("d" not in member for member in jwks["keys"])  # no private member published

    issued = run_cassflow(
        ["token", "issue", "--key", "dev.pem", "--subject", "alice", "--group", "analysts",
         "--group", "loaders", "--issuer", ISSUER, "--ttl", "10m"],
        cwd=tmp_path,
        timeout=60,
    )  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    verifier = TokenVerifier(_settings(jwks_file=tmp_path / "jwks.json"))
    identity = verifier.verify(issued.stdout.strip())
    assert (identity.subject, identity.groups) == ("alice", {"analysts", "loaders"})
    assert identity.expires_at is not None
    assert 590 <= identity.expires_at.timestamp() - datetime.now(UTC).timestamp() <= 600

    # A second key joins the same JWKS (rotation): tokens of both keys verify.
    again = run_cassflow(
        ["token", "keygen", "--out", "dev.pem", "--jwks", "jwks.json", "--type", "rsa"],
        cwd=tmp_path,
        timeout=60,
    )
    assert again.returncode == 2
    assert "exists already; pass --force" in again.stderr
    rotated = run_cassflow(
        ["token", "keygen", "--out", "new.pem", "--jwks", "jwks.json", "--type", "rsa"],
        cwd=tmp_path,
        timeout=60,
    )
    assert rotated.returncode == 0, rotated.stderr
    assert "(2 keys)" in rotated.stdout
    new = run_cassflow(
        ["token", "issue", "--key", "new.pem", "--subject", "bob", "--issuer", ISSUER],
        cwd=tmp_path,
        timeout=60,
    )
    rotated_verifier = TokenVerifier(_settings(jwks_file=tmp_path / "jwks.json"))
    assert rotated_verifier.verify(new.stdout.strip()).subject == "bob"
    assert rotated_verifier.verify(issued.stdout.strip()).subject == "alice"


def test_cli_issue_hs256_from_a_secret_reference_only(tmp_path: Path) -> None:
    env = {HMAC_ENV: HMAC_SECRET}
    issued = run_cassflow(
        ["token", "issue", "--secret", f"${{secret:env:{HMAC_ENV}}}", "--subject", "ci",
         "--issuer", ISSUER],
        cwd=tmp_path,
        env=env,
        timeout=60,
    )  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    os.environ[HMAC_ENV] = HMAC_SECRET
    try:
        verifier = TokenVerifier(_settings(hmac_secrets=[f"${{secret:env:{HMAC_ENV}}}"]))
    finally:
        del os.environ[HMAC_ENV]
    assert verifier.verify(issued.stdout.strip()).subject == "ci"

    plain = run_cassflow(
        ["token", "issue", "--secret", HMAC_SECRET, "--subject", "ci"], cwd=tmp_path, timeout=60
    )
    assert plain.returncode == 2
    assert "must be a ${secret:...} reference" in plain.stderr
    assert HMAC_SECRET not in plain.stdout + plain.stderr

    missing = run_cassflow(
        ["token", "issue", "--key", "absent.pem", "--subject", "ci"], cwd=tmp_path, timeout=60
    )
    assert missing.returncode == 2
    assert "private key absent.pem: cannot read it" in missing.stderr


def test_the_package_is_cheap_and_names_the_extra_when_pyjwt_is_missing() -> None:
    script = (
        "import sys\n"
        "sys.modules['jwt'] = None\n"  # as if PyJWT were not installed
        "import cassflow.proxy\n"
        "assert 'cryptography' not in sys.modules, 'import cassflow.proxy loaded cryptography'\n"
        "try:\n"
        "    from cassflow.proxy import TokenVerifier\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "TokenError identity tokens need jwt: pip install 'cassflow[proxy]'"
    )


def test_identity_equality_ignores_claims() -> None:
    first = Identity("alice", frozenset({"a"}), ISSUER, None, {"jti": "1"})
    second = Identity("alice", frozenset({"a"}), ISSUER, None, {"jti": "2"})
    assert first == second
    assert hash(first) == hash(second)
    assert "jti" not in repr(first)
