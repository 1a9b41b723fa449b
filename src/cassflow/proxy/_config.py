"""The proxy's configuration file (``cassflow proxy --config proxy.yaml``) and what it builds.

```yaml
listen: {host: 0.0.0.0, port: 9042}          # advertised_host: what system.local reports
upstream:
  hosts: [10.0.0.5, "10.0.0.6:9142"]
  username: cassflow_proxy
  password: "${secret:vault:secret/cassandra/proxy#password}"
  tls: {ca_file: /etc/cassflow/ca.pem}        # optional: cert_file, key_file, check_hostname
  logins:                                     # optional: roles that policy rules name (login:)
    analyst_ro: {username: analyst_ro, password: "${secret:vault:secret/cassandra/ro#password}"}
tokens:                                       # see docs/proxy-tokens.md
  issuer: https://id.example.com
  audience: cassflow-proxy
  jwks_url: https://id.example.com/.well-known/jwks.json
policy: policy.yaml                           # see docs/proxy-policy.md; reloaded on change
audit: /var/log/cassflow/audit.jsonl          # or "-" for standard output; omit: no audit
metrics_port: 9464                            # omit: no metrics endpoint
```

Relative paths are read against the configuration file's directory. Secrets are references,
resolved when a connection logs in.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from cassflow._yamlfile import check_keys, parse, read_text, validation_problems
from cassflow.errors import CassflowError
from cassflow.proxy._tokens import TokenSettings

__all__ = ["ProxyConfig", "ProxyConfigError", "load_proxy_config"]


class ProxyConfigError(CassflowError):
    """The configuration file cannot be read or is not valid; the message says where."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ListenSpec(_Model):
    """Where clients connect."""

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 9042
    #: The address system.local reports to drivers (default: the one each client reached).
    advertised_host: str | None = None


class UpstreamTlsSpec(_Model):
    """TLS to the cluster."""

    ca_file: Path
    cert_file: Path | None = None
    key_file: Path | None = None
    key_password: SecretStr | None = None
    check_hostname: bool = True


#: A login's name: as a policy rule's name.
_LoginName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@-]*$")]


class UpstreamLoginSpec(_Model):
    """A further Cassandra role the proxy logs in as, for the policy rules that name it."""

    username: Annotated[str, Field(min_length=1)]
    #: A ``${secret:...}`` reference, resolved at each new upstream connection.
    password: SecretStr | None = None


class UpstreamSpec(_Model):
    """The cluster behind the proxy."""

    hosts: Annotated[list[str], Field(min_length=1)]
    port: Annotated[int, Field(ge=1, le=65535)] = 9042
    username: str | None = None
    #: A ``${secret:...}`` reference, resolved at each new upstream connection.
    password: SecretStr | None = None
    tls: UpstreamTlsSpec | None = None
    connections_per_key: Annotated[int, Field(ge=1, le=64)] = 2
    #: Logins by the name policy rules give them (``login:``).
    logins: dict[_LoginName, UpstreamLoginSpec] = {}


class ProxyConfig(_Model):
    """A whole proxy configuration file."""

    listen: ListenSpec = ListenSpec()
    upstream: UpstreamSpec
    tokens: TokenSettings
    policy: Path
    audit: str | None = None
    metrics_port: Annotated[int, Field(ge=0, le=65535)] | None = None


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """A validated configuration and the directory its relative paths start from."""

    config: ProxyConfig
    base: Path

    def path(self, path: Path | str) -> Path:
        """``path`` against the configuration file's directory."""
        candidate = Path(path)
        return candidate if candidate.is_absolute() else self.base / candidate


def load_proxy_config(path: str | os.PathLike[str]) -> LoadedConfig:
    """Read and validate a proxy configuration file; errors name ``file:line:column``."""
    file = Path(path)
    where = str(file)
    root, data = parse(read_text(file, ProxyConfigError), where, ProxyConfigError)
    if root is None or not isinstance(data, dict):
        raise ProxyConfigError(f"{where}: expected a mapping (listen, upstream, tokens, policy)")
    check_keys(where, root, ProxyConfigError, self_alias="an alias inside its own anchor's value")
    base = file.parent
    tokens = data.get("tokens")
    if isinstance(tokens, dict):  # key files named in the tokens block are relative too
        for key in ("jwks_file", "jwks_ca_file"):
            if isinstance(tokens.get(key), str):
                tokens[key] = str(base / tokens[key])
        if isinstance(tokens.get("public_keys"), list):
            tokens["public_keys"] = [str(base / k) for k in tokens["public_keys"]]
    try:
        config = ProxyConfig.model_validate(data)
    except ValidationError as exc:
        raise ProxyConfigError(validation_problems(where, root, exc, is_key=_is_key)) from None
    return LoadedConfig(config, base)


def _is_key(item: str | int) -> bool:
    # Union members and constrained types add a tag of their own to the location: not a key.
    return not (isinstance(item, str) and ("[" in item or item.startswith("function-")))
