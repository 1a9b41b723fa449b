"""TLS contexts from a CA, a client certificate and an encrypted key: a real TLS handshake with
a server that requires client certificates, and errors that name the file, never the password.

The dev server speaks no TLS, so a small TLS echo server (Python's ssl) stands in for a node.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from cassflow.access._tls import TlsError, tls_context
from cassflow.copy._model import CopyError
from cassflow.pipeline._build import Connections
from cassflow.pipeline._spec import ConnectionSpec

KEY_PASSWORD = "Tls-Key-Pa55-word"


@dataclass
class Pki:
    ca: Path
    other_ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path  # encrypted with KEY_PASSWORD
    client_combined: Path  # certificate and unencrypted key in one file


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    san: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey, password: str | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode())
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    root = tmp_path_factory.mktemp("pki")
    ca_key, other_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca = _certificate("cassflow test CA", ca_key, "cassflow test CA", ca_key, ca=True)
    other = _certificate("another CA", other_key, "another CA", other_key, ca=True)
    server_key, client_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    server = _certificate(
        "node1",
        server_key,
        "cassflow test CA",
        ca_key,
        san=[x509.DNSName("localhost")],  # not 127.0.0.1: a host name check on the IP fails
    )
    client = _certificate("loader", client_key, "cassflow test CA", ca_key)
    files = {
        "ca.pem": _pem(ca),
        "other-ca.pem": _pem(other),
        "server.pem": _pem(server),
        "server.key": _key_pem(server_key),
        "client.pem": _pem(client),
        "client.key": _key_pem(client_key, KEY_PASSWORD),
        "client-combined.pem": _pem(client) + _key_pem(client_key),
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    return Pki(
        ca=root / "ca.pem",
        other_ca=root / "other-ca.pem",
        server_cert=root / "server.pem",
        server_key=root / "server.key",
        client_cert=root / "client.pem",
        client_key=root / "client.key",
        client_combined=root / "client-combined.pem",
    )


@pytest.fixture
def tls_server(pki: Pki) -> Iterator[tuple[int, list[str]]]:
    """A TLS server on 127.0.0.1 that requires a client certificate signed by the CA; it
    records the common name of each client it accepted."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    context.load_verify_locations(pki.ca)
    context.verify_mode = ssl.CERT_REQUIRED
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    accepted: list[str] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            raw.settimeout(5)
            try:
                with context.wrap_socket(raw, server_side=True) as conn:
                    peer = conn.getpeercert() or {}
                    subject = dict(item[0] for item in peer.get("subject", ()))
                    accepted.append(str(subject.get("commonName")))
                    conn.sendall(b"ok")
            except (ssl.SSLError, OSError):
                raw.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], accepted
    stop.set()
    thread.join(timeout=5)
    listener.close()


def _handshake(context: ssl.SSLContext, port: int, server_hostname: str) -> bytes:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=server_hostname) as conn,
    ):
        return conn.recv(2)


def test_a_client_certificate_with_an_encrypted_key_completes_a_handshake(
    pki: Pki, tls_server: tuple[int, list[str]]
) -> None:
    port, accepted = tls_server
    context = tls_context(
        pki.ca, pki.client_cert, pki.client_key, SecretStr(KEY_PASSWORD), check_hostname=True
    )
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert _handshake(context, port, "localhost") == b"ok"
    combined = tls_context(pki.ca, pki.client_combined)
    assert _handshake(combined, port, "localhost") == b"ok"
    assert accepted == ["loader", "loader"]


def test_the_server_certificate_and_name_are_checked(
    pki: Pki, tls_server: tuple[int, list[str]]
) -> None:
    port, _ = tls_server
    checked = tls_context(pki.ca, pki.client_combined)
    with pytest.raises(ssl.SSLCertVerificationError, match=r"Hostname mismatch|doesn't match"):
        _handshake(checked, port, "node-elsewhere.example")
    unchecked = tls_context(pki.ca, pki.client_combined, check_hostname=False)
    assert _handshake(unchecked, port, "node-elsewhere.example") == b"ok"
    untrusted = tls_context(pki.other_ca, pki.client_combined, check_hostname=False)
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        _handshake(untrusted, port, "localhost")


def test_errors_name_the_file_and_never_the_password(pki: Pki, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "ca.pem"
    with pytest.raises(TlsError, match=re.escape(f"CA certificate {missing}: cannot read it")):
        tls_context(missing)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(
        TlsError, match=re.escape(f"CA certificate {garbage}: not a PEM certificate")
    ):
        tls_context(garbage)
    with pytest.raises(
        TlsError, match=re.escape(f"client key {tmp_path / 'no.key'}: cannot read it")
    ):
        tls_context(pki.ca, pki.client_cert, tmp_path / "no.key")
    wrong = "Wrong-Pa55-" + KEY_PASSWORD
    with pytest.raises(TlsError, match="wrong key password") as info:
        tls_context(pki.ca, pki.client_cert, pki.client_key, SecretStr(wrong))
    with pytest.raises(TlsError, match="is the key encrypted") as unencrypted:
        tls_context(pki.ca, pki.client_cert, pki.client_key)
    with pytest.raises(TlsError, match="without the client certificate"):
        tls_context(pki.ca, key_file=pki.client_key)
    for error in (info.value, unencrypted.value):
        text = f"{error} {error!r}"
        assert str(pki.client_cert) in text
        assert KEY_PASSWORD not in text
        assert wrong not in text
        assert error.__cause__ is None


def test_a_pipeline_tls_block_builds_the_context(
    pki: Pki, tls_server: tuple[int, list[str]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    port, _ = tls_server
    monkeypatch.setenv("CLIENT_KEY_PASSWORD", KEY_PASSWORD)
    spec = ConnectionSpec.model_validate(
        {
            "hosts": ["localhost"],
            "keyspace": "shop",
            "tls": {
                "ca_file": str(pki.ca),
                "cert_file": str(pki.client_cert),
                "key_file": str(pki.client_key),
                "key_password": "${secret:env:CLIENT_KEY_PASSWORD}",
            },
        }
    )
    assert KEY_PASSWORD not in repr(spec)
    connections = Connections({"shop": spec}, state_dir=tmp_path)
    connection = connections.get("shop")
    assert connection.ssl_context is not None
    assert _handshake(connection.ssl_context, port, "localhost") == b"ok"
    broken = spec.model_copy(update={"tls": spec.tls.model_copy(update={"ca_file": "no.pem"})})  # type: ignore[union-attr]
    with pytest.raises(CopyError, match=r"connection shop: tls: CA certificate no\.pem"):
        Connections({"shop": broken}, state_dir=tmp_path).get("shop")
