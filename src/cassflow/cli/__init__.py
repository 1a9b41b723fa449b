"""The ``cassflow`` command line: parses arguments, calls the parts, holds no logic."""

from cassflow.cli import _copy  # registers run and copy
from cassflow.cli._app import app, main

__all__ = ["_copy", "app", "main"]
