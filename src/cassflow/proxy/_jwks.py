"""Fetching a JSON Web Key Set document over HTTP(S), bounded in time and size.

The proxy fetches its identity provider's public keys while a client waits to log in, so a
slow or hostile endpoint must not hold it for long: every network wait has the timeout, the
body's reading has it as a deadline too, the body has a size cap, and a redirect may not
downgrade https to http.
Only the standard library is used; parsing the keys is :mod:`cassflow.proxy._tokens`' job.
"""

from __future__ import annotations

import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from http.client import HTTPMessage
from typing import IO

from cassflow.errors import CassflowError

#: Larger than any real key set (a few kB), small enough that a hostile answer costs nothing.
MAX_JWKS_BYTES = 1 << 20

_CHUNK = 64 * 1024


class JwksFetchError(CassflowError):
    """A key set could not be fetched; the message names the URL and why."""


class _NoDowngrade(urllib.request.HTTPRedirectHandler):
    """Follows redirects, except from https to anything else (the keys would be unprotected)."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        if req.full_url.startswith("https:") and not newurl.startswith("https:"):
            raise urllib.error.HTTPError(
                req.full_url, code, "redirect from https to plain http refused", headers, fp
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def check_url(url: str) -> str:
    """``url`` if it is an absolute http(s) URL with a host, else ``ValueError``."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL with a host: {url!r}")
    return url


def fetch_jwks(
    url: str,
    *,
    timeout: float,
    ssl_context: ssl.SSLContext | None = None,
    max_bytes: int = MAX_JWKS_BYTES,
) -> bytes:
    """The body of ``GET url``: at most ``max_bytes``, each network wait at most ``timeout``
    seconds and the body's reading stopped once ``timeout`` seconds have passed in all.

    Raises :class:`JwksFetchError` naming the URL and the reason (timeout, HTTP status,
    connection error, too large).
    """
    check_url(url)
    deadline = time.monotonic() + timeout
    handlers: list[urllib.request.BaseHandler] = [_NoDowngrade()]
    if url.startswith("https:"):
        context = ssl_context if ssl_context is not None else ssl.create_default_context()
        handlers.append(urllib.request.HTTPSHandler(context=context))
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(
        url, headers={"Accept": "application/json", "User-Agent": "cassflow-proxy"}
    )
    try:
        with opener.open(request, timeout=timeout) as response:
            body = bytearray()
            while True:
                if time.monotonic() > deadline:
                    raise TimeoutError
                # read1: at most one receive, so a server that drips its answer byte by byte
                # meets the deadline instead of holding the login for as long as it likes.
                chunk = response.read1(_CHUNK)
                if not chunk:
                    return bytes(body)
                body += chunk
                if len(body) > max_bytes:
                    raise JwksFetchError(f"JWKS URL {url}: answer larger than {max_bytes} bytes")
    except urllib.error.HTTPError as exc:
        raise JwksFetchError(f"JWKS URL {url}: HTTP {exc.code} {exc.reason}") from None
    except TimeoutError:
        raise JwksFetchError(f"JWKS URL {url}: no complete answer within {timeout:g}s") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            raise JwksFetchError(
                f"JWKS URL {url}: no complete answer within {timeout:g}s"
            ) from None
        raise JwksFetchError(f"JWKS URL {url}: cannot connect ({reason})") from None
    except (OSError, ValueError) as exc:
        raise JwksFetchError(f"JWKS URL {url}: {exc}") from None
