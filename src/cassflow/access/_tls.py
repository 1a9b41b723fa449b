"""TLS for connections to Cassandra: an ``ssl.SSLContext`` from a CA, a client certificate and
its key, as a pipeline's ``tls:`` block names them.

The context verifies the server's certificate against the CA (always) and its host name
(unless told not to, for clusters whose certificates do not name the addresses clients use),
and presents the client certificate when one is given (``require_client_auth`` servers).
Errors name the file that could not be used and why; never the key's password.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from pydantic import SecretStr

from cassflow.errors import CassflowError


class TlsError(CassflowError):
    """A TLS setting cannot be used; the message names the file and the reason."""


def tls_context(
    ca_file: str | Path,
    cert_file: str | Path | None = None,
    key_file: str | Path | None = None,
    key_password: SecretStr | None = None,
    check_hostname: bool = True,
) -> ssl.SSLContext:
    """A client-side TLS context trusting ``ca_file``, presenting ``cert_file``/``key_file``
    (the key may sit in the certificate file) when given, checking host names unless told not to.
    """
    if key_password is not None and not isinstance(key_password, SecretStr):
        raise TypeError("key_password must be a pydantic.SecretStr")
    if key_file is not None and cert_file is None:
        raise TlsError(f"TLS key {key_file} given without the client certificate (cert_file)")
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    ca = Path(ca_file)
    _readable(ca, "CA certificate")
    try:
        context.load_verify_locations(cafile=str(ca))
    except (ssl.SSLError, ValueError) as exc:
        raise TlsError(f"CA certificate {ca}: not a PEM certificate ({_reason(exc)})") from None
    context.check_hostname = check_hostname
    context.verify_mode = ssl.CERT_REQUIRED
    if cert_file is not None:
        _load_client_certificate(context, Path(cert_file), key_file, key_password)
    return context


def _load_client_certificate(
    context: ssl.SSLContext,
    cert: Path,
    key_file: str | Path | None,
    key_password: SecretStr | None,
) -> None:
    key = Path(key_file) if key_file is not None else None
    _readable(cert, "client certificate")
    if key is not None:
        _readable(key, "client key")
    # Without a password OpenSSL would prompt on the terminal for an encrypted key (and a
    # task would hang): an empty one makes it fail instead.
    password = "" if key_password is None else key_password.get_secret_value()
    try:
        context.load_cert_chain(
            certfile=str(cert),
            keyfile=None if key is None else str(key),
            password=lambda: password,
        )
    except ssl.SSLError as exc:
        where = f"{cert} and {key}" if key is not None else str(cert)
        hint = (
            "wrong key password, or the key does not belong to the certificate"
            if key_password is not None
            else "not a PEM certificate and key that belong together (is the key encrypted? "
            "give key_password)"
        )
        raise TlsError(f"client certificate {where}: {hint} ({_reason(exc)})") from None
    except (ValueError, TypeError) as exc:  # password of the wrong type or too long
        raise TlsError(f"client key {key or cert}: cannot use the key password: {exc}") from None


def _readable(path: Path, what: str) -> None:
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise TlsError(f"{what} {path}: cannot read it ({exc.strerror})") from None


def _reason(exc: BaseException) -> str:
    # SSLError carries the OpenSSL reason ("PEM lib", "KEY_VALUES_MISMATCH"); never a password.
    reason = getattr(exc, "reason", None)
    return str(reason) if reason else type(exc).__name__
