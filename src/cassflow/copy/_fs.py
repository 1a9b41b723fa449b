"""The one module that imports fsspec: file systems from paths, listing, opening, renaming.

Local paths, ``memory://`` and object stores (``s3://`` through s3fs, ``az://``/``abfs://``
through adlfs) look the same to the file source and sink: a :class:`Store` holds one file
system and turns its internal paths back into the URLs users wrote. Importing this module
without fsspec raises :class:`CopyError` naming the extra to install; a URL whose file system
implementation is missing names its own extra (``cassflow[s3]``, ``cassflow[azure]``).

Storage options (keys, secrets, connection strings) go to fsspec as given and never into a
message: errors raised here show the path and the file system's own message with every
secret-looking option value blanked out.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from typing import IO, Any

from cassflow.copy._model import CopyError

try:
    import fsspec
    from fsspec.core import url_to_fs
except ModuleNotFoundError as exc:  # pragma: no cover - the test environment has fsspec
    raise CopyError("file sources and sinks need fsspec: pip install 'cassflow[files]'") from exc

#: The extra that installs each protocol's file system.
_EXTRAS = {
    "s3": "cassflow[s3]",
    "s3a": "cassflow[s3]",
    "az": "cassflow[azure]",
    "abfs": "cassflow[azure]",
    "abfss": "cassflow[azure]",
    "adl": "cassflow[azure]",
}
_GLOB_CHARS = re.compile(r"[*?\[]")


class Store:
    """One file system reached through fsspec with the dataset's storage options."""

    def __init__(self, url: str, storage: Mapping[str, Any] | None = None) -> None:
        self._storage = dict(storage or {})
        self.fs, self.root = self._resolve(url)
        self.local = "file" in _protocols(self.fs)
        # The scheme the user wrote (az://), which may not be the file system's first (abfs).
        self._scheme = url.split("://", 1)[0] if "://" in url else None

    def __repr__(self) -> str:  # the storage options hold secrets: never show them
        return f"Store({self.url(self.root)!r})"

    def _resolve(self, url: str) -> tuple[Any, str]:
        protocol = url.split("://", 1)[0] if "://" in url else "file"
        try:
            fs, path = url_to_fs(url, **self._storage)
        except ImportError as exc:
            extra = _EXTRAS.get(protocol)
            need = f"pip install '{extra}'" if extra else f"fsspec's {protocol}:// implementation"
            raise CopyError(f"{url}: {protocol}:// paths need {need}: {exc}") from None
        except ValueError as exc:
            raise CopyError(f"{url}: {self.describe(exc)}") from None
        return fs, str(path)

    def internal(self, url: str) -> str:
        """The file system's own path for a URL made by :meth:`url`."""
        return str(self.fs._strip_protocol(url))

    def url(self, path: str) -> str:
        """What users see for an internal path: a local path as is, else a full URL."""
        if self.local:
            return path
        full = str(self.fs.unstrip_protocol(path))
        scheme, sep, rest = full.partition("://")
        if sep and self._scheme and self._scheme != scheme and self._scheme in _protocols(self.fs):
            return f"{self._scheme}://{rest}"
        return full

    def describe(self, exc: BaseException) -> str:
        """The file system's message for ``exc`` with secret option values blanked out."""
        text = str(exc) or type(exc).__name__
        for value in self._storage.values():
            if isinstance(value, str) and len(value) >= 4:
                text = text.replace(value, "***")
        return text

    def files(self, pattern: str, suffixes: tuple[str, ...]) -> list[str]:
        """Files a path names, sorted: the file itself, every file matching a glob, or every
        file directly in a directory whose name ends with one of ``suffixes``."""
        try:
            if _GLOB_CHARS.search(pattern):
                found = [p for p, i in self.fs.glob(pattern, detail=True).items() if _is_file(i)]
            elif self.fs.isdir(pattern):
                found = [
                    str(i["name"])
                    for i in self.fs.ls(pattern, detail=True)
                    if _is_file(i) and str(i["name"]).lower().endswith(suffixes)
                ]
            elif self.fs.exists(pattern):
                found = [pattern]
            else:
                found = []
        except (OSError, ValueError) as exc:
            raise CopyError(f"cannot list {self.url(pattern)}: {self.describe(exc)}") from None
        return sorted(str(p) for p in found)

    def info(self, path: str) -> dict[str, Any]:
        """Size and a version stamp (mtime, or the object store's modification time / ETag)
        of a file, JSON-able, so that a resumed run notices a changed file."""
        try:
            info = self.fs.info(path)
        except (OSError, ValueError) as exc:
            raise CopyError(f"cannot read {self.url(path)}: {self.describe(exc)}") from None
        stamp: dict[str, Any] = {"size": int(info.get("size") or 0)}
        for key in ("mtime", "LastModified", "last_modified", "ETag", "etag"):
            value = info.get(key)
            if value is not None:
                stamp[key.lower()] = value if isinstance(value, int | float) else str(value)
        return stamp

    def open(self, path: str, mode: str, compression: str | None = None) -> IO[bytes]:
        """A binary file; ``compression='infer'`` picks gzip etc. from the suffix."""
        try:
            opened: IO[bytes] = self.fs.open(path, mode, compression=compression)
        except (OSError, ValueError) as exc:
            verb = "read" if "r" in mode else "write"
            raise CopyError(f"cannot {verb} {self.url(path)}: {self.describe(exc)}") from None
        return opened

    def makedirs(self, path: str) -> None:
        """Create a directory and its parents (object stores have none: nothing to do)."""
        try:
            self.fs.makedirs(path, exist_ok=True)
        except (OSError, ValueError) as exc:
            raise CopyError(f"cannot create {self.url(path)}: {self.describe(exc)}") from None

    def names(self, directory: str) -> list[str]:
        """Base names of the files directly in a directory (none when it does not exist)."""
        try:
            entries = self.fs.ls(directory, detail=False, refresh=True)
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise CopyError(f"cannot list {self.url(directory)}: {self.describe(exc)}") from None
        return [posixpath.basename(str(e).rstrip("/")) for e in entries]

    def rename(self, source: str, target: str) -> None:
        """Move a file into place (a rename on local disks; copy and delete on object stores)."""
        try:
            self.fs.mv(source, target)
        except (OSError, ValueError) as exc:
            raise CopyError(
                f"cannot rename {self.url(source)} to {self.url(target)}: {self.describe(exc)}"
            ) from None

    def remove(self, path: str, *, missing_ok: bool = False) -> None:
        """Delete a file."""
        try:
            self.fs.rm_file(path)
        except FileNotFoundError:
            if not missing_ok:
                raise CopyError(f"cannot delete {self.url(path)}: it does not exist") from None
        except (OSError, ValueError) as exc:
            raise CopyError(f"cannot delete {self.url(path)}: {self.describe(exc)}") from None

    def join(self, directory: str, name: str) -> str:
        """A path inside a directory."""
        return posixpath.join(directory.rstrip("/"), name) if directory else name


def _is_file(info: Mapping[str, Any]) -> bool:
    return info.get("type") == "file"


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


__all__ = ["Store", "fsspec"]
