"""The ``cassflow`` command line: parses arguments, calls the parts, holds no logic."""

from cassflow.cli._app import app, main

__all__ = ["app", "main"]
