"""The one module that imports pyarrow (Parquet files, Arrow types).

Importing it without pyarrow installed raises :class:`CopyError` naming the extra to install,
so the file source and sink import it only once a Parquet file is read or written.
"""

from __future__ import annotations

from cassflow.copy._model import CopyError

try:
    import pyarrow as pa
    import pyarrow.parquet as pq
except ModuleNotFoundError as exc:  # pragma: no cover - the test environment has pyarrow
    raise CopyError("Parquet files need pyarrow: pip install 'cassflow[files]'") from exc

__all__ = ["pa", "pq"]
