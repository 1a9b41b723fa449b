"""cassflow: secure, observable, resumable data movement for Apache Cassandra."""

from cassflow.errors import CassflowError

__all__ = ["CassflowError", "__version__"]

__version__ = "0.1.0"
