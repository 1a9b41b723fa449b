"""The identity-aware CQL proxy: token authentication, policy as code, audit, rate limits.

Clients speak the CQL native protocol to the proxy and log in with SASL PLAIN whose password
is a signed identity token (a JWT, e.g. an OIDC ID token). The proxy verifies the token
(:class:`TokenVerifier` -> :class:`Identity`, refusals are :class:`TokenError`), authorizes every
statement against the policy file, forwards what is allowed to Cassandra over its own pool of
connections, and writes one audit line per request.

Names are imported on first use, so ``import cassflow.proxy`` stays cheap and does not need the
``proxy`` extra (PyJWT, cryptography) until tokens are verified.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cassflow.proxy._tokens import Identity, TokenError, TokenSettings, TokenVerifier

_LAZY = {
    "Identity": "_tokens",
    "TokenError": "_tokens",
    "TokenSettings": "_tokens",
    "TokenVerifier": "_tokens",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = ["Identity", "TokenError", "TokenSettings", "TokenVerifier"]
