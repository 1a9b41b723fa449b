"""Writing a new secret value back where a ``${secret:...}`` reference points (for rotation).

A reference names a backend, a path and maybe a field: ``${secret:file:/run/secrets/shop.json#
password}``. :func:`write_secret` puts new values there, so that everything that resolves the
reference from then on gets them. Backends that can be written register a writer
(:func:`register_secret_writer`); ``file`` is built in: the file is replaced atomically (a
temporary file in the same directory, then ``os.replace``), keeping its permissions or, for a
new file, ``0600``; with a field, the file is a JSON object and only the named fields change.
``vault`` writes a new version of the KV v2 secret with the named fields changed and the others
kept (a PATCH; a secret that does not exist yet is created). ``env`` cannot be written: another
process's environment is out of reach.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from cassflow.access._secrets import SecretError

__all__ = ["SecretLocation", "register_secret_writer", "write_secret"]

_WHOLE_REFERENCE = re.compile(r"\$\{secret:([a-z][a-z0-9_-]*):([^#}]+)(?:#([^}]+))?\}")


@dataclass(frozen=True, slots=True)
class SecretLocation:
    """Where one secret reference points: backend, path and field (None: the whole value)."""

    backend: str
    path: str
    field: str | None = None

    @classmethod
    def parse(cls, reference: str) -> SecretLocation:
        """The location of a value that is exactly one ``${secret:...}`` reference."""
        match = _WHOLE_REFERENCE.fullmatch(reference.strip())
        if match is None:
            raise SecretError(
                "expected a single ${secret:<backend>:<path>[#field]} reference, got a value "
                "that is not one (a plain value cannot be rotated: put it in a secrets backend)"
            )
        return cls(match[1], match[2], match[3])

    def __str__(self) -> str:
        field = f"#{self.field}" if self.field else ""
        return f"${{secret:{self.backend}:{self.path}{field}}}"


#: Writes values to a location: ``{field: value}``, the key ``None`` for the whole value.
SecretWriter = Callable[[SecretLocation, Mapping[str | None, SecretStr]], None]


def _write_file(location: SecretLocation, values: Mapping[str | None, SecretStr]) -> None:
    path = Path(location.path)
    if None in values:
        if len(values) != 1:
            raise SecretError(f"{location}: a whole-file secret holds one value")
        text = values[None].get_secret_value() + "\n"
    else:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            data = {}
        except (OSError, json.JSONDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not a JSON object"
            raise SecretError(f"{location}: cannot update {path}: {reason}") from None
        if not isinstance(data, dict):
            raise SecretError(f"{location}: {path} is not a JSON object")
        for field, value in values.items():
            data[str(field)] = value.get_secret_value()
        text = json.dumps(data, indent=2) + "\n"
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = 0o600
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as exc:
        raise SecretError(f"{location}: cannot write in {path.parent}: {exc.strerror}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), mode)
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise SecretError(f"{location}: cannot write {path}: {exc.strerror}") from None


def _write_vault(location: SecretLocation, values: Mapping[str | None, SecretStr]) -> None:
    # hvac is imported (by _vault) only when a vault secret is written.
    from cassflow.access._vault import split_mount, vault_client, vault_failure  # noqa: PLC0415

    reference = str(location)
    mount, path = split_mount(location.path, reference)
    client = vault_client(reference)
    if None in values:
        raise SecretError(f"{reference}: name the field of the KV v2 secret to write (…#password)")
    fields = {str(field): value.get_secret_value() for field, value in values.items()}
    kv = client.secrets.kv.v2
    try:
        try:
            kv.patch(path=path, secret=fields, mount_point=mount)
        except Exception as exc:
            if type(exc).__name__ != "InvalidPath":  # anything but "no such secret yet"
                raise
            kv.create_or_update_secret(path=path, secret=fields, mount_point=mount)
    except Exception as exc:
        raise vault_failure(reference, f"writing {mount}/{path}", exc, client) from None


def _refuse_env(location: SecretLocation, _values: Mapping[str | None, SecretStr]) -> None:
    raise SecretError(
        f"{location}: an environment variable cannot be rotated (other processes keep their "
        "own copy); keep the secret in a file or in Vault/OpenBao"
    )


_WRITERS: dict[str, SecretWriter] = {
    "file": _write_file,
    "vault": _write_vault,
    "env": _refuse_env,
}


def register_secret_writer(backend: str, writer: SecretWriter) -> None:
    """Let :func:`write_secret` write ``${secret:<backend>:...}`` locations through ``writer``."""
    _WRITERS[backend] = writer


def write_secret(location: SecretLocation, values: Mapping[str | None, SecretStr]) -> None:
    """Write ``values`` where ``location`` points (see the module docstring)."""
    writer = _WRITERS.get(location.backend)
    if writer is None:
        known = ", ".join(sorted(b for b, w in _WRITERS.items() if w is not _refuse_env))
        raise SecretError(
            f"{location}: secrets backend {location.backend!r} cannot be written (writable: "
            f"{known})"
        )
    writer(location, values)
